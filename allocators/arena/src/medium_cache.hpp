// A thread's cache of medium blocks it allocated and then freed, for its next malloc of
// the same number of pages: no arena lock, no page-heap merge and split. A program that
// keeps replacing blocks of 16-64 KiB (glibc's threaded benchmark: 4 % of its mallocs)
// spent about an eighth of its time (perf) on the two locked trips through the page
// heap, where peers keep such blocks in per-thread caches. A few blocks of at most 16
// pages: at most 256 KiB a thread held back from the other threads and from purging
// (8 slots took back half of what ending the slabs at 6 KiB saved in thread_malloc's
// peak RSS).
// The blocks stay in use as far as their arena knows, claimed by their free
// (claim_medium_free), so a second free, a realloc or a size query of one is caught by
// find_block, lock or not. Owner thread only, but for the cached spans' `medium.freed`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "span.hpp"

namespace arena {

class MediumCache {
 public:
  static constexpr std::size_t kSlots = 4;
  static constexpr std::size_t kMaxPages = 16;

  // A cached block of exactly `pages` pages, live again (the one freed last: its lines
  // are the likeliest to be in this core's cache); nullptr if there is none.
  Span* take(std::size_t pages) {
    for (std::uint32_t i = count_; i-- > 0;) {
      Span* span = spans_[i];
      if (span->page_count != pages) continue;
      for (std::uint32_t j = i + 1; j < count_; ++j) spans_[j - 1] = spans_[j];  // oldest first
      --count_;
      __atomic_store_n(&span->medium.freed, 0, __ATOMIC_RELEASE);
      return span;
    }
    return nullptr;
  }

  // Keeps a block its free claimed; returns the oldest block when it had to make room
  // (for the caller to give back to its arena), else nullptr.
  Span* keep(Span* span) {
    Span* evicted = nullptr;
    if (count_ == kSlots) {
      evicted = spans_[0];
      for (std::uint32_t i = 1; i < count_; ++i) spans_[i - 1] = spans_[i];
      --count_;
    }
    spans_[count_++] = span;
    return evicted;
  }

  // Empties the cache, handing each block (still claimed) to `release`.
  template <typename Release>
  void drain(Release&& release) {
    while (count_ != 0) release(spans_[--count_]);
  }

 private:
  std::uint32_t count_ = 0;
  Span* spans_[kSlots] = {};
};

}  // namespace arena
