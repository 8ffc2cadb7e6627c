#include "mtreplay/replay/worker_launch.hpp"

#include <fmt/core.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mtreplay/install_layout.hpp"

extern char** environ;

namespace mtreplay::replay {
namespace {

// The worker's exit codes (worker/replay_engine.hpp).
constexpr int kWorkerLoadFailed = 11;
constexpr int kWorkerNullReturned = 12;
constexpr int kWorkerVerifyFailed = 13;
constexpr int kLoaderFailed = 127;  // ld.so could not start the program

class SharedRegion {
 public:
  explicit SharedRegion(size_t bytes) : size_(bytes) {
    fd_ = memfd_create("mtreplay-results", 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
    if (ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
      int err = errno;
      close(fd_);
      throw std::system_error(err, std::generic_category(), "sizing the results region");
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      close(fd_);
      throw std::system_error(err, std::generic_category(), "mapping the results region");
    }
    base_ = static_cast<std::byte*>(p);
  }
  ~SharedRegion() {
    munmap(base_, size_);
    close(fd_);
  }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  int fd() const { return fd_; }
  std::byte* base() const { return base_; }

 private:
  int fd_ = -1;
  std::byte* base_ = nullptr;
  size_t size_ = 0;
};

std::vector<std::string> worker_environment(const BackendSpec& backend) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.emplace_back(*e);
  }
  if (!backend.path.empty()) env.push_back("LD_PRELOAD=" + backend.path);
  return env;
}

void copy_string(char* out, size_t capacity, const std::string& in) {
  std::snprintf(out, capacity, "%s", in.c_str());
}

LatencySummary summarize(std::vector<uint64_t>& ns) {
  LatencySummary s;
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t index = static_cast<size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
    return ns[std::min(index, ns.size() - 1)];
  };
  s.samples = ns.size();
  s.p50 = at(0.50), s.p90 = at(0.90), s.p99 = at(0.99), s.p999 = at(0.999);
  s.max = ns.back();
  return s;
}

// `before`: per thread, the ops of each kind in the segments of a streamed plan that
// preceded `plan` (null for a whole plan).
void collect(const PlanView& plan, ResultsView results, RunResult& r,
             const std::vector<std::array<uint64_t, kKinds>>* before = nullptr) {
  const ResultsHeader& h = results.header();
  uint32_t threads = h.thread_count;
  double ns_per_tick = h.tsc_end > h.tsc_start ? static_cast<double>(h.wall_ns) /
                                                     static_cast<double>(h.tsc_end - h.tsc_start)
                                               : 1.0;
  for (uint32_t bit = 0; bit < kEmuCount; ++bit) {
    if (h.emulated_mask & (1u << bit)) r.emulated.emplace_back(emulated_call_name(bit));
  }
  std::vector<uint64_t> kinds(kKinds, 0);
  uint64_t sync_ticks = 0, pace_ticks = 0, timing_ticks = 0, max_excluded = 0;
  r.ops_by_thread.assign(threads, 0);
  for (uint32_t slot = 0; slot < threads; ++slot) {
    const ThreadStats& st = results.stats(slot);
    // The worker does not count per kind (it would cost every op): the ops it
    // completed are the first `progress` of the thread's plan; the image holds the
    // counts of a whole thread.
    const uint64_t op_count = plan.thread(slot).op_count;
    uint64_t done = std::min<uint64_t>(st.progress.load(std::memory_order_relaxed), op_count);
    if (done == op_count) {
      const uint64_t* counts = plan.kind_counts(slot);
      for (size_t k = 1; k < kKinds; ++k) kinds[k] += counts[k], r.ops_by_thread[slot] += counts[k];
    } else {
      const ImageOp* ops = plan.ops(slot);
      for (uint64_t i = 0; i < done; ++i) {
        auto k = static_cast<size_t>(ops[i].kind);
        if (k == 0 || k >= kKinds) continue;
        ++kinds[k];
        ++r.ops_by_thread[slot];
      }
    }
    if (before) {
      for (size_t k = 1; k < kKinds; ++k)
        kinds[k] += (*before)[slot][k], r.ops_by_thread[slot] += (*before)[slot][k];
    }
    sync_ticks += st.sync_wait_ticks;
    pace_ticks += st.pace_wait_ticks;
    timing_ticks += st.timing_wait_ticks;
    max_excluded = std::max(max_excluded, st.excluded_ticks);
    r.failed_alloc_replay += st.failed_alloc_replay;
  }
  for (size_t k = 1; k < kKinds; ++k) {
    if (kinds[k] == 0) continue;
    r.ops_by_kind[plan_kind_name(static_cast<PlanKind>(k))] = kinds[k];
    r.ops += kinds[k];
    std::vector<uint64_t> ns;
    for (uint32_t slot = 0; slot < threads; ++slot) {
      const ThreadStats& st = results.stats(slot);
      const uint32_t* samples = results.samples(slot, k);
      for (uint32_t i = 0; i < st.sample_count[k]; ++i)
        ns.push_back(static_cast<uint64_t>(samples[i] * ns_per_tick));
    }
    if (!ns.empty()) r.latency_ns[plan_kind_name(static_cast<PlanKind>(k))] = summarize(ns);
  }
  // Touch and verify work is excluded: the busiest thread's share bounds what it
  // added to the wall time (exact for one thread).
  r.excluded_ns = static_cast<uint64_t>(static_cast<double>(max_excluded) * ns_per_tick);
  const uint64_t replay_ns = h.wall_ns - std::min(h.wall_ns, h.stream_stall_ns);
  r.wall_ns = replay_ns > r.excluded_ns ? replay_ns - r.excluded_ns : replay_ns;
  r.cpu_user_ns = h.cpu_user_ns;
  r.cpu_sys_ns = h.cpu_sys_ns;
  r.page_faults = h.page_faults;
  r.ops_per_sec = r.wall_ns ? static_cast<double>(r.ops) * 1e9 / static_cast<double>(r.wall_ns) : 0;
  auto to_ns = [&](uint64_t ticks) {
    return static_cast<uint64_t>(static_cast<double>(ticks) * ns_per_tick);
  };
  r.sync_wait_ns = to_ns(sync_ticks);
  r.pace_wait_ns = to_ns(pace_ticks);
  r.timing_wait_ns = to_ns(timing_ticks);
  r.baseline_rss_bytes = h.baseline_rss;
  r.replayer_startup_bytes = h.baseline_rss > h.rss_at_entry ? h.baseline_rss - h.rss_at_entry : 0;
  r.replayer_startup_bytes += h.stream_table_bytes;
  r.peak_rss_bytes = h.hwm_reset ? h.peak_rss : std::max(h.sampled_peak_rss, h.baseline_rss);
  r.program_peak_rss_bytes =
      r.peak_rss_bytes > r.replayer_startup_bytes ? r.peak_rss_bytes - r.replayer_startup_bytes : 0;
  r.peak_rss_method = h.hwm_reset ? "vmhwm-reset" : "sampled";
  // A streamed plan's tables and buffer pages grow after the baseline: not the heap's.
  const uint64_t replayer_growth = h.baseline_rss + h.stream_table_bytes;
  r.peak_rss_delta_bytes =
      r.peak_rss_bytes > replayer_growth ? r.peak_rss_bytes - replayer_growth : 0;
  for (uint32_t i = 0; i < std::min(h.timeline_count, kMaxTimelinePoints); ++i)
    r.rss_timeline.emplace_back(h.timeline[i][0], h.timeline[i][1]);
  // Parallel threads run ahead of the recorded order (a producer ahead of its consumer),
  // so this replay's live set can outgrow the recording's: the larger one is the peak.
  // Serial and single replays keep the serial order, whose peak the plan knows exactly;
  // the sampler, reading the threads one after the other while ops go on, can add a
  // block freed after its thread was read to one made before the next was.
  r.peak_live_bytes = r.options.mode == ReplayMode::kParallel
                          ? std::max(plan.header().peak_live_bytes, h.sampled_peak_live)
                          : plan.header().peak_live_bytes;
  r.anomalies = plan.header().anomalies;
  r.plan_segments = plan.header().segment;
  r.stream_stall_ns = h.stream_stall_ns;
  r.fragmentation = r.peak_live_bytes ? static_cast<double>(r.peak_rss_delta_bytes) /
                                            static_cast<double>(r.peak_live_bytes)
                                      : 0.0;
  r.usable_slop_bytes = h.usable_slop_bytes;
  r.usable_slop_measured = h.slop_measured != 0;
}

// Where the worker stopped, in serial-order terms, and a phrase for the message.
// `serial_base`: the ops of the segments before `plan` (a streamed plan).
std::string locate(const PlanView& plan, int32_t slot, uint64_t op, RunResult& r,
                   uint64_t serial_base = 0) {
  if (slot < 0 || static_cast<uint32_t>(slot) >= plan.header().thread_count)
    return "before the replay began";
  const auto s = static_cast<uint32_t>(slot);
  const PlanThread& thread = plan.thread(s);
  if (op < thread.op_count) r.failed_at_op = static_cast<int64_t>(serial_base + plan.serial(s)[op]);
  const char* kind = op < thread.op_count ? plan_kind_name(plan.ops(s)[op].kind) : "end";
  return fmt::format("at op {} ({}, op {} of recorded thread {})", r.failed_at_op, kind, op,
                     thread.recorded_index);
}

// The worker's stderr goes to a memfd: the dynamic loader explains there why it could
// not preload the allocator, and the parent turns that into one line of its own.
class CapturedStderr {
 public:
  CapturedStderr() {
    fd_ = memfd_create("mtreplay-worker-stderr", MFD_CLOEXEC);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  }
  ~CapturedStderr() { close(fd_); }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;
  int fd() const { return fd_; }

  std::string text() const {
    std::string out(16384, '\0');
    ssize_t n = pread(fd_, out.data(), out.size(), 0);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
  }

 private:
  int fd_ = -1;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

// ld.so's reason for refusing `path`, from what it printed, or "" when it said nothing.
// It either ignores a preload it cannot open ("ERROR: ld.so: object 'P' from
// LD_PRELOAD cannot be preloaded (REASON): ignored.") or stops the program ("PROG:
// symbol lookup error: P: undefined symbol: S", "PROG: error while loading shared
// libraries: LIB: REASON").
std::string loader_reason(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    size_t at = line.find("cannot be preloaded (");
    if (at != std::string::npos) {
      size_t begin = at + std::strlen("cannot be preloaded (");
      size_t end = line.rfind("): ignored");
      if (end != std::string::npos && end > begin) return line.substr(begin, end - begin);
    }
    for (const char* marker :
         {": symbol lookup error: ", ": error while loading shared libraries: "}) {
      at = line.find(marker);
      if (at != std::string::npos) return trim(line.substr(at + std::strlen(marker)));
    }
  }
  return {};
}

}  // namespace

std::filesystem::path default_worker_path() {
  return layout::worker_path();
}

namespace {

// A streamed plan's segments in one shared buffer. With `ahead`, they take turns in its
// two halves and segment k + 1 is planned while the worker replays k (the parent then
// competes with the replay for the cores: worth it only where cores are spare);
// without, each is planned into the same place once the worker has finished the last.
class StreamFeeder {
 public:
  StreamFeeder(const SegmentSource& next, bool ahead) : next_(next), ahead_(ahead) {
    fd_ = memfd_create("mtreplay-plan-stream", 0);  // inherited by the worker
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
    // Writable: each segment's image is encoded straight into its half.
    void* p = mmap(nullptr, kStreamBufferBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   fd_, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      close(fd_);
      throw std::system_error(err, std::generic_category(), "mapping the plan buffer");
    }
    buffer_ = static_cast<std::byte*>(p);
  }
  ~StreamFeeder() {
    munmap(buffer_, kStreamBufferBytes);
    close(fd_);
  }
  StreamFeeder(const StreamFeeder&) = delete;
  StreamFeeder& operator=(const StreamFeeder&) = delete;

  int fd() const { return fd_; }
  uint32_t halves() const { return ahead_ ? 2 : 1; }
  bool finished() const { return last_; }
  uint32_t published() const { return published_; }
  // Whether the next segment may be planned now, the worker having done `done`.
  bool may_publish(uint32_t done) const { return !last_ && published_ < done + halves(); }

  // A published segment: its image, and per thread and kind the ops (and in all, the
  // ops) of the segments before it.
  struct Segment {
    PlanView view;
    std::vector<std::array<uint64_t, kKinds>> before;
    uint64_t serial_base = 0;
  };
  // Segment `index`, published and not yet overwritten (the worker's current one).
  const Segment& segment(uint32_t index) const { return ring_[index % 2]; }

  // Plans the next segment into its half of the buffer (the worker is done with the
  // segment that was there).
  void publish(ResultsHeader* header) {
    const uint32_t index = published_;
    Segment& out = ring_[index % 2];
    if (index > 0) {
      const Segment& previous = ring_[(index - 1) % 2];
      out.before = previous.before;
      for (uint32_t slot = 0; slot < previous.view.header().thread_count; ++slot) {
        for (size_t k = 0; k < kKinds; ++k)
          out.before[slot][k] += previous.view.kind_counts(slot)[k];
      }
      out.serial_base = previous.serial_base + previous.view.header().op_count;
    }
    const Plan& plan = next_();
    const uint64_t at = stream_segment_offset(index, halves());
    uint64_t bytes;
    try {
      bytes =
          write_plan_image_to(fd_, plan, false, /*shrink=*/false, at, buffer_, kStreamHalfBytes);
    } catch (const std::length_error&) {
      throw std::runtime_error("a plan segment outgrew its buffer");
    }
    std::string problem = out.view.attach(buffer_ + at, bytes);
    if (!problem.empty()) throw std::runtime_error(problem);
    out.before.resize(out.view.header().thread_count);
    last_ = plan.last_segment;
    ++published_;
    if (header) {
      header->segments_published.store(published_, std::memory_order_release);
      shared_futex_wake(header->segments_published);
    }
  }

 private:
  const SegmentSource& next_;
  const bool ahead_;
  int fd_ = -1;
  std::byte* buffer_ = nullptr;
  Segment ring_[2];
  bool last_ = false;
  uint32_t published_ = 0;
};

RunResult run_worker_process(const PlanView& first, const std::string& plan_arg,
                             StreamFeeder* feeder, const BackendSpec& backend,
                             const ReplayOptions& options, const std::filesystem::path& worker,
                             const ProgressFn& progress) {
  const uint32_t threads = first.header().thread_count;
  SharedRegion region(ResultsLayout::total(threads));
  ResultsView results(region.base());
  ResultsHeader& header = *new (region.base()) ResultsHeader();
  for (uint32_t slot = 0; slot < threads; ++slot) new (&results.stats(slot)) ThreadStats();
  header.thread_count = threads;
  header.config.mode = options.mode;
  header.config.touch = options.touch;
  header.config.on_anomaly = options.on_anomaly;
  header.config.verify = options.verify ? 1 : 0;
  header.config.measure_slop = options.measure_slop ? 1 : 0;
  header.config.live_map = options.live_map;
  header.config.pace_window_ns = options.pace_window_ns;
  header.config.timing = options.timing;
  header.config.timing_scale = options.timing_scale;
  header.stream = feeder ? 1 : 0;
  if (feeder) header.stream_halves = feeder->halves();
  if (feeder) header.segments_published.store(feeder->published(), std::memory_order_relaxed);
  copy_string(header.config.allocator_name, sizeof header.config.allocator_name, backend.name);
  copy_string(header.config.expected_object, sizeof header.config.expected_object, backend.path);

  RunResult r;
  r.backend = backend;
  r.options = options;
  r.anomalies = first.header().anomalies;

  std::string worker_path = worker.string();
  std::string plan_word = plan_arg, results_arg = std::to_string(region.fd());
  std::vector<char*> argv = {worker_path.data(), plan_word.data(), results_arg.data(), nullptr};
  std::vector<std::string> env = worker_environment(backend);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  CapturedStderr worker_stderr;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, worker_stderr.fd(), STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, worker_path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "starting " + worker_path);

  int wstatus = 0;
  // A pidfd wakes the wait the moment the worker exits (a sleep would add up to its
  // length to every run); the progress callback runs every 50 ms meanwhile.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    pid_t done = waitpid(pid, &wstatus, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      int err = errno;
      if (pidfd >= 0) close(pidfd);
      throw std::system_error(err, std::generic_category(), "waitpid");
    }
    if (feeder) {
      uint32_t done_segments = header.segments_done.load(std::memory_order_acquire);
      if (progress) {
        uint32_t current = std::min(header.current_segment.load(std::memory_order_relaxed),
                                    feeder->published() - 1);
        uint64_t ops = feeder->segment(current).serial_base;
        for (uint32_t slot = 0; slot < threads; ++slot)
          ops += results.stats(slot).progress.load(std::memory_order_relaxed);
        progress(ops, 0);
      }
      if (feeder->may_publish(done_segments)) {
        try {
          feeder->publish(&header);
        } catch (...) {  // a corrupt trace met mid-way: the worker waits for nothing
          kill(pid, SIGKILL);
          waitpid(pid, &wstatus, 0);
          if (pidfd >= 0) close(pidfd);
          throw;
        }
        continue;
      }
      shared_futex_wait(header.segments_done, done_segments, 20'000'000);
      continue;
    }
    if (progress) {
      uint64_t ops = 0;
      for (uint32_t slot = 0; slot < threads; ++slot)
        ops += results.stats(slot).progress.load(std::memory_order_relaxed);
      progress(ops, first.header().op_count);
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, 50);
    } else {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }
  if (pidfd >= 0) close(pidfd);

  // A streamed plan: the segment the worker was on when it stopped.
  const StreamFeeder::Segment* segment =
      feeder ? &feeder->segment(header.current_segment.load(std::memory_order_relaxed)) : nullptr;
  const PlanView& plan = segment ? segment->view : first;
  const auto* before = segment ? &segment->before : nullptr;
  const uint64_t serial_base = segment ? segment->serial_base : 0;
  r.plan_segments = plan.header().segment;
  auto status = static_cast<WorkerStatus>(header.status.load(std::memory_order_acquire));
  std::string name = backend.name;
  std::string said = worker_stderr.text();
  std::string refused = loader_reason(said);
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (!refused.empty() && (code == kWorkerLoadFailed || code == kLoaderFailed)) {
    r.status = "failed";
    r.exit_code = 3;
    r.load_failed = true;
    if (refused.starts_with(backend.path + ": ")) refused.erase(0, backend.path.size() + 2);
    r.error = fmt::format("allocator {}: cannot load {}: {}", name, backend.path, refused);
    return r;
  }
  // Anything else the worker (the allocator, mostly) printed is passed on.
  if (!said.empty()) std::fwrite(said.data(), 1, said.size(), stderr);
  if (WIFSIGNALED(wstatus)) {
    int signal = WTERMSIG(wstatus);
    r.status = "crashed";
    r.exit_code = 3;
    std::string where =
        status == WorkerStatus::kStarting
            ? std::string("while starting (loading the allocator)")
            : locate(plan, header.crashed_slot, header.failed_slot_op, r, serial_base);
    r.error =
        fmt::format("{} crashed with signal {} ({}) {}", name, signal, strsignal(signal), where);
    return r;
  }
  if (code == 0 && status == WorkerStatus::kDone) {
    collect(plan, results, r, before);
    if (r.failed_alloc_replay > 0) {
      r.exit_code = 3;
      r.error = fmt::format("{} returned NULL {} time(s) where the recording did not", name,
                            r.failed_alloc_replay);
    }
    return r;
  }
  r.status = "failed";
  switch (code) {
    case kWorkerLoadFailed:
      r.exit_code = 3;
      r.load_failed = true;
      r.error =
          fmt::format("allocator {}: {} is not usable: {}", name, backend.path, header.message);
      break;
    case kWorkerNullReturned:
      r.exit_code = 3;
      r.error =
          fmt::format("{} {}", header.message,
                      locate(plan, header.failed_slot, header.failed_slot_op, r, serial_base));
      break;
    case kWorkerVerifyFailed:
      r.exit_code = 1;
      r.error =
          fmt::format("verify failed: {} {}", header.message,
                      locate(plan, header.failed_slot, header.failed_slot_op, r, serial_base));
      break;
    case kLoaderFailed:
      r.exit_code = 3;
      r.load_failed = true;
      r.error = fmt::format("allocator {}: cannot load {}: the dynamic loader refused it", name,
                            backend.path);
      break;
    default:
      r.exit_code = status == WorkerStatus::kStarting && !backend.path.empty() ? 3 : 4;
      r.error = fmt::format("the replay worker exited with code {} ({})", code,
                            header.message[0] ? header.message : "no message");
      break;
  }
  if (r.exit_code == 3 || r.exit_code == 1) collect(plan, results, r, before);
  return r;
}

}  // namespace

RunResult run_worker(const PlanView& plan, int plan_fd, const BackendSpec& backend,
                     const ReplayOptions& options, const std::filesystem::path& worker,
                     const ProgressFn& progress) {
  return run_worker_process(plan, std::to_string(plan_fd), nullptr, backend, options, worker,
                            progress);
}

RunResult run_streamed_worker(const SegmentSource& next, bool plan_ahead,
                              const BackendSpec& backend, const ReplayOptions& options,
                              const std::filesystem::path& worker, const ProgressFn& progress) {
  StreamFeeder feeder(next, plan_ahead);
  feeder.publish(nullptr);
  return run_worker_process(feeder.segment(0).view, "stream:" + std::to_string(feeder.fd()),
                            &feeder, backend, options, worker, progress);
}

bool plan_ahead_by_default(uint32_t runners) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const auto usable = sched_getaffinity(0, sizeof cpus, &cpus) == 0
                          ? static_cast<uint32_t>(CPU_COUNT(&cpus))
                          : std::max(1u, std::thread::hardware_concurrency());
  return usable >= runners + 2;  // the parent plans on two threads (traces::ReadAhead)
}

RunResult run_worker(const Plan& /*plan*/, int plan_fd, const BackendSpec& backend,
                     const ReplayOptions& options, const std::filesystem::path& worker,
                     const ProgressFn& progress) {
  struct stat st {};
  if (fstat(plan_fd, &st) != 0 || st.st_size <= 0)
    throw std::system_error(errno, std::generic_category(), "reading the replay plan");
  const auto size = static_cast<size_t>(st.st_size);
  void* base = mmap(nullptr, size, PROT_READ, MAP_SHARED, plan_fd, 0);
  if (base == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mapping the replay plan");
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { munmap(p, n); }
  } unmap{base, size};
  PlanView view;
  std::string problem = view.attach(static_cast<const std::byte*>(base), size);
  if (!problem.empty()) throw std::runtime_error(problem);
  return run_worker(view, plan_fd, backend, options, worker, progress);
}

}  // namespace mtreplay::replay
