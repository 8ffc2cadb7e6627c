// mtreplay replay TRACE --allocator NAME|PATH: build the replay plan once, then replay
// it in a fresh worker process per run with the allocator preloaded.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <numeric>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/allocators/registry.hpp"
#include "mtreplay/install_layout.hpp"
#include "mtreplay/replay/plan_cache.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/report_table.hpp"
#include "mtreplay/replay/result_json.hpp"
#include "mtreplay/replay/trace_plan.hpp"
#include "mtreplay/replay/worker_launch.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "output_files.hpp"
#include "parse_options.hpp"
#include "progress.hpp"
#include "replay_flags.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace mtreplay::replay;
using namespace mtreplay;
using mtreplay::cli::parse_mode;
using mtreplay::cli::parse_pace;
using mtreplay::cli::parse_timing;

namespace {

constexpr const char* kUsage = "usage: mtreplay replay TRACE [--allocator NAME|PATH] [options]";

// The address-keyed live map needs every reused address to be reused by the thread
// that freed it: then program order, not the plan, puts the free first.
bool reuses_addresses_across_threads(const Plan& plan) {
  size_t n = plan.objects.size();
  std::vector<uint32_t> producer(n, kNoObject), ender(n, kNoObject);
  std::vector<uint32_t> born(n, 0);  // the producing op's rank in merged order
  for (uint32_t slot = 0; slot < plan.threads.size(); ++slot) {
    const ThreadPlan& thread = plan.threads[slot];
    const std::vector<uint32_t>& rank = thread.merged_ranks();
    for (size_t i = 0; i < thread.ops.size(); ++i) {
      const PlanOp& op = thread.ops[i];
      if (op.in_obj != kNoObject && (op.flags & kEndsIn)) ender[op.in_obj] = slot;
      if (op.out_obj != kNoObject) producer[op.out_obj] = slot, born[op.out_obj] = rank[i];
    }
  }
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  const std::vector<uint64_t>& address = plan.object_addresses;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return address[a] != address[b] ? address[a] < address[b] : born[a] < born[b];
  });
  for (size_t i = 1; i < n; ++i) {
    uint32_t before = order[i - 1], after = order[i];
    if (address[before] == address[after] && ender[before] != producer[after]) return true;
  }
  return false;
}

// Runs `read` (reading or planning the trace): its errors become one line, and exit 2
// for the trace, 4 for mtreplay itself; kExitOk when it read.
int reading(const fs::path& trace, const std::function<void()>& read) {
  try {
    read();
    return kExitOk;
  } catch (const mtreplay::traces::TraceError& e) {
    fmt::print(stderr, "mtreplay replay: {}\n", e.what());
  } catch (const PlanRefused& e) {
    fmt::print(stderr, "mtreplay replay: {}\n", e.what());
  } catch (const std::system_error& e) {
    fmt::print(stderr, "mtreplay replay: cannot read trace {}: {}\n", trace.string(),
               e.code().message());
  } catch (const std::exception& e) {
    fmt::print(stderr, "mtreplay replay: internal error: {}\n", e.what());
    return kExitInternal;
  }
  return kExitBadInput;
}

// Runs --warmup + --repeat replays with `replay_once` and reports them (table, --json);
// `totals` gives the plan's header once the runs are done.
int replay_runs(const po::variables_map& vm, const ReplayOptions& options,
                const std::function<RunResult(const ProgressFn&)>& replay_once,
                const TraceIdentity& identity, const std::function<PlanHeader()>& totals) {
  std::vector<RunResult> runs;
  int exit_code = kExitOk;
  try {
    unsigned warmups = vm["warmup"].as<unsigned>(), repeats = vm["repeat"].as<unsigned>();
    for (unsigned i = 0; i < warmups + repeats; ++i) {
      mtreplay::cli::ReadProgress bar("replay", isatty(STDERR_FILENO) && !vm.count("quiet"));
      RunResult run =
          replay_once([&](uint64_t done, uint64_t total) { bar.update(done, total, "ops"); });
      bar.finish();
      run.warmup = i < warmups;
      run.repeat = run.warmup ? i : i - warmups;
      if (!run.error.empty()) fmt::print(stderr, "mtreplay replay: {}\n", run.error);
      exit_code = std::max(exit_code, run.exit_code);
      bool load_failed = run.load_failed;
      runs.push_back(std::move(run));
      if (load_failed) break;  // one line, not one per run
    }
  } catch (const mtreplay::traces::TraceError& e) {
    fmt::print(stderr, "mtreplay replay: {}\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mtreplay replay: internal error: {}\n", e.what());
    return kExitInternal;
  }
  const PlanHeader header = totals();
  if (header.op_count == 0) {
    fmt::print(stderr, "mtreplay replay: trace {} holds no malloc-family operation\n",
               identity.path);
    return kExitBadInput;
  }

  const std::string json = vm.count("json") ? vm["json"].as<std::string>() : "";
  if (!vm.count("quiet"))
    print_run_table(mtreplay::cli::is_stdout(json) ? stderr : stdout, identity, header, runs);
  if (mtreplay::cli::is_stdout(json)) {
    if (!mtreplay::cli::write_text(json, result_document(identity, runs).dump(2) + "\n")) {
      fmt::print(stderr, "mtreplay replay: cannot write the result to standard output\n");
      return std::max<int>(exit_code, kExitBadInput);
    }
  } else if (!json.empty()) {
    try {
      write_json_file(json, result_document(identity, runs));
    } catch (const std::system_error& e) {
      fmt::print(stderr, "mtreplay replay: cannot write {}: {}\n", json, e.code().message());
      return std::max<int>(exit_code, kExitBadInput);
    }
  }
  if (exit_code == kExitOk && options.on_anomaly == AnomalyPolicy::kFail) {
    const PlanAnomalies& a = header.anomalies;
    if (a.unknown_free + a.double_free + a.unknown_realloc + a.unknown_usable_size +
            a.cycles_broken >
        0) {
      fmt::print(stderr, "mtreplay replay: the trace has anomalies and --on-anomaly=fail\n");
      exit_code = kExitFailed;
    }
  }
  return exit_code;
}

// --plan stream: each run reads and plans the trace again, segment after segment,
// while its worker replays them.
int replay_streamed(const fs::path& trace, uint64_t segment_events, const std::string& ahead,
                    const mtreplay::allocators::Backend& backend, const ReplayOptions& options,
                    const fs::path& worker, const po::variables_map& vm) {
  BackendSpec spec{backend.name, backend.path.string(), backend.version};
  TraceIdentity identity;
  PlanHeader totals;
  // The trace's content hash (a pass over its bytes: about 0.1 s for 10^7 events) only
  // goes into the results: it is taken on a thread of its own while the first run plans
  // and replays, not before them, and joined after that run.
  if (int code = reading(trace, [&] {
        identity = TraceSegments(trace, segment_events, false).identity("(pending)");
      }))
    return code;
  std::future<std::string> content_hash =
      std::async(std::launch::async, [trace] { return mtreplay::traces::content_hash(trace); });
  const uint32_t runners = options.mode == ReplayMode::kParallel ? identity.threads : 1;
  const bool plan_ahead = ahead == "yes" || (ahead == "auto" && plan_ahead_by_default(runners));
  return replay_runs(
      vm, options,
      [&](const ProgressFn& progress) {
        TraceSegments segments(trace, segment_events);
        // The events bound the ops from above: the bar ends a little short of 100 %.
        RunResult run = run_streamed_worker(
            [&]() -> const Plan& { return segments.next(); }, plan_ahead, spec, options, worker,
            [&](uint64_t done, uint64_t) { progress(done, identity.events); });
        totals = segments.totals();
        // replay_runs reads the identity only once the runs are done.
        if (content_hash.valid()) identity.content_hash = content_hash.get();
        return run;
      },
      identity, [&] { return totals; });
}

}  // namespace

int mtreplay::cli::run_replay(Args args) {
  po::options_description visible("mtreplay replay options");
  visible.add_options()("help,h", "show this help")(
      "allocator,a", po::value<std::string>()->default_value("glibc"),
      "a name from `mtreplay allocators`, or a path to a malloc-compatible .so")(
      "mode", po::value<std::string>()->default_value("parallel"),
      "parallel: one thread per recorded thread, paced by --pace; serial: the "
      "same threads in one global recorded order; single: everything on one thread")(
      "touch", po::value<std::string>()->default_value("use"),
      "how the replay uses its blocks, as the program would. use: write every cache line "
      "of a new block and read them back before it is released, that time counted as the "
      "program's own accesses are, leaving out the pages of a large block its recording saw "
      "the program never touch; whole: as use, every block whole; head8k, head16k, head64k: as "
      "use, but of a block of 8, "
      "16 or 64 KiB or more only the first page (for programs that fill little of their "
      "large buffers: its other pages are never faulted in); ends64k: as head64k, and the "
      "last page too; grown16k: as head16k, but a block made by realloc used whole; "
      "revisit: as use, and once per 16 us of recorded time each thread re-reads its "
      "recently made live blocks (a block is revisited in proportion to its lifetime); "
      "wset: as use, and once per 16 us a sweep through a working-set buffer of the "
      "thread's own (cache pressure between ops); revisit-wset: both; revisit-deep: as "
      "revisit, 256 blocks, 32 a period, up to 4 KiB of each; page: "
      "one byte per page of a new block, so its pages "
      "count in RSS; fill: the whole block written; none. The time of page and fill is "
      "measured per thread and taken out of the figures")(
      "pace",
      po::value<std::string>()->default_value(fmt::format("{}us", kDefaultPaceWindowNs / 1000)),
      "parallel mode: keep every thread within this much recorded time of the others "
      "(e.g. 250us, 1ms, 10ms), so the live set and cross-thread traffic follow the "
      "recording; none: threads wait only on the objects they use")(
      "timing", po::value<std::string>()->default_value("none"),
      "parallel mode: none runs each op as soon as it may; recorded keeps the recorded "
      "gaps (no op before its recorded time since the start: busy for short gaps, asleep "
      "for long ones), so time-driven allocator behaviour shows; scaled:F stretches them "
      "by F")("verify",
              "write a per-object pattern into each block and check it before the block "
              "is freed; check alignment, usable size and calloc zeroing")(
      "no-slop",
      "skip the untimed measurement after the run that allocates the peak's live set again "
      "to sum its usable-size slop (usable_slop_bytes); compare measures it in one run per "
      "trace and allocator")(
      "on-anomaly", po::value<std::string>()->default_value("skip"),
      "skip: count anomalies (and NULLs from the allocator) and go on; fail: stop the run")(
      "repeat", po::value<unsigned>()->default_value(1), "runs, each in a fresh process")(
      "warmup", po::value<unsigned>()->default_value(0), "extra runs first, marked warmup")(
      "json", po::value<std::string>(),
      "write the result (results/SCHEMA.md) to this file (-: standard output, the table "
      "then on standard error)")("quiet,q", "no table on stdout")(
      "plan", po::value<std::string>()->default_value("auto"),
      "memory: plan the whole trace, then replay it (cached); stream: plan and replay it "
      "segment after segment in memory bounded by a segment and the live objects (any "
      "length; not cached); auto: stream when the whole plan would not fit comfortably "
      "in the memory available")(
      "segment-events", po::value<uint64_t>()->default_value(kDefaultSegmentEvents),
      "--plan stream: events per segment (a segment ends where no free waits for its "
      "allocation)")(
      "plan-ahead", po::value<std::string>()->default_value("auto"),
      "--plan stream: yes plans the next segment while the worker replays the current one "
      "(the replay then shares the cores with the planning); no plans it only once the "
      "worker is done, the replay waiting meanwhile (left out of its figures); auto: yes "
      "when the machine has two cores beyond the replay's threads")(
      "no-cache", "plan the trace afresh and keep no plan file (see the plan cache in README.md)")(
      "cache-dir", po::value<std::string>(),
      "where plans are kept, one file per trace content and plan version (default: "
      "$XDG_CACHE_HOME/mtreplay, else ~/.cache/mtreplay)")(
      "live-map", po::value<std::string>()->default_value("array"),
      "the worker's recorded-to-live map, for comparing them (BENCHMARKS.md): array "
      "(indexed by object id), lphash (lphash::PointerMap keyed by object id, sized for the "
      "peak live set), lphash-presized (sized for every object) or lphash-address (keyed by "
      "recorded address; only for traces that never reuse an address on another thread)");
  po::options_description hidden;
  hidden.add_options()("trace", po::value<std::string>())(
      "trusted-plan", po::value<std::string>(),
      "from compare: the trace's hash and the cache entry it checked (plan_cache.hpp)")(
      "worker", po::value<std::string>(), "the mtreplay-worker binary (default: beside mtreplay)");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("trace", 1);

  const auto parsed = parse_options("replay", args, all, positional);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    fmt::print("{}\n\n", kUsage);
    std::ostringstream text;
    text << visible;
    fmt::print("{}", text.str());
    return kExitOk;
  }
  if (!vm.count("trace")) {
    fmt::print(stderr, "mtreplay replay: no trace given ({})\n", kUsage);
    return kExitBadInput;
  }

  ReplayOptions options;
  options.verify = vm.count("verify") > 0;
  options.measure_slop = vm.count("no-slop") == 0;
  // The flags compare and validate pass on, checked as they check them.
  const mtreplay::cli::ReplayFlags flags{
      vm["mode"].as<std::string>(), vm["touch"].as<std::string>(), vm["pace"].as<std::string>(),
      vm["timing"].as<std::string>(), vm["plan"].as<std::string>()};
  if (auto problem = flags.problem()) {
    fmt::print(stderr, "mtreplay replay: {}\n", *problem);
    return kExitBadInput;
  }
  parse_mode(flags.mode, options.mode);
  options.touch = *parse_touch(flags.touch);
  parse_pace(flags.pace, options.pace_window_ns);
  parse_timing(flags.timing, options);
  std::string policy = vm["on-anomaly"].as<std::string>();
  if (policy != "skip" && policy != "fail") {
    fmt::print(stderr, "mtreplay replay: unknown --on-anomaly '{}' (skip, fail)\n", policy);
    return kExitBadInput;
  }
  options.on_anomaly = policy == "fail" ? AnomalyPolicy::kFail : AnomalyPolicy::kSkip;
  std::string live_map = vm["live-map"].as<std::string>();
  if (live_map == "array") {
    options.live_map = LiveMapKind::kArray;
  } else if (live_map == "lphash") {
    options.live_map = LiveMapKind::kPointerMap;
  } else if (live_map == "lphash-presized") {
    options.live_map = LiveMapKind::kPointerMapPresized;
  } else if (live_map == "lphash-address") {
    options.live_map = LiveMapKind::kPointerMapByAddress;
  } else {
    fmt::print(stderr,
               "mtreplay replay: unknown --live-map '{}' (array, lphash, lphash-presized, "
               "lphash-address)\n",
               live_map);
    return kExitBadInput;
  }

  fs::path worker =
      vm.count("worker") ? fs::path(vm["worker"].as<std::string>()) : default_worker_path();
  fs::path lib_dir = mtreplay::layout::library_dir();
  std::string allocator = vm["allocator"].as<std::string>();
  auto backend = mtreplay::allocators::find_backend(allocator, lib_dir);
  if (!backend) {
    std::string names;
    for (const auto& b : mtreplay::allocators::known_backends(lib_dir)) names += " " + b.name;
    fmt::print(stderr, "mtreplay replay: unknown allocator '{}' (known:{}; or a path to a .so)\n",
               allocator, names);
    return kExitBadInput;
  }
  if (!backend->available) {
    fmt::print(stderr, "mtreplay replay: allocator '{}' is not available here (no file {})\n",
               backend->name, backend->path.string());
    return kExitBadInput;
  }

  fs::path trace = vm["trace"].as<std::string>();
  const std::string& plan_mode = flags.plan;
  if (plan_mode == "stream" && options.live_map == LiveMapKind::kPointerMapByAddress) {
    fmt::print(stderr,
               "mtreplay replay: --plan stream has no recorded addresses for --live-map "
               "lphash-address\n");
    return kExitBadInput;
  }
  const std::string ahead = vm["plan-ahead"].as<std::string>();
  if (ahead != "auto" && ahead != "yes" && ahead != "no") {
    fmt::print(stderr, "mtreplay replay: unknown --plan-ahead '{}' (auto, yes, no)\n", ahead);
    return kExitBadInput;
  }
  if (vm["segment-events"].as<uint64_t>() == 0) {
    fmt::print(stderr, "mtreplay replay: --segment-events must be at least 1\n");
    return kExitBadInput;
  }
  bool stream = plan_mode == "stream";
  // A trusted plan (from compare) is a whole plan compare chose already.
  if (plan_mode == "auto" && options.live_map != LiveMapKind::kPointerMapByAddress &&
      !vm.count("trusted-plan")) {
    try {
      stream = should_stream(mtreplay::traces::MergedReader(trace).summary().events);
    } catch (const std::exception&) {
      // load_plan below reports the problem.
    }
  }
  if (stream)
    return replay_streamed(trace, vm["segment-events"].as<uint64_t>(), ahead, *backend, options,
                           worker, vm);
  PlanSource source;
  source.use_cache = vm.count("no-cache") == 0;
  if (vm.count("cache-dir")) source.cache_dir = vm["cache-dir"].as<std::string>();
  if (vm.count("trusted-plan")) {
    source.trusted = parse_trusted_plan(vm["trusted-plan"].as<std::string>());
    if (!source.trusted) {
      fmt::print(stderr, "mtreplay replay: --trusted-plan '{}' is not a plan token\n",
                 vm["trusted-plan"].as<std::string>());
      return kExitBadInput;
    }
  }
  source.with_addresses = options.live_map == LiveMapKind::kPointerMapByAddress;
  std::unique_ptr<LoadedPlan> loaded;
  if (int code = reading(trace, [&] {
        loaded = load_plan(
            trace, source,
            [](const std::string& line) { fmt::print(stderr, "mtreplay replay: {}\n", line); },
            [&](const Plan& plan) -> std::optional<std::string> {
              if (source.with_addresses && reuses_addresses_across_threads(plan))
                return fmt::format(
                    "--live-map lphash-address: trace {} reuses an address on another thread "
                    "than the one that freed it; the address-keyed map cannot order that",
                    trace.string());
              return std::nullopt;
            });
      }))
    return code;
  if (loaded->header().op_count == 0) {
    fmt::print(stderr, "mtreplay replay: trace {} holds no malloc-family operation\n",
               trace.string());
    return kExitBadInput;
  }

  BackendSpec spec{backend->name, backend->path.string(), backend->version};
  return replay_runs(
      vm, options,
      [&](const ProgressFn& progress) {
        return run_worker(loaded->view(), loaded->fd(), spec, options, worker, progress);
      },
      loaded->identity, [&] { return loaded->header(); });
}
