// mtreplay compare [TRACES...]: replay traces against several allocators, each run a
// fresh process, and show which wins on what, by how much and how noisy the runs were.
// With --from it re-tabulates a result file instead of running anything.
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/allocators/registry.hpp"
#include "mtreplay/install_layout.hpp"
#include "mtreplay/replay/plan_cache.hpp"
#include "mtreplay/replay/trace_plan.hpp"
#include "mtreplay/replay/worker_launch.hpp"
#include "mtreplay/results/child_process.hpp"
#include "mtreplay/results/compare_report.hpp"
#include "mtreplay/results/compare_runner.hpp"
#include "mtreplay/results/html_report.hpp"
#include "mtreplay/results/merge.hpp"
#include "mtreplay/results/sample_traces.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/results/summary.hpp"
#include "mtreplay/results/trace_profile.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "output_files.hpp"
#include "parse_options.hpp"
#include "replay_flags.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace mr = mtreplay::results;
using mtreplay::cli::ReplayFlags;
using mtreplay::cli::ScratchDir;
using mtreplay::cli::split_list;
using mtreplay::cli::write_text;

namespace {

constexpr const char* kUsage =
    "usage: mtreplay compare [TRACES...] [-a A,B,...] [--repeat N] [--baseline A]\n"
    "                        [--mode M] [--touch T] [--pace W] [--timing T] [--plan P]\n"
    "                        [--json F] [--markdown F] [--html F] [--shard K/N]\n"
    "                        [--no-cache] [--cache-dir DIR] [--from RESULT.json... [--force]]\n"
    "No trace: the bundled samples ($MTREPLAY_SAMPLES, <bin>/../share/mtreplay/samples or\n"
    "<bin>/../../traces/samples). No -a: every available allocator except null.";

struct Outputs {
  std::string json, markdown, html;
  bool compact_json = false;
};

mtreplay::cli::TableStream table_stream(const Outputs& out) {
  return mtreplay::cli::table_stream(
      {{"json", &out.json}, {"markdown", &out.markdown}, {"html", &out.html}});
}

// Prints the table and writes the requested files. Returns the exit code.
int report(const mr::ResultFile& file, const std::string& baseline, const Outputs& out) {
  auto traces = mr::summarize(file, baseline);
  fmt::print(table_stream(out).stream, "{}", mr::compare_text(traces));
  try {
    const mr::ResultFile* written = &file;
    mr::ResultFile compact;
    if (out.compact_json) {
      // Baselines kept in a repository: the RSS timelines are most of the bytes and
      // diff does not read them.
      compact = file;
      for (auto& r : compact.runs) {
        r.rss_timeline.clear();
        r.raw.erase("rss_timeline");
      }
      written = &compact;
    }
    if (mtreplay::cli::is_stdout(out.json)) {
      if (!write_text(out.json, mr::to_json(*written).dump(1) + "\n"))
        throw std::runtime_error("cannot write the runs to standard output");
    } else if (!out.json.empty()) {
      mr::write_result_file(*written, out.json);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "mtreplay compare: {}\n", e.what());
    return mtreplay::kExitBadInput;
  }
  if (!out.markdown.empty() &&
      !write_text(out.markdown, mr::compare_markdown(traces, file.environment))) {
    fmt::print(stderr, "mtreplay compare: {}: cannot write\n", out.markdown);
    return mtreplay::kExitBadInput;
  }
  if (!out.html.empty() && !write_text(out.html, mr::html_report(file, traces))) {
    fmt::print(stderr, "mtreplay compare: {}: cannot write\n", out.html);
    return mtreplay::kExitBadInput;
  }
  for (const auto& r : file.runs)
    if (!r.ok()) return mtreplay::kExitBackend;
  return mtreplay::kExitOk;
}

// Obtains (builds once, or finds in the cache and checks) the plan of every trace this
// compare replays whole, and hands each run of the trace what it may then trust: the
// trace's content hash and the entry's checksum need not be computed again in every run
// (replay/plan_cache.hpp). A trace that cannot be planned is left to its runs to report.
void trust_plans(mr::CompareRequest& request, const fs::path& plans, bool plan_auto) {
  std::vector<bool> runs_here(request.traces.size(), false);
  for (const auto& run :
       mr::shard_runs(mr::plan_runs(request), request.shard_index, request.shard_count))
    runs_here[run.trace] = true;
  request.trace_args.resize(request.traces.size());
  for (size_t i = 0; i < request.traces.size(); ++i) {
    if (!runs_here[i]) continue;
    const fs::path& trace = request.traces[i];
    try {
      if (plan_auto &&
          mtreplay::replay::should_stream(mtreplay::traces::MergedReader(trace).summary().events))
        continue;
      mtreplay::replay::PlanSource source;
      source.cache_dir = plans;
      const auto before = mtreplay::replay::file_stamp(trace);
      if (!before) continue;
      auto loaded = mtreplay::replay::load_plan(trace, source, [](const std::string& line) {
        fmt::print(stderr, "mtreplay compare: {}\n", line);
      });
      if (auto trusted = mtreplay::replay::trust(trace, *before, *loaded))
        request.trace_args[i] = {"--trusted-plan", mtreplay::replay::trusted_plan_token(*trusted)};
    } catch (const std::exception&) {
      // Its runs meet the same problem and say what it is.
    }
  }
}

}  // namespace

int mtreplay::cli::run_compare(Args args) {
  std::vector<std::string> trace_args, allocator_args;
  std::string baseline = "glibc", cache_dir, shard;
  ReplayFlags replay_flags;
  std::vector<std::string> from;
  Outputs outputs;
  int repeat = 5, warmup = 1;
  double timeout_s = 600;
  po::options_description named("options");
  named.add_options()("help,h", "this help")(
      "allocators,a", po::value(&allocator_args)->composing(),
      "allocators to compare, comma-separated names from `mtreplay allocators` or paths to .so")(
      "repeat", po::value(&repeat)->default_value(repeat),
      "measured runs per trace and allocator (5 or more for diff to reach p < 0.05)")(
      "warmup", po::value(&warmup)->default_value(warmup),
      "discarded runs per trace and allocator before the measured ones")(
      "baseline", po::value(&baseline)->default_value(baseline), "the allocator ratios are to")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s),
      "seconds before a run is killed and reported as crashed")(
      "json", po::value(&outputs.json),
      "write every run (results/SCHEMA.md) to this file (-, as for each report file: "
      "standard output, the table then on standard error)")(
      "compact-json", po::bool_switch(&outputs.compact_json),
      "leave the RSS timelines out of --json (for baselines kept in a repository)")(
      "markdown", po::value(&outputs.markdown), "write the tables as Markdown to this file")(
      "html", po::value(&outputs.html), "write a self-contained HTML report with charts")(
      "from", po::value(&from)->multitoken()->composing(),
      "tabulate these result files (merged: shards of one matrix, runs made apart) instead "
      "of running replays")("force",
                            "--from: merge files even when their traces or environments differ")(
      "shard", po::value(&shard),
      "K/N: run only the K-th of N deterministic shares of the (trace x allocator x repeat) "
      "runs; --from merges the N result files")(
      "no-cache",
      "keep the traces' plans only for this compare (each trace is still planned once, "
      "not once per run)")(
      "cache-dir", po::value(&cache_dir),
      "where plans are kept (default: $XDG_CACHE_HOME/mtreplay, else ~/.cache/mtreplay)");
  replay_flags.add_to(named);
  po::options_description hidden;
  hidden.add_options()("trace", po::value(&trace_args)->composing());
  po::options_description all;
  all.add(named).add(hidden);
  po::positional_options_description positional;
  positional.add("trace", -1);
  const auto parsed = parse_options("compare", args, all, positional);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    fmt::print("{}\n\n{}\n", kUsage, (std::ostringstream() << named).str());
    return kExitOk;
  }
  if (repeat < 1 || warmup < 0 || !(timeout_s > 0)) {
    fmt::print(stderr, "mtreplay compare: --repeat must be >= 1, --warmup >= 0, --timeout > 0\n");
    return kExitBadInput;
  }

  if (auto problem = replay_flags.problem()) {
    fmt::print(stderr, "mtreplay compare: {}\n", *problem);
    return kExitBadInput;
  }
  if (auto problem = table_stream(outputs).error) {
    fmt::print(stderr, "mtreplay compare: {}\n", *problem);
    return kExitBadInput;
  }

  if (!from.empty()) {
    if (!trace_args.empty() || !allocator_args.empty() || !shard.empty()) {
      fmt::print(stderr, "mtreplay compare: --from takes no traces, allocators or --shard\n");
      return kExitBadInput;
    }
    try {
      std::vector<mr::NamedResult> inputs;
      for (const auto& f : from) inputs.push_back({f, mr::read_result_file(f)});
      if (inputs.size() == 1) return report(inputs.front().file, baseline, outputs);
      return report(mr::merge_results(inputs, vm.count("force") > 0), baseline, outputs);
    } catch (const mr::SchemaError& e) {
      fmt::print(stderr, "mtreplay compare: {}\n", e.what());
      return kExitBadInput;
    } catch (const mr::MergeError& e) {
      fmt::print(stderr, "mtreplay compare: {}\n", e.what());
      return kExitBadInput;
    }
  }
  int shard_index = 0, shard_count = 1;
  if (!shard.empty()) {
    unsigned k = 0, n = 0;
    char extra = 0;
    if (std::sscanf(shard.c_str(), "%u/%u%c", &k, &n, &extra) != 2 || n < 1 || k < 1 || k > n ||
        n > 100000) {
      fmt::print(stderr, "mtreplay compare: --shard '{}' is not K/N with 1 <= K <= N\n", shard);
      return kExitBadInput;
    }
    shard_index = static_cast<int>(k - 1), shard_count = static_cast<int>(n);
  }

  fs::path self = fs::read_symlink("/proc/self/exe");
  mr::CompareRequest request;
  request.mtreplay = self;
  request.repeat = repeat;
  request.warmup = warmup;
  request.shard_index = shard_index;
  request.shard_count = shard_count;
  request.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  request.replay_args = replay_flags.args();

  if (trace_args.empty()) {
    auto dir = mr::find_sample_dir(self);
    if (!dir) {
      std::string looked;
      for (const auto& c : mr::sample_dir_candidates(self)) looked += " " + c.string();
      fmt::print(stderr,
                 "mtreplay compare: no trace given and no sample traces found (looked in{})\n",
                 looked);
      return kExitBadInput;
    }
    request.traces = mr::traces_in(*dir);
  } else {
    for (const auto& t : trace_args) {
      std::error_code ec;
      if (!fs::is_regular_file(t, ec)) {
        fmt::print(stderr, "mtreplay compare: {}: no such trace file\n", t);
        return kExitBadInput;
      }
      request.traces.emplace_back(t);
    }
  }

  fs::path lib_dir = layout::library_dir();
  std::vector<std::string> wanted = split_list(allocator_args);
  if (wanted.empty()) {
    for (const auto& b : allocators::known_backends(lib_dir))
      if (b.available && b.name != "null") request.allocators.push_back(b.name);
  } else {
    for (const auto& name : wanted) {
      auto backend = allocators::find_backend(name, lib_dir);
      if (!backend) {
        fmt::print(stderr, "mtreplay compare: unknown allocator '{}' (see mtreplay allocators)\n",
                   name);
        return kExitBadInput;
      }
      if (!backend->available) {
        fmt::print(stderr, "mtreplay compare: allocator '{}' is not available here\n", name);
        return kExitBadInput;
      }
      request.allocators.push_back(name);
    }
  }

  try {
    ScratchDir scratch("compare");
    request.work_dir = scratch.path();
    // Every run's `mtreplay replay` maps the plan the first one stored: with --no-cache
    // in a directory that goes with the scratch space.
    fs::path plans = vm.count("no-cache") ? scratch.path() / "plans"
                     : cache_dir.empty()  ? replay::default_plan_cache_dir()
                                          : fs::absolute(cache_dir);
    if (plans.empty()) {
      request.replay_args.push_back("--no-cache");  // no HOME: each run plans afresh
    } else {
      request.replay_args.insert(request.replay_args.end(), {"--cache-dir", plans.string()});
    }
    if (!plans.empty() && replay_flags.plan != "stream")
      trust_plans(request, plans, replay_flags.plan.empty() || replay_flags.plan == "auto");
    mr::ResultFile file;
    {
      mr::InterruptGuard guard;
      file = mr::run_compare(request, mr::terminal_progress(request));
      mr::clear_terminal_progress();
    }
    file.trace_profiles = mr::profile_traces(request.traces, plans);
    return report(file, baseline, outputs);
  } catch (const mr::Interrupted&) {
    mr::clear_terminal_progress();
    fmt::print(stderr, "mtreplay compare: interrupted\n");
    return 128 + SIGINT;
  } catch (const std::exception& e) {
    mr::clear_terminal_progress();
    fmt::print(stderr, "mtreplay compare: internal error: {}\n", e.what());
    return kExitInternal;
  }
}
