// alloc_launch: runs one command, optionally with an allocator preloaded into it, and
// prints its wall time and peak resident set as one JSON object. The launcher itself
// never has the allocator preloaded, so its own memory is not in the figure: peak RSS
// comes from wait4's rusage of the child alone.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
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
      {"exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)}};
  fmt::print("{}\n", result.dump());
  return 0;
}
