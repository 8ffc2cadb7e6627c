// Runs one child process to completion with a time limit: stdout discarded, stderr
// to a file, in its own process group so that a timeout or an interrupt takes the
// child's own children (the replay worker) with it.
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtreplay::results {

struct ChildOutcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  bool timed_out = false;
  std::string describe() const;  // "exit code 3", "killed by signal 11 (Segmentation fault)"
};

// Thrown when SIGINT or SIGTERM arrived while waiting; the child group is killed first.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws std::system_error when the child cannot be started.
ChildOutcome run_child(const std::vector<std::string>& argv,
                       const std::filesystem::path& stderr_file, std::chrono::milliseconds timeout);

// While one exists, SIGINT and SIGTERM interrupt run_child instead of killing us, so
// that children are never left behind. Restores the previous handlers.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  static bool interrupted();
};

}  // namespace mtreplay::results
