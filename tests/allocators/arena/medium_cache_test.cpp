// A thread's cache of medium blocks on its own, with descriptors that describe no
// memory: which block a malloc gets back, what a full cache refuses, and how its budget
// follows the refusals.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "medium_cache.hpp"

namespace arena {
namespace {

// Descriptors of `pages` pages each, freed (claimed) as a free into the cache leaves them.
std::vector<std::unique_ptr<Span>> freed_spans(std::size_t count, std::size_t pages) {
  std::vector<std::unique_ptr<Span>> spans;
  for (std::size_t i = 0; i < count; ++i) {
    auto span = std::make_unique<Span>();
    span->kind = SpanKind::kMedium;
    span->page_count = static_cast<std::uint16_t>(pages);
    span->medium.freed = 1;
    spans.push_back(std::move(span));
  }
  return spans;
}

// Keeps what the cache gives back, and how many pages.
struct Released {
  std::vector<Span*> spans;
  std::size_t pages = 0;
  void operator()(Span* span) {
    spans.push_back(span);
    pages += span->page_count;
  }
};

TEST(MediumCache, AMallocGetsTheLastFreedBlockOfItsPageCount) {
  MediumCache cache;
  Released released;
  auto threes = freed_spans(2, 3);
  auto five = freed_spans(1, 5);
  ASSERT_TRUE(cache.keep(threes[0].get(), released));
  ASSERT_TRUE(cache.keep(five[0].get(), released));
  ASSERT_TRUE(cache.keep(threes[1].get(), released));
  EXPECT_EQ(cache.take(3), threes[1].get());
  EXPECT_EQ(threes[1]->medium.freed, 0u);  // live again: its next free claims it anew
  EXPECT_EQ(cache.take(3), threes[0].get());
  EXPECT_EQ(cache.take(3), nullptr);
  EXPECT_EQ(cache.take(4), nullptr);
  EXPECT_EQ(cache.take(5), five[0].get());
  EXPECT_TRUE(released.spans.empty());
}

TEST(MediumCache, AFullCacheRefusesTheBlockFreed) {
  MediumCache cache;
  Released released;
  constexpr std::size_t kFit = MediumCache::kMaxBudgetPages / MediumCache::kMaxPages;
  auto spans = freed_spans(kFit + 1, MediumCache::kMaxPages);
  for (std::size_t i = 0; i < kFit; ++i) ASSERT_TRUE(cache.keep(spans[i].get(), released)) << i;
  EXPECT_FALSE(cache.keep(spans[kFit].get(), released));
  EXPECT_TRUE(released.spans.empty());  // nothing cached is given back for it
  // Room again once a block is taken.
  EXPECT_EQ(cache.take(MediumCache::kMaxPages), spans[kFit - 1].get());
  EXPECT_TRUE(cache.keep(spans[kFit].get(), released));
}

// Fills the cache to its budget with blocks of kMaxPages pages, then frees 2-page blocks
// into it, each refused, until `keeps` frees in all; returns the spans (kept alive).
std::vector<std::unique_ptr<Span>> refuse_until(MediumCache& cache, Released& released,
                                                std::size_t budget, std::size_t keeps) {
  auto full = freed_spans(budget / MediumCache::kMaxPages, MediumCache::kMaxPages);
  for (auto& span : full) EXPECT_TRUE(cache.keep(span.get(), released));
  auto small = freed_spans(keeps - full.size(), 2);
  for (auto& span : small) EXPECT_FALSE(cache.keep(span.get(), released));
  for (auto& span : small) full.push_back(std::move(span));
  return full;
}

TEST(MediumCache, RefusalsInAWindowTheCacheStayedFullHalveTheBudget) {
  MediumCache cache;
  Released released;
  // The first window started with the cache empty: its refusals change nothing. The
  // second window's last free finds the budget halved: half of the cached pages go back,
  // the longest blocks first, and that free is refused too.
  auto spans =
      refuse_until(cache, released, MediumCache::kMaxBudgetPages, 2 * MediumCache::kWindowKeeps);
  EXPECT_EQ(released.pages, MediumCache::kMaxBudgetPages / 2);
  for (Span* span : released.spans) EXPECT_EQ(span->page_count, MediumCache::kMaxPages);
  // Down to the floor, window after window, and no further.
  std::vector<std::unique_ptr<Span>> more;
  for (int window = 0; window < 8; ++window) {
    auto refused = freed_spans(MediumCache::kWindowKeeps, 2);
    for (auto& span : refused) cache.keep(span.get(), released);
    for (auto& span : refused) more.push_back(std::move(span));
  }
  EXPECT_EQ(released.pages, MediumCache::kMaxBudgetPages - MediumCache::kMinBudgetPages);
  Released drained;
  cache.drain(drained);
  EXPECT_EQ(drained.pages, MediumCache::kMinBudgetPages);
}

// A thread that allocates a batch of blocks and frees them all (alloc_batch_buffers)
// empties the cache at each batch; its frees are refused when the blocks a batch left
// over and the next batch's do not fit together. The cache does not shrink for that.
TEST(MediumCache, RefusalsOfACacheThatEmptiesKeepTheBudget) {
  MediumCache cache;
  Released released;
  constexpr std::size_t kFit = MediumCache::kMaxBudgetPages / MediumCache::kMaxPages;
  auto batch = freed_spans(kFit, MediumCache::kMaxPages);
  auto extra = freed_spans(kFit, MediumCache::kMaxPages);
  // Half the frees refused, and every batch kept whole: the budget stays at its most.
  for (std::uint32_t keeps = 0; keeps < 4 * MediumCache::kWindowKeeps;) {
    for (auto& span : batch) ASSERT_TRUE(cache.keep(span.get(), released)) << keeps;
    for (auto& span : extra) EXPECT_FALSE(cache.keep(span.get(), released)) << keeps;
    for (std::size_t i = 0; i < kFit; ++i) ASSERT_NE(cache.take(MediumCache::kMaxPages), nullptr);
    keeps += 2 * kFit;
  }
  EXPECT_TRUE(released.spans.empty());
}

// malloc_trim drains the cache in the middle of a window: the window's low-water mark is
// then zero, and the refusals that follow while the cache fills again do not halve it.
TEST(MediumCache, ADrainCountsAsTheWindowsLowWaterMark) {
  MediumCache cache;
  Released released;
  // A first window that fills the cache and ends in refusals (it started empty).
  auto spans =
      refuse_until(cache, released, MediumCache::kMaxBudgetPages, MediumCache::kWindowKeeps);
  Released drained;
  cache.drain(drained);
  ASSERT_EQ(drained.pages, MediumCache::kMaxBudgetPages);
  // The second window: full again, then refusals to its end.
  auto more =
      refuse_until(cache, released, MediumCache::kMaxBudgetPages, MediumCache::kWindowKeeps);
  EXPECT_TRUE(released.spans.empty());
  Released kept;
  cache.drain(kept);
  EXPECT_EQ(kept.pages, MediumCache::kMaxBudgetPages);
}

TEST(MediumCache, AWindowWithoutRefusalsDoublesTheBudget) {
  MediumCache cache;
  Released released;
  // Three windows of refusals, the first from an empty cache: the budget is a quarter.
  auto spans =
      refuse_until(cache, released, MediumCache::kMaxBudgetPages, 3 * MediumCache::kWindowKeeps);
  const std::size_t quarter = MediumCache::kMaxBudgetPages / 4;
  Released drained;
  cache.drain(drained);
  ASSERT_EQ(drained.pages, quarter);
  // A window of frees the thread's mallocs take back, none refused: doubled.
  auto one = freed_spans(1, 2);
  for (std::uint32_t i = 0; i < MediumCache::kWindowKeeps; ++i) {
    ASSERT_TRUE(cache.keep(one[0].get(), released));
    ASSERT_EQ(cache.take(2), one[0].get());
  }
  auto blocks = freed_spans(2 * quarter / MediumCache::kMaxPages + 1, MediumCache::kMaxPages);
  for (std::size_t i = 0; i + 1 < blocks.size(); ++i)
    EXPECT_TRUE(cache.keep(blocks[i].get(), released)) << i;
  EXPECT_FALSE(cache.keep(blocks.back().get(), released));
}

TEST(MediumCache, DrainGivesEveryBlockBack) {
  MediumCache cache;
  Released released;
  auto twos = freed_spans(3, 2);
  auto sixteen = freed_spans(2, MediumCache::kMaxPages);
  for (auto& span : twos) ASSERT_TRUE(cache.keep(span.get(), released));
  for (auto& span : sixteen) ASSERT_TRUE(cache.keep(span.get(), released));
  Released drained;
  cache.drain(drained);
  EXPECT_EQ(drained.spans.size(), 5u);
  EXPECT_EQ(drained.pages, 3 * 2 + 2 * MediumCache::kMaxPages);
  EXPECT_EQ(cache.take(2), nullptr);
  EXPECT_EQ(cache.take(MediumCache::kMaxPages), nullptr);
}

}  // namespace
}  // namespace arena
