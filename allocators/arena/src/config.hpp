// The allocator's geometry. Every size here is a power of two so that the owner of
// any address is found by shifts and masks, never by a search.
#pragma once

#include <cstddef>
#include <cstdint>

namespace arena {

inline constexpr std::size_t kPageShift = 12;
inline constexpr std::size_t kPageSize = std::size_t{1} << kPageShift;

// User memory is reserved in segments, aligned to their size, carved into page runs.
inline constexpr std::size_t kSegmentShift = 22;
inline constexpr std::size_t kSegmentSize = std::size_t{1} << kSegmentShift;
inline constexpr std::size_t kPagesPerSegment = kSegmentSize / kPageSize;

// Blocks up to kMaxSmall come from slabs (one size class per slab, out-of-line
// bitmap); up to kMaxMedium from page runs of a segment; above it, one mmap each.
// Slabs stop at 6 KiB: a thread keeps a partly used slab of every class it uses, and
// the classes from 6 to 16 KiB (2-5 blocks in 6-10 pages) held a fifth of
// thread_malloc's slab pages for blocks it did not have; as page runs of its arena's
// heap they share their free pages with every other size. thread_malloc's peak RSS
// went from 1.15x glibc's to 1.09x for 5-8 % more CPU, producer_consumer's from 1.18x
// to 1.10x; the real programs' CPU and peak RSS did not move (BENCHMARKS.md, #14,
// Session 29). A block of 8193 bytes takes 3 pages where its class took 10 KiB: at most
// a third wasted, against a fifth.
inline constexpr std::size_t kMaxSmall = 6 * 1024;
inline constexpr std::size_t kMaxMedium = 1024 * 1024;
inline constexpr std::size_t kMaxMediumPages = kMaxMedium / kPageSize;

inline constexpr std::size_t kMinAlign = 16;

// A slab holds at most this many blocks: its bitmaps have a fixed size. 256 is what the
// smallest class needs (a one-page slab of 16-byte blocks), and a slab's free bitmap and
// pending bitmap then share one cache line.
inline constexpr std::size_t kBitmapWords = 4;
inline constexpr std::size_t kMaxBlocksPerSlab = kBitmapWords * 64;

inline constexpr std::size_t kMaxArenas = 64;

// User addresses above this are never ours (4-level paging user space).
inline constexpr unsigned kAddressBits = 47;

constexpr std::size_t pages_for(std::size_t bytes) {
  return (bytes + kPageSize - 1) >> kPageShift;
}

}  // namespace arena
