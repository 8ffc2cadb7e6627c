// Out-of-line descriptions of user memory. A Span describes a run of pages inside a
// segment: free, a slab of one size class, or one medium block. A Segment describes
// a 4 MiB region and maps each of its pages to the span covering it. Nothing here is
// stored next to user memory.
#pragma once

#include <cstdint>

#include "config.hpp"

namespace arena {

struct Arena;
struct Segment;

enum class SpanKind : std::uint8_t { kFree, kSlab, kMedium };

struct Span {
  Span* next;  // in a free-run bucket, or a size class's list of slabs with room
  Span* prev;
  Segment* segment;
  std::uint16_t first_page;
  std::uint16_t page_count;
  SpanKind kind;
  std::uint8_t size_class;
  bool dirty;  // free run whose pages may still be resident
  bool listed;
  // Slabs only. Bit set = block free, so the first free block is one count-trailing-zeros.
  std::uint16_t capacity;
  std::uint16_t free_count;
  std::uint16_t first_word;  // no free bit below this word
  std::uint64_t free_bits[kBitmapWords];
};

struct Segment {
  std::uintptr_t base;
  Arena* arena;
  Segment* next;  // the arena's segments
  Segment* prev;
  std::uint32_t free_pages;
  // The span covering each page. Only the first and last page of a free run or medium
  // block are kept current; every page of a slab is. Stale entries are harmless: a
  // span is trusted only if it belongs to this segment and its range covers the page.
  Span* pages[kPagesPerSegment];
};

inline Span* span_covering(const Segment& segment, std::size_t page) {
  Span* span = segment.pages[page];
  if (span == nullptr || span->segment != &segment || page < span->first_page ||
      page >= std::size_t{span->first_page} + span->page_count)
    return nullptr;
  return span;
}

inline std::uintptr_t span_start(const Span& span) {
  return span.segment->base + (std::uintptr_t{span.first_page} << kPageShift);
}

}  // namespace arena
