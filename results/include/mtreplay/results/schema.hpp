// The result schema (results/SCHEMA.md) as C++ values. Every field a tool reads is
// typed here; each run also keeps the JSON object it was read from, so fields this
// version does not know survive a read-modify-write (compare re-labels the replayer's
// runs with their repeat index without dropping what the replayer added).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mtreplay::results {

inline constexpr const char* kSchemaName = "mtreplay-result";
inline constexpr int kSchemaVersion = 1;

struct Environment {
  std::string cpu, kernel, libc, mtreplay_version, mtreplay_revision;
  int cores = 0;
};

struct TraceIdentity {
  std::string name;  // file name without .mtr
  std::string path;
  std::string content_hash;  // identity: two runs replayed the same trace iff equal
  uint64_t events = 0;
  uint32_t threads = 0;
  uint32_t pid = 0;
};

struct AllocatorInfo {
  std::string name, path, version;
  std::vector<std::string> emulated;
};

struct LatencySummary {
  uint64_t samples = 0;
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

enum class RunStatus { kOk, kFailed, kCrashed };
std::string_view status_name(RunStatus s);

// Metrics are optional: a failed run may have none, and diff must name a missing one
// rather than read it as zero.
struct Run {
  TraceIdentity trace;
  AllocatorInfo allocator;
  std::string mode = "parallel";
  std::string touch = "none";
  bool verify = false;
  int repeat = 0;
  bool warmup = false;
  RunStatus status = RunStatus::kOk;
  std::string error;
  int64_t failed_at_op = -1;

  std::optional<uint64_t> wall_ns, cpu_user_ns, cpu_sys_ns, ops;
  std::optional<uint64_t> page_faults;  // absent in files written before it was recorded
  std::optional<double> ops_per_sec;
  std::map<std::string, uint64_t> ops_by_kind;
  std::map<std::string, LatencySummary> latency_ns;  // by op kind
  std::optional<uint64_t> baseline_rss_bytes, peak_rss_bytes, peak_rss_delta_bytes;
  std::vector<std::pair<uint64_t, uint64_t>> rss_timeline;  // (ns since start, bytes)
  std::optional<uint64_t> peak_live_bytes;
  std::optional<double> fragmentation;
  std::optional<uint64_t> sync_wait_ns;
  std::map<std::string, uint64_t> anomalies;

  nlohmann::json raw = nlohmann::json::object();  // as read; unknown fields kept

  bool ok() const { return status == RunStatus::kOk; }
  std::optional<uint64_t> cpu_ns() const;  // user + sys when both are present
};

// Per-trace facts for the report (size and lifetime histograms). Optional in the
// file: compare adds them when it could analyse the trace.
struct HistogramBin {
  std::string label;  // "64-127 B", "1-10 us"
  uint64_t count = 0;
};
struct TraceProfile {
  std::string content_hash;
  std::string name;
  std::vector<HistogramBin> size_histogram;      // requested sizes
  std::vector<HistogramBin> lifetime_histogram;  // allocation to free
};

struct ResultFile {
  std::string schema = kSchemaName;
  int schema_version = kSchemaVersion;
  std::string created;  // ISO 8601 UTC
  Environment environment;
  std::vector<Run> runs;
  std::vector<TraceProfile> trace_profiles;  // "trace_profiles" (optional)
};

}  // namespace mtreplay::results
