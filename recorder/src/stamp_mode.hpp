// Which time stamps the hot path takes: exact ones (a clock reading per event) while
// the process has more than one recording thread, coarse ones while it has one.
//
// Exact stamps exist to order address reuse across threads: a free must sort before
// the allocation, by any thread, that returns its address. A process with one thread
// has nothing to order across threads, so a thread that is alone reads the clock only
// every kCoarseRunEvents events and whenever the gate's generation changes (a thread
// appears, or the writer thread's tick, which bounds a run in time, ~20 ms); the events
// in between repeat that reading (a zero time delta, FORMAT.md "Coarse stamps"). A
// repeated reading is at or before the event, never after it.
//
// Why that is enough at the boundary (the second thread appears):
// - pthread_create (hooked) counts the new thread and moves the generation before the
//   real call, so the creating thread stamps exactly from then on; every coarse stamp
//   it wrote is at or before the call, hence before any event of the new thread.
// - A thread made otherwise (clone) counts itself at its first event, before the real
//   call of that event. If that event frees an address that the old thread then
//   allocates, the allocator orders the free before the allocation (that is how the
//   memory changed hands), so the old thread, which loads the generation after its
//   real call returns, sees it moved and reads the clock: its allocation is stamped
//   after the free. Events of the old thread that share no address with the new one
//   may still carry a coarse stamp until it notices (the lower bound of a run).
// - Back to one thread: a thread is uncounted only once the writer has found it gone
//   (after its last event), and the one left takes a fresh reading when it sees the
//   generation move, so its later coarse stamps are after every event of the gone
//   thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "event_clock.hpp"
#include "thread_state.hpp"

namespace mtreplay::recorder {

// At most this many events repeat one clock reading.
inline constexpr uint32_t kCoarseRunEvents = 64;

struct alignas(64) StampGate {
  // Moves whenever coarse runs must end: a thread is counted or uncounted, the writer
  // ticks. Read on every event; written rarely, so its cache line stays shared.
  std::atomic<uint32_t> generation{0};
  // Recording threads, plus threads made by pthread_create that have not recorded yet.
  std::atomic<uint32_t> threads{0};
  // Threads made by pthread_create that have not recorded yet (part of `threads`).
  std::atomic<uint32_t> unregistered{0};
};

extern StampGate stamp_gate;

// The clock reading behind the stamp of the next event, off the coarse fast path.
inline uint64_t read_stamp(ThreadState& t) {
  const uint32_t gen = stamp_gate.generation.load(std::memory_order_acquire);
  const bool alone = stamp_gate.threads.load(std::memory_order_acquire) <= 1;
  const uint64_t now = now_ns();
  t.coarse_time_ns = now;
  if (alone && t.chunk_coarse) {
    t.coarse_left = kCoarseRunEvents - 1;
    t.coarse_generation = gen;
  } else {
    t.coarse_left = 0;
    // Alone but filling a chunk of exact stamps: the slow path starts a coarse chunk.
    if (alone) t.flush_deadline_ns = 0;
  }
  return now;
}

// The stamp of the next event: the last reading while a coarse run lasts, else a new one.
inline uint64_t stamp(ThreadState& t) {
  if (__builtin_expect(t.coarse_left != 0, 1) &&
      t.coarse_generation == stamp_gate.generation.load(std::memory_order_relaxed)) {
    --t.coarse_left;
    return t.coarse_time_ns;
  }
  return read_stamp(t);
}

// A thread was counted or uncounted, or time passed: every coarse run ends.
inline void end_coarse_runs() {
  stamp_gate.generation.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace mtreplay::recorder
