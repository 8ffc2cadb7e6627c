// Spin-then-futex waiting on 32-bit words that live in the worker's own mmapped
// tables (never in memory from the allocator under test).
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <x86intrin.h>
#endif

namespace mtreplay::replay {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

inline uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
#endif
}

inline void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

inline void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

// An object's stage word: how many touches of it are complete; the top bit says a
// thread sleeps on it. Only the single thread allowed to touch the object next
// publishes, so a plain exchange suffices.
inline constexpr uint32_t kSleeperBit = 0x80000000u;
// A pause costs up to ~140 cycles on recent x86: this spins for a few microseconds,
// about a cross-core hand-off, then yields a little before sleeping, so that on an
// oversubscribed machine the thread we wait for gets the core.
inline constexpr int kSpinsBeforeSleep = 128;
inline constexpr int kYieldsBeforeSleep = 4;

inline void publish_stage(std::atomic<uint32_t>& word, uint32_t stage) {
  if (word.exchange(stage, std::memory_order_release) & kSleeperBit) futex_wake_all(word);
}

// Returns true when it had to wait at all.
inline bool wait_stage(std::atomic<uint32_t>& word, uint32_t stage) {
  uint32_t value = word.load(std::memory_order_acquire);
  if ((value & ~kSleeperBit) >= stage) return false;
  for (int i = 0; i < kSpinsBeforeSleep; ++i) {
    cpu_relax();
    value = word.load(std::memory_order_acquire);
    if ((value & ~kSleeperBit) >= stage) return true;
  }
  for (int i = 0; i < kYieldsBeforeSleep; ++i) {
    sched_yield();
    if ((word.load(std::memory_order_acquire) & ~kSleeperBit) >= stage) return true;
  }
  for (;;) {
    value = word.load(std::memory_order_acquire);
    if ((value & ~kSleeperBit) >= stage) return true;
    if (!(value & kSleeperBit) &&
        !word.compare_exchange_weak(value, value | kSleeperBit, std::memory_order_acq_rel)) {
      continue;
    }
    futex_wait(word, value | kSleeperBit);
  }
}

// A thread's private wake-up word for serial hand-offs and the start gate.
struct alignas(64) Doorbell {
  std::atomic<uint32_t> generation{0};
  std::atomic<uint32_t> sleeping{0};

  void ring() {
    generation.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_seq_cst)) futex_wake_all(generation);
  }
  // Waits until done() holds; done() must become true before the matching ring().
  template <class Done>
  void wait(Done&& done) {
    for (int i = 0; i < kSpinsBeforeSleep; ++i) {
      if (done()) return;
      cpu_relax();
    }
    for (int i = 0; i < kYieldsBeforeSleep; ++i) {
      sched_yield();
      if (done()) return;
    }
    while (!done()) {
      sleeping.store(1, std::memory_order_seq_cst);
      uint32_t seen = generation.load(std::memory_order_seq_cst);
      if (done()) break;
      futex_wait(generation, seen);
    }
    sleeping.store(0, std::memory_order_relaxed);
  }
};

}  // namespace mtreplay::replay
