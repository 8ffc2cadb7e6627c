// Runs a shell script as a child process, optionally with an allocator preloaded into it
// (and so into everything it starts), and collects what it printed. A child that
// outlives its deadline is killed and reported, never waited on forever.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mtreplay::alloctest {

struct ChildResult {
  int exit_status = -1;  // exit code, or 128 + signal number
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct ChildSpec {
  std::string script;                  // run by /bin/sh -c
  std::filesystem::path directory;     // working directory
  std::string preload;                 // LD_PRELOAD for the child; "" = none (glibc)
  std::vector<std::string> extra_env;  // NAME=value, added to (or replacing) ours
  std::chrono::seconds deadline{300};
};

ChildResult run_child(const ChildSpec& spec);

}  // namespace mtreplay::alloctest
