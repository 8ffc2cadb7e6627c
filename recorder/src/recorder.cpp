#include "recorder.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process_state.hpp"
#include "real_functions.hpp"
#include "touched_extent.hpp"
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

// Every chunk is a COARSE_TIME frame (a zero time delta marks a repeated reading), a
// POINTER_MODEL one (the encoder keeps the model in the thread's record) and a COLUMNS
// one (the writer thread puts the encoded events in columns before compressing). Its
// base is just before the first event when that event is a reading of its own (so it
// reads back as exact), at the event when it repeats an earlier one.
void begin_chunk(ThreadState& t, uint64_t now, bool first_exact) {
  ThreadRecord* rec = t.record;
  wait_for_slot(rec, t.slot);
  const uint64_t base = first_exact && now != 0 ? now - 1 : now;
  t.encoder.reset(rec->chunk(t.slot), rec->chunk(t.slot) + kChunkBytes, base, &rec->model);
  ChunkSlot& s = rec->slots[t.slot];
  s.info = {rec->thread_index, rec->os_tid, 0, base,
            traces::format::kFrameCoarseTime | traces::format::kFramePointerModel |
                traces::format::kFrameColumns | traces::format::kFrameTouched};
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
  // The writer is woken for every second chunk (when the one before this is still
  // waiting too) and drains both: half the wake-ups and context switches per event
  // (loop1: -0.3 to -0.9 ns of process CPU per call in three A/Bs, BENCHMARKS.md issue
  // #13). A lone chunk waits at most for the writer's next tick (kIdleWaitNs, 20 ms);
  // the ring of 4 leaves two more chunks of slack before the thread must drain it.
  const uint32_t before = (t.slot + kSlotsPerThread - 1) % kSlotsPerThread;
  if (rec->slots[before].state.load(std::memory_order_acquire) == SlotState::kReady) sink::wake();
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
  begin_chunk(t, now_ns(), true);
  rec->state.store(RecordState::kExited, std::memory_order_release);
  // The threads left may be alone now: let the next one to record claim a new period
  // rather than wait for the writer's tick (an event this thread still makes in a
  // later destructor shares it again).
  new_stamp_period();
}

bool register_thread(ThreadState& t, uint64_t now) {
  const uint32_t tid = current_tid();
  const uint32_t index = process.next_thread_index.fetch_add(1, std::memory_order_relaxed);
  ThreadRecord* rec = registry.acquire(index, tid);
  if (!rec) return false;
  t.record = rec;
  t.slot = 0;
  // Its owner value in the stamp gate (stamp_mode.hpp); 0 (never an owner) if the
  // index does not fit.
  t.stamp_id = index + 1 < StampGate::kShared ? index + 1 : 0;
  t.coarse_left = 0;
  // Its first stamp (taken unregistered) shared the period, ending any run; a new one
  // lets a thread that records alone from now on (this one, the first thread) claim it.
  new_stamp_period();
  if (process.exit_key_created) pthread_setspecific(process.exit_key, rec);
  begin_chunk(t, now, true);
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
  touched::enable(process.enabled ? static_cast<touched::Mode>(process.config.touched_mode)
                                  : touched::Mode::kOff);
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
    t.stamp_exact = true;
  }
  if (!process.enabled) return;
  if (process.closed.load(std::memory_order_acquire)) {
    process.dropped_events.fetch_add(1, std::memory_order_relaxed);
    if (t.record)
      t.encoder.reset(t.record->chunk(t.slot), t.record->chunk(t.slot) + kChunkBytes, 0,
                      &t.record->model);
    return;
  }
  if (!t.record) {
    if (!register_thread(t, e.time_ns)) {
      count_unrecorded();
      return;
    }
  } else if (!t.encoder.has_room() || e.time_ns >= t.encoder.base_time_ns() + kChunkMaxAgeNs) {
    publish_chunk(t);
    begin_chunk(t, e.time_ns, t.stamp_exact);
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
    begin_chunk(t, now_ns(), true);
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
  share_stamp_period();
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
  touched::reset_lock_in_child();
  registry.reset_in_child(t.record);
  process.pid = static_cast<uint32_t>(getpid());
  process.generation = 0;
  process.next_thread_index.store(0, std::memory_order_relaxed);
  // The child has one thread, this one: a new period, and a fresh reading.
  new_stamp_period();
  t.coarse_left = 0;
  if (!process.enabled || process.closed.load(std::memory_order_relaxed) ||
      !process.config.follow_fork) {
    process.enabled = false;
    touched::enable(touched::Mode::kOff);
    return;
  }
  process.enabled = open_trace_for_this_process(parent_pid, /*root=*/false);
  touched::enable(process.enabled ? static_cast<touched::Mode>(process.config.touched_mode)
                                  : touched::Mode::kOff);
  if (!process.enabled) return;
  if (t.record) {
    // This thread continues as the child's only thread: index 0, its own tid.
    t.record->thread_index = process.next_thread_index.fetch_add(1, std::memory_order_relaxed);
    t.record->os_tid = current_tid();
    t.slot = 0;
    t.stamp_id = 1;
    const uint64_t now = now_ns();
    begin_chunk(t, now, true);
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
