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
    while (tail - head_.load(std::memory_order_acquire) == Capacity) std::this_thread::yield();
    slots_[tail & (Capacity - 1)] = item;
    tail_.store(tail + 1, std::memory_order_release);
  }

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
  alignas(64) std::array<void*, Capacity> slots_{};
};

}  // namespace mtreplay::allocbench
