// Multithreaded stress: every thread allocates random sizes (plain, zeroed, aligned,
// realloc chains), keeps some, and hands others to the next thread, which checks their
// contents and frees them (producer/consumer, so most frees cross threads).
// MTREPLAY_STRESS_ROUNDS scales it: the default is CI-sized, the `long` build is big.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "family_api.hpp"
#include "family_test.hpp"

#ifndef MTREPLAY_STRESS_ROUNDS
#define MTREPLAY_STRESS_ROUNDS 20000
#endif

namespace mtreplay::alloc::testing {
namespace {

struct Block {
  void* p;
  std::size_t size;
  std::uint64_t seed;
};

// A mailbox per thread; std::vector in the test is glibc's memory, not the allocator's.
struct Mailbox {
  std::mutex lock;
  std::vector<Block> blocks;
};

std::size_t stress_size(std::mt19937_64& rng) {
  std::uint64_t r = rng() % 100;
  if (r < 70) return rng() % 256;
  if (r < 95) return rng() % 4096;
  if (r < 99) return rng() % 100000;
  return rng() % 600000;
}

void stress(const FamilyApi& api, int threads, int rounds) {
  std::vector<Mailbox> mailboxes(threads);
  std::atomic<int> failures{0};
  auto worker = [&](int id) {
    std::mt19937_64 rng(id * 7919 + 1);
    std::vector<Block> mine;
    auto check_and_free = [&](const Block& b) {
      if (first_pattern_mismatch(b.p, b.size, b.seed) != b.size) ++failures;
      api.free(b.p);
    };
    for (int round = 0; round < rounds; ++round) {
      std::uint64_t seed = (std::uint64_t(id) << 40) | round;
      std::size_t n = stress_size(rng);
      void* p = nullptr;
      switch (rng() % 8) {
        case 0:
          p = api.calloc(1, n);
          for (std::size_t i = 0; p && i < n; ++i) {
            if (static_cast<char*>(p)[i]) {
              ++failures;
              break;
            }
          }
          break;
        case 1:
          p = api.memalign(std::size_t{64} << (rng() % 7), n);
          break;
        case 2:
          if (!mine.empty()) {  // one step of a realloc chain
            Block b = mine.back();
            mine.pop_back();
            std::size_t kept = b.size < n ? b.size : n;
            if (first_pattern_mismatch(b.p, b.size, b.seed) != b.size) ++failures;
            p = api.realloc(b.p, n ? n : 1);
            if (p && first_pattern_mismatch(p, kept, b.seed) != kept) ++failures;
            break;
          }
          [[fallthrough]];
        default:
          p = api.malloc(n);
      }
      if (!p) {
        ++failures;
        continue;
      }
      if (!aligned_to(p, 16)) ++failures;
      fill_pattern(p, n, seed);
      Block b{p, n, seed};
      if (rng() % 2) {
        Mailbox& next = mailboxes[(id + 1) % threads];
        std::lock_guard guard(next.lock);
        next.blocks.push_back(b);
      } else {
        mine.push_back(b);
      }
      if (mine.size() > 200) {
        for (std::size_t i = 0; i < 100; ++i) check_and_free(mine[i]);
        mine.erase(mine.begin(), mine.begin() + 100);
      }
      if (round % 64 == 0) {
        std::vector<Block> received;
        {
          std::lock_guard guard(mailboxes[id].lock);
          received.swap(mailboxes[id].blocks);
        }
        for (const Block& r : received) check_and_free(r);
      }
    }
    for (const Block& b : mine) check_and_free(b);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& t : pool) t.join();
  for (Mailbox& m : mailboxes) {
    for (const Block& b : m.blocks) {
      if (first_pattern_mismatch(b.p, b.size, b.seed) != b.size) ++failures;
      api.free(b.p);
    }
  }
  EXPECT_EQ(failures.load(), 0) << "blocks lost contents, were misaligned or not returned";
  if (api.check) {
    EXPECT_EQ(api.check(), 0u);
  }
}

TEST_P(FamilyTest, ThreadsWithCrossThreadFreesKeepEveryBlockIntact) {
  stress(api(), 4, MTREPLAY_STRESS_ROUNDS);
}

TEST_P(FamilyTest, ManyShortLivedThreads) {
  for (int wave = 0; wave < 10; ++wave) stress(api(), 8, MTREPLAY_STRESS_ROUNDS / 40);
}

}  // namespace
}  // namespace mtreplay::alloc::testing
