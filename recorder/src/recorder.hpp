// The recorder: one per process image. The hooks (interpose_*.cpp) call record() on
// every malloc-family call; everything else here is the rare path: start-up, a new
// thread, a full or stale chunk, fork, exec, exit.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>

#include "event_clock.hpp"
#include "mtreplay/traces/event.hpp"
#include "stamp_mode.hpp"
#include "thread_state.hpp"

namespace mtreplay::recorder {

// How long a chunk may hold events before its thread hands it over, so that a
// process killed by a signal loses at most this much of each active thread.
inline constexpr uint64_t kChunkMaxAgeNs = 100'000'000;

void record_slow(traces::Event e);

// The hot path: stamp (exact, or coarse while the thread is alone: stamp_mode.hpp), append to this
// thread's chunk, publish how far it got. No lock, no read-modify-write, no call: the slow path
// handles everything unusual, including calls made by the recorder itself (flush_deadline_ns is 0
// then). The event is built here, never in memory another function can see, so the compiler folds
// the encoder's per-op field table for the constant op of each hook.
inline void record(traces::Op op, uint64_t ptr, uint64_t size, uint64_t count, uint64_t align,
                   uint64_t result, int32_t error) {
  ThreadState& t = tls;
  traces::Event e;
  e.op = op;
  e.ptr = ptr;
  e.size = size;
  e.count = count;
  e.align = align;
  e.result = result;
  e.error = error;
  e.time_ns = stamp(t);
  if (__builtin_expect(e.time_ns < t.flush_deadline_ns && t.encoder.has_room(), 1)) {
    t.encoder.append_modeled(e);
    t.record->committed.store(
        Committed::pack(t.slot, t.encoder.count(), static_cast<uint32_t>(t.encoder.bytes().size())),
        std::memory_order_release);
    return;
  }
  record_slow(e);
}

// Marks the calling thread as inside the recorder for its lifetime: hooked calls it
// makes pass through untraced (and are counted).
class HookGuard {
 public:
  HookGuard();
  ~HookGuard();
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;

 private:
  bool was_in_hook_;
  int saved_errno_;
};

// Counts a call that was not recorded (bootstrap, the recorder's own calls).
void count_unrecorded();

// Once per process image: clock, configuration, the trace file. Safe to call from
// any hooked call once the real functions are resolved.
void ensure_initialized();
void start_writer_thread();

// The process is about to be replaced: records kExec, writes out everything every
// thread committed and the end-of-trace record (reason exec), then keeps the writer
// out (and this thread's hooked calls unrecorded) until it goes out of scope, which
// only happens if the exec failed: the end record is then removed again and recording
// simply continues.
class ExecFlush {
 public:
  ExecFlush();
  ~ExecFlush();
  ExecFlush(const ExecFlush&) = delete;
  ExecFlush& operator=(const ExecFlush&) = delete;

 private:
  std::optional<HookGuard> guard_;
  bool locked_ = false;
};

// The process is ending (exit, _exit): write out every thread's events, close.
void final_flush();
void join_writer_thread();

// pthread_create(): ends the current period's coarse run before the new thread exists
// (stamp_mode.hpp), so the calling thread's coarse stamps all precede it.
void before_thread_create();

// fork(): called around the real fork by the fork hook.
void before_fork();
void after_fork_in_parent();
void after_fork_in_child();

// Whether the calling process is the one that owns the trace (false in a vfork
// child, which shares our memory and must not touch the trace).
bool is_trace_owner();
uint32_t trace_owner_pid();
uint32_t exec_generation();
bool follow_exec();

}  // namespace mtreplay::recorder
