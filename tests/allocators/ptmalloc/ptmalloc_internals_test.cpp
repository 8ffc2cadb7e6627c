// ptmalloc-specific behaviour: in-band overhead, coalescing, in-place realloc,
// per-thread arenas, mmapped large blocks and trimming.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include "mtreplay/ptmalloc/ptmalloc.h"

namespace {

constexpr std::uintptr_t kHeapMask = ~((std::uintptr_t{64} << 20) - 1);

std::uintptr_t heap_of(void* p) {
  return reinterpret_cast<std::uintptr_t>(p) & kHeapMask;
}

std::size_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST(Ptmalloc, InBandHeaderCostsEightBytesPerBlock) {
  for (std::size_t n : {std::size_t{24}, std::size_t{40}, std::size_t{1000}, std::size_t{5000}}) {
    void* p = pt_malloc(n);
    EXPECT_EQ(pt_malloc_usable_size(p), n) << "n+8 is a multiple of 16, nothing is wasted";
    pt_free(p);
  }
  void* p = pt_malloc(1);
  EXPECT_EQ(pt_malloc_usable_size(p), 24u);  // the minimum chunk is 32 bytes
  pt_free(p);
}

TEST(Ptmalloc, FreeNeighboursCoalesce) {
  pt_thread_cache_flush();
  void* a = pt_malloc(2000);
  void* b = pt_malloc(2000);
  void* c = pt_malloc(2000);
  void* guard = pt_malloc(2000);
  ASSERT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 2016);
  ASSERT_EQ(static_cast<char*>(c) - static_cast<char*>(b), 2016);
  pt_free(a);
  pt_free(c);
  pt_free(b);  // joins both neighbours into one chunk of 3 * 2016 bytes
  EXPECT_EQ(pt_check_heaps(), 0u);
  void* big = pt_malloc(3 * 2016 - 8);
  EXPECT_EQ(big, a);
  pt_free(big);
  pt_free(guard);
  EXPECT_EQ(pt_check_heaps(), 0u);
}

TEST(Ptmalloc, ReallocGrowsIntoAFreeNeighbour) {
  void* a = pt_malloc(1500);
  void* b = pt_malloc(1500);
  void* guard = pt_malloc(1500);
  pt_free(b);
  pt_thread_cache_flush();
  EXPECT_EQ(pt_realloc(a, 2900), a);
  EXPECT_EQ(pt_check_heaps(), 0u);
  pt_free(a);
  pt_free(guard);
}

TEST(Ptmalloc, ReallocGrowsIntoTheTop) {
  void* p = pt_malloc(60000);
  void* q = pt_realloc(p, 120000);
  EXPECT_EQ(q, p) << "the last chunk before the top grows in place";
  pt_free(q);
  EXPECT_EQ(pt_check_heaps(), 0u);
}

TEST(Ptmalloc, LargeBlocksAreMmapped) {
  void* p = pt_malloc(std::size_t{8} << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 16u) << "header at a page start";
  EXPECT_LT(pt_malloc_usable_size(p) - (std::size_t{8} << 20), 4096u);
  void* q = pt_realloc(p, std::size_t{16} << 20);  // mremap
  ASSERT_NE(q, nullptr);
  pt_free(q);
}

TEST(Ptmalloc, EachNewThreadGetsItsOwnArena) {
  std::uintptr_t heaps[2] = {};
  std::thread t0([&] {
    void* p = pt_malloc(100);
    heaps[0] = heap_of(p);
    std::thread t1([&] {
      void* q = pt_malloc(100);
      heaps[1] = heap_of(q);
      pt_free(q);
    });
    t1.join();
    pt_free(p);
  });
  t0.join();
  EXPECT_NE(heaps[0], heaps[1]);
  EXPECT_GE(pt_arena_count(), 2u);
  EXPECT_EQ(pt_check_heaps(), 0u);
}

TEST(Ptmalloc, ArenasOfExitedThreadsAreReused) {
  std::size_t before = 0;
  for (int i = 0; i < 20; ++i) {
    std::thread([] { pt_free(pt_malloc(64)); }).join();
    if (i == 0) before = pt_arena_count();
  }
  EXPECT_EQ(pt_arena_count(), before);
}

TEST(Ptmalloc, FreeingTheTopGivesPagesBack) {
  if (std::string_view(MTREPLAY_SANITIZE) != "") {
    GTEST_SKIP() << "resident memory includes the sanitizer's shadow pages";
  }
  pt_thread_cache_flush();
  std::vector<void*> blocks;
  std::size_t before = resident_bytes();
  for (int i = 0; i < 60000; ++i) {
    void* p = pt_malloc(2000);
    std::memset(p, 1, 2000);
    blocks.push_back(p);
  }
  std::size_t full = resident_bytes();
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) pt_free(*it);
  std::size_t after = resident_bytes();
  EXPECT_GT(full - before, std::size_t{100} << 20);
  // The trim threshold follows glibc's dynamic rule (twice the mmap threshold, at most
  // 64 MiB once earlier tests freed big mmapped blocks): at most that much stays.
  EXPECT_LT(after, before + (std::size_t{66} << 20)) << "the top was not trimmed";
  EXPECT_EQ(pt_check_heaps(), 0u);
}

}  // namespace
