// malloc, free and malloc_usable_size: zero-size requests, alignment, usable size,
// disjoint blocks, free(NULL), errno, and requests no machine can satisfy.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "deviations.hpp"
#include "outcome.hpp"
#include "pattern.hpp"
#include "resident.hpp"
#include "sizes.hpp"

namespace mtreplay::alloctest {
namespace {

TEST(Malloc, ZeroSizeGivesUniqueFreeableBlocks) {
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    void* block = std::malloc(0);
    ASSERT_NE(block, nullptr) << "malloc(0) #" << i;
    EXPECT_TRUE(is_aligned(block, required_alignment(0))) << block;
    blocks.push_back(block);
  }
  EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size())
      << "malloc(0) returned the same pointer twice while both were live";
  for (void* block : blocks) std::free(block);
}

TEST(Malloc, EveryBlockIs16ByteAlignedAndDisjoint) {
  struct Live {
    void* block;
    std::size_t size;
  };
  std::vector<Live> live;
  std::uint64_t tag = 0;
  for (std::size_t size : interesting_sizes()) {
    for (int copy = 0; copy < 4; ++copy) {
      void* block = std::malloc(size);
      ASSERT_NE(block, nullptr) << "malloc(" << size << ")";
      EXPECT_TRUE(is_aligned(block, required_alignment(size)))
          << "malloc(" << size << ") = " << block;
      fill_pattern(block, size, tag + live.size());
      live.push_back({block, size});
    }
  }
  // Checking only after all are made catches a block that overlaps a later one.
  for (std::size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(first_pattern_mismatch(live[i].block, live[i].size, tag + i), live[i].size)
        << "block of " << live[i].size << " bytes was overwritten";
    std::free(live[i].block);
  }
}

TEST(MallocUsableSize, CoversTheRequestAndAllOfItIsWritable) {
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t size : interesting_sizes()) {
    void* block = std::malloc(size);
    ASSERT_NE(block, nullptr);
    const std::size_t usable = malloc_usable_size(block);
    EXPECT_GE(usable, size) << "malloc_usable_size of a malloc(" << size << ") block";
    fill_pattern(block, usable, live.size());  // the whole usable size is the caller's
    live.emplace_back(block, usable);
  }
  for (std::size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(first_pattern_mismatch(live[i].first, live[i].second, i), live[i].second);
    std::free(live[i].first);
  }
}

TEST(MallocUsableSize, OfNullIsZero) {
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST(Free, OfNullIsANoOp) {
  for (int i = 0; i < 1000; ++i) std::free(nullptr);
  void* block = std::malloc(32);
  ASSERT_NE(block, nullptr);
  std::free(block);
}

TEST(Free, LeavesErrnoAlone) {
  // POSIX.1-2024: free() shall not modify errno. Small, page-sized and mmapped blocks.
  for (std::size_t size : {std::size_t{16}, std::size_t{4096}, std::size_t{64} << 20}) {
    void* block = std::malloc(size);
    ASSERT_NE(block, nullptr);
    std::memset(block, 1, size);
    errno = EDOM;
    std::free(block);
    const int after = errno;
    EXPECT_EQ(after, EDOM) << "free of a " << size << "-byte block changed errno";
  }
  errno = EDOM;
  std::free(nullptr);
  const int after = errno;
  EXPECT_EQ(after, EDOM);
}

TEST(Malloc, ImpossibleSizesFailWithENOMEM) {
  for (std::size_t size : impossible_sizes()) {
    const Outcome result = attempt([size] { return std::malloc(size); });
    EXPECT_EQ(result.block, nullptr) << "malloc(" << size << ")";
    expect_errno(result.error, ENOMEM, fmt::format("malloc({})", size));
    std::free(result.block);
  }
  void* block = std::malloc(100);  // still working afterwards
  ASSERT_NE(block, nullptr);
  std::free(block);
}

TEST(Malloc, FreedMemoryIsReused) {
  // Not a POSIX rule but the point of an allocator: touching 400 MiB through blocks of
  // 64 KiB and 1 MiB, each freed at once, must not leave the heap 400 MiB larger.
  const std::size_t before = resident_bytes();
  for (std::size_t size : {std::size_t{64} << 10, std::size_t{1} << 20}) {
    for (std::size_t total = 0; total < (std::size_t{200} << 20); total += size) {
      void* block = std::malloc(size);
      ASSERT_NE(block, nullptr);
      std::memset(block, 0x5a, size);
      std::free(block);
    }
  }
  EXPECT_LT(resident_bytes(), before + (std::size_t{64} << 20))
      << "resident set grew from " << before << " bytes: freed blocks are not reused";
}

}  // namespace
}  // namespace mtreplay::alloctest
