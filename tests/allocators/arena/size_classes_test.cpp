// The size-class table: every size maps to the smallest class that holds it, and
// block_starting_at finds exactly the blocks of every slab.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "size_classes.hpp"

namespace arena {
namespace {

TEST(SizeClasses, EverySizeGetsTheSmallestClassThatFits) {
  for (std::size_t size = 0; size <= kMaxSmall; ++size) {
    const std::size_t cls = size_class_of(size);
    ASSERT_LT(cls, kNumClasses) << size;
    ASSERT_GE(class_block_size(cls), size) << size;
    if (cls > 0) {
      ASSERT_LT(class_block_size(cls - 1), size) << size;
    }
  }
}

TEST(SizeClasses, APageAndAHeaderWastesLittle) {
  // sqlite3's page cache: 4104 and 4368 bytes, 5120-byte blocks before the extra classes;
  // 4368 in 16-page slabs of 15 blocks, with 16 bytes left over.
  EXPECT_EQ(class_block_size(size_class_of(4097)), 4368u);
  EXPECT_EQ(class_block_size(size_class_of(4104)), 4368u);
  EXPECT_EQ(class_block_size(size_class_of(4368)), 4368u);
  EXPECT_EQ(kClasses[size_class_of(4368)].blocks, 15u);
  EXPECT_EQ(kClasses[size_class_of(4368)].slab_pages, 16u);
  EXPECT_EQ(class_block_size(size_class_of(4369)), 4608u);
  EXPECT_EQ(class_block_size(size_class_of(4609)), 5120u);
  EXPECT_EQ(class_block_size(size_class_of(4096)), 4096u);
  // What a block costs in its slab, its share of the tail included, within 1/13 of the
  // request (4352-byte blocks, 7 in 8 pages, cost 4097 bytes 1/7 more).
  for (std::size_t size = 4097; size <= 4608; ++size) {
    const ClassInfo& info = kClasses[size_class_of(size)];
    EXPECT_LE(std::size_t{info.slab_pages} * kPageSize * 13, std::size_t{info.blocks} * size * 14)
        << size;
  }
}

TEST(SizeClasses, BlocksAreSixteenByteMultiplesAndWasteIsBounded) {
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const ClassInfo& info = kClasses[c];
    EXPECT_EQ(info.block_size % kMinAlign, 0u);
    EXPECT_GE(info.blocks, 1u);
    EXPECT_LE(info.blocks, kMaxBlocksPerSlab);
    const std::size_t slab = std::size_t{info.slab_pages} * kPageSize;
    EXPECT_LE((slab - std::size_t{info.blocks} * info.block_size) * 8, slab) << c;
    // A thread's first slabs: no bigger, as little waste, and kFirstSlabMinBlocks blocks
    // when smaller.
    EXPECT_LE(info.first_slab_pages, info.slab_pages) << c;
    const std::size_t first = std::size_t{info.first_slab_pages} * kPageSize;
    const std::size_t first_blocks = first / info.block_size;
    EXPECT_LE((first - first_blocks * info.block_size) * 8, first) << c;
    if (info.first_slab_pages < info.slab_pages) {
      EXPECT_GE(first_blocks, kFirstSlabMinBlocks) << c;
    }
    if (c > 8) {
      // Geometric classes: the next class is at most 25% bigger, and from 256 to 512
      // bytes at most 12.5%.
      EXPECT_LE(info.block_size * 4, kClasses[c - 1].block_size * 5) << c;
      if (kClasses[c - 1].block_size >= 256 && info.block_size <= 512) {
        EXPECT_LE(info.block_size * 8, kClasses[c - 1].block_size * 9) << c;
      }
    }
  }
}

TEST(SizeClasses, RecordsOfAFewHundredBytesWasteLittle) {
  // jq's JSON objects and arrays: 272 and 392 bytes, in 320 and 448 with four classes per
  // doubling (glibc's chunks: 288 and 400).
  EXPECT_EQ(class_block_size(size_class_of(272)), 288u);
  EXPECT_EQ(class_block_size(size_class_of(392)), 416u);
  EXPECT_EQ(class_block_size(size_class_of(257)), 288u);
  EXPECT_EQ(class_block_size(size_class_of(513)), 640u);
  EXPECT_EQ(class_block_size(size_class_of(1000)), 1024u);
  EXPECT_EQ(class_block_size(size_class_of(1025)), 1280u);
  EXPECT_EQ(class_block_size(size_class_of(250)), 256u);
}

// Every offset of a slab and past it, and offsets a wrong guess or an address below the
// slab makes: a block found exactly where one starts, nowhere else.
TEST(SizeClasses, BlockStartingAtFindsExactlyTheBlocksOfEverySlab) {
  std::mt19937_64 random(5);
  for (const ClassInfo& info : kClasses) {
    const std::size_t block = info.block_size;
    const std::size_t slab = std::size_t{info.slab_pages} * kPageSize;
    std::vector<std::uint64_t> offsets;
    for (std::uint64_t offset = 0; offset < 2 * slab; ++offset) offsets.push_back(offset);
    for (std::uint64_t near : {std::uint64_t{1} << 32, ~std::uint64_t{0}, -std::uint64_t{block}})
      for (std::uint64_t d = 0; d < 2 * block; ++d) offsets.push_back(near - d);
    for (int i = 0; i < 100000; ++i) {
      offsets.push_back(random() >> 32);
      offsets.push_back(random());
    }
    for (const std::uint64_t offset : offsets) {
      std::size_t index = ~std::size_t{0};
      const bool found = block_starting_at(offset, info.inverse, info.blocks, index);
      const bool starts = offset % block == 0 && offset / block < info.blocks;
      ASSERT_EQ(found, starts) << "block " << block << " offset " << offset;
      if (found) {
        ASSERT_EQ(index, offset / block) << "block " << block << " offset " << offset;
      }
    }
  }
}

}  // namespace
}  // namespace arena
