#include "mtreplay/results/compare_report.hpp"

#include <fmt/core.h>

#include "mtreplay/results/text_table.hpp"

namespace mtreplay::results {

namespace {

std::string row_name(const AllocatorSummary& a) {
  return a.mode == "parallel" ? a.allocator : fmt::format("{} ({})", a.allocator, a.mode);
}

std::string metric_cell(const MetricSummary& s, Unit unit, bool markdown) {
  if (!s.spread) return "-";
  std::string value = format_value(s.median(), unit);
  if (s.winner) value = markdown ? fmt::format("**{}**", value) : value + "*";
  if (s.ratio) value += fmt::format(" {:.2f}x", *s.ratio);
  return value;
}

std::string trace_heading(const TraceSummary& t) {
  std::string base = t.baseline.empty() ? "no baseline run" : "ratios to " + t.baseline;
  return fmt::format("{} ({} events, {} thread{}; {})", t.name, t.events, t.threads,
                     t.threads == 1 ? "" : "s", base);
}

TextTable trace_table(const TraceSummary& t, bool markdown) {
  TextTable table;
  table.add_column("allocator", TextTable::Align::kLeft);
  for (size_t m = 0; m < t.metrics.size(); ++m) {
    table.add_column(t.metrics[m].label);
    if (m == 0) table.add_column("wall range");
  }
  table.add_column("runs");
  for (const auto& a : t.allocators) {
    if (a.ok_runs == 0) {
      table.add_note_row(row_name(a), fmt::format("FAILED: {}", a.failure));
      continue;
    }
    std::vector<std::string> cells = {row_name(a)};
    for (size_t m = 0; m < t.metrics.size(); ++m) {
      cells.push_back(metric_cell(a.metrics[m], t.metrics[m].unit, markdown));
      if (m == 0)
        cells.push_back(
            a.metrics[0].spread ? fmt::format("{:.1f}%", a.metrics[0].spread->range_pct()) : "-");
    }
    cells.push_back(a.failed_runs ? fmt::format("{} ({} failed)", a.ok_runs, a.failed_runs)
                                  : fmt::format("{}", a.ok_runs));
    table.add_row(std::move(cells));
    if (a.failed_runs) table.add_note_row("", a.failure);
  }
  return table;
}

constexpr const char* kLegend =
    "Medians over the measured runs (warm-up discarded); Nx = ratio to the baseline; "
    "{} = best of the trace. wall range = (max - min) / median of wall time. peak RSS = "
    "the replay's RSS above the replayer's own; frag = peak RSS / peak live requested "
    "bytes; faults = minor and major page faults during the replay.";

}  // namespace

std::string compare_text(const std::vector<TraceSummary>& traces) {
  std::string out;
  for (const auto& t : traces) {
    out += trace_heading(t) + "\n";
    out += trace_table(t, false).to_text();
    out += "\n";
  }
  out += fmt::format(kLegend, "*") + "\n";
  return out;
}

std::string compare_markdown(const std::vector<TraceSummary>& traces, const Environment& env) {
  std::string out = "## mtreplay compare\n\n";
  out += fmt::format("{} ({} cores), {}, {}, mtreplay {} ({})\n\n", env.cpu, env.cores, env.kernel,
                     env.libc, env.mtreplay_version, env.mtreplay_revision);
  for (const auto& t : traces) {
    out += fmt::format("### {}\n\n", trace_heading(t));
    out += trace_table(t, true).to_markdown();
    out += "\n";
  }
  out += fmt::format(kLegend, "**bold**") + "\n";
  return out;
}

}  // namespace mtreplay::results
