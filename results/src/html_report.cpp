#include "mtreplay/results/html_report.hpp"

#include <fmt/core.h>

#include <cmath>
#include <limits>
#include <map>

#include "mtreplay/results/svg_chart.hpp"

namespace mtreplay::results {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:1.5em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd}
.env,.legend-note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td.win{font-weight:bold;color:#1a7f37}td.failed{color:#b00020;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #eee;background:#fff}
svg .chart-title{font-size:14px;font-weight:600}
svg .tick,svg .category,svg .legend text{font-size:11px;fill:#444}
svg .grid{stroke:#eee}svg .axis{stroke:#888}
svg .whisker{stroke:#222;stroke-width:1.2;fill:none}
)";

// After layout: bars with a real box and lines with a real length, per chart.
constexpr const char* kRenderCheck = R"(
(function(){var out={};document.querySelectorAll('svg.chart').forEach(function(svg){
var id=svg.getAttribute('data-chart'),bars=0,lines=0;
svg.querySelectorAll('rect.bar').forEach(function(r){var b=r.getBBox();if(b.width>0&&b.height>0)bars++;});
svg.querySelectorAll('path.series').forEach(function(p){if(p.getTotalLength()>0)lines++;});
out[id]={bars:bars,lines:lines};});
document.body.setAttribute('data-rendered',JSON.stringify(out));})();
)";

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

size_t metric_index(const TraceSummary& t, const std::string& id) {
  for (size_t i = 0; i < t.metrics.size(); ++i)
    if (t.metrics[i].id == id) return i;
  return t.metrics.size();
}

std::string table_html(const TraceSummary& t) {
  std::string out = "<table><thead><tr><th>allocator</th>";
  for (const auto& m : t.metrics) out += fmt::format("<th>{}</th>", html_escape(m.label));
  out += "<th>wall range</th><th>runs</th></tr></thead><tbody>\n";
  for (const auto& a : t.allocators) {
    out += fmt::format("<tr><td>{}</td>", html_escape(a.allocator));
    if (a.ok_runs == 0) {
      out += fmt::format("<td class=\"failed\" colspan=\"{}\">FAILED: {}</td></tr>\n",
                         t.metrics.size() + 2, html_escape(a.failure));
      continue;
    }
    for (size_t m = 0; m < t.metrics.size(); ++m) {
      const MetricSummary& s = a.metrics[m];
      std::string cell = s.spread ? format_value(s.median(), t.metrics[m].unit) : "-";
      if (s.ratio) cell += fmt::format(" ({:.2f}x)", *s.ratio);
      out += fmt::format("<td{}>{}</td>", s.winner ? " class=\"win\"" : "", html_escape(cell));
    }
    const auto& wall = a.metrics[0].spread;
    out += fmt::format("<td>{}</td><td>{}{}</td></tr>\n",
                       wall ? fmt::format("{:.1f}%", wall->range_pct()) : "-", a.ok_runs,
                       a.failed_runs
                           ? fmt::format(" ({} failed: {})", a.failed_runs, html_escape(a.failure))
                           : "");
  }
  return out + "</tbody></table>\n";
}

// One bar per allocator that has the metric: median, min-max whiskers.
std::string metric_bars(const TraceSummary& t, const std::string& metric_id,
                        const std::string& title, const std::map<std::string, size_t>& color_of) {
  size_t m = metric_index(t, metric_id);
  if (m == t.metrics.size()) return {};
  BarChart chart;
  chart.id = slug(t.name) + "-" + metric_id;
  chart.title = title;
  chart.unit = t.metrics[m].unit;
  BarSeries series;
  for (const auto& a : t.allocators) {
    if (!a.metrics[m].spread) continue;
    const Spread& s = *a.metrics[m].spread;
    chart.categories.push_back(a.allocator);
    series.values.push_back(s.median);
    series.whiskers.emplace_back(s.min, s.max);
    series.colors.push_back(palette_color(color_of.at(a.allocator)));
  }
  if (chart.categories.empty()) return {};
  chart.series.push_back(std::move(series));
  return render(chart);
}

// Percentiles of one op kind from each allocator's median run, log scale.
std::string latency_bars(const TraceSummary& t, const std::string& kind) {
  static const std::vector<std::string> kPercentiles = {"p50", "p90", "p99", "p999"};
  BarChart chart;
  chart.id = slug(t.name) + "-latency-" + kind;
  chart.title = kind + " latency percentiles (median run, log scale)";
  chart.log_scale = true;
  std::vector<BarSeries> series(kPercentiles.size());
  for (size_t p = 0; p < kPercentiles.size(); ++p) series[p].name = kPercentiles[p];
  for (const auto& a : t.allocators) {
    if (!a.median_run) continue;
    auto it = a.median_run->latency_ns.find(kind);
    if (it == a.median_run->latency_ns.end() || it->second.samples == 0) continue;
    const LatencySummary& l = it->second;
    chart.categories.push_back(a.allocator);
    double values[] = {double(l.p50), double(l.p90), double(l.p99), double(l.p999)};
    for (size_t p = 0; p < kPercentiles.size(); ++p)
      series[p].values.push_back(values[p] > 0 ? values[p] : kNaN);
  }
  if (chart.categories.empty()) return {};
  chart.series = std::move(series);
  return render(chart);
}

std::string rss_lines(const TraceSummary& t, const std::map<std::string, size_t>& color_of) {
  LineChart chart;
  chart.id = slug(t.name) + "-rss-timeline";
  chart.title = "RSS over time (median run of each allocator)";
  for (const auto& a : t.allocators) {
    if (!a.median_run || a.median_run->rss_timeline.empty()) continue;
    LineSeries s{a.allocator, palette_color(color_of.at(a.allocator)), {}};
    for (const auto& [ns, bytes] : a.median_run->rss_timeline)
      s.points.emplace_back(static_cast<double>(ns), static_cast<double>(bytes));
    chart.series.push_back(std::move(s));
  }
  if (chart.series.empty()) return {};
  return render(chart);
}

std::string histogram(const std::string& id, const std::string& title,
                      const std::vector<HistogramBin>& bins) {
  if (bins.empty()) return {};
  BarChart chart;
  chart.id = id;
  chart.title = title;
  chart.unit = Unit::kCount;
  BarSeries series;
  for (const auto& b : bins) {
    chart.categories.push_back(b.label);
    series.values.push_back(static_cast<double>(b.count));
    series.colors.push_back("#6b8fb5");
  }
  chart.series.push_back(std::move(series));
  return render(chart);
}

}  // namespace

std::string html_report(const ResultFile& file, const std::vector<TraceSummary>& traces) {
  std::map<std::string, size_t> color_of;
  for (const auto& t : traces)
    for (const auto& a : t.allocators) color_of.try_emplace(a.allocator, color_of.size());
  std::map<std::string, const TraceProfile*> profile_of;
  for (const auto& p : file.trace_profiles) profile_of[p.content_hash] = &p;

  const Environment& env = file.environment;
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>mtreplay compare</title><style>{}</style></head><body>\n"
      "<h1>mtreplay compare</h1>\n<p class=\"env\">{} ({} cores) &middot; Linux {} &middot; {} "
      "&middot; mtreplay {} ({}) &middot; {}</p>\n"
      "<p class=\"legend-note\">Medians over the measured runs (warm-up runs discarded); "
      "(Nx) is the ratio to the baseline allocator; green is the best of the trace. Whiskers "
      "span min to max of the runs. peak RSS is the replay's RSS above the replayer's own; "
      "frag = peak RSS / peak live requested bytes.</p>\n",
      kStyle, html_escape(env.cpu), env.cores, html_escape(env.kernel), html_escape(env.libc),
      html_escape(env.mtreplay_version), html_escape(env.mtreplay_revision),
      html_escape(file.created));

  for (const auto& t : traces) {
    out += fmt::format(
        "<section class=\"trace\" data-trace=\"{}\">\n<h2>{}</h2>\n<p class=\"env\">{} events, "
        "{} thread{}, {}; content hash {}</p>\n",
        html_escape(t.name), html_escape(t.name), t.events, t.threads, t.threads == 1 ? "" : "s",
        t.baseline.empty() ? std::string("no baseline run")
                           : "ratios to " + html_escape(t.baseline),
        html_escape(t.content_hash));
    out += table_html(t);
    out += "<div class=\"charts\">\n";
    out += metric_bars(t, "wall_ns", "Wall time (median; whiskers min-max)", color_of);
    out += metric_bars(t, "peak_rss_delta_bytes", "Peak RSS above the replayer's own", color_of);
    out += latency_bars(t, "malloc");
    out += latency_bars(t, "free");
    out += rss_lines(t, color_of);
    if (auto it = profile_of.find(t.content_hash); it != profile_of.end()) {
      out += histogram(slug(t.name) + "-sizes", "Requested sizes (allocations per bucket)",
                       it->second->size_histogram);
      out += histogram(slug(t.name) + "-lifetimes", "Lifetimes (allocation to free)",
                       it->second->lifetime_histogram);
    }
    out += "</div>\n</section>\n";
  }
  out += fmt::format("<script>{}</script>\n</body></html>\n", kRenderCheck);
  return out;
}

}  // namespace mtreplay::results
