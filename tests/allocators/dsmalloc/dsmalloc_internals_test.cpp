// dsmalloc-specific behaviour: no in-band metadata, the metadata cost per live block,
// size classes, page runs resized in place, and invalid/double frees caught.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "mtreplay/dsmalloc/dsmalloc.h"

namespace {

// A mix shaped like an interpreter's heap: mostly small objects, a tail of buffers.
std::size_t interpreter_size(std::mt19937_64& rng) {
  std::uint64_t r = rng() % 1000;
  if (r < 500) return 16 + rng() % 49;     // small objects and strings
  if (r < 850) return 65 + rng() % 192;    // dict/list nodes, short buffers
  if (r < 990) return 257 + rng() % 1792;  // medium buffers
  return 2049 + rng() % 30000;             // arrays
}

// Page runs and huge blocks added: per-page metadata then weighs more per block.
std::size_t buffer_heavy_size(std::mt19937_64& rng) {
  std::uint64_t r = rng() % 1000;
  if (r < 997) return interpreter_size(rng);
  return 32768 + rng() % 2000000;
}

double metadata_per_block_for(std::size_t (*size)(std::mt19937_64&)) {
  std::size_t base_blocks = ds_live_blocks();
  std::mt19937_64 rng(42);
  std::vector<void*> blocks;
  for (int i = 0; i < 300000; ++i) blocks.push_back(ds_malloc(size(rng)));
  // Free a random third, as a long-running program would have.
  for (std::size_t i = 0; i < blocks.size(); i += 3) {
    ds_free(blocks[i]);
    blocks[i] = nullptr;
  }
  EXPECT_EQ(ds_live_blocks() - base_blocks, blocks.size() - (blocks.size() + 2) / 3);
  double per_block = static_cast<double>(ds_metadata_bytes()) / ds_live_blocks();
  std::printf("dsmalloc: %zu live blocks, %zu live bytes, %zu metadata bytes, %.3f per block\n",
              ds_live_blocks(), ds_live_bytes(), ds_metadata_bytes(), per_block);
  EXPECT_EQ(ds_check_heap(), 0u);
  for (void* p : blocks) ds_free(p);
  EXPECT_EQ(ds_live_blocks(), base_blocks);
  return per_block;
}

// ptmalloc (like glibc) spends an 8-byte header on every block; out-of-line metadata
// must cost well under that.
TEST(Dsmalloc, MetadataPerLiveBlockIsWellUnderAnInBandHeader) {
  double per_block = metadata_per_block_for(interpreter_size);
  RecordProperty("metadata_bytes_per_live_block", std::to_string(per_block));
  EXPECT_LT(per_block, 4.0);
}

TEST(Dsmalloc, MetadataStaysSmallWithLargeBuffers) {
  double per_block = metadata_per_block_for(buffer_heavy_size);
  RecordProperty("metadata_bytes_per_live_block", std::to_string(per_block));
  EXPECT_LT(per_block, 8.0);
}

TEST(Dsmalloc, BlocksAreTightlyPackedWithNoHeaders) {
  // Consecutive blocks of one class sit exactly one class size apart.
  std::vector<char*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(static_cast<char*>(ds_malloc(32)));
  int adjacent = 0;
  for (int i = 1; i < 64; ++i) adjacent += blocks[i] - blocks[i - 1] == 32;
  EXPECT_GE(adjacent, 60);
  for (char* p : blocks) {
    EXPECT_EQ(ds_malloc_usable_size(p), 32u);
    std::memset(p, 0xFF, 32);  // writing the whole block cannot damage the allocator
  }
  EXPECT_EQ(ds_check_heap(), 0u);
  for (char* p : blocks) ds_free(p);
}

TEST(Dsmalloc, UsableSizeIsTheClassSize) {
  EXPECT_EQ(ds_malloc_usable_size(ds_malloc(1)), 16u);
  void* p = ds_malloc(17);
  EXPECT_EQ(ds_malloc_usable_size(p), 32u);
  ds_free(p);
  p = ds_malloc(257);
  EXPECT_EQ(ds_malloc_usable_size(p), 320u);
  ds_free(p);
  p = ds_malloc(20000);
  EXPECT_EQ(ds_malloc_usable_size(p), 20480u);  // a five-page run
  ds_free(p);
}

TEST(Dsmalloc, PageRunsGrowAndShrinkInPlace) {
  void* p = ds_malloc(250000);
  std::memset(p, 3, 50000);
  ASSERT_EQ(ds_realloc(p, 50000), p);   // gives the tail pages back
  ASSERT_EQ(ds_realloc(p, 250000), p);  // and takes them again
  EXPECT_EQ(ds_malloc_usable_size(p), 62u * 4096);
  EXPECT_EQ(static_cast<unsigned char*>(p)[49999], 3);
  EXPECT_EQ(ds_check_heap(), 0u);
  ds_free(p);
}

TEST(Dsmalloc, HugeBlocksAreTrackedAndRemapped) {
  std::size_t before = ds_live_blocks();
  void* p = ds_malloc(std::size_t{3} << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
  EXPECT_EQ(ds_live_blocks(), before + 1);
  std::memset(p, 7, std::size_t{3} << 20);
  void* q = ds_realloc(p, std::size_t{9} << 20);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(q)[(std::size_t{3} << 20) - 1], 7);
  EXPECT_EQ(ds_malloc_usable_size(q), std::size_t{9} << 20);
  ds_free(q);
  EXPECT_EQ(ds_live_blocks(), before);
  EXPECT_EQ(ds_check_heap(), 0u);
}

TEST(Dsmalloc, AlignedSmallBlocksComeFromAlignedClasses) {
  void* p = ds_memalign(64, 70);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(ds_malloc_usable_size(p), 128u);
  ds_free(p);
}

TEST(DsmallocDeathTest, FreeOfAForeignPointerAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  static char not_from_dsmalloc[64];
  EXPECT_DEATH(ds_free(not_from_dsmalloc), "dsmalloc: free of a pointer it never returned");
  void* p = ds_malloc(100);
  EXPECT_DEATH(ds_free(static_cast<char*>(p) + 16), "never returned");
  ds_free(p);
}

TEST(DsmallocDeathTest, DoubleFreeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  void* keep = ds_malloc(48);  // keeps the slab alive after the first free
  void* p = ds_malloc(48);
  ds_free(p);
  EXPECT_DEATH(ds_free(p), "dsmalloc: double free of 0x");
  void* big = ds_malloc(50000);
  ds_free(big);
  EXPECT_DEATH(ds_free(big), "dsmalloc: free of a pointer it never returned");
  ds_free(keep);
}

}  // namespace
