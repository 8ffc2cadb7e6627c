// Result files made up in tests: the shapes diff and the reports must handle,
// without running a replay.
#pragma once

#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results::testing {

struct RunSpec {
  std::string trace = "python3";
  std::string hash = "fnv1a64:00000000000000aa";
  std::string allocator = "glibc";
  double wall_ms = 100;
  double rss_mib = 100;
  double malloc_p99_ns = 200;
  bool crashed = false;
  int repeat = 0;
  bool warmup = false;
};

inline Run make_run(const RunSpec& s) {
  Run r;
  r.trace = {s.trace, "traces/samples/" + s.trace + ".mtr", s.hash, 1000, 1, 42};
  r.allocator = {s.allocator, "", "", {}};
  r.repeat = s.repeat;
  r.warmup = s.warmup;
  if (s.crashed) {
    r.status = RunStatus::kCrashed;
    r.error = "killed by signal 11 (Segmentation fault)";
    return r;
  }
  r.wall_ns = static_cast<uint64_t>(s.wall_ms * 1e6);
  r.cpu_user_ns = *r.wall_ns * 9 / 10;
  r.cpu_sys_ns = *r.wall_ns / 10;
  r.ops = 1000000;
  r.ops_per_sec = 1e6 / (s.wall_ms / 1e3);
  r.latency_ns["malloc"] = {5000, 40, 80, static_cast<uint64_t>(s.malloc_p99_ns), 900, 5000};
  r.latency_ns["free"] = {5000, 30, 60, 150, 700, 4000};
  r.baseline_rss_bytes = 8u << 20;
  r.peak_rss_delta_bytes = static_cast<uint64_t>(s.rss_mib * 1024 * 1024);
  r.peak_rss_bytes = *r.baseline_rss_bytes + *r.peak_rss_delta_bytes;
  r.peak_live_bytes = *r.peak_rss_delta_bytes * 4 / 5;
  r.fragmentation = 1.25;
  r.page_faults = 800;
  for (int i = 0; i < 8; ++i)
    r.rss_timeline.emplace_back(static_cast<uint64_t>(i * s.wall_ms * 1e6 / 7),
                                *r.baseline_rss_bytes + *r.peak_rss_delta_bytes * i / 7);
  return r;
}

// One run per wall time, repeats numbered, everything else from the template.
inline std::vector<Run> make_runs(RunSpec spec, const std::vector<double>& wall_ms) {
  std::vector<Run> runs;
  for (size_t i = 0; i < wall_ms.size(); ++i) {
    spec.wall_ms = wall_ms[i];
    spec.repeat = static_cast<int>(i);
    runs.push_back(make_run(spec));
  }
  return runs;
}

inline ResultFile make_file(const std::vector<std::vector<Run>>& groups) {
  ResultFile f;
  f.created = "2026-11-22T03:00:00Z";
  f.environment = {"Test CPU", "6.1.0", "glibc 2.36", "0.1.0", "abc1234", 2};
  for (const auto& g : groups) f.runs.insert(f.runs.end(), g.begin(), g.end());
  return f;
}

}  // namespace mtreplay::results::testing
