// Races of the cross-thread free path, met on purpose: linked with arena_core_widened,
// the allocator built with its race windows widened (a yield where a remote free has
// marked a block pending and not yet told the owner, and where it has won the push and
// not yet pushed the slab onto its owner's inbox). Each test is a producer/consumer
// pair shaped like the benchmark that crashed under load
// (tests/bench/allocators/producer_consumer.cpp): every block the producer makes is
// freed by the consumer, and both churn short-lived blocks of the same
// small classes, so that slabs empty through remote frees, are handed over and are
// adopted by either thread. A bug here shows as a crash, an abort or a block handed out
// twice (its contents overwritten).
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "arena/arena.h"

namespace {

int scale() {
  const char* s = std::getenv("ARENA_STRESS_SCALE");
  return s != nullptr && std::atoi(s) > 0 ? std::atoi(s) : 1;
}

// Single producer, single consumer, no allocation of its own.
class Ring {
 public:
  void push(void* item) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    while (tail - head_.load(std::memory_order_acquire) == kCapacity) std::this_thread::yield();
    slots_[tail % kCapacity] = item;
    tail_.store(tail + 1, std::memory_order_release);
  }
  void* pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    while (tail_.load(std::memory_order_acquire) == head) std::this_thread::yield();
    void* item = slots_[head % kCapacity];
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

 private:
  static constexpr std::size_t kCapacity = 256;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) void* slots_[kCapacity] = {};
};

// A block's first 16 bytes say its size, which thread made it and a serial, its last byte
// repeats the serial: a block handed out twice is overwritten by its second owner.
struct Header {
  std::uint32_t size;
  std::uint32_t maker;
  std::uint64_t serial;
};

void* make(std::size_t size, std::uint32_t maker, std::uint64_t serial) {
  void* p = arena_malloc(size);
  if (p == nullptr) std::abort();
  const Header header{static_cast<std::uint32_t>(size), maker, serial};
  std::memcpy(p, &header, sizeof header);
  static_cast<unsigned char*>(p)[size - 1] = static_cast<unsigned char>(serial);
  return p;
}

bool intact(void* p, std::uint32_t maker) {
  Header header;
  std::memcpy(&header, p, sizeof header);
  return header.maker == maker && header.size >= sizeof(Header) &&
         static_cast<unsigned char*>(p)[header.size - 1] ==
             static_cast<unsigned char>(header.serial);
}

// Short-lived local blocks of the small classes, as each stage of a pipeline makes.
class Churn {
 public:
  Churn(std::uint32_t maker, std::uint64_t seed) : maker_{maker}, random_{seed}, window_(48) {}
  ~Churn() {
    for (void* p : window_)
      if (p != nullptr) arena_free(p);
  }
  Churn(const Churn&) = delete;
  Churn& operator=(const Churn&) = delete;
  bool step() {
    void*& slot = window_[next_++ % window_.size()];
    bool ok = true;
    if (slot != nullptr) {
      ok = intact(slot, maker_);
      arena_free(slot);
    }
    slot = make(sizeof(Header) + random_() % 240, maker_, next_);
    return ok;
  }

 private:
  std::uint32_t maker_;
  std::mt19937_64 random_;
  std::vector<void*> window_;
  std::size_t next_ = 0;
};

// Message-like sizes: mostly small, some up to 4 KiB (slabs of 8-16 blocks, which empty
// often), a few medium blocks.
std::size_t message_size(std::mt19937_64& random) {
  const unsigned pick = random() % 100;
  if (pick < 60) return sizeof(Header) + random() % 240;
  if (pick < 98) return 1024 + random() % 3072;
  return 20'000 + random() % 40'000;
}

TEST(ArenaRace, SlabsEmptiedByRemoteFreesWhileTheirOwnerCollects) {
  const std::uint64_t transfers = 200'000 * static_cast<std::uint64_t>(scale());
  Ring ring;
  std::atomic<std::uint64_t> bad{0};
  std::thread consumer{[&] {
    Churn churn{2, 2};
    for (std::uint64_t i = 0; i < transfers; ++i) {
      void* p = ring.pop();
      if (!intact(p, 1)) bad.fetch_add(1, std::memory_order_relaxed);
      arena_free(p);
      if (!churn.step()) bad.fetch_add(1, std::memory_order_relaxed);
    }
  }};
  {
    Churn churn{1, 1};
    std::mt19937_64 random{1};
    for (std::uint64_t i = 0; i < transfers; ++i) {
      ring.push(make(message_size(random), 1, i));
      if (!churn.step()) bad.fetch_add(1, std::memory_order_relaxed);
    }
  }
  consumer.join();
  EXPECT_EQ(bad.load(), 0u) << "blocks overwritten: handed out twice";
  arena_stats stats{};
  arena_get_stats(&stats);
  EXPECT_GT(stats.pages_in_use, 0u);
}

// Threads that make blocks and exit while other threads still free them: the frees after
// the exit land in slabs the exit gave up (unowned), those just before it in slabs the
// exiting thread must not give up until it has collected them (queued on its inbox: it
// drains and retries). Each round's blocks all come back: after the last round and a
// trim, the pages in use are the main thread's few, not the rounds' tens of MiB.
TEST(ArenaRace, OwnersExitWhileOtherThreadsFreeIntoTheirSlabs) {
  const int rounds = 12 * scale();
  constexpr int kPairs = 2;
  constexpr std::uint64_t kBlocks = 3000;
  std::atomic<std::uint64_t> bad{0};
  Churn mine{9, 9};
  for (int round = 0; round < rounds; ++round) {
    Ring rings[kPairs];
    std::vector<std::thread> threads;
    for (int pair = 0; pair < kPairs; ++pair) {
      const auto maker = static_cast<std::uint32_t>(10 + pair);
      threads.emplace_back([&, pair, maker] {
        std::mt19937_64 random{static_cast<std::uint64_t>(round * kPairs + pair)};
        for (std::uint64_t i = 0; i < kBlocks; ++i)
          rings[pair].push(make(message_size(random), maker, i));
      });
      threads.emplace_back([&, pair, maker] {
        Churn churn{static_cast<std::uint32_t>(20 + pair), static_cast<std::uint64_t>(pair)};
        for (std::uint64_t i = 0; i < kBlocks; ++i) {
          void* p = rings[pair].pop();
          if (!intact(p, maker)) bad.fetch_add(1, std::memory_order_relaxed);
          arena_free(p);
          if (!churn.step()) bad.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    // The slabs the round's threads gave up are reused here, or by the next round.
    for (int i = 0; i < 2000; ++i)
      if (!mine.step()) bad.fetch_add(1, std::memory_order_relaxed);
  }
  EXPECT_EQ(bad.load(), 0u) << "blocks overwritten: handed out twice";
  arena_trim();
  arena_stats stats{};
  arena_get_stats(&stats);
  // The rounds made about 12 x 2 x 3000 blocks of 1.5 KiB on average (100 MiB): any of
  // them not come back would show by far.
  EXPECT_LT(stats.pages_in_use, 2048u);
}

}  // namespace
