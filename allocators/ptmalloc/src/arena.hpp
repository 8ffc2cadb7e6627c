#pragma once
// An arena: a lock, a top chunk, the heaps it carves from and its bins of free chunks.
// Every *_locked function expects the caller to hold arena.lock.
#include <cstddef>
#include <cstdint>

#include "chunk.hpp"
#include "heap.hpp"
#include "mtreplay/alloc_common/futex_lock.hpp"

namespace mtreplay::ptmalloc {

// Bins 2..63 hold exactly one chunk size each (16-byte steps below 1 KiB); from 1 KiB
// on, four bins per power of two. Chunks in heaps are below 64 MiB, so 128 bins do.
inline constexpr std::size_t kSmallBinLimit = 64;
inline constexpr std::size_t kBinCount = 128;

inline std::size_t bin_index(std::size_t chunk_size) noexcept {
  if (chunk_size < kSmallBinLimit * 16) return chunk_size >> 4;
  unsigned log2 = 63 - __builtin_clzll(chunk_size);
  return kSmallBinLimit + (log2 - 10) * 4 + ((chunk_size >> (log2 - 2)) & 3);
}

struct Arena {
  alloc::FutexLock lock;
  Chunk* top;
  Heap* newest_heap;  // holds top
  Heap* oldest_heap;
  Chunk* bins[kBinCount];  // doubly linked through fd/bk, nullptr-terminated
  std::uint64_t binmap[kBinCount / 64];
  // Thread binding, guarded by the arena table lock.
  std::uint32_t attached_threads;
  Arena* next_unused;
};

// Creates the first heap; false when out of memory.
bool init_arena(Arena& a) noexcept;

// A chunk of at least nb bytes (nb from chunk_size_for), marked in use; nullptr when
// out of memory.
Chunk* malloc_locked(Arena& a, std::size_t nb) noexcept;
// Gives an in-use chunk back: coalesces with free neighbours or the top, bins it,
// trims the top and releases heaps that became empty.
void free_locked(Arena& a, Chunk* c) noexcept;
// Makes c exactly (about) nb bytes without moving it; false if it cannot grow in place.
bool resize_locked(Arena& a, Chunk* c, std::size_t nb) noexcept;
// A chunk of nb bytes whose mem is aligned to align (a power of two > 16).
Chunk* memalign_locked(Arena& a, std::size_t align, std::size_t nb) noexcept;
// Number of inconsistencies found in the arena's heaps and bins (0 = healthy); the
// first is described in `what` (a static string).
std::size_t check_locked(Arena& a, const char** what) noexcept;

// The dynamic thresholds shared by all arenas (glibc's rule: freeing an mmapped block
// raises the mmap threshold to its size, so repeated large blocks stop costing a syscall).
std::size_t trim_threshold() noexcept;

}  // namespace mtreplay::ptmalloc
