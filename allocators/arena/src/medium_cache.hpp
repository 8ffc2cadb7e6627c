// A thread's cache of medium blocks it allocated and then freed, for its next malloc of
// the same number of pages: no arena lock, no page-heap merge and split. A program that
// keeps replacing blocks of 16-64 KiB (glibc's threaded benchmark: 4 % of its mallocs)
// spent about an eighth of its time (perf) on the two locked trips through the page
// heap, where peers keep such blocks in per-thread caches.
// Its budget adapts between 64 and 1024 pages: a cache that covers a thread's whole
// medium churn spares its page heap the mixing with slabs and lowers peak RSS
// (thread_malloc 0.97x glibc's instead of 1.08x), one that the thread's frees keep
// filling only adds its pages to the heap's (random_churn 1.15x at a fixed 1024). A full
// cache refuses the block freed rather than evicting its oldest, whose neighbours' cold
// descriptors a list in age order writes (allocators/arena/README.md; BENCHMARKS.md, #12
// and #14, Session 51).
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
  static constexpr std::size_t kMaxPages = 16;
  static constexpr std::size_t kMaxBudgetPages = 1024;
  static constexpr std::size_t kMinBudgetPages = 64;
  static constexpr std::uint32_t kWindowKeeps = 1024;
  static constexpr std::uint32_t kRefusalsPerWindowDivisor = 64;

  // A cached block of exactly `pages` pages, live again (the one freed last: its lines
  // are the likeliest to be in this core's cache); nullptr if there is none.
  Span* take(std::size_t pages) {
    Span*& top = bins_[pages - 1];
    Span* span = top;
    if (span == nullptr) return nullptr;
    top = span->owned_next;
    held_pages_ -= pages;
    if (held_pages_ < window_low_pages_) window_low_pages_ = held_pages_;
    __atomic_store_n(&span->medium.freed, 0, __ATOMIC_RELEASE);
    return span;
  }

  // Keeps a block its free claimed; false when the cache is full (the caller gives it
  // back to its arena). Cached blocks the budget no longer allows go to `release` (the
  // block just kept among them, when it is the longest).
  template <typename Release>
  bool keep(Span* span, Release&& release) {
    const bool kept = held_pages_ + span->page_count <= budget_pages_;
    if (kept) {
      Span*& top = bins_[span->page_count - 1];
      span->owned_next = top;
      top = span;
      held_pages_ += span->page_count;
    } else {
      ++window_refusals_;
    }
    if (++window_keeps_ == kWindowKeeps) adapt_budget(release);
    return kept;
  }

  // Empties the cache, handing each block (still claimed) to `release`.
  template <typename Release>
  void drain(Release&& release) {
    trim(0, release);
  }

 private:
  // A thread whose frees keep finding the cache full while it stayed more than half full
  // all window long frees more blocks than its mallocs take back: what the cache holds
  // then adds to what the heap holds (random_churn). One whose mallocs empty it between
  // batches of frees (batch_buffers: a batch's sizes are not the last one's, so 3 % of
  // its frees were refused) reuses what it holds: halving that cache sent its blocks
  // through the arena lock, 3.6x its time.
  template <typename Release>
  void adapt_budget(Release&& release) {
    if (window_refusals_ * kRefusalsPerWindowDivisor > kWindowKeeps &&
        window_low_pages_ * 2 > budget_pages_) {
      budget_pages_ = budget_pages_ / 2 > kMinBudgetPages ? budget_pages_ / 2 : kMinBudgetPages;
      trim(budget_pages_, release);
    } else if (window_refusals_ == 0 && budget_pages_ < kMaxBudgetPages) {
      budget_pages_ *= 2;
    }
    window_keeps_ = 0;
    window_refusals_ = 0;
    window_low_pages_ = held_pages_;
  }
  // Gives back cached blocks, the longest first, until at most `pages` pages are left.
  template <typename Release>
  void trim(std::size_t pages, Release&& release) {
    for (std::size_t i = kMaxPages; i-- > 0 && held_pages_ > pages;) {
      while (bins_[i] != nullptr && held_pages_ > pages) {
        Span* span = bins_[i];
        bins_[i] = span->owned_next;
        held_pages_ -= i + 1;
        release(span);
      }
    }
    if (held_pages_ < window_low_pages_) window_low_pages_ = held_pages_;  // malloc_trim's drain
  }
  // The cached blocks of each page count, the last freed first, linked through the
  // spans' owned_next (a slab's link: a medium block has no other use for it).
  Span* bins_[kMaxPages] = {};
  std::size_t held_pages_ = 0;
  std::size_t budget_pages_ = kMaxBudgetPages;
  std::uint32_t window_keeps_ = 0;
  std::uint32_t window_refusals_ = 0;
  // The fewest pages held since the window began (its start included).
  std::size_t window_low_pages_ = 0;
};

}  // namespace arena
