// The malloc family of the arena allocator, through its prefixed API: sizes,
// alignment, usable sizes, the corner cases of calloc/realloc/memalign, running out
// of memory, returning memory, and surviving a heap overflow.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "arena.hpp"
#include "arena/arena.h"
#include "config.hpp"
#include "medium_cache.hpp"
#include "os.hpp"
#include "segment_map.hpp"

namespace {

constexpr std::size_t kHuge = std::size_t{1} << 46;  // more than this machine can map

bool aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

void fill(void* p, std::size_t n, unsigned char seed) {
  auto* bytes = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>(seed + i * 7);
}

bool holds(const void* p, std::size_t n, unsigned char seed) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != static_cast<unsigned char>(seed + i * 7)) return false;
  return true;
}

arena::Span* slab_of(const void* p) {
  return arena::slab_map_find(reinterpret_cast<std::uintptr_t>(p));
}

// In a fresh thread heap: blocks of `size` filling 100 slabs, then a block back in each
// of them, so that the class's next refill relists them a block each and puts the class
// in reuse mode (allocator.cpp, allocate_small_reuse).
std::vector<unsigned char*> blocks_for_reuse_mode(std::size_t size) {
  const std::size_t per_slab = arena::kClasses[arena::size_class_of(size)].blocks;
  std::vector<unsigned char*> blocks;
  for (std::size_t i = 0; i < 100 * per_slab; ++i)
    blocks.push_back(static_cast<unsigned char*>(arena_malloc(size)));
  for (std::size_t i = 0; i < blocks.size(); i += per_slab) {
    arena_free(blocks[i]);
    blocks[i] = static_cast<unsigned char*>(arena_malloc(size));
  }
  return blocks;
}

std::vector<std::size_t> sizes_of_every_kind() {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 0; s <= 1100; ++s) sizes.push_back(s);
  for (std::size_t s = 1100; s <= arena::kMaxSmall + 64; s += 97) sizes.push_back(s);
  for (std::size_t s = arena::kMaxSmall; s <= arena::kMaxMedium + 4096; s += 40961)
    sizes.push_back(s);
  sizes.push_back(arena::kMaxMedium);
  sizes.push_back(arena::kMaxMedium + 1);
  sizes.push_back(3 * arena::kMaxMedium + 12345);
  return sizes;
}

TEST(ArenaMalloc, BlocksOfEverySizeAreAlignedWritableAndDisjoint) {
  std::vector<std::pair<void*, std::size_t>> blocks;
  unsigned char seed = 1;
  for (std::size_t size : sizes_of_every_kind()) {
    void* p = arena_malloc(size);
    ASSERT_NE(p, nullptr) << size;
    ASSERT_TRUE(aligned(p, 16)) << size;
    ASSERT_GE(arena_malloc_usable_size(p), size);
    fill(p, size, seed++);
    blocks.emplace_back(p, size);
  }
  seed = 1;
  for (auto [p, size] : blocks) {
    EXPECT_TRUE(holds(p, size, seed++)) << "block of " << size << " was overwritten";
    arena_free(p);
  }
}

TEST(ArenaMalloc, UsableSizeIsTheWholeBlockAndAllOfItIsUsable) {
  for (std::size_t size : sizes_of_every_kind()) {
    void* p = arena_malloc(size);
    const std::size_t usable = arena_malloc_usable_size(p);
    EXPECT_GE(usable, size);
    if (size > 128) {
      EXPECT_LE(usable, size + size / 4 + arena::kPageSize) << size;
    }
    std::memset(p, 0x5a, usable);
    arena_free(p);
  }
  EXPECT_EQ(arena_malloc_usable_size(nullptr), 0u);
}

TEST(ArenaMalloc, ZeroBytesGivesADistinctFreeableBlock) {
  void* a = arena_malloc(0);
  void* b = arena_malloc(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  arena_free(a);
  arena_free(b);
  arena_free(nullptr);
}

TEST(ArenaMalloc, RequestsBeyondMemoryFailWithENOMEM) {
  for (std::size_t size : {kHuge, std::size_t{PTRDIFF_MAX}, SIZE_MAX, SIZE_MAX - 4096}) {
    errno = 0;
    EXPECT_EQ(arena_malloc(size), nullptr) << size;
    EXPECT_EQ(errno, ENOMEM) << size;
  }
  errno = 0;
  EXPECT_EQ(arena_memalign(1 << 20, kHuge), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(arena_valloc(SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(arena_pvalloc(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  // And it still works afterwards.
  void* p = arena_malloc(100);
  ASSERT_NE(p, nullptr);
  arena_free(p);
}

TEST(ArenaCalloc, ZeroesRecycledMemory) {
  for (std::size_t size :
       {std::size_t{24}, std::size_t{3000}, std::size_t{50000}, arena::kMaxMedium + 5}) {
    void* dirty = arena_malloc(size);
    std::memset(dirty, 0xee, size);
    arena_free(dirty);
    auto* p = static_cast<unsigned char*>(arena_calloc(1, size));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(p[i], 0) << size << " at " << i;
    arena_free(p);
  }
}

TEST(ArenaCalloc, OverflowingProductFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(arena_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(arena_calloc(std::size_t{1} << 33, std::size_t{1} << 33), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* zero = arena_calloc(0, 16);
  EXPECT_NE(zero, nullptr);
  arena_free(zero);
}

TEST(ArenaRealloc, NullAndZeroFollowGlibc) {
  void* p = arena_realloc(nullptr, 40);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(arena_malloc_usable_size(p), 40u);
  EXPECT_EQ(arena_realloc(p, 0), nullptr);  // frees p
}

TEST(ArenaRealloc, KeepsContentAcrossEveryKindOfBlock) {
  constexpr std::size_t kSlab = arena::kMaxSmall;  // the largest slab block; one more is medium
  const std::size_t steps[] = {8,       100,     2000,   kSlab, kSlab + 1, 70000, 900000,
                               1500000, 5000000, 800000, 30000, 5000,      64,    1};
  void* p = arena_malloc(1);
  fill(p, 1, 9);
  std::size_t live = 1;
  for (std::size_t size : steps) {
    p = arena_realloc(p, size);
    ASSERT_NE(p, nullptr) << size;
    ASSERT_TRUE(holds(p, std::min(live, size), 9)) << "content lost resizing to " << size;
    fill(p, size, 9);
    live = size;
  }
  arena_free(p);
}

TEST(ArenaRealloc, SmallBlocksStayWhileTheyFit) {
  void* p = arena_malloc(100);
  const std::size_t usable = arena_malloc_usable_size(p);
  EXPECT_EQ(arena_realloc(p, usable), p);
  EXPECT_EQ(arena_realloc(p, usable - 20), p);
  arena_free(p);
}

TEST(ArenaRealloc, MediumBlocksShrinkAndGrowInPlace) {
  auto* p = static_cast<char*>(arena_malloc(256 * 1024));
  fill(p, 20000, 3);
  EXPECT_EQ(arena_realloc(p, 20000), p);  // the tail goes back to the page heap
  EXPECT_EQ(arena_malloc_usable_size(p), arena::pages_for(20000) * arena::kPageSize);
  EXPECT_EQ(arena_realloc(p, 200 * 1024), p);  // and is taken back
  EXPECT_TRUE(holds(p, 20000, 3));
  arena_free(p);
}

TEST(ArenaRealloc, LargeBlocksMoveWithoutLosingContent) {
  auto* p = static_cast<char*>(arena_malloc(2 * arena::kMaxMedium));
  fill(p, 2 * arena::kMaxMedium, 4);
  p = static_cast<char*>(arena_realloc(p, 40 * arena::kMaxMedium));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(holds(p, 2 * arena::kMaxMedium, 4));
  EXPECT_GE(arena_malloc_usable_size(p), 40 * arena::kMaxMedium);
  arena_free(p);
}

TEST(ArenaRealloc, FailureLeavesTheBlockIntact) {
  for (std::size_t size : {std::size_t{64}, std::size_t{100000}, 3 * arena::kMaxMedium}) {
    void* p = arena_malloc(size);
    fill(p, size, 5);
    errno = 0;
    EXPECT_EQ(arena_realloc(p, kHuge), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_TRUE(holds(p, size, 5));
    errno = 0;
    EXPECT_EQ(arena_reallocarray(p, SIZE_MAX / 4, 8), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_TRUE(holds(p, size, 5));
    arena_free(p);
  }
}

TEST(ArenaReallocarray, MultipliesLikeCalloc) {
  auto* p = static_cast<int*>(arena_reallocarray(nullptr, 10, sizeof(int)));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) p[i] = i;
  p = static_cast<int*>(arena_reallocarray(p, 1000, sizeof(int)));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p[i], i);
  arena_free(p);
}

TEST(ArenaMemalign, EveryPowerOfTwoAlignmentForEveryKindOfSize) {
  for (std::size_t alignment = 1; alignment <= (std::size_t{4} << 20); alignment *= 2) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{5000},
                             std::size_t{50000}, std::size_t{3} << 20}) {
      void* p = arena_memalign(alignment, size);
      ASSERT_NE(p, nullptr) << alignment << " " << size;
      EXPECT_TRUE(aligned(p, alignment < 16 ? 16 : alignment)) << alignment << " " << size;
      EXPECT_GE(arena_malloc_usable_size(p), size);
      std::memset(p, 1, size);
      arena_free(p);
    }
  }
}

TEST(ArenaMemalign, NonPowerOfTwoAlignmentIsRoundedUpLikeGlibc) {
  void* p = arena_memalign(24, 10);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, 32));
  arena_free(p);
  p = arena_memalign(3000, 10);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, 4096));
  arena_free(p);
  errno = 0;
  EXPECT_EQ(arena_memalign(SIZE_MAX / 2 + 2, 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(ArenaPosixMemalign, RejectsBadAlignmentsWithEINVAL) {
  void* p = reinterpret_cast<void*>(0x1234);
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{4},
                          std::size_t{12}, std::size_t{24}, std::size_t{48}}) {
    EXPECT_EQ(arena_posix_memalign(&p, bad, 16), EINVAL) << bad;
    EXPECT_EQ(p, reinterpret_cast<void*>(0x1234)) << "output written on failure";
  }
  EXPECT_EQ(arena_posix_memalign(&p, 64, kHuge), ENOMEM);
  for (std::size_t good : {sizeof(void*), std::size_t{16}, std::size_t{256}, std::size_t{65536}}) {
    ASSERT_EQ(arena_posix_memalign(&p, good, 100), 0);
    EXPECT_TRUE(aligned(p, good));
    arena_free(p);
  }
}

TEST(ArenaAlignedAlloc, PowersOfTwoOnly) {
  void* p = arena_aligned_alloc(128, 1000);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, 128));
  arena_free(p);
  errno = 0;
  EXPECT_EQ(arena_aligned_alloc(3, 9), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(ArenaValloc, PageAlignedAndPvallocRoundsUp) {
  void* v = arena_valloc(10);
  EXPECT_TRUE(aligned(v, arena::kPageSize));
  void* pv = arena_pvalloc(arena::kPageSize + 1);
  EXPECT_TRUE(aligned(pv, arena::kPageSize));
  EXPECT_GE(arena_malloc_usable_size(pv), 2 * arena::kPageSize);
  void* zero = arena_pvalloc(0);
  ASSERT_NE(zero, nullptr);
  EXPECT_GE(arena_malloc_usable_size(zero), arena::kPageSize);
  arena_free(v);
  arena_free(pv);
  arena_free(zero);
}

// The allocator keeps no header, footer or link next to user memory: scribbling far
// past the end of a block damages other blocks' contents, never the allocator.
TEST(ArenaIsolation, OverflowPastTheEndLeavesTheAllocatorWorking) {
  std::vector<void*> neighbours;
  for (int i = 0; i < 2000; ++i) neighbours.push_back(arena_malloc(48 + (i % 5) * 16));
  auto* victim = static_cast<unsigned char*>(arena_malloc(100));
  auto* medium = static_cast<unsigned char*>(arena_malloc(40000));
  for (int i = 0; i < 2000; ++i) neighbours.push_back(arena_malloc(48 + (i % 7) * 16));
  // Overflow by up to 64 KiB, staying inside the victim's mapped 4 MiB segment.
  for (unsigned char* p : {victim, medium}) {
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t segment_end = (start | (arena::kSegmentSize - 1)) + 1;
    const std::size_t overflow = std::min<std::size_t>(64 * 1024, segment_end - start);
    std::memset(p, 0xA5, overflow);
  }
  for (void* p : neighbours) arena_free(p);
  arena_free(victim);
  arena_free(medium);
  // Churn: every block still comes back whole and distinct.
  std::mt19937 rng(7);
  std::vector<std::pair<unsigned char*, std::size_t>> live;
  for (int round = 0; round < 20000; ++round) {
    if (live.size() < 500 && rng() % 3 != 0) {
      const std::size_t size = 1 + rng() % 3000;
      auto* p = static_cast<unsigned char*>(arena_malloc(size));
      ASSERT_NE(p, nullptr);
      std::memset(p, static_cast<int>(size & 0xff), size);
      live.emplace_back(p, size);
    } else if (!live.empty()) {
      const std::size_t k = rng() % live.size();
      auto [p, size] = live[k];
      for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(p[i], size & 0xff);
      arena_free(p);
      live[k] = live.back();
      live.pop_back();
    }
  }
  for (auto [p, size] : live) arena_free(p);
}

TEST(ArenaMemory, FreedSegmentsAndPagesGoBackToTheKernel) {
  arena_trim();
  arena_stats before{};
  arena_get_stats(&before);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(arena_malloc(60000));  // ~60 MiB
  for (int i = 0; i < 20000; ++i) blocks.push_back(arena_malloc(200));
  for (void* p : blocks) std::memset(p, 1, arena_malloc_usable_size(p));
  arena_stats during{};
  arena_get_stats(&during);
  EXPECT_GE(during.pages_in_use, before.pages_in_use + 1000 * 15);
  EXPECT_GE(during.segments, before.segments + 14);
  for (void* p : blocks) arena_free(p);
  arena_stats after{};
  arena_get_stats(&after);
  // The first medium blocks freed stay in the thread's cache, up to its budget.
  EXPECT_LE(after.pages_in_use, before.pages_in_use + 64 + arena::MediumCache::kMaxBudgetPages);
  // Still mapped at most: the one empty segment kept for growth, the segment of the
  // empty slab the arena keeps for the class, that of the thread's current slab, and
  // the two the cached blocks (allocated one after the other) lie in.
  EXPECT_LE(after.segments, before.segments + 3 + 2);
  // Dirty free pages are bounded by the purge policy, and trim returns them all.
  // (an allowance of 128 pages plus a fifth of the peak, and a headroom as large).
  EXPECT_LE(after.pages_free_dirty, before.pages_free_dirty + 2 * (128 + during.pages_in_use / 5));
  arena_trim();
  arena_get_stats(&after);
  EXPECT_EQ(after.pages_free_dirty, 0u);
}

// A thread hands the slabs it filled over when it next takes a slab from its arena, so
// that another thread that frees their blocks (a consumer) returns them to the arena
// while their first owner sits idle: nothing waits for the owner's next allocation.
TEST(ArenaMemory, SlabsAnIdleThreadFilledGoBackWhenAnotherThreadFreesTheirBlocks) {
  arena_trim();
  arena_stats before{};
  arena_get_stats(&before);
  std::vector<void*> blocks;
  std::mutex mutex;
  std::condition_variable changed;
  bool filled = false;
  bool done = false;
  std::thread owner([&] {
    for (int i = 0; i < 20000; ++i) blocks.push_back(arena_malloc(48));  // ~235 one-page slabs
    std::unique_lock lock(mutex);
    filled = true;
    changed.notify_all();
    changed.wait(lock, [&] { return done; });  // idle but alive: its heap stays
  });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return filled; });
  }
  arena_stats during{};
  arena_get_stats(&during);
  EXPECT_GE(during.pages_in_use, before.pages_in_use + 200);
  for (void* p : blocks) arena_free(p);
  arena_stats after{};
  arena_get_stats(&after);
  // Left in use: the owner's current slab (its blocks wait in its inbox), the empty slab
  // the arena keeps for the class, and a few slabs of this thread's.
  EXPECT_LE(after.pages_in_use, before.pages_in_use + 8);
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  changed.notify_all();
  owner.join();
}

// Blocks another thread frees into slabs their owner still holds reach the owner through
// its inbox once the freer's batch is flushed (arena_trim flushes it): the owner's next
// mallocs of the class hand the same blocks out again. A free that left such a slab out
// of the batch without its being queued already would leave them pending, and the
// owner would hand its full slabs over and take new ones.
TEST(ArenaMemory, BlocksAnotherThreadFreedComeBackToTheirOwnersNextMallocs) {
  constexpr std::size_t kSize = 64;  // one-page slabs of 64 blocks
  constexpr int kBlocks = 64;
  std::vector<void*> first;
  std::vector<void*> again;
  std::mutex mutex;
  std::condition_variable changed;
  int step = 0;  // 1: the owner has its blocks, 2: they are freed
  std::thread owner([&] {
    for (int i = 0; i < kBlocks; ++i) first.push_back(arena_malloc(kSize));
    std::unique_lock lock(mutex);
    step = 1;
    changed.notify_all();
    changed.wait(lock, [&] { return step == 2; });
    for (int i = 0; i < kBlocks; ++i) again.push_back(arena_malloc(kSize));
  });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return step == 1; });
    for (void* p : first) arena_free(p);
    arena_trim();
    step = 2;
  }
  changed.notify_all();
  owner.join();
  std::sort(first.begin(), first.end());
  std::size_t reused = 0;
  for (void* p : again) reused += std::binary_search(first.begin(), first.end(), p) ? 1 : 0;
  EXPECT_EQ(reused, again.size());
  for (void* p : again) arena_free(p);
}

// A thread's frees into its own full slabs leave them off its list of slabs with room
// (no list work on the free path); its next refill must find them before it takes new
// pages: one freed block in each of 300 slabs, then 300 mallocs, and no slab more.
TEST(ArenaMemory, BlocksFreedIntoFullSlabsAreReusedBeforeNewSlabs) {
  std::thread worker([] {  // a fresh thread heap, so only this test's slabs are its own
    constexpr std::size_t kSize = 1000;  // the 1024-byte class: 8 blocks per 2-page slab
    std::vector<void*> blocks;
    for (int i = 0; i < 300 * 8; ++i) blocks.push_back(arena_malloc(kSize));
    arena_stats filled{};
    arena_get_stats(&filled);
    for (std::size_t i = 0; i < blocks.size(); i += 8) arena_free(blocks[i]);
    for (std::size_t i = 0; i < blocks.size(); i += 8) blocks[i] = arena_malloc(kSize);
    arena_stats after{};
    arena_get_stats(&after);
    EXPECT_LE(after.pages_in_use, filled.pages_in_use + 2);  // at most one new slab
    for (void* p : blocks) arena_free(p);
  });
  worker.join();
}

// A class whose slabs span several pages: a thread's first slabs of it are smaller, until
// they add up to a full slab's pages; then its slabs are full-sized, also once the full
// slabs it keeps filling have been handed over to its arena.
TEST(ArenaMemory, AThreadsFirstSlabsOfAClassAreSmallUntilTheyMakeAFullSlab) {
  std::thread worker([] {  // a fresh thread heap: it owns no slab of the class yet
    constexpr std::size_t kSize = 320;
    const arena::ClassInfo& info = arena::kClasses[arena::size_class_of(kSize)];
    ASSERT_LT(info.first_slab_pages, info.slab_pages);
    const std::size_t small_blocks = info.first_slab_pages * arena::kPageSize / kSize;
    const std::size_t small_slabs =
        (info.slab_pages + info.first_slab_pages - 1) / info.first_slab_pages;
    auto pages_in_use = [] {
      arena_stats stats{};
      arena_get_stats(&stats);
      return stats.pages_in_use;
    };
    constexpr std::size_t kFullSlabs = 8;
    std::vector<void*> blocks;
    blocks.reserve(small_slabs * small_blocks + kFullSlabs * info.blocks);
    const std::size_t before = pages_in_use();
    for (std::size_t slab = 1; slab <= small_slabs; ++slab) {
      for (std::size_t i = 0; i < small_blocks; ++i) blocks.push_back(arena_malloc(kSize));
      EXPECT_EQ(pages_in_use(), before + slab * info.first_slab_pages) << slab;
    }
    const std::size_t small_pages = small_slabs * info.first_slab_pages;
    for (std::size_t slab = 1; slab <= kFullSlabs; ++slab) {
      blocks.push_back(arena_malloc(kSize));
      EXPECT_EQ(pages_in_use(), before + small_pages + slab * info.slab_pages) << slab;
      for (std::size_t i = 1; i < info.blocks; ++i) blocks.push_back(arena_malloc(kSize));
    }
    for (void* p : blocks) arena_free(p);
  });
  worker.join();
}

// One size replaced at random: the thread's frees land in slabs that are full but for
// them, and once a refill finds the free blocks one to a slab, a malloc takes the block
// the last free returned (reuse mode), never one that is live.
TEST(ArenaMemory, OneSizeReplacedAtRandomTakesTheBlockTheLastFreeReturned) {
  std::thread worker([] {  // a fresh thread heap: these are its only slabs of the class
    constexpr std::size_t kSize = 224;
    std::vector<unsigned char*> blocks = blocks_for_reuse_mode(kSize);
    for (std::size_t i = 0; i < blocks.size(); ++i) std::memset(blocks[i], int(i & 0xff), kSize);
    std::mt19937 random(5);
    int same = 0;
    constexpr int kReplacements = 20000;
    for (int n = 0; n < kReplacements; ++n) {
      const std::size_t i = random() % blocks.size();
      ASSERT_EQ(blocks[i][0], i & 0xff);  // no other slot was handed this block
      ASSERT_EQ(blocks[i][kSize - 1], i & 0xff);
      unsigned char* freed = blocks[i];
      arena_free(freed);
      blocks[i] = static_cast<unsigned char*>(arena_malloc(kSize));
      same += blocks[i] == freed;
      std::memset(blocks[i], int(i & 0xff), kSize);
    }
    EXPECT_GE(same, kReplacements * 9 / 10);
    for (unsigned char* p : blocks) arena_free(p);
  });
  worker.join();
}

// Reuse mode holds the block a free returns for the class's next malloc, still live in
// its slab's bitmap: a free into a full slab leaves the slab full and off the unlisted
// stack, and the malloc takes the block back. The next free marks the held block free,
// and its slab goes on the stack. Refills list the stack. The thread exits with a slab on
// the stack and a block held: both go back, and another thread frees the other blocks.
TEST(ArenaMemory, ReuseModeHoldsTheFreedBlockAndStacksTheSlabOfTheOneBefore) {
  std::vector<unsigned char*> left;
  std::thread worker([&left] {  // a fresh thread heap
    constexpr std::size_t kSize = 224;
    const std::size_t per_slab = arena::kClasses[arena::size_class_of(kSize)].blocks;
    std::vector<unsigned char*> blocks = blocks_for_reuse_mode(kSize);
    std::mt19937 random(11);
    for (int n = 0; n < 1000; ++n) {  // replaced at random: the class stays in reuse mode
      unsigned char*& b = blocks[random() % blocks.size()];
      arena_free(b);
      b = static_cast<unsigned char*>(arena_malloc(kSize));
    }
    // One block of each of two full slabs the thread still owns (its refills hand the
    // others over: owner 0).
    auto blocks_of_full_slabs = [&blocks](std::size_t count) {
      std::vector<std::size_t> found;
      std::set<const arena::Span*> full;
      for (std::size_t i = 0; i < blocks.size() && full.size() < count; ++i) {
        const arena::Span* slab = slab_of(blocks[i]);
        if (arena::slab_full(*slab) && slab->owner != 0 && full.insert(slab).second)
          found.push_back(i);
      }
      return found;
    };
    const std::vector<std::size_t> in_full_slabs = blocks_of_full_slabs(2);
    ASSERT_EQ(in_full_slabs.size(), 2u);
    for (int round = 0; round < 3; ++round) {
      for (std::size_t i : in_full_slabs) {
        unsigned char*& b = blocks[i];
        unsigned char* const freed = b;
        arena_free(b);
        EXPECT_TRUE(arena::slab_full(*slab_of(freed)));
        EXPECT_EQ(slab_of(freed)->on_list, arena::kOnNoList);
        b = static_cast<unsigned char*>(arena_malloc(kSize));
        ASSERT_EQ(b, freed) << "not in reuse mode: this test no longer tests a held block";
      }
    }
    unsigned char* const first = blocks[in_full_slabs[0]];
    unsigned char* const second = blocks[in_full_slabs[1]];
    arena_free(first);
    arena_free(second);
    EXPECT_EQ(arena::count_free_blocks(*slab_of(first)), 1u);
    EXPECT_EQ(slab_of(first)->on_list, arena::kOnUnlistedStack);
    EXPECT_TRUE(arena::slab_full(*slab_of(second)));
    blocks[in_full_slabs[0]] = static_cast<unsigned char*>(arena_malloc(kSize));
    EXPECT_EQ(blocks[in_full_slabs[0]], second);
    blocks[in_full_slabs[1]] = static_cast<unsigned char*>(arena_malloc(kSize));
    // Two slabs with room on the stack beside the full ones; then enough mallocs for
    // refills that list the stack and take new slabs.
    arena_free(blocks[20 * per_slab + 2]);
    arena_free(blocks[40 * per_slab + 3]);
    arena_free(blocks[60 * per_slab + 4]);
    blocks.erase(blocks.begin() + static_cast<long>(60 * per_slab + 4));
    blocks.erase(blocks.begin() + static_cast<long>(40 * per_slab + 3));
    blocks.erase(blocks.begin() + static_cast<long>(20 * per_slab + 2));
    for (std::size_t i = 0; i < 3 * per_slab; ++i)
      blocks.push_back(static_cast<unsigned char*>(arena_malloc(kSize)));
    std::set<unsigned char*> distinct(blocks.begin(), blocks.end());
    EXPECT_EQ(distinct.size(), blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) std::memset(blocks[i], int(i & 0x7f), kSize);
    for (std::size_t i = 0; i < blocks.size(); ++i)
      ASSERT_EQ(std::count(blocks[i], blocks[i] + kSize, static_cast<unsigned char>(i & 0x7f)),
                long(kSize));
    // The thread exits with a slab on the stack and a block held.
    const std::vector<std::size_t> last_full = blocks_of_full_slabs(2);
    ASSERT_EQ(last_full.size(), 2u);
    const arena::Span* stacked = slab_of(blocks[last_full[0]]);
    arena_free(blocks[last_full[0]]);
    arena_free(blocks[last_full[1]]);
    EXPECT_EQ(stacked->on_list, arena::kOnUnlistedStack);
    blocks.erase(blocks.begin() + static_cast<long>(last_full[1]));
    blocks.erase(blocks.begin() + static_cast<long>(last_full[0]));
    left = std::move(blocks);
  });
  worker.join();
  for (unsigned char* b : left) arena_free(b);
}

// A held block keeps its slab: every block of a slab freed, the last one held, the slab
// is still the thread's and its pages serve no other size; the next malloc of the class
// takes the held block, and no block is handed out twice.
TEST(ArenaMemory, AHeldBlockKeepsItsSlab) {
  std::thread worker([] {  // a fresh thread heap: these are its only slabs of the class
    constexpr std::size_t kSize = 224;
    const std::size_t per_slab = arena::kClasses[arena::size_class_of(kSize)].blocks;
    std::vector<unsigned char*> blocks = blocks_for_reuse_mode(kSize);
    std::mt19937 random(7);
    for (int n = 0; n < 1000; ++n) {
      unsigned char*& b = blocks[random() % blocks.size()];
      arena_free(b);
      b = static_cast<unsigned char*>(arena_malloc(kSize));
    }
    const arena::Span* emptied = slab_of(blocks[50 * per_slab]);
    std::vector<unsigned char*> kept;
    unsigned char* held = nullptr;
    for (unsigned char* b : blocks) {
      if (slab_of(b) == emptied) {
        arena_free(b);
        held = b;
      } else {
        kept.push_back(b);
      }
    }
    ASSERT_NE(held, nullptr);
    EXPECT_EQ(slab_of(held), emptied);
    EXPECT_NE(emptied->owner, 0u);
    EXPECT_EQ(arena::count_free_blocks(*emptied), emptied->capacity - 1u);
    std::vector<unsigned char*> others;
    for (std::size_t size : {256, 64, 96, 1000})
      for (int i = 0; i < 400; ++i)
        others.push_back(static_cast<unsigned char*>(arena_malloc(size)));
    for (unsigned char* b : others) EXPECT_NE(slab_of(b), emptied);
    for (unsigned char* b : kept) std::memset(b, 0x5a, kSize);
    for (unsigned char* b : others) std::memset(b, 0x3c, arena_malloc_usable_size(b));
    std::vector<unsigned char*> fresh;
    auto mark = [](std::size_t i) { return static_cast<unsigned char>(0x80 | (i & 0x3f)); };
    for (std::size_t i = 0; i < 200; ++i) {
      fresh.push_back(static_cast<unsigned char*>(arena_malloc(kSize)));
      std::memset(fresh.back(), mark(i), kSize);
    }
    EXPECT_EQ(fresh[0], held);
    std::set<unsigned char*> distinct(fresh.begin(), fresh.end());
    EXPECT_EQ(distinct.size(), fresh.size());
    for (std::size_t i = 0; i < fresh.size(); ++i)
      ASSERT_EQ(std::count(fresh[i], fresh[i] + kSize, mark(i)), long(kSize));
    for (unsigned char* b : kept) ASSERT_EQ(std::count(b, b + kSize, 0x5a), long(kSize));
    for (unsigned char* b : others) {
      const std::size_t n = arena_malloc_usable_size(b);
      ASSERT_EQ(std::count(b, b + n, 0x3c), long(n));
    }
    for (unsigned char* b : kept) arena_free(b);
    for (unsigned char* b : others) arena_free(b);
    for (unsigned char* b : fresh) arena_free(b);
  });
  worker.join();
}

// A refill hands a full slab of the thread's over (unowned, for other threads' frees to
// bring back) only at the second refill in a row that finds it full: a thread that frees
// into its own slabs keeps them, and its frees take no lock.
TEST(ArenaMemory, FullSlabsAreHandedOverAtTheSecondRefillInARowThatFindsThemFull) {
  std::thread worker([] {              // a fresh thread heap
    constexpr std::size_t kSize = 48;  // one-page slabs
    const auto slab = slab_of;
    auto owned = [](const arena::Span* span) {
      return __atomic_load_n(&span->owner, __ATOMIC_RELAXED) != 0;
    };
    std::vector<void*> blocks;
    // Mallocs until one comes from a slab other than `current`; returns that slab.
    auto fill = [&](const arena::Span* current) {
      for (;;) {
        blocks.push_back(arena_malloc(kSize));
        if (slab(blocks.back()) != current) return slab(blocks.back());
      }
    };
    blocks.push_back(arena_malloc(kSize));
    arena::Span* a = slab(blocks.back());
    arena::Span* b = fill(a);  // refill 1 finds `a` full
    EXPECT_TRUE(owned(a));
    arena_free(blocks[1]);  // into `a`: the thread uses it
    blocks[1] = nullptr;
    arena::Span* c = fill(b);  // refill 2 finds `b` full, `a` not
    ASSERT_NE(c, a);
    EXPECT_EQ(fill(c), a);     // `c` filled: `a`'s free block next
    arena::Span* d = fill(a);  // refill 3 finds `a`, `b`, `c` full
    ASSERT_NE(d, b);
    ASSERT_NE(d, c);
    EXPECT_FALSE(owned(b));  // full at refills 2 and 3
    EXPECT_TRUE(owned(a));   // freed into after refill 1
    EXPECT_TRUE(owned(c));   // full at refill 3 only
    for (void* p : blocks) arena_free(p);
  });
  worker.join();
}

// A thread's freed medium blocks of up to MediumCache::kMaxPages pages serve its next
// mallocs of the same size, the last freed first, without the page heap (same address,
// no page taken); blocks another thread allocated, and bigger ones, go back to the arena
// at once; the thread's exit gives its cache back.
TEST(ArenaMemory, AThreadsFreedMediumBlocksServeItsNextMallocsOfTheSameSize) {
  constexpr std::size_t kSize = 6 * arena::kPageSize;
  constexpr std::size_t kBig = (arena::MediumCache::kMaxPages + 1) * arena::kPageSize;
  constexpr std::size_t kBlocks = 8;
  void* from_main = arena_malloc(kSize);
  arena_stats before{};
  std::thread worker([&] {
    arena_get_stats(&before);
    void* blocks[kBlocks];
    for (void*& p : blocks) p = arena_malloc(kSize);
    void* big = arena_malloc(kBig);
    for (void* p : blocks) arena_free(p);
    arena_free(big);
    arena_free(from_main);
    arena_stats cached{};
    arena_get_stats(&cached);
    EXPECT_EQ(cached.pages_in_use, before.pages_in_use - 6 + kBlocks * 6);
    for (std::size_t i = kBlocks; i-- > 0;) EXPECT_EQ(arena_malloc(kSize), blocks[i]) << i;
    arena_stats reused{};
    arena_get_stats(&reused);
    EXPECT_EQ(reused.pages_in_use, cached.pages_in_use);
    for (void* p : blocks) arena_free(p);
  });
  worker.join();
  arena_stats after{};
  arena_get_stats(&after);
  EXPECT_EQ(after.pages_in_use,
            before.pages_in_use - 6);  // `from_main` freed, the cache given back
}

// The frees past the cache's budget go back to the arena at once, and a thread whose
// frees keep finding the cache full halves the budget and gives back what is past it.
TEST(ArenaMemory, AThreadsCacheOfMediumBlocksHoldsAtMostItsBudget) {
  constexpr std::size_t kPages = arena::MediumCache::kMaxPages;
  constexpr std::size_t kFit = arena::MediumCache::kMaxBudgetPages / kPages;
  std::thread worker([&] {  // a fresh thread heap
    arena_stats before{};
    arena_get_stats(&before);
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < 2 * kFit; ++i)
      blocks.push_back(arena_malloc(kPages * arena::kPageSize));
    for (void* p : blocks) arena_free(p);
    arena_stats full{};
    arena_get_stats(&full);
    EXPECT_EQ(full.pages_in_use, before.pages_in_use + arena::MediumCache::kMaxBudgetPages);
    // Frees of 2-page blocks, each refused, to the end of the second window of 1024: the
    // first started with the cache empty, the second found it full all along.
    for (std::size_t i = 2 * kFit; i < 2 * arena::MediumCache::kWindowKeeps; ++i) {
      void* p = arena_malloc(2 * arena::kPageSize);
      arena_free(p);
    }
    arena_stats halved{};
    arena_get_stats(&halved);
    EXPECT_EQ(halved.pages_in_use, before.pages_in_use + arena::MediumCache::kMaxBudgetPages / 2);
  });
  worker.join();
}

// A class from kFirstPageRunClass (5000 bytes: 5120, slabs of 8 pages for 6 blocks) is
// served from page runs of 2 pages while its arena has fewer of them live than a slab's
// pages would hold (4), then from a slab; once the slab's last block is freed, the slab
// goes back and the next block is a page run again. A page run block freed by another
// thread or into its own thread's cache is no longer counted live; one reallocated to
// another size of those classes stays where it is.
TEST(ArenaMemory, TheLargestClassesArePageRunsUntilASlabWouldHoldAsMany) {
  std::thread worker([] {  // a fresh thread heap
    constexpr std::size_t kSize = 5000;
    const std::size_t cls = arena::size_class_of(kSize);
    ASSERT_GE(cls, arena::kFirstPageRunClass);
    const std::size_t worth = arena::page_runs_worth_a_slab(cls);
    EXPECT_EQ(worth, 4u);
    std::vector<void*> runs;
    for (std::size_t i = 0; i < worth; ++i) {
      runs.push_back(arena_malloc(kSize));
      EXPECT_EQ(arena_malloc_usable_size(runs.back()), 2 * arena::kPageSize) << i;
      EXPECT_TRUE(aligned(runs.back(), arena::kPageSize)) << i;
    }
    const arena::Arena* own = arena::thread_arena();
    ASSERT_NE(own, nullptr);
    auto live_runs = [&] { return own->page_run_blocks[cls - arena::kFirstPageRunClass]; };
    EXPECT_EQ(live_runs(), worth);
    void* from_slab = arena_malloc(kSize);
    EXPECT_EQ(arena_malloc_usable_size(from_slab), std::size_t{arena::kClasses[cls].block_size});
    EXPECT_EQ(live_runs(), worth);
    std::thread([&] {
      for (void* p : runs) arena_free(p);
    }).join();
    EXPECT_EQ(live_runs(), 0u);
    arena_stats before{};
    arena_get_stats(&before);
    arena_free(from_slab);  // the slab's last block: the slab goes back
    arena_stats after{};
    arena_get_stats(&after);
    EXPECT_EQ(after.pages_in_use, before.pages_in_use - arena::kClasses[cls].slab_pages);
    void* again = arena_malloc(kSize);
    EXPECT_EQ(arena_malloc_usable_size(again), 2 * arena::kPageSize);
    EXPECT_EQ(live_runs(), 1u);
    EXPECT_EQ(arena_realloc(again, 6000), again);  // a size of those classes: stays
    EXPECT_EQ(live_runs(), 1u);
    arena_free(again);  // into the thread's cache
    EXPECT_EQ(live_runs(), 0u);
  });
  worker.join();
}

// A class the thread takes many page runs for from the page heap (another thread frees
// them, so its cache never has one) gets a slab however few of its blocks are live: a
// producer handing such blocks to a consumer one at a time. Timed by the coarse clock's
// windows, so the test gives the thread up to 5 s to reach the rate.
TEST(ArenaMemory, AClassTakingManyPageRunsFromTheHeapGetsASlab) {
  std::atomic<void*> handed{nullptr};
  std::atomic<bool> done{false};
  // Both threads yield while they wait: on a loaded machine they may share a CPU, and a
  // hand-over must not cost a time slice.
  std::thread freer([&] {
    while (!done.load()) {
      if (void* p = handed.exchange(nullptr))
        arena_free(p);
      else
        std::this_thread::yield();
    }
  });
  bool slab = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::thread producer([&] {
    constexpr std::size_t kSize = 5000;
    while (!slab && std::chrono::steady_clock::now() < give_up) {
      void* p = arena_malloc(kSize);
      slab = arena_malloc_usable_size(p) == arena::kClasses[arena::size_class_of(kSize)].block_size;
      while (handed.load() != nullptr) std::this_thread::yield();
      handed.store(p);
    }
  });
  producer.join();
  done.store(true);
  freer.join();
  if (void* p = handed.exchange(nullptr)) arena_free(p);
  EXPECT_TRUE(slab);
}

// A block a realloc grew in place past the cache's limit goes back to the arena when
// freed: the cache holds blocks of at most kMaxPages pages.
TEST(ArenaMemory, AMediumBlockGrownPastTheCachesLimitIsNotCached) {
  std::thread worker([] {  // a fresh thread heap
    constexpr std::size_t kGrown = 4 * arena::MediumCache::kMaxPages;
    void* p = arena_malloc(6 * arena::kPageSize);
    void* grown = arena_realloc(p, kGrown * arena::kPageSize);
    ASSERT_NE(grown, nullptr);
    arena_stats live{};
    arena_get_stats(&live);
    arena_free(grown);
    arena_stats freed{};
    arena_get_stats(&freed);
    EXPECT_EQ(freed.pages_in_use, live.pages_in_use - kGrown)
        << (grown == p ? "grown in place" : "moved");
  });
  worker.join();
}

// A first thread leaves `pages` free pages resident in its arena, every other free page
// clean; then `second(own, first)` runs on a thread of another arena. Skipped when both
// threads share an arena (one CPU).
template <class Second>
void after_resident_pages_in_another_arena(std::size_t pages, Second second) {
  arena::Arena* first_arena = nullptr;
  std::thread first([&] {
    arena_trim();
    const std::size_t bytes = pages * arena::kPageSize;
    void* p = arena_malloc(bytes);  // from clean pages of this thread's arena
    std::memset(p, 1, bytes);
    first_arena = arena::segment_map().find(reinterpret_cast<std::uintptr_t>(p))->arena;
    arena_free(p);  // past the thread cache's limit: free in its arena, and resident
  });
  first.join();
  std::thread other([&] {
    void* probe = arena_malloc(64);  // binds the thread to its arena
    arena::Arena* own = arena::thread_arena();
    if (own == nullptr || own == first_arena) {
      arena_free(probe);
      GTEST_SKIP() << "both threads share an arena (one CPU)";
    }
    second(*own, *first_arena);
    arena_free(probe);
  });
  other.join();
}

std::size_t resident_pages(const void* p, std::size_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(p) & ~(arena::kPageSize - 1);
  const std::size_t pages =
      (reinterpret_cast<std::uintptr_t>(p) + bytes - start + arena::kPageSize - 1) /
      arena::kPageSize;
  std::vector<unsigned char> in_core(pages);
  if (mincore(reinterpret_cast<void*>(start), pages * arena::kPageSize, in_core.data()) != 0)
    return 0;
  std::size_t resident = 0;
  for (unsigned char page : in_core) resident += page & 1;
  return resident;
}

// A thread whose arena has no free run with resident pages long enough takes its medium
// block from another arena's resident free pages, not from clean ones it would fault in.
TEST(ArenaMemory, AMediumBlockComesFromAnotherArenasResidentPagesWhenItsOwnHasNone) {
  constexpr std::size_t kPages = 40;
  after_resident_pages_in_another_arena(kPages + 8, [&](arena::Arena& own, arena::Arena& first) {
    {
      arena::ArenaGuard guard(own);
      arena::Span* fit = nullptr;
      ASSERT_FALSE(arena::has_resident_run(own, kPages, fit));
    }
    void* q = arena_malloc(kPages * arena::kPageSize);
    EXPECT_EQ(arena::segment_map().find(reinterpret_cast<std::uintptr_t>(q))->arena, &first);
    EXPECT_EQ(resident_pages(q, kPages * arena::kPageSize), kPages);
    arena_free(q);
  });
}

// The same for a new slab: a thread with no listed slab of the class and no resident run
// as long as the class's slabs takes the slab from another arena's resident pages.
TEST(ArenaMemory, ANewSlabComesFromAnotherArenasResidentPagesWhenItsOwnHasNone) {
  constexpr std::size_t kBlock = 6000;
  const std::size_t size_class = arena::size_class_of(kBlock);
  const std::size_t slab_pages = arena::kClasses[size_class].slab_pages;
  ASSERT_GE(slab_pages, 4u);
  after_resident_pages_in_another_arena(48, [&](arena::Arena& own, arena::Arena& first) {
    {
      arena::ArenaGuard guard(own);
      ASSERT_EQ(own.partial[size_class], nullptr);
      arena::Span* fit = nullptr;
      ASSERT_FALSE(arena::has_resident_run(own, slab_pages, fit));
    }
    void* q = arena_malloc(kBlock);
    EXPECT_EQ(arena::segment_map().find(reinterpret_cast<std::uintptr_t>(q))->arena, &first);
    const std::size_t pages = (kBlock + arena::kPageSize - 1) / arena::kPageSize;
    EXPECT_GE(resident_pages(q, kBlock), pages) << "its pages were resident before";
    arena_free(q);
  });
}

// Free pages are dirty (resident, counted against the purge allowance) only if they were
// in use since the last purge: a freed medium block merged with clean neighbours adds its
// own pages, not theirs, and the next request of that size takes those resident pages
// again rather than fault in clean ones.
TEST(ArenaMemory, OnlyPagesOnceInUseCountAsDirtyAndAreReusedFirst) {
  constexpr std::size_t kBytes = 200 * 1024;
  constexpr std::size_t kPages = kBytes / arena::kPageSize;
  arena_trim();
  arena_stats before{};
  arena_get_stats(&before);
  ASSERT_EQ(before.pages_free_dirty, 0u);
  void* p = arena_malloc(kBytes);
  std::memset(p, 1, kBytes);
  arena_free(p);
  arena_stats after{};
  arena_get_stats(&after);
  EXPECT_GE(after.pages_free_dirty, kPages);
  EXPECT_LE(after.pages_free_dirty, kPages + 16);  // a slab the test itself let go, at most
  void* q = arena_malloc(kBytes);
  EXPECT_EQ(q, p);
  arena_get_stats(&after);
  EXPECT_LE(after.pages_free_dirty, 16u);
  arena_free(q);
}

// Placement on pages where blocks started before (Segment::start_bits), driven through
// the page heap of an arena no thread uses, so that the layout is known: a fresh
// segment is carved from its front. `take` and `give` are a medium block's malloc and
// free there.
class ArenaPlacement : public ::testing::Test {
 protected:
  void SetUp() override {
    arena_free(arena_malloc(1));  // the allocator initialised
    arena_ = &arena::arena_at(static_cast<std::uint8_t>(arena_slot()));
    arena_->lock.lock();
    if (arena_->segments != nullptr) {
      arena::unlock_arena(*arena_);
      GTEST_SKIP() << "arena " << arena_slot() << " is in use by a thread";
    }
  }
  void TearDown() override {
    if (arena_ != nullptr && !IsSkipped()) arena::unlock_arena(*arena_);
  }
  virtual std::size_t arena_slot() const = 0;
  std::uintptr_t take(std::size_t pages) {
    return reinterpret_cast<std::uintptr_t>(arena::medium_allocate(*arena_, pages, 1));
  }
  // Blocks of these page counts, each right after the one before (the arena is fresh).
  template <std::size_t N>
  std::array<std::uintptr_t, N> take_in_a_row(const std::size_t (&pages)[N]) {
    std::array<std::uintptr_t, N> blocks{};
    for (std::size_t i = 0; i < N; ++i) {
      blocks[i] = take(pages[i]);
      if (i > 0) {
        EXPECT_EQ(blocks[i], blocks[i - 1] + pages[i - 1] * arena::kPageSize) << i;
      }
    }
    return blocks;
  }
  arena::Span* span_of(std::uintptr_t address) {
    bool double_free = false;
    arena::BlockRef block = arena::find_block(*arena_->segments, address, double_free);
    EXPECT_NE(block.span, nullptr);
    return block.span;
  }
  void give(std::uintptr_t address) { arena::release_block(*arena_, {span_of(address), 0}); }
  arena::Arena* arena_ = nullptr;
};

class ArenaPlacementCarve : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 1; }
};
class ArenaPlacementRun : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 2; }
};
class ArenaPlacementMiddle : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 3; }
};
class ArenaPlacementFit : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 4; }
};

// An arena keeps one emptied slab per class against churn. Given up empty by its owner
// (which keeps a current slab of the class anyway), only of the classes whose slabs are
// one page: an emptied 2-page slab of 1 KiB blocks or 8-page slab of 6 KiB blocks goes
// back to the page heap, a 1-page slab of 128-byte blocks stays. Emptied by another
// thread's free (a consumer's, for the producer's next refill), whatever its size.
// (Driven through an arena no thread uses.)
class ArenaKeptEmptySlabs : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 4; }
};
// A slab's next block comes from the bitmap word the class's last one came from (the
// thread's hint), or else from the next word with a free block round the bitmap: blocks
// freed behind that word are found again, and every free block is handed out once.
class ArenaTakeBlock : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 5; }
};
TEST_F(ArenaTakeBlock, FromTheWordOfTheLastBlockThenRoundTheBitmap) {
  arena::Span* inbox = nullptr;
  const std::size_t cls = arena::size_class_of(16);  // 256 blocks: four words
  arena::Span* slab = arena::adopt_slab(*arena_, cls, 1, &inbox, arena::kClasses[cls].slab_pages);
  ASSERT_NE(slab, nullptr);
  ASSERT_EQ(slab->capacity, arena::kMaxBlocksPerSlab);
  std::uint8_t hint = 0;
  auto index_of = [&](void* p) { return (reinterpret_cast<std::uintptr_t>(p) - slab->start) / 16; };
  auto give_back = [&](std::size_t index) {  // what the owner's free does to the bits
    slab->bits[index / 64].free |= std::uint64_t{1} << (index % 64);
  };
  bool last = false;
  auto take = [&] { return index_of(arena::take_block(*slab, hint, last)); };
  for (std::size_t i = 0; i < arena::kMaxBlocksPerSlab; ++i) {
    EXPECT_EQ(take(), i);
    // A word left empty is not the slab left full, but for the last.
    EXPECT_EQ(last, i + 1 == arena::kMaxBlocksPerSlab) << i;
  }
  EXPECT_TRUE(arena::slab_full(*slab));
  for (std::size_t i : {200, 140, 3, 70}) give_back(i);
  EXPECT_EQ(arena::count_free_blocks(*slab), 4u);
  EXPECT_EQ(take(), 200u);  // the word of the last: the fourth
  EXPECT_FALSE(last);       // the fourth word is empty again, the others are not
  EXPECT_EQ(take(), 3u);    // round to the first
  give_back(250);
  EXPECT_EQ(take(), 70u);  // on from there, not back to the fourth
  EXPECT_EQ(take(), 140u);
  EXPECT_FALSE(last);
  EXPECT_EQ(take(), 250u);
  EXPECT_TRUE(last);
  EXPECT_TRUE(arena::slab_full(*slab));
  ASSERT_TRUE(arena::give_up_ownership(*slab));
  for (std::size_t i = 0; i < arena::kMaxBlocksPerSlab; ++i) give_back(i);
  arena::disown_slab(*arena_, slab);
}

// The pending bits past a slab's last block are set for the slab's life, so that an own
// free tests a word of free or pending blocks against all ones: never collected as free
// blocks, never a pending block to its owner or to a fork.
TEST_F(ArenaTakeBlock, TheBitsPastTheLastBlockStayPendingAndAreNeverCollected) {
  arena::Span* inbox = nullptr;
  const std::size_t cls = arena::size_class_of(48);
  arena::Span* slab = arena::adopt_slab(*arena_, cls, 1, &inbox, arena::kClasses[cls].slab_pages);
  ASSERT_NE(slab, nullptr);
  const std::size_t capacity = slab->capacity;
  ASSERT_NE(capacity % 64, 0u) << "this test needs a slab whose last word is part-used";
  const std::size_t last_word = (capacity - 1) / 64;
  const std::uint64_t past = ~arena::block_bits(capacity, last_word);
  EXPECT_EQ(slab->bits[last_word].pending, past);
  EXPECT_TRUE(arena::slab_empty(*slab));
  EXPECT_EQ(arena::count_free_blocks(*slab), capacity);
  EXPECT_EQ(arena::collect_remote_frees(*slab), 0u);
  EXPECT_EQ(slab->bits[last_word].pending, past);
  std::uint8_t hint = 0;
  bool last = false;
  for (std::size_t i = 0; i < capacity; ++i) arena::take_block(*slab, hint, last);
  EXPECT_TRUE(last);
  EXPECT_TRUE(arena::slab_full(*slab));
  // The last block freed by another thread: pending, then collected alone.
  const std::uint64_t bit = std::uint64_t{1} << ((capacity - 1) % 64);
  slab->bits[last_word].pending |= bit;
  EXPECT_EQ(arena::collect_remote_frees(*slab), 1u);
  EXPECT_EQ(slab->bits[last_word].free, bit);
  EXPECT_EQ(slab->bits[last_word].pending, past);
  EXPECT_EQ(arena::count_free_blocks(*slab), 1u);
  ASSERT_TRUE(arena::give_up_ownership(*slab));
  for (std::size_t w = 0; w <= last_word; ++w) slab->bits[w].free = arena::block_bits(capacity, w);
  arena::disown_slab(*arena_, slab);
}

TEST_F(ArenaKeptEmptySlabs, OnlyOnePageSlabsAreKeptOnceEmpty) {
  arena::Span* inbox = nullptr;
  for (const std::size_t size : {std::size_t{128}, std::size_t{1024}, arena::kMaxSmall}) {
    const std::size_t cls = arena::size_class_of(size);
    const std::size_t pages = arena::kClasses[cls].slab_pages;
    const std::size_t in_use = arena_->pages_in_use;
    arena::Span* slab = arena::adopt_slab(*arena_, cls, 1, &inbox, arena::kClasses[cls].slab_pages);
    ASSERT_NE(slab, nullptr);
    EXPECT_EQ(arena_->pages_in_use, in_use + pages);
    ASSERT_TRUE(arena::give_up_ownership(*slab));
    arena::disown_slab(*arena_, slab);  // all its blocks free
    if (pages == 1) {
      EXPECT_EQ(arena_->empty_slab[cls], slab) << size;
      EXPECT_EQ(arena_->pages_in_use, in_use + 1) << size;
    } else {
      EXPECT_EQ(arena_->empty_slab[cls], nullptr) << size;
      EXPECT_EQ(arena_->pages_in_use, in_use) << size;
    }
  }
  EXPECT_EQ(arena::kClasses[arena::size_class_of(128)].slab_pages, 1u);
}
TEST_F(ArenaKeptEmptySlabs, SlabsOtherThreadsEmptyAreKeptWhateverTheirSize) {
  arena::Span* inbox = nullptr;
  const std::size_t cls = arena::size_class_of(arena::kMaxSmall);
  arena::Span* slab = arena::adopt_slab(*arena_, cls, 1, &inbox, arena::kClasses[cls].slab_pages);
  ASSERT_NE(slab, nullptr);
  std::uint8_t hint = 0;
  bool last = false;
  void* block = arena::take_block(*slab, hint, last);
  EXPECT_FALSE(last);
  ASSERT_TRUE(arena::give_up_ownership(*slab));
  arena::disown_slab(*arena_, slab);  // one block still in use: listed, not empty
  const std::size_t in_use = arena_->pages_in_use;
  arena::release_block(*arena_, {slab, 0});  // freed by a thread that does not own it
  EXPECT_EQ(block, reinterpret_cast<void*>(slab->start));
  EXPECT_EQ(arena_->empty_slab[cls], slab);
  EXPECT_EQ(arena_->pages_in_use, in_use);
}

// A free run of 55 pages: a 5-page block's (started at page 0, dirty), 10 pages purged
// since, a 40-page block's (started at page 15, dirty). A 20-page request from its back
// would take 20 dirty pages against 10 at its front, but start on page 35, which no
// block ever wrote; it starts on page 0 instead, the first block's resident page.
TEST_F(ArenaPlacementCarve, ABlockStartsWhereAnotherStartedNotInsideAFreedBlock) {
  const auto [a, e, b, bound] = take_in_a_row({5, 10, 40, 5});
  ASSERT_FALSE(HasFailure());
  give(e);
  arena::purge_free_pages(*arena_);
  arena::unlock_arena(*arena_);  // the purge itself, back in the heap clean
  arena_->lock.lock();
  give(a);
  give(b);
  const std::uintptr_t c = take(20);
  EXPECT_EQ(c, a);  // from the back, it was b + 20 pages
  give(c);
  give(bound);
}

class ArenaPlacementEnds : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 7; }
};

// A free run of 20 pages: three freed blocks' of 10, 6 and 4 pages, each started on its
// first page and ended on its last. A 6-page request goes where the 6-page block
// started and ended, not to the run's front, where only its first page was written.
TEST_F(ArenaPlacementEnds, ABlockGoesWhereOneOfItsLengthStartedAndEnded) {
  const auto [a, b, c, bound] = take_in_a_row({10, 6, 4, 5});
  ASSERT_FALSE(HasFailure());
  give(a);
  give(b);
  give(c);
  const std::uintptr_t d = take(6);
  EXPECT_EQ(d, b);                    // from the front, it was a
  const std::uintptr_t e = take(10);  // the pages before it are still one free run
  EXPECT_EQ(e, a);
  give(d);
  give(e);
  give(bound);
}

// Two free runs of 8 pages: a freed 8-page block's, the bucket's head, and behind it a
// freed 6-page and 2-page block's. A 6-page request starts where a block started in
// both, but ends where one ended only in the second: it takes the second.
TEST_F(ArenaPlacementEnds, ARunWhereTheRequestStartsAndEndsOnWrittenPagesComesFirst) {
  const auto [x, bound1, y, z, bound2] = take_in_a_row({8, 1, 6, 2, 1});
  ASSERT_FALSE(HasFailure());
  give(y);
  give(z);
  give(x);  // listed first
  const std::uintptr_t w = take(6);
  EXPECT_EQ(w, y);  // the bucket's head, before: x
  give(w);
  give(bound1);
  give(bound2);
}

// first_fit_on_start_and_end against a page-by-page search, on random bitmaps of every
// density, ranges and lengths (across words, up to the segment's end).
TEST(ArenaStartAndEnd, FirstFitMatchesAPageByPageSearch) {
  auto segment = std::make_unique<arena::Segment>();
  std::mt19937_64 random(31);
  constexpr std::size_t kPages = arena::kPagesPerSegment;
  auto fill = [&](std::uint64_t(&bits)[kPages / 64], unsigned density) {
    for (auto& word : bits) {
      word = 0;
      for (int bit = 0; bit < 64; ++bit)
        if (random() % 64 < density) word |= std::uint64_t{1} << bit;
    }
  };
  for (int round = 0; round < 4000; ++round) {
    const unsigned density = static_cast<unsigned>(random() % 64);  // in 64ths
    fill(segment->start_bits, density);
    fill(segment->end_bits, density);
    const std::size_t pages = 1 + random() % (round % 4 == 0 ? kPages : 80);
    const std::size_t first = random() % (kPages - pages + 1);
    const std::size_t last = first + random() % (kPages - pages + 1 - first);
    std::size_t expected = arena::kNoPage;
    for (std::size_t p = first; p <= last && expected == arena::kNoPage; ++p)
      if (arena::page_started(*segment, p) && arena::page_ended(*segment, p + pages - 1))
        expected = p;
    ASSERT_EQ(arena::first_fit_on_start_and_end(*segment, first, last, pages), expected)
        << "pages " << pages << " first " << first << " last " << last << " density " << density;
  }
}

// The bitmap walks (count_dirty, mark_*) cover exactly [first, first + count), on the
// one-word shortcut and across words alike, and nothing for an empty range.
TEST(ArenaStartAndEnd, BitWordsCoverExactlyTheRange) {
  constexpr std::size_t kPages = arena::kPagesPerSegment;
  std::mt19937_64 random(47);
  for (int round = 0; round < 20000; ++round) {
    const std::size_t count = round % 3 == 0 ? random() % 130 : random() % (kPages + 1);
    const std::size_t first = random() % (kPages - count + 1);
    std::uint64_t covered[kPages / 64] = {};
    arena::for_bit_words(first, count, [&](std::size_t w, std::uint64_t mask) {
      ASSERT_LT(w, kPages / 64);
      ASSERT_EQ(covered[w] & mask, 0u) << "a page twice";
      covered[w] |= mask;
    });
    for (std::size_t p = 0; p < kPages; ++p)
      ASSERT_EQ((covered[p / 64] >> (p % 64)) & 1, p >= first && p < first + count ? 1u : 0u)
          << "page " << p << " first " << first << " count " << count;
  }
}

// Pages past the purge allowance go back to the kernel with the arena unlocked: while the
// lock is held they are only set aside, out of the heap and still resident; unlock_arena
// returns them (no longer resident) and puts them back in the heap as one clean run.
class ArenaPurgeUnlocked : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 6; }
};
TEST_F(ArenaPurgeUnlocked, PagesGoBackToTheKernelAtTheUnlock) {
  constexpr std::size_t kPages = 200;
  const auto [x, y, z, bound] = take_in_a_row({kPages, kPages, kPages, 5});
  ASSERT_FALSE(HasFailure());
  std::memset(reinterpret_cast<void*>(x), 1, 3 * kPages * arena::kPageSize);
  auto resident = [](std::uintptr_t address) {
    unsigned char page = 0;
    EXPECT_EQ(mincore(reinterpret_cast<void*>(address), arena::kPageSize, &page), 0);
    return (page & 1) != 0;
  };
  give(x);
  give(y);
  give(z);  // 600 dirty pages: past the allowance of a 605-page peak
  ASSERT_NE(arena_->to_purge, nullptr);
  std::vector<std::pair<std::uintptr_t, std::size_t>> set_aside;  // first page, pages
  std::size_t pages = 0;
  for (const arena::Span* run = arena_->to_purge; run != nullptr; run = run->next) {
    EXPECT_EQ(run->kind, arena::SpanKind::kPurging);
    set_aside.emplace_back(arena::span_start(*run), run->page_count);
    pages += run->page_count;
  }
  EXPECT_EQ(arena_->purging_pages, pages);
  EXPECT_LE(arena_->dirty_pages, 3 * kPages - pages);
  for (const auto& [first, count] : set_aside) {
    EXPECT_TRUE(resident(first));
    EXPECT_TRUE(resident(first + (count - 1) * arena::kPageSize));
  }
  arena::unlock_arena(*arena_);
  arena_->lock.lock();
  EXPECT_EQ(arena_->to_purge, nullptr);
  EXPECT_EQ(arena_->purging_pages, 0u);
  for (const auto& [first, count] : set_aside) {
    EXPECT_FALSE(resident(first));
    EXPECT_FALSE(resident(first + (count - 1) * arena::kPageSize));
  }
  EXPECT_EQ(take(3 * kPages), x);  // back in the heap, merged again
  give(x);
  give(bound);
}

// A forked child of a thread that had dropped the lock to purge (the runs taken from
// to_purge, out of the heap): the child's disown_orphans finds them by their kind and puts
// them back, counted dirty, since whether the parent's madvise came first is unknown.
TEST_F(ArenaPurgeUnlocked, AForkedChildPutsBackRunsSetAsideByAThreadItDoesNotHave) {
  constexpr std::size_t kPages = 200;
  const auto [x, y, z, bound] = take_in_a_row({kPages, kPages, kPages, 5});
  ASSERT_FALSE(HasFailure());
  give(x);
  give(y);
  give(z);
  ASSERT_NE(arena_->to_purge, nullptr);
  const std::size_t set_aside = arena_->purging_pages;
  const std::size_t dirty = arena_->dirty_pages;
  arena_->to_purge = nullptr;  // taken by the purging thread, which the child lacks
  arena::Span* inbox = nullptr;
  arena::disown_orphans(*arena_, 0, &inbox);
  EXPECT_EQ(arena_->purging_pages, 0u);
  EXPECT_EQ(arena_->dirty_pages, dirty + set_aside);
  EXPECT_EQ(take(3 * kPages), x);  // back in the heap, merged again
  give(x);
  give(bound);
}

// The decay takes an aged dirty run only if the excess over its target is at least a
// quarter of it: 5 pages over, a 217-page run stays resident (a live set still growing
// faults such a run in again at once); 42 over, the aged 16-page holes go and the long
// run still stays. (DirtyPagesLeftUnusedDecay: a swing left unused still goes.)
class ArenaPurgeDecay : public ArenaPlacement {
  std::size_t arena_slot() const override { return arena::kMaxArenas - 8; }
};
TEST_F(ArenaPurgeDecay, AnAgedRunGoesOnlyIfTheExcessIsAQuarterOfIt) {
  // 900 pages in use; the blocks given back are kept apart by pages in use.
  const auto [run, s1, t1, s2, h1, s3, h2, s4, t2, r1, r2, r3] =
      take_in_a_row({217, 1, 1, 1, 16, 1, 16, 1, 1, 256, 256, 133});
  ASSERT_FALSE(HasFailure());
  std::memset(reinterpret_cast<void*>(run), 1, 900 * arena::kPageSize);
  const auto set_aside = [&] {
    std::vector<std::uintptr_t> runs;
    for (const arena::Span* r = arena_->to_purge; r != nullptr; r = r->next)
      runs.push_back(arena::span_start(*r));
    return runs;
  };
  const auto older_than_the_decay = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a coarse clock
  };
  give(run);  // 683 in use keep 128 + 683 / 8 = 213 dirty pages whatever their age
  older_than_the_decay();
  give(t1);  // 218 dirty: 5 over
  EXPECT_TRUE(set_aside().empty());
  EXPECT_EQ(arena_->dirty_pages, 218u);
  give(h1);
  give(h2);
  older_than_the_decay();
  give(t2);  // 251 dirty against 128 + 649 / 8 = 209: 42 over
  const std::vector<std::uintptr_t> purged = set_aside();
  EXPECT_NE(std::find(purged.begin(), purged.end(), h1), purged.end());
  EXPECT_NE(std::find(purged.begin(), purged.end(), h2), purged.end());
  EXPECT_EQ(std::find(purged.begin(), purged.end(), run), purged.end());
  arena::unlock_arena(*arena_);
  arena_->lock.lock();
  for (std::uintptr_t block : {s1, s2, s3, s4, r1, r2, r3}) give(block);
}

// Two free runs of 10 pages: a freed block's (started at its first page) and, listed
// after it and so found first, the tail a shrinking block gave back (dirty, but no
// block ever started in it). A 10-page request takes the freed block's pages.
TEST_F(ArenaPlacementRun, ARunWhereABlockStartedIsTakenBeforeOneWhereNoneDid) {
  const auto [x, bound1, g, bound2] = take_in_a_row({10, 5, 20, 5});
  ASSERT_FALSE(HasFailure());
  give(x);
  ASSERT_TRUE(arena::medium_resize_in_place(*arena_, *span_of(g), 10));  // tail: g + 10 pages
  const std::uintptr_t y = take(10);
  EXPECT_EQ(y, x);  // the bucket's head, before: g + 10 pages
  give(y);
  give(g);
  give(bound1);
  give(bound2);
}

// The run has_resident_run found is the one a medium block is then carved from, not
// looked for twice: given it, medium_allocate takes it as it is (here the other free run
// of 10 pages, g's tail, to tell the two apart); given none, it finds x's run again.
TEST_F(ArenaPlacementFit, TheRunFoundForTheArenaIsTheOneCarved) {
  const auto [x, bound1, g, bound2] = take_in_a_row({10, 5, 20, 5});
  ASSERT_FALSE(HasFailure());
  give(x);
  ASSERT_TRUE(arena::medium_resize_in_place(*arena_, *span_of(g), 10));  // tail: g + 10 pages
  arena::Span* fit = nullptr;
  ASSERT_TRUE(arena::has_resident_run(*arena_, 10, fit));
  ASSERT_NE(fit, nullptr);
  EXPECT_EQ(arena::span_start(*fit), x);
  arena::Span* tail =
      arena::span_covering(*arena_->segments, (g - arena_->segments->base) / arena::kPageSize + 10);
  ASSERT_NE(tail, nullptr);
  ASSERT_EQ(tail->kind, arena::SpanKind::kFree);
  const auto from_tail =
      reinterpret_cast<std::uintptr_t>(arena::medium_allocate(*arena_, 10, 1, 0, tail));
  EXPECT_EQ(from_tail, g + 10 * arena::kPageSize);
  const std::uintptr_t y = take(10);
  EXPECT_EQ(y, x);
  give(y);
  give(from_tail);
  give(g);
  give(bound1);
  give(bound2);
}

// A free run of 35 pages whose ends no block started on: a shrunk block's tail (pages
// 5-19), then a freed 20-page block's pages (20-39). A 10-page request is cut from the
// middle, on the freed block's first page, not from either end.
TEST_F(ArenaPlacementMiddle, ABlockIsCutFromARunsMiddleWhereAnotherStarted) {
  constexpr std::size_t kPage = arena::kPageSize;
  const auto [p, q, bound] = take_in_a_row({20, 20, 5});
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(arena::medium_resize_in_place(*arena_, *span_of(p), 5));
  give(q);
  const std::uintptr_t c = take(10);
  EXPECT_EQ(c, q);                    // from the front, it was p + 5 pages
  const std::uintptr_t d = take(15);  // the pages before it are still one free run
  EXPECT_EQ(d, p + 5 * kPage);
  const std::uintptr_t e = take(10);  // and so are those after it
  EXPECT_EQ(e, q + 10 * kPage);
  give(c);
  give(d);
  give(e);
  give(p);
  give(bound);
}

// 384 pages (1 MiB and 512 KiB, medium blocks) written to the last byte, then freed.
void use_and_free_a_swing() {
  constexpr std::size_t kMiB = 1024 * 1024;
  void* a = arena_malloc(kMiB);
  void* b = arena_malloc(kMiB / 2);
  std::memset(a, 1, kMiB);
  std::memset(b, 1, kMiB / 2);
  arena_free(a);
  arena_free(b);
}

// The arena's figures once the decay time (5 ms; 30 ms here, with the coarse clock's
// few milliseconds) has passed and a give-back has looked for aged runs (a block too
// big for the thread's cache of medium blocks goes back to the arena at once).
arena_stats stats_after_the_decay_time() {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  constexpr std::size_t kBytes = (arena::MediumCache::kMaxPages + 1) * arena::kPageSize;
  void* c = arena_malloc(kBytes);
  std::memset(c, 1, kBytes);
  arena_free(c);  // a give-back: looks for aged runs
  arena_stats stats{};
  arena_get_stats(&stats);
  return stats;
}

// Dirty free pages within the purge allowance stay for reuse, but those left unused
// for the decay time go back at the next give-back past the small allowance (128 pages
// plus 1/8 of the pages in use): what a steady live set's holes kept resident before
// (thread_malloc, BENCHMARKS.md, #14, Session 12: with 50 ms they stayed for the whole benchmark).
TEST(ArenaMemory, DirtyPagesLeftUnusedDecay) {
  constexpr std::size_t kMiB = 1024 * 1024;  // 256 pages, a medium block
  arena_trim();
  // 1024 pages in use at the peak (one segment): an allowance of 128 + 1024 / 5 pages
  // plus a headroom of up to as much (the freed pages are below the peak) keeps the 384
  // freed pages. Each free passes the decay allowance (128 + in use / 8), so the
  // freed run carries the time it was freed.
  void* keep[3] = {arena_malloc(kMiB), arena_malloc(kMiB), arena_malloc(kMiB / 2)};
  for (void* p : keep) std::memset(p, 1, arena_malloc_usable_size(p));
  use_and_free_a_swing();
  arena_stats fresh{};
  arena_get_stats(&fresh);
  EXPECT_GE(fresh.pages_free_dirty, 384u);  // young: within the allowance
  const arena_stats aged = stats_after_the_decay_time();
  EXPECT_LE(aged.pages_free_dirty, 128 + aged.pages_in_use / 8 + 16 + 16);
  for (void* p : keep) arena_free(p);
}

// Pages the decay returned and the program then faulted in again raise what the decay
// keeps (by the refault count, as for the allowance): the same swing a second time is
// kept, so a live set that swings every few milliseconds does not refault each swing.
TEST(ArenaMemory, DecayedPagesFaultedInAgainAreKeptTheNextTime) {
  constexpr std::size_t kMiB = 1024 * 1024;
  arena_trim();
  void* keep[3] = {arena_malloc(kMiB), arena_malloc(kMiB), arena_malloc(kMiB / 2)};
  for (void* p : keep) std::memset(p, 1, arena_malloc_usable_size(p));
  auto swing = [] {  // 384 pages used, freed, left unused past the decay time
    use_and_free_a_swing();
    return stats_after_the_decay_time().pages_free_dirty;
  };
  const std::size_t first = swing();
  EXPECT_LE(first, 128 + (640 + 16) / 8 + 16 + 16);  // decayed
  const std::size_t second = swing();                // its pages were faulted in again: kept
  EXPECT_GE(second, 384u);
  for (void* p : keep) arena_free(p);
  arena_trim();
}

// The purge allowance follows the arena's own recent peak in use (128 pages plus a
// fifth of it, plus a headroom of at most 3/4 of that below the peak): an arena that
// never held much keeps few dirty pages, where a fixed 1024-page allowance kept them all.
// Run alone (ctest runs each test in its own process): another test's peak within the
// last 2 s would raise the allowance.
TEST(ArenaMemory, DirtyAllowanceFollowsTheArenasOwnPeak) {
  constexpr std::size_t kBytes = 1024 * 1024;  // 256 pages each, medium blocks
  arena_trim();
  void* blocks[3];
  for (void*& p : blocks) {
    p = arena_malloc(kBytes);
    std::memset(p, 1, kBytes);
  }
  arena_stats during{};
  arena_get_stats(&during);
  for (void* p : blocks) arena_free(p);
  arena_stats after{};
  arena_get_stats(&after);
  const std::size_t allowance = 128 + during.pages_in_use / 5;
  // Purged down to half the allowance plus the headroom, at most 3/4 of an allowance.
  EXPECT_LE(after.pages_free_dirty, allowance / 2 + allowance + 16);
  EXPECT_LT(after.pages_free_dirty, 3u * 256u);
  arena_trim();
}

// Purges that prove wasted raise the allowance: pages faulted in again after a purge
// count towards it (up to 1024 pages), so a small arena whose live set swings by more
// than a fifth of its peak stops purging and refaulting them on every swing (the
// prodcons sample's replay: 31 k page faults without, 8-9 k with). Run alone, as above.
TEST(ArenaMemory, PagesFaultedInAgainAfterAPurgeRaiseTheAllowance) {
  constexpr std::size_t kBytes = 1024 * 1024;  // 256 pages each, medium blocks
  arena_trim();
  auto swing = [] {
    void* blocks[3];
    for (void*& p : blocks) {
      p = arena_malloc(kBytes);
      std::memset(p, 1, kBytes);
    }
    for (void* p : blocks) arena_free(p);
    arena_stats stats{};
    arena_get_stats(&stats);
    return stats.pages_free_dirty;
  };
  const std::size_t first = swing();  // over the allowance: purged
  EXPECT_LT(first, 3u * 256u);
  const std::size_t second = swing();  // the purged pages were faulted in again: kept
  EXPECT_GE(second, 3u * 256u);
  arena_trim();
}

TEST(ArenaMemory, LargeBlocksAreMappedAndUnmappedOneByOne) {
  arena_stats before{};
  arena_get_stats(&before);
  std::vector<void*> blocks;
  for (int i = 0; i < 300; ++i) blocks.push_back(arena_malloc(arena::kMaxMedium + 1 + i * 4096));
  arena_stats during{};
  arena_get_stats(&during);
  EXPECT_EQ(during.large_blocks, before.large_blocks + 300);
  EXPECT_GE(during.large_bytes, before.large_bytes + 300 * arena::kMaxMedium);
  for (void* p : blocks) arena_free(p);
  arena_stats after{};
  arena_get_stats(&after);
  EXPECT_EQ(after.large_blocks, before.large_blocks);
  EXPECT_EQ(after.large_bytes, before.large_bytes);
}

// Large ranges go back to the kernel a piece at a time (os.cpp): the pieces must cover
// the whole range, its tail past the last full piece included.
TEST(ArenaMemory, RangesGoBackInPiecesThatCoverThemWhole) {
  const std::size_t bytes = 10 * (std::size_t{1} << 20) + 3 * arena::kPageSize;
  const std::size_t pages = bytes / arena::kPageSize;
  auto* p = static_cast<unsigned char*>(arena::map_pages(bytes));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, bytes);
  arena::decommit_pages(p, bytes);
  std::vector<unsigned char> in_core(pages);
  ASSERT_EQ(mincore(p, bytes, in_core.data()), 0);
  for (std::size_t i = 0; i < pages; ++i) EXPECT_EQ(in_core[i] & 1, 0) << "page " << i;
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[bytes - 1], 0);  // read back as zero (and faulted in again)
  arena::unmap_pages(p, bytes);
  errno = 0;
  EXPECT_EQ(mincore(p, bytes, in_core.data()), -1);  // no page of the range is mapped
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(mincore(p + bytes - arena::kPageSize, arena::kPageSize, in_core.data()), -1);
}

// A batch gives back every range it was given, however many calls it takes: more ranges
// than one call holds, one longer than a call's byte limit, and one not mapped at all
// (the vector call then stops short, and each range goes again on its own). The pages
// between the ranges keep their contents, and errno is left as it was.
TEST(ArenaMemory, ABatchGivesBackEveryRangeItHolds) {
  constexpr std::size_t kPage = arena::kPageSize;
  constexpr std::size_t kSmallRanges = 100;  // 2 pages each, 1 kept between them
  const std::size_t big = 5 * (std::size_t{1} << 20) + kPage;
  const std::size_t bytes = kSmallRanges * 3 * kPage + kPage + big;
  auto* p = static_cast<unsigned char*>(arena::map_pages(bytes));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, bytes);
  unsigned char* hole = p + kSmallRanges * 3 * kPage;  // one page, not mapped
  arena::unmap_pages(hole, kPage);
  unsigned char* large = hole + kPage;
  errno = EILSEQ;
  {
    arena::DecommitBatch batch;
    for (std::size_t i = 0; i < kSmallRanges; ++i) {
      batch.add(p + i * 3 * kPage, 2 * kPage);
      if (i == kSmallRanges / 2) batch.add(hole, kPage);
    }
    batch.add(large, big);
  }
  EXPECT_EQ(errno, EILSEQ);
  std::vector<unsigned char> in_core(bytes / kPage);
  for (std::size_t i = 0; i < kSmallRanges; ++i) {
    unsigned char* range = p + i * 3 * kPage;
    ASSERT_EQ(mincore(range, 3 * kPage, in_core.data()), 0);
    EXPECT_EQ(in_core[0] & 1, 0) << "range " << i;
    EXPECT_EQ(in_core[1] & 1, 0) << "range " << i;
    EXPECT_EQ(in_core[2] & 1, 1) << "the page after range " << i;
    EXPECT_EQ(range[0], 0);
    EXPECT_EQ(range[2 * kPage - 1], 0);
    EXPECT_EQ(range[2 * kPage], 0x5a);
  }
  ASSERT_EQ(mincore(large, big, in_core.data()), 0);
  for (std::size_t i = 0; i < big / kPage; ++i) EXPECT_EQ(in_core[i] & 1, 0) << "page " << i;
  EXPECT_EQ(large[big - 1], 0);
  arena::unmap_pages(p, hole - p);
  arena::unmap_pages(large, big);
}

// A thread under a seccomp filter that kills on process_madvise (as OpenSSH's sandbox
// kills on every call it does not list) still gives its ranges back, one madvise each:
// the batch reads the thread's seccomp mode before it makes the vector call.
TEST(ArenaMemory, ABatchUnderASeccompFilterGoesBackRangeByRange) {
  constexpr int kNoFilterHere = 77;  // a kernel without seccomp, or a sandbox refusing one
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sock_filter rules[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_madvise, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(std::size(rules)), rules};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
      _exit(kNoFilterHere);
    constexpr std::size_t kPage = arena::kPageSize;
    constexpr std::size_t kRanges = 8;
    auto* p = static_cast<unsigned char*>(arena::map_pages(kRanges * 2 * kPage));
    if (p == nullptr) _exit(3);
    std::memset(p, 0x5a, kRanges * 2 * kPage);
    {
      arena::DecommitBatch batch;
      for (std::size_t i = 0; i < kRanges; ++i) batch.add(p + i * 2 * kPage, kPage);
    }
    unsigned char in_core[2 * kRanges];
    if (mincore(p, kRanges * 2 * kPage, in_core) != 0) _exit(4);
    for (std::size_t i = 0; i < kRanges; ++i)
      if ((in_core[2 * i] & 1) != 0 || p[2 * i * kPage] != 0 || p[(2 * i + 1) * kPage] != 0x5a)
        _exit(5);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  if (WEXITSTATUS(status) == kNoFilterHere)
    GTEST_SKIP() << "no seccomp filter can be installed here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Enough live large blocks that shards outgrow the table kept in the object (128 slots,
// grown at half full) and move to mapped ones: every block is still found by its
// address, with its size, and given back.
TEST(ArenaMemory, LargeBlockTablesGrowPastTheirFirstTable) {
  constexpr std::size_t kBlocks = 8000;  // 125 a shard on average: many grow
  arena_stats before{};
  arena_get_stats(&before);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    blocks.push_back(arena_malloc(arena::kMaxMedium + 1 + (i % 7) * 4096));
    ASSERT_NE(blocks.back(), nullptr);
  }
  arena_stats during{};
  arena_get_stats(&during);
  EXPECT_EQ(during.large_blocks, before.large_blocks + kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i)
    ASSERT_EQ(arena_malloc_usable_size(blocks[i]), arena::kMaxMedium + 4096 + (i % 7) * 4096)
        << "block " << i;
  for (void* p : blocks) arena_free(p);
  arena_trim();
  arena_stats after{};
  arena_get_stats(&after);
  EXPECT_EQ(after.large_blocks, before.large_blocks);
  EXPECT_EQ(after.large_bytes, before.large_bytes);
}

}  // namespace
