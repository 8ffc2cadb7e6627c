// wait_find / wait_erase: the spin-then-futex path, timeouts, and many sleepers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "mtreplay/lphash/pointer_map.hpp"
#include "test_scale.hpp"

namespace {

using Map = mtreplay::lphash::PointerMap<std::uint64_t>;
using namespace std::chrono_literals;

TEST(LphashWait, TimesOutOnAMissingKey) {
  Map map(16);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(map.wait_find(0x1230, 30ms).has_value());
  EXPECT_FALSE(map.wait_erase(0x1230, 10ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
}

TEST(LphashWait, PresentKeyReturnsAtOnce) {
  Map map(16);
  ASSERT_TRUE(map.insert(0x40, 7));
  EXPECT_EQ(map.wait_find(0x40, 0ns), std::optional<std::uint64_t>(7));
  EXPECT_EQ(map.wait_erase(0x40), std::optional<std::uint64_t>(7));
  EXPECT_FALSE(map.find(0x40).has_value());
}

// The waiter is asleep in the futex long before the insert comes.
TEST(LphashWait, SleeperIsWokenByInsert) {
  Map map(16);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto v = map.wait_erase(0x9990);
    got.store(v == std::optional<std::uint64_t>(42));
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  ASSERT_TRUE(map.insert(0x9990, 42));
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_FALSE(map.find(0x9990).has_value());
}

// Many sleepers sharing futex buckets; the producer inserts in shuffled order and
// occasionally pauses so some consumers do fall asleep. No wake-up may be lost: a lost
// one would show as a consumer timing out.
TEST(LphashWait, ManyWaitersShuffledInserts) {
  constexpr unsigned kConsumers = 4;
  const std::uint64_t keys = lphash_test::scaled(40'000);
  Map map(64);
  std::vector<std::uint64_t> order(keys);
  for (std::uint64_t i = 0; i < keys; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
  std::atomic<int> failures{0};
  std::vector<std::thread> consumers;
  for (unsigned c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      for (std::uint64_t i = c; i < keys; i += kConsumers) {
        auto v = map.wait_erase(0x10'0000 + 16 * i, 20s);
        if (!v || *v != i * 3) ++failures;
      }
    });
  }
  for (std::uint64_t n = 0; n < keys; ++n) {
    ASSERT_TRUE(map.insert(0x10'0000 + 16 * order[n], order[n] * 3));
    if (n % 4096 == 0) std::this_thread::sleep_for(1ms);
  }
  for (auto& t : consumers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(map.size(), 0u);
}

}  // namespace
