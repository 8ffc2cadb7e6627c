// validate's analysis (medians, ratios, errors, rank correlations, verdict) and its
// renderings: the terminal table, Markdown, HTML and the JSON "validation" object.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "mtreplay/results/metrics.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/results/stats.hpp"
#include "mtreplay/results/svg_chart.hpp"
#include "mtreplay/results/text_table.hpp"
#include "mtreplay/results/validate.hpp"

namespace mtreplay::results {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::optional<double> median_of(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  return median(v);
}

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || !(*b > 0)) return std::nullopt;
  return *a / *b;
}

// The program's figure under the allocator the replays predict: the baseline program's
// plus the difference between the two replays, over the baseline program's.
std::optional<double> predicted_ratio(std::optional<double> program_base,
                                      std::optional<double> replay,
                                      std::optional<double> replay_base) {
  if (!program_base || !replay || !replay_base || !(*program_base > 0)) return std::nullopt;
  return (*program_base + *replay - *replay_base) / *program_base;
}

std::optional<double> difference(std::optional<double> a, std::optional<double> b) {
  if (!a || !b) return std::nullopt;
  return *a - *b;
}

double or_nan(std::optional<double> v) {
  return v ? *v : kNaN;
}

std::string failure_of(RunStatus status, const std::string& error, const std::string& what) {
  return fmt::format("{} {}: {}", what, status == RunStatus::kCrashed ? "crashed" : "failed",
                     error);
}

void fill_program(AllocatorFidelity& a, const Validation& v) {
  std::vector<double> wall, cpu, rss, cpu_half[2], rss_half[2];
  for (const auto& r : v.program_runs) {
    if (r.allocator != a.allocator) continue;
    if (!r.ok()) {
      ++a.program_failed;
      if (a.failure.empty()) a.failure = failure_of(r.status, r.error, "program");
      continue;
    }
    if (r.warmup) continue;
    ++a.program_ok;
    const int half = r.repeat % 2;
    if (r.wall_ns) wall.push_back(static_cast<double>(*r.wall_ns));
    if (r.cpu_ns()) {
      cpu.push_back(static_cast<double>(*r.cpu_ns()));
      cpu_half[half].push_back(cpu.back());
    }
    if (r.peak_rss_bytes) {
      rss.push_back(static_cast<double>(*r.peak_rss_bytes));
      rss_half[half].push_back(rss.back());
    }
  }
  a.program_wall = median_of(wall);
  a.program_cpu = median_of(cpu);
  a.program_rss = median_of(rss);
  for (int half : {0, 1}) {
    a.program_cpu_half[half] = median_of(cpu_half[half]);
    a.program_rss_half[half] = median_of(rss_half[half]);
  }
  if (!rss.empty()) {
    const auto [lo, hi] = std::minmax_element(rss.begin(), rss.end());
    a.program_rss_min = *lo, a.program_rss_max = *hi;
  }
  if (a.program_cpu) {
    for (double& x : cpu) x = std::fabs(x - *a.program_cpu);
    a.program_cpu_spread = median_of(cpu);
  }
}

double library_gap(const Validation& v, const std::string& allocator, const Run& r) {
  auto a = v.library_gaps.find(allocator);
  if (a == v.library_gaps.end()) return 0;
  auto t = a->second.find(r.trace.content_hash);
  return t == a->second.end() ? 0 : static_cast<double>(t->second.bytes);
}

int recording_of(const Validation& v, const Run& r) {
  auto it = v.recording_of.find(r.trace.content_hash);
  return it == v.recording_of.end() ? 0 : it->second;
}

// A round's replay times (of one recording, with several) are the sums over its traces
// (as wait4 sums the CPU time of a process tree), its peak RSS the largest trace's (as
// ru_maxrss is the largest process's); a round counts when every trace's replay in it
// succeeded. The medians are over rounds x recordings.
void fill_replay(AllocatorFidelity& a, const Validation& v,
                 const std::map<int, size_t>& traces_per_recording) {
  struct Round {
    size_t ok = 0;
    bool failed = false;
    double wall = 0, cpu = 0, rss = 0, delta = 0, shown = 0;
  };
  std::map<std::pair<int, int>, Round> rounds;  // (repeat, recording)
  for (const auto& r : v.replays.runs) {
    if (r.allocator.name != a.allocator) continue;
    if (!r.ok()) {
      ++a.replay_failed;
      if (a.failure.empty()) a.failure = failure_of(r.status, r.error, "replay");
      if (!r.warmup) rounds[{r.repeat, recording_of(v, r)}].failed = true;
      continue;
    }
    if (r.warmup) continue;
    ++a.replay_ok;
    Round& round = rounds[{r.repeat, recording_of(v, r)}];
    ++round.ok;
    round.wall += static_cast<double>(r.wall_ns.value_or(0));
    round.cpu += static_cast<double>(r.cpu_ns().value_or(0));
    // Peak RSS as the program's ru_maxrss counts it: the largest process's.
    // The model uses the whole peak: the replayer's part (plan, tables) is the same
    // under every allocator and cancels exactly, the allocator's start-up stays in.
    // Shown: the replay's estimate of the program's own peak where the replayer reports
    // it (its peak less the replayer's plan and tables).
    // Plus what the allocator's libraries add to the program and not to the worker.
    const double gap = library_gap(v, a.allocator, r);
    round.rss = std::max(round.rss, static_cast<double>(r.peak_rss_bytes.value_or(0)) + gap);
    double shown = static_cast<double>(r.peak_rss_bytes.value_or(0));
    if (auto it = r.raw.find("program_peak_rss_bytes");
        it != r.raw.end() && it->is_number_unsigned())
      shown = static_cast<double>(it->get<uint64_t>());
    round.shown = std::max(round.shown, shown + gap);
    round.delta = std::max(round.delta, static_cast<double>(r.peak_rss_delta_bytes.value_or(0)));
  }
  std::vector<double> wall, cpu, rss, delta, shown, cpu_half[2], rss_half[2];
  for (const auto& [key, round] : rounds) {
    const auto expected = traces_per_recording.find(key.second);
    if (round.failed || expected == traces_per_recording.end() || round.ok != expected->second)
      continue;
    wall.push_back(round.wall);
    cpu.push_back(round.cpu);
    rss.push_back(round.rss);
    shown.push_back(round.shown);
    delta.push_back(round.delta);
    cpu_half[key.first % 2].push_back(round.cpu);
    rss_half[key.first % 2].push_back(round.rss);
  }
  a.replay_wall = median_of(wall);
  a.replay_cpu = median_of(cpu);
  a.replay_rss = median_of(rss);
  for (int half : {0, 1}) {
    a.replay_cpu_half[half] = median_of(cpu_half[half]);
    a.replay_rss_half[half] = median_of(rss_half[half]);
  }
  a.replay_program_rss = median_of(shown);
  a.replay_rss_delta = median_of(delta);
}

std::string signed2(double v) {
  return fmt::format("{:+.2f}", v);
}

std::string span_text(double span) {
  return std::isnan(span) ? std::string("-") : fmt::format("{:.2f}", span);
}

// Spearman between the medians of the even and the odd measured rounds, over the
// allocators with both; NaN below 4 rounds (a half of one run says nothing of spread).
double self_agreement(const std::vector<AllocatorFidelity>& allocators,
                      std::optional<double> (AllocatorFidelity::*halves)[2], int repeat) {
  if (repeat < 4) return kNaN;
  std::vector<double> even, odd;
  for (const auto& a : allocators) {
    const auto& h = a.*halves;
    if (!h[0] || !h[1]) continue;
    even.push_back(*h[0]);
    odd.push_back(*h[1]);
  }
  return even.size() >= 3 ? spearman(even, odd) : kNaN;
}

std::string rho_text(double rho) {
  return std::isnan(rho) ? std::string("undefined") : fmt::format("{:.2f}", rho);
}

nlohmann::json opt_json(std::optional<double> v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json opt_json(std::optional<uint64_t> v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json rho_json(double rho) {
  return std::isnan(rho) ? nlohmann::json(nullptr) : nlohmann::json(rho);
}

std::string command_line(const std::vector<std::string>& command) {
  std::string out;
  for (const auto& word : command) {
    if (!out.empty()) out += ' ';
    bool plain = !word.empty() && word.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += word;
    } else {
      out += '\'';
      for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

std::string cell(std::optional<double> value, Unit unit, std::optional<double> ratio_value) {
  if (!value) return "-";
  std::string out = format_value(*value, unit);
  if (ratio_value) out += fmt::format(" {:.2f}x", *ratio_value);
  return out;
}

std::string error_cell(std::optional<double> e) {
  return e ? signed2(*e) : "-";
}

TextTable fidelity_table(const FidelitySummary& s) {
  TextTable t;
  t.add_column("allocator", TextTable::Align::kLeft);
  for (const char* h : {"program wall", "replay wall", "err", "program CPU", "replay CPU", "err",
                        "program peak RSS", "replay peak RSS", "err"})
    t.add_column(h);
  for (const auto& a : s.allocators) {
    if (!a.ok() && !(a.program_ok > 0 && a.replay_wall)) {
      t.add_note_row(a.allocator, "FAILED: " + a.failure);
      continue;
    }
    t.add_row(
        {a.allocator, cell(a.program_wall, Unit::kNanoseconds, a.program_wall_ratio),
         cell(a.replay_wall, Unit::kNanoseconds, a.replay_wall_ratio), error_cell(a.wall_error()),
         cell(a.program_cpu, Unit::kNanoseconds, a.program_cpu_ratio),
         cell(a.replay_cpu, Unit::kNanoseconds, a.replay_cpu_ratio), error_cell(a.cpu_error()),
         cell(a.program_rss, Unit::kBytes, a.program_rss_ratio),
         cell(a.replay_program_rss, Unit::kBytes, a.replay_rss_ratio), error_cell(a.rss_error())});
    if (!a.ok()) t.add_note_row("", "some runs failed: " + a.failure);
  }
  return t;
}

std::string header_lines(const Validation& v, const FidelitySummary& s) {
  std::string out =
      s.recordings > 1
          ? fmt::format("{} recordings, {} processes in all, each replayed every round:",
                        s.recordings, s.traces.size())
          : fmt::format("{} process{} replayed:", s.traces.size(),
                        s.traces.size() == 1 ? "" : "es");
  constexpr size_t kShown = 4;  // the largest; a shell script can start dozens
  for (size_t i = 0; i < std::min(kShown, s.traces.size()); ++i) out += " " + s.traces[i] + ";";
  if (s.traces.size() > kShown) {
    uint64_t events = 0;
    for (size_t i = kShown; i < s.traces.size(); ++i) events += s.trace_events[i];
    out += fmt::format(" and {} more ({} events);", s.traces.size() - kShown, events);
  }
  if (!s.traces.empty()) out.pop_back();
  out += "\n";
  out += fmt::format(
      "{} round{} after {} warm-up; ratios to {}; err = replay ratio - program ratio; a "
      "replay ratio is the program's it predicts (the baseline program's figure plus the "
      "replays' difference); replay peak RSS is the replay's less the replayer's plan and "
      "tables\n",
      v.repeat, v.repeat == 1 ? "" : "s", v.warmup, s.baseline);
  std::string gaps;
  for (const auto& [allocator, by_trace] : v.library_gaps) {
    const LibraryGap* largest = nullptr;
    for (const auto& [hash, gap] : by_trace)
      if (!largest || std::abs(gap.bytes) > std::abs(largest->bytes)) largest = &gap;
    if (!largest || largest->bytes == 0) continue;
    std::string names;
    for (const auto& n : largest->sonames) names += (names.empty() ? "" : " ") + n;
    gaps += fmt::format("{}{} {}{} ({})", gaps.empty() ? "" : ", ", allocator,
                        largest->bytes < 0 ? "-" : "+",
                        format_value(static_cast<double>(std::abs(largest->bytes)), Unit::kBytes),
                        names.empty() ? "the worker lacks them" : names);
  }
  if (!gaps.empty())
    out +=
        "added to the replays' peak RSS, what the libraries an allocator brings add to the "
        "program and not to the replay: " +
        gaps + "\n";
  return out;
}

std::string footer_lines(const FidelitySummary& s) {
  std::string out = fmt::format(
      "rank correlation, program vs replay (Spearman, {} allocator{}): wall {}, "
      "CPU {}, peak RSS {}\n",
      s.ranked, s.ranked == 1 ? "" : "s", rho_text(s.wall_rho), rho_text(s.cpu_rho),
      rho_text(s.rss_rho));
  if (s.ranked >= 2)
    out += fmt::format(
        "the program's ratios span wall {}, CPU {}, peak RSS {} (ranks within a few hundredths "
        "are the runs' noise)\n",
        span_text(s.wall_span), span_text(s.cpu_span), span_text(s.rss_span));
  if (!std::isnan(s.program_self.cpu) || !std::isnan(s.program_self.rss))
    out += fmt::format(
        "self-agreement (Spearman, even rounds vs odd): program CPU {}, peak RSS {}; replay "
        "CPU {}, peak RSS {} (a program that does not rank its allocators alike from one half "
        "of its runs to the other cannot be predicted better)\n",
        rho_text(s.program_self.cpu), rho_text(s.program_self.rss), rho_text(s.replay_self.cpu),
        rho_text(s.replay_self.rss));
  if (s.cpu_pairs)
    out += fmt::format(
        "CPU order: the program tells {} of {} allocator pairs apart beyond its runs' spread; "
        "the replay orders {} of them alike\n",
        s.cpu_pairs_resolved, s.cpu_pairs, s.cpu_pairs_agreeing);
  out += "output: " +
         (s.output_note.empty() ? std::string("identical under every allocator") : s.output_note) +
         "\n";
  out += fmt::format("verdict: {}\n", s.verdict_text);
  return out;
}

}  // namespace

bool ProgramRun::ok() const {
  return status == RunStatus::kOk;
}

std::optional<double> AllocatorFidelity::wall_error() const {
  return difference(replay_wall_ratio, program_wall_ratio);
}
std::optional<double> AllocatorFidelity::cpu_error() const {
  return difference(replay_cpu_ratio, program_cpu_ratio);
}
std::optional<double> AllocatorFidelity::rss_error() const {
  return difference(replay_rss_ratio, program_rss_ratio);
}

std::string_view fidelity_verdict_name(FidelityVerdict v) {
  switch (v) {
    case FidelityVerdict::kFaithful:
      return "faithful";
    case FidelityVerdict::kNotFaithful:
      return "not faithful";
    case FidelityVerdict::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

FidelitySummary summarize_fidelity(const Validation& v, const FidelityThresholds& limits) {
  FidelitySummary s;
  s.baseline = v.baseline;
  s.thresholds = limits;

  std::set<std::string> seen;
  std::vector<const Run*> unique;
  std::map<int, size_t> traces_per_recording;
  for (const auto& r : v.replays.runs)
    if (seen.insert(r.trace.content_hash).second) {
      unique.push_back(&r);
      ++traces_per_recording[recording_of(v, r)];
    }
  s.recordings = traces_per_recording.size();
  std::stable_sort(unique.begin(), unique.end(),
                   [](const Run* a, const Run* b) { return a->trace.events > b->trace.events; });
  for (const Run* r : unique) {
    s.traces.push_back(fmt::format("{} ({} events, {} thread{})", r->trace.name, r->trace.events,
                                   r->trace.threads, r->trace.threads == 1 ? "" : "s"));
    s.trace_events.push_back(r->trace.events);
  }

  for (const auto& name : v.allocators) {
    AllocatorFidelity a;
    a.allocator = name;
    fill_program(a, v);
    fill_replay(a, v, traces_per_recording);
    s.failures = s.failures || a.program_failed > 0 || a.replay_failed > 0;
    s.allocators.push_back(std::move(a));
  }
  for (const auto& r : v.program_runs)
    if (r.allocator == "record" && !r.ok()) s.failures = true;

  const AllocatorFidelity* base = nullptr;
  for (const auto& a : s.allocators)
    if (a.allocator == s.baseline) base = &a;
  if (base) {
    const AllocatorFidelity b = *base;
    for (auto& a : s.allocators) {
      a.program_wall_ratio = ratio(a.program_wall, b.program_wall);
      a.replay_wall_ratio = predicted_ratio(b.program_wall, a.replay_wall, b.replay_wall);
      a.replay_wall_alone_ratio = ratio(a.replay_wall, b.replay_wall);
      a.program_cpu_ratio = ratio(a.program_cpu, b.program_cpu);
      a.replay_cpu_ratio = predicted_ratio(b.program_cpu, a.replay_cpu, b.replay_cpu);
      a.replay_cpu_alone_ratio = ratio(a.replay_cpu, b.replay_cpu);
      a.program_rss_ratio = ratio(a.program_rss, b.program_rss);
      a.program_rss_ratio_min = ratio(a.program_rss_min, b.program_rss);
      a.program_rss_ratio_max = ratio(a.program_rss_max, b.program_rss);
      a.replay_heap_ratio = ratio(a.replay_rss_delta, b.replay_rss_delta);
      a.replay_rss_ratio = predicted_ratio(b.program_rss, a.replay_rss, b.replay_rss);
    }
  }

  // Rank correlations over the allocators with every median on both sides.
  std::vector<double> pw, rw, pc, rc, pr, rr, spread;
  for (const auto& a : s.allocators) {
    if (!a.program_wall || !a.replay_wall || !a.program_cpu || !a.replay_cpu || !a.program_rss ||
        !a.replay_rss)
      continue;
    pw.push_back(*a.program_wall), rw.push_back(*a.replay_wall);
    pc.push_back(*a.program_cpu), rc.push_back(*a.replay_cpu);
    pr.push_back(*a.program_rss), rr.push_back(*a.replay_rss);
    spread.push_back(a.program_cpu_spread.value_or(0));
  }
  for (size_t i = 0; i < pc.size(); ++i) {
    for (size_t j = i + 1; j < pc.size(); ++j) {
      ++s.cpu_pairs;
      if (std::fabs(pc[i] - pc[j]) <= spread[i] + spread[j]) continue;
      ++s.cpu_pairs_resolved;
      if ((pc[i] - pc[j]) * (rc[i] - rc[j]) > 0) ++s.cpu_pairs_agreeing;
    }
  }
  s.ranked = pw.size();
  auto span = [](const std::vector<double>& program, std::optional<double> base_value) {
    if (program.empty() || !base_value || !(*base_value > 0)) return kNaN;
    auto [lo, hi] = std::minmax_element(program.begin(), program.end());
    return (*hi - *lo) / *base_value;
  };
  s.wall_span = span(pw, base ? base->program_wall : std::nullopt);
  s.cpu_span = span(pc, base ? base->program_cpu : std::nullopt);
  s.rss_span = span(pr, base ? base->program_rss : std::nullopt);
  s.wall_rho = spearman(pw, rw);
  s.cpu_rho = spearman(pc, rc);
  s.rss_rho = spearman(pr, rr);
  s.program_self = {self_agreement(s.allocators, &AllocatorFidelity::program_cpu_half, v.repeat),
                    self_agreement(s.allocators, &AllocatorFidelity::program_rss_half, v.repeat)};
  s.replay_self = {self_agreement(s.allocators, &AllocatorFidelity::replay_cpu_half, v.repeat),
                   self_agreement(s.allocators, &AllocatorFidelity::replay_rss_half, v.repeat)};

  // The verdict.
  std::vector<std::string> misses, met, notes;  // notes: named either way, not judged
  std::vector<std::string> unjudged;            // below the threshold, as the program itself
  if (!base || !base->program_rss || !base->replay_rss) {
    s.verdict = FidelityVerdict::kInconclusive;
    s.verdict_text = fmt::format(
        "inconclusive: the baseline {} has no successful program run and replay to compare "
        "with",
        s.baseline);
  } else if (s.ranked < 2) {
    s.verdict = FidelityVerdict::kInconclusive;
    s.verdict_text = "inconclusive: fewer than two allocators ran both the program and its replay";
  } else {
    double worst = 0;
    std::string worst_name;
    for (const auto& a : s.allocators) {
      auto e = a.rss_error();
      if (!e) continue;
      const bool within_runs = a.program_rss_ratio_min && a.program_rss_ratio_max &&
                               *a.replay_rss_ratio >= *a.program_rss_ratio_min &&
                               *a.replay_rss_ratio <= *a.program_rss_ratio_max;
      if (std::abs(*e) > limits.max_rss_ratio_error && within_runs)
        notes.push_back(fmt::format(
            "{} peak RSS ratio {} off the program's median but within its own runs "
            "({:.2f}-{:.2f}x)",
            a.allocator, signed2(*e), *a.program_rss_ratio_min, *a.program_rss_ratio_max));
      else if (std::abs(*e) > limits.max_rss_ratio_error)
        misses.push_back(fmt::format(
            "{} peak RSS ratio off by {} (program {:.2f}x, its runs {:.2f}-{:.2f}x; replay "
            "{:.2f}x)",
            a.allocator, signed2(*e), or_nan(a.program_rss_ratio), or_nan(a.program_rss_ratio_min),
            or_nan(a.program_rss_ratio_max), or_nan(a.replay_rss_ratio)));
      if (std::abs(*e) >= std::abs(worst)) worst = *e, worst_name = a.allocator;
    }
    if (misses.empty() && std::abs(worst) <= limits.max_rss_ratio_error)
      met.push_back(fmt::format("peak RSS ratios within +-{:.2f} (worst {} {})",
                                limits.max_rss_ratio_error, worst_name, signed2(worst)));
    if (s.ranked >= 3) {
      auto judge = [&](double rho, double min, double program_self, const char* what) {
        if (std::isnan(rho))
          met.push_back(fmt::format("{} rho undefined (ties)", what));
        else if (rho >= min)
          met.push_back(fmt::format("{} rho {:.2f} >= {:.2f}", what, rho, min));
        else if (program_self < min)  // false for NaN: too few rounds to tell
          unjudged.push_back(fmt::format(
              "{} rho {:.2f} < {:.2f} not judged: the program's own halves of rounds rank "
              "alike at {:.2f}",
              what, rho, min, program_self));
        else
          misses.push_back(fmt::format("{} rho {:.2f} < {:.2f}", what, rho, min));
      };
      judge(s.rss_rho, limits.min_rss_rho, s.program_self.rss, "peak RSS");
      judge(s.cpu_rho, limits.min_cpu_rho, s.program_self.cpu, "CPU");
    } else {
      met.push_back(fmt::format("{} allocators: too few to judge ranks", s.ranked));
    }
    auto join = [](const std::vector<std::string>& parts) {
      std::string out;
      for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
      return out;
    };
    if (!misses.empty()) {
      s.verdict = FidelityVerdict::kNotFaithful;
      s.verdict_text = "not faithful: " + join(misses);
      notes.insert(notes.begin(), unjudged.begin(), unjudged.end());
    } else if (!unjudged.empty()) {
      s.verdict = FidelityVerdict::kInconclusive;
      s.verdict_text =
          "inconclusive (more rounds, --repeat, or a quieter machine may settle "
          "it): " +
          join(unjudged);
      notes.insert(notes.begin(), met.begin(), met.end());
    } else {
      s.verdict = FidelityVerdict::kFaithful;
      s.verdict_text = "faithful: " + join(met);
    }
    if (!notes.empty()) s.verdict_text += "; " + join(notes);
  }

  // The program's output, over its successful runs (the recording's included).
  std::map<std::string, std::set<std::string>> hashes;  // allocator -> distinct outputs
  std::map<std::string, size_t> ok_runs;
  for (const auto& r : v.program_runs) {
    if (!r.ok() || r.stdout_hash.empty()) continue;
    hashes[r.allocator].insert(r.stdout_hash);
    ++ok_runs[r.allocator];
  }
  for (const auto& [allocator, set] : hashes) {
    if (set.size() > 1) {
      s.output_varies = true;
      s.output_note = fmt::format(
          "differs between runs under {} ({} different outputs in {} runs): not compared "
          "between allocators",
          allocator, set.size(), ok_runs[allocator]);
      break;
    }
  }
  if (!s.output_varies && hashes.count(s.baseline)) {
    const std::string reference = *hashes[s.baseline].begin();
    std::string differ;
    for (const auto& [allocator, set] : hashes)
      if (*set.begin() != reference) differ += (differ.empty() ? "" : ", ") + allocator;
    if (!differ.empty()) {
      s.output_differs = true;
      s.output_note = fmt::format("differs from {}'s under {}", s.baseline, differ);
    }
  }
  return s;
}

int fidelity_exit_code(const FidelitySummary& s) {
  if (s.failures) return 3;
  if (s.output_differs || s.verdict == FidelityVerdict::kNotFaithful) return 1;
  return 0;
}

std::string fidelity_text(const Validation& v, const FidelitySummary& s) {
  std::string out = fmt::format("validate: {}\n", command_line(v.command));
  out += header_lines(v, s) + "\n";
  out += fidelity_table(s).to_text() + "\n";
  return out + footer_lines(s);
}

std::string fidelity_markdown(const Validation& v, const FidelitySummary& s, const Environment& e) {
  std::string out = fmt::format("### validate: `{}`\n\n", command_line(v.command));
  out += fmt::format("{} ({} cores), {}, {}, mtreplay {} ({})\n\n", e.cpu, e.cores, e.kernel,
                     e.libc, e.mtreplay_version, e.mtreplay_revision);
  out += header_lines(v, s) + "\n";
  out += fidelity_table(s).to_markdown() + "\n";
  std::string footer = footer_lines(s);
  // Markdown: one paragraph per line.
  std::string paragraphs;
  for (char c : footer) paragraphs += c == '\n' ? std::string("\n\n") : std::string(1, c);
  return out + paragraphs;
}

std::string fidelity_html(const Validation& v, const FidelitySummary& s) {
  const Environment& e = v.replays.environment;
  std::string out = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mtreplay validate</title><style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:1.5em;margin-bottom:4px}.env,.note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}td.failed{color:#b00020;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{border:1px solid #eee;background:#fff}
svg .chart-title{font-size:14px;font-weight:600}svg .tick,svg .category,svg .legend text{font-size:11px;fill:#444}
svg .grid{stroke:#eee}svg .axis{stroke:#888}
.verdict{font-weight:600}
</style></head><body>
)";
  out += fmt::format("<h1>mtreplay validate: <code>{}</code></h1>\n",
                     html_escape(command_line(v.command)));
  out += fmt::format("<p class=\"env\">{} ({} cores), {}, {}, mtreplay {} ({}), {}</p>\n",
                     html_escape(e.cpu), e.cores, html_escape(e.kernel), html_escape(e.libc),
                     html_escape(e.mtreplay_version), html_escape(e.mtreplay_revision),
                     html_escape(v.replays.created));
  std::string note = html_escape(header_lines(v, s));
  for (size_t at; (at = note.find('\n')) != std::string::npos && at + 1 < note.size();)
    note.replace(at, 1, "<br>");
  out += "<p class=\"note\">" + note + "</p>\n";
  out +=
      "<table><thead><tr><th>allocator</th><th>program wall</th><th>replay wall</th><th>err</th>"
      "<th>program CPU</th><th>replay CPU</th><th>err</th><th>program peak RSS</th>"
      "<th>replay peak RSS</th><th>err</th></tr></thead><tbody>\n";
  for (const auto& a : s.allocators) {
    if (!a.ok() && !(a.program_ok > 0 && a.replay_wall)) {
      out += fmt::format("<tr><td>{}</td><td class=\"failed\" colspan=\"9\">FAILED: {}</td></tr>\n",
                         html_escape(a.allocator), html_escape(a.failure));
      continue;
    }
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
        html_escape(a.allocator),
        html_escape(cell(a.program_wall, Unit::kNanoseconds, a.program_wall_ratio)),
        html_escape(cell(a.replay_wall, Unit::kNanoseconds, a.replay_wall_ratio)),
        error_cell(a.wall_error()),
        html_escape(cell(a.program_cpu, Unit::kNanoseconds, a.program_cpu_ratio)),
        html_escape(cell(a.replay_cpu, Unit::kNanoseconds, a.replay_cpu_ratio)),
        error_cell(a.cpu_error()),
        html_escape(cell(a.program_rss, Unit::kBytes, a.program_rss_ratio)),
        html_escape(cell(a.replay_program_rss, Unit::kBytes, a.replay_rss_ratio)),
        error_cell(a.rss_error()));
  }
  out += "</tbody></table>\n";
  std::string footer = footer_lines(s);
  size_t start = 0;
  for (size_t nl; (nl = footer.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = footer.substr(start, nl - start);
    out += fmt::format("<p{}>{}</p>\n", line.rfind("verdict", 0) == 0 ? " class=\"verdict\"" : "",
                       html_escape(line));
  }

  // Program against replay: each allocator's ratio to the baseline, as a point and as
  // a pair of bars, for wall time, CPU time and peak RSS.
  struct Figure {
    const char* id;
    const char* title;
    std::optional<double> AllocatorFidelity::*program;
    std::optional<double> AllocatorFidelity::*replay;
  };
  const Figure figures[] = {
      {"wall", "wall time", &AllocatorFidelity::program_wall_ratio,
       &AllocatorFidelity::replay_wall_ratio},
      {"cpu", "CPU time", &AllocatorFidelity::program_cpu_ratio,
       &AllocatorFidelity::replay_cpu_ratio},
      {"peak_rss", "peak RSS", &AllocatorFidelity::program_rss_ratio,
       &AllocatorFidelity::replay_rss_ratio},
  };
  out += "<div class=\"charts\">\n";
  for (const auto& f : figures) {
    ScatterChart chart;
    chart.id = fmt::format("validate-{}", f.id);
    chart.title = fmt::format("{}: ratio to {}, replay against program", f.title, s.baseline);
    chart.x_label = "program";
    chart.y_label = "replay";
    for (size_t i = 0; i < s.allocators.size(); ++i) {
      const auto& a = s.allocators[i];
      chart.points.push_back(
          {a.allocator, palette_color(i), or_nan(a.*(f.program)), or_nan(a.*(f.replay))});
    }
    out += render(chart);
  }
  for (const auto& f : figures) {
    BarChart chart;
    chart.id = fmt::format("validate-{}-bars", f.id);
    chart.title = fmt::format("{}: ratio to {}", f.title, s.baseline);
    chart.unit = Unit::kRatio;
    BarSeries program{"program", {}, {}, {}}, replay{"replay", {}, {}, {}};
    for (const auto& a : s.allocators) {
      chart.categories.push_back(a.allocator);
      program.values.push_back(or_nan(a.*(f.program)));
      replay.values.push_back(or_nan(a.*(f.replay)));
    }
    chart.series = {program, replay};
    out += render(chart);
  }
  out += "</div>\n</body></html>\n";
  return out;
}

nlohmann::json fidelity_json(const Validation& v, const FidelitySummary& s) {
  using nlohmann::json;
  json doc = to_json(v.replays);
  json traces = json::array();
  std::set<std::string> seen;
  for (const auto& r : v.replays.runs) {
    if (!seen.insert(r.trace.content_hash).second) continue;
    json gaps = json::object();
    for (const auto& [allocator, by_trace] : v.library_gaps)
      if (auto it = by_trace.find(r.trace.content_hash); it != by_trace.end())
        gaps[allocator] = {{"bytes", it->second.bytes}, {"sonames", it->second.sonames}};
    traces.push_back({{"name", r.trace.name},
                      {"path", r.trace.path},
                      {"content_hash", r.trace.content_hash},
                      {"recording", recording_of(v, r)},
                      {"pid", r.trace.pid},
                      {"events", r.trace.events},
                      {"threads", r.trace.threads},
                      {"library_gaps", gaps}});
  }
  json program_runs = json::array();
  for (const auto& r : v.program_runs)
    program_runs.push_back({{"allocator", r.allocator},
                            {"repeat", r.repeat},
                            {"warmup", r.warmup},
                            {"status", status_name(r.status)},
                            {"error", r.error},
                            {"exit_code", r.exit_code},
                            {"signal", r.signal},
                            {"wall_ns", opt_json(r.wall_ns)},
                            {"cpu_user_ns", opt_json(r.cpu_user_ns)},
                            {"cpu_sys_ns", opt_json(r.cpu_sys_ns)},
                            {"peak_rss_bytes", opt_json(r.peak_rss_bytes)},
                            {"stdout_hash", r.stdout_hash}});
  json allocators = json::array();
  for (const auto& a : s.allocators)
    allocators.push_back(
        {{"name", a.allocator},
         {"ok", a.ok()},
         {"program_runs_ok", a.program_ok},
         {"program_runs_failed", a.program_failed},
         {"replay_runs_ok", a.replay_ok},
         {"replay_runs_failed", a.replay_failed},
         {"failure", a.failure},
         {"program",
          {{"wall_ns", opt_json(a.program_wall)},
           {"cpu_ns", opt_json(a.program_cpu)},
           {"peak_rss_bytes", opt_json(a.program_rss)}}},
         {"replay",
          {{"wall_ns", opt_json(a.replay_wall)},
           {"cpu_ns", opt_json(a.replay_cpu)},
           {"peak_rss_bytes", opt_json(a.replay_rss)},
           {"program_peak_rss_bytes", opt_json(a.replay_program_rss)},
           {"peak_rss_delta_bytes", opt_json(a.replay_rss_delta)}}},
         {"ratio",
          {{"program_wall", opt_json(a.program_wall_ratio)},
           {"replay_wall", opt_json(a.replay_wall_alone_ratio)},
           {"wall_error", opt_json(difference(a.replay_wall_alone_ratio, a.program_wall_ratio))},
           {"predicted_wall", opt_json(a.replay_wall_ratio)},
           {"predicted_wall_error", opt_json(a.wall_error())},
           {"program_cpu", opt_json(a.program_cpu_ratio)},
           {"replay_cpu", opt_json(a.replay_cpu_alone_ratio)},
           {"cpu_error", opt_json(difference(a.replay_cpu_alone_ratio, a.program_cpu_ratio))},
           {"predicted_cpu", opt_json(a.replay_cpu_ratio)},
           {"predicted_cpu_error", opt_json(a.cpu_error())},
           {"program_peak_rss", opt_json(a.program_rss_ratio)},
           {"program_peak_rss_min", opt_json(a.program_rss_ratio_min)},
           {"program_peak_rss_max", opt_json(a.program_rss_ratio_max)},
           {"replay_peak_rss", opt_json(a.replay_rss_ratio)},
           {"peak_rss_error", opt_json(a.rss_error())},
           {"replay_heap", opt_json(a.replay_heap_ratio)}}}});
  doc["validation"] = {
      {"command", v.command},
      {"baseline", s.baseline},
      {"repeat", v.repeat},
      {"recordings", s.recordings},
      {"warmup", v.warmup},
      {"traces", traces},
      {"program_runs", program_runs},
      {"allocators", allocators},
      {"spearman",
       {{"allocators", s.ranked},
        {"wall", rho_json(s.wall_rho)},
        {"cpu", rho_json(s.cpu_rho)},
        {"peak_rss", rho_json(s.rss_rho)}}},
      {"program_ratio_span",
       {{"wall", rho_json(s.wall_span)},
        {"cpu", rho_json(s.cpu_span)},
        {"peak_rss", rho_json(s.rss_span)}}},
      {"self_agreement",
       {{"program",
         {{"cpu", rho_json(s.program_self.cpu)}, {"peak_rss", rho_json(s.program_self.rss)}}},
        {"replay",
         {{"cpu", rho_json(s.replay_self.cpu)}, {"peak_rss", rho_json(s.replay_self.rss)}}}}},
      {"cpu_pairs",
       {{"pairs", s.cpu_pairs},
        {"resolved", s.cpu_pairs_resolved},
        {"agreeing", s.cpu_pairs_agreeing}}},
      {"thresholds",
       {{"min_peak_rss_rho", s.thresholds.min_rss_rho},
        {"min_cpu_rho", s.thresholds.min_cpu_rho},
        {"max_peak_rss_ratio_error", s.thresholds.max_rss_ratio_error}}},
      {"output",
       {{"differs", s.output_differs}, {"varies", s.output_varies}, {"note", s.output_note}}},
      {"verdict", fidelity_verdict_name(s.verdict)},
      {"verdict_text", s.verdict_text},
      {"exit_code", fidelity_exit_code(s)}};
  return doc;
}

Validation read_validation(const std::filesystem::path& path) {
  Validation v;
  v.replays = read_result_file(path);  // checks the schema and every run
  nlohmann::json doc;
  try {
    std::ifstream in(path);
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw SchemaError(fmt::format("{}: {}", path.string(), e.what()));
  }
  const std::string where = path.string();
  if (!doc.contains("validation") || !doc["validation"].is_object())
    throw SchemaError(where + ": no validation object (not written by mtreplay validate)");
  const nlohmann::json& j = doc["validation"];
  try {
    v.command = j.at("command").get<std::vector<std::string>>();
    v.baseline = j.at("baseline").get<std::string>();
    v.repeat = j.at("repeat").get<int>();
    v.warmup = j.at("warmup").get<int>();
    for (const auto& a : j.at("allocators"))
      v.allocators.push_back(a.at("name").get<std::string>());
    if (j.contains("traces"))
      for (const auto& t : j.at("traces")) {
        const auto hash = t.at("content_hash").get<std::string>();
        if (t.value("recording", 0) != 0) v.recording_of[hash] = t.at("recording").get<int>();
        if (t.contains("library_gaps"))
          for (const auto& [allocator, gap] : t.at("library_gaps").items())
            v.library_gaps[allocator][hash] = {gap.at("bytes").get<int64_t>(),
                                               gap.at("sonames").get<std::vector<std::string>>()};
      }
    for (const auto& r : j.at("program_runs")) {
      ProgramRun run;
      run.allocator = r.at("allocator").get<std::string>();
      run.repeat = r.at("repeat").get<int>();
      run.warmup = r.at("warmup").get<bool>();
      const std::string status = r.at("status").get<std::string>();
      run.status = status == "ok"        ? RunStatus::kOk
                   : status == "crashed" ? RunStatus::kCrashed
                                         : RunStatus::kFailed;
      run.error = r.value("error", "");
      run.exit_code = r.value("exit_code", -1);
      run.signal = r.value("signal", 0);
      auto u = [&](const char* name) -> std::optional<uint64_t> {
        if (!r.contains(name) || r[name].is_null()) return std::nullopt;
        return r[name].get<uint64_t>();
      };
      run.wall_ns = u("wall_ns");
      run.cpu_user_ns = u("cpu_user_ns");
      run.cpu_sys_ns = u("cpu_sys_ns");
      run.peak_rss_bytes = u("peak_rss_bytes");
      run.stdout_hash = r.value("stdout_hash", "");
      v.program_runs.push_back(std::move(run));
    }
  } catch (const nlohmann::json::exception& e) {
    throw SchemaError(fmt::format("{}: validation: {}", where, e.what()));
  }
  return v;
}

}  // namespace mtreplay::results
