// What compare shows, computed once from a result file: per trace and allocator, the
// median and spread of each metric over the measured repeats, its ratio to the
// baseline allocator, and the winner per metric. The table, Markdown and HTML all
// render this.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mtreplay/results/grouping.hpp"
#include "mtreplay/results/metrics.hpp"
#include "mtreplay/results/schema.hpp"
#include "mtreplay/results/stats.hpp"

namespace mtreplay::results {

struct MetricSummary {
  std::optional<Spread> spread;  // nullopt: no successful run reports it
  std::optional<double> ratio;   // median / the baseline's median
  bool winner = false;           // best median of this trace, among >= 2 allocators
  double median() const { return spread ? spread->median : 0; }
};

struct AllocatorSummary {
  std::string allocator;
  std::string mode;
  size_t ok_runs = 0, failed_runs = 0;
  std::string failure;                 // first failed run's error, with its status
  std::vector<MetricSummary> metrics;  // parallel to TraceSummary::metrics
  const Run* median_run = nullptr;     // the run whose wall time is the median
};

struct TraceSummary {
  std::string name, content_hash;
  uint64_t events = 0;
  uint32_t threads = 0;
  std::string baseline;  // the allocator ratios are relative to ("" when absent)
  std::vector<Metric> metrics;
  std::vector<AllocatorSummary> allocators;
};

// Metrics of the compare table, in column order: wall, ops/s, malloc p50 and p99,
// free p99, peak RSS, fragmentation.
std::vector<Metric> compare_metrics();

std::vector<TraceSummary> summarize(const ResultFile& file, const std::string& baseline);

}  // namespace mtreplay::results
