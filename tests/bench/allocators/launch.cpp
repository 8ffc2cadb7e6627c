// alloc_launch: runs one command, optionally with an allocator preloaded into it, and
// prints its wall time and peak resident set as one JSON object. The launcher itself
// never has the allocator preloaded, so its own memory is not in the figure: peak RSS
// comes from wait4's rusage of the child alone.
//
// The preloaded object is checked before the child starts (by a run of the launcher
// itself with it, `--help`, apart from the measured one), and named to the child by its
// absolute path: ld.so takes a name without a slash for a library to look for in the
// system's directories, and when it cannot load one it warns on stderr and runs the
// command anyway, so `--preload libx.so` from the build directory timed glibc.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace po = boost::program_options;

constexpr int kExitBadInput = 2;  // as every mtreplay tool (README "Exit codes")

std::vector<std::string> child_environment(const std::string& preload,
                                           const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable{*entry};
    if (!variable.starts_with("LD_PRELOAD=")) env.push_back(variable);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  return env;
}

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
  std::vector<std::string> env = child_environment(preload, extra_env);
  std::vector<char*> envp;
  for (std::string& variable : env) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (std::string& arg : command) args.push_back(arg.data());
  args.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  pid_t child = -1;
  if (const int error = posix_spawnp(&child, args[0], nullptr, nullptr, args.data(), envp.data());
      error != 0) {
    fmt::print(stderr, "alloc_launch: cannot start {}: {}\n", command[0], std::strerror(error));
    return kExitBadInput;
  }
  int status = 0;
  rusage usage{};
  if (::wait4(child, &status, 0, &usage) != child) {
    fmt::print(stderr, "alloc_launch: wait4 failed for {}\n", command[0]);
    return kExitBadInput;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::json result = {
      {"wall_seconds", wall},
      {"user_seconds", usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6},
      {"system_seconds", usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6},
      {"peak_rss_kib", usage.ru_maxrss},
      {"page_faults", usage.ru_minflt + usage.ru_majflt},
      {"exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)}};
  fmt::print("{}\n", result.dump());
  return 0;
}
