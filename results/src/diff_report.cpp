#include "mtreplay/results/diff_report.hpp"

#include <fmt/core.h>

#include <cmath>

#include "mtreplay/results/text_table.hpp"

namespace mtreplay::results {

namespace {

std::string format_change(double pct) {
  if (std::isinf(pct)) return pct > 0 ? "new" : "gone";
  return fmt::format("{:+.1f}%", pct);
}

std::string format_p(double p) {
  return p < 0.001 ? "<0.001" : fmt::format("{:.3f}", p);
}

std::string verdict_cell(Verdict v, bool markdown) {
  if (!markdown || v == Verdict::kUnchanged) return std::string(verdict_name(v));
  return fmt::format("**{}**", verdict_name(v));
}

TextTable build_table(const DiffReport& report, bool markdown) {
  TextTable t;
  t.add_column("trace", TextTable::Align::kLeft);
  t.add_column("allocator", TextTable::Align::kLeft);
  t.add_column("metric", TextTable::Align::kLeft);
  t.add_column("base");
  t.add_column("cand");
  t.add_column("change");
  t.add_column("p");
  t.add_column("noise");
  t.add_column("n");
  t.add_column("verdict", TextTable::Align::kLeft);
  for (const auto& g : report.groups) {
    std::string alloc = g.key.mode == "parallel"
                            ? g.key.allocator
                            : fmt::format("{} ({})", g.key.allocator, g.key.mode);
    if (g.status_verdict != Verdict::kUnchanged || g.cand_failed > 0) {
      std::string what =
          g.status_verdict == Verdict::kImproved
              ? fmt::format("{} baseline run(s) failed, no candidate run did", g.base_failed)
              : fmt::format("{} candidate run(s) failed: {}", g.cand_failed, g.cand_error);
      t.add_row({g.trace_name, alloc, "status", "", "", "", "", "", "",
                 verdict_cell(g.status_verdict, markdown) + " (" + what + ")"});
    }
    for (const auto& m : g.metrics) {
      t.add_row({g.trace_name, alloc, m.label, format_value(m.base_median, m.unit),
                 format_value(m.cand_median, m.unit), format_change(m.change_pct),
                 format_p(m.p_value), fmt::format("{:.1f}%", m.noise_pct),
                 fmt::format("{}/{}", m.base_n, m.cand_n), verdict_cell(m.verdict, markdown)});
    }
  }
  return t;
}

}  // namespace

std::string diff_summary_line(const DiffReport& report) {
  return fmt::format("{} regressed, {} improved, {} unchanged", report.count(Verdict::kRegressed),
                     report.count(Verdict::kImproved), report.count(Verdict::kUnchanged));
}

std::string diff_text(const DiffReport& report, const DiffOptions& opts) {
  std::string out = build_table(report, false).to_text();
  for (const auto& n : report.notes) out += fmt::format("note: {}\n", n);
  out += fmt::format("{} (threshold {}%, alpha {})\n", diff_summary_line(report),
                     opts.threshold_pct, opts.alpha);
  return out;
}

std::string diff_markdown(const DiffReport& report, const DiffOptions& opts,
                          std::string_view base_name, std::string_view cand_name) {
  std::string out = fmt::format("## mtreplay diff: `{}` against `{}`\n\n", cand_name, base_name);
  out += fmt::format(
      "**{}**. A regression needs p < {} (Mann-Whitney U), a change above {}% "
      "and above the noise (the larger IQR of the two sides' repeats).\n\n",
      diff_summary_line(report), opts.alpha, opts.threshold_pct);
  out += build_table(report, true).to_markdown();
  if (!report.notes.empty()) {
    out += "\n";
    for (const auto& n : report.notes) out += fmt::format("- {}\n", n);
  }
  return out;
}

}  // namespace mtreplay::results
