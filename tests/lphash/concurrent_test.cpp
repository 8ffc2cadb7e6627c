// Multithreaded stress, 2 to 8 threads on however many cores: each test checks every
// answer it can predict while running, and the whole map's invariants at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mtreplay/lphash/pointer_map.hpp"
#include "test_scale.hpp"

namespace {

using Map = mtreplay::lphash::PointerMap<std::uint64_t>;
using lphash_test::scaled;
using mtreplay::lphash::UpdateResult;

std::uint64_t address(unsigned thread, std::uint64_t i) {
  return 0x7f00'0000'0000ull + (std::uint64_t{thread} << 36) + 16 * i;
}

// Runs fn(thread_index) on n threads released together.
template <class Fn>
void run_threads(unsigned n, Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(t);
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
}

class LphashConcurrent : public ::testing::TestWithParam<unsigned> {};

// Each thread owns a key range and checks every answer against its own reference; the
// ranges drift so migrations (growth and clean-up) keep happening under the others.
TEST_P(LphashConcurrent, DisjointRangesWithChurn) {
  const unsigned n = GetParam();
  Map map(16);
  const std::uint64_t ops = scaled(600'000) / n;
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> refs(n);
  std::atomic<int> failures{0};
  run_threads(n, [&](unsigned t) {
    std::mt19937_64 rng(t + 100);
    auto& ref = refs[t];
    for (std::uint64_t op = 0; op < ops; ++op) {
      const std::uint64_t key = address(t, op / 4 + rng() % 4096);
      auto it = ref.find(key);
      const bool present = it != ref.end();
      switch (rng() % 4) {
        case 0:
        case 1:
          if (map.insert(key, op) == present) ++failures;
          if (!present) ref.emplace(key, op);
          break;
        case 2: {
          auto v = map.erase(key);
          if (v.has_value() != present || (present && *v != it->second)) ++failures;
          if (present) ref.erase(it);
          break;
        }
        default: {
          auto v = map.find(key);
          if (v.has_value() != present || (present && *v != it->second)) ++failures;
        }
      }
    }
  });
  EXPECT_EQ(failures.load(), 0);
  std::size_t expected = 0;
  for (const auto& ref : refs) expected += ref.size();
  EXPECT_EQ(map.size(), expected);
  map.for_each([&](std::uint64_t key, std::uint64_t value) {
    const unsigned owner = static_cast<unsigned>((key - address(0, 0)) >> 36);
    ASSERT_LT(owner, n);
    auto it = refs[owner].find(key);
    ASSERT_NE(it, refs[owner].end());
    EXPECT_EQ(it->second, value);
  });
  EXPECT_GT(map.migrations(), 0u);
}

// Cross-thread frees: producers insert incarnation i of a reused address, consumers
// wait_erase it and must get exactly that incarnation. An address is reused only after
// its previous incarnation was erased (insert fails while it is present), as an
// allocator reuses an address only after the free.
TEST_P(LphashConcurrent, CrossThreadHandoffWithAddressReuse) {
  const unsigned pairs = std::max(1u, GetParam() / 2);
  constexpr std::uint64_t kReuse = 97;  // distinct addresses per pair
  const std::uint64_t objects = scaled(200'000) / pairs;
  Map map(64);
  std::atomic<int> failures{0};
  run_threads(pairs * 2, [&](unsigned t) {
    const unsigned pair = t / 2;
    if (t % 2 == 0) {
      for (std::uint64_t i = 0; i < objects; ++i) {
        while (!map.insert(address(pair, i % kReuse), i)) std::this_thread::yield();
      }
    } else {
      for (std::uint64_t i = 0; i < objects; ++i) {
        auto v = map.wait_erase(address(pair, i % kReuse));
        if (!v || *v != i) ++failures;
      }
    }
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(map.size(), 0u);
}

// Compare-and-swap contention: every thread increments shared counters through
// update(); no increment may be lost or doubled.
TEST_P(LphashConcurrent, UpdateCountersUnderContention) {
  const unsigned n = GetParam();
  constexpr std::uint64_t kKeys = 64;
  const std::uint64_t increments = scaled(100'000);
  Map map(kKeys);
  for (std::uint64_t k = 0; k < kKeys; ++k) ASSERT_TRUE(map.insert(address(0, k), 0));
  std::atomic<std::uint64_t> mismatches{0};
  run_threads(n, [&](unsigned t) {
    std::mt19937_64 rng(t);
    for (std::uint64_t i = 0; i < increments; ++i) {
      const std::uint64_t key = address(0, rng() % kKeys);
      std::uint64_t expected = *map.find(key);
      while (map.update(key, expected, expected + 1) != UpdateResult::kUpdated) {
        mismatches.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  std::uint64_t total = 0;
  map.for_each([&](std::uint64_t, std::uint64_t v) { total += v; });
  EXPECT_EQ(total, increments * n);
  EXPECT_EQ(map.size(), kKeys);
}

// Growth while in use: writers insert from a tiny hint while readers check that every
// key a writer has published is found, through every migration.
TEST_P(LphashConcurrent, GrowthNeverLosesPublishedKeys) {
  const unsigned n = GetParam();
  const unsigned writers = std::max(1u, n / 2);
  const std::uint64_t per_writer = scaled(400'000) / writers;
  Map map(1);
  std::vector<std::atomic<std::uint64_t>> published(writers);
  std::atomic<unsigned> writers_done{0};
  std::atomic<int> failures{0};
  run_threads(n, [&](unsigned t) {
    if (t < writers) {
      for (std::uint64_t i = 0; i < per_writer; ++i) {
        if (!map.insert(address(t, i), i + 1)) ++failures;
        published[t].store(i + 1, std::memory_order_release);
      }
      writers_done.fetch_add(1);
      return;
    }
    std::mt19937_64 rng(t);
    while (writers_done.load() < writers) {
      const unsigned w = static_cast<unsigned>(rng() % writers);
      const std::uint64_t count = published[w].load(std::memory_order_acquire);
      if (count == 0) continue;
      const std::uint64_t i = rng() % count;
      auto v = map.find(address(w, i));
      if (!v || *v != i + 1) ++failures;
    }
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(map.size(), per_writer * writers);
  for (unsigned w = 0; w < writers; ++w) {
    for (std::uint64_t i = 0; i < per_writer; ++i) {
      ASSERT_EQ(map.find(address(w, i)), std::optional<std::uint64_t>(i + 1));
    }
  }
  EXPECT_GE(map.capacity(), per_writer * writers);
}

INSTANTIATE_TEST_SUITE_P(Threads, LphashConcurrent, ::testing::Values(2u, 4u, 8u),
                         [](const auto& info) { return std::to_string(info.param) + "threads"; });

}  // namespace
