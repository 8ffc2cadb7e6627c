#include "mtreplay/results/summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/core.h>

namespace mtreplay::results {

std::vector<Metric> compare_metrics() {
  return {wall_metric(),
          ops_per_sec_metric(),
          latency_metric("malloc", "p50"),
          latency_metric("malloc", "p99"),
          latency_metric("free", "p99"),
          peak_rss_delta_metric(),
          fragmentation_metric(),
          page_faults_metric()};
}

namespace {

AllocatorSummary summarize_group(const ResultFile& file, const RunGroup& g,
                                 const std::vector<Metric>& metrics) {
  AllocatorSummary a;
  a.allocator = g.key.allocator;
  a.mode = g.key.mode;
  a.ok_runs = g.ok_runs.size();
  a.failed_runs = g.failed_runs.size();
  if (!g.failed_runs.empty()) {
    const Run& f = file.runs[g.failed_runs.front()];
    a.failure = fmt::format("{} in {} of {} runs: {}", status_name(f.status), a.failed_runs,
                            a.failed_runs + a.ok_runs, f.error.empty() ? "no message" : f.error);
  }
  for (const Metric& m : metrics) {
    MetricSummary s;
    auto values = metric_values(file, g, m.read);
    if (!values.empty()) s.spread = spread_of(values);
    a.metrics.push_back(s);
  }
  // The median-wall run stands for the group in the RSS-over-time chart.
  std::vector<std::pair<double, const Run*>> by_wall;
  for (size_t i : g.ok_runs)
    if (file.runs[i].wall_ns) by_wall.emplace_back(*file.runs[i].wall_ns, &file.runs[i]);
  std::sort(by_wall.begin(), by_wall.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  if (!by_wall.empty()) a.median_run = by_wall[(by_wall.size() - 1) / 2].second;
  return a;
}

void mark_ratios_and_winners(TraceSummary& t) {
  const AllocatorSummary* base = nullptr;
  for (const auto& a : t.allocators)
    if (a.allocator == t.baseline && a.ok_runs > 0) base = &a;
  if (!base) t.baseline.clear();
  for (size_t m = 0; m < t.metrics.size(); ++m) {
    std::vector<AllocatorSummary*> having;
    for (auto& a : t.allocators)
      if (a.metrics[m].spread) having.push_back(&a);
    if (base && base->metrics[m].spread && base->metrics[m].median() != 0)
      for (auto* a : having)
        a->metrics[m].ratio = a->metrics[m].median() / base->metrics[m].median();
    if (having.size() < 2) continue;
    bool lower = t.metrics[m].better == Better::kLower;
    auto best = std::min_element(having.begin(), having.end(), [&](auto* x, auto* y) {
      return lower ? x->metrics[m].median() < y->metrics[m].median()
                   : x->metrics[m].median() > y->metrics[m].median();
    });
    double best_value = (*best)->metrics[m].median();
    // Ties share the win.
    for (auto* a : having) a->metrics[m].winner = a->metrics[m].median() == best_value;
  }
}

}  // namespace

std::vector<TraceSummary> summarize(const ResultFile& file, const std::string& baseline) {
  std::vector<TraceSummary> traces;
  std::map<std::string, size_t> by_hash;
  std::vector<Metric> metrics = compare_metrics();
  for (const RunGroup& g : group_runs(file)) {
    auto [it, inserted] = by_hash.try_emplace(g.key.trace_hash, traces.size());
    if (inserted) {
      TraceSummary t;
      t.name = g.trace_name;
      t.content_hash = g.key.trace_hash;
      t.events = g.first->trace.events;
      t.threads = g.first->trace.threads;
      t.baseline = baseline;
      t.metrics = metrics;
      traces.push_back(std::move(t));
    }
    traces[it->second].allocators.push_back(summarize_group(file, g, metrics));
  }
  for (auto& t : traces) mark_ratios_and_winners(t);
  return traces;
}

}  // namespace mtreplay::results
