// One replay run's outcome, in the terms of results/SCHEMA.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/replay/results_region.hpp"

namespace mtreplay::replay {

struct LatencySummary {
  uint64_t samples = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

struct BackendSpec {
  std::string name;  // glibc, jemalloc, ..., or the file name of a path
  std::string path;  // the .so to preload; empty for the system malloc
  std::string version;
};

// The default --pace window, chosen by measurement (replayer/README.md, BENCHMARKS.md).
inline constexpr uint64_t kDefaultPaceWindowNs = 100'000;

struct ReplayOptions {
  ReplayMode mode = ReplayMode::kParallel;
  TouchPolicy touch = TouchPolicy::kNone;
  AnomalyPolicy on_anomaly = AnomalyPolicy::kSkip;
  bool verify = false;
  LiveMapKind live_map = LiveMapKind::kArray;  // a benchmark switch (BENCHMARKS.md)
  // Parallel mode: the window of recorded time threads are kept within (0: none).
  uint64_t pace_window_ns = kDefaultPaceWindowNs;
  TimingMode timing = TimingMode::kNone;
  double timing_scale = 1.0;  // replay ns per recorded ns, with TimingMode::kRecorded
  // After timing, allocate the peak's live set again to sum its usable-size slop.
  bool measure_slop = true;
};

struct RunResult {
  BackendSpec backend;
  std::vector<std::string> emulated;
  ReplayOptions options;
  uint32_t repeat = 0;
  bool warmup = false;

  std::string status = "ok";  // ok | failed | crashed
  std::string error;
  int64_t failed_at_op = -1;  // index in the plan's serial order
  int exit_code = 0;          // what `mtreplay replay` returns for this run
  bool load_failed = false;   // the allocator never loaded: further runs would fail alike

  uint64_t wall_ns = 0, cpu_user_ns = 0, cpu_sys_ns = 0, ops = 0;
  // Minor and major page faults of the replay: the allocator's own and those of the
  // blocks' first touches, which depend on where it places them (fresh, reused or purged
  // pages). On a paravirtualized guest each costs about 10 us (BENCHMARKS.md, #12,
  // Session 42), so a few hundred more move a short replay's wall by several percent.
  uint64_t page_faults = 0;
  double ops_per_sec = 0;
  std::map<std::string, uint64_t> ops_by_kind;
  std::vector<uint64_t> ops_by_thread;
  std::map<std::string, LatencySummary> latency_ns;
  uint64_t replayer_startup_bytes = 0, baseline_rss_bytes = 0, peak_rss_bytes = 0,
           peak_rss_delta_bytes = 0;
  // peak_rss_bytes less the replayer's own plan and tables: the allocator's start-up,
  // its heap and a small process, as a program's own peak RSS counts them.
  uint64_t program_peak_rss_bytes = 0;
  std::string peak_rss_method;  // vmhwm-reset | sampled
  std::vector<std::pair<uint64_t, uint64_t>> rss_timeline;
  uint64_t peak_live_bytes = 0;
  double fragmentation = 0;
  uint64_t usable_slop_bytes = 0;
  bool usable_slop_measured = false;
  uint64_t sync_wait_ns = 0;
  // A streamed plan (--plan stream): its segments, and the time the worker waited
  // for them between segments (kept out of wall_ns); 0, 0 for a whole plan.
  uint64_t plan_segments = 0;
  uint64_t stream_stall_ns = 0;
  uint64_t pace_wait_ns = 0;    // threads held back by the pacing window
  uint64_t timing_wait_ns = 0;  // threads waiting for ops' recorded times (--timing)
  uint64_t excluded_ns = 0;     // touch/verify work, subtracted from wall_ns
  PlanAnomalies anomalies;
  uint64_t failed_alloc_replay = 0;
};

}  // namespace mtreplay::replay
