// Where the runners of a streamed plan meet between segments (replayer/README.md,
// "Streaming"): the coordinator releases segment k to the runners still alive, each
// runner arrives when it is done with it (or leaves for good, its recorded thread having
// exited), and the coordinator swaps in the next segment once all have arrived.
// Everything the coordinator writes before release() is seen by the runners after
// await(), and everything a runner writes before arrive() by the coordinator after
// wait_all().
#pragma once

#include <atomic>
#include <cstdint>

#include "sync.hpp"

namespace mtreplay::replay {

class SegmentGate {
 public:
  // Coordinator: segment `index` may run, on `runners` runners.
  void release(uint32_t index, uint32_t runners) {
    running_.store(runners, std::memory_order_relaxed);
    generation_.store(index + 1, std::memory_order_release);
    futex_wake_all(generation_);
  }
  // Runner: returns once segment `index` is released.
  void await(uint32_t index) {
    while (generation_.load(std::memory_order_acquire) <= index) futex_wait(generation_, index);
  }
  // Runner: done with the released segment.
  void arrive() {
    if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake_all(running_);
  }
  // Coordinator: returns once every runner of the released segment has arrived.
  void wait_all() {
    for (uint32_t left; (left = running_.load(std::memory_order_acquire)) != 0;)
      futex_wait(running_, left);
  }

 private:
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> running_{0};
};

}  // namespace mtreplay::replay
