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
inline constexpr std::size_t kMaxSmall = 16 * 1024;
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
