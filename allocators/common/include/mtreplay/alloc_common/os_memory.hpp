#pragma once
// Page mapping for the allocators: thin, failure-returning wrappers over mmap.
// Nothing here allocates from the heap.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace mtreplay::alloc {

inline constexpr std::size_t kPageSize = 4096;  // x86-64 Linux; checked by the tests

inline constexpr std::size_t round_up(std::size_t n, std::size_t align) noexcept {
  return (n + align - 1) & ~(align - 1);
}

inline constexpr bool is_power_of_two(std::size_t n) noexcept {
  return n && !(n & (n - 1));
}

// Anonymous read-write pages, or nullptr. MAP_NORESERVE: pages cost nothing until
// touched, so reserving a large heap does not count against overcommit.
inline void* map_pages(std::size_t bytes) noexcept {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// `bytes` of pages starting at a multiple of `align` (a power of two >= page size).
inline void* map_aligned(std::size_t bytes, std::size_t align) noexcept {
  if (bytes + align < bytes) return nullptr;
  auto* raw = static_cast<char*>(map_pages(bytes + align));
  if (!raw) return nullptr;
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  auto aligned = (start + align - 1) & ~(std::uintptr_t{align} - 1);
  std::size_t lead = aligned - start, tail = align - lead;
  if (lead) munmap(raw, lead);
  if (tail) munmap(reinterpret_cast<char*>(aligned) + bytes, tail);
  return reinterpret_cast<void*>(aligned);
}

inline void unmap_pages(void* p, std::size_t bytes) noexcept {
  munmap(p, bytes);
}

// Give the pages back to the kernel but keep the range mapped (reads then see zeros).
inline void purge_pages(void* p, std::size_t bytes) noexcept {
  if (bytes) madvise(p, bytes, MADV_DONTNEED);
}

}  // namespace mtreplay::alloc
