// A bounded single-producer single-consumer ring of pointers. The hand-off itself must
// cost next to nothing and never allocate, so that the benchmark measures the
// allocator's cross-thread free path rather than a queue.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <new>
#include <thread>

namespace mtreplay::allocbench {

template <std::size_t Capacity>
class SpscRing {
  static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

 public:
  void push(void* item) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t depth = tail - head_.load(std::memory_order_acquire);
    depth_sum_ += depth;
    full_pushes_ += depth == Capacity;
    while (depth == Capacity) {
      std::this_thread::yield();
      depth = tail - head_.load(std::memory_order_acquire);
    }
    slots_[tail & (Capacity - 1)] = item;
    tail_.store(tail + 1, std::memory_order_release);
  }

  // How far the consumer lagged, seen by the producer at its pushes (read once both
  // threads are done): a full queue holds Capacity blocks in flight, so the peak RSS of
  // a run depends on it as much as on the allocator's own overhead.
  double mean_depth() const {
    const std::size_t pushes = tail_.load(std::memory_order_relaxed);
    return pushes == 0 ? 0.0 : static_cast<double>(depth_sum_) / static_cast<double>(pushes);
  }
  std::size_t full_pushes() const { return full_pushes_; }

  void* pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    while (tail_.load(std::memory_order_acquire) == head) std::this_thread::yield();
    void* item = slots_[head & (Capacity - 1)];
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

 private:
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t depth_sum_ = 0;  // the producer's alone, beside tail_
  std::size_t full_pushes_ = 0;
  alignas(64) std::array<void*, Capacity> slots_{};
};

}  // namespace mtreplay::allocbench
