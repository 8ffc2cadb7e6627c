#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace mtreplay::alloctest {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool names_variable(const std::string& entry, const std::string& assignment) {
  const auto eq = assignment.find('=');
  return entry.compare(0, eq + 1, assignment, 0, eq + 1) == 0;
}

// Our environment minus any LD_PRELOAD, plus the spec's variables.
std::vector<std::string> child_environment(const ChildSpec& spec) {
  std::vector<std::string> assignments = spec.extra_env;
  if (!spec.preload.empty()) assignments.push_back("LD_PRELOAD=" + spec.preload);
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable{*entry};
    if (variable.starts_with("LD_PRELOAD=")) continue;
    bool replaced = false;
    for (const std::string& assignment : assignments)
      replaced |= names_variable(variable, assignment);
    if (!replaced) env.push_back(variable);
  }
  env.insert(env.end(), assignments.begin(), assignments.end());
  return env;
}

}  // namespace

ChildResult run_child(const ChildSpec& spec) {
  ChildResult result;
  // Beside the working directory, not in it: `git add .` must not pick them up.
  const std::filesystem::path out_path = spec.directory.string() + ".out";
  const std::filesystem::path err_path = spec.directory.string() + ".err";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, spec.directory.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);  // own group: kill it all

  std::vector<std::string> env = child_environment(spec);
  std::vector<char*> envp;
  for (std::string& variable : env) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh";
  std::string dash_c = "-c";
  std::string script = spec.script;
  char* argv[] = {shell.data(), dash_c.data(), script.data(), nullptr};

  pid_t child = -1;
  const int spawn_error =
      posix_spawn(&child, shell.c_str(), &actions, &attributes, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0) {
    result.err = "posix_spawn /bin/sh failed";
    return result;
  }

  const auto give_up = std::chrono::steady_clock::now() + spec.deadline;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (std::chrono::steady_clock::now() > give_up) {
      result.timed_out = true;
      ::kill(-child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

}  // namespace mtreplay::alloctest
