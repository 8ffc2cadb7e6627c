// The aligned entry points: posix_memalign, memalign, aligned_alloc, valloc, pvalloc.
// Good alignments from sizeof(void*) to a huge 64 MiB, the bad ones each must reject,
// and impossible sizes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "backend_check.hpp"
#include "deviations.hpp"
#include "outcome.hpp"
#include "pattern.hpp"
#include "sizes.hpp"

namespace mtreplay::alloctest {
namespace {

constexpr std::size_t kHugeAlignment = std::size_t{64} << 20;

std::vector<std::size_t> good_alignments() {
  std::vector<std::size_t> alignments;
  for (std::size_t a = sizeof(void*); a <= (std::size_t{1} << 20); a *= 2) alignments.push_back(a);
  if (known_deviation("huge-alignment")) {
    note_deviation("huge-alignment", "64 MiB alignment left out");
  } else {
    alignments.push_back(kHugeAlignment);
  }
  return alignments;
}

const std::vector<std::size_t> kAlignedSizes = {0, 1, 17, 100, 4096, 5000, 100'000, 1 << 20};

std::size_t page_size() {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t next_power_of_two(std::size_t n) {
  return std::bit_ceil(std::max<std::size_t>(n, 1));
}

// Skips the test when the backend does not serve `symbol` itself (see family_gap).
#define SKIP_UNLESS_SERVED(symbol)                                                     \
  do {                                                                                 \
    if (const std::string gap = family_gap(symbol); !gap.empty()) GTEST_SKIP() << gap; \
  } while (false)

void expect_usable_aligned(void* block, std::size_t alignment, std::size_t size, const char* call) {
  ASSERT_NE(block, nullptr) << call << "(" << alignment << ", " << size << ")";
  if (size == 0 && !is_aligned(block, alignment) && known_deviation("zero-size-alignment")) {
    note_deviation("zero-size-alignment", fmt::format("{}({}, 0) = {}", call, alignment, block));
  } else {
    EXPECT_TRUE(is_aligned(block, alignment))
        << call << "(" << alignment << ", " << size << ") = " << block;
  }
  EXPECT_GE(malloc_usable_size(block), size);
  fill_pattern(block, size, alignment ^ size);
  EXPECT_EQ(first_pattern_mismatch(block, size, alignment ^ size), size);
}

// A failing call: NULL, and errno (or the returned error) as POSIX or glibc says.
void expect_failure(const Outcome& result, int wanted, const std::string& call) {
  EXPECT_EQ(result.block, nullptr) << call;
  expect_errno(result.error, wanted, call);
  std::free(result.block);
}

TEST(PosixMemalign, GoodAlignmentsGiveAlignedUsableBlocks) {
  SKIP_UNLESS_SERVED("posix_memalign");
  for (std::size_t alignment : good_alignments()) {
    for (std::size_t size : kAlignedSizes) {
      void* block = nullptr;
      ASSERT_EQ(posix_memalign(&block, alignment, size), 0)
          << "posix_memalign(" << alignment << ", " << size << ")";
      expect_usable_aligned(block, alignment, size, "posix_memalign");
      std::free(block);
    }
  }
}

TEST(PosixMemalign, BadAlignmentIsEINVALAndLeavesThePointerAlone) {
  SKIP_UNLESS_SERVED("posix_memalign");
  // Must be a power of two and a multiple of sizeof(void*).
  const std::size_t bad[] = {
      0, 1, 2, 4, 12, 24, 40, 48, 4095, 4097, 3 << 12, SIZE_MAX, SIZE_MAX / 2 + 2};
  for (std::size_t alignment : bad) {
    void* sentinel = reinterpret_cast<void*>(std::uintptr_t{0x5a5a5a5a});
    void* block = sentinel;
    EXPECT_EQ(posix_memalign(&block, alignment, 64), EINVAL) << "alignment " << alignment;
    EXPECT_EQ(block, sentinel) << "posix_memalign changed *memptr on failure";
  }
}

TEST(PosixMemalign, ImpossibleRequestsAreENOMEM) {
  SKIP_UNLESS_SERVED("posix_memalign");
  for (std::size_t size : impossible_sizes()) {
    void* block = nullptr;
    EXPECT_EQ(posix_memalign(&block, 64, size), ENOMEM) << "size " << size;
  }
  // A valid (power of two) alignment of half the address space cannot be met either.
  void* block = nullptr;
  EXPECT_EQ(posix_memalign(&block, SIZE_MAX / 2 + 1, 1), ENOMEM);
}

TEST(PosixMemalign, GiganticAlignmentFailsCleanlyOrIsHonoured) {
  SKIP_UNLESS_SERVED("posix_memalign");
  for (std::size_t alignment : {std::size_t{1} << 32, std::size_t{1} << 40}) {
    void* block = nullptr;
    const int result = posix_memalign(&block, alignment, 100);
    if (result == 0) {
      expect_usable_aligned(block, alignment, 100, "posix_memalign");
      std::free(block);
    } else {
      EXPECT_EQ(result, ENOMEM) << "alignment " << alignment;
    }
  }
}

TEST(Memalign, PowersOfTwoGiveAlignedUsableBlocks) {
  SKIP_UNLESS_SERVED("memalign");
  std::vector<std::size_t> alignments = {1, 2, 4};  // below sizeof(void*): still accepted
  for (std::size_t a : good_alignments()) alignments.push_back(a);
  for (std::size_t alignment : alignments) {
    for (std::size_t size : kAlignedSizes) {
      void* block = memalign(alignment, size);
      expect_usable_aligned(block, alignment, size, "memalign");
      std::free(block);
    }
  }
}

TEST(Memalign, OtherAlignmentsAreRejectedOrRoundedUpToAPowerOfTwo) {
  SKIP_UNLESS_SERVED("memalign");
  if (known_deviation("invalid-alignment")) GTEST_SKIP() << "known deviation invalid-alignment";
  // memalign is not in POSIX; glibc documents rounding a non-power-of-two alignment up
  // to the next power of two. Rejecting it with EINVAL is the only other sane answer.
  for (std::size_t alignment : {std::size_t{24}, std::size_t{48}, std::size_t{4097}}) {
    const Outcome result = attempt([=] { return memalign(alignment, 64); });
    if (result.block == nullptr) {
      expect_errno(result.error, EINVAL, fmt::format("memalign({}, 64)", alignment));
    } else {
      expect_usable_aligned(result.block, next_power_of_two(alignment), 64, "memalign");
      std::free(result.block);
    }
  }
}

TEST(Memalign, ImpossibleRequestsFailWithNull) {
  SKIP_UNLESS_SERVED("memalign");
  for (std::size_t size : impossible_sizes()) {
    expect_failure(attempt([=] { return memalign(64, size); }), ENOMEM,
                   fmt::format("memalign(64, {})", size));
  }
  // Alignments beyond half the address space: glibc says EINVAL, others ENOMEM; both fit.
  for (std::size_t alignment : {SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2, SIZE_MAX}) {
    const Outcome result = attempt([=] { return memalign(alignment, 1); });
    EXPECT_EQ(result.block, nullptr) << "memalign(" << alignment << ", 1)";
    expect_errno(result.error, result.error == ENOMEM ? ENOMEM : EINVAL,
                 fmt::format("memalign({}, 1)", alignment));
  }
}

TEST(AlignedAlloc, PowersOfTwoGiveAlignedUsableBlocks) {
  SKIP_UNLESS_SERVED("aligned_alloc");
  const bool c11_size_rule = known_deviation("aligned-alloc-size-multiple");
  for (std::size_t alignment : good_alignments()) {
    for (std::size_t size : kAlignedSizes) {
      // C17 dropped the "size is a multiple of alignment" rule; odd sizes must work too.
      if (c11_size_rule && size % alignment != 0) continue;
      void* block = aligned_alloc(alignment, size);
      expect_usable_aligned(block, alignment, size, "aligned_alloc");
      std::free(block);
    }
  }
  if (c11_size_rule) note_deviation("aligned-alloc-size-multiple", "odd sizes left out");
}

TEST(AlignedAlloc, InvalidAlignmentIsRejectedOrRoundedUp) {
  SKIP_UNLESS_SERVED("aligned_alloc");
  if (known_deviation("invalid-alignment")) GTEST_SKIP() << "known deviation invalid-alignment";
  // C17: an alignment the implementation does not support gives NULL. glibc before 2.38
  // (Debian 12 has 2.36) rounds up as memalign does; both are accepted, nothing else.
  for (std::size_t alignment : {std::size_t{0}, std::size_t{24}, std::size_t{4097}}) {
    const Outcome result = attempt([=] { return aligned_alloc(alignment, 64); });
    if (result.block == nullptr) {
      expect_errno(result.error, EINVAL, fmt::format("aligned_alloc({}, 64)", alignment));
    } else {
      expect_usable_aligned(result.block, next_power_of_two(alignment), 64, "aligned_alloc");
      std::free(result.block);
    }
  }
}

TEST(AlignedAlloc, ImpossibleSizesFailWithENOMEM) {
  SKIP_UNLESS_SERVED("aligned_alloc");
  // Under C11's size rule an impossible size that is no multiple of 64 is EINVAL first.
  const bool c11_size_rule = known_deviation("aligned-alloc-size-multiple");
  for (std::size_t size : impossible_sizes()) {
    expect_failure(attempt([=] { return aligned_alloc(64, size); }),
                   c11_size_rule && size % 64 != 0 ? EINVAL : ENOMEM,
                   fmt::format("aligned_alloc(64, {})", size));
  }
}

TEST(Valloc, GivesPageAlignedUsableBlocks) {
  SKIP_UNLESS_SERVED("valloc");
  for (std::size_t size : interesting_sizes()) {
    void* block = valloc(size);
    expect_usable_aligned(block, page_size(), size, "valloc");
    std::free(block);
  }
}

TEST(Valloc, ImpossibleSizesFailWithENOMEM) {
  SKIP_UNLESS_SERVED("valloc");
  for (std::size_t size : impossible_sizes()) {
    expect_failure(attempt([=] { return valloc(size); }), ENOMEM, fmt::format("valloc({})", size));
  }
}

TEST(Pvalloc, GivesPageAlignedBlocksOfWholePages) {
  SKIP_UNLESS_SERVED("pvalloc");
  for (std::size_t size : interesting_sizes()) {
    void* block = pvalloc(size);
    // pvalloc rounds the size up to whole pages and all of them are usable. (0 rounds to
    // 0: glibc then gives a minimal block, page aligned.)
    const std::size_t rounded = (size + page_size() - 1) / page_size() * page_size();
    expect_usable_aligned(block, page_size(), rounded, "pvalloc");
    std::free(block);
  }
}

TEST(Pvalloc, SizesThatOverflowWhenRoundedFailWithENOMEM) {
  SKIP_UNLESS_SERVED("pvalloc");
  if (known_deviation("pvalloc-overflow")) GTEST_SKIP() << "known deviation pvalloc-overflow";
  for (std::size_t size : impossible_sizes()) {
    expect_failure(attempt([=] { return pvalloc(size); }), ENOMEM,
                   fmt::format("pvalloc({})", size));
  }
}

}  // namespace
}  // namespace mtreplay::alloctest

namespace mtreplay::alloctest {
namespace {

// Aligned requests served from memory that earlier blocks of the same size freed: the
// path where a size class is reused must still honour the alignment. Half the blocks
// stay live, so the heap is fragmented the way a real program leaves it.
TEST(AlignedReuse, EveryEntryPointKeepsItsAlignmentAmongFreedBlocks) {
  SKIP_UNLESS_SERVED("posix_memalign");
  SKIP_UNLESS_SERVED("memalign");
  SKIP_UNLESS_SERVED("aligned_alloc");
  std::vector<void*> kept;
  std::size_t misaligned = 0;
  std::string first;
  for (std::size_t alignment = 16; alignment <= 4096; alignment *= 2) {
    for (int i = 0; i < 300; ++i) {
      const std::size_t size = alignment * (1 + i % 3);
      void* blocks[3] = {aligned_alloc(alignment, size), memalign(alignment, size), nullptr};
      ASSERT_EQ(posix_memalign(&blocks[2], alignment, size), 0);
      for (void* block : blocks) {
        ASSERT_NE(block, nullptr);
        if (!is_aligned(block, alignment) && misaligned++ == 0) {
          first = fmt::format("{} for alignment {} and size {}", block, alignment, size);
        }
        if (i % 2 == 0) {
          kept.push_back(block);
        } else {
          std::free(block);
        }
      }
    }
  }
  for (void* block : kept) std::free(block);
  if (misaligned != 0 && known_deviation("misaligned-after-reuse")) {
    note_deviation("misaligned-after-reuse",
                   fmt::format("{} misaligned blocks, first {}", misaligned, first));
    return;
  }
  EXPECT_EQ(misaligned, 0u) << "first misaligned block: " << first;
}

}  // namespace
}  // namespace mtreplay::alloctest
