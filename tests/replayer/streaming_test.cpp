// --plan stream end to end: the hazards and the samples, cut into many segments, replay
// the same ops per thread with --verify in every mode and with pacing, the serial peak
// of the whole plan; --plan auto keeps small traces whole; bad values and a trace that
// turns out corrupt mid-way are bad input, never a hang.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "replay_cli_fixture.hpp"

namespace mtreplay::replay::test {
namespace {

const fs::path kSamples = MTREPLAY_SAMPLES_DIR;

class Streaming : public ReplayCli {};

TEST_F(Streaming, HazardsAndSamplesReplayTheWholePlansOps) {
  struct Case {
    std::string name;
    fs::path trace;
    const char* segment;
  };
  std::vector<Case> cases;
  for (auto& hazard : hazards())
    cases.push_back({hazard.name, write(hazard.script, hazard.name), "--segment-events 2"});
  for (const char* sample : {"prodcons", "python3-threads", "xz-threads", "gcc"})
    cases.push_back({sample, kSamples / (std::string(sample) + ".mtr"), "--segment-events 5000"});
  // Planning ahead and planning only between segments take turns, so both meet every mode.
  const std::vector<std::string> variants = {"--plan-ahead yes",
                                             "--plan-ahead no",
                                             "--pace 1ns --plan-ahead no",
                                             "--pace none --plan-ahead yes",
                                             "--timing scaled:0.05 --plan-ahead yes",
                                             "--mode serial --plan-ahead no",
                                             "--mode serial --plan-ahead yes",
                                             "--mode single --plan-ahead yes",
                                             "--live-map lphash --plan-ahead no"};
  for (const auto& c : cases) {
    auto reference = replay_json(c.trace, "--mode serial --plan memory");
    ASSERT_EQ(reference["runs"].size(), 1u) << c.name;
    const auto& expected = reference["runs"][0];
    EXPECT_EQ(expected["plan_segments"], 0);
    for (const auto& variant : variants) {
      SCOPED_TRACE(c.name + " / " + variant);
      auto doc =
          replay_json(c.trace, std::string("--verify --plan stream ") + c.segment + " " + variant);
      ASSERT_EQ(doc["runs"].size(), 1u);
      const auto& r = doc["runs"][0];
      EXPECT_EQ(r["status"], "ok") << r["error"];
      EXPECT_EQ(r["ops_by_thread"], expected["ops_by_thread"]);
      EXPECT_EQ(r["ops_by_kind"], expected["ops_by_kind"]);
      EXPECT_EQ(r["anomalies"], expected["anomalies"]);
      EXPECT_GE(r["plan_segments"].get<uint64_t>(), 1u);
      if (variant.starts_with("--mode serial")) {
        EXPECT_EQ(r["peak_live_bytes"], expected["peak_live_bytes"]);
      }
    }
  }
}

TEST_F(Streaming, SamplesComeInManySegments) {
  auto doc = replay_json(kSamples / "prodcons.mtr", "--plan stream --segment-events 20000");
  ASSERT_EQ(doc["runs"].size(), 1u);
  EXPECT_GT(doc["runs"][0]["plan_segments"].get<uint64_t>(), 3u);
  auto whole = replay_json(kSamples / "prodcons.mtr", "");  // --plan auto: small, whole
  ASSERT_EQ(whole["runs"].size(), 1u);
  EXPECT_EQ(whole["runs"][0]["plan_segments"], 0);
}

// A crash in a later segment is located at its op from the start of the trace, whether
// or not the next segment was already planned.
TEST_F(Streaming, ACrashIsLocatedAcrossSegments) {
  TraceScript s;
  for (uint64_t i = 0; i < 6; ++i) s.malloc(0, 16, 0x1000 + 0x100 * i);
  s.malloc(0, 777777, 0x9000).free(0, 0x1000);
  for (uint64_t i = 0; i < 6; ++i) s.malloc(0, 32, 0x20000 + 0x100 * i);
  const fs::path trace = write(s, "t");
  for (const char* ahead : {"yes", "no"}) {
    SCOPED_TRACE(ahead);
    auto doc = replay_json(trace,
                           std::string("--plan stream --segment-events 2 --plan-ahead ") + ahead +
                               " --allocator " + FAULTY_CRASH,
                           3);
    ASSERT_EQ(doc["runs"].size(), 1u);
    EXPECT_EQ(doc["runs"][0]["status"], "crashed");
    EXPECT_EQ(doc["runs"][0]["failed_at_op"], 6);
    EXPECT_EQ(doc["runs"][0]["plan_segments"], 4u);
  }
}

TEST_F(Streaming, BadValuesAreBadInput) {
  std::string trace = (kSamples / "gcc.mtr").string();
  for (const char* bad :
       {"--plan bogus", "--segment-events 0", "--plan stream --live-map lphash-address",
        "--plan stream --plan-ahead maybe"}) {
    Outcome o = run("replay " + trace + " " + bad);
    EXPECT_EQ(o.code, 2) << bad;
    EXPECT_NE(o.err.find("mtreplay replay:"), std::string::npos) << bad << ": " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << bad << ": " << o.err;
  }
}

// Frame payloads are only decoded as the stream reaches them: a corrupt one met after
// several segments have run ends the replay with one line and exit 2.
TEST_F(Streaming, ACorruptFrameMidwayIsBadInput) {
  fs::path copy = dir_ / "corrupt.mtr";
  fs::copy_file(kSamples / "python3-threads.mtr", copy);
  {
    // Walks the frames (traces/FORMAT.md) to the payload of one past the middle.
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    auto u32 = [&](uint64_t at) {
      uint32_t v = 0;
      f.seekg(static_cast<std::streamoff>(at));
      f.read(reinterpret_cast<char*>(&v), 4);
      return v;
    };
    const uint64_t size = fs::file_size(copy);
    uint64_t at = u32(12), payload = 0;
    while (at + 40 <= size && at < size / 2) {
      payload = at + 40;
      at = payload + u32(at + 24);
    }
    ASSERT_GT(payload, 0u);
    f.seekp(static_cast<std::streamoff>(payload + 12));
    for (int i = 0; i < 16; ++i) f.put('\x5a');
  }
  for (const char* ahead : {"yes", "no"}) {
    Outcome o = run("replay " + copy.string() +
                    " --plan stream --segment-events 5000 --quiet --plan-ahead " + ahead);
    EXPECT_EQ(o.code, 2) << ahead << ": " << o.err;
    EXPECT_NE(o.err.find("mtreplay replay:"), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  }
}

// The worker's own pages for a streamed plan (its tables, both halves of the buffer)
// grow after the baseline; they are the replayer's, never counted as the heap's.
TEST_F(Streaming, TheBuffersPagesAreNotTheHeaps) {
  fs::path trace = dir_ / "one-thread.mtr";
  ASSERT_EQ(std::system((std::string(TRACE_GEN) + " " + trace.string() +
                         " --threads 1 --events 400000 --live 64 --long 0 2>/dev/null")
                            .c_str()),
            0);
  auto delta = [&](const std::string& plan) {
    auto doc = replay_json(trace, plan);
    EXPECT_EQ(doc["runs"][0]["status"], "ok") << plan;
    return doc["runs"][0]["peak_rss_delta_bytes"].get<int64_t>();
  };
  const int64_t whole = delta("--plan memory");
  for (const char* ahead : {"yes", "no"}) {
    const int64_t streamed =
        delta(std::string("--plan stream --segment-events 100000 --plan-ahead ") + ahead);
    EXPECT_LT(std::abs(streamed - whole), 1 << 20)
        << ahead << ": " << streamed << " against " << whole;
  }
}

}  // namespace
}  // namespace mtreplay::replay::test
