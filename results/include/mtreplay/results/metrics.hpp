// The metrics compare tabulates and diff tests, each with its unit and which way is
// better, read from a Run. A metric a run lacks reads as nullopt, never as zero.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

enum class Unit { kNanoseconds, kBytes, kPerSecond, kRatio, kCount };
enum class Better { kLower, kHigher };

struct Metric {
  std::string id;     // stable, used in JSON and messages: "wall_ns", "latency.malloc.p99"
  std::string label;  // for tables: "wall", "malloc p99"
  Unit unit;
  Better better;
  std::function<std::optional<double>(const Run&)> read;
};

Metric wall_metric();
Metric cpu_metric();  // user + sys
Metric ops_per_sec_metric();
Metric peak_rss_delta_metric();  // RSS above the replayer's own at start
Metric fragmentation_metric();
Metric page_faults_metric();
// percentile: "p50", "p90", "p99", "p999" or "max"
Metric latency_metric(const std::string& kind, const std::string& percentile);

// What diff tests (SCHEMA.md): wall, CPU, peak RSS delta, and the p99 of every
// latency kind some run reports. Kinds are sorted by name.
std::vector<Metric> diff_metrics(const std::vector<std::string>& latency_kinds);

// Formats a value of the unit for humans: "12.3 ms", "114.8 MiB", "5.41 M/s", "1.23".
std::string format_value(double value, Unit unit);

}  // namespace mtreplay::results
