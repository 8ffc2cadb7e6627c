// One arena: a lock, the slabs of each size class, and a page heap of free runs over
// the arena's segments. Threads are bound to an arena; a block is always returned to
// the arena whose segment holds it. Every function here expects `arena.lock` held.
#pragma once

#include <cstddef>
#include <cstdint>

#include "arena/arena.h"
#include "lock.hpp"
#include "size_classes.hpp"
#include "span.hpp"

namespace arena {

struct alignas(64) Arena {
  Lock lock;
  std::uint32_t index;
  Span* partial[kNumClasses];     // slabs with at least one free block
  Span* empty_slab[kNumClasses];  // one empty slab kept per class against churn
  // Free runs: bucket n < 64 holds runs of exactly n pages, bucket 0 the longer ones.
  static constexpr std::size_t kBuckets = 64;
  Span* runs[kBuckets];
  std::uint64_t nonempty_runs;  // bit n set when runs[n] is not empty
  Segment* segments;
  Span* spare_spans;  // recycled descriptors
  std::size_t segment_count;
  std::size_t whole_free_segments;
  std::size_t pages_in_use;
  std::size_t dirty_pages;
  std::size_t clean_pages;
};

// nullptr when memory runs out.
void* slab_allocate(Arena& arena, std::size_t size_class);
void* medium_allocate(Arena& arena, std::size_t pages, std::size_t align_pages);

// The span of a block this segment handed out, or nullptr when `address` is not the
// start of a live block here; `double_free` tells a freed block from a foreign one.
struct BlockRef {
  Span* span;
  std::size_t index;  // block within a slab
};
BlockRef find_block(const Segment& segment, std::uintptr_t address, bool& double_free);

void release_block(Arena& arena, BlockRef block);
std::size_t block_usable_size(const BlockRef& block);
// Grows or shrinks a medium block without moving it; false when the next pages are taken.
bool medium_resize_in_place(Arena& arena, Span& span, std::size_t pages);

// Returns every dirty free page, and the cached empty slabs, to the kernel.
void purge_free_pages(Arena& arena);
void trim(Arena& arena);
void add_stats(Arena& arena, arena_stats& stats);

// Guards the process-wide list of recycled segment descriptors (taken around fork).
Lock& segment_recycler_lock();

}  // namespace arena
