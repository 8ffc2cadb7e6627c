// What every classic-shape workload program shares: "--name value" integer options
// with defaults, a small fast random generator (the workloads must spend their time in
// the allocator, not in std::mt19937), a wall clock, and the one JSON line they print.
// The programs are preloaded with the allocator under test, so they keep their own
// allocations outside the timed loops to what the workload itself is about.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace workload {

// "--name N" pairs; an unknown name or a value that is not a number is bad input (exit 2).
class Options {
 public:
  Options(int argc, char** argv, const char* program)
      : argc_(argc), argv_(argv), program_(program) {
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        std::printf("%s: options are --name value pairs (see the source for the names)\n", program);
        std::exit(0);
      }
    }
    if (argc % 2 != 1) fail("every option takes one value");
  }
  // The value of --name, or `fallback`. Each name used must be asked for before check().
  long get(const char* name, long fallback) {
    known_ += std::string(" --") + name + " ";
    for (int i = 1; i + 1 < argc_; i += 2) {
      if (std::strncmp(argv_[i], "--", 2) != 0 || std::strcmp(argv_[i] + 2, name) != 0) continue;
      char* end = nullptr;
      const long value = std::strtol(argv_[i + 1], &end, 10);
      if (end == argv_[i + 1] || *end != '\0' || value < 0)
        fail(std::string("--") + name + ": not a count: " + argv_[i + 1]);
      return value;
    }
    return fallback;
  }
  // Every option given must be one the program asked for.
  void check() {
    for (int i = 1; i < argc_; i += 2)
      if (known_.find(std::string(" ") + argv_[i] + " ") == std::string::npos)
        fail(std::string("unknown option ") + argv_[i]);
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "%s: %s\n", program_, why.c_str());
    std::exit(2);
  }
  int argc_;
  char** argv_;
  const char* program_;
  std::string known_;
};

// xoshiro-style generator: a few instructions per number.
class Random {
 public:
  explicit Random(std::uint64_t seed)
      : state_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [low, high].
  std::size_t between(std::size_t low, std::size_t high) { return low + next() % (high - low + 1); }

 private:
  std::uint64_t state_;
};

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The one output line: {"workload": ..., "seconds": ..., "check": ...}. `check` is a
// value computed from the work (a sum, a count) so that the compiler cannot drop it and
// a run under a broken allocator shows a different figure. `figures`: more fields, as
// JSON (`, "name": value`), that the harness prints under the workload's table.
inline void report(const char* name, double seconds, std::uint64_t check,
                   const std::string& figures = {}) {
  std::printf("{\"workload\": \"%s\", \"seconds\": %.4f, \"check\": %llu%s}\n", name, seconds,
              static_cast<unsigned long long>(check), figures.c_str());
}

}  // namespace workload
