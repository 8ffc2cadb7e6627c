// Raw page mappings for lphash. The map lives inside processes whose malloc is the
// allocator being measured, so every byte it owns comes from mmap, never from malloc.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace mtreplay::lphash::detail {

inline std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

inline std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

// Out of address space is not recoverable for a lookup structure: report and abort
// (std::bad_alloc would allocate through the measured malloc).
[[noreturn]] inline void mapping_failed(const char* what, std::size_t bytes) {
  std::fprintf(stderr, "lphash: %s of %zu bytes failed\n", what, bytes);
  std::abort();
}

inline void* map_zeroed(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) mapping_failed("mmap", bytes);
  // Probes hit random slots; huge pages save most of the TLB misses on big tables.
  if (bytes >= (std::size_t{2} << 20)) ::madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

// Gives the physical pages of [p, p + bytes) back to the kernel while the range stays
// mapped: a late reader still touching it reads zero pages instead of faulting.
inline void release_pages(void* p, std::size_t bytes) {
  ::madvise(p, bytes, MADV_DONTNEED);
}

inline void unmap(void* p, std::size_t bytes) {
  ::munmap(p, bytes);
}

}  // namespace mtreplay::lphash::detail
