// mtreplay record [-o PATTERN] [--no-follow-fork] [--no-follow-exec] [--touched MODE] -- CMD
// [ARGS...] Runs CMD with libmhook.so preloaded, exits with CMD's status, and prints a short
// summary of the traces written (on stderr, so CMD's own output is untouched).
#include <fmt/core.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "mtreplay/traces/trace_writer.hpp"
#include "recording.hpp"

extern char** environ;

namespace mtreplay::cli {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

struct RecordOptions {
  RecordSettings settings;
  bool quiet = false;
  std::vector<std::string> command;
};

constexpr const char* kUsage =
    "usage: mtreplay record [-o PATTERN] [--no-follow-fork] [--no-follow-exec] [--touched MODE] "
    "[--zstd-level N] [-q] -- CMD "
    "[ARGS...]";

std::vector<std::string> child_environment(const RecordOptions& o, const fs::path& mhook,
                                           const fs::path& manifest) {
  std::vector<std::string> env;
  std::string preload = mhook.string();
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    if (entry.starts_with("LD_PRELOAD=")) {
      // Ours first: the recorder must see the calls before any other preloaded allocator.
      const auto rest = entry.substr(std::strlen("LD_PRELOAD="));
      if (!rest.empty()) preload += ":" + std::string(rest);
      continue;
    }
    if (entry.starts_with("MHOOK_")) continue;  // this run's settings replace any inherited
    env.emplace_back(entry);
  }
  env.push_back("LD_PRELOAD=" + preload);
  for (auto& setting : mhook_settings(o.settings, manifest)) env.push_back(std::move(setting));
  return env;
}

// Runs the command and returns its exit status, shell style (128 + signal if killed).
// -1 if it could not be started.
int run_command(const std::vector<std::string>& command, std::vector<std::string>& env) {
  std::vector<char*> argv, envp;
  std::vector<std::string> args = command;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  // Like time(1): Ctrl-C reaches the command (same process group); we stay to report.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGQUIT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  int status = 0;
  if (rc == 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  if (rc != 0) {
    fmt::print(stderr, "mtreplay record: cannot run '{}': {}\n", command[0], std::strerror(rc));
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitInternal;
}

void print_summary(const std::vector<TraceEntry>& traces) {
  uint64_t events = 0, threads = 0, bytes = 0;
  std::set<uint32_t> pids;
  size_t readable = 0;
  std::vector<std::string> lines;
  uint64_t unrecorded = 0;
  for (const auto& [path, closed, not_recorded] : traces) {
    unrecorded += not_recorded;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) {
      lines.push_back(fmt::format("  {} (missing)", path.string()));
      continue;
    }
    try {
      traces::MergedReader reader(path);
      const auto& s = reader.summary();
      ++readable;
      pids.insert(reader.header().pid);
      events += s.events;
      threads += reader.threads().size();
      bytes += size;
      std::string state =
          s.complete
              ? ""
              : fmt::format(", incomplete: {} bytes after the last whole frame", s.truncated_bytes);
      if (!s.complete && s.truncated_bytes == 0) state = ", no end record (killed)";
      if (s.end_reason == traces::EndReason::kExec) state = ", ended by exec";
      lines.push_back(fmt::format("  {}  pid {}{}, {} threads, {} events{}", path.string(),
                                  reader.header().pid,
                                  reader.header().parent_trace_pid
                                      ? fmt::format(" (from {})", reader.header().parent_trace_pid)
                                      : "",
                                  reader.threads().size(), s.events, state));
    } catch (const traces::TraceError& e) {
      lines.push_back(fmt::format("  {}", e.what()));
    }
  }
  fmt::print(
      stderr,
      "mtreplay record: {} events, {} threads, {} processes, {} traces, {:.2f} bytes/event\n",
      events, threads, pids.size(), readable,
      events ? static_cast<double>(bytes) / static_cast<double>(events) : 0.0);
  fmt::print(stderr, "  {} calls not recorded (made before the recorder was ready, or by it)\n",
             unrecorded);
  for (const auto& l : lines) fmt::print(stderr, "{}\n", l);
}

// Splits at "--"; options before it, the command after. Without "--", the first
// argument that is not an option (or an option's value) starts the command.
bool parse(Args args, RecordOptions& o, bool& help) {
  std::vector<std::string> opts;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (!a.starts_with("-")) break;
    opts.emplace_back(a);
    if ((a == "-o" || a == "--output" || a == "--zstd-level" || a == "--touched") &&
        i + 1 < args.size())
      opts.emplace_back(args[++i]);
  }
  for (; i < args.size(); ++i) o.command.emplace_back(args[i]);

  po::options_description desc("mtreplay record options");
  desc.add_options()("help,h", "show this help")(
      "output,o", po::value(&o.settings.pattern),
      "trace file pattern: %p pid, %e executable name, %% a percent sign (default mhook.%p.mtr)")(
      "no-follow-fork", "do not trace forked children")("no-follow-exec",
                                                        "programs the command execs run untraced")(
      "touched", po::value(&o.settings.touched),
      "how much of each block of 16 KiB or more the program used, for its replay: resident: "
      "its pages resident when it is released; exact: also drop them when it is made "
      "(exact, but the program faults in again every page it uses); auto (default): exact "
      "for the sizes seen to use under half their pages, resident for the others; off: "
      "not measured, replayed whole")("zstd-level", po::value(&o.settings.zstd_level),
                                      "compression level of the trace frames (1-19, default 1)")(
      "quiet,q", "no summary");
  po::variables_map vm;
  po::store(po::command_line_parser(opts).options(desc).run(), vm);
  po::notify(vm);
  help = vm.count("help") > 0;
  if (help) {
    fmt::print("{}\n\n", kUsage);
    std::ostringstream text;
    text << desc;
    fmt::print("{}", text.str());
    return true;
  }
  o.settings.follow_fork = vm.count("no-follow-fork") == 0;
  o.settings.follow_exec = vm.count("no-follow-exec") == 0;
  if (o.settings.touched != "auto" && o.settings.touched != "resident" &&
      o.settings.touched != "exact" && o.settings.touched != "off")
    throw po::error("--touched must be auto, resident, exact or off");
  o.quiet = vm.count("quiet") > 0;
  if (o.settings.zstd_level < 1 || o.settings.zstd_level > 19)
    throw po::error("--zstd-level must be 1..19");
  if (o.settings.pattern.empty()) throw po::error("--output must not be empty");
  return true;
}

}  // namespace

int run_record(Args args) {
  RecordOptions o;
  bool help = false;
  try {
    parse(args, o, help);
  } catch (const po::error& e) {
    fmt::print(stderr, "mtreplay record: {}\n{}\n", e.what(), kUsage);
    return kExitBadInput;
  }
  if (help) return kExitOk;
  if (o.command.empty()) {
    fmt::print(stderr, "mtreplay record: no command given\n{}\n", kUsage);
    return kExitBadInput;
  }
  const fs::path mhook = find_mhook();
  if (mhook.empty() || !fs::exists(mhook)) {
    fmt::print(stderr, "mtreplay record: libmhook.so not found at {} (expected beside bin/)\n",
               mhook.string());
    return kExitInternal;
  }
  // Absolute, so that children that chdir still write where the user asked.
  o.settings.pattern = fs::absolute(o.settings.pattern).string();

  // Each traced process appends its trace's path to this file (MHOOK_MANIFEST).
  fs::path manifest;
  try {
    manifest = create_manifest();
  } catch (const std::exception& e) {
    fmt::print(stderr, "mtreplay record: {}\n", e.what());
    return kExitInternal;
  }

  auto env = child_environment(o, mhook, manifest);
  const int status = run_command(o.command, env);
  const auto traces = traces_from_manifest(manifest);
  std::error_code ec;
  fs::remove(manifest, ec);
  if (status < 0) return kExitBadInput;
  if (!o.quiet) {
    if (traces.empty())
      fmt::print(stderr, "mtreplay record: no trace was written (see mhook's message above)\n");
    else
      print_summary(traces);
  }
  return status;
}

}  // namespace mtreplay::cli
