// Many threads allocating and freeing random sizes of every kind, handing blocks to
// each other (producer/consumer, so most frees cross arenas), growing blocks through
// realloc chains, and taking aligned blocks; every block's content is checked when it
// is freed. ARENA_STRESS_SCALE multiplies the rounds (the `long` run sets it).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "arena/arena.h"
#include "config.hpp"

namespace {

// Sanitizer builds run about ten times slower: fewer rounds keep them short.
#ifdef MTREPLAY_SANITIZE
constexpr int kBaseDivisor = 5;
#else
constexpr int kBaseDivisor = 1;
#endif

int scale() {
  const char* s = std::getenv("ARENA_STRESS_SCALE");
  return s != nullptr && std::atoi(s) > 0 ? std::atoi(s) : 1;
}

struct Block {
  unsigned char* p;
  std::size_t size;
  unsigned char tag;
};

std::size_t random_size(std::mt19937_64& rng) {
  const unsigned kind = rng() % 100;
  if (kind < 80) return rng() % 512;
  if (kind < 95) return 512 + rng() % arena::kMaxSmall;
  if (kind < 99) return arena::kMaxSmall + rng() % (arena::kMaxMedium - arena::kMaxSmall);
  return arena::kMaxMedium + rng() % (4 * arena::kMaxMedium);
}

// Medium blocks of the sizes a thread's cache keeps (arena::MediumCache).
std::size_t cacheable_medium_size(std::mt19937_64& rng) {
  return arena::kMaxSmall + 1 + rng() % (64 * 1024 - arena::kMaxSmall);
}

using SizeFn = std::size_t (*)(std::mt19937_64&);

Block make_block(std::mt19937_64& rng, SizeFn size_of = random_size) {
  const std::size_t size = size_of(rng);
  const auto tag = static_cast<unsigned char>(rng());
  unsigned char* p;
  switch (rng() % 8) {
    case 0:
      p = static_cast<unsigned char*>(arena_memalign(std::size_t{32} << (rng() % 10), size));
      break;
    case 1:
      p = static_cast<unsigned char*>(arena_calloc(1, size));
      break;
    default:
      p = static_cast<unsigned char*>(arena_malloc(size));
      break;
  }
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
  std::memset(p, tag, size);
  return {p, size, tag};
}

bool intact(const Block& b) {
  // The two ends and a stride through the middle: enough to see a shared block.
  if (b.size == 0) return true;
  for (std::size_t i = 0; i < b.size; i += 61)
    if (b.p[i] != b.tag) return false;
  return b.p[b.size - 1] == b.tag;
}

void check_and_free(const Block& b) {
  EXPECT_TRUE(intact(b)) << "block of " << b.size << " bytes was overwritten";
  arena_free(b.p);
}

class Channel {
 public:
  void push(Block b) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(b);
    }
    ready_.notify_one();
  }
  bool pop(Block& b) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return false;
    b = queue_.front();
    queue_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Block> queue_;
  bool closed_ = false;
};

TEST(ArenaStress, ProducersAndConsumersFreeEachOthersBlocks) {
  constexpr int kPairs = 3;
  const int rounds = 20000 / kBaseDivisor * scale();
  std::vector<Channel> channels(kPairs);
  std::vector<std::thread> threads;
  for (int t = 0; t < kPairs; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < rounds; ++i) channels[t].push(make_block(rng));
      channels[t].close();
    });
    threads.emplace_back([&, t] {
      Block b;
      while (channels[t].pop(b)) check_and_free(b);
    });
  }
  for (auto& th : threads) th.join();
}

// Frees the blocks the threads left in their shared slots.
void free_slots(std::vector<std::atomic<Block*>>& shared) {
  for (auto& slot : shared)
    if (std::unique_ptr<Block> b{slot.exchange(nullptr)}) check_and_free(*b);
}

void churn_realloc_and_swap(SizeFn size_of, int rounds) {
  constexpr int kThreads = 4;
  constexpr std::size_t kSlots = 256;
  // Shared slots: any thread may free a block another thread made.
  std::vector<std::atomic<Block*>> shared(kSlots);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      std::vector<Block> own;
      for (int i = 0; i < rounds; ++i) {
        const unsigned op = rng() % 10;
        if (op < 4 || own.empty()) {
          own.push_back(make_block(rng, size_of));
        } else if (op < 6) {
          const std::size_t k = rng() % own.size();
          check_and_free(own[k]);
          own[k] = own.back();
          own.pop_back();
        } else if (op < 8) {
          // Realloc chain step: grow or shrink, content kept up to the smaller size.
          Block& b = own[rng() % own.size()];
          EXPECT_TRUE(intact(b));
          const std::size_t size = size_of(rng);
          auto* p = static_cast<unsigned char*>(arena_realloc(b.p, size == 0 ? 1 : size));
          ASSERT_NE(p, nullptr);
          const std::size_t kept = std::min(b.size, size == 0 ? std::size_t{1} : size);
          for (std::size_t j = 0; j < kept; j += 61) ASSERT_EQ(p[j], b.tag);
          b.p = p;
          b.size = size == 0 ? 1 : size;
          std::memset(p, b.tag, b.size);
        } else {
          // Swap through a shared slot: the block is freed by whichever thread takes it.
          auto* mine = new Block(own.back());
          own.pop_back();
          Block* theirs = shared[rng() % kSlots].exchange(mine);
          if (theirs != nullptr) {
            own.push_back(*theirs);
            delete theirs;
          }
        }
        if (own.size() > 400) {
          for (const Block& b : own) check_and_free(b);
          own.clear();
        }
      }
      for (const Block& b : own) check_and_free(b);
    });
  }
  for (auto& th : threads) th.join();
  free_slots(shared);
}

TEST(ArenaStress, ThreadsChurnReallocChainsAndSwapBlocks) {
  churn_realloc_and_swap(random_size, 30000 / kBaseDivisor * scale());
}

// Blocks of 16-64 KiB: most frees go through the freeing thread's cache of medium
// blocks, the swapped ones to the locked path of the thread that did not allocate them.
TEST(ArenaStress, ThreadsChurnAndSwapMediumBlocksTheirCachesKeep) {
  churn_realloc_and_swap(cacheable_medium_size, 20000 / kBaseDivisor * scale());
}

// Threads that each replace blocks of one size at random (reuse mode: each free holds its
// block for the next malloc, allocator.cpp, hold_freed) while every eighth block goes
// through a shared slot to whichever thread takes it, whose free marks it pending in the
// owner's slab; the owners drain those while they hold blocks of the same slabs.
TEST(ArenaStress, ThreadsInReuseModeFreeEachOthersBlocks) {
  constexpr int kThreads = 4;
  constexpr std::size_t kLive = 3000;
  constexpr std::size_t kSlots = 64;
  const int rounds = 400000 / kBaseDivisor * scale();
  std::vector<std::atomic<Block*>> shared(kSlots);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(300 + t);
      const std::size_t size = t % 2 == 0 ? 224 : 96;
      auto fresh = [&] {
        auto tag = static_cast<unsigned char>(rng());
        auto* p = static_cast<unsigned char*>(arena_malloc(size));
        EXPECT_NE(p, nullptr);
        std::memset(p, tag, size);
        return Block{p, size, tag};
      };
      std::vector<Block> live;
      for (std::size_t i = 0; i < kLive; ++i) live.push_back(fresh());
      for (int i = 0; i < rounds; ++i) {
        Block& b = live[rng() % kLive];
        if (rng() % 8 == 0) {
          std::unique_ptr<Block> theirs{
              shared[rng() % kSlots].exchange(std::make_unique<Block>(b).release())};
          if (theirs) check_and_free(*theirs);
        } else {
          check_and_free(b);
        }
        b = fresh();
      }
      for (const Block& b : live) check_and_free(b);
    });
  }
  for (auto& th : threads) th.join();
  free_slots(shared);
}

}  // namespace
