#include "trace_sink.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "event_clock.hpp"
#include "mtreplay/traces/chunk_decoder.hpp"
#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/trace_writer.hpp"
#include "process_state.hpp"
#include "recorder.hpp"
#include "thread_state.hpp"
#include "trace_output.hpp"

namespace mtreplay::recorder::sink {
namespace {

// The TraceWriter lives in static storage so that a forked child can drop the
// parent's copy without running its destructor (which would finish the parent's file).
alignas(traces::TraceWriter) unsigned char writer_storage[sizeof(traces::TraceWriter)];
traces::TraceWriter* writer = nullptr;
int trace_fd = -1;
bool write_failed = false;

pthread_mutex_t sink_mutex = PTHREAD_MUTEX_INITIALIZER;
std::atomic<uint32_t> wake_word{0};
pthread_t writer_thread{};
bool writer_running = false;

// Scratch space for the few events the writer itself encodes (kThreadExit).
alignas(64) std::byte scratch[512];

// How often the writer looks for threads that died without saying so, and for idle
// threads whose events it should save.
constexpr uint64_t kReapIntervalNs = 20'000'000;
constexpr uint64_t kIdleCheckIntervalNs = kChunkMaxAgeNs / 2;
constexpr long kIdleWaitNs = 20'000'000;

// When compressing would take the program's own CPU time, the writer stores chunks
// instead (TraceWriter::Effort::kStore: zstd's fastest level, rows; ~0.7 ns per event
// on a malloc/free loop against ~12 for columns at level 1, ~4 bytes per event
// against ~1.3). Decided once per load window (kLoadWindowNs of the event clock, at
// the first drain pass after it ends) for the next one, when both held in it:
// - no core was left for the writer: at least two threads handed over a chunk (a
//   chunk holds ~15 000 events: busy threads), and they are at least as many as the
//   CPUs this process may run on;
// - compressing took a fair share of the process's CPU time: the events handed over,
//   times what a normally written event costs the writer (a moving average of the CPU
//   time TraceWriter measured on the whole chunks it wrote normally, for its column
//   policy), come to kStoreSharePercent or more of the CPU time the whole process got
//   in the window (CLOCK_PROCESS_CPUTIME_ID: a share of what it got, not of the
//   window, so that other processes on the machine do not change the answer).
// A single busy thread is never stored (the 1.5 bytes per event target is for it):
// the writer then has a core of its own, or a share of one.
constexpr uint64_t kLoadWindowNs = 10'000'000;
constexpr uint64_t kStoreSharePercent = 10;
struct StorePolicy {
  uint32_t cpus_available = 1;  // sched_getaffinity, when the writer starts
  uint64_t window_start_ns = 0;
  uint64_t window_start_cpu_ns = 0;  // the process's CPU time then
  uint64_t window_events = 0;        // handed over in this window
  uint64_t normal_ps_per_event = 0;  // 0: not measured yet
  bool store = false;                // this window's decision
  traces::TraceWriter::Effort effort = traces::TraceWriter::Effort::kNormal;  // this chunk's
} store_policy;

uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// At every drain pass: ends the load window once it is long enough.
void update_store_policy(uint64_t now) {
  StorePolicy& p = store_policy;
  const uint64_t elapsed = now - p.window_start_ns;
  if (elapsed < kLoadWindowNs) return;
  uint32_t busy = 0;
  for (ThreadRecord* r = registry.head(); r; r = r->next) {
    // A free record may be taken by a new thread at any time (which zeroes its count).
    if (r->state.load(std::memory_order_acquire) == RecordState::kFree) continue;
    if (r->window_chunks != 0) ++busy;
    r->window_chunks = 0;
  }
  const uint64_t cpu = process_cpu_ns();
  // The share in percent: events * ps per event / 1000 / process CPU ns * 100.
  const unsigned __int128 compress_ps =
      static_cast<unsigned __int128>(p.window_events) * p.normal_ps_per_event;
  const bool overloaded =
      compress_ps * 100 >=
      static_cast<unsigned __int128>(cpu - p.window_start_cpu_ns) * 1000 * kStoreSharePercent;
  p.store = overloaded && busy >= 2 && busy >= p.cpus_available;
  p.window_start_ns = now;
  p.window_start_cpu_ns = cpu;
  p.window_events = 0;
}

uint32_t count_available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

void write_chunk(const traces::ChunkInfo& info, const std::byte* data, size_t bytes) {
  if (write_failed || !writer) return;
  if (!writer->write_chunk(info, {data, bytes}, store_policy.effort)) {
    write_failed = true;
    report("could not write the trace", process.trace_path, errno);
  }
}

// Scratch space for re-encoding the part of a chunk that follows a saved head.
alignas(64) std::byte tail_scratch[kChunkBytes];
// The re-encoder's decoder and pointer model (~45 KiB together: not on the stack).
traces::ChunkDecoder tail_decoder;
traces::PointerModel tail_model;

uint32_t saved_in(const ThreadRecord* rec, uint32_t slot) {
  return rec->saved_slot == slot ? rec->saved_count : 0;
}

// Writes events [from, count) of the chunk in `slot`, whose first `bytes` bytes hold
// `count` events. A frame must decode on its own (its delta state starts afresh), so
// a tail whose head went out earlier is decoded and re-encoded; that only happens to
// chunks of threads that went idle, so its cost does not matter.
void write_events(ThreadRecord* rec, uint32_t slot, traces::ChunkInfo info, uint32_t count,
                  uint32_t bytes, uint32_t from) {
  if (from >= count) return;
  const std::byte* data = rec->chunk(slot);
  if (from == 0) {
    info.event_count = count;
    write_chunk(info, data, bytes);
    return;
  }
  traces::ChunkDecoder& dec = tail_decoder;
  traces::PointerModel* const m =
      (info.flags & traces::format::kFramePointerModel) ? &tail_model : nullptr;
  dec.reset({data, bytes}, info.base_time_ns, count, rec->thread_index, info.flags);
  traces::ChunkEncoder enc;
  enc.reset(tail_scratch, tail_scratch + sizeof tail_scratch, 0, m);
  traces::Event e;
  for (uint32_t i = 0; i < count; ++i) {
    if (dec.next(e) != traces::ChunkDecoder::Status::kEvent) {
      report("recorder bug: a chunk does not decode", process.trace_path, 0);
      return;
    }
    if (i < from) continue;
    if (enc.count() > 0 && !enc.has_room()) {
      write_chunk({info.thread_index, info.os_tid, enc.count(), enc.base_time_ns(), info.flags},
                  enc.bytes().data(), enc.bytes().size());
      enc.reset(tail_scratch, tail_scratch + sizeof tail_scratch, 0, m);
    }
    // A first event that is a reading of its own gets a base just before it, so that
    // it does not read back as a repeated (coarse) stamp.
    if (enc.count() == 0)
      enc.reset(tail_scratch, tail_scratch + sizeof tail_scratch,
                e.coarse_time || e.time_ns == 0 ? e.time_ns : e.time_ns - 1, m);
    enc.append(e);
  }
  write_chunk({info.thread_index, info.os_tid, enc.count(), enc.base_time_ns(), info.flags},
              enc.bytes().data(), enc.bytes().size());
}

void drain_record(ThreadRecord* rec) {
  StorePolicy& p = store_policy;
  for (;;) {
    const uint32_t s = rec->writer_slot;
    ChunkSlot& slot = rec->slots[s];
    if (slot.state.load(std::memory_order_acquire) != SlotState::kReady) return;
    const uint32_t count = slot.info.event_count;
    const uint32_t from = saved_in(rec, s);
    p.effort = p.store ? traces::TraceWriter::Effort::kStore : traces::TraceWriter::Effort::kNormal;
    write_events(rec, s, slot.info, count, slot.bytes, from);
    // The writer measured a normally written whole chunk (TraceWriter's column policy):
    // a moving average (3/4 the old, 1/4 the new) of its CPU time per event.
    const uint64_t ns = writer && from == 0 ? writer->last_chunk_cpu_ns() : 0;
    if (ns != 0 && p.effort == traces::TraceWriter::Effort::kNormal) {
      uint64_t ps = ns * 1000 / count;
      if (p.normal_ps_per_event != 0) ps = (3 * p.normal_ps_per_event + ps) / 4;
      p.normal_ps_per_event = ps;
    }
    p.effort = traces::TraceWriter::Effort::kNormal;
    p.window_events += count;
    ++rec->window_chunks;
    if (rec->saved_slot == s) rec->saved_count = 0;
    slot.state.store(SlotState::kFilling, std::memory_order_release);
    rec->writer_slot = (s + 1) % kSlotsPerThread;
  }
}

// Writes what the thread committed to the chunk it is filling and is not on disk yet.
// The thread may go on appending meanwhile: the bytes up to its committed view do not
// change, and the slot cannot be handed back to it while we hold the sink lock.
void save_committed(ThreadRecord* rec) {
  const uint64_t c = rec->committed.load(std::memory_order_acquire);
  if (c == Committed::kNone) return;
  const uint32_t s = Committed::slot(c);
  ChunkSlot& slot = rec->slots[s];
  // Published since: drain_record writes it, minus what was saved.
  if (slot.state.load(std::memory_order_acquire) == SlotState::kReady) return;
  const uint32_t from = saved_in(rec, s);
  if (Committed::count(c) <= from) return;
  write_events(rec, s, slot.info, Committed::count(c), Committed::bytes(c), from);
  rec->saved_slot = s;
  rec->saved_count = Committed::count(c);
}

// A thread whose committed view has not moved since the last check is idle (or
// blocked for good): save its events now rather than at its next call, which may never
// come, so that a SIGKILL loses at most ~2 check intervals of any thread. Busy threads
// are left alone: they hand over their chunk when it is full or kChunkMaxAgeNs old.
void save_idle_threads() {
  for (ThreadRecord* r = registry.head(); r; r = r->next) {
    if (r->state.load(std::memory_order_acquire) != RecordState::kLive) continue;
    const uint64_t c = r->committed.load(std::memory_order_acquire);
    if (c == r->seen_committed) save_committed(r);
    r->seen_committed = c;
  }
}

void write_single_event(uint32_t thread_index, uint32_t os_tid, const traces::Event& e) {
  traces::ChunkEncoder enc;
  enc.reset(scratch, scratch + sizeof scratch, e.time_ns);
  enc.append(e);
  const traces::ChunkInfo info{thread_index, os_tid, enc.count(), enc.base_time_ns()};
  write_chunk(info, enc.bytes().data(), enc.bytes().size());
}

bool thread_is_gone(const ThreadRecord* rec) {
  return syscall(SYS_tgkill, process.pid, rec->os_tid, 0) == -1 && errno == ESRCH;
}

void reap_dead_threads() {
  for (ThreadRecord* r = registry.head(); r; r = r->next) {
    if (r->state.load(std::memory_order_acquire) == RecordState::kFree) continue;
    if (thread_is_gone(r)) finish_record(r);
  }
}

// The program's last thread is gone when the main thread called pthread_exit (a
// zombie leader) and only we remain. glibc would exit(0) at that point, but it counts
// our thread too, so it never does: we do it for it.
bool only_the_writer_is_left() {
  char buf[1024];
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // Fields after the parenthesised command name: state is the first, num_threads the 18th.
  const char* p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  p += 2;
  const char state = *p;
  for (int field = 0; field < 17 && p; ++field) {
    p = strchr(p, ' ');
    if (p) ++p;
  }
  if (!p) return false;
  const long threads = strtol(p, nullptr, 10);
  return state == 'Z' && threads <= 2;
}

void* writer_main(void*) {
  ThreadState& t = tls;
  t.in_hook = true;  // never records; its own calls are counted as unrecorded
  t.flush_deadline_ns = 0;
  uint64_t last_reap = 0;
  uint64_t last_idle_check = 0;
  for (;;) {
    const uint32_t seen = wake_word.load(std::memory_order_acquire);
    pthread_mutex_lock(&sink_mutex);
    if (process.closed.load(std::memory_order_acquire)) {
      pthread_mutex_unlock(&sink_mutex);
      break;
    }
    drain_all();
    // The tick that bounds a run of coarse stamps in time (stamp_mode.hpp).
    new_stamp_period();
    const uint64_t now = now_ns();
    bool last_thread = false;
    if (now - last_idle_check >= kIdleCheckIntervalNs) {
      save_idle_threads();
      last_idle_check = now;
    }
    if (now - last_reap >= kReapIntervalNs) {
      reap_dead_threads();
      last_reap = now;
      last_thread = only_the_writer_is_left();
    }
    pthread_mutex_unlock(&sink_mutex);
    if (last_thread) exit(0);  // runs the exit handlers, and our final flush
    const timespec timeout{0, kIdleWaitNs};
    syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, seen, &timeout, nullptr, 0);
  }
  return nullptr;
}

}  // namespace

bool open(const char* path, uint32_t parent_trace_pid) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const ProcessIdentity& id = read_process_identity();
  static std::string_view argv_views[4096];
  const size_t argc = id.argc < 4096 ? id.argc : 4096;
  for (size_t i = 0; i < argc; ++i) argv_views[i] = id.argv[i];

  traces::HeaderFields h;
  h.pid = process.pid;
  h.ppid = static_cast<uint32_t>(getppid());
  h.parent_trace_pid = parent_trace_pid;
  h.start_realtime_ns = event_clock.start_realtime_ns;
  h.start_clock_ns = event_clock.start_monotonic_ns;
  h.ticks_per_second = 1'000'000'000;
  h.version = 6;  // frame flags: coarse stamps, pointer model, column layout, touched
  h.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  h.exe = id.exe;
  h.argv = {argv_views, argc};

  writer = new (writer_storage) traces::TraceWriter();
  write_failed = false;
  if (!writer->open(fd, h, process.config.compression_level)) {
    const int err = errno;
    writer->~TraceWriter();
    writer = nullptr;
    errno = err;
    return false;
  }
  // Chunks go out in columns where that costs the writer less (issue #13: the loops'
  // random sizes), in rows where repeated codes already compress fast (python).
  writer->set_column_policy(traces::TraceWriter::ColumnPolicy::kAdaptive);
  trace_fd = fd;
  return true;
}

void lock() {
  pthread_mutex_lock(&sink_mutex);
}
bool try_lock() {
  return pthread_mutex_trylock(&sink_mutex) == 0;
}
void unlock() {
  pthread_mutex_unlock(&sink_mutex);
}

void drain_all() {
  update_store_policy(now_ns());
  for (ThreadRecord* r = registry.head(); r; r = r->next) {
    if (r->state.load(std::memory_order_acquire) != RecordState::kFree) drain_record(r);
  }
}

void finish_record(ThreadRecord* rec) {
  drain_record(rec);
  save_committed(rec);
  drain_record(rec);
  traces::Event e;
  e.op = traces::Op::kThreadExit;
  // Read now, not before: every event just written was stamped before it was committed.
  e.time_ns = now_ns();
  e.result = rec->os_tid;
  write_single_event(rec->thread_index, rec->os_tid, e);
  rec->state.store(RecordState::kFree, std::memory_order_release);
}

traces::TraceEnd end_record(traces::EndReason reason) {
  return {reason, process.unrecorded_calls.load(std::memory_order_relaxed)};
}

void close() {
  if (!writer) return;
  writer->close(end_record(traces::EndReason::kExit));
  append_close_to_manifest(process.config.manifest, process.trace_path,
                           process.unrecorded_calls.load(std::memory_order_relaxed));
  writer->~TraceWriter();
  writer = nullptr;
  trace_fd = -1;
}

void end_for_exec() {
  if (!writer || write_failed) return;
  drain_all();
  for (ThreadRecord* r = registry.head(); r; r = r->next)
    if (r->state.load(std::memory_order_acquire) != RecordState::kFree) save_committed(r);
  if (!writer->end_trace(end_record(traces::EndReason::kExec))) {
    write_failed = true;
    report("could not write the trace", process.trace_path, errno);
  }
}

void resume_after_exec() {
  if (!writer || write_failed) return;
  if (!writer->resume()) {
    write_failed = true;
    report("could not continue the trace after a failed exec", process.trace_path, errno);
  }
}

void wake() {
  wake_word.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void start_writer_thread() {
  if (writer_running || !writer) return;
  store_policy = {};
  store_policy.cpus_available = count_available_cpus();
  store_policy.window_start_ns = now_ns();
  store_policy.window_start_cpu_ns = process_cpu_ns();
  // The writer must never take a signal meant for the program.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  writer_running = pthread_create(&writer_thread, nullptr, writer_main, nullptr) == 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void join_writer_thread() {
  if (!writer_running || pthread_equal(pthread_self(), writer_thread)) return;
  wake();
  pthread_join(writer_thread, nullptr);
  writer_running = false;
}

void abandon_in_child() {
  if (trace_fd >= 0) ::close(trace_fd);
  trace_fd = -1;
  writer = nullptr;  // the parent's copy is left as it is: its destructor would write
  writer_running = false;
  write_failed = false;
  wake_word.store(0, std::memory_order_relaxed);
  pthread_mutex_init(&sink_mutex, nullptr);
}

}  // namespace mtreplay::recorder::sink
