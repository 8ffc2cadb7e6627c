// The fixture of the `mtreplay replay` end-to-end tests: a scratch directory, the CLI
// run as a child with its output captured, and the hand-written hazard traces.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "trace_files.hpp"

namespace mtreplay::replay::test {

namespace fs = std::filesystem;
using traces::Op;

struct Outcome {
  int code = -1;
  std::string out, err;
};

class ReplayCli : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MTREPLAY_SANITIZE
    GTEST_SKIP() << "preloads allocators into the worker: not under a sanitizer runtime";
#endif
    dir_ = fs::temp_directory_path() /
           ("mtreplay-replay-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  Outcome run(const std::string& args) {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string command = std::string(MTREPLAY_BIN_DIR) + "/mtreplay " + args + " >" +
                          out.string() + " 2>" + err.string();
    int status = std::system(command.c_str());
    Outcome o;
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = slurp(out);
    o.err = slurp(err);
    return o;
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  nlohmann::json replay_json(const fs::path& trace, const std::string& options,
                             int expected_code = 0) {
    fs::path json = dir_ / "result.json";
    fs::remove(json);
    Outcome o =
        run("replay " + trace.string() + " --quiet --json " + json.string() + " " + options);
    EXPECT_EQ(o.code, expected_code) << options << "\n" << o.err;
    if (!fs::exists(json)) return {};
    return nlohmann::json::parse(slurp(json));
  }

  std::vector<std::string> available_allocators() {
    Outcome o = run("allocators --json --available");
    std::vector<std::string> names;
    for (const auto& b : nlohmann::json::parse(o.out)) names.push_back(b["name"]);
    return names;
  }

  fs::path write(const TraceScript& script, const std::string& name) {
    fs::path p = dir_ / (name + ".mtr");
    script.write(p);
    return p;
  }

  fs::path dir_;
};

// Per-thread malloc-family operation counts of a script, in order of first appearance.
inline std::vector<uint64_t> ops_per_thread(const TraceScript& script) {
  std::vector<uint32_t> order;
  std::vector<uint64_t> counts;
  for (const auto& e : script.events()) {
    size_t slot = std::find(order.begin(), order.end(), e.thread) - order.begin();
    if (slot == order.size()) order.push_back(e.thread), counts.push_back(0);
    if (e.op != Op::kReallocBegin && e.op != Op::kThreadStart && e.op != Op::kThreadExit)
      ++counts[slot];
  }
  return counts;
}

struct Hazard {
  std::string name;
  TraceScript script;
  uint64_t inversions = 0;
  uint64_t serial_peak_live = 0;
};

inline std::vector<Hazard> hazards() {
  std::vector<Hazard> all;
  {
    Hazard h{"cross_thread_free", {}, 0, 300};
    h.script.malloc(0, 100, 0x1000).malloc(0, 200, 0x2000).free(1, 0x1000).free(1, 0x2000);
    all.push_back(h);
  }
  {
    Hazard h{"reuse_after_free", {}, 0, 64};
    h.script.malloc(0, 64, 0x1000)
        .free(1, 0x1000)
        .malloc(2, 48, 0x1000)
        .free(0, 0x1000)
        .malloc(1, 32, 0x1000)
        .free(2, 0x1000);
    all.push_back(h);
  }
  {
    Hazard h{"realloc_moves_across_threads", {}, 0, 4096 + 32};
    h.script.malloc(0, 16, 0x1000)
        .malloc(0, 32, 0x3000)
        .realloc(1, 0x1000, 4096, 0x8000)
        .free(0, 0x3000)
        .add(2, Op::kUsableSize, 0x8000, 0, 4096)
        .free(0, 0x8000);
    all.push_back(h);
  }
  {
    Hazard h{"inversion", {}, 1, 24};
    h.script.free(1, 0x1000).malloc(0, 24, 0x1000).malloc(1, 8, 0x2000).free(0, 0x2000);
    all.push_back(h);
  }
  {
    Hazard h{"aligned_and_rare_calls", {}, 0, 0};
    h.script.add(0, Op::kMemalign, 0, 100, 0x10000, 64)
        .add(1, Op::kPosixMemalign, 0, 200, 0x20000, 128)
        // Not (256, 256): Debian's mimalloc 2.0.9 returns 128-aligned blocks for exactly
        // that request, which --verify reports (see replayer/README.md).
        .add(0, Op::kAlignedAlloc, 0, 256, 0x30000, 64)
        .add(1, Op::kValloc, 0, 10, 0x40000)
        .add(0, Op::kPvalloc, 0, 10, 0x50000)
        .add(1, Op::kCalloc, 0, 64, 0x60000)
        .add(0, Op::kReallocBegin, 0x60000, 0, 0)
        .add(0, Op::kReallocArray, 0x60000, 8, 0x70000);
    h.script.free(1, 0x10000)
        .free(0, 0x20000)
        .free(1, 0x30000)
        .free(0, 0x40000)
        .free(1, 0x50000)
        .free(1, 0x70000);
    h.serial_peak_live = 100 + 200 + 256 + 10 + 10 + 64;
    all.push_back(h);
  }
  return all;
}

}  // namespace mtreplay::replay::test
