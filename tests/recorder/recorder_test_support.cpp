#include "recorder_test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace mtreplay::recorder_test {

std::filesystem::path mhook_library() {
  return std::filesystem::path(MTREPLAY_LIB_DIR) / "libmhook.so";
}
std::filesystem::path workload_program() {
  return std::filesystem::path(MTREPLAY_TEST_BIN_DIR) / "mhook_workload";
}

namespace {

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return std::string_view(x).substr(0, x.find('=')) == name;
    });
    // Never inherit a recorder setting from the environment running the tests.
    if (!replaced && !name.starts_with("MHOOK_") && name != "LD_PRELOAD") env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

RunResult run(const RunOptions& options) {
  std::vector<std::string> argv = options.argv;
  std::vector<std::string> env = merged_environment(options.extra_env);
  auto argv_c = c_strings(argv);
  auto env_c = c_strings(env);
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  size_t written = 0;
  if (options.stdin_data.empty()) {
    close(in_pipe[1]);
    in_pipe[1] = -1;
  } else {
    fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  }
  RunResult result;
  pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_pipe[1], POLLOUT, 0}};
  int open_outputs = 2;
  char buf[65536];
  while (open_outputs > 0) {
    const nfds_t n = in_pipe[1] >= 0 ? 3 : 2;
    if (poll(fds, n, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_outputs;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(r));
      }
    }
    if (in_pipe[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR))) {
      const ssize_t w = write(in_pipe[1], options.stdin_data.data() + written,
                              options.stdin_data.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 || written == options.stdin_data.size()) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
      }
    }
  }
  if (in_pipe[1] >= 0) close(in_pipe[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

TempDir::TempDir(const std::string& name) {
  path_ = std::filesystem::path(MTREPLAY_TEST_TMP) / (name + "." + std::to_string(getpid()));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

size_t ReadTrace::events() const {
  size_t n = 0;
  for (const auto& [index, events] : threads) n += events.size();
  return n;
}

ReadTrace read_trace(const std::filesystem::path& path) {
  traces::ChunkReader reader(path);
  ReadTrace t;
  t.header = reader.header();
  traces::Chunk chunk;
  while (reader.next(chunk)) {
    auto& list = t.threads[chunk.info.thread_index];
    list.insert(list.end(), chunk.events.begin(), chunk.events.end());
    t.os_tid[chunk.info.thread_index] = chunk.info.os_tid;
  }
  t.summary = reader.summary();
  return t;
}

std::vector<std::filesystem::path> traces_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".mtr") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<traces::Event> of_op(const std::vector<traces::Event>& events, traces::Op op) {
  std::vector<traces::Event> out;
  for (const auto& e : events)
    if (e.op == op) out.push_back(e);
  return out;
}

}  // namespace mtreplay::recorder_test
