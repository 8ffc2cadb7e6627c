#include "recorder.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process_state.hpp"
#include "real_functions.hpp"
#include "trace_output.hpp"
#include "trace_sink.hpp"

namespace mtreplay::recorder {

constinit thread_local ThreadState tls __attribute__((tls_model("initial-exec")));
ProcessState process;
StampGate stamp_gate;

namespace {

uint32_t current_tid() {
  return static_cast<uint32_t>(syscall(SYS_gettid));
}

bool recording() {
  return process.enabled && !process.closed.load(std::memory_order_relaxed);
}

bool alone() {
  return stamp_gate.threads.load(std::memory_order_acquire) <= 1;
}

// Re-opens the fast path for this thread if it has a chunk to fill.
void open_gate(ThreadState& t) {
  t.flush_deadline_ns = (t.record && recording()) ? t.encoder.base_time_ns() + kChunkMaxAgeNs : 0;
}

void commit(ThreadState& t) {
  t.record->committed.store(
      Committed::pack(t.slot, t.encoder.count(), static_cast<uint32_t>(t.encoder.bytes().size())),
      std::memory_order_release);
}

// Waits until the writer has handed `slot` back, draining the ready chunks itself
// rather than spinning.
void wait_for_slot(ThreadRecord* rec, uint32_t slot) {
  ChunkSlot& s = rec->slots[slot];
  while (s.state.load(std::memory_order_acquire) != SlotState::kFilling) {
    if (process.closed.load(std::memory_order_acquire)) {
      s.state.store(SlotState::kFilling, std::memory_order_relaxed);  // nobody will write it
      return;
    }
    // The writer is behind (on a busy machine it may not even be scheduled): write
    // the ready chunks from this thread. If the writer holds the lock it is writing
    // them already; blocking on the lock then waits exactly as long as needed.
    sink::lock();
    sink::drain_all();
    sink::unlock();
  }
}

void begin_chunk(ThreadState& t, uint64_t now) {
  ThreadRecord* rec = t.record;
  wait_for_slot(rec, t.slot);
  t.encoder.reset(rec->chunk(t.slot), rec->chunk(t.slot) + kChunkBytes, now);
  // Coarse if the thread is alone, or still in a run of coarse stamps it began alone.
  t.chunk_coarse = alone() || t.coarse_left != 0;
  ChunkSlot& s = rec->slots[t.slot];
  s.info = {rec->thread_index, rec->os_tid, 0, now,
            t.chunk_coarse ? traces::format::kFrameCoarseTime : 0u};
  commit(t);
}

void publish_chunk(ThreadState& t) {
  if (t.encoder.count() == 0) return;
  ThreadRecord* rec = t.record;
  ChunkSlot& s = rec->slots[t.slot];
  s.bytes = static_cast<uint32_t>(t.encoder.bytes().size());
  s.info.event_count = t.encoder.count();
  s.info.base_time_ns = t.encoder.base_time_ns();
  // Withdraw the committed view first: once the slot is ready the writer owns it, and
  // must not also salvage it as a partial chunk.
  rec->committed.store(Committed::kNone, std::memory_order_release);
  s.state.store(SlotState::kReady, std::memory_order_release);
  sink::wake();
  t.slot = (t.slot + 1) % kSlotsPerThread;
}

void append(ThreadState& t, const traces::Event& e) {
  t.encoder.append(e);
  commit(t);
}

void on_thread_exit(void* rec_ptr) {
  // Other TLS destructors may still allocate after this one: the thread keeps
  // recording into its chunk, and the writer saves that chunk once the thread is gone.
  ThreadState& t = tls;
  auto* rec = static_cast<ThreadRecord*>(rec_ptr);
  if (t.record != rec || !recording()) return;
  HookGuard guard;
  publish_chunk(t);
  t.coarse_left = 0;  // the next event reads the clock: no stamp before the new base
  begin_chunk(t, now_ns());
  rec->state.store(RecordState::kExited, std::memory_order_release);
}

// Counts the calling thread among the recording ones (stamp_mode.hpp): a thread made
// by pthread_create was counted by its creator; any other counts itself now.
void count_this_thread() {
  uint32_t u = stamp_gate.unregistered.load(std::memory_order_acquire);
  while (u != 0) {
    if (stamp_gate.unregistered.compare_exchange_weak(u, u - 1, std::memory_order_acq_rel)) {
      end_coarse_runs();
      return;
    }
  }
  stamp_gate.threads.fetch_add(1, std::memory_order_acq_rel);
  end_coarse_runs();
}

bool register_thread(ThreadState& t, uint64_t now) {
  count_this_thread();
  const uint32_t tid = current_tid();
  const uint32_t index = process.next_thread_index.fetch_add(1, std::memory_order_relaxed);
  ThreadRecord* rec = registry.acquire(index, tid);
  if (!rec) {
    // Stays counted: another thread may run, and exact stamps are the safe side.
    return false;
  }
  t.record = rec;
  t.slot = 0;
  if (process.exit_key_created) pthread_setspecific(process.exit_key, rec);
  begin_chunk(t, now);
  traces::Event start;
  start.op = traces::Op::kThreadStart;
  start.time_ns = now;
  start.result = tid;
  append(t, start);
  return true;
}

bool open_trace_for_this_process(uint32_t parent_trace_pid, bool root) {
  process.parent_trace_pid = parent_trace_pid;
  const ProcessIdentity& id = read_process_identity();
  const OutputNameInputs name{process.config.output_pattern, process.pid, process.generation, root,
                              id.exe_basename};
  if (!expand_output_name(name, process.trace_path, sizeof process.trace_path)) {
    report("trace path too long, running untraced:", process.config.output_pattern, 0);
    return false;
  }
  if (!sink::open(process.trace_path, parent_trace_pid)) {
    report("cannot write trace", process.trace_path, errno);
    report("running untraced", "", 0);
    return false;
  }
  append_to_manifest(process.config.manifest, process.trace_path);
  return true;
}

}  // namespace

HookGuard::HookGuard() : was_in_hook_(tls.in_hook), saved_errno_(errno) {
  ThreadState& t = tls;
  t.in_hook = true;
  t.flush_deadline_ns = 0;
}

HookGuard::~HookGuard() {
  ThreadState& t = tls;
  t.in_hook = was_in_hook_;
  if (!was_in_hook_) open_gate(t);
  errno = saved_errno_;
}

void count_unrecorded() {
  process.unrecorded_calls.fetch_add(1, std::memory_order_relaxed);
}

void ensure_initialized() {
  if (process.init_state.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (!process.init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    while (process.init_state.load(std::memory_order_acquire) != 2) sched_yield();
    return;
  }
  HookGuard guard;
  read_config(process.config);
  calibrate_event_clock();
  process.pid = static_cast<uint32_t>(getpid());
  uint32_t parent_trace_pid = 0;
  bool root = true;
  if (process.config.exec_of_present) {
    root = false;
    if (process.config.exec_of_pid == process.pid) {
      // The same process after an exec: its earlier image wrote <pid>[.<gen>].
      process.generation = process.config.exec_of_generation + 1;
    }
    parent_trace_pid = process.config.exec_of_pid;
  }
  process.exit_key_created = pthread_key_create(&process.exit_key, on_thread_exit) == 0;
  process.enabled = open_trace_for_this_process(parent_trace_pid, root);
  process.init_state.store(2, std::memory_order_release);
}

void start_writer_thread() {
  HookGuard guard;
  sink::start_writer_thread();
}

void record_slow(traces::Event e) {
  ThreadState& t = tls;
  if (t.in_hook) {
    count_unrecorded();
    return;
  }
  HookGuard guard;
  if (process.init_state.load(std::memory_order_acquire) != 2) {
    ensure_initialized();
    e.time_ns = now_ns();  // the stamp was taken before the clock was calibrated
    t.coarse_left = 0;
  }
  if (!process.enabled) return;
  if (process.closed.load(std::memory_order_acquire)) {
    process.dropped_events.fetch_add(1, std::memory_order_relaxed);
    if (t.record)
      t.encoder.reset(t.record->chunk(t.slot), t.record->chunk(t.slot) + kChunkBytes, 0);
    return;
  }
  if (!t.record) {
    if (!register_thread(t, e.time_ns)) {
      count_unrecorded();
      return;
    }
  } else if (!t.encoder.has_room() || e.time_ns >= t.encoder.base_time_ns() + kChunkMaxAgeNs ||
             (!t.chunk_coarse && alone())) {
    // Full, old, or a chunk of exact stamps while the thread is now alone: the next
    // chunk is a coarse frame (read_stamp sent us here), the current one stays exact.
    publish_chunk(t);
    begin_chunk(t, e.time_ns);
  }
  append(t, e);
}

ExecFlush::ExecFlush() {
  if (!recording() || !is_trace_owner()) return;
  record(traces::Op::kExec, 0, 0, 0, 0, 0, 0);
  ThreadState& t = tls;
  guard_.emplace();
  if (t.record) {
    publish_chunk(t);
    t.coarse_left = 0;  // the next event reads the clock: no stamp before the new base
    begin_chunk(t, now_ns());
  }
  // Held until the exec fails (or forever, if it succeeds): the writer thread must not
  // start a frame that the exec would cut in half, nor write after the end record.
  sink::lock();
  locked_ = true;
  sink::end_for_exec();
}

ExecFlush::~ExecFlush() {
  if (!locked_) return;
  sink::resume_after_exec();
  sink::unlock();
}

void final_flush() {
  if (!process.enabled || !is_trace_owner()) return;
  HookGuard guard;
  sink::lock();
  if (!process.closed.load(std::memory_order_acquire)) {
    sink::drain_all();
    for (ThreadRecord* r = registry.head(); r; r = r->next) {
      if (r->state.load(std::memory_order_acquire) != RecordState::kFree) sink::finish_record(r);
    }
    sink::close();
    process.closed.store(true, std::memory_order_release);
  }
  sink::unlock();
}

void join_writer_thread() {
  HookGuard guard;
  sink::join_writer_thread();
}

void before_thread_create() {
  stamp_gate.threads.fetch_add(1, std::memory_order_acq_rel);
  stamp_gate.unregistered.fetch_add(1, std::memory_order_acq_rel);
  end_coarse_runs();
}

void thread_create_failed() {
  uint32_t u = stamp_gate.unregistered.load(std::memory_order_acquire);
  while (u != 0) {
    if (stamp_gate.unregistered.compare_exchange_weak(u, u - 1, std::memory_order_acq_rel)) {
      stamp_gate.threads.fetch_sub(1, std::memory_order_acq_rel);
      end_coarse_runs();
      return;
    }
  }
  // Another thread took the count meanwhile (a clone thread): it stays, on the safe side.
}

void before_fork() {
  registry.lock();
  sink::lock();
}

void after_fork_in_parent() {
  sink::unlock();
  registry.unlock();
}

void after_fork_in_child() {
  ThreadState& t = tls;
  const uint32_t parent_pid = process.pid;
  sink::abandon_in_child();
  registry.reset_in_child(t.record);
  process.pid = static_cast<uint32_t>(getpid());
  process.generation = 0;
  process.next_thread_index.store(0, std::memory_order_relaxed);
  // The child has one thread, this one (counted below if it records).
  stamp_gate.unregistered.store(0, std::memory_order_relaxed);
  stamp_gate.threads.store(0, std::memory_order_relaxed);
  end_coarse_runs();
  t.coarse_left = 0;
  if (!process.enabled || process.closed.load(std::memory_order_relaxed) ||
      !process.config.follow_fork) {
    process.enabled = false;
    return;
  }
  process.enabled = open_trace_for_this_process(parent_pid, /*root=*/false);
  if (!process.enabled) return;
  if (t.record) {
    // This thread continues as the child's only thread: index 0, its own tid.
    t.record->thread_index = process.next_thread_index.fetch_add(1, std::memory_order_relaxed);
    t.record->os_tid = current_tid();
    t.slot = 0;
    stamp_gate.threads.store(1, std::memory_order_relaxed);
    const uint64_t now = now_ns();
    begin_chunk(t, now);
    traces::Event start;
    start.op = traces::Op::kThreadStart;
    start.time_ns = now;
    start.result = t.record->os_tid;
    append(t, start);
  }
  sink::start_writer_thread();
}

bool is_trace_owner() {
  return static_cast<uint32_t>(getpid()) == process.pid;
}
uint32_t trace_owner_pid() {
  return process.pid;
}
uint32_t exec_generation() {
  return process.generation;
}
bool follow_exec() {
  return process.config.follow_exec;
}

}  // namespace mtreplay::recorder
