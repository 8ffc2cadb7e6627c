// Many threads allocating, resizing and freeing blocks of random sizes by every entry
// point, with frees and reallocs of blocks another thread made; contents are checked on
// every free and every realloc.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "problem_log.hpp"
#include "tracked_block.hpp"

namespace mtreplay::alloctest {
namespace {

constexpr int kThreads = 8;

// Slots shared by all threads: whoever finds a slot full resizes or frees a block that
// any thread may have made; whoever finds it empty makes one.
TEST(StressThreads, SharedSlotsWithCrossThreadReallocAndFree) {
  struct Slot {
    std::mutex mutex;
    TrackedBlock block;
  };
  std::vector<Slot> slots(1024);
  ProblemLog problems;
  const int operations = 10'000 * stress_scale();
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random{static_cast<std::uint64_t>(t) * 7919 + 1};
      for (int op = 0; op < operations; ++op) {
        Slot& slot = slots[random() % slots.size()];
        std::lock_guard lock{slot.mutex};
        if (slot.block.block == nullptr) {
          const std::uint64_t tag = (static_cast<std::uint64_t>(t) << 40) | op;
          problems.add(make_block(random, tag, slot.block));
        } else if (random() % 3 == 0) {
          problems.add(resize_block(random, slot.block));
        } else {
          problems.add(check_and_free(slot.block));
        }
      }
    });
  }
  threads.clear();
  for (Slot& slot : slots) {
    if (slot.block.block != nullptr) problems.add(check_and_free(slot.block));
  }
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
}

// Each thread keeps its own blocks and runs realloc chains on them: the thread-local
// fast paths (tcache, per-thread arenas) with no sharing at all.
TEST(StressThreads, PrivateBlocksAndReallocChains) {
  ProblemLog problems;
  const int operations = 5'000 * stress_scale();
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random{static_cast<std::uint64_t>(t) + 100};
      std::vector<TrackedBlock> mine(256);
      for (int op = 0; op < operations; ++op) {
        TrackedBlock& block = mine[random() % mine.size()];
        if (block.block == nullptr) {
          problems.add(make_block(random, op, block));
        } else if (random() % 2 == 0) {
          for (int link = 0; link < 4; ++link) problems.add(resize_block(random, block));
        } else {
          problems.add(check_and_free(block));
        }
      }
      for (TrackedBlock& block : mine) {
        if (block.block != nullptr) problems.add(check_and_free(block));
      }
    });
  }
  threads.clear();
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
}

// Producers make blocks, consumers on other threads check and free them (sometimes
// after a realloc): every free is remote, the case per-thread caches must get right.
TEST(StressThreads, ProducersAndConsumers) {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<TrackedBlock> queue;
  constexpr std::size_t kQueueLimit = 4096;
  constexpr int kProducers = kThreads / 2;
  int producers_left = kProducers;
  ProblemLog problems;
  const int per_producer = 10'000 * stress_scale();

  std::vector<std::jthread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 random{static_cast<std::uint64_t>(p) + 1000};
      for (int i = 0; i < per_producer; ++i) {
        TrackedBlock block;
        const std::string problem = make_block(random, (std::uint64_t(p) << 32) | i, block);
        if (!problem.empty()) {
          problems.add(problem);
          continue;
        }
        std::unique_lock lock{mutex};
        changed.wait(lock, [&] { return queue.size() < kQueueLimit; });
        queue.push_back(block);
        changed.notify_all();
      }
      std::lock_guard lock{mutex};
      --producers_left;
      changed.notify_all();
    });
  }
  for (int c = 0; c < kThreads - kProducers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 random{static_cast<std::uint64_t>(c) + 2000};
      for (;;) {
        TrackedBlock block;
        {
          std::unique_lock lock{mutex};
          changed.wait(lock, [&] { return !queue.empty() || producers_left == 0; });
          if (queue.empty()) return;
          block = queue.front();
          queue.pop_front();
          changed.notify_all();
        }
        if (random() % 4 == 0) problems.add(resize_block(random, block));
        problems.add(check_and_free(block));
      }
    });
  }
  threads.clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
}

}  // namespace
}  // namespace mtreplay::alloctest
