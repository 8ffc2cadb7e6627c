// A bounded single-producer single-consumer ring of pointers. The hand-off itself must
// cost next to nothing and never allocate, so that the benchmark measures the
// allocator's cross-thread free path rather than a queue.
//
// Each side keeps its own copy of the other's index and reloads it only when the ring
// looks full (producer) or empty (consumer). Reading the other's index at every push and
// pop, as this ring first did, cost a cross-core cache miss a transfer whenever the
// queue ran near empty: a third of the producer's samples (BENCHMARKS.md, #12, Session
// 25), so that an allocator with a faster consumer made the producer slower.
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
  // `on_full(n)` runs when the push finds the ring full for the nth time, before it
  // waits for the consumer: the moment the most blocks are in flight.
  template <typename OnFull>
  void push(void* item, OnFull&& on_full) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    // One push in kDepthSampleEvery reads the consumer's index to sample the depth.
    if ((tail & (kDepthSampleEvery - 1)) == 0) {
      head_seen_ = head_.load(std::memory_order_acquire);
      depth_sum_ += tail - head_seen_;
      ++depth_samples_;
    }
    if (tail - head_seen_ == Capacity) {
      head_seen_ = head_.load(std::memory_order_acquire);
      if (tail - head_seen_ == Capacity) {
        on_full(++full_pushes_);
        do {
          std::this_thread::yield();
          head_seen_ = head_.load(std::memory_order_acquire);
        } while (tail - head_seen_ == Capacity);
      }
    }
    slots_[tail & (Capacity - 1)] = item;
    tail_.store(tail + 1, std::memory_order_release);
  }

  // How far the consumer lagged, sampled by the producer (read once both threads are
  // done): a full queue holds Capacity blocks in flight, so the peak RSS of a run
  // depends on it as much as on the allocator's own overhead.
  double mean_depth() const {
    return depth_samples_ == 0
               ? 0.0
               : static_cast<double>(depth_sum_) / static_cast<double>(depth_samples_);
  }
  std::size_t full_pushes() const { return full_pushes_; }

  void* pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    while (head == tail_seen_) {
      tail_seen_ = tail_.load(std::memory_order_acquire);
      if (head == tail_seen_) std::this_thread::yield();
    }
    void* item = slots_[head & (Capacity - 1)];
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

 private:
  static constexpr std::size_t kDepthSampleEvery = 64;
  // The consumer's line: its index and its copy of the producer's.
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t tail_seen_ = 0;
  // The producer's line.
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t head_seen_ = 0;
  std::size_t depth_sum_ = 0;
  std::size_t depth_samples_ = 0;
  std::size_t full_pushes_ = 0;
  alignas(64) std::array<void*, Capacity> slots_{};
};

}  // namespace mtreplay::allocbench
