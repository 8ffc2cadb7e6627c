// mtreplay validate [-a A,B,...] [--repeat N] [--warmup N] [--trace T] ... -- CMD [ARGS...]
// How well replays predict the program: records CMD (unless --trace), then runs CMD
// itself and replays its traces under each allocator in interleaved rounds, and sets
// the two side by side (results/README.md "mtreplay validate").
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/allocators/registry.hpp"
#include "mtreplay/install_layout.hpp"
#include "mtreplay/replay/result_json.hpp"
#include "mtreplay/replay/worker_launch.hpp"
#include "mtreplay/results/child_process.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/results/validate.hpp"
#include "output_files.hpp"
#include "parse_options.hpp"
#include "recording.hpp"
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
    "usage: mtreplay validate [-a A,B,...] [--baseline A] [--repeat N] [--warmup N]\n"
    "                         [--recordings N | --trace T...] [--keep-traces DIR] [--timeout S]\n"
    "                         [--mode M] [--touch T] [--pace W] [--timing T] [--plan P]\n"
    "                         [--json F] [--markdown F] [--html F] -- CMD [ARGS...]\n"
    "       mtreplay validate --from VALIDATE.json [--json F] [--markdown F] [--html F]\n"
    "Records CMD (or takes its traces from --trace), then runs CMD and replays its traces\n"
    "under each allocator in interleaved rounds, and reports how well the replays predict\n"
    "the program. No -a: every available allocator except null.";

// A progress bar on stderr when it is a terminal.
mr::ValidateProgress terminal_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](size_t done, size_t total, const std::string& what) {
    constexpr size_t kWidth = 30;
    const size_t filled = total ? kWidth * done / total : 0;
    fmt::print(stderr, "\r\x1b[K[{}{}] {}/{} {}", std::string(filled, '#'),
               std::string(kWidth - filled, '.'), done, total, what);
    std::fflush(stderr);
  };
}

void clear_progress() {
  if (isatty(STDERR_FILENO)) fmt::print(stderr, "\r\x1b[K");
}

struct Options {
  std::vector<std::string> allocator_args, trace_args, command;
  std::string baseline = "glibc", keep_traces, json, markdown, html, from;
  int repeat = 5, warmup = 1, recordings = 1;
  double timeout_s = 600;
  ReplayFlags replay;  // passed to every replay, to compare its models
};

// --trace names either files, the processes of one recording, or directories, one
// recording each (its .mtr files, the processes, in name order): what --keep-traces
// wrote with --recordings. Returns a one-line problem, or nothing.
std::optional<std::string> add_traces(const std::vector<std::string>& args,
                                      mr::ValidateRequest& request) {
  std::error_code ec;
  size_t directories = 0;
  for (const auto& a : args) directories += fs::is_directory(a, ec);
  if (directories != 0 && directories != args.size())
    return "--trace takes files (one recording's processes) or directories (one recording "
           "each), not both";
  if (directories == 0) {
    for (const auto& a : args) request.traces.emplace_back(a);
    return std::nullopt;
  }
  for (size_t k = 0; k < args.size(); ++k) {
    std::vector<fs::path> processes;
    for (const auto& entry : fs::directory_iterator(args[k], ec))
      if (entry.path().extension() == ".mtr" && entry.is_regular_file(ec))
        processes.push_back(entry.path());
    if (ec) return fmt::format("{}: cannot read the directory", args[k]);
    if (processes.empty()) return fmt::format("{}: no .mtr trace in the directory", args[k]);
    std::sort(processes.begin(), processes.end());
    request.traces.insert(request.traces.end(), processes.begin(), processes.end());
    request.recording_of.resize(request.traces.size(), static_cast<int>(k));
  }
  return std::nullopt;
}

mtreplay::cli::TableStream table_stream(const Options& o) {
  return mtreplay::cli::table_stream(
      {{"json", &o.json}, {"markdown", &o.markdown}, {"html", &o.html}});
}

// Prints the table, writes the requested files; returns the exit code.
int report(const mr::Validation& validation, const Options& o) {
  const mr::FidelitySummary summary = mr::summarize_fidelity(validation);
  fmt::print(table_stream(o).stream, "{}", mr::fidelity_text(validation, summary));
  if (!o.json.empty()) {
    const std::string text = mr::fidelity_json(validation, summary).dump(1) + "\n";
    if (!write_text(o.json, text)) {
      fmt::print(stderr, "mtreplay validate: {}: cannot write\n", o.json);
      return mtreplay::kExitBadInput;
    }
  }
  if (!o.markdown.empty() &&
      !write_text(o.markdown,
                  mr::fidelity_markdown(validation, summary, validation.replays.environment))) {
    fmt::print(stderr, "mtreplay validate: {}: cannot write\n", o.markdown);
    return mtreplay::kExitBadInput;
  }
  if (!o.html.empty() && !write_text(o.html, mr::fidelity_html(validation, summary))) {
    fmt::print(stderr, "mtreplay validate: {}: cannot write\n", o.html);
    return mtreplay::kExitBadInput;
  }
  return mr::fidelity_exit_code(summary);
}

}  // namespace

int mtreplay::cli::run_validate(Args args) {
  Options o;
  // Options before "--", the command after it.
  std::vector<char*> option_args;
  size_t i = 0;
  for (; i < args.size() && std::string_view(args[i]) != "--"; ++i) option_args.push_back(args[i]);
  for (++i; i < args.size(); ++i) o.command.emplace_back(args[i]);

  po::options_description named("options");
  named.add_options()("help,h", "this help")(
      "allocators,a", po::value(&o.allocator_args)->composing(),
      "allocators, comma-separated names from `mtreplay allocators` or paths to .so")(
      "baseline", po::value(&o.baseline)->default_value(o.baseline),
      "the allocator ratios are to (added to -a when missing)")(
      "repeat", po::value(&o.repeat)->default_value(o.repeat),
      "measured rounds (each runs the program and its replays once per allocator)")(
      "warmup", po::value(&o.warmup)->default_value(o.warmup),
      "discarded rounds before the measured ones")(
      "recordings", po::value(&o.recordings)->default_value(o.recordings),
      "record CMD this many times and replay every recording in every round (a threaded "
      "program's interleaving, and so its replay, differs from one recording to the next)")(
      "trace", po::value(&o.trace_args)->composing(),
      "replay these traces instead of recording CMD: files (one per process of CMD) or "
      "directories (one recording each, as --keep-traces writes them with --recordings)")(
      "keep-traces", po::value(&o.keep_traces),
      "record into this directory and keep the traces (default: a scratch directory); "
      "with --recordings N > 1, recording K into its subdirectory recording-K")(
      "timeout", po::value(&o.timeout_s)->default_value(o.timeout_s),
      "seconds before a program run or a replay is killed and reported as crashed")(
      "json", po::value(&o.json),
      "write the replays and the validation (results/SCHEMA.md) to this file (-, as for "
      "each report file: standard output, the table then on standard error)")(
      "markdown", po::value(&o.markdown), "write the table as Markdown to this file")(
      "html", po::value(&o.html), "write a self-contained HTML report: program against replay")(
      "from", po::value(&o.from), "tabulate this --json file of validate instead of running");
  o.replay.add_to(named);
  const auto parsed =
      parse_options("validate", Args(option_args.data(), option_args.size()), named);
  if (!parsed) return kExitBadInput;
  if (parsed->count("help")) {
    fmt::print("{}\n\n{}\n", kUsage, (std::ostringstream() << named).str());
    return kExitOk;
  }
  if (auto problem = table_stream(o).error) {
    fmt::print(stderr, "mtreplay validate: {}\n", *problem);
    return kExitBadInput;
  }
  if (!o.from.empty()) {
    if (!o.command.empty() || !o.trace_args.empty() || !o.allocator_args.empty()) {
      fmt::print(stderr, "mtreplay validate: --from takes no command, traces or allocators\n");
      return kExitBadInput;
    }
    try {
      return report(mr::read_validation(o.from), o);
    } catch (const mr::SchemaError& e) {
      fmt::print(stderr, "mtreplay validate: {}\n", e.what());
      return kExitBadInput;
    }
  }
  if (o.command.empty()) {
    fmt::print(stderr,
               "mtreplay validate: no command given (mtreplay validate [options] -- CMD "
               "[ARGS...])\n");
    return kExitBadInput;
  }
  if (auto problem = o.replay.problem()) {
    fmt::print(stderr, "mtreplay validate: {}\n", *problem);
    return kExitBadInput;
  }
  if (o.repeat < 1 || o.warmup < 0 || !(o.timeout_s > 0)) {
    fmt::print(stderr, "mtreplay validate: --repeat must be >= 1, --warmup >= 0, --timeout > 0\n");
    return kExitBadInput;
  }
  if (o.recordings < 1 || o.recordings > 100) {
    fmt::print(stderr, "mtreplay validate: --recordings must be 1..100\n");
    return kExitBadInput;
  }
  if (!o.trace_args.empty() && o.recordings != 1) {
    fmt::print(stderr, "mtreplay validate: --recordings records; it does not go with --trace\n");
    return kExitBadInput;
  }
  if (!o.trace_args.empty() && !o.keep_traces.empty()) {
    fmt::print(stderr, "mtreplay validate: --keep-traces records; it does not go with --trace\n");
    return kExitBadInput;
  }

  // The allocators, the baseline first when -a leaves it out.
  const fs::path self = layout::self_exe();
  const fs::path lib_dir = layout::library_dir();
  std::vector<std::string> wanted = split_list(o.allocator_args);
  if (wanted.empty())
    for (const auto& b : allocators::known_backends(lib_dir))
      if (b.available && b.name != "null") wanted.push_back(b.name);
  std::vector<mr::ValidateAllocator> chosen;
  auto add = [&](const std::string& spec, bool front) {
    auto backend = allocators::find_backend(spec, lib_dir);
    if (!backend) {
      fmt::print(stderr, "mtreplay validate: unknown allocator '{}' (see mtreplay allocators)\n",
                 spec);
      return false;
    }
    if (!backend->available) {
      fmt::print(stderr, "mtreplay validate: allocator '{}' is not available here\n", spec);
      return false;
    }
    for (const auto& c : chosen)
      if (c.name == backend->name) return true;
    mr::ValidateAllocator a{backend->name, spec, backend->path.string()};
    chosen.insert(front ? chosen.begin() : chosen.end(), a);
    return true;
  };
  for (const auto& spec : wanted)
    if (!add(spec, false)) return kExitBadInput;
  if (!add(o.baseline, true)) return kExitBadInput;
  // The baseline's name as the registry gives it (a path baseline: its file name).
  o.baseline = allocators::find_backend(o.baseline, lib_dir)->name;

  for (const auto& t : o.trace_args) {
    std::error_code ec;
    if (!fs::is_regular_file(t, ec) && !fs::is_directory(t, ec)) {
      fmt::print(stderr, "mtreplay validate: {}: no such trace file or directory\n", t);
      return kExitBadInput;
    }
  }
  // Where the worker is: beside mtreplay in a build tree, libexec/mtreplay installed.
  const fs::path launcher = replay::default_worker_path().parent_path() / "mtreplay-launch";
  if (!fs::exists(launcher)) {
    fmt::print(stderr, "mtreplay validate: {} not found (expected beside mtreplay-worker)\n",
               launcher.string());
    return kExitInternal;
  }

  try {
    ScratchDir scratch("validate");
    mr::ValidateRequest request;
    request.mtreplay = self;
    request.program.launcher = launcher;
    request.program.command = o.command;
    request.program.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
    request.program.work_dir = scratch.path();
    request.replay_timeout = request.program.timeout;
    request.allocators = chosen;
    request.repeat = o.repeat;
    request.warmup = o.warmup;
    request.replay_args = o.replay.args();
    request.worker = replay::default_worker_path();

    mr::InterruptGuard guard;
    std::vector<mr::ProgramRun> recording_runs;
    if (o.trace_args.empty()) {
      const fs::path mhook = find_mhook();
      if (mhook.empty() || !fs::exists(mhook)) {
        fmt::print(stderr,
                   "mtreplay validate: libmhook.so not found at {} (expected beside bin/)\n",
                   mhook.string());
        return kExitInternal;
      }
      const fs::path top =
          o.keep_traces.empty() ? scratch.path() / "traces" : fs::path(o.keep_traces);
      for (int k = 0; k < o.recordings; ++k) {
        const fs::path dir = o.recordings > 1 ? top / fmt::format("recording-{}", k + 1) : top;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec || !fs::is_directory(dir)) {
          fmt::print(stderr, "mtreplay validate: {}: cannot create the directory\n", dir.string());
          return kExitBadInput;
        }
        const fs::path manifest = create_manifest();
        RecordSettings settings;
        settings.pattern = (fs::absolute(dir) / "%e.%p.mtr").string();
        mr::Launch launch = request.program;
        launch.preload = mhook.string();
        launch.env = mhook_settings(settings, manifest);
        if (isatty(STDERR_FILENO))
          fmt::print(stderr, "recording {} ({}/{})\r", o.command[0], k + 1, o.recordings);
        mr::ProgramRun run = mr::launch_program(launch, "record", -1 - k);
        clear_progress();
        const auto entries = traces_from_manifest(manifest);
        fs::remove(manifest, ec);
        if (!run.ok()) {
          fmt::print(stderr, "mtreplay validate: the command failed while recording: {}\n",
                     run.error);
          return kExitBadInput;
        }
        const size_t before = request.traces.size();
        for (const auto& e : entries)
          if (fs::is_regular_file(e.path, ec)) request.traces.push_back(e.path);
        if (request.traces.size() == before) {
          fmt::print(stderr,
                     "mtreplay validate: {} wrote no trace (a statically linked program cannot "
                     "be recorded)\n",
                     o.command[0]);
          return kExitBadInput;
        }
        request.recording_of.resize(request.traces.size(), k);
        recording_runs.push_back(std::move(run));
      }
    } else if (auto problem = add_traces(o.trace_args, request)) {
      fmt::print(stderr, "mtreplay validate: {}\n", *problem);
      return kExitBadInput;
    }

    mr::Validation validation = mr::run_validate(request, terminal_progress());
    clear_progress();
    validation.baseline = o.baseline;
    validation.program_runs.insert(validation.program_runs.begin(), recording_runs.begin(),
                                   recording_runs.end());

    return report(validation, o);
  } catch (const mr::Interrupted&) {
    clear_progress();
    fmt::print(stderr, "mtreplay validate: interrupted\n");
    return 128 + SIGINT;
  } catch (const std::exception& e) {
    clear_progress();
    fmt::print(stderr, "mtreplay validate: internal error: {}\n", e.what());
    return kExitInternal;
  }
}
