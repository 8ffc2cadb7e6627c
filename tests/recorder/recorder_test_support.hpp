// Helpers for the recorder's tests: run a program with libmhook.so preloaded (or
// not), capture its output, and read back the traces it wrote.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::recorder_test {

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::vector<std::string> argv;
  std::vector<std::string> extra_env;  // "NAME=value", added to (or replacing in) ours
  std::filesystem::path cwd;           // empty: ours
  std::string stdin_data;
};

RunResult run(const RunOptions& options);

// The path of the built libmhook.so and of the test workload.
std::filesystem::path mhook_library();
std::filesystem::path workload_program();

// A fresh empty directory under the build tree, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct ReadTrace {
  traces::TraceHeader header;
  traces::ReadSummary summary;
  // Events per thread index, in recorded order.
  std::map<uint32_t, std::vector<traces::Event>> threads;
  std::map<uint32_t, uint32_t> os_tid;  // thread index -> OS tid
  size_t events() const;
};

ReadTrace read_trace(const std::filesystem::path& path);

// Every *.mtr file in dir, sorted.
std::vector<std::filesystem::path> traces_in(const std::filesystem::path& dir);

// Events of one op in a thread's list.
std::vector<traces::Event> of_op(const std::vector<traces::Event>& events, traces::Op op);

}  // namespace mtreplay::recorder_test
