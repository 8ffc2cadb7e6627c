#pragma once
// Heaps: every arena, the main one included, carves its chunks from 64 MiB regions
// aligned to 64 MiB, so the heap (and through it the arena) of any in-heap chunk is
// found by masking its address: no lookup, no lock.
//
//   heap -> | Heap header (32 bytes) | chunks ... | top chunk | fence | fence |
//
// The two 16-byte fence chunks at the end are permanently in use, so coalescing and
// the "is my next chunk free" test never read past the heap.
#include <cstddef>
#include <cstdint>

#include "chunk.hpp"

namespace mtreplay::ptmalloc {

struct Arena;

inline constexpr std::size_t kHeapBytes = std::size_t{64} << 20;
inline constexpr std::size_t kFirstChunkOffset = 32;
inline constexpr std::size_t kFenceOffset = kHeapBytes - 32;

struct Heap {
  Arena* arena;
  Heap* older;
  Heap* newer;
  // Offset below which pages may be resident; what trimming gives back.
  std::size_t dirty_end;
};
static_assert(sizeof(Heap) <= kFirstChunkOffset);

inline Heap* heap_of(void* chunk_or_mem) noexcept {
  return reinterpret_cast<Heap*>(reinterpret_cast<std::uintptr_t>(chunk_or_mem) &
                                 ~(std::uintptr_t{kHeapBytes} - 1));
}
inline std::size_t offset_in_heap(const Heap* h, const void* p) noexcept {
  return static_cast<std::size_t>(static_cast<const char*>(p) - reinterpret_cast<const char*>(h));
}
inline Chunk* first_chunk(Heap* h) noexcept {
  return reinterpret_cast<Chunk*>(reinterpret_cast<char*>(h) + kFirstChunkOffset);
}
inline Chunk* fence_of(Heap* h) noexcept {
  return reinterpret_cast<Chunk*>(reinterpret_cast<char*>(h) + kFenceOffset);
}

// Maps a new heap whose whole body is one top chunk; nullptr when out of memory.
Heap* create_heap(Arena* owner) noexcept;
void destroy_heap(Heap* h) noexcept;

}  // namespace mtreplay::ptmalloc
