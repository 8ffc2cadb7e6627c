// calloc: zeroed memory, fresh or reused, and nmemb * size overflow caught.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "deviations.hpp"
#include "outcome.hpp"
#include "pattern.hpp"
#include "sizes.hpp"

namespace mtreplay::alloctest {
namespace {

std::size_t first_nonzero(const void* block, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(block);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != 0) return i;
  }
  return size;
}

TEST(Calloc, ZeroesEverySize) {
  for (std::size_t size : interesting_sizes()) {
    void* block = std::calloc(1, size);
    ASSERT_NE(block, nullptr) << "calloc(1, " << size << ")";
    EXPECT_TRUE(is_aligned(block, required_alignment(size)));
    EXPECT_EQ(first_nonzero(block, size), size) << "calloc(1, " << size << ")";
    std::free(block);
  }
}

TEST(Calloc, ZeroesReusedMemory) {
  // Dirty blocks of each size are freed, then calloc of the same sizes must get clean
  // ones even when it reuses exactly those blocks (the case a lazy calloc gets wrong).
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> dirty;
    for (std::size_t size : interesting_sizes()) {
      void* block = std::malloc(size);
      ASSERT_NE(block, nullptr);
      std::memset(block, 0xA5, size);
      dirty.push_back(block);
    }
    for (void* block : dirty) std::free(block);
    for (std::size_t size : interesting_sizes()) {
      const std::size_t members = size % 3 == 0 && size > 0 ? 3 : 1;
      void* block = std::calloc(members, size / members);
      ASSERT_NE(block, nullptr);
      EXPECT_EQ(first_nonzero(block, size / members * members), size / members * members)
          << "calloc(" << members << ", " << size / members << ") in round " << round;
      std::free(block);
    }
  }
}

TEST(Calloc, ZeroMembersOrZeroSizeGiveUniqueFreeableBlocks) {
  void* a = std::calloc(0, 16);
  void* b = std::calloc(16, 0);
  void* c = std::calloc(0, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  std::free(a);
  std::free(b);
  std::free(c);
}

TEST(Calloc, ProductOverflowFailsWithENOMEM) {
  constexpr std::size_t kMax = SIZE_MAX;
  const std::vector<std::pair<std::size_t, std::size_t>> overflowing = {
      {kMax / 2 + 1, 2}, {2, kMax / 2 + 1},      {std::size_t{1} << 32, std::size_t{1} << 32},
      {kMax, kMax},      {65537, kMax / 65536},  {kMax / 16 + 1, 16},
      {3, kMax / 3 + 1}, {kMax / 4096 + 1, 4096}};
  for (const auto& [members, size] : overflowing) {
    const Outcome result = attempt([=] { return std::calloc(members, size); });
    EXPECT_EQ(result.block, nullptr) << "calloc(" << members << ", " << size << ")";
    expect_errno(result.error, ENOMEM, fmt::format("calloc({}, {})", members, size));
    std::free(result.block);
  }
}

TEST(Calloc, ImpossibleSizesFailWithENOMEM) {
  for (std::size_t size : impossible_sizes()) {
    const Outcome result = attempt([size] { return std::calloc(1, size); });
    EXPECT_EQ(result.block, nullptr) << "calloc(1, " << size << ")";
    expect_errno(result.error, ENOMEM, fmt::format("calloc(1, {})", size));
    std::free(result.block);
  }
}

}  // namespace
}  // namespace mtreplay::alloctest
