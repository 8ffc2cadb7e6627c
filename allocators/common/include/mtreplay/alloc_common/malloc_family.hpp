#pragma once
// The malloc family, to the letter of POSIX and glibc, on top of an allocator core.
// A core only has to provide six primitives for valid, non-null inputs; every edge
// case (overflow, errno, realloc(p, 0), alignment validation, NULL handling) lives
// here once, so the project's allocators agree on them.
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::alloc {

// Every block the family returns is aligned to this (glibc's MALLOC_ALIGNMENT on x86-64).
inline constexpr std::size_t kMinAlignment = 16;
// glibc refuses any request above PTRDIFF_MAX; so do we, before doing arithmetic on it.
inline constexpr std::size_t kMaxRequest = PTRDIFF_MAX;

// A core returns nullptr on failure and never touches errno's meaning; the family sets it.
template <class Core>
concept MallocCore = requires(void* p, std::size_t n) {
  { Core::allocate(n) } -> std::same_as<void*>;             // n <= kMaxRequest
  { Core::allocate_zeroed(n) } -> std::same_as<void*>;      // contents zero
  { Core::allocate_aligned(n, n) } -> std::same_as<void*>;  // align: power of two > 16
  { Core::reallocate(p, n) } -> std::same_as<void*>;        // p live, n > 0; p intact on failure
  { Core::release(p) } -> std::same_as<void>;               // p live
  { Core::usable_size(p) } -> std::same_as<std::size_t>;
};

template <MallocCore Core>
struct MallocFamily {
  static void* malloc(std::size_t n) noexcept {
    void* p = n <= kMaxRequest ? Core::allocate(n) : nullptr;
    if (!p) errno = ENOMEM;
    return p;
  }

  static void free(void* p) noexcept {
    if (p) Core::release(p);
  }

  static void* calloc(std::size_t count, std::size_t size) noexcept {
    std::size_t total;
    if (__builtin_mul_overflow(count, size, &total) || total > kMaxRequest) {
      errno = ENOMEM;
      return nullptr;
    }
    void* p = Core::allocate_zeroed(total);
    if (!p) errno = ENOMEM;
    return p;
  }

  // glibc semantics: realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL.
  static void* realloc(void* p, std::size_t n) noexcept {
    if (!p) return malloc(n);
    if (n == 0) {
      Core::release(p);
      return nullptr;
    }
    void* q = n <= kMaxRequest ? Core::reallocate(p, n) : nullptr;
    if (!q) errno = ENOMEM;
    return q;
  }

  static void* reallocarray(void* p, std::size_t count, std::size_t size) noexcept {
    std::size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
      errno = ENOMEM;
      return nullptr;
    }
    return realloc(p, total);
  }

  // glibc: an alignment that is not a power of two is rounded up to one; one beyond
  // half the address space is EINVAL.
  static void* memalign(std::size_t align, std::size_t n) noexcept {
    if (align <= kMinAlignment) return malloc(n);
    if (align > SIZE_MAX / 2 + 1) {
      errno = EINVAL;
      return nullptr;
    }
    if (!is_power_of_two(align)) align = std::size_t{1} << (64 - __builtin_clzll(align));
    void* p = n <= kMaxRequest ? Core::allocate_aligned(align, n) : nullptr;
    if (!p) errno = ENOMEM;
    return p;
  }

  // POSIX: EINVAL unless align is a power of two multiple of sizeof(void*); errors are
  // returned, *out and errno are left alone.
  static int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
    if (align % sizeof(void*) != 0 || !is_power_of_two(align)) return EINVAL;
    int saved_errno = errno;
    void* p = memalign(align, n);
    errno = saved_errno;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
  }

  // C11/C17 as glibc 2.38 implements it: a non-power-of-two alignment is EINVAL; a size
  // that is not a multiple of the alignment is accepted.
  static void* aligned_alloc(std::size_t align, std::size_t n) noexcept {
    if (!is_power_of_two(align)) {
      errno = EINVAL;
      return nullptr;
    }
    return memalign(align, n);
  }

  static void* valloc(std::size_t n) noexcept { return memalign(kPageSize, n); }

  // The size is rounded up to whole pages (one page for 0).
  static void* pvalloc(std::size_t n) noexcept {
    if (n > kMaxRequest) {
      errno = ENOMEM;
      return nullptr;
    }
    return memalign(kPageSize, n ? round_up(n, kPageSize) : kPageSize);
  }

  static std::size_t malloc_usable_size(void* p) noexcept { return p ? Core::usable_size(p) : 0; }
};

}  // namespace mtreplay::alloc
