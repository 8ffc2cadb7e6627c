// `mtreplay replay` end to end: hand-written traces for each ordering hazard replayed
// under every available allocator with --verify, and every kind of bad input.
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string>

#include "replay_cli_fixture.hpp"

namespace mtreplay::replay::test {
namespace {

TEST_F(ReplayCli, EveryHazardUnderEveryAllocatorAndModeVerifies) {
  auto allocators = available_allocators();
  ASSERT_GE(allocators.size(), 2u);
  for (auto& hazard : hazards()) {
    fs::path trace = write(hazard.script, hazard.name);
    auto expected = ops_per_thread(hazard.script);
    for (const auto& allocator : allocators) {
      for (const char* mode : {"parallel", "serial", "single"}) {
        SCOPED_TRACE(hazard.name + " / " + allocator + " / " + mode);
        auto doc = replay_json(
            trace, "--verify --touch page --allocator " + allocator + " --mode " + mode);
        ASSERT_EQ(doc["runs"].size(), 1u);
        const auto& run = doc["runs"][0];
        EXPECT_EQ(run["status"], "ok") << run["error"];
        EXPECT_EQ(run["ops_by_thread"].get<std::vector<uint64_t>>(), expected);
        EXPECT_EQ(run["anomalies"]["inversions_repaired"], hazard.inversions);
        EXPECT_EQ(run["anomalies"]["unknown_free"], 0);
        EXPECT_EQ(run["anomalies"]["failed_alloc_replay"], 0);
      }
    }
  }
}

// The benchmark's alternative live maps replay the same hazards correctly; the
// address-keyed one refuses a trace whose addresses move between threads.
TEST_F(ReplayCli, EveryLiveMapReplaysTheHazards) {
  for (auto& hazard : hazards()) {
    fs::path trace = write(hazard.script, hazard.name);
    auto expected = ops_per_thread(hazard.script);
    for (const char* map : {"lphash", "lphash-presized"}) {
      for (const char* mode : {"parallel", "serial", "single"}) {
        SCOPED_TRACE(hazard.name + " / " + map + " / " + mode);
        auto doc = replay_json(
            trace, std::string("--verify --allocator glibc --live-map ") + map + " --mode " + mode);
        ASSERT_EQ(doc["runs"].size(), 1u);
        EXPECT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
        EXPECT_EQ(doc["runs"][0]["ops_by_thread"].get<std::vector<uint64_t>>(), expected);
      }
    }
  }
  TraceScript same_thread;
  same_thread.malloc(0, 64, 0x1000).free(0, 0x1000).malloc(0, 32, 0x1000).malloc(1, 8, 0x2000);
  same_thread.free(1, 0x2000).free(0, 0x1000);
  auto doc = replay_json(write(same_thread, "same"),
                         "--verify --allocator glibc --live-map lphash-address");
  ASSERT_EQ(doc["runs"].size(), 1u);
  EXPECT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
  for (auto& hazard : hazards()) {
    if (hazard.name != "reuse_after_free") continue;
    Outcome o = run("replay " + write(hazard.script, hazard.name).string() +
                    " --quiet --live-map lphash-address");
    EXPECT_EQ(o.code, 2);
    EXPECT_NE(o.err.find("reuses an address on another thread"), std::string::npos) << o.err;
  }
}

TEST_F(ReplayCli, SerialModeReportsTheRecordingsPeakLiveBytes) {
  for (auto& hazard : hazards()) {
    if (hazard.serial_peak_live == 0) continue;
    SCOPED_TRACE(hazard.name);
    auto doc = replay_json(write(hazard.script, hazard.name), "--mode serial");
    EXPECT_EQ(doc["runs"][0]["peak_live_bytes"], hazard.serial_peak_live);
  }
}

TEST_F(ReplayCli, SerialPeakLiveBytesEqualMtreplayInfo) {
  std::vector<std::pair<std::string, TraceScript>> traces;
  // Not the inversion trace: info drops an inverted object from the live bytes, the
  // replay really allocates it before the repaired free (24 bytes live vs 8).
  for (auto& hazard : hazards()) {
    if (hazard.inversions == 0) traces.emplace_back(hazard.name, hazard.script);
  }
  TraceScript churn;
  for (uint64_t i = 0; i < 3000; ++i) {
    auto t = static_cast<uint32_t>(i % 3);
    churn.malloc(t, 16 + (i * 7919) % 4000, 0x100000 + (i % 50) * 0x1000);
    if (i >= 25) churn.free((t + 1) % 3, 0x100000 + ((i - 25) % 50) * 0x1000);
  }
  traces.emplace_back("churn", churn);
  for (auto& [name, script] : traces) {
    SCOPED_TRACE(name);
    fs::path trace = write(script, name);
    Outcome info = run("info --json " + trace.string());
    ASSERT_EQ(info.code, 0) << info.err;
    auto doc = replay_json(trace, "--mode serial");
    EXPECT_EQ(doc["runs"][0]["peak_live_bytes"],
              nlohmann::json::parse(info.out)["peak_live"]["bytes"]);
  }
}

TEST_F(ReplayCli, ParallelPeakLiveBytesAreAtLeastTheRecordingsAndDivideTheRss) {
  // A producer far ahead of its consumer: in parallel mode the live set can only grow
  // past the recorded one, and fragmentation is taken against this replay's peak.
  TraceScript s;
  for (uint64_t i = 0; i < 4000; ++i) {
    s.malloc(0, 4096, 0x100000 + (i % 8) * 0x2000);
    s.free(1, 0x100000 + (i % 8) * 0x2000);
  }
  auto doc = replay_json(write(s, "ahead"), "");
  const auto& run = doc["runs"][0];
  EXPECT_GE(run["peak_live_bytes"].get<uint64_t>(), 4096u);
  EXPECT_DOUBLE_EQ(run["fragmentation"].get<double>(), run["peak_rss_delta_bytes"].get<double>() /
                                                           run["peak_live_bytes"].get<double>());
}

TEST_F(ReplayCli, JsonToStandardOutputMovesTheTableToStandardError) {
  TraceScript s;
  s.malloc(0, 100, 0x1000);
  s.free(0, 0x1000);
  const fs::path trace = write(s, "dash");
  const Outcome o = run("replay " + trace.string() + " --json -");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto doc = nlohmann::json::parse(o.out);
  EXPECT_EQ(doc["runs"][0]["ops"], 2);
  EXPECT_NE(o.err.find("parallel"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(fs::current_path() / "-"));  // no file named "-"
}

// Whether the kernel backs anonymous memory with huge pages without being asked: then
// one fault may bring in 2 MiB, and a count of 4 KiB pages is no lower bound.
bool huge_pages_always() {
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  return std::getline(mode, line) && line.find("[always]") != std::string::npos;
}

TEST_F(ReplayCli, PageFaultsCountTheFirstTouchesOfTheBlocksPages) {
  // Eight 4 MiB blocks live at once, each written whole: at least their 8,192 fresh
  // pages fault in. Left untouched, they hardly fault.
  TraceScript s;
  for (uint64_t i = 0; i < 8; ++i) s.malloc(0, 4u << 20, 0x10000000 + i * (8u << 20));
  for (uint64_t i = 0; i < 8; ++i) s.free(0, 0x10000000 + i * (8u << 20));
  const fs::path trace = write(s, "faults");
  const auto whole = replay_json(trace, "--touch whole")["runs"][0]["page_faults"].get<uint64_t>();
  const auto none = replay_json(trace, "--touch none")["runs"][0]["page_faults"].get<uint64_t>();
  if (huge_pages_always()) {
    EXPECT_LT(none, whole);
    GTEST_SKIP() << "transparent huge pages are [always]: only whole > none is checked";
  }
  EXPECT_GE(whole, 8u * 1024u);
  EXPECT_LT(none + 7u * 1024u, whole);
}

TEST_F(ReplayCli, ManyThreadsSharingObjectsReplayCleanly) {
  // Producer/consumer rings: each thread frees what its neighbour allocated, and
  // addresses are reused all the time, across threads.
  TraceScript s;
  const uint32_t threads = 4;
  for (uint64_t i = 0; i < 4000; ++i) {
    auto t = static_cast<uint32_t>(i % threads);
    uint64_t p = 0x100000 + (i % 64) * 0x40;
    s.malloc(t, 8 + (i * 37) % 500, p);
    s.free((t + 1) % threads, p);
  }
  fs::path trace = write(s, "ring");
  for (const auto& allocator : available_allocators()) {
    SCOPED_TRACE(allocator);
    auto doc = replay_json(trace, "--verify --allocator " + allocator + " --repeat 2");
    ASSERT_EQ(doc["runs"].size(), 2u);
    for (const auto& run : doc["runs"]) {
      EXPECT_EQ(run["status"], "ok") << run["error"];
      EXPECT_EQ(run["ops"], 8000);
    }
  }
}

TEST_F(ReplayCli, JemallocGetsTheCallsItLacksEmulated) {
  auto names = available_allocators();
  if (std::find(names.begin(), names.end(), "jemalloc") == names.end())
    GTEST_SKIP() << "no jemalloc";
  TraceScript s;
  s.add(0, Op::kPvalloc, 0, 10, 0x50000).free(0, 0x50000);
  s.add(0, Op::kReallocBegin, 0, 0, 0).add(0, Op::kReallocArray, 0, 16, 0x60000).free(0, 0x60000);
  auto doc = replay_json(write(s, "rare"), "--verify --allocator jemalloc");
  auto emulated = doc["runs"][0]["allocator"]["emulated"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(emulated.begin(), emulated.end(), "pvalloc"), emulated.end());
  EXPECT_NE(std::find(emulated.begin(), emulated.end(), "reallocarray"), emulated.end());
  EXPECT_EQ(doc["runs"][0]["status"], "ok");
}

TEST_F(ReplayCli, ResultFollowsTheSchema) {
  TraceScript s;
  for (uint64_t i = 0; i < 1000; ++i) s.malloc(0, 32, 0x1000 + i * 64);
  for (uint64_t i = 0; i < 1000; ++i) s.free(0, 0x1000 + i * 64);
  auto doc = replay_json(write(s, "schema"), "--repeat 2 --warmup 1");
  EXPECT_EQ(doc["schema"], "mtreplay-result");
  EXPECT_EQ(doc["schema_version"], 1);
  for (const char* key :
       {"cpu", "cores", "kernel", "libc", "mtreplay_version", "mtreplay_revision"})
    EXPECT_TRUE(doc["environment"].contains(key)) << key;
  ASSERT_EQ(doc["runs"].size(), 3u);
  EXPECT_TRUE(doc["runs"][0]["warmup"].get<bool>());
  const auto& run = doc["runs"][1];
  EXPECT_EQ(run["trace"]["name"], "schema");
  EXPECT_EQ(run["trace"]["pid"], 4242);
  EXPECT_EQ(run["trace"]["events"], 2000);
  EXPECT_EQ(run["trace"]["content_hash"].get<std::string>().rfind("fnv1a64:", 0), 0u);
  EXPECT_EQ(run["allocator"]["name"], "glibc");
  EXPECT_EQ(run["ops"], 2000);
  EXPECT_EQ(run["ops_by_kind"]["malloc"], 1000);
  EXPECT_GT(run["wall_ns"].get<uint64_t>(), 0u);
  EXPECT_GT(run["latency_ns"]["malloc"]["samples"].get<uint64_t>(), 0u);
  EXPECT_LE(run["rss_timeline"].size(), 512u);
  EXPECT_GE(run["peak_rss_bytes"].get<uint64_t>(), run["baseline_rss_bytes"].get<uint64_t>());
  EXPECT_GT(run["replayer_startup_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(run["program_peak_rss_bytes"].get<uint64_t>(),
            run["peak_rss_bytes"].get<uint64_t>() - run["replayer_startup_bytes"].get<uint64_t>());
  EXPECT_EQ(run["peak_live_bytes"], 32000);
  EXPECT_GT(run["usable_slop_bytes"].get<uint64_t>(), 0u) << "glibc rounds 32 up to 40";
}

TEST_F(ReplayCli, MissingTraceIsBadInput) {
  Outcome o = run("replay " + (dir_ / "nope.mtr").string());
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("nope.mtr"), std::string::npos) << o.err;
}

TEST_F(ReplayCli, CorruptTraceIsBadInput) {
  fs::path bad = dir_ / "corrupt.mtr";
  std::ofstream(bad) << "this is not a trace at all, just some bytes";
  Outcome o = run("replay " + bad.string());
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("corrupt.mtr"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

TEST_F(ReplayCli, UnknownAllocatorIsBadInput) {
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  Outcome o = run("replay " + write(s, "t").string() + " --allocator nosuchmalloc");
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("nosuchmalloc"), std::string::npos) << o.err;
}

TEST_F(ReplayCli, LibraryThatIsNotAnElfFileIsReportedWithTheLoaderReason) {
  fs::path fake = dir_ / "libfake.so";
  std::ofstream(fake) << "not an ELF file, and long enough to have an ELF header's size: "
                         "the dynamic loader reads its first 64 bytes and rejects them.";
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  fs::path json = dir_ / "result.json";
  Outcome o = run("replay " + write(s, "t").string() + " --repeat 3 --quiet --json " +
                  json.string() + " --allocator " + fake.string());
  EXPECT_EQ(o.code, 3);
  // One line, naming the allocator, the file and ld.so's reason; nothing from ld.so itself.
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(
      o.err.find("allocator libfake.so: cannot load " + fake.string() + ": invalid ELF header"),
      std::string::npos)
      << o.err;
  auto doc = nlohmann::json::parse(slurp(json));
  ASSERT_EQ(doc["runs"].size(), 1u);  // the other runs would fail alike
  EXPECT_EQ(doc["runs"][0]["status"], "failed");
}

TEST_F(ReplayCli, LibraryWithAnUndefinedSymbolIsReportedWithTheLoaderReason) {
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  Outcome o = run("replay " + write(s, "t").string() + " --quiet --allocator " +
                  std::string(UNDEFINED_SYMBOL_SO));
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find(std::string(": cannot load ") + UNDEFINED_SYMBOL_SO), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("undefined symbol: mtreplay_test_symbol_nobody_defines"), std::string::npos)
      << o.err;
}

// A recorded thread starts after the op the recording saw before its start, and exits
// after the op it saw before its exit: the order allocator logs when each marker
// request returned and when each thread's exit ran its destructor. m51 and m60 sleep,
// so a replay that started thread 1 at once would log m2 first, and one that ended it
// after its last op would log x2 before m3. Thread 0, the program's main thread, is
// replayed on the worker's main thread, which (as in the program) does not exit; so it is
// with a streamed plan, whose segments another thread swaps in.
TEST_F(ReplayCli, ThreadsStartAndExitWhereTheRecordingDid) {
  constexpr uint64_t kMarker = 910000;
  TraceScript s;
  s.malloc(0, kMarker + 51, 0x1000)
      .add(1, Op::kThreadStart, 0, 0, 4243)
      .malloc(1, kMarker + 2, 0x2000)
      .free(1, 0x2000)
      .malloc(0, kMarker + 60, 0x3000)
      .malloc(0, kMarker + 3, 0x4000)
      .add(1, Op::kThreadExit, 0, 0, 0)
      .free(0, 0x1000)
      .free(0, 0x3000)
      .free(0, 0x4000);
  fs::path trace = write(s, "t");
  for (std::string mode : {"parallel", "serial", "parallel --plan stream --segment-events 2",
                           "serial --plan stream --segment-events 3"}) {
    fs::path log = dir_ / ("order." + std::to_string(mode.size()));
    setenv("MTREPLAY_ORDER_LOG", log.c_str(), 1);
    Outcome o = run("replay " + trace.string() + " --quiet --mode " + mode + " --allocator " +
                    FAULTY_ORDER);
    unsetenv("MTREPLAY_ORDER_LOG");
    ASSERT_EQ(o.code, 0) << o.err;
    std::vector<std::string> order;
    std::istringstream lines(slurp(log));
    for (std::string line; std::getline(lines, line);) order.push_back(line);
    auto at = [&](const std::string& what) {
      return std::find(order.begin(), order.end(), what) - order.begin();
    };
    std::string seen;
    for (const auto& line : order) seen += line + " ";
    // 4 markers, 3 of them on the main thread, and thread 1's exit
    ASSERT_EQ(order.size(), 8u) << mode << ": " << seen;
    EXPECT_LT(at("m51"), at("m2")) << mode << ": " << seen;
    EXPECT_LT(at("m3"), at("x2")) << mode << ": " << seen;
    EXPECT_EQ(at("x51"), 8) << mode << ": " << seen;  // the main thread did not exit
    for (const char* main_thread : {"p51", "p60", "p3"}) EXPECT_LT(at(main_thread), 8) << seen;
    EXPECT_EQ(at("p2"), 8) << mode << ": " << seen;
  }
}

TEST_F(ReplayCli, CrashingAllocatorIsReportedWithTheOpIndexAndOtherRunsContinue) {
  TraceScript s;
  s.malloc(0, 16, 0x1000).malloc(0, 32, 0x2000).malloc(0, 777777, 0x3000).free(0, 0x1000);
  auto doc = replay_json(write(s, "t"), std::string("--repeat 2 --allocator ") + FAULTY_CRASH, 3);
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (const auto& run : doc["runs"]) {
    EXPECT_EQ(run["status"], "crashed");
    EXPECT_EQ(run["failed_at_op"], 2);
    EXPECT_NE(run["error"].get<std::string>().find("signal"), std::string::npos);
  }
}

TEST_F(ReplayCli, NullFromTheAllocatorIsABackendFailure) {
  TraceScript s;
  s.malloc(0, 777777, 0x3000).free(0, 0x3000).malloc(0, 8, 0x1000);
  fs::path trace = write(s, "t");
  auto doc = replay_json(trace, std::string("--allocator ") + FAULTY_NULL, 3);
  EXPECT_EQ(doc["runs"][0]["anomalies"]["failed_alloc_replay"], 1);
  EXPECT_EQ(doc["runs"][0]["ops"], 3) << "skip policy: the run goes on";
  doc = replay_json(trace, std::string("--on-anomaly fail --allocator ") + FAULTY_NULL, 3);
  EXPECT_EQ(doc["runs"][0]["status"], "failed");
  EXPECT_EQ(doc["runs"][0]["failed_at_op"], 0);
}

TEST_F(ReplayCli, VerifyCatchesOverlappingBlocks) {
  TraceScript s;
  s.malloc(0, 777777, 0x100000).malloc(1, 777777, 0x300000).free(0, 0x100000).free(1, 0x300000);
  Outcome o = run("replay " + write(s, "t").string() + " --mode serial --verify --allocator " +
                  FAULTY_OVERLAP);
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_NE(o.err.find("overlapping"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("libfaulty_overlap.so"), std::string::npos) << "names the allocator";
}

TEST_F(ReplayCli, VerifyCatchesMisalignedBlocks) {
  TraceScript s;
  s.add(0, Op::kMemalign, 0, 777777, 0x100000, 4096).free(0, 0x100000);
  Outcome o = run("replay " + write(s, "t").string() + " --verify --allocator " + FAULTY_MISALIGN);
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_NE(o.err.find("not aligned"), std::string::npos) << o.err;
}

// The head/ends/grown touch models use only the first (and last) page of a large
// block, so its other pages are never faulted in: 16 blocks of 4 MiB, live together,
// cost the replay under `use` at least 48 MiB more peak RSS than under any of them. A
// block below the threshold is used whole (the same RSS either way), and so is, under
// grown16k, a block made by realloc. Every model replays the blocks under --verify.
TEST_F(ReplayCli, HeadTouchModelsLeaveTheRestOfALargeBlockUnfaulted) {
  auto peak = [&](const fs::path& trace, const std::string& touch) {
    auto doc = replay_json(trace, "--mode serial --allocator glibc --touch " + touch);
    EXPECT_EQ(doc["runs"][0]["touch"], touch);
    return doc["runs"][0]["program_peak_rss_bytes"].get<double>();
  };
  constexpr uint64_t kMiB = 1 << 20;
  TraceScript large, grown, small;
  for (uint64_t i = 0; i < 16; ++i) {
    const uint64_t at = 0x10000000 + i * 8 * kMiB;
    large.malloc(0, 4 * kMiB, at);
    grown.malloc(0, 64, at).realloc(0, at, 4 * kMiB, at);
  }
  for (uint64_t i = 0; i < 16; ++i) large.free(0, 0x10000000 + i * 8 * kMiB);
  for (uint64_t i = 0; i < 16; ++i) grown.free(0, 0x10000000 + i * 8 * kMiB);
  for (uint64_t i = 0; i < 16 * 1024; ++i) small.malloc(0, 4000, 0x10000000 + i * 4096);
  for (uint64_t i = 0; i < 16 * 1024; ++i) small.free(0, 0x10000000 + i * 4096);
  const fs::path large_trace = write(large, "large"), grown_trace = write(grown, "grown"),
                 small_trace = write(small, "small");
  const double use_large = peak(large_trace, "use"), use_small = peak(small_trace, "use");
  for (const char* model : {"head8k", "head16k", "head64k", "ends64k", "grown16k"}) {
    SCOPED_TRACE(model);
    EXPECT_GT(use_large - peak(large_trace, model), 48.0 * kMiB);
    EXPECT_NEAR(peak(small_trace, model), use_small, 8.0 * kMiB);
    for (const auto& trace : {large_trace, grown_trace}) {
      auto doc = replay_json(trace, std::string("--verify --touch ") + model);
      EXPECT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
    }
  }
  const double use_grown = peak(grown_trace, "use");
  EXPECT_NEAR(peak(grown_trace, "grown16k"), use_grown, 8.0 * kMiB);
  EXPECT_GT(use_grown - peak(grown_trace, "head16k"), 48.0 * kMiB);
}

// A recording that measured how much of its large blocks the program used (kTouched):
// `use` writes only that much, so 16 blocks of 4 MiB of which the program touched one
// page each cost at least 48 MiB less peak RSS than under `whole`, in a whole plan and
// in a streamed one; a block measured as used whole costs the same either way.
TEST_F(ReplayCli, RecordedTouchedExtentsLeaveUntouchedPagesUnfaulted) {
  constexpr uint64_t kMiB = 1 << 20;
  TraceScript sparse, full;
  for (uint64_t i = 0; i < 16; ++i) {
    sparse.malloc(0, 4 * kMiB, 0x10000000 + i * 8 * kMiB);
    full.malloc(0, 4 * kMiB, 0x10000000 + i * 8 * kMiB);
  }
  for (uint64_t i = 0; i < 16; ++i) {
    const uint64_t at = 0x10000000 + i * 8 * kMiB;
    sparse.touched(0, at, 4096).free(0, at);
    full.touched(0, at, 4 * kMiB).free(0, at);
  }
  const fs::path sparse_trace = write(sparse, "sparse"), full_trace = write(full, "full");
  for (const std::string plan : {"memory", "stream"}) {
    SCOPED_TRACE(plan);
    auto peak = [&](const fs::path& trace, const std::string& touch) {
      auto doc = replay_json(
          trace, "--mode serial --allocator glibc --plan " + plan + " --verify --touch " + touch);
      EXPECT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
      return doc["runs"][0]["program_peak_rss_bytes"].get<double>();
    };
    EXPECT_GT(peak(sparse_trace, "whole") - peak(sparse_trace, "use"), 48.0 * kMiB);
    EXPECT_NEAR(peak(full_trace, "use"), peak(full_trace, "whole"), 8.0 * kMiB);
  }
}

// Streamed in small segments, a large block's touched event comes segments after its
// allocation was handed out: the block then gets what its size class's measured blocks
// used (here 1 page of 4 MiB), not a whole-block touch, so the streamed replay faults in
// about what the whole plan's does.
TEST_F(ReplayCli, StreamedBlocksMeasuredSegmentsLaterUseTheirClassesExtent) {
  constexpr uint64_t kMiB = 1 << 20;
  TraceScript s;
  for (uint64_t i = 0; i < 4; ++i) {  // measured early: the class uses 1 page of 4 MiB
    const uint64_t at = 0x10000000 + i * 8 * kMiB;
    s.malloc(0, 4 * kMiB, at).touched(0, at, 4096).free(0, at);
  }
  for (uint64_t i = 0; i < 16; ++i) s.malloc(0, 4 * kMiB, 0x40000000 + i * 8 * kMiB);
  for (uint64_t i = 0; i < 300; ++i) s.malloc(0, 64, 0x1000 + i * 64).free(0, 0x1000 + i * 64);
  for (uint64_t i = 0; i < 16; ++i) {
    const uint64_t at = 0x40000000 + i * 8 * kMiB;
    s.touched(0, at, 4096).free(0, at);
  }
  const fs::path trace = write(s, "late");
  auto peak = [&](const std::string& plan, const std::string& touch) {
    auto doc = replay_json(trace, "--mode serial --allocator glibc --plan " + plan +
                                      " --segment-events 50 --verify --touch " + touch);
    EXPECT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
    if (plan == "stream") {
      EXPECT_GT(doc["runs"][0]["plan_segments"].get<int>(), 5);
    }
    return doc["runs"][0]["program_peak_rss_bytes"].get<double>();
  };
  const double streamed = peak("stream", "use");
  EXPECT_GT(peak("stream", "whole") - streamed, 48.0 * kMiB);
  EXPECT_NEAR(streamed, peak("memory", "use"), 8.0 * kMiB);
}

TEST_F(ReplayCli, BadOptionsAreBadInput) {
  TraceScript s;
  s.malloc(0, 8, 0x1000);
  std::string trace = write(s, "t").string();
  EXPECT_EQ(run("replay " + trace + " --mode sideways").code, 2);
  EXPECT_EQ(run("replay " + trace + " --touch lots").code, 2);
  EXPECT_EQ(run("replay " + trace + " --on-anomaly shrug").code, 2);
  EXPECT_EQ(run("replay").code, 2);
}

// The plan cache: a second replay maps the stored plan (the entry is not rewritten), a
// changed trace gets a plan of its own, a truncated or bit-flipped entry is reported in
// one line and rebuilt, and every one of those replays reports the same figures.
TEST_F(ReplayCli, PlanCacheHitsMissesStaleAndCorruptEntries) {
  TraceScript s;
  for (uint64_t i = 0; i < 300; ++i) s.malloc(i % 2, 48 + i, 0x10000 + i * 0x100);
  for (uint64_t i = 0; i < 300; ++i) s.free((i + 1) % 2, 0x10000 + i * 0x100);
  s.free(0, 0xdead0);  // an anomaly the image must carry
  fs::path trace = write(s, "cached"), cache = dir_ / "cache";
  const std::string args = "--mode serial --cache-dir " + cache.string();
  auto figures = [](const nlohmann::json& doc) {
    const auto& r = doc["runs"][0];
    return nlohmann::json{{"ops", r["ops"]},
                          {"ops_by_kind", r["ops_by_kind"]},
                          {"ops_by_thread", r["ops_by_thread"]},
                          {"peak_live_bytes", r["peak_live_bytes"]},
                          {"anomalies", r["anomalies"]},
                          {"trace", r["trace"]}};
  };
  auto entries = [&] {
    std::vector<fs::path> plans;
    for (const auto& e : fs::directory_iterator(cache))
      if (e.path().extension() == ".plan") plans.push_back(e.path());
    return plans;
  };
  const nlohmann::json first = figures(replay_json(trace, args));
  EXPECT_EQ(first["ops"], 600);
  EXPECT_EQ(first["anomalies"]["unknown_free"], 1);
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries()[0];
  EXPECT_NE(entry.filename().string().find("-plain-v"), std::string::npos);
  const auto stored = fs::last_write_time(entry);
  const uintmax_t size = fs::file_size(entry);

  Outcome hit = run("replay " + trace.string() + " --quiet " + args);
  EXPECT_EQ(hit.code, 0) << hit.err;
  EXPECT_EQ(hit.err, "");
  EXPECT_EQ(fs::last_write_time(entry), stored) << "a hit must not rewrite the entry";
  EXPECT_EQ(figures(replay_json(trace, args)), first);

  // Truncated, then one bit flipped in the middle: a warning, a rebuild, the same result.
  fs::resize_file(entry, size / 2);
  fs::path json = dir_ / "result.json";
  Outcome truncated =
      run("replay " + trace.string() + " --quiet --json " + json.string() + " " + args);
  EXPECT_EQ(truncated.code, 0);
  EXPECT_NE(truncated.err.find("unusable"), std::string::npos) << truncated.err;
  EXPECT_EQ(std::count(truncated.err.begin(), truncated.err.end(), '\n'), 1) << truncated.err;
  EXPECT_EQ(figures(nlohmann::json::parse(slurp(json))), first);
  EXPECT_EQ(fs::file_size(entry), size);
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(&c, 1);
  }
  Outcome flipped =
      run("replay " + trace.string() + " --quiet --json " + json.string() + " " + args);
  EXPECT_EQ(flipped.code, 0);
  EXPECT_NE(flipped.err.find("checksum"), std::string::npos) << flipped.err;
  EXPECT_EQ(figures(nlohmann::json::parse(slurp(json))), first);
  EXPECT_EQ(run("replay " + trace.string() + " --quiet " + args).err, "") << "rebuilt whole";

  // The same path with other contents: another entry, the new trace's figures.
  s.malloc(0, 4096, 0x900000).free(1, 0x900000);
  write(s, "cached");
  const nlohmann::json changed = figures(replay_json(trace, args));
  EXPECT_EQ(changed["ops"], 602);
  EXPECT_NE(changed["trace"]["content_hash"], first["trace"]["content_hash"]);
  EXPECT_EQ(entries().size(), 2u);

  // --no-cache stores nothing; the address-keyed variant is an entry of its own.
  fs::remove_all(cache);
  EXPECT_EQ(figures(replay_json(trace, args + " --no-cache")), changed);
  EXPECT_FALSE(fs::exists(cache));
  replay_json(trace, args + " --live-map lphash");
  EXPECT_EQ(entries().size(), 1u) << "the id-keyed map uses the plain image";
}

// compare hands its runs a token (plan_cache.hpp: the trace's hash, and the trace and
// entry as stat saw them): a replay trusts it only while both files are unchanged, so a
// damaged entry is still caught and a changed trace still gets its own plan.
TEST_F(ReplayCli, TrustedPlanTokensHoldOnlyForUnchangedFiles) {
  TraceScript s;
  for (uint64_t i = 0; i < 200; ++i) s.malloc(i % 2, 64 + i, 0x20000 + i * 0x100);
  for (uint64_t i = 0; i < 200; ++i) s.free((i + 1) % 2, 0x20000 + i * 0x100);
  fs::path trace = write(s, "trusted"), cache = dir_ / "cache";
  const std::string args = "--mode serial --cache-dir " + cache.string();
  const nlohmann::json first = replay_json(trace, args)["runs"][0];
  fs::path entry;
  for (const auto& e : fs::directory_iterator(cache))
    if (e.path().extension() == ".plan") entry = e.path();
  ASSERT_FALSE(entry.empty());
  auto stamp = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" +
           std::to_string(uint64_t(st.st_mtim.tv_sec) * 1000000000u + uint64_t(st.st_mtim.tv_nsec));
  };
  const std::string token =
      first["trace"]["content_hash"].get<std::string>() + "," + stamp(trace) + "," + stamp(entry);
  const std::string trusted = args + " --trusted-plan " + token;

  Outcome hit = run("replay " + trace.string() + " --quiet " + trusted);
  EXPECT_EQ(hit.code, 0) << hit.err;
  EXPECT_EQ(hit.err, "");
  EXPECT_EQ(replay_json(trace, trusted)["runs"][0]["ops"], first["ops"]);

  // The entry damaged after the token was made: checked, reported, rebuilt.
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(entry) / 2));
    f.write("\x5a\x5a\x5a\x5a", 4);
  }
  fs::path json = dir_ / "result.json";
  Outcome damaged =
      run("replay " + trace.string() + " --quiet --json " + json.string() + " " + trusted);
  EXPECT_EQ(damaged.code, 0) << damaged.err;
  EXPECT_NE(damaged.err.find("checksum"), std::string::npos) << damaged.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(json))["runs"][0]["ops_by_kind"], first["ops_by_kind"]);

  // The trace changed after the token was made: hashed again, its own plan.
  s.malloc(0, 4096, 0x900000).free(1, 0x900000);
  write(s, "trusted");
  const auto changed = replay_json(trace, trusted)["runs"][0];
  EXPECT_EQ(changed["ops"], first["ops"].get<uint64_t>() + 2);
  EXPECT_NE(changed["trace"]["content_hash"], first["trace"]["content_hash"]);

  Outcome bad = run("replay " + trace.string() + " --quiet --trusted-plan nonsense");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--trusted-plan"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

// The cache keeps the plans used last within MTREPLAY_PLAN_CACHE_LIMIT, saying what it
// removed in one line; a value it cannot read is said once and the default used.
TEST_F(ReplayCli, PlanCacheKeepsTheRecentlyUsedWithinItsLimit) {
  auto trace_of = [&](uint64_t n, const std::string& name) {
    TraceScript s;
    for (uint64_t i = 0; i < 200 + n; ++i) s.malloc(0, 32 + i, 0x10000 + i * 0x100);
    for (uint64_t i = 0; i < 200 + n; ++i) s.free(0, 0x10000 + i * 0x100);
    return write(s, name);
  };
  const fs::path a = trace_of(0, "a"), b = trace_of(1, "b"), c = trace_of(2, "c");
  const fs::path cache = dir_ / "cache";
  const std::string args = " --quiet --cache-dir " + cache.string();
  auto plans = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(cache))
      if (e.path().extension() == ".plan") names.insert(e.path().filename().string());
    return names;
  };
  ASSERT_EQ(run("replay " + a.string() + args).code, 0);
  const uintmax_t one = fs::file_size(*fs::directory_iterator(cache));
  struct Limit {
    explicit Limit(const std::string& value) {
      setenv("MTREPLAY_PLAN_CACHE_LIMIT", value.c_str(), 1);
    }
    ~Limit() { unsetenv("MTREPLAY_PLAN_CACHE_LIMIT"); }
  } limit(std::to_string(one * 2 + one / 2));  // room for two plans
  ASSERT_EQ(run("replay " + b.string() + args).err, "");
  const auto a_and_b = plans();
  ASSERT_EQ(a_and_b.size(), 2u);
  // a is used again, so b is the least recently used when c comes.
  Outcome hit = run("replay " + a.string() + args);
  ASSERT_EQ(hit.err, "");
  Outcome third = run("replay " + c.string() + args);
  EXPECT_EQ(third.code, 0);
  EXPECT_NE(third.err.find("removed 1 least recently used file(s)"), std::string::npos)
      << third.err;
  EXPECT_EQ(std::count(third.err.begin(), third.err.end(), '\n'), 1) << third.err;
  const auto now = plans();
  EXPECT_EQ(now.size(), 2u);
  std::set<std::string> gone;
  for (const auto& name : a_and_b)
    if (!now.count(name)) gone.insert(name);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(run("replay " + a.string() + args).err, "") << "a stayed: a hit, no rebuild";

  Limit bad("lots");
  Outcome said = run("replay " + b.string() + args);
  EXPECT_EQ(said.code, 0);
  EXPECT_NE(said.err.find("MTREPLAY_PLAN_CACHE_LIMIT='lots' is not a size"), std::string::npos)
      << said.err;
  EXPECT_EQ(std::count(said.err.begin(), said.err.end(), '\n'), 1) << said.err;
}

// Without --segment-events a streamed plan is cut every 65536 events (the documented
// default, kDefaultSegmentEvents: a segment's plan then stays in the planning core's L2).
TEST_F(ReplayCli, StreamedPlansHaveDefaultSizedSegments) {
  TraceScript s;
  constexpr uint64_t kPairs = 70'000, kDefaultSegmentEvents = 65'536;
  for (uint64_t i = 0; i < kPairs; ++i)
    s.malloc(i % 2, 64, 0x1000 + i * 64).free(i % 2, 0x1000 + i * 64);
  const fs::path trace = write(s, "default-segments");
  auto doc = replay_json(trace, "--allocator glibc --plan stream --verify");
  ASSERT_EQ(doc["runs"][0]["status"], "ok") << doc["runs"][0]["error"];
  const uint64_t events = 2 * kPairs;
  EXPECT_EQ(doc["runs"][0]["plan_segments"].get<uint64_t>(),
            (events + kDefaultSegmentEvents - 1) / kDefaultSegmentEvents);
}

}  // namespace
}  // namespace mtreplay::replay::test
