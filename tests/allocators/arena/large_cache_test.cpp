// The cache of freed large blocks: a freed block is reused by the next large request
// (cut down to fit; a longer one grows a cached block into the room below it, or maps
// fresh), the cache stays within its bounds, decays after a second unused (after a tenth
// of that once large requests stop coming), is emptied by trim, and a second free of a
// cached block is still caught.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "arena/arena.h"
#include "config.hpp"
#include "large_blocks.hpp"

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
using arena::LargeBlocks;

arena_stats stats() {
  arena_stats s{};
  arena_get_stats(&s);
  return s;
}

void* launder(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// The kernel's flags of the mapping holding `address` ("rd wr mr ..."), from
// /proc/self/smaps; empty if no mapping holds it.
std::string mapping_flags(const void* address) {
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.back() != ':') {  // a mapping's header: "start-end perms ..."
      const std::size_t dash = first.find('-');
      inside = std::stoull(first.substr(0, dash), nullptr, 16) <= a &&
               a < std::stoull(first.substr(dash + 1), nullptr, 16);
    } else if (inside && first == "VmFlags:") {
      return line.substr(first.size()) + " ";
    }
  }
  return {};
}

class ArenaLargeCache : public testing::Test {
 protected:
  void SetUp() override { arena_trim(); }  // start from an empty cache
  void TearDown() override { arena_trim(); }
};

TEST_F(ArenaLargeCache, AFreedBlockIsReusedWithItsPagesAndCallocZeroesIt) {
  auto* p = static_cast<char*>(arena_malloc(8 * kMiB));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, 8 * kMiB);
  arena_free(p);
  EXPECT_EQ(stats().large_cached_blocks, 1u);
  EXPECT_EQ(stats().large_cached_bytes, 8 * kMiB);
  EXPECT_EQ(stats().large_blocks, 0u);
  auto* q = static_cast<char*>(arena_malloc(8 * kMiB));
  EXPECT_EQ(q, p);
  EXPECT_EQ(q[12345], 0x5a);  // the same pages, not a fresh mapping
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  EXPECT_EQ(stats().large_blocks, 1u);
  arena_free(q);
  auto* z = static_cast<unsigned char*>(arena_calloc(1, 8 * kMiB - 100));
  ASSERT_EQ(z, reinterpret_cast<unsigned char*>(p));
  for (std::size_t i = 0; i < 8 * kMiB - 100; i += 511) ASSERT_EQ(z[i], 0) << i;
  EXPECT_EQ(z[8 * kMiB - 101], 0);
  arena_free(z);
}

// Fresh large mappings carry no MADV_HUGEPAGE, not even once blocks were freed: where
// huge pages are always on, blocks written through took 0.88x glibc's time without it
// and 1.02-1.21x with it, and blocks touched at one byte each peaked at 3.4 MiB of RSS
// without it against 27.7 with it (BENCHMARKS.md, #14, Session 13).
TEST_F(ArenaLargeCache, FreshMappingsAreNotAdvisedHugePages) {
  arena_free(launder(arena_malloc(8 * kMiB)));
  arena_trim();  // the next block is a fresh mapping, not the cached one
  auto* p = static_cast<char*>(arena_malloc(8 * kMiB));
  ASSERT_NE(p, nullptr);
  p[0] = 1;
  const std::string flags = mapping_flags(p);
  ASSERT_NE(flags.find(" wr "), std::string::npos) << flags;  // the mapping was found
  EXPECT_EQ(flags.find(" hg "), std::string::npos) << flags;
  arena_free(p);
}

TEST_F(ArenaLargeCache, ALongerBlockIsSplitAndTheHalvesMergeAgain) {
  auto* big = static_cast<char*>(arena_malloc(16 * kMiB));
  arena_free(big);
  auto* head = static_cast<char*>(arena_malloc(4 * kMiB));
  EXPECT_EQ(head, big);
  EXPECT_EQ(arena_malloc_usable_size(head), 4 * kMiB);
  EXPECT_EQ(stats().large_cached_blocks, 1u);  // the tail stays cached
  EXPECT_EQ(stats().large_cached_bytes, 12 * kMiB);
  auto* tail = static_cast<char*>(arena_malloc(12 * kMiB));
  EXPECT_EQ(tail, big + 4 * kMiB);
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  arena_free(head);
  arena_free(tail);
  EXPECT_EQ(stats().large_cached_blocks, 1u);  // neighbours merged
  EXPECT_EQ(stats().large_cached_bytes, 16 * kMiB);
  auto* whole = static_cast<char*>(arena_malloc(16 * kMiB));
  EXPECT_EQ(whole, big);
  std::memset(whole, 0x33, 16 * kMiB);
  arena_free(whole);
}

// A request longer than every cached block and than any of them can grow into gets a
// mapping of its own: the cached block is not moved by mremap (see LargeBlocks::reuse),
// and still serves a request it fits.
TEST_F(ArenaLargeCache, ARequestBeyondEveryCachedBlocksRoomMapsFresh) {
  auto* p = static_cast<char*>(arena_malloc(4 * kMiB));
  void* guard = arena_malloc(2 * kMiB);  // live, so p has no cached neighbour
  std::memset(p, 0x11, 4 * kMiB);
  arena_free(p);
  const std::size_t longer_bytes = (LargeBlocks::kRoomPerByte + 1) * 4 * kMiB + 4096;
  auto* longer = static_cast<char*>(arena_malloc(longer_bytes));
  ASSERT_NE(longer, nullptr);
  EXPECT_NE(longer, p);
  EXPECT_GE(arena_malloc_usable_size(longer), longer_bytes);
  EXPECT_EQ(longer[4 * kMiB - 1], 0);  // fresh pages
  EXPECT_EQ(stats().large_cached_blocks, 1u);
  EXPECT_EQ(stats().large_cached_bytes, 4 * kMiB);
  auto* again = static_cast<char*>(arena_malloc(4 * kMiB));
  EXPECT_EQ(again, p);
  EXPECT_EQ(again[4 * kMiB - 1], 0x11);  // the cached pages, in place
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  arena_free(again);
  arena_free(longer);
  arena_free(guard);
}

// A request longer than every cached block grows one downwards into the address space
// reserved below it: the cached pages serve the request's end where they are, only the
// start is new (and zero), and nothing else is mapped. Its room is no one's memory until
// then, and goes with the block when the block is unmapped.
TEST_F(ArenaLargeCache, ALongerRequestGrowsACachedBlockIntoItsRoom) {
  auto* p = static_cast<char*>(arena_malloc(4 * kMiB));
  void* guard = arena_malloc(2 * kMiB);  // live, so p has no cached neighbour
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x11, 4 * kMiB);
  const std::string room_flags = mapping_flags(p - 4096);
  ASSERT_FALSE(room_flags.empty());
  EXPECT_EQ(room_flags.find(" rd "), std::string::npos) << room_flags;  // no access
  EXPECT_EQ(room_flags.find(" wr "), std::string::npos) << room_flags;
  arena_free(p);
  ASSERT_EQ(stats().large_cached_blocks, 1u);
  auto* grown = static_cast<char*>(arena_malloc(10 * kMiB - 100));
  ASSERT_EQ(grown, p - 6 * kMiB);
  EXPECT_EQ(arena_malloc_usable_size(grown), 10 * kMiB);
  for (std::size_t i = 0; i < 6 * kMiB; i += 4096) ASSERT_EQ(grown[i], 0) << i;
  for (std::size_t i = 6 * kMiB; i < 10 * kMiB; i += 4096) ASSERT_EQ(grown[i], 0x11) << i;
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  EXPECT_EQ(stats().large_blocks, 2u);
  EXPECT_EQ(stats().large_bytes, 12 * kMiB);
  std::memset(grown, 0x22, 10 * kMiB);
  // The room left below it: still reserved, no access.
  EXPECT_EQ(mapping_flags(grown - 4096).find(" wr "), std::string::npos);
  EXPECT_FALSE(mapping_flags(p - 12 * kMiB).empty());
  // calloc of a grown block reads zero throughout.
  arena_free(grown);
  auto* z = static_cast<unsigned char*>(arena_calloc(1, 10 * kMiB));
  ASSERT_EQ(z, reinterpret_cast<unsigned char*>(grown));
  for (std::size_t i = 0; i < 10 * kMiB; i += 4093) ASSERT_EQ(z[i], 0) << i;
  arena_free(z);
  arena_trim();  // the block and all of its room are unmapped
  EXPECT_TRUE(mapping_flags(p).empty());
  EXPECT_TRUE(mapping_flags(grown).empty());
  EXPECT_TRUE(mapping_flags(p - 12 * kMiB).empty());
  arena_free(guard);
}

// A block that realloc moves leaves its room behind, unmapped; one grown in place keeps it.
TEST_F(ArenaLargeCache, ABlockReallocMovesLeavesNoRoomBehind) {
  auto* p = static_cast<unsigned char*>(arena_malloc(2 * kMiB));
  ASSERT_NE(p, nullptr);
  for (std::size_t i = 0; i < 2 * kMiB; i += 4096) p[i] = static_cast<unsigned char>(i >> 12);
  ASSERT_FALSE(mapping_flags(p - 4096).empty());
  auto* q = static_cast<unsigned char*>(arena_realloc(p, 64 * kMiB));
  ASSERT_NE(q, nullptr);
  for (std::size_t i = 0; i < 2 * kMiB; i += 4096)
    ASSERT_EQ(q[i], static_cast<unsigned char>(i >> 12));
  if (q != p)
    EXPECT_TRUE(mapping_flags(p - 4096).empty()) << mapping_flags(p - 4096);
  else
    EXPECT_EQ(mapping_flags(p - 4096).find(" wr "), std::string::npos);
  arena_free(q);
}

TEST_F(ArenaLargeCache, StaysWithinItsBounds) {
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(arena_malloc(6 * kMiB + i * 4096));
  for (void* p : blocks) arena_free(p);
  const arena_stats s = stats();
  EXPECT_LE(s.large_cached_blocks, LargeBlocks::kCacheSlots);
  EXPECT_LE(s.large_cached_bytes, LargeBlocks::kCacheBytes);
  EXPECT_GT(s.large_cached_blocks, 0u);
  // A block above the byte bound is never kept.
  arena_trim();
  void* huge = arena_malloc(LargeBlocks::kCacheBytes + kMiB);
  ASSERT_NE(huge, nullptr);
  arena_free(huge);
  EXPECT_EQ(stats().large_cached_blocks, 0u);
}

TEST_F(ArenaLargeCache, DecaysWhenUnusedAndTrimEmptiesIt) {
  arena_free(arena_malloc(3 * kMiB));
  EXPECT_EQ(stats().large_cached_blocks, 1u);
  // No large request since: gone a tenth of the decay time later.
  std::this_thread::sleep_for(std::chrono::nanoseconds(LargeBlocks::kCacheIdleNs) +
                              std::chrono::milliseconds(50));
  // Any medium allocation looks at the clock when blocks are cached.
  void* medium = arena_malloc(200000);
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  arena_free(medium);
  arena_free(arena_malloc(3 * kMiB));
  EXPECT_EQ(stats().large_cached_blocks, 1u);
  arena_trim();
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  EXPECT_EQ(stats().large_cached_bytes, 0u);
}

// While large requests keep coming (here ones the block cannot serve: 16 MiB, beyond its
// room), a cached block stays for the whole decay time, and not longer.
TEST_F(ArenaLargeCache, RequestsKeepABlockForTheDecayTimeOnly) {
  void* kept = arena_malloc(2 * kMiB);
  ASSERT_NE(kept, nullptr);
  arena_free(kept);
  const auto requests_for = [](std::chrono::nanoseconds span) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < span) {
      arena_free(arena_malloc(16 * kMiB));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  requests_for(std::chrono::nanoseconds(3 * LargeBlocks::kCacheIdleNs));
  void* again = arena_malloc(2 * kMiB);
  EXPECT_EQ(again, kept) << "a block large requests passed over went before the decay time";
  arena_free(again);
  requests_for(std::chrono::nanoseconds(LargeBlocks::kCacheDecayNs) +
               std::chrono::milliseconds(100));
  // The 16 MiB block just freed is the only one left.
  EXPECT_EQ(stats().large_cached_blocks, 1u);
  EXPECT_EQ(stats().large_cached_bytes, 16 * kMiB);
}

// A block cut from a longer cached one and grown back by realloc takes the tail the cut
// left in the cache, in place: no move, and no resident tail left beside it.
TEST_F(ArenaLargeCache, AGrowingBlockTakesTheCachedTailAfterIt) {
  auto* big = static_cast<unsigned char*>(arena_malloc(4 * kMiB));
  std::memset(big, 0x44, 4 * kMiB);
  arena_free(big);
  auto* p = static_cast<unsigned char*>(arena_malloc(kMiB + 8));
  ASSERT_EQ(p, big);
  EXPECT_EQ(stats().large_cached_blocks, 1u);  // the tail
  for (std::size_t i = 0; i < kMiB; i += 4096) p[i] = static_cast<unsigned char>(i >> 12);
  auto* q = static_cast<unsigned char*>(arena_realloc(p, 2 * kMiB + 8));
  ASSERT_EQ(q, p);  // grown in place
  for (std::size_t i = 0; i < kMiB; i += 4096) ASSERT_EQ(q[i], static_cast<unsigned char>(i >> 12));
  EXPECT_GE(arena_malloc_usable_size(q), 2 * kMiB + 8);
  EXPECT_EQ(stats().large_cached_blocks, 1u);  // what the growth did not need
  EXPECT_EQ(stats().large_cached_bytes, 4 * kMiB - (2 * kMiB + 4096));
  std::memset(q, 0x55, 2 * kMiB + 8);
  // The rest is still a cached block of its own: taken by the next request that fits.
  auto* r = static_cast<unsigned char*>(arena_malloc(2 * kMiB - 4096));
  EXPECT_EQ(r, q + 2 * kMiB + 4096);
  EXPECT_EQ(stats().large_cached_blocks, 0u);
  arena_free(r);
  arena_free(q);
  EXPECT_EQ(stats().large_blocks, 0u);
}

TEST_F(ArenaLargeCache, ReallocOfALargeBlockKeepsItsContent) {
  arena_free(arena_malloc(5 * kMiB));  // something cached, which realloc must not take
  auto* p = static_cast<unsigned char*>(arena_malloc(2 * kMiB));
  for (std::size_t i = 0; i < 2 * kMiB; i += 4096) p[i] = static_cast<unsigned char>(i >> 12);
  p = static_cast<unsigned char*>(arena_realloc(p, 9 * kMiB));
  ASSERT_NE(p, nullptr);
  for (std::size_t i = 0; i < 2 * kMiB; i += 4096)
    ASSERT_EQ(p[i], static_cast<unsigned char>(i >> 12));
  arena_free(p);
}

using ArenaLargeCacheDeathTest = ArenaLargeCache;

TEST_F(ArenaLargeCacheDeathTest, SecondFreeOfACachedBlockIsADoubleFree) {
  char text[32];
  void* p = arena_malloc(3 * arena::kMaxMedium);
  std::snprintf(text, sizeof text, "0x%lx",
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)));
  arena_free(p);
  EXPECT_DEATH(arena_free(launder(p)),
               std::string("^arena: free\\(\\): double free ") + text + "\n$");
  EXPECT_DEATH(arena_realloc(launder(p), 10),
               std::string("^arena: realloc\\(\\): double free ") + text + "\n$");
  EXPECT_DEATH(arena_malloc_usable_size(launder(p)),
               std::string("^arena: malloc_usable_size\\(\\): double free ") + text + "\n$");
  // Inside a cached block, or after the cache gave it back: not ours at all.
  EXPECT_DEATH(arena_free(launder(static_cast<char*>(p) + 4096)),
               "^arena: free\\(\\): invalid pointer 0x");
  arena_trim();
  EXPECT_DEATH(arena_free(launder(p)),
               std::string("^arena: free\\(\\): invalid pointer ") + text + "\n$");
}

// A cached block grown into its room starts lower: its old start is inside a live block.
TEST_F(ArenaLargeCacheDeathTest, TheOldStartOfAGrownBlockIsAnInvalidPointer) {
  char text[32];
  void* p = arena_malloc(4 * kMiB);
  void* guard = arena_malloc(2 * kMiB);
  std::snprintf(text, sizeof text, "0x%lx",
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)));
  arena_free(p);
  void* grown = arena_malloc(6 * kMiB);
  ASSERT_EQ(grown, static_cast<char*>(p) - 2 * kMiB);
  EXPECT_DEATH(arena_free(launder(p)),
               std::string("^arena: free\\(\\): invalid pointer ") + text + "\n$");
  arena_free(grown);
  arena_free(guard);
}

// A child forked with blocks in the cache reuses them, and the parent's cache is intact.
TEST_F(ArenaLargeCache, ForkedChildReusesTheCache) {
  std::vector<void*> blocks;
  std::vector<void*> guards;  // live between them, so that no two cached blocks merge
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(arena_malloc((3 + i) * kMiB));
    guards.push_back(arena_malloc(2 * kMiB));
  }
  for (void* p : blocks) arena_free(p);
  const std::size_t cached = stats().large_cached_blocks;
  ASSERT_EQ(cached, 4u);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);
    void* again = arena_malloc(4 * kMiB);
    if (again != blocks[1]) _exit(2);
    std::memset(again, 1, 4 * kMiB);
    arena_free(again);
    if (stats().large_cached_blocks != 4) _exit(3);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(stats().large_cached_blocks, 4u);
  for (void* g : guards) arena_free(g);
}

// Threads replacing large blocks concurrently: every block they get is theirs alone.
TEST_F(ArenaLargeCache, ThreadsShareTheCacheSafely) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 60; ++i) {
        const std::size_t bytes = (2 + (i * 7 + t) % 5) * kMiB;
        auto* p = static_cast<unsigned char*>(arena_malloc(bytes));
        ASSERT_NE(p, nullptr);
        std::memset(p, t + 1, bytes);
        std::this_thread::yield();
        for (std::size_t k = 0; k < bytes; k += 65536) ASSERT_EQ(p[k], t + 1);
        arena_free(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(stats().large_cached_blocks, LargeBlocks::kCacheSlots);
}

}  // namespace
