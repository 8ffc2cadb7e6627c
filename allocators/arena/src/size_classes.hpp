// Size classes of the slabs: 16-byte steps up to 128, then four classes per doubling
// (at most 25% internal waste, usually far less) up to kMaxSmall, but eight from 256 to
// 512 bytes, with two more between 4 KiB and 5 KiB, each with its own slab size. The
// class of a size is computed with a few shifts; the per-class tables are built at
// compile time.
//
// Why eighths from 256 to 512 bytes: programs keep many records of one or two sizes
// there, and a quarter-doubling step can cost a fifth of such a record. jq holding a
// 10 MB JSON document asks 150 k blocks of 272 bytes and 150 k of 392; quarters put them
// in 320 and 448 (glibc's chunks: 288 and 400), 12 MB of its 120 MB live, peak RSS 1.15x
// glibc's; with eighths (288 and 416) 1.08x. Over the python3 sample's requests of 128
// bytes to 4 KiB the waste falls from 6.1 % to 4.2 %. Each class more is one more partly
// used slab in every thread that touches it. These four moved thread_malloc's and
// producer_consumer's peak RSS by nothing measurable; eighths up to 1 KiB saved python3
// a little more (3.7 %) but raised those two by 2-3 %, and eighths from 1 KiB up, with
// slabs of 4-8 pages, by 0.07x glibc's (BENCHMARKS.md, #14, Session 9; #12, Session 45).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "config.hpp"

namespace arena {

// Two more classes between 4 KiB and 5 KiB, for a page and a header, a common request:
// sqlite3's page cache asks 4104 and 4368 bytes, which the 5120-byte class served with
// 17-25% waste (sqlite3's peak RSS 1.27x glibc's). 4368 bytes in slabs of 16 pages hold
// 15 blocks with 16 bytes left over; the geometric rule's 8 pages hold 7 with 2 KiB. At
// sqlite3's peak, 2,398 blocks of 4368 bytes are 10 MiB of its 12, and a 4352-byte class
// before this one sent them to 4608 (peak RSS 1.10x glibc's, 1.06x with 4368;
// BENCHMARKS.md, #12, Session 25). Eighths from 4 KiB up to 16 KiB did no better for
// sqlite3 and kept more partly used slabs in threads that touch many classes (#12,
// Sessions 9 and 10).
struct ExtraClass {
  std::size_t block_size;
  std::size_t slab_pages;
};
inline constexpr std::array<ExtraClass, 2> kExtraClassList = {{{4368, 16}, {4608, 8}}};
inline constexpr std::size_t kExtraClasses = kExtraClassList.size();
inline constexpr std::size_t kFirstExtraClass = 32;  // the geometric class of 5120 bytes
inline constexpr std::size_t kNumClasses = 34 + kExtraClasses;

constexpr std::size_t geometric_size_class(std::size_t size) {
  if (size <= 128) return size == 0 ? 0 : (size + 15) / 16 - 1;
  const std::size_t s = size - 1;
  const unsigned lg = std::bit_width(s) - 1;         // 2^lg <= s < 2^(lg+1), lg >= 7
  if (lg == 7) return 8 + ((s >> 5) & 3);            // 160-256: quarters
  if (lg == 8) return 12 + ((s >> 5) & 7);           // 288-512: eighths
  return 20 + (lg - 9) * 4 + ((s >> (lg - 2)) & 3);  // 640 up: quarters
}

constexpr std::size_t computed_size_class(std::size_t size) {
  if (size <= 4096) return geometric_size_class(size);
  for (std::size_t i = 0; i < kExtraClasses; ++i)
    if (size <= kExtraClassList[i].block_size) return kFirstExtraClass + i;
  return geometric_size_class(size) + kExtraClasses;
}

// Every class boundary is a multiple of 16, so the class of a small size is one load
// from a 385-byte table indexed by the size in 16-byte units: no branch on the size (a
// program mixing sizes on both sides of 128 bytes mispredicted it one time in eight) and
// no bit scan. (Up to 1 KiB only, the classes above took a second test on every malloc:
// the sizes programs ask for most are in the table's first cache lines either way.)
inline constexpr std::size_t kTableMaxSize = kMaxSmall;
inline constexpr auto kClassOfUnits = [] {
  std::array<std::uint8_t, kTableMaxSize / 16 + 1> table{};
  for (std::size_t units = 0; units < table.size(); ++units)
    table[units] = static_cast<std::uint8_t>(computed_size_class(units * 16));
  return table;
}();

constexpr std::size_t size_class_of(std::size_t size) {
  if (size <= kTableMaxSize) [[likely]]
    return kClassOfUnits[(size + 15) >> 4];
  return computed_size_class(size);
}

constexpr std::size_t geometric_block_size(std::size_t cls) {
  if (cls < 8) return (cls + 1) * 16;
  if (cls < 20) return 128 + (cls - 7) * 32;  // quarters to 256, then eighths to 512
  const std::size_t k = (cls - 20) / 4;
  return (std::size_t{512} << k) + ((cls - 20) % 4 + 1) * (std::size_t{128} << k);
}

constexpr std::size_t class_block_size(std::size_t cls) {
  if (cls < kFirstExtraClass) return geometric_block_size(cls);
  if (cls < kFirstExtraClass + kExtraClasses)
    return kExtraClassList[cls - kFirstExtraClass].block_size;
  return geometric_block_size(cls - kExtraClasses);
}

// Pages per slab: the fewest pages that waste at most 1/8 of the slab and hold at
// least 32 blocks, or at least 8 blocks in 4 pages or more, or span 8 pages, within the
// bitmap's capacity. The classes from 160 bytes to 1.5 KiB get 2-4 pages (they had one
// or two, 8-12 blocks): a program that frees at random among many live blocks leaves
// single holes in many slabs, and each slab a refill relists is a descriptor fetched
// cold, so fewer and larger slabs made server_exchange 22 % faster at 3 % more peak RSS
// (BENCHMARKS.md, #12, Session 18). The classes from 2 KiB up keep their 8 blocks: 4
// pages and 2 blocks for those from 2.5 KiB cut thread_malloc's peak RSS by 0.04-0.09
// of glibc's, not to 1.1x, but cost it 15 % more time and raised sqlite3's peak RSS from
// 1.10x glibc's to 1.16x, its page-sized blocks in part-filled slabs (#14, Sessions 7 and
// 12); 32 blocks for them as well (up to 8 pages from 1 KiB) raised thread_malloc's to
// 1.18x (#12, Session 18).
constexpr std::size_t class_slab_pages(std::size_t cls) {
  if (cls >= kFirstExtraClass && cls < kFirstExtraClass + kExtraClasses)
    return kExtraClassList[cls - kFirstExtraClass].slab_pages;
  const std::size_t block = class_block_size(cls);
  for (std::size_t pages = 1;; ++pages) {
    const std::size_t bytes = pages * kPageSize;
    const std::size_t blocks = bytes / block;
    if (blocks == 0) continue;
    if (blocks > kMaxBlocksPerSlab) return pages - 1;
    const bool little_waste = (bytes - blocks * block) * 8 <= bytes;
    if (little_waste && (blocks >= 32 || (blocks >= 8 && pages >= 4) || pages >= 8)) return pages;
  }
}

// The classes from 4 KiB up to kMaxSmall have slabs of 8 or 16 pages for 5-15 blocks: a
// thread that has one or two of their blocks live at a time (producer_consumer's 4-6
// KiB blocks, 0.07 % of its mallocs) keeps a slab of each, the pages its blocks ever
// reached resident: 40 pages of producer_consumer's full queue held no live block. Until
// the threads of an arena have as many of a class's blocks live in page runs as a slab
// would hold in the same pages (8 of 4368 bytes, 4 of the others: two pages each), their
// blocks are page runs, whose freed pages serve every other size; then slabs, as for a
// class a thread takes page runs of often (allocator.cpp, allocate_small_slow).
inline constexpr std::size_t kFirstPageRunClass = kFirstExtraClass;
inline constexpr std::size_t kPageRunClasses = kNumClasses - kFirstPageRunClass;
constexpr std::size_t page_runs_worth_a_slab(std::size_t cls) {
  return class_slab_pages(cls) / pages_for(class_block_size(cls));
}
static_assert(page_runs_worth_a_slab(kFirstPageRunClass) == 8 &&
              page_runs_worth_a_slab(kNumClasses - 1) == 4);

// A thread's first slabs of a class are smaller than the class's slabs: the fewest pages
// that hold kFirstSlabMinBlocks blocks and waste at most 1/8 (1-3 pages for most classes
// from 160 bytes to 1.5 KiB, whose slabs take 2-4; the others are as before). A thread
// that keeps a few blocks of many classes live kept one slab of each, mostly empty:
// thread_malloc's threads, 5-30 blocks of a class each, held 420 KiB of blocks in 900
// KiB of slabs. Once the slabs the thread took of the class (less those it gave back
// empty) add up to a full slab's pages, the next are full-sized (allocate_small_slow),
// so that a class it uses much is served as before. Peak RSS against glibc's (medians
// of 11): thread_malloc 1.09x -> 1.08x, producer_consumer on two CPUs 1.03x -> 1.01x,
// on one CPU 1.14x both; 1-2 % more time on those two. Counting only the slabs a thread
// owned, a thread that keeps every block it allocates (full slabs go to the arena) took
// small slabs for ever: 9 % slower, 8 % more peak RSS. First slabs of any size (down to
// one 4 KiB block) read 1.05x on thread_malloc but took 20 % more time there, for 12x
// the locked refills (BENCHMARKS.md, #14, Session 50).
inline constexpr std::size_t kFirstSlabMinBlocks = 8;
constexpr std::size_t class_first_slab_pages(std::size_t cls) {
  const std::size_t block = class_block_size(cls);
  const std::size_t most = class_slab_pages(cls);
  for (std::size_t pages = 1; pages < most; ++pages) {
    const std::size_t bytes = pages * kPageSize;
    const std::size_t blocks = bytes / block;
    if (blocks >= kFirstSlabMinBlocks && (bytes - blocks * block) * 8 <= bytes) return pages;
  }
  return most;
}

// floor(2^64 / block_size) + 1: see block_starting_at.
constexpr std::uint64_t block_inverse(std::size_t block_size) {
  return ~std::uint64_t{0} / block_size + 1;
}

struct ClassInfo {
  std::uint64_t inverse;  // block_inverse(block_size)
  std::uint32_t block_size;
  std::uint16_t slab_pages;
  std::uint16_t blocks;
  std::uint16_t first_slab_pages;
};

constexpr std::array<ClassInfo, kNumClasses> make_class_table() {
  std::array<ClassInfo, kNumClasses> table{};
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const std::size_t block = class_block_size(c);
    const std::size_t pages = class_slab_pages(c);
    table[c].block_size = static_cast<std::uint32_t>(block);
    table[c].inverse = block_inverse(block);
    table[c].slab_pages = static_cast<std::uint16_t>(pages);
    table[c].blocks = static_cast<std::uint16_t>(pages * kPageSize / block);
    table[c].first_slab_pages = static_cast<std::uint16_t>(class_first_slab_pages(c));
  }
  return table;
}

inline constexpr std::array<ClassInfo, kNumClasses> kClasses = make_class_table();

static_assert(class_block_size(kNumClasses - 1) == kMaxSmall);
static_assert(class_block_size(kFirstExtraClass - 1) == 4096 &&
              class_block_size(kFirstExtraClass + kExtraClasses) == 5120);
static_assert([] {
  for (std::size_t size = 0; size <= kTableMaxSize; ++size)
    if (size_class_of(size) != computed_size_class(size)) return false;
  return true;
}());
static_assert([] {
  for (const ClassInfo& info : kClasses)
    if (info.slab_pages == 0 || info.blocks > kMaxBlocksPerSlab) return false;
  return true;
}());
static_assert(size_class_of(kMaxSmall) == kNumClasses - 1);

// Whether a block of a slab of `capacity` blocks with this `inverse` starts `offset`
// bytes into it, any offset (an address below the slab's start wraps round), and its
// `index`, in one multiply. The product's high word is offset / block_size and its low
// word below the inverse when the division leaves no remainder, for every offset below
// 2^32 (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019: the
// inverse times the block size exceeds 2^64 by at most the block size, under 2^32, so
// the product's error stays below one quotient for such offsets). From 2^32 up the
// quotient is far above any capacity. (The reciprocal of 32 bits it replaced took a second
// multiply to test the start: 4 of the own free's instructions, and its latency.)
constexpr bool block_starting_at(std::uint64_t offset, std::uint64_t inverse, std::size_t capacity,
                                 std::size_t& index) {
  const unsigned __int128 product = static_cast<unsigned __int128>(offset) * inverse;
  index = static_cast<std::size_t>(product >> 64);
  return static_cast<std::uint64_t>(product) < inverse && index < capacity;
}

}  // namespace arena
