// The malloc family, interposed. Each call runs the real function and records one
// event with its real arguments and result, failures included. A free is recorded
// before the memory is released and an allocation after it is obtained, and a
// realloc at both ends, so that a reader never sees an address reused before the
// event that released it.
#include <malloc.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "bootstrap_arena.hpp"
#include "real_functions.hpp"
#include "recorder.hpp"
#include "touched_extent.hpp"

// flatten: the encoder's append (and its per-op field table) is inlined into each
// hook, where the op is a constant, so each hook gets its own specialised encoder.
#define MHOOK_EXPORT extern "C" __attribute__((visibility("default"), flatten))

namespace mtreplay::recorder {
namespace {

using traces::Event;
using traces::Op;

uint64_t addr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// Before the real functions are known (or while dlsym is finding them), allocations
// come from the bootstrap arena; they are not recorded, only counted.
bool ready() {
  if (__builtin_expect(real_functions_ready, 1)) return true;
  return resolve_real_functions();
}

void* early_allocate(size_t size, size_t alignment) {
  count_unrecorded();
  return bootstrap::allocate(size, alignment);
}

void record_allocation(Op op, uint64_t size, uint64_t count, uint64_t align, void* result) {
  const uint64_t bytes = count ? count * size : size;  // calloc's product is known to fit
  if (__builtin_expect(bytes >= touched::kMinBytes, 0)) touched::on_allocate(result, bytes);
  record(op, 0, size, count, align, addr(result), result ? 0 : errno);
}

// A large block's kTouched goes just before the event that releases it.
void record_touched(void* ptr) {
  uint64_t used = 0;
  if (__builtin_expect(touched::take(ptr, used), 0))
    record(Op::kTouched, addr(ptr), 0, 0, 0, used, 0);
}

// realloc/reallocarray of a bootstrap pointer: move it to the real heap.
void* move_out_of_bootstrap(void* old, size_t new_size) {
  void* p = real.malloc(new_size);
  if (p) {
    const size_t old_size = bootstrap::usable_size(old);
    std::memcpy(p, old, old_size < new_size ? old_size : new_size);
  }
  return p;
}

void record_realloc_begin(void* ptr, uint64_t size, uint64_t count) {
  if (!ptr) return;
  record_touched(ptr);
  record(Op::kReallocBegin, addr(ptr), size, count, 0, 0, 0);
}

}  // namespace
}  // namespace mtreplay::recorder

using namespace mtreplay::recorder;
using mtreplay::traces::Op;

MHOOK_EXPORT void* malloc(size_t size) noexcept {
  if (!ready()) return early_allocate(size, 16);
  void* p = real.malloc(size);
  record_allocation(Op::kMalloc, size, 0, 0, p);
  return p;
}

MHOOK_EXPORT void* calloc(size_t count, size_t size) noexcept {
  if (!ready()) {
    if (size && count > SIZE_MAX / size) {
      errno = ENOMEM;
      return nullptr;
    }
    return early_allocate(count * size, 16);  // .bss is zeroed
  }
  void* p = real.calloc(count, size);
  record_allocation(Op::kCalloc, size, count, 0, p);
  return p;
}

MHOOK_EXPORT void free(void* ptr) noexcept {
  if (bootstrap::owns(ptr)) {
    count_unrecorded();
    return;
  }
  if (!ready()) return;  // cannot happen for a real pointer: it came from real.malloc
  record_touched(ptr);
  record(Op::kFree, addr(ptr), 0, 0, 0, 0, 0);
  real.free(ptr);
}

MHOOK_EXPORT void* realloc(void* ptr, size_t size) noexcept {
  if (!ready() || bootstrap::owns(ptr)) {
    if (!real_functions_ready) {
      void* p = early_allocate(size, 16);
      if (p && ptr)
        std::memcpy(p, ptr,
                    bootstrap::usable_size(ptr) < size ? bootstrap::usable_size(ptr) : size);
      return p;
    }
    count_unrecorded();
    return move_out_of_bootstrap(ptr, size);
  }
  record_realloc_begin(ptr, size, 0);
  void* p = real.realloc(ptr, size);
  // realloc(p, 0) frees p and returns NULL without an error.
  record(Op::kRealloc, addr(ptr), size, 0, 0, addr(p), !p && (size != 0 || !ptr) ? errno : 0);
  return p;
}

// Implemented over the real realloc, as glibc does: glibc's own reallocarray calls
// realloc through the PLT, which would record the call twice.
MHOOK_EXPORT void* reallocarray(void* ptr, size_t count, size_t size) noexcept {
  size_t bytes;
  const bool overflow = __builtin_mul_overflow(count, size, &bytes);
  if (!ready() || bootstrap::owns(ptr)) {
    if (overflow) {
      errno = ENOMEM;
      return nullptr;
    }
    return realloc(ptr, bytes);
  }
  record_realloc_begin(ptr, size, count);
  void* p = nullptr;
  if (overflow) {
    errno = ENOMEM;
  } else {
    p = real.realloc(ptr, bytes);
  }
  record(Op::kReallocArray, addr(ptr), size, count, 0, addr(p),
         !p && (overflow || bytes != 0) ? errno : 0);
  return p;
}

MHOOK_EXPORT void* memalign(size_t alignment, size_t size) noexcept {
  if (!ready()) return early_allocate(size, alignment);
  void* p = real.memalign(alignment, size);
  record_allocation(Op::kMemalign, size, 0, alignment, p);
  return p;
}

MHOOK_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (!ready()) {
    void* p = early_allocate(size, alignment);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
  }
  const int rc = real.posix_memalign(out, alignment, size);
  if (__builtin_expect(size >= touched::kMinBytes, 0) && rc == 0) touched::on_allocate(*out, size);
  record(Op::kPosixMemalign, 0, size, 0, alignment, rc == 0 ? addr(*out) : 0, rc);
  return rc;
}

MHOOK_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (!ready()) return early_allocate(size, alignment);
  void* p = real.aligned_alloc(alignment, size);
  record_allocation(Op::kAlignedAlloc, size, 0, alignment, p);
  return p;
}

MHOOK_EXPORT void* valloc(size_t size) noexcept {
  if (!ready()) return early_allocate(size, 4096);
  void* p = real.valloc(size);
  record_allocation(Op::kValloc, size, 0, 0, p);
  return p;
}

MHOOK_EXPORT void* pvalloc(size_t size) noexcept {
  if (!ready()) return early_allocate((size + 4095) & ~size_t{4095}, 4096);
  void* p = real.pvalloc(size);
  record_allocation(Op::kPvalloc, size, 0, 0, p);
  return p;
}

MHOOK_EXPORT size_t malloc_usable_size(void* ptr) noexcept {
  if (bootstrap::owns(ptr)) return bootstrap::usable_size(ptr);
  if (!ready()) return 0;
  const size_t n = real.malloc_usable_size(ptr);
  record(Op::kUsableSize, addr(ptr), 0, 0, 0, n, 0);
  return n;
}
