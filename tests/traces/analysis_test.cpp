// The analysis behind `mtreplay info`, on hand-written traces with known answers.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

TraceAnalysis analyze_text(const std::string& text) {
  const auto path = scratch("a.mtr");
  std::istringstream in(text);
  import_text(in, "a.txt", path);
  MergedReader reader(path);
  return analyze(reader);
}

constexpr const char* kKnown = R"(
pid 100
thread t0 tid 100
thread t1 tid 101
t0 @1000 malloc 100 -> 0x1000
t0 +50 malloc 200 -> 0x2000
t1 +50 free 0x1000                      # cross-thread, 100 ns old
t1 +1000 calloc 10 30 -> 0x3000
t0 +1000 realloc_begin 0x2000
t0 +10 realloc 0x2000 1000 -> 0x4000    # 0x2000 dies 2060 ns old; live 1300: the peak
t0 +10 free 0x1000                      # again: a double free
t1 +10 free 0x5000                      # never allocated: unknown
t1 +10 free 0x6000                      # released before ...
t0 +10 malloc 16 -> 0x6000              # ... its allocation: an inversion
t0 +10 malloc 99999999999 -> NULL err=12
t0 +10 free NULL
t1 +10 thread_exit
)";

// Coarse stamps: a lifetime within one run is unresolved, not "<100ns"; the runs'
// spans are the resolution; nothing is an inversion or a clock regression.
TEST(Analysis, CoarseStampsAreReportedAtTheirResolution) {
  const TraceAnalysis a = analyze_text(R"(version 3
t0 @1000 malloc 16 -> 0x1000
t0 ~ free 0x1000
t0 ~ malloc 32 -> 0x2000
t0 +5us free 0x2000
t0 ~ malloc 8 -> 0x3000
t0 +20us free 0x3000
)");
  EXPECT_EQ(a.coarse.events, 3u);
  EXPECT_EQ(a.coarse.runs, 2u);
  EXPECT_EQ(a.coarse.span_max_ns, 20'000u);
  EXPECT_EQ(a.coarse.span_sum_ns, 25'000u);
  EXPECT_EQ(a.lifetimes.unresolved, 1u);
  EXPECT_EQ(a.coarse.lifetimes, 3u);
  EXPECT_EQ(a.lifetimes.counts[0], 0u);
  EXPECT_EQ(a.lifetimes.counts[2], 1u);  // 0x2000: 5 us, measured from its run's reading
  EXPECT_EQ(a.lifetimes.counts[3], 1u);  // 0x3000: 20 us
  EXPECT_EQ(a.anomalies.inversions + a.anomalies.clock_regressions, 0u);
  const std::string text = to_text(a);
  EXPECT_NE(text.find("unresolved"), std::string::npos);
  EXPECT_NE(text.find("coarse stamps"), std::string::npos);
  EXPECT_EQ(to_json(a)["coarse_stamps"]["run_span_max_ns"], 20'000u);
  // Exact traces keep their JSON as it was.
  EXPECT_FALSE(to_json(analyze_text(kKnown)).contains("coarse_stamps"));
}

// touched events of live blocks are summed against those blocks' sizes (a used size
// above the block's counts as the block); one of a pointer not live is not counted.
TEST(Analysis, TouchedExtentsAreSummed) {
  const TraceAnalysis a = analyze_text(R"(version 6
t0 @100 malloc 65536 -> 0x10000
t0 +10 malloc 20000 -> 0x30000
t0 +10 touched 0x10000 -> 8192
t0 +10 free 0x10000
t0 +10 touched 0x30000 -> 99999
t0 +10 realloc_begin 0x30000
t0 +10 realloc 0x30000 40000 -> 0x40000
t0 +10 touched 0x50000 -> 4096
)");
  EXPECT_EQ(a.touched.blocks, 2u);
  EXPECT_EQ(a.touched.requested_bytes, 65536u + 20000u);
  EXPECT_EQ(a.touched.used_bytes, 8192u + 20000u);
  EXPECT_EQ(a.events_by_op[static_cast<uint8_t>(Op::kTouched)], 3u);
  EXPECT_EQ(to_json(a)["touched_extents"]["used_bytes"], 28192u);
  EXPECT_NE(to_text(a).find("touched    2 large blocks measured"), std::string::npos) << to_text(a);
  EXPECT_FALSE(to_json(analyze_text("t0 @100 malloc 8 -> 0x10\n")).contains("touched_extents"));
}

TEST(Analysis, KnownAnswers) {
  const TraceAnalysis a = analyze_text(kKnown);
  EXPECT_TRUE(a.summary.complete);
  EXPECT_EQ(a.events, 13u);
  EXPECT_EQ(a.events_by_op[static_cast<uint8_t>(Op::kMalloc)], 4u);
  EXPECT_EQ(a.events_by_op[static_cast<uint8_t>(Op::kFree)], 5u);
  EXPECT_EQ(a.first_ns, 1000u);
  EXPECT_EQ(a.duration_ns(), 2180u);
  ASSERT_EQ(a.threads.size(), 2u);
  EXPECT_EQ(a.threads[1].os_tid, 101u);
  EXPECT_TRUE(a.threads[1].exited);
  EXPECT_FALSE(a.threads[0].exited);

  EXPECT_EQ(a.allocations, 5u);
  EXPECT_EQ(a.failed_allocations, 1u);
  EXPECT_EQ(a.requested_bytes, 1616u);
  EXPECT_EQ(a.releases, 5u);
  EXPECT_EQ(a.free_null, 1u);
  EXPECT_EQ(a.peak_live_bytes, 1300u);
  EXPECT_EQ(a.peak_live_bytes_ns, 3110u);
  EXPECT_EQ(a.peak_live_objects, 2u);
  EXPECT_EQ(a.peak_live_objects_ns, 1050u);
  EXPECT_EQ(a.live_bytes_at_end, 1300u);
  EXPECT_EQ(a.live_objects_at_end, 2u);
  EXPECT_EQ(a.cross_thread_releases, 1u);

  EXPECT_EQ(a.anomalies.double_frees, 1u);
  EXPECT_EQ(a.anomalies.unknown_frees, 1u);
  EXPECT_EQ(a.anomalies.inversions, 1u);

  EXPECT_EQ(a.lifetimes.counts[1], 1u);  // 100 ns: "<1us"
  EXPECT_EQ(a.lifetimes.counts[2], 1u);  // 2060 ns: "<10us"
  EXPECT_EQ(a.lifetimes.never_freed, 2u);
  EXPECT_EQ(a.sizes.counts[4], 1u);   // 16
  EXPECT_EQ(a.sizes.counts[7], 1u);   // 100 <= 128
  EXPECT_EQ(a.sizes.counts[8], 1u);   // 200 <= 256
  EXPECT_EQ(a.sizes.counts[9], 1u);   // 300 <= 512
  EXPECT_EQ(a.sizes.counts[10], 1u);  // 1000 <= 1024
  EXPECT_EQ(a.sizes.counts[37], 1u);  // the failed 99999999999

  const auto j = to_json(a);
  EXPECT_EQ(j["peak_live"]["bytes"], 1300u);
  EXPECT_EQ(j["anomalies"]["double_frees"], 1u);
  EXPECT_EQ(j["events_by_op"]["realloc_begin"], 1u);
  EXPECT_NE(to_text(a).find("double frees 1"), std::string::npos);
}

TEST(Analysis, FailedReallocKeepsTheOldBlockLive) {
  const TraceAnalysis a = analyze_text(R"(
t0 malloc 64 -> 0x1000
t0 realloc_begin 0x1000
t0 realloc 0x1000 999999999999 -> NULL err=12
t0 free 0x1000
)");
  EXPECT_EQ(a.anomalies.double_frees + a.anomalies.unknown_frees, 0u);
  EXPECT_EQ(a.failed_allocations, 1u);
  EXPECT_EQ(a.live_objects_at_end, 0u);
  EXPECT_EQ(a.releases, 1u);
}

TEST(Analysis, ReallocToZeroFrees) {
  const TraceAnalysis a = analyze_text(R"(
t0 malloc 64 -> 0x1000
t0 realloc_begin 0x1000
t0 realloc 0x1000 0 -> NULL
t0 realloc NULL 32 -> 0x2000
)");
  EXPECT_EQ(a.live_objects_at_end, 1u);
  EXPECT_EQ(a.live_bytes_at_end, 32u);
  EXPECT_EQ(a.failed_allocations, 0u);
  EXPECT_EQ(a.allocations, 2u);
}

TEST(Analysis, HistogramBuckets) {
  SizeHistogram s;
  for (uint64_t v :
       {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4}, uint64_t{5}, UINT64_MAX})
    s.add(v);
  EXPECT_EQ(s.counts[0], 1u);
  EXPECT_EQ(s.counts[1], 2u);  // 1, 2
  EXPECT_EQ(s.counts[2], 2u);  // 3, 4
  EXPECT_EQ(s.counts[3], 1u);  // 5
  EXPECT_EQ(s.counts[64], 1u);
  LifetimeHistogram l;
  for (uint64_t ns : {uint64_t{0}, uint64_t{99}, uint64_t{100}, uint64_t{9'999'999'999},
                      uint64_t{10'000'000'000}, UINT64_MAX})
    l.add(ns);
  EXPECT_EQ(l.counts[0], 2u);
  EXPECT_EQ(l.counts[1], 1u);
  EXPECT_EQ(l.counts[8], 1u);
  EXPECT_EQ(l.counts[9], 2u);
}

TEST(Analysis, TruncatedTraceStillReports) {
  const auto path = scratch("t.mtr");
  write_trace(path, synthetic_stream(5000, 2, 4), 1024);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  MergedReader reader(path);
  const TraceAnalysis a = analyze(reader);
  EXPECT_FALSE(a.summary.complete);
  EXPECT_GT(a.summary.truncated_bytes, 0u);
  EXPECT_GT(a.events, 3000u);
  EXPECT_NE(to_text(a).find("TRUNCATED"), std::string::npos);
  EXPECT_EQ(to_json(a)["trace"]["complete"], false);
}

TEST(Analysis, CountsAThreadWhoseClockWentBackwards) {
  const TraceAnalysis a = analyze_text(R"(
t0 @100 malloc 16 -> 0x1000
t1 @50 malloc 32 -> 0x2000
t0 @80 free 0x1000
t1 @60 free 0x2000
)");
  EXPECT_EQ(a.anomalies.clock_regressions, 1u);
  EXPECT_EQ(a.live_objects_at_end, 0u);
  EXPECT_EQ(to_json(a)["anomalies"]["clock_regressions"], 1u);
  EXPECT_NE(to_text(a).find("clock regressions 1"), std::string::npos);
}

// The set of released addresses is bounded (AnalysisOptions); past the cap a second
// pass decides double free against unknown free. On streams full of anomalies (a few
// addresses, random frees, reallocs, NULLs and inversions) every cap gives the same
// report as an unbounded set.
TEST(Analysis, BoundedReleasedSetGivesTheSameReport) {
  uint64_t anomalies_seen = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<Event> events;
    uint64_t time = 1000;
    std::vector<bool> in_realloc(3);
    for (int i = 0; i < 400; ++i) {
      Event e;
      e.time_ns = time += 1 + rng() % 50;
      e.thread = static_cast<uint32_t>(rng() % 3);
      const uint64_t address = 0x1000 * (1 + rng() % (4 + seed));
      if (in_realloc[e.thread]) {  // realloc_begin is followed by its realloc
        e.op = Op::kRealloc;
        e.ptr = events.back().thread == e.thread ? events.back().ptr : address;
        e.size = rng() % 4 == 0 ? 0 : 64;
        e.result = rng() % 5 == 0 ? 0 : address;
        in_realloc[e.thread] = false;
      } else {
        switch (rng() % 6) {
          case 0:
          case 1:
            e.op = Op::kMalloc;
            e.size = 32;
            e.result = rng() % 10 == 0 ? 0 : address;
            break;
          case 2:
          case 3:
            e.op = Op::kFree;
            e.ptr = rng() % 20 == 0 ? 0 : address;
            break;
          case 4:  // a realloc without realloc_begin (format version 1)
            e.op = Op::kRealloc;
            e.ptr = address;
            e.size = 48;
            e.result = rng() % 2 == 0 ? address : 0x1000 * (1 + rng() % (4 + seed));
            break;
          default:
            e.op = Op::kReallocBegin;
            e.ptr = address;
            in_realloc[e.thread] = true;
        }
      }
      events.push_back(e);
    }
    const auto path = scratch("anomalies" + std::to_string(seed) + ".mtr");
    write_trace(path, events, 512);
    MergedReader unbounded_reader(path);
    const auto expected = to_json(analyze(unbounded_reader, {.released_addresses_cap = ~0ull}));
    anomalies_seen += expected["anomalies"]["double_frees"].get<uint64_t>() +
                      expected["anomalies"]["unknown_frees"].get<uint64_t>();
    for (uint64_t cap : {0, 1, 3}) {
      MergedReader reader(path);
      uint64_t reported = 0;
      reader.set_progress([&](uint64_t done, uint64_t) { reported = std::max(reported, done); });
      EXPECT_EQ(to_json(analyze(reader, {.released_addresses_cap = cap})), expected)
          << "seed " << seed << ", cap " << cap;
      EXPECT_EQ(reported, events.size());
    }
  }
  EXPECT_GT(anomalies_seen, 100u);

  // A realloc in place of an address released twice before it was ever allocated: the
  // release it makes is decided before its own allocation, so all of them are unknown.
  const auto path = scratch("in_place.mtr");
  std::istringstream in(R"(
t0 @1000 free 0x9000
t0 +10 free 0x9000
t0 +10 realloc 0x9000 48 -> 0x9000
)");
  import_text(in, "in_place.txt", path);
  for (uint64_t cap : {0ull, ~0ull}) {
    MergedReader reader(path);
    const TraceAnalysis a = analyze(reader, {.released_addresses_cap = cap});
    EXPECT_EQ(a.anomalies.unknown_frees, 2u) << "cap " << cap;
    EXPECT_EQ(a.anomalies.double_frees, 0u) << "cap " << cap;
    EXPECT_EQ(a.anomalies.inversions, 1u) << "cap " << cap;
  }
}

}  // namespace
}  // namespace mtreplay::traces
