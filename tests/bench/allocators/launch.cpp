// alloc_launch: runs one command, optionally with an allocator preloaded into it, and
// prints its wall time, CPU time, peak resident set and page faults as one JSON object.
//
// The command is started from mtreplay-launch (built beside the replayer), not from
// here: the kernel keeps a process's peak RSS across exec, so a command started from
// this C++ program began at its 3.6 MiB and the small workloads, 2.9-3.3 MiB under
// glibc, all read about 3.6 MiB under every allocator (BENCHMARKS.md, #14, Session 44).
// The small C launcher starts it at about 1 MiB, below any C++ program's own. Neither
// launcher ever has the allocator preloaded, so its memory is not in the figure.
//
// The preloaded object is checked before the child starts (by a run of the launcher
// itself with it, `--help`, apart from the measured one), and named to the child by its
// absolute path: ld.so takes a name without a slash for a library to look for in the
// system's directories, and when it cannot load one it warns on stderr and runs the
// command anyway, so `--preload libx.so` from the build directory timed glibc.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace po = boost::program_options;

constexpr int kExitBadInput = 2;  // as every mtreplay tool (README "Exit codes")

// Why ld.so cannot preload `path` into a program (its own reason), or "" when it can:
// the launcher itself is run with it, with `--help`, its standard error read. ld.so's
// checks (ELF class, machine, a position-independent executable, the object's own
// dependencies) are its own to make.
std::string preload_error(const std::string& path) {
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) return std::string{"cannot check it: "} + std::strerror(errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
  std::string preload_variable = "LD_PRELOAD=" + path;
  char self[] = "/proc/self/exe";
  char help[] = "--help";
  char* args[] = {self, help, nullptr};
  char* envp[] = {preload_variable.data(), nullptr};
  pid_t probe = -1;
  const int spawned = posix_spawn(&probe, self, &actions, nullptr, args, envp);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_ends[1]);
  std::string said;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;)
    said.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_ends[0]);
  if (spawned != 0) return std::string{"cannot check it: "} + std::strerror(spawned);
  int status = 0;
  ::waitpid(probe, &status, 0);
  // "ERROR: ld.so: object 'P' from LD_PRELOAD cannot be preloaded (REASON): ignored."
  const std::size_t error = said.find("ERROR: ld.so:");
  if (error == std::string::npos) return "";
  const std::string line = said.substr(error, said.find('\n', error) - error);
  const std::size_t open = line.find('(');
  const std::size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open)
    return "ld.so cannot preload it";
  return "ld.so cannot preload it: " + line.substr(open + 1, close - open - 1);
}

// The absolute path of `preload` when ld.so can preload it, or nullopt after a one-line
// message that says what is wrong with it.
std::optional<std::string> checked_preload(const std::string& preload) {
  std::error_code error;
  const std::filesystem::path path = std::filesystem::absolute(preload, error);
  if (!error && !std::filesystem::exists(path, error) && !error)
    error = std::make_error_code(std::errc::no_such_file_or_directory);
  if (error) {
    fmt::print(stderr, "alloc_launch: --preload {}: {}\n", preload, error.message());
    return std::nullopt;
  }
  if (const std::string said = preload_error(path.string()); !said.empty()) {
    fmt::print(stderr, "alloc_launch: --preload {}: {}\n", preload, said);
    return std::nullopt;
  }
  return path.string();
}

}  // namespace

int main(int argc, char** argv) {
  std::string preload;
  std::vector<std::string> extra_env;
  std::vector<std::string> command;
  po::options_description options{
      "alloc_launch [--preload SO] [--env NAME=VALUE]... -- COMMAND..."};
  options.add_options()("help,h", "this help")("preload", po::value(&preload),
                                               "shared object to LD_PRELOAD into COMMAND")(
      "env", po::value(&extra_env)->composing(), "extra NAME=VALUE for COMMAND")(
      "command", po::value(&command), "the command and its arguments");
  po::positional_options_description positional;
  positional.add("command", -1);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
              values);
    po::notify(values);
  } catch (const po::error& error) {
    fmt::print(stderr, "alloc_launch: {}\n", error.what());
    return kExitBadInput;
  }
  if (values.count("help") != 0) {
    fmt::print("{}", fmt::streamed(options));
    return 0;
  }
  if (command.empty()) {
    fmt::print(stderr, "alloc_launch: no command given (see --help)\n");
    return kExitBadInput;
  }

  if (!preload.empty()) {
    const std::optional<std::string> path = checked_preload(preload);
    if (!path) return kExitBadInput;
    preload = *path;
  }
  // The launcher's result goes to a file of its own; the command's standard output
  // stays ours (the workloads print their own figures there).
  std::string result_path =
      (std::filesystem::temp_directory_path() / "alloc_launch_XXXXXX").string();
  const int result_fd = ::mkstemp(result_path.data());
  if (result_fd < 0) {
    fmt::print(stderr, "alloc_launch: cannot create {}: {}\n", result_path, std::strerror(errno));
    return kExitBadInput;
  }
  ::close(result_fd);
  std::vector<std::string> launch = {MTREPLAY_LAUNCH_PATH, "--result", result_path, "--stdout",
                                     "-"};
  if (!preload.empty()) launch.insert(launch.end(), {"--preload", preload});
  for (const std::string& assignment : extra_env)
    launch.insert(launch.end(), {"--env", assignment});
  launch.push_back("--");
  launch.insert(launch.end(), command.begin(), command.end());
  std::vector<char*> args;
  for (std::string& arg : launch) args.push_back(arg.data());
  args.push_back(nullptr);

  pid_t launcher = -1;
  int status = 0;
  if (const int error = posix_spawn(&launcher, args[0], nullptr, nullptr, args.data(), environ);
      error != 0 || ::waitpid(launcher, &status, 0) != launcher || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "alloc_launch: {} failed: {}\n", MTREPLAY_LAUNCH_PATH,
               error != 0 ? std::strerror(error) : "see its message above");
    std::filesystem::remove(result_path);
    return kExitBadInput;
  }
  nlohmann::json launched;
  try {
    launched = nlohmann::json::parse(std::ifstream{result_path});
  } catch (const nlohmann::json::exception& error) {
    fmt::print(stderr, "alloc_launch: {}: {}\n", result_path, error.what());
    std::filesystem::remove(result_path);
    return kExitBadInput;
  }
  std::filesystem::remove(result_path);
  if (launched.contains("start_error")) {
    fmt::print(stderr, "alloc_launch: {}\n", launched["start_error"].get<std::string>());
    return kExitBadInput;
  }
  const auto seconds = [&](const char* key) { return launched[key].get<double>() / 1e9; };
  const int signal = launched["signal"].get<int>();
  const nlohmann::json result = {
      {"wall_seconds", seconds("wall_ns")},
      {"user_seconds", seconds("cpu_user_ns")},
      {"system_seconds", seconds("cpu_sys_ns")},
      {"peak_rss_kib", launched["peak_rss_bytes"].get<std::uint64_t>() / 1024},
      {"page_faults", launched["page_faults"]},
      {"exit_status", signal != 0 ? 128 + signal : launched["exit_code"].get<int>()}};
  fmt::print("{}\n", result.dump());
  return 0;
}
