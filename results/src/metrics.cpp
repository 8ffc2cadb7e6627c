#include "mtreplay/results/metrics.hpp"

#include <fmt/core.h>

#include <cmath>

namespace mtreplay::results {

namespace {

std::optional<double> as_double(const std::optional<uint64_t>& v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

}  // namespace

Metric wall_metric() {
  return {"wall_ns", "wall", Unit::kNanoseconds, Better::kLower,
          [](const Run& r) { return as_double(r.wall_ns); }};
}

Metric cpu_metric() {
  return {"cpu_ns", "cpu", Unit::kNanoseconds, Better::kLower,
          [](const Run& r) { return as_double(r.cpu_ns()); }};
}

Metric ops_per_sec_metric() {
  return {"ops_per_sec", "ops/s", Unit::kPerSecond, Better::kHigher,
          [](const Run& r) { return r.ops_per_sec; }};
}

Metric peak_rss_delta_metric() {
  return {"peak_rss_delta_bytes", "peak RSS", Unit::kBytes, Better::kLower,
          [](const Run& r) { return as_double(r.peak_rss_delta_bytes); }};
}

Metric page_faults_metric() {
  return {"page_faults", "faults", Unit::kCount, Better::kLower,
          [](const Run& r) { return as_double(r.page_faults); }};
}

Metric fragmentation_metric() {
  return {"fragmentation", "frag", Unit::kRatio, Better::kLower,
          [](const Run& r) { return r.fragmentation; }};
}

Metric latency_metric(const std::string& kind, const std::string& percentile) {
  return {fmt::format("latency.{}.{}", kind, percentile), fmt::format("{} {}", kind, percentile),
          Unit::kNanoseconds, Better::kLower,
          [kind, percentile](const Run& r) -> std::optional<double> {
            auto it = r.latency_ns.find(kind);
            if (it == r.latency_ns.end() || it->second.samples == 0) return std::nullopt;
            const LatencySummary& l = it->second;
            if (percentile == "p50") return static_cast<double>(l.p50);
            if (percentile == "p90") return static_cast<double>(l.p90);
            if (percentile == "p99") return static_cast<double>(l.p99);
            if (percentile == "p999") return static_cast<double>(l.p999);
            if (percentile == "max") return static_cast<double>(l.max);
            return std::nullopt;
          }};
}

std::vector<Metric> diff_metrics(const std::vector<std::string>& latency_kinds) {
  std::vector<Metric> out = {wall_metric(), cpu_metric(), peak_rss_delta_metric()};
  for (const auto& kind : latency_kinds) out.push_back(latency_metric(kind, "p99"));
  return out;
}

std::string format_value(double v, Unit unit) {
  if (std::isnan(v)) return "-";
  switch (unit) {
    case Unit::kNanoseconds:
      if (v >= 1e9) return fmt::format("{:.2f} s", v / 1e9);
      if (v >= 1e6) return fmt::format("{:.1f} ms", v / 1e6);
      if (v >= 1e4) return fmt::format("{:.1f} us", v / 1e3);
      return fmt::format("{:.0f} ns", v);
    case Unit::kBytes:
      if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
      if (v >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
      if (v >= 1024.0) return fmt::format("{:.1f} KiB", v / 1024.0);
      return fmt::format("{:.0f} B", v);
    case Unit::kPerSecond:
      if (v >= 1e6) return fmt::format("{:.2f} M/s", v / 1e6);
      if (v >= 1e3) return fmt::format("{:.1f} k/s", v / 1e3);
      return fmt::format("{:.0f} /s", v);
    case Unit::kRatio:
      return fmt::format("{:.2f}", v);
    case Unit::kCount:
      if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
      if (v >= 1e4) return fmt::format("{:.0f}k", v / 1e3);
      return fmt::format("{:.0f}", v);
  }
  return fmt::format("{}", v);
}

}  // namespace mtreplay::results
