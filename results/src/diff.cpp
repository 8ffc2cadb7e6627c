#include "mtreplay/results/diff.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "mtreplay/results/stats.hpp"

namespace mtreplay::results {

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kUnchanged:
      return "unchanged";
    case Verdict::kImproved:
      return "improved";
    case Verdict::kRegressed:
      return "regressed";
  }
  return "?";
}

Verdict GroupDiff::overall() const {
  bool improved = status_verdict == Verdict::kImproved;
  if (status_verdict == Verdict::kRegressed) return Verdict::kRegressed;
  for (const auto& m : metrics) {
    if (m.verdict == Verdict::kRegressed) return Verdict::kRegressed;
    improved |= m.verdict == Verdict::kImproved;
  }
  return improved ? Verdict::kImproved : Verdict::kUnchanged;
}

size_t DiffReport::count(Verdict v) const {
  size_t n = 0;
  for (const auto& g : groups) {
    n += g.status_verdict == v && v != Verdict::kUnchanged;
    for (const auto& m : g.metrics) n += m.verdict == v;
  }
  return n;
}

namespace {

struct Side {
  const ResultFile& file;
  std::string_view name;
};

std::string describe(const GroupKey& k, std::string_view trace_name) {
  return fmt::format("trace '{}' with allocator '{}' (mode {})", trace_name, k.allocator, k.mode);
}

// The latency kinds some successful run of the group reports; `thin` receives those
// some run sampled fewer than `min_samples` times.
std::set<std::string> latency_kinds(const ResultFile& f, const RunGroup& g, uint64_t min_samples,
                                    std::set<std::string>& thin) {
  std::set<std::string> kinds;
  for (size_t i : g.ok_runs)
    for (const auto& [kind, l] : f.runs[i].latency_ns)
      if (l.samples > 0) kinds.insert(kind);
  for (const auto& kind : kinds)
    for (size_t i : g.ok_runs) {
      auto it = f.runs[i].latency_ns.find(kind);
      if (it == f.runs[i].latency_ns.end() || it->second.samples < min_samples) thin.insert(kind);
    }
  for (const auto& kind : thin) kinds.erase(kind);
  return kinds;
}

// A metric's values over a group's successful runs, divided by the reference
// allocator's value in the same round when `ref` is given.
std::vector<double> side_values(const Side& side, const RunGroup& g, const Metric& m,
                                const RunGroup* ref, bool required) {
  std::vector<size_t> missing;
  std::map<int, double> ref_by_round;
  if (ref)
    for (size_t i : ref->ok_runs)
      if (auto v = m.read(side.file.runs[i]); v && *v > 0)
        ref_by_round[side.file.runs[i].repeat] = *v;
  std::vector<double> out;
  for (size_t i : g.ok_runs) {
    const Run& r = side.file.runs[i];
    auto v = m.read(r);
    if (!v) {
      missing.push_back(i);
      continue;
    }
    if (!ref) {
      out.push_back(*v);
    } else if (auto it = ref_by_round.find(r.repeat); it != ref_by_round.end()) {
      out.push_back(*v / it->second);
    }
  }
  if (required && !missing.empty())
    throw DiffInputError(fmt::format("{}: runs/{} ({}) has no {}", side.name, missing.front(),
                                     describe(g.key, g.trace_name), m.id));
  return out;
}

double change_pct(double base, double cand) {
  if (base == 0) return cand == 0 ? 0 : std::numeric_limits<double>::infinity();
  return 100.0 * (cand - base) / std::fabs(base);
}

MetricDiff compare_metric(const Metric& m, const std::vector<double>& base,
                          const std::vector<double>& cand, const DiffOptions& opts) {
  MetricDiff d;
  d.metric = m.id;
  d.label = m.label;
  d.unit = m.unit;
  d.base_n = base.size();
  d.cand_n = cand.size();
  Spread bs = spread_of(base), cs = spread_of(cand);
  d.base_median = bs.median;
  d.cand_median = cs.median;
  d.change_pct = change_pct(bs.median, cs.median);
  d.noise_pct = std::max(bs.iqr_pct(), cs.iqr_pct());
  MannWhitneyResult mw = mann_whitney_u(cand, base);
  d.p_value = mw.p_value;
  d.exact = mw.exact;
  // Positive: the candidate is worse by this much.
  double worse_pct = m.better == Better::kLower ? d.change_pct : -d.change_pct;
  bool significant = d.p_value < opts.alpha;
  auto beyond = [&](double pct) { return pct > opts.threshold_pct && pct > d.noise_pct; };
  if (significant && beyond(worse_pct))
    d.verdict = Verdict::kRegressed;
  else if (significant && beyond(-worse_pct))
    d.verdict = Verdict::kImproved;
  return d;
}

GroupDiff diff_group(const Side& base, const RunGroup& bg, const Side& cand, const RunGroup& cg,
                     const RunGroup* base_ref, const RunGroup* cand_ref, const DiffOptions& opts,
                     std::vector<std::string>& notes) {
  GroupDiff out;
  out.key = bg.key;
  out.trace_name = bg.trace_name;
  out.base_failed = bg.failed_runs.size();
  out.cand_failed = cg.failed_runs.size();
  if (!cg.failed_runs.empty()) out.cand_error = cand.file.runs[cg.failed_runs.front()].error;
  if (out.cand_failed > 0 && out.base_failed == 0)
    out.status_verdict = Verdict::kRegressed;
  else if (out.cand_failed == 0 && out.base_failed > 0)
    out.status_verdict = Verdict::kImproved;

  std::string what = describe(bg.key, bg.trace_name);
  if (bg.ok_runs.empty() || cg.ok_runs.empty()) {
    notes.push_back(fmt::format("{}: no successful run in {}; metrics not compared", what,
                                bg.ok_runs.empty() ? base.name : cand.name));
    return out;
  }

  if (!opts.normalize_to.empty() && bg.key.allocator == opts.normalize_to) {
    notes.push_back(
        fmt::format("{}: the reference of --normalize-to; only its failures judged", what));
    return out;
  }
  std::set<std::string> thin;
  std::set<std::string> base_kinds = latency_kinds(base.file, bg, opts.min_latency_samples, thin);
  std::set<std::string> cand_kinds = latency_kinds(cand.file, cg, opts.min_latency_samples, thin);
  if (!thin.empty()) {
    std::string list;
    for (const auto& k : thin) list += (list.empty() ? "" : ", ") + k;
    notes.push_back(
        fmt::format("{}: latency of {} sampled fewer than {} times in a run; not judged", what,
                    list, opts.min_latency_samples));
  }
  std::vector<std::string> common_kinds;
  for (const auto& k : base_kinds) {
    if (cand_kinds.count(k))
      common_kinds.push_back(k);
    else
      notes.push_back(
          fmt::format("{}: latency of {} only in {}; not compared", what, k, base.name));
  }
  for (const auto& k : cand_kinds)
    if (!base_kinds.count(k))
      notes.push_back(
          fmt::format("{}: latency of {} only in {}; not compared", what, k, cand.name));

  for (Metric m : diff_metrics(common_kinds)) {
    // A latency kind can be unsampled in a short run; compare what both have.
    bool required = m.id.rfind("latency.", 0) != 0;
    std::vector<double> b = side_values(base, bg, m, base_ref, required);
    std::vector<double> c = side_values(cand, cg, m, cand_ref, required);
    if (base_ref) {
      m.label += " /" + opts.normalize_to;
      m.unit = Unit::kRatio;
    }
    out.metrics.push_back(compare_metric(m, b, c, opts));
  }
  return out;
}

// The smallest two-sided p-value the exact test can reach with n1 and n2 repeats.
double smallest_p(size_t n1, size_t n2) {
  std::vector<double> a(n1), b(n2);
  for (size_t i = 0; i < n1; ++i) a[i] = static_cast<double>(i);
  for (size_t i = 0; i < n2; ++i) b[i] = static_cast<double>(n1 + i);
  return mann_whitney_u(a, b).p_value;
}

}  // namespace

DiffReport diff_results(const ResultFile& base_file, const ResultFile& cand_file,
                        const DiffOptions& opts, std::string_view base_name,
                        std::string_view cand_name) {
  Side base{base_file, base_name}, cand{cand_file, cand_name};
  if (base_file.schema_version != cand_file.schema_version)
    throw DiffInputError(fmt::format("{} is schema version {} but {} is version {}", base_name,
                                     base_file.schema_version, cand_name,
                                     cand_file.schema_version));
  std::vector<RunGroup> base_groups = group_runs(base_file);
  std::vector<RunGroup> cand_groups = group_runs(cand_file);
  if (base_groups.empty()) throw DiffInputError(fmt::format("{}: no measured runs", base_name));
  if (cand_groups.empty()) throw DiffInputError(fmt::format("{}: no measured runs", cand_name));

  std::map<GroupKey, const RunGroup*> base_by_key, cand_by_key;
  for (const auto& g : base_groups) base_by_key[g.key] = &g;
  std::map<std::string, std::string> cand_hash_by_trace_name;
  for (const auto& g : cand_groups) {
    cand_by_key[g.key] = &g;
    cand_hash_by_trace_name[g.trace_name] = g.key.trace_hash;
  }

  DiffReport report;
  std::set<GroupKey> matched;
  for (const auto& bg : base_groups) {
    auto it = cand_by_key.find(bg.key);
    if (it == cand_by_key.end()) {
      auto same_name = cand_hash_by_trace_name.find(bg.trace_name);
      if (same_name != cand_hash_by_trace_name.end() && same_name->second != bg.key.trace_hash)
        throw DiffInputError(fmt::format(
            "trace '{}' differs: {} replayed {}, {} replayed {} (re-make the baseline from the "
            "same trace file)",
            bg.trace_name, base_name, bg.key.trace_hash, cand_name, same_name->second));
      throw DiffInputError(fmt::format("{} has no runs of {} that {} has", cand_name,
                                       describe(bg.key, bg.trace_name), base_name));
    }
    matched.insert(bg.key);
    const RunGroup* base_ref = nullptr;
    const RunGroup* cand_ref = nullptr;
    if (!opts.normalize_to.empty() && bg.key.allocator != opts.normalize_to) {
      GroupKey ref_key{bg.key.trace_hash, opts.normalize_to, bg.key.mode};
      auto b = base_by_key.find(ref_key);
      auto c = cand_by_key.find(ref_key);
      if (b == base_by_key.end() || c == cand_by_key.end())
        throw DiffInputError(fmt::format(
            "--normalize-to {}: {} has no runs of {}", opts.normalize_to,
            b == base_by_key.end() ? base_name : cand_name, describe(ref_key, bg.trace_name)));
      base_ref = b->second;
      cand_ref = c->second;
    }
    report.groups.push_back(
        diff_group(base, bg, cand, *it->second, base_ref, cand_ref, opts, report.notes));
  }
  for (const auto& cg : cand_groups)
    if (!matched.count(cg.key))
      report.notes.push_back(
          fmt::format("{}: only in {}; not compared", describe(cg.key, cg.trace_name), cand_name));

  // Warn when the repeats are too few for any verdict to be significant.
  for (const auto& g : report.groups) {
    if (g.metrics.empty()) continue;
    double floor_p = smallest_p(g.metrics.front().base_n, g.metrics.front().cand_n);
    if (floor_p >= opts.alpha) {
      report.notes.push_back(fmt::format(
          "{}: with {} and {} repeats no p-value can fall below {:.3f} (alpha {}); no metric "
          "can be judged regressed or improved; use --repeat 5 or more",
          describe(g.key, g.trace_name), g.metrics.front().base_n, g.metrics.front().cand_n,
          floor_p, opts.alpha));
    }
  }
  return report;
}

}  // namespace mtreplay::results
