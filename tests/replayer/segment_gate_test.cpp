// The gate between a streamed plan's segments, with threads and no worker process (also
// under TSan): what the coordinator writes before a release is what every runner reads
// after it, what runners write before they arrive is what the coordinator reads after
// wait_all, runners may leave for good at any segment, and no run hangs.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "segment_gate.hpp"

namespace mtreplay::replay {
namespace {

struct Round {
  uint32_t threads;
  uint32_t segments;
  uint64_t seed;
};

void run(const Round& round) {
  const uint32_t threads = round.threads, segments = round.segments;
  std::mt19937_64 rng(round.seed);
  // The segment after which each runner's recorded thread exits (the last: never).
  std::vector<uint32_t> exit_at(threads);
  for (auto& at : exit_at) at = static_cast<uint32_t>(rng() % segments);
  exit_at[0] = segments - 1;

  SegmentGate gate;
  std::vector<uint64_t> input(threads, 0), output(threads, 0), ran(threads, 0);
  std::vector<uint8_t> exited(threads, 0);  // plain memory: ordered by the gate alone
  std::vector<std::thread> runners;
  for (uint32_t slot = 0; slot < threads; ++slot) {
    runners.emplace_back([&, slot] {
      for (uint32_t k = 0;; ++k) {
        gate.await(k);
        output[slot] += input[slot] * 2;  // the coordinator's write, read back
        ++ran[slot];
        const bool exits = k == exit_at[slot] || k + 1 == segments;
        if (exits) exited[slot] = 1;
        gate.arrive();
        if (exits) return;
      }
    });
  }
  uint64_t active = threads;
  std::vector<uint64_t> expected(threads, 0);
  for (uint32_t k = 0; k < segments; ++k) {
    for (uint32_t slot = 0; slot < threads; ++slot) {
      if (exited[slot]) continue;
      input[slot] = uint64_t{k} * 1000 + slot;
      expected[slot] += input[slot] * 2;
    }
    gate.release(k, static_cast<uint32_t>(active));
    gate.wait_all();
    active = 0;
    for (uint32_t slot = 0; slot < threads; ++slot) {
      if (!exited[slot]) ++active;
      ASSERT_EQ(output[slot], expected[slot]) << "slot " << slot << " segment " << k;
    }
  }
  for (auto& t : runners) t.join();
  for (uint32_t slot = 0; slot < threads; ++slot) {
    EXPECT_EQ(ran[slot], uint64_t{std::min(exit_at[slot], segments - 1)} + 1) << slot;
  }
}

TEST(SegmentGate, RunnersSeeEachSegmentAndTheCoordinatorSeesThem) {
  for (const Round& round : {Round{1, 50, 1}, Round{2, 2000, 2}, Round{4, 1000, 3},
                             Round{8, 300, 4}, Round{16, 100, 5}}) {
    SCOPED_TRACE(round.threads);
    run(round);
  }
}

}  // namespace
}  // namespace mtreplay::replay
