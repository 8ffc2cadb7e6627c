#include "mtreplay/results/compare_runner.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "mtreplay/results/child_process.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/trace_reader.hpp"

#ifndef MTREPLAY_VERSION
#define MTREPLAY_VERSION "0.0.0"
#endif

namespace mtreplay::results {

namespace fs = std::filesystem;

std::vector<PlannedRun> plan_runs(const CompareRequest& request) {
  std::vector<PlannedRun> plan;
  size_t n = request.allocators.size();
  for (size_t t = 0; t < request.traces.size(); ++t) {
    for (int w = 0; w < request.warmup; ++w)
      for (size_t a = 0; a < n; ++a) plan.push_back({t, request.allocators[a], w, true});
    for (int r = 0; r < request.repeat; ++r)
      for (size_t a = 0; a < n; ++a)
        plan.push_back({t, request.allocators[(a + static_cast<size_t>(r)) % n], r, false});
  }
  return plan;
}

std::vector<PlannedRun> shard_runs(const std::vector<PlannedRun>& all, int index, int count) {
  if (count <= 1) return all;
  // The unit is a measured round (one repeat of a trace: every allocator once), so that
  // a shard compares the allocators side by side on one machine; a shard also runs the
  // warm-up rounds of each trace it measures (merging keeps one copy of those).
  auto mine = [&](size_t round) {
    return round % static_cast<size_t>(count) == static_cast<size_t>(index);
  };
  std::vector<bool> measures(all.empty() ? 0 : all.back().trace + 1, false);
  size_t round = 0;
  bool any = false;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].warmup) continue;
    if (any && (all[i].trace != all[i - 1].trace || all[i].repeat != all[i - 1].repeat ||
                all[i - 1].warmup))
      ++round;
    any = true;
    if (mine(round)) measures[all[i].trace] = true;
  }
  std::vector<PlannedRun> out;
  round = 0, any = false;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].warmup) {
      if (measures[all[i].trace]) out.push_back(all[i]);
      continue;
    }
    if (any && (all[i].trace != all[i - 1].trace || all[i].repeat != all[i - 1].repeat ||
                all[i - 1].warmup))
      ++round;
    any = true;
    if (mine(round)) out.push_back(all[i]);
  }
  return out;
}

namespace {

std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  // The replayer prefixes its messages; the table shows the allocator already.
  const std::string prefix = "mtreplay replay: ";
  if (last.rfind(prefix, 0) == 0) last.erase(0, prefix.size());
  return last;
}

// A run the replayer could not report itself (it crashed or was killed).
Run synthesized_failure(const fs::path& trace, const std::string& allocator,
                        const ChildOutcome& outcome, const std::string& message) {
  Run r;
  r.trace.name = trace.stem().string();
  r.trace.path = trace.string();
  try {
    r.trace.content_hash = traces::content_hash(trace);
  } catch (const std::exception&) {
    r.trace.content_hash = "unreadable:" + trace.string();
  }
  // The name the registry gives a path backend: its file name.
  r.allocator.name = allocator.find('/') == std::string::npos
                         ? allocator
                         : fs::path(allocator).filename().string();
  r.allocator.path = allocator.find('/') == std::string::npos ? "" : allocator;
  r.status = outcome.signal || outcome.timed_out ? RunStatus::kCrashed : RunStatus::kFailed;
  r.error =
      message.empty() ? outcome.describe() : fmt::format("{} ({})", message, outcome.describe());
  return r;
}

std::vector<Run> one_run(const CompareRequest& request, const PlannedRun& planned, size_t index,
                         bool measure_slop, std::optional<Environment>& environment) {
  const fs::path& trace = request.traces[planned.trace];
  fs::path json = request.work_dir / fmt::format("run{}.json", index);
  fs::path err = request.work_dir / fmt::format("run{}.err", index);
  // --quiet first: harmless either way, and it keeps the trace from being taken for a
  // program name by a parser that skips its first argument.
  std::vector<std::string> argv = {
      request.mtreplay.string(), "replay", "--quiet",    trace.string(), "--allocator",
      planned.allocator,         "--json", json.string()};
  argv.insert(argv.end(), request.replay_args.begin(), request.replay_args.end());
  if (planned.trace < request.trace_args.size()) {
    const auto& extra = request.trace_args[planned.trace];
    argv.insert(argv.end(), extra.begin(), extra.end());
  }
  if (!measure_slop) argv.push_back("--no-slop");
  ChildOutcome outcome = run_child(argv, err, request.timeout);

  std::vector<Run> runs;
  std::error_code ec;
  if (!outcome.timed_out && fs::exists(json, ec)) {
    try {
      ResultFile got = read_result_file(json);
      if (!environment) environment = got.environment;
      runs = std::move(got.runs);
    } catch (const SchemaError& e) {
      runs = {synthesized_failure(trace, planned.allocator, outcome,
                                  fmt::format("unreadable result: {}", e.what()))};
    }
  }
  if (runs.empty()) runs = {synthesized_failure(trace, planned.allocator, outcome, last_line(err))};
  for (auto& r : runs) {
    r.repeat = planned.repeat;
    r.warmup = planned.warmup;
    // A failed run may lack a message when the replayer reported only an exit code.
    if (!r.ok() && r.error.empty()) r.error = last_line(err);
  }
  fs::remove(json, ec);
  fs::remove(err, ec);
  return runs;
}

}  // namespace

ResultFile run_compare(const CompareRequest& request, const CompareProgress& progress) {
  ResultFile file;
  file.created = utc_now_iso8601();
  std::optional<Environment> environment;
  std::vector<PlannedRun> plan =
      shard_runs(plan_runs(request), request.shard_index, request.shard_count);
  // The slop of the peak's live set is the same in every run of a trace and allocator
  // (its sizes and the allocator's size classes): measured once, in the first measured
  // run, it saves the others an untimed allocation of the whole peak.
  std::set<std::pair<size_t, std::string>> slop_measured;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (progress) progress(i, plan.size(), plan[i]);
    const bool measure_slop =
        !plan[i].warmup && slop_measured.emplace(plan[i].trace, plan[i].allocator).second;
    for (auto& r : one_run(request, plan[i], i, measure_slop, environment))
      file.runs.push_back(std::move(r));
  }
  file.environment = environment ? *environment : detect_environment(MTREPLAY_VERSION);
  return file;
}

CompareProgress terminal_progress(const CompareRequest& request) {
  if (!isatty(STDERR_FILENO)) return {};
  return [traces = request.traces](size_t done, size_t total, const PlannedRun& next) {
    constexpr size_t kWidth = 30;
    size_t filled = total ? kWidth * done / total : 0;
    std::string what = fmt::format(
        "{} x {} {}", traces[next.trace].stem().string(), next.allocator,
        next.warmup ? std::string("warm-up") : fmt::format("repeat {}", next.repeat + 1));
    fmt::print(stderr, "\r\x1b[K[{}{}] {}/{} {}", std::string(filled, '#'),
               std::string(kWidth - filled, '.'), done, total, what);
    std::fflush(stderr);
  };
}

void clear_terminal_progress() {
  if (isatty(STDERR_FILENO)) fmt::print(stderr, "\r\x1b[K");
}

}  // namespace mtreplay::results
