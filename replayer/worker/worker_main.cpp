// mtreplay-worker: the process that runs with the allocator under test preloaded.
// The parent hands it two inherited memfds: the plan (read-only) and the results
// region. Everything the replay itself needs is mmapped here before timing starts.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "allocator_api.hpp"
#include "proc_memory.hpp"
#include "replay_engine.hpp"
#include "segment_gate.hpp"

namespace {

using namespace mtreplay::replay;

ResultsView* g_results = nullptr;

void on_crash(int signal) {
  ResultsHeader& header = g_results->header();
  header.crash_signal = signal;
  int32_t slot = t_current_slot;
  if (slot >= 0) {
    header.crashed_slot = slot;
    header.failed_slot_op = g_results->stats(slot).progress.load(std::memory_order_relaxed);
  }
  // SA_RESETHAND: returning re-runs the faulting instruction under the default action.
}

void install_crash_handlers() {
  struct sigaction action {};
  action.sa_handler = on_crash;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) sigaction(signal, &action, nullptr);
}

template <class T>
T* map_table(size_t count) {
  size_t bytes = count * sizeof(T);
  if (bytes == 0) bytes = sizeof(T);
  // Populated now, so the tables count in the baseline and not in the replay's peak.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<T*>(p);
}

uint64_t timeval_ns(const timeval& tv) {
  return uint64_t(tv.tv_sec) * 1'000'000'000u + uint64_t(tv.tv_usec) * 1000u;
}

uint64_t faults_of(const rusage& usage) {
  return static_cast<uint64_t>(usage.ru_minflt) + static_cast<uint64_t>(usage.ru_majflt);
}

struct Shared {
  ReplayEngine* engine;
  std::atomic<const PlanView*> plan;  // for the sampler; null while a segment is swapped
  ReplayMode mode;
  std::atomic<uint32_t> gate{0};
  std::atomic<uint32_t> stop_sampler{0};
  int statm_fd = -1;
  uint64_t start_ns = 0;
  // A streamed plan: its segments pass through `segments`; a runner whose recorded
  // thread exited is marked in `exited`.
  const PlanView* view = nullptr;
  SegmentGate segments;
  std::atomic<uint32_t> sampler_busy{0};
  uint8_t* exited = nullptr;
};

struct RunnerArg {
  Shared* shared;
  uint32_t slot;
};

void wait_gate(Shared& shared) {
  while (shared.gate.load(std::memory_order_acquire) == 0) futex_wait(shared.gate, 0);
}

// One segment (or the whole plan) of this runner's recorded thread; `exits`: then
// wait for the op that preceded the recorded exit.
void run_slot(Shared& shared, uint32_t slot, bool exits) {
  ReplayEngine& engine = *shared.engine;
  switch (shared.mode) {
    case ReplayMode::kParallel:
      engine.await_start(slot);
      engine.run_parallel(slot);
      if (exits) engine.await_exit(slot);
      break;
    case ReplayMode::kSerial:
      engine.await_start(slot);
      engine.run_serial(slot);
      if (exits) engine.await_exit(slot);
      break;
    case ReplayMode::kSingle:
      engine.run_single();
      break;
  }
}

// A streamed plan: the segments one after the other, until the recorded thread exits
// or the trace ends.
void run_segments(Shared& shared, uint32_t slot) {
  for (uint32_t k = 0;; ++k) {
    shared.segments.await(k);
    const PlanView& plan = *shared.view;
    bool exits = plan.header().last_segment != 0 ||
                 (shared.mode != ReplayMode::kSingle && (plan.thread(slot).flags & kThreadExits));
    run_slot(shared, slot, exits);
    if (exits) shared.exited[slot] = 1;
    shared.segments.arrive();
    if (exits) return;
  }
}

void* runner_main(void* raw) {
  auto* arg = static_cast<RunnerArg*>(raw);
  Shared& shared = *arg->shared;
  wait_gate(shared);
  if (shared.view) {
    run_segments(shared, arg->slot);
  } else {
    run_slot(shared, arg->slot, true);
  }
  // Returning ends the thread: the allocator's thread cache goes now, as it did when
  // the recorded thread exited.
  return nullptr;
}

// The runner that replays on the worker's main thread: the recorded first thread's
// slot (single mode: the one runner); kNoObject when none.
uint32_t main_thread_slot(const PlanView& plan, uint32_t runners) {
  if (runners == 1) return 0;
  for (uint32_t slot = 0; slot < runners; ++slot)
    if (plan.thread(slot).recorded_index == 0) return slot;
  return kNoObject;
}

// The requested bytes live at this moment of the replay: each thread's share after the
// ops it has completed (progress is stored before each op runs). The threads' progress
// is read one after the other, so a sampler interrupted midway (a loaded machine) would
// add a consumer's share from before its frees to a producer's from after its next
// allocations: a read that took longer than a moment is taken again (-1: none held).
int64_t live_bytes_now(const PlanView& plan) {
  constexpr uint64_t kMoment = 20'000;  // ns: hundreds of times the loop's own length
  for (int attempt = 0; attempt < 4; ++attempt) {
    const uint64_t begin = monotonic_ns();
    auto live = static_cast<int64_t>(plan.header().live_base_bytes);
    for (uint32_t slot = 0; slot < plan.header().thread_count; ++slot) {
      uint64_t done = g_results->stats(slot).progress.load(std::memory_order_relaxed);
      live += plan.live_after(slot)[std::min(done, plan.thread(slot).op_count)];
    }
    if (monotonic_ns() - begin <= kMoment) return live;
  }
  return -1;
}

// RSS over time: at most kMaxTimelinePoints; when full, every other point is dropped
// and the period doubles, so a run of any length keeps an even coverage.
void* sampler_main(void* raw) {
  auto& shared = *static_cast<Shared*>(raw);
  ResultsHeader& header = g_results->header();
  wait_gate(shared);
  uint64_t period_ns = 1'000'000;
  while (shared.stop_sampler.load(std::memory_order_acquire) == 0) {
    timespec pause{0, static_cast<long>(period_ns)};
    nanosleep(&pause, nullptr);
    uint64_t rss = resident_bytes(shared.statm_fd);
    if (rss > header.sampled_peak_rss) header.sampled_peak_rss = rss;
    shared.sampler_busy.store(1, std::memory_order_seq_cst);
    const PlanView* plan = shared.plan.load(std::memory_order_seq_cst);
    const int64_t live = plan ? live_bytes_now(*plan) : 0;
    shared.sampler_busy.store(0, std::memory_order_release);
    if (live > 0 && static_cast<uint64_t>(live) > header.sampled_peak_live)
      header.sampled_peak_live = static_cast<uint64_t>(live);
    if (header.timeline_count == kMaxTimelinePoints) {
      for (uint32_t i = 0; i < kMaxTimelinePoints / 2; ++i) {
        header.timeline[i][0] = header.timeline[2 * i][0];
        header.timeline[i][1] = header.timeline[2 * i][1];
      }
      header.timeline_count = kMaxTimelinePoints / 2;
      period_ns *= 2;
    }
    header.timeline[header.timeline_count][0] = monotonic_ns() - shared.start_ns;
    header.timeline[header.timeline_count][1] = rss;
    ++header.timeline_count;
  }
  return nullptr;
}

// Untimed, after the replay: allocate the serial peak's live set again with the same
// calls and sum what the allocator rounds them up to.
void measure_slop(const PlanView& plan, const AllocatorApi& api, ResultsHeader& header) {
  if (!header.config.measure_slop || !api.usable_size || plan.header().peak_object_count == 0)
    return;
  uint64_t count = plan.header().peak_object_count;
  void** blocks = map_table<void*>(count);
  if (!blocks) return;
  const PlanObject* objects = plan.objects();
  const uint32_t* peak = plan.peak_objects();
  uint64_t slop = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const PlanObject& o = objects[peak[i]];
    void* p;
    switch (o.kind) {
      case PlanKind::kMemalign:
      case PlanKind::kPosixMemalign:
      case PlanKind::kAlignedAlloc:
        p = api.memalign(o.align ? o.align : 16, o.bytes);
        break;
      case PlanKind::kValloc:
      case PlanKind::kPvalloc:
        p = api.memalign(plan.header().page_size, o.bytes);
        break;
      default:
        p = api.malloc(o.bytes);
        break;
    }
    blocks[i] = p;
    if (p) slop += api.usable_size(p) - o.bytes;
  }
  for (uint64_t i = 0; i < count; ++i) api.free(blocks[i]);
  munmap(blocks, count * sizeof(void*));
  header.usable_slop_bytes = slop;
  header.slop_measured = 1;
}

[[noreturn]] void setup_failed(ResultsHeader* header, WorkerStatus status, int code,
                               const char* what) {
  if (header) {
    std::snprintf(header->message, sizeof header->message, "%s", what);
    header->status.store(static_cast<uint32_t>(status), std::memory_order_release);
  } else {
    std::fprintf(stderr, "mtreplay-worker: %s\n", what);
  }
  _exit(code);
}

void* map_fd(int fd, int prot, size_t* size) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) return nullptr;
  *size = static_cast<size_t>(st.st_size);
  void* p = mmap(nullptr, *size, prot, MAP_SHARED | MAP_POPULATE, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

// A streamed plan: object slots it may use at once, and the address space kept for its
// buffer (only the pages of the largest segment are ever backed).
constexpr uint64_t kStreamSlots = uint64_t{1} << 28;

template <class T>
T* reserve_table(uint64_t count) {
  void* p = mmap(nullptr, count * sizeof(T), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<T*>(p);
}

// The segments of a streamed plan as the parent publishes them in the shared buffer,
// and the per-object tables, backed as far as the segments' slots reach.
class SegmentFeed {
 public:
  SegmentFeed(int fd, ResultsHeader& header) : header_(header), parent_(getppid()) {
    void* p = mmap(nullptr, kStreamBufferBytes, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p != MAP_FAILED) buffer_ = static_cast<const std::byte*>(p);
  }
  bool mapped() const { return buffer_ != nullptr; }

  // Waits for segment `index` and attaches `view` to it; "" or what is wrong.
  std::string take(uint32_t index, PlanView& view) {
    for (;;) {
      uint32_t published = header_.segments_published.load(std::memory_order_acquire);
      if (published > index) break;
      if (getppid() != parent_) return "the parent went away";
      shared_futex_wait(header_.segments_published, published, 100'000'000);
    }
    const std::byte* half = buffer_ + stream_segment_offset(index, header_.stream_halves);
    uint64_t& mapped = half_bytes_[stream_half(index, header_.stream_halves)];
    uint64_t size = reinterpret_cast<const PlanHeader*>(half)->total_bytes;
    if (size > kStreamHalfBytes) return "a plan segment is larger than its buffer";
    // Mapped before the segment runs, so that its faults are not timed; the pages of
    // earlier segments stay mapped (the parent writes into the same pages).
    if (size > mapped)
      madvise(const_cast<std::byte*>(half) + (mapped & ~uint64_t{4095}),
              size - (mapped & ~uint64_t{4095}), MADV_POPULATE_READ);
    std::string problem = view.attach(half, size);
    if (!problem.empty()) return problem;
    if (view.header().segment != index + 1) return "plan segments out of order";
    if (view.header().slot_count > kStreamSlots) return "too many objects live at once";
    mapped = std::max(mapped, size);
    return {};
  }

  // Backs the tables' entries up to the segment's slots (written now, not during the
  // replay) and enters the objects it creates.
  void prepare(ReplayTables& tables, PlanObject* objects, const PlanView& view) {
    uint64_t count = view.header().slot_count;
    if (count > backed_) {
      live_table_ = tables.live != nullptr;
      if (tables.live) back(tables.live, backed_, count);
      back(tables.stages, backed_, count);
      back(objects, backed_, count);
      backed_ = count;
    }
    const PlanObject* created = view.objects();
    const uint32_t* slots = view.object_slots();
    for (uint64_t i = 0; i < view.header().object_count; ++i) {
      if (slots[i] < count) objects[slots[i]] = created[i];
    }
  }

  // The worker's own pages for the stream: tables and buffer.
  uint64_t own_bytes() const {
    return backed_ * ((live_table_ ? sizeof(void*) : 0) + sizeof(uint32_t) + sizeof(PlanObject)) +
           half_bytes_[0] + half_bytes_[1];
  }

  void done(uint32_t index) {
    header_.segments_done.store(index + 1, std::memory_order_release);
    shared_futex_wake(header_.segments_done);
  }

 private:
  template <class T>
  static void back(T* table, uint64_t from, uint64_t to) {
    auto* begin = reinterpret_cast<char*>(table + from);
    auto* end = reinterpret_cast<char*>(table + to);
    auto* page = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{4095});
    if (madvise(page, static_cast<size_t>(end - page), MADV_POPULATE_WRITE) == 0) return;
    for (char* p = begin; p < end; p += 4096) *reinterpret_cast<volatile char*>(p) = *p;
  }
  ResultsHeader& header_;
  pid_t parent_;
  const std::byte* buffer_ = nullptr;
  uint64_t half_bytes_[2] = {};  // of each half of the buffer, the bytes mapped in
  uint64_t backed_ = 0;
  bool live_table_ = true;  // the live pointers are in the array, not in lphash
};

}  // namespace

int main(int argc, char** argv) {
  int statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  uint64_t rss_at_entry = resident_bytes(statm_fd);
  if (argc != 3)
    setup_failed(nullptr, WorkerStatus::kInternal, kWorkerBadSetup,
                 "usage: mtreplay-worker PLAN_FD|stream:FD RESULTS_FD (run by mtreplay replay)");
  size_t results_size = 0, plan_size = 0;
  auto* results_base =
      static_cast<std::byte*>(map_fd(std::atoi(argv[2]), PROT_READ | PROT_WRITE, &results_size));
  if (!results_base)
    setup_failed(nullptr, WorkerStatus::kInternal, kWorkerBadSetup,
                 "cannot map the results region");
  static ResultsView results(results_base);
  g_results = &results;
  ResultsHeader& header = results.header();
  header.rss_at_entry = rss_at_entry;

  PlanView plan;
  std::optional<SegmentFeed> feed;
  const bool streamed = std::strncmp(argv[1], "stream:", 7) == 0;
  if (streamed) {
    feed.emplace(std::atoi(argv[1] + 7), header);
    if (!feed->mapped())
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "cannot map the plan buffer");
    std::string problem = feed->take(0, plan);
    if (!problem.empty())
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, problem.c_str());
  } else {
    auto* plan_base =
        static_cast<const std::byte*>(map_fd(std::atoi(argv[1]), PROT_READ, &plan_size));
    if (!plan_base)
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "cannot map the replay plan");
    if (!plan.attach(plan_base, plan_size).empty())
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                   "the replay plan is unusable");
  }
  if (plan.header().thread_count != header.thread_count)
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "the replay plan is unusable");

  std::string problem;
  AllocatorApi api =
      resolve_allocator_api(header.config.expected_object, plan.header().page_size, &problem);
  std::snprintf(header.malloc_owner, sizeof header.malloc_owner, "%s", api.malloc_owner.c_str());
  if (!problem.empty())
    setup_failed(&header, WorkerStatus::kLoadFailed, kWorkerLoadFailed, problem.c_str());
  header.emulated_mask = api.emulated_mask;

  uint32_t threads = plan.header().thread_count;
  uint64_t objects = plan.header().object_count;  // of a whole plan
  ReplayTables tables;
  PlanObject* stream_objects = nullptr;
  std::optional<LivePointerMap> live_hash;
  if (header.config.live_map != LiveMapKind::kArray) {
    if (streamed && header.config.live_map == LiveMapKind::kPointerMapByAddress)
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                   "a streamed plan has no recorded addresses to key the live map by");
    // Sized for the live set (dead keys are dropped by migrations) or for every object;
    // a streamed plan's for the first segment's object slots, and it grows past them.
    // Keyed by object id: a streamed plan's ids are slots that serve again once their
    // object ended, so the objects that stay live across segments are found in it.
    live_hash.emplace(streamed ? plan.header().slot_count
                      : header.config.live_map == LiveMapKind::kPointerMapPresized
                          ? plan.header().object_count
                          : plan.header().peak_object_count);
    tables.live_hash = &*live_hash;
    if (header.config.live_map == LiveMapKind::kPointerMapByAddress) {
      tables.addresses = plan.addresses();
      if (!tables.addresses)
        setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                     "the replay plan has no object addresses");
    }
  }
  if (streamed) {
    tables.live = live_hash ? nullptr : reserve_table<void*>(kStreamSlots);
    tables.stages = reserve_table<std::atomic<uint32_t>>(kStreamSlots);
    stream_objects = reserve_table<PlanObject>(kStreamSlots);
    tables.objects = stream_objects;
    if ((tables.live || live_hash) && tables.stages && stream_objects)
      feed->prepare(tables, stream_objects, plan);
  } else {
    tables.live = map_table<void*>(objects);
    tables.stages = map_table<std::atomic<uint32_t>>(objects);
  }
  tables.signals = map_table<std::atomic<uint32_t>>(threads);
  tables.doorbells = map_table<Doorbell>(threads);
  tables.cursors = map_table<uint64_t>(threads);
  tables.pace_slots = map_table<PaceSlot>(threads);
  auto* args = map_table<RunnerArg>(threads);
  auto* handles = map_table<pthread_t>(threads);
  auto* exited = map_table<uint8_t>(threads);
  if ((!tables.live && !live_hash) || !tables.stages || !tables.signals || !tables.doorbells ||
      !tables.cursors || !tables.pace_slots || !args || !handles || !exited ||
      (streamed && !stream_objects))
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "cannot map the replay tables");
  for (uint32_t i = 0; i < threads; ++i) std::construct_at(&tables.pace_slots[i]);
  if (uses_revisit_state(header.config.touch)) {
    // Mapped zero-filled (empty) and, with their working-set buffers, faulted in now:
    // in the baseline, not in the replay's peak. A streamed plan sizes the buffers from
    // its first segment's peak.
    tables.revisits = map_table<RevisitState>(threads);
    const uint64_t wset =
        working_set_bytes(header.config.touch, plan.header().peak_live_bytes, threads);
    for (uint32_t i = 0; tables.revisits && wset && i < threads; ++i) {
      tables.revisits[i].wset = map_table<char>(wset);
      tables.revisits[i].wset_bytes = wset;
      if (!tables.revisits[i].wset) tables.revisits = nullptr;
    }
    if (!tables.revisits)
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                   "cannot map the revisit tables");
  }

  std::optional<ReplayEngine> engine;
  engine.emplace(plan, results, api, tables);
  const uint64_t pace_origin = engine->pace_origin();
  Shared shared;
  shared.engine = &*engine;
  shared.plan.store(&plan);
  shared.mode = header.config.mode;
  shared.statm_fd = statm_fd;
  if (streamed) shared.view = &plan, shared.exited = exited;
  install_crash_handlers();

  uint32_t runners = shared.mode == ReplayMode::kSingle ? (threads ? 1 : 0) : threads;
  // The program's first thread is its main thread, and an allocator may serve that one
  // differently (glibc: the brk heap of the main arena, where every other thread gets an
  // mmapped heap grown and shrunk by mprotect). Replayed on a thread of its own, it ran
  // the other path. So the recorded first thread is replayed on this main thread; a
  // streamed plan's segments are then swapped in by a thread of their own.
  const uint32_t on_main = main_thread_slot(plan, runners);
  for (uint32_t i = 0; i < runners; ++i) {
    args[i] = {&shared, i};
    if (i == on_main) continue;
    if (pthread_create(&handles[i], nullptr, runner_main, &args[i]) != 0)
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                   "cannot create the replay threads");
  }
  pthread_t sampler;
  bool have_sampler = pthread_create(&sampler, nullptr, sampler_main, &shared) == 0;

  // A streamed plan: between segments every runner is parked; the next segment is
  // swapped in and the time spent waiting for it, and the CPU spent swapping it in,
  // are kept out of the figures. It never calls the allocator (whose state a thread of
  // its own could change: glibc would give it an arena).
  uint64_t swap_user_ns = 0, swap_sys_ns = 0, swap_faults = 0;
  auto swap_segments = [&] {
    wait_gate(shared);
    for (uint32_t k = 0;; ++k) {
      shared.segments.wait_all();
      if (plan.header().last_segment) break;
      uint64_t pause = monotonic_ns();
      rusage before_swap{}, after_swap{};
      getrusage(RUSAGE_SELF, &before_swap);
      shared.plan.store(nullptr, std::memory_order_seq_cst);
      while (shared.sampler_busy.load(std::memory_order_seq_cst) != 0) cpu_relax();
      engine.reset();
      // A plan segment flags only the hand-overs inside it: a block this segment made may
      // be released by another thread in a later one. So no thread revisits a block made
      // in an earlier segment (a segment is long: the table's reach is far shorter).
      if (tables.revisits) {
        for (uint32_t slot = 0; slot < threads; ++slot)
          std::memset(tables.revisits[slot].entries, 0, sizeof tables.revisits[slot].entries);
      }
      feed->done(k);
      problem = feed->take(k + 1, plan);
      if (!problem.empty())
        setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, problem.c_str());
      header.current_segment.store(k + 1, std::memory_order_relaxed);
      feed->prepare(tables, stream_objects, plan);
      uint32_t active = 0;
      for (uint32_t slot = 0; slot < threads; ++slot) {
        if (exited[slot] && plan.thread(slot).op_count != 0)
          setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                       "a plan segment has ops of a thread that exited");
        if (!exited[slot]) ++active;
        tables.signals[slot].store(0, std::memory_order_relaxed);
        tables.cursors[slot] = 0;
        std::construct_at(&tables.pace_slots[slot]);
        results.stats(slot).progress.store(0, std::memory_order_relaxed);
        results.stats(slot).finished.store(0, std::memory_order_relaxed);
      }
      engine.emplace(plan, results, api, tables);
      shared.engine = &*engine;
      engine->set_pace_origin(pace_origin);
      header.stream_stall_ns += monotonic_ns() - pause;
      getrusage(RUSAGE_SELF, &after_swap);
      swap_user_ns += timeval_ns(after_swap.ru_utime) - timeval_ns(before_swap.ru_utime);
      swap_sys_ns += timeval_ns(after_swap.ru_stime) - timeval_ns(before_swap.ru_stime);
      swap_faults += faults_of(after_swap) - faults_of(before_swap);
      engine->start_clock(shared.start_ns + header.stream_stall_ns);
      shared.plan.store(&plan, std::memory_order_seq_cst);
      shared.segments.release(k + 1, shared.mode == ReplayMode::kSingle ? 1 : active);
    }
  };
  auto run_swapper = [](void* swap) -> void* {
    (*static_cast<decltype(swap_segments)*>(swap))();
    return nullptr;
  };
  pthread_t swapper;
  const bool swapper_thread = streamed && on_main != kNoObject;
  if (swapper_thread && pthread_create(&swapper, nullptr, run_swapper, &swap_segments) != 0)
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                 "cannot create the replay threads");

  header.baseline_rss = resident_bytes(statm_fd);
  const uint64_t own_at_baseline = feed ? feed->own_bytes() : 0;
  header.hwm_reset = reset_peak_resident() ? 1 : 0;
  header.timeline[0][0] = 0;
  header.timeline[0][1] = header.baseline_rss;
  header.timeline_count = 1;
  rusage usage_start{}, usage_end{};
  getrusage(RUSAGE_SELF, &usage_start);
  header.status.store(static_cast<uint32_t>(WorkerStatus::kRunning), std::memory_order_release);
  shared.start_ns = monotonic_ns();
  engine->start_clock(shared.start_ns);
  header.tsc_start = ticks();
  shared.segments.release(0, runners);
  shared.gate.store(1, std::memory_order_release);
  futex_wake_all(shared.gate);
  if (streamed && !swapper_thread) swap_segments();
  if (on_main != kNoObject) runner_main(&args[on_main]);
  if (swapper_thread) pthread_join(swapper, nullptr);
  for (uint32_t i = 0; i < runners; ++i)
    if (i != on_main) pthread_join(handles[i], nullptr);
  header.tsc_end = ticks();
  header.wall_ns = monotonic_ns() - shared.start_ns;  // stalls included: it converts ticks
  getrusage(RUSAGE_SELF, &usage_end);
  shared.stop_sampler.store(1, std::memory_order_release);
  if (have_sampler) pthread_join(sampler, nullptr);
  header.peak_rss = peak_resident_bytes();
  header.cpu_user_ns =
      timeval_ns(usage_end.ru_utime) - timeval_ns(usage_start.ru_utime) - swap_user_ns;
  header.cpu_sys_ns =
      timeval_ns(usage_end.ru_stime) - timeval_ns(usage_start.ru_stime) - swap_sys_ns;
  header.page_faults = faults_of(usage_end) - faults_of(usage_start) - swap_faults;
  // The pacer's waits, for a peer or for the recorded time, are kept out too (pacer.hpp):
  // from user time, the rest from system.
  uint64_t wait_cpu = 0;
  for (uint32_t slot = 0; slot < threads; ++slot) wait_cpu += results.stats(slot).wait_cpu_ns;
  const uint64_t from_user = std::min(wait_cpu, header.cpu_user_ns);
  header.cpu_user_ns -= from_user;
  header.cpu_sys_ns -= std::min(wait_cpu - from_user, header.cpu_sys_ns);
  if (feed) {
    header.stream_table_bytes = feed->own_bytes() - own_at_baseline;
    feed->done(header.current_segment.load(std::memory_order_relaxed));
  }

  measure_slop(plan, api, header);
  header.status.store(static_cast<uint32_t>(WorkerStatus::kDone), std::memory_order_release);
  return kWorkerOk;
}
