// The touch models that come back to blocks while they live (--touch revisit, wset,
// revisit-wset, revisit-deep): the hazards and the samples replay every op, with --verify, in every
// mode and from a streamed plan (a revisited block is never one another thread may
// have released); the working-set buffer is the replayer's own, not the program's peak;
// a model that does not exist is bad input in one line.
#include <algorithm>
#include <string>
#include <vector>

#include "replay_cli_fixture.hpp"

namespace mtreplay::replay::test {
namespace {

const fs::path kSamples = MTREPLAY_SAMPLES_DIR;
constexpr const char* kModels[] = {"revisit", "wset", "revisit-wset", "revisit-deep"};

class TouchModels : public ReplayCli {};

TEST_F(TouchModels, HazardsReplayEveryOpInEveryMode) {
  for (auto& hazard : hazards()) {
    fs::path trace = write(hazard.script, hazard.name);
    auto expected = ops_per_thread(hazard.script);
    for (const char* model : kModels) {
      for (const char* mode : {"parallel", "serial", "single"}) {
        SCOPED_TRACE(hazard.name + " / " + model + " / " + mode);
        auto doc = replay_json(
            trace, std::string("--verify --allocator glibc --touch ") + model + " --mode " + mode);
        ASSERT_EQ(doc["runs"].size(), 1u);
        const auto& run = doc["runs"][0];
        EXPECT_EQ(run["status"], "ok") << run["error"];
        EXPECT_EQ(run["touch"], model);
        EXPECT_EQ(run["ops_by_thread"].get<std::vector<uint64_t>>(), expected);
      }
    }
  }
}

TEST_F(TouchModels, SamplesReplayEveryOpWholeAndStreamed) {
  const char* const modes[] = {"parallel", "serial", "single"};
  int turn = 0;
  for (const char* sample : {"prodcons", "python3-threads", "xz-threads", "gcc"}) {
    const fs::path trace = kSamples / (std::string(sample) + ".mtr");
    auto reference = replay_json(trace, "--mode serial --touch none");
    ASSERT_EQ(reference["runs"].size(), 1u) << sample;
    const auto& expected = reference["runs"][0];
    // Each model in a mode that turns from sample to sample, so that every model meets
    // every mode; then revisit-wset (both states) and revisit-deep streamed, in several
    // segments each (xz-threads has 559 events), planned ahead and not.
    const std::string segment =
        std::string(" --segment-events ") + (sample == std::string("xz-threads") ? "100" : "8000");
    std::vector<std::string> runs;
    for (int m = 0; m < 4; ++m)
      runs.push_back(std::string(kModels[m]) + " --mode " + modes[(m + turn) % 3]);
    runs.push_back("revisit-wset --plan stream --plan-ahead yes" + segment);
    runs.push_back("revisit-deep --plan stream --plan-ahead no --mode serial" + segment);
    ++turn;
    for (const auto& options : runs) {
      SCOPED_TRACE(std::string(sample) + " / " + options);
      auto doc = replay_json(trace, "--verify --touch " + options);
      ASSERT_EQ(doc["runs"].size(), 1u);
      const auto& r = doc["runs"][0];
      EXPECT_EQ(r["status"], "ok") << r["error"];
      EXPECT_EQ(r["ops_by_thread"], expected["ops_by_thread"]);
      EXPECT_EQ(r["ops_by_kind"], expected["ops_by_kind"]);
      if (options.find("stream") != std::string::npos) {
        EXPECT_GE(r["plan_segments"].get<uint64_t>(), 2u);
      }
    }
  }
}

// 24 MiB live on one thread: the wset buffer is then the largest (8 MiB), mapped before
// the baseline, so the program's peak RSS is use's.
TEST_F(TouchModels, TheWorkingSetIsNotInTheProgramsPeak) {
  constexpr uint64_t kMiB = 1 << 20;
  TraceScript s;
  for (uint64_t i = 0; i < 24; ++i) s.malloc(0, kMiB, 0x10000000 + i * 2 * kMiB);
  for (uint64_t i = 0; i < 24; ++i) s.free(0, 0x10000000 + i * 2 * kMiB);
  const fs::path trace = write(s, "live");
  auto peak = [&](const char* model) {
    auto doc = replay_json(trace, std::string("--mode serial --allocator glibc --touch ") + model);
    EXPECT_EQ(doc["runs"][0]["status"], "ok");
    return std::pair{doc["runs"][0]["program_peak_rss_bytes"].get<double>(),
                     doc["runs"][0]["replayer_startup_bytes"].get<double>()};
  };
  const auto [use, use_startup] = peak("use");
  EXPECT_GT(use, 24.0 * kMiB);
  for (const char* model : {"wset", "revisit-wset"}) {
    SCOPED_TRACE(model);
    const auto [with_wset, startup] = peak(model);
    EXPECT_NEAR(with_wset, use, 3.0 * kMiB);
    EXPECT_GT(startup - use_startup, 7.0 * kMiB);  // the buffer is there, as the replayer's
  }
}

TEST_F(TouchModels, AnUnknownModelIsBadInputInOneLine) {
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  for (const char* bad : {"revisits", "wset2", "revisit+wset"}) {
    Outcome o = run("replay " + write(s, "t").string() + " --touch " + bad);
    EXPECT_EQ(o.code, 2) << bad;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << bad << ": " << o.err;
    EXPECT_NE(o.err.find("revisit-wset"), std::string::npos) << o.err;  // the list
  }
}

}  // namespace
}  // namespace mtreplay::replay::test
