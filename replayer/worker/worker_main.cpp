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

struct Shared {
  ReplayEngine* engine;
  const PlanView* plan;
  ReplayMode mode;
  std::atomic<uint32_t> gate{0};
  std::atomic<uint32_t> stop_sampler{0};
  int statm_fd = -1;
  uint64_t start_ns = 0;
};

struct RunnerArg {
  Shared* shared;
  uint32_t slot;
};

void wait_gate(Shared& shared) {
  while (shared.gate.load(std::memory_order_acquire) == 0) futex_wait(shared.gate, 0);
}

void* runner_main(void* raw) {
  auto* arg = static_cast<RunnerArg*>(raw);
  Shared& shared = *arg->shared;
  wait_gate(shared);
  switch (shared.mode) {
    case ReplayMode::kParallel:
      shared.engine->await_start(arg->slot);
      shared.engine->run_parallel(arg->slot);
      shared.engine->await_exit(arg->slot);
      break;
    case ReplayMode::kSerial:
      shared.engine->await_start(arg->slot);
      shared.engine->run_serial(arg->slot);
      shared.engine->await_exit(arg->slot);
      break;
    case ReplayMode::kSingle:
      shared.engine->run_single();
      break;
  }
  // Returning ends the thread: the allocator's thread cache goes now, as it did when
  // the recorded thread exited.
  return nullptr;
}

// The requested bytes live at this moment of the replay: each thread's share after the
// ops it has completed (progress is stored before each op runs).
int64_t live_bytes_now(const PlanView& plan) {
  int64_t live = 0;
  for (uint32_t slot = 0; slot < plan.header().thread_count; ++slot) {
    uint64_t done = g_results->stats(slot).progress.load(std::memory_order_relaxed);
    live += plan.live_after(slot)[std::min(done, plan.thread(slot).op_count)];
  }
  return live;
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
    const int64_t live = live_bytes_now(*shared.plan);
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
  if (!api.usable_size || plan.header().peak_object_count == 0) return;
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

}  // namespace

int main(int argc, char** argv) {
  int statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  uint64_t rss_at_entry = resident_bytes(statm_fd);
  if (argc != 3)
    setup_failed(nullptr, WorkerStatus::kInternal, kWorkerBadSetup,
                 "usage: mtreplay-worker PLAN_FD RESULTS_FD (run by mtreplay replay)");
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

  auto* plan_base =
      static_cast<const std::byte*>(map_fd(std::atoi(argv[1]), PROT_READ, &plan_size));
  PlanView plan;
  if (!plan_base)
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "cannot map the replay plan");
  std::string problem = plan.attach(plan_base, plan_size);
  if (!problem.empty() || plan.header().thread_count != header.thread_count)
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "the replay plan is unusable");

  problem.clear();
  AllocatorApi api =
      resolve_allocator_api(header.config.expected_object, plan.header().page_size, &problem);
  std::snprintf(header.malloc_owner, sizeof header.malloc_owner, "%s", api.malloc_owner.c_str());
  if (!problem.empty())
    setup_failed(&header, WorkerStatus::kLoadFailed, kWorkerLoadFailed, problem.c_str());
  header.emulated_mask = api.emulated_mask;

  uint32_t threads = plan.header().thread_count;
  uint64_t objects = plan.header().object_count;
  ReplayTables tables;
  tables.live = map_table<void*>(objects);
  tables.stages = map_table<std::atomic<uint32_t>>(objects);
  tables.signals = map_table<std::atomic<uint32_t>>(threads);
  std::optional<LivePointerMap> live_hash;
  if (header.config.live_map != LiveMapKind::kArray) {
    // Sized for the live set (dead keys are dropped by migrations) or for every object.
    live_hash.emplace(header.config.live_map == LiveMapKind::kPointerMapPresized
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
  tables.doorbells = map_table<Doorbell>(threads);
  tables.cursors = map_table<uint64_t>(threads);
  tables.pace_slots = map_table<PaceSlot>(threads);
  auto* args = map_table<RunnerArg>(threads);
  auto* handles = map_table<pthread_t>(threads);
  if (!tables.live || !tables.stages || !tables.signals || !tables.doorbells || !tables.cursors ||
      !tables.pace_slots || !args || !handles)
    setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup, "cannot map the replay tables");
  for (uint32_t i = 0; i < threads; ++i) std::construct_at(&tables.pace_slots[i]);

  ReplayEngine engine(plan, results, api, tables);
  Shared shared;
  shared.engine = &engine;
  shared.plan = &plan;
  shared.mode = header.config.mode;
  shared.statm_fd = statm_fd;
  install_crash_handlers();

  uint32_t runners = shared.mode == ReplayMode::kSingle ? (threads ? 1 : 0) : threads;
  for (uint32_t i = 0; i < runners; ++i) {
    args[i] = {&shared, i};
    if (pthread_create(&handles[i], nullptr, runner_main, &args[i]) != 0)
      setup_failed(&header, WorkerStatus::kInternal, kWorkerBadSetup,
                   "cannot create the replay threads");
  }
  pthread_t sampler;
  bool have_sampler = pthread_create(&sampler, nullptr, sampler_main, &shared) == 0;

  header.baseline_rss = resident_bytes(statm_fd);
  header.hwm_reset = reset_peak_resident() ? 1 : 0;
  header.timeline[0][0] = 0;
  header.timeline[0][1] = header.baseline_rss;
  header.timeline_count = 1;
  rusage usage_start{}, usage_end{};
  getrusage(RUSAGE_SELF, &usage_start);
  header.status.store(static_cast<uint32_t>(WorkerStatus::kRunning), std::memory_order_release);
  shared.start_ns = monotonic_ns();
  engine.start_clock(shared.start_ns);
  header.tsc_start = ticks();
  shared.gate.store(1, std::memory_order_release);
  futex_wake_all(shared.gate);
  for (uint32_t i = 0; i < runners; ++i) pthread_join(handles[i], nullptr);
  header.tsc_end = ticks();
  header.wall_ns = monotonic_ns() - shared.start_ns;
  getrusage(RUSAGE_SELF, &usage_end);
  shared.stop_sampler.store(1, std::memory_order_release);
  if (have_sampler) pthread_join(sampler, nullptr);
  header.peak_rss = peak_resident_bytes();
  header.cpu_user_ns = timeval_ns(usage_end.ru_utime) - timeval_ns(usage_start.ru_utime);
  header.cpu_sys_ns = timeval_ns(usage_end.ru_stime) - timeval_ns(usage_start.ru_stime);

  measure_slop(plan, api, header);
  header.status.store(static_cast<uint32_t>(WorkerStatus::kDone), std::memory_order_release);
  return kWorkerOk;
}
