// Which time stamps the hot path takes: a clock reading per event while more than one
// thread records, one reading per run of events while a single thread does.
//
// Exact stamps exist to order address reuse across threads: a free must sort before
// the allocation, by any thread, that returns its address. A thread that is the only
// one recording has nothing to order against, so it reads the clock once per run of
// up to kCoarseRunEvents events and the run's other events repeat that reading (a
// zero time delta, FORMAT.md "Coarse stamps"). A repeated reading is at or before the
// event, never after it.
//
// Who may run coarsely is decided per *period*, in one process-wide word: the period
// number and its owner (none yet, one thread, or shared). The writer thread starts a
// new period at every wake-up (at least every ~20 ms: the bound of a run in time),
// and so do a thread's registration and its exit (pthread key destructor), and fork.
// The first thread to record in a period claims it (one CAS) and may stamp coarsely
// for as long as the word stays exactly as it claimed it; any other thread that
// records in that period marks it shared (one CAS), ending the owner's run, and
// stamps exactly, as does everyone until the next period. So a thread that is alone
// pays for a clock reading every 64 events, while threads that record at the same
// time pay as before plus, per thread and period, one CAS.
//
// Why the order the replay needs holds:
// - A coarse stamp is a lower bound, so a coarse free is never stamped late.
// - A coarse allocation by the owner T of a period: a free of the same address by
//   another thread U either came before T claimed the period (T's reading is later
//   than it) or in the period; then U marked the period shared before its real free,
//   the allocator ordered that free before T's allocation (that is how the memory
//   changed hands), and T, which loads the word after its real call returns, sees
//   the change and reads the clock: its allocation is stamped after the free.
// - Across threads the merge gives the order exact stamps would: another thread's
//   event ends the run before its own stamp is taken, and the owner looks at the word
//   at every event, so every repeated reading sorts before the other thread's events
//   that came after it.
// - pthread_create (hooked) marks the period shared before the real call, and a new
//   thread's first event shares it too (then starts a new period once registered), so
//   threads made with clone() are covered the same way, at their first event.
#pragma once

#include <atomic>
#include <cstdint>

#include "event_clock.hpp"
#include "thread_state.hpp"

namespace mtreplay::recorder {

// At most this many events share one clock reading.
inline constexpr uint32_t kCoarseRunEvents = 64;

struct alignas(64) StampGate {
  static constexpr unsigned kOwnerBits = 24;
  static constexpr uint64_t kOwnerMask = (uint64_t{1} << kOwnerBits) - 1;
  static constexpr uint64_t kShared = kOwnerMask;  // owner value: more than one thread
  // (period << kOwnerBits) | owner; owner 0: nobody yet, else a stamp_id or kShared.
  // Read on every event; written a few times per period.
  std::atomic<uint64_t> word{0};
};

extern StampGate stamp_gate;

inline uint64_t stamp_owner(uint64_t w) {
  return w & StampGate::kOwnerMask;
}
inline uint64_t stamp_period_start(uint64_t w) {
  return w & ~StampGate::kOwnerMask;
}

// A clock reading for the next event; starts a coarse run if the thread owns (or can
// claim) the current period, else ends the owner's run.
inline uint64_t read_stamp(ThreadState& t) {
  // The recorder's own calls (the writer thread's, say) are not recorded: they must not
  // end a run either.
  if (t.in_hook) return now_ns();
  uint64_t w = stamp_gate.word.load(std::memory_order_acquire);
  bool coarse = false;
  for (;;) {
    const uint64_t owner = stamp_owner(w);
    if (owner == StampGate::kShared) break;
    if (t.stamp_id != 0 && owner == t.stamp_id) {
      coarse = true;
      break;
    }
    const uint64_t want =
        stamp_period_start(w) | (owner == 0 && t.stamp_id != 0 ? t.stamp_id : StampGate::kShared);
    if (stamp_gate.word.compare_exchange_weak(w, want, std::memory_order_acq_rel)) {
      coarse = stamp_owner(want) == t.stamp_id;
      w = want;
      break;
    }
  }
  const uint64_t now = now_ns();
  t.coarse_time_ns = now;
  t.coarse_word = w;
  t.coarse_left = coarse ? kCoarseRunEvents - 1 : 0;
  t.stamp_exact = true;
  return now;
}

// The stamp of the next event: the run's reading while the run lasts, else a new one.
inline uint64_t stamp(ThreadState& t) {
  if (__builtin_expect(
          t.coarse_left != 0 && t.coarse_word == stamp_gate.word.load(std::memory_order_relaxed),
          1)) {
    --t.coarse_left;
    t.stamp_exact = false;
    return t.coarse_time_ns;
  }
  return read_stamp(t);
}

// Ends every coarse run: a new period, nobody's yet (the writer's tick; fork child).
inline void new_stamp_period() {
  uint64_t w = stamp_gate.word.load(std::memory_order_relaxed);
  while (!stamp_gate.word.compare_exchange_weak(
      w, stamp_period_start(w) + (uint64_t{1} << StampGate::kOwnerBits),
      std::memory_order_acq_rel)) {
  }
}

// Ends the owner's run and keeps everyone exact until the next period (pthread_create).
inline void share_stamp_period() {
  uint64_t w = stamp_gate.word.load(std::memory_order_relaxed);
  while (stamp_owner(w) != StampGate::kShared &&
         !stamp_gate.word.compare_exchange_weak(w, stamp_period_start(w) | StampGate::kShared,
                                                std::memory_order_acq_rel)) {
  }
}

}  // namespace mtreplay::recorder
