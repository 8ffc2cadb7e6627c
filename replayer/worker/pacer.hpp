// Paced parallel replay: keeps a replay thread within a window of recorded time of
// every other unfinished thread (--pace), and optionally no earlier than its recorded
// time since the start (--timing recorded|scaled:F).
//
// Positions are not published separately: a thread's position is the pace key of its
// next op, read from the plan at the index its progress counter (stored before each op)
// names, so pacing adds no store to the hot loop. Keys never decrease along the plan's
// serial order, so the pending op earliest in that order is always inside the window
// and its dependencies are done: the replay cannot deadlock (replayer/README.md).
//
// The loop's checks are two compares: `key <= bound_`, where the bound is the smallest
// position of the other threads plus the window (capped by what the replay clock
// allows), recomputed only when an op falls outside it; and `key >= wake_key`, which
// tells a thread that another one sleeps until this thread gets that far.
//
// A thread outside the window waits until the laggard is half a window past the point
// that admits its op, so that a wait buys a stretch of ops. It spins while the laggard
// moves: a futex wake-up takes longer than a window of replay time (tens of us), and a
// sleeper woken that late finds the other thread a window ahead, which then sleeps in
// turn, and the two threads took turns instead of running side by side. Only when the
// laggard stands still (descheduled, or blocked itself) does the waiter yield, then
// sleep: it names the key it needs in the laggard's PaceSlot and sleeps on its bell;
// the laggard rings it when it passes that key or finishes. The wake-up is not fenced
// against the waiter's check (that would cost every op a full fence), so the sleep has
// a short timeout: a missed ring costs at most that, never a hang.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>

#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/results_region.hpp"
#include "sync.hpp"

namespace mtreplay::replay {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

inline uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// One per replay thread, in the worker's own mapped tables.
struct alignas(64) PaceSlot {
  std::atomic<uint64_t> wake_key{UINT64_MAX};  // the smallest key a sleeper waits for
  std::atomic<uint32_t> bell{0};
};

// What every runner's pacer shares: the plan, the progress counters, the settings.
struct PaceSettings {
  uint64_t window_ns = 0;  // 0: no pacing between threads
  bool timed = false;      // --timing recorded or scaled
  double scale = 1.0;      // replay ns per recorded ns
  uint64_t origin_ns = 0;  // the smallest pace key: recorded time of the replay's start
  uint64_t start_ns = 0;   // CLOCK_MONOTONIC when the runners were released
  PaceSlot* slots = nullptr;

  bool active() const { return window_ns != 0 || timed; }
};

class Pacer {
 public:
  Pacer(const PlanView& plan, ResultsView results, const PaceSettings& settings, uint32_t slot)
      : plan_(plan),
        results_(results),
        settings_(settings),
        slot_(slot),
        keys_(plan.pace(slot)),
        own_(settings.slots[slot]) {}

  uint64_t key(uint64_t index) const { return keys_[index]; }
  bool admits(uint64_t key) const { return key <= bound_; }
  // This thread reached `key`: does another thread sleep until it gets here?
  bool awaited(uint64_t key) const { return key >= own_.wake_key.load(std::memory_order_relaxed); }

  // Wakes the threads waiting for this one to reach `key` (UINT64_MAX: it finished, or
  // it is about to block, and they should look again rather than wait for it).
  void ring(uint64_t key) {
    uint64_t wanted = own_.wake_key.load(std::memory_order_relaxed);
    if (key < wanted || wanted == UINT64_MAX) return;
    own_.wake_key.store(UINT64_MAX, std::memory_order_relaxed);
    own_.bell.fetch_add(1, std::memory_order_release);
    futex_wake_all(own_.bell);
  }

  // Returns once the op with this key (whose progress is already published) may run.
  void hold(uint64_t key, ThreadStats& stats) {
    if (settings_.timed) wait_for_recorded_time(key, stats);
    uint32_t laggard = 0;
    bound_ = pace_bound(laggard);
    if (!admits(key)) {
      uint64_t start = ticks(), cpu = thread_cpu_ns();
      wait_for(laggard, key);
      stats.pace_wait_ticks += ticks() - start;
      // Spinning is the pacer's work, not the allocator's: a program's thread that waits
      // for another blocks and spends nothing.
      stats.wait_cpu_ns += thread_cpu_ns() - cpu;
    }
    if (settings_.timed) bound_ = std::min(bound_, clock_bound());
  }

 private:
  static constexpr int kPausesPerPoll = 32;          // ~1 us between looks at the laggard
  static constexpr uint64_t kYieldAfterNs = 10'000;  // the laggard stood still this long
  static constexpr uint64_t kSleepAfterNs = 25'000;
  static constexpr uint64_t kSpinAtMostNs = 250'000;  // a wait longer than this sleeps
  static constexpr long kSleepTimeoutNs = 200'000;

  // Until the laggard (any thread holding this one back) is half a window past the
  // point that admits this op: spins while it moves, yields, then sleeps once it stands
  // still (top of file).
  void wait_for(uint32_t& laggard, uint64_t key) {
    const uint64_t half = settings_.window_ns / 2;
    const uint64_t start = monotonic_ns();
    uint64_t seen = UINT64_MAX, seen_at = start;
    for (;;) {
      const uint64_t now = monotonic_ns();
      const uint64_t next = results_.stats(laggard).progress.load(std::memory_order_relaxed);
      if (next != seen) seen = next, seen_at = now;
      const uint64_t still = now - seen_at;
      if (still >= kSleepAfterNs || now - start >= kSpinAtMostNs) {
        ring(UINT64_MAX);  // this thread blocks: its own sleepers look again
        sleep_until_passed(laggard, key - std::min(key, half));
        seen = UINT64_MAX;
      } else if (still >= kYieldAfterNs) {
        sched_yield();
      } else {
        for (int i = 0; i < kPausesPerPoll; ++i) cpu_relax();
      }
      bound_ = pace_bound(laggard);
      if (admits(key) && bound_ - key >= half) return;
    }
  }

  // The recorded position up to which this thread may run: the other threads' smallest
  // next key plus the window (a finished thread holds nobody back); `laggard` is the
  // thread with that key.
  uint64_t pace_bound(uint32_t& laggard) const {
    if (settings_.window_ns == 0) return UINT64_MAX;
    uint64_t lowest = UINT64_MAX;
    for (uint32_t other = 0; other < plan_.header().thread_count; ++other) {
      if (other == slot_) continue;
      uint64_t next = results_.stats(other).progress.load(std::memory_order_relaxed);
      if (next >= plan_.thread(other).op_count) continue;
      uint64_t key = plan_.pace(other)[next];
      if (key < lowest) lowest = key, laggard = other;
    }
    return lowest > UINT64_MAX - settings_.window_ns ? UINT64_MAX : lowest + settings_.window_ns;
  }

  // Sleeps on the laggard's bell until it reaches `needed` (or a timeout).
  void sleep_until_passed(uint32_t laggard, uint64_t needed) {
    PaceSlot& slot = settings_.slots[laggard];
    uint32_t seen = slot.bell.load(std::memory_order_acquire);
    uint64_t current = slot.wake_key.load(std::memory_order_relaxed);
    while (needed < current &&
           !slot.wake_key.compare_exchange_weak(current, needed, std::memory_order_seq_cst)) {
    }
    uint64_t next = results_.stats(laggard).progress.load(std::memory_order_seq_cst);
    if (next >= plan_.thread(laggard).op_count || plan_.pace(laggard)[next] >= needed) return;
    timespec timeout{0, kSleepTimeoutNs};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&slot.bell), FUTEX_WAIT_PRIVATE, seen, &timeout,
            nullptr, 0);
  }

  // The recorded time the replay clock has reached (UINT64_MAX when untimed).
  uint64_t clock_bound() const {
    if (!settings_.timed) return UINT64_MAX;
    uint64_t elapsed = monotonic_ns() - settings_.start_ns;
    return settings_.origin_ns +
           static_cast<uint64_t>(static_cast<double>(elapsed) / settings_.scale);
  }

  // Sleeps through long recorded gaps, spins through short ones (the program was busy
  // then; a sleep would overshoot by the timer slack).
  void wait_for_recorded_time(uint64_t key, ThreadStats& stats) {
    uint64_t due =
        settings_.start_ns +
        static_cast<uint64_t>(static_cast<double>(key - std::min(key, settings_.origin_ns)) *
                              settings_.scale);
    uint64_t now = monotonic_ns();
    if (now >= due) return;
    uint64_t start = ticks(), cpu = thread_cpu_ns();
    constexpr uint64_t kSpinBelowNs = 200'000;
    if (due - now > kSpinBelowNs) {
      uint64_t wake = due - kSpinBelowNs / 2;
      timespec at{static_cast<time_t>(wake / 1'000'000'000u),
                  static_cast<long>(wake % 1'000'000'000u)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) != 0) {
      }
    }
    while (monotonic_ns() < due) cpu_relax();
    stats.timing_wait_ticks += ticks() - start;
    // The spin stands for the program's own work between its calls, the same under every
    // allocator: counted, it would fill every allocator's CPU time up to the recording's.
    stats.wait_cpu_ns += thread_cpu_ns() - cpu;
  }

  const PlanView& plan_;
  ResultsView results_;
  const PaceSettings& settings_;
  uint32_t slot_;
  const uint64_t* keys_;
  PaceSlot& own_;
  uint64_t bound_ = 0;
};

}  // namespace mtreplay::replay
