// Paced parallel replay (--pace) and recorded timing (--timing), end to end: a real
// bounded-queue program keeps its recorded live set under several allocators; pacing
// never deadlocks or changes what is replayed, on the hazards and the samples, in every
// mode; recorded gaps are kept; bad values are bad input.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "replay_cli_fixture.hpp"

namespace mtreplay::replay::test {
namespace {

const fs::path kSamples = MTREPLAY_SAMPLES_DIR;

std::vector<std::string> among(const std::vector<std::string>& available,
                               std::initializer_list<const char*> wanted) {
  std::vector<std::string> out;
  for (const char* name : wanted) {
    if (std::find(available.begin(), available.end(), name) != available.end())
      out.emplace_back(name);
  }
  return out;
}

class Pacing : public ReplayCli {
 protected:
  // The recorded (serial) peak of live requested bytes, as `mtreplay info` finds it.
  uint64_t recorded_peak(const fs::path& trace) {
    Outcome info = run("info --json " + trace.string());
    EXPECT_EQ(info.code, 0) << info.err;
    return nlohmann::json::parse(info.out)["peak_live"]["bytes"].get<uint64_t>();
  }
};

// The sample's producer/consumer program: 2 producers, 2 consumers, a bounded queue.
// Free-running, the producers run ahead of the consumers and the live set grows to
// several times the program's; paced, it stays with the recording.
TEST_F(Pacing, BoundedQueueProgramKeepsItsRecordedLiveSetUnderSeveralAllocators) {
  fs::path pattern = dir_ / "prodcons.%p.mtr";
  Outcome rec = run("record --quiet -o " + pattern.string() + " -- " + PRODCONS_BIN + " 2 2 20000");
  ASSERT_EQ(rec.code, 0) << rec.err;
  fs::path trace;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (entry.path().extension() == ".mtr") trace = entry.path();
  ASSERT_FALSE(trace.empty());
  const uint64_t recorded = recorded_peak(trace);
  ASSERT_GT(recorded, 0u);
  // The program writes 64 bytes of each message: the recording says so of its large
  // ones (touched extents), and the replay leaves their other pages unfaulted.
  const auto touched =
      nlohmann::json::parse(run("info --json " + trace.string()).out)["touched_extents"];
  EXPECT_GT(touched["blocks"].get<uint64_t>(), 500u);
  EXPECT_LT(touched["used_bytes"].get<double>(), 0.2 * touched["requested_bytes"].get<double>());
  auto rss = [&](const std::string& touch) {
    return replay_json(trace, "--touch " + touch)["runs"][0]["peak_rss_delta_bytes"].get<double>();
  };
  EXPECT_GT(rss("whole") - rss("use"), 4.0 * (1 << 20));
  auto allocators = among(available_allocators(), {"glibc", "arena", "jemalloc", "mimalloc"});
  ASSERT_GE(allocators.size(), 2u);
  for (const auto& allocator : allocators) {
    SCOPED_TRACE(allocator);
    auto doc = replay_json(trace, "--allocator " + allocator + " --repeat 3");
    ASSERT_EQ(doc["runs"].size(), 3u);
    for (const auto& r : doc["runs"]) {
      EXPECT_EQ(r["status"], "ok") << r["error"];
      EXPECT_EQ(r["pace_window_ns"], 100'000);  // the documented default
      EXPECT_LE(static_cast<double>(r["peak_live_bytes"].get<uint64_t>()), 1.15 * recorded)
          << "recorded peak " << recorded;
    }
  }
}

// Pacing delays ops, never drops, adds or reorders what a thread does: every hazard
// and every sample replays the same per-thread counts, verified, with the tightest
// windows and with the recorded timing, in every mode.
TEST_F(Pacing, HazardsAndSamplesReplayTheSameOpsWithEveryWindow) {
  std::vector<std::pair<std::string, fs::path>> traces;
  for (auto& hazard : hazards())
    traces.emplace_back(hazard.name, write(hazard.script, hazard.name));
  for (const char* sample : {"prodcons", "python3-threads", "xz-threads", "gcc"})
    traces.emplace_back(sample, kSamples / (std::string(sample) + ".mtr"));
  const std::vector<std::string> variants = {"--pace 1ns",
                                             "--pace 50us --touch use",
                                             "--pace none",
                                             "--pace 10ms --timing scaled:0.05",
                                             "--mode serial --pace 1ns",
                                             "--mode single --pace 1ns"};
  for (const auto& [name, trace] : traces) {
    auto reference = replay_json(trace, "--mode serial");
    ASSERT_EQ(reference["runs"].size(), 1u) << name;
    const auto expected = reference["runs"][0]["ops_by_thread"];
    for (const auto& variant : variants) {
      SCOPED_TRACE(name + " / " + variant);
      auto doc = replay_json(trace, "--verify " + variant);
      ASSERT_EQ(doc["runs"].size(), 1u);
      const auto& r = doc["runs"][0];
      EXPECT_EQ(r["status"], "ok") << r["error"];
      EXPECT_EQ(r["ops_by_thread"], expected);
      EXPECT_EQ(r["anomalies"], reference["runs"][0]["anomalies"]);
    }
  }
}

// A recorded pause of 150 ms between two calls is kept with --timing recorded, halved
// with scaled:0.5, and skipped without.
TEST_F(Pacing, RecordedTimingKeepsTheGaps) {
  TraceScript s;
  s.malloc(0, 64, 0x1000).at(150'000'000).free(0, 0x1000).malloc(1, 32, 0x2000).free(1, 0x2000);
  fs::path trace = write(s, "gap");
  auto wall = [&](const std::string& options) {
    auto doc = replay_json(trace, options);
    EXPECT_EQ(doc["runs"].size(), 1u);
    return doc["runs"][0];
  };
  auto recorded = wall("--timing recorded");
  EXPECT_EQ(recorded["timing"], "recorded");
  EXPECT_GE(recorded["wall_ns"].get<uint64_t>(), 150'000'000u);
  EXPECT_GE(recorded["timing_wait_ns"].get<uint64_t>(), 100'000'000u);
  auto scaled = wall("--timing scaled:0.5");
  EXPECT_GE(scaled["wall_ns"].get<uint64_t>(), 75'000'000u);
  EXPECT_LT(scaled["wall_ns"].get<uint64_t>(), 150'000'000u);
  auto untimed = wall("--timing none");
  EXPECT_LT(untimed["wall_ns"].get<uint64_t>(), 75'000'000u);
}

// Short gaps are spun through; that spin stands for the program's own work, so it is
// kept out of the CPU figures as the pacing window's waits are.
TEST_F(Pacing, RecordedTimingKeepsItsSpinOutOfTheCpuTime) {
  TraceScript s;
  for (uint64_t i = 0; i < 200; ++i)  // 20 ms of 100 us gaps, each spun through
    s.at(i * 100'000).malloc(0, 64, 0x1000).free(0, 0x1000);
  fs::path trace = write(s, "spin");
  auto run = replay_json(trace, "--timing recorded")["runs"][0];
  EXPECT_GE(run["wall_ns"].get<uint64_t>(), 19'000'000u) << run.dump();  // the recorded span
  EXPECT_GT(run["timing_wait_ns"].get<uint64_t>(), 0u) << run.dump();
  EXPECT_LT(run["cpu_user_ns"].get<uint64_t>() + run["cpu_sys_ns"].get<uint64_t>(), 5'000'000u)
      << run.dump();
}

TEST_F(Pacing, BadValuesAreBadInput) {
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  std::string trace = write(s, "t").string();
  for (const char* bad :
       {"--pace 0ms", "--pace fast", "--pace 5", "--pace -1ms", "--timing later",
        "--timing scaled:0", "--timing scaled:x", "--timing recorded --mode serial"}) {
    Outcome o = run("replay " + trace + " " + bad);
    EXPECT_EQ(o.code, 2) << bad;
    EXPECT_NE(o.err.find("mtreplay replay:"), std::string::npos) << bad << ": " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << bad << ": " << o.err;
  }
}

}  // namespace
}  // namespace mtreplay::replay::test
