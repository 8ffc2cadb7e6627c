#pragma once
// Large blocks live in their own mappings. The chunk header keeps the in-band layout:
// prev_size holds the distance from the mapping's start to the chunk (non-zero for
// aligned blocks), size the rest of the mapping, with IS_MMAPPED set.
#include <cstddef>

#include "chunk.hpp"

namespace mtreplay::ptmalloc {

// Requests of at least this many bytes are mmapped (128 KiB, raised dynamically up to
// 32 MiB as mmapped blocks are freed, like glibc).
std::size_t mmap_threshold() noexcept;

Chunk* mmap_chunk(std::size_t n, std::size_t align) noexcept;
void munmap_chunk(Chunk* c) noexcept;
// Moves or resizes the mapping with mremap; nullptr (c intact) on failure.
Chunk* mremap_chunk(Chunk* c, std::size_t n) noexcept;

inline std::size_t usable_mmapped(const Chunk* c) noexcept {
  return c->size() - kHeaderBytes;
}

}  // namespace mtreplay::ptmalloc
