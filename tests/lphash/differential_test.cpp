// Single-threaded differential test: every operation's answer is checked against
// std::unordered_map while the key set drifts (fresh addresses, reuse, growth, shrink).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>

#include "mtreplay/lphash/pointer_map.hpp"
#include "test_scale.hpp"

namespace {

using Map = mtreplay::lphash::PointerMap<std::uint64_t>;
using mtreplay::lphash::UpdateResult;

constexpr std::uint64_t kHeapBase = 0x7f3a'0000'0000ull;

// The key universe is a sliding window of 16-byte aligned addresses: inside it
// addresses are reused, and as it slides fresh addresses keep arriving, which leaves
// dead slots behind for clean-up migrations. Its width swings to force growth phases
// (many live keys) and shrink phases (few).
class Workload {
 public:
  explicit Workload(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t key() {
    const std::uint64_t width = window_width();
    return kHeapBase + 16 * (base_ + rng_() % width);
  }
  void advance(std::uint64_t op) {
    op_ = op;
    if (op % 8 == 0) ++base_;
  }
  unsigned pick() { return static_cast<unsigned>(rng_() % 100); }
  std::uint64_t value() { return rng_() & 0x0000'ffff'ffff'fff0ull; }

 private:
  std::uint64_t window_width() const {
    // 2^20-op phases alternating between 64 and 200k addresses.
    return (op_ >> 20) % 2 == 0 ? 200'000 : 64 + (op_ & 0xff);
  }
  std::mt19937_64 rng_;
  std::uint64_t base_ = 0;
  std::uint64_t op_ = 0;
};

void expect_same_contents(const Map& map,
                          const std::unordered_map<std::uint64_t, std::uint64_t>& ref) {
  ASSERT_EQ(map.size(), ref.size());
  map.for_each([&](std::uint64_t key, std::uint64_t value) {
    auto it = ref.find(key);
    ASSERT_NE(it, ref.end()) << "extra key " << key;
    ASSERT_EQ(it->second, value) << "key " << key;
  });
}

void run_differential(std::uint64_t ops, std::uint64_t seed, std::size_t hint) {
  Map map(hint);
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  Workload w(seed);
  std::size_t peak_live = 0;
  for (std::uint64_t op = 0; op < ops; ++op) {
    w.advance(op);
    const std::uint64_t key = w.key();
    const unsigned kind = w.pick();
    auto it = ref.find(key);
    const bool present = it != ref.end();
    if (kind < 38) {
      const std::uint64_t value = w.value();
      ASSERT_EQ(map.insert(key, value), !present) << "insert at op " << op;
      if (!present) ref.emplace(key, value);
    } else if (kind < 70) {
      auto erased = map.erase(key);
      ASSERT_EQ(erased.has_value(), present) << "erase at op " << op;
      if (present) {
        ASSERT_EQ(*erased, it->second) << "erase at op " << op;
        ref.erase(it);
      }
    } else if (kind < 90) {
      auto found = map.find(key);
      ASSERT_EQ(found.has_value(), present) << "find at op " << op;
      if (present) {
        ASSERT_EQ(*found, it->second) << "find at op " << op;
      }
    } else {
      // Half the updates expect the right value, half a wrong one.
      const bool right = kind < 95;
      std::uint64_t expected = present ? it->second + (right ? 0 : 16) : 16;
      const std::uint64_t desired = w.value();
      const UpdateResult r = map.update(key, expected, desired);
      if (!present) {
        ASSERT_EQ(r, UpdateResult::kAbsent) << "update at op " << op;
      } else if (right) {
        ASSERT_EQ(r, UpdateResult::kUpdated) << "update at op " << op;
        it->second = desired;
      } else {
        ASSERT_EQ(r, UpdateResult::kMismatch) << "update at op " << op;
        ASSERT_EQ(expected, it->second) << "update at op " << op;
      }
    }
    peak_live = std::max(peak_live, ref.size());
    if (op % (1 << 18) == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_same_contents(map, ref));
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_same_contents(map, ref));
  // Dead slots are reclaimed: the table tracks the live set, not every address seen.
  // (A table never shrinks below the size its hint asked for.)
  const std::size_t hinted = Map(hint).capacity();
  EXPECT_LE(map.capacity(), std::max<std::size_t>(8 * peak_live, hinted)) << "peak " << peak_live;
  if (ops >= (1u << 21)) {
    EXPECT_GT(map.migrations(), 4u);
  }
}

TEST(LphashDifferential, ChurnAndGrowthFromTinyHint) {
  run_differential(lphash_test::scaled(4'000'000), 1, 0);
}

TEST(LphashDifferential, ChurnWithExactHint) {
  run_differential(lphash_test::scaled(2'000'000), 2, 200'000);
}

TEST(LphashDifferential, ReservedKeysAndValuesAreRejected) {
  Map map(16);
  EXPECT_FALSE(map.insert(0, 1));
  EXPECT_FALSE(map.insert(~0ull, 1));
  EXPECT_FALSE(map.insert(0x1000, ~0ull));
  EXPECT_FALSE(map.insert(0x1000, ~1ull));
  EXPECT_FALSE(map.find(0).has_value());
  EXPECT_FALSE(map.erase(~0ull).has_value());
  EXPECT_FALSE(map.wait_find(0).has_value());  // would never come: returns at once
  EXPECT_EQ(map.size(), 0u);
  // Zero and other ordinary words are fine values (a NULL the allocator returned).
  EXPECT_TRUE(map.insert(0x1000, 0));
  EXPECT_EQ(map.find(0x1000), std::optional<std::uint64_t>(0));
  EXPECT_EQ(map.erase(0x1000), std::optional<std::uint64_t>(0));
}

TEST(LphashDifferential, PointerValues) {
  mtreplay::lphash::PointerMap<void*> map(4);
  int objects[100];
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(map.insert(0x5000 + 16 * i, &objects[i]));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(map.find(0x5000 + 16 * i), &objects[i]);
  EXPECT_EQ(map.size(), 100u);
}

}  // namespace
