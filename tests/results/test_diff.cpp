#include <gtest/gtest.h>

#include <random>

#include "crafted.hpp"
#include "mtreplay/results/diff.hpp"
#include "mtreplay/results/diff_report.hpp"

namespace mr = mtreplay::results;
using mr::Verdict;
using mr::testing::make_file;
using mr::testing::make_run;
using mr::testing::make_runs;
using mr::testing::RunSpec;

namespace {

const std::vector<double> kBaseWall = {100, 101, 99, 100.5, 102};

mr::DiffReport diff(const mr::ResultFile& base, const mr::ResultFile& cand,
                    mr::DiffOptions opts = {}) {
  return mr::diff_results(base, cand, opts, "base.json", "cand.json");
}

const mr::MetricDiff& metric(const mr::DiffReport& r, const std::string& id, size_t group = 0) {
  for (const auto& m : r.groups.at(group).metrics)
    if (m.metric == id) return m;
  throw std::runtime_error("no metric " + id);
}

std::string input_error(const mr::ResultFile& base, const mr::ResultFile& cand) {
  try {
    diff(base, cand);
  } catch (const mr::DiffInputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Diff, ClearRegressionIsFlagged) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand = make_file({make_runs({}, {120, 121, 119, 122, 120.5})});
  auto r = diff(base, cand);
  const auto& wall = metric(r, "wall_ns");
  EXPECT_EQ(wall.verdict, Verdict::kRegressed);
  EXPECT_NEAR(wall.change_pct, 19.9, 0.1);  // medians 100.5 -> 120.5
  EXPECT_NEAR(wall.p_value, 2.0 / 252, 1e-9);
  EXPECT_EQ(metric(r, "cpu_ns").verdict, Verdict::kRegressed);
  EXPECT_EQ(metric(r, "peak_rss_delta_bytes").verdict, Verdict::kUnchanged);
  EXPECT_EQ(metric(r, "latency.malloc.p99").verdict, Verdict::kUnchanged);
  EXPECT_TRUE(r.regressed());
  EXPECT_EQ(r.groups[0].overall(), Verdict::kRegressed);
}

TEST(Diff, ClearImprovementIsFlagged) {
  auto base = make_file({make_runs({.rss_mib = 100}, kBaseWall)});
  auto cand = make_file({make_runs({.rss_mib = 80}, {80, 81, 79, 80, 82})});
  auto r = diff(base, cand);
  EXPECT_EQ(metric(r, "wall_ns").verdict, Verdict::kImproved);
  // Every repeat has the same RSS: ties on each side, still a clear separation.
  const auto& rss = metric(r, "peak_rss_delta_bytes");
  EXPECT_EQ(rss.verdict, Verdict::kImproved);
  EXPECT_NEAR(rss.change_pct, -20, 1e-9);
  EXPECT_FALSE(r.regressed());
  EXPECT_EQ(r.groups[0].overall(), Verdict::kImproved);
}

TEST(Diff, PureNoiseIsUnchanged) {
  // Both sides drawn from the same distribution (3% jitter), ten repeats each, over
  // many seeds: no verdict at all.
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> jitter(100, 3);
    std::vector<double> a, b;
    for (int i = 0; i < 10; ++i) a.push_back(jitter(rng));
    for (int i = 0; i < 10; ++i) b.push_back(jitter(rng));
    auto r = diff(make_file({make_runs({}, a)}), make_file({make_runs({}, b)}));
    EXPECT_EQ(r.count(Verdict::kRegressed), 0u) << "seed " << seed;
    EXPECT_EQ(r.count(Verdict::kImproved), 0u) << "seed " << seed;
  }
}

TEST(Diff, SignificantButBelowThresholdIsUnchanged) {
  auto base = make_file({make_runs({}, {100, 100.1, 100.2, 100.1, 100})});
  auto cand = make_file({make_runs({}, {103, 103.1, 103.2, 103.1, 103})});
  auto r = diff(base, cand);
  EXPECT_LT(metric(r, "wall_ns").p_value, 0.05);
  EXPECT_EQ(metric(r, "wall_ns").verdict, Verdict::kUnchanged);
  mr::DiffOptions strict_options;
  strict_options.threshold_pct = 2;
  auto strict = diff(base, cand, strict_options);
  EXPECT_EQ(metric(strict, "wall_ns").verdict, Verdict::kRegressed);
}

TEST(Diff, ChangeWithinTheRepeatsNoiseIsUnchanged) {
  auto base = make_file({make_runs({}, {100, 100, 130, 130, 130})});  // IQR 30 of 130
  auto cand = make_file({make_runs({}, {140, 140, 140, 140, 140})});
  auto r = diff(base, cand);
  const auto& wall = metric(r, "wall_ns");
  EXPECT_LT(wall.p_value, 0.05);
  EXPECT_GT(wall.change_pct, 5);
  EXPECT_NEAR(wall.noise_pct, 100.0 * 30 / 130, 1e-9);
  EXPECT_EQ(wall.verdict, Verdict::kUnchanged);
}

TEST(Diff, CandidateCrashIsARegression) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand_runs = make_runs({}, kBaseWall);
  cand_runs[2] = make_run({.crashed = true, .repeat = 2});
  auto r = diff(base, make_file({cand_runs}));
  EXPECT_EQ(r.groups[0].status_verdict, Verdict::kRegressed);
  EXPECT_EQ(r.groups[0].cand_failed, 1u);
  EXPECT_TRUE(r.regressed());
  EXPECT_NE(mr::diff_text(r, {}).find("Segmentation fault"), std::string::npos);
}

TEST(Diff, WarmupRunsAreIgnored) {
  auto base_runs = make_runs({}, kBaseWall);
  base_runs.push_back(make_run({.wall_ms = 500, .warmup = true}));
  auto cand_runs = make_runs({}, kBaseWall);
  cand_runs.push_back(make_run({.crashed = true, .warmup = true}));
  auto r = diff(make_file({base_runs}), make_file({cand_runs}));
  EXPECT_EQ(metric(r, "wall_ns").base_n, 5u);
  EXPECT_FALSE(r.regressed());
}

TEST(Diff, MismatchedTracesAreBadInput) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto other =
      make_file({make_runs({.trace = "gcc", .hash = "fnv1a64:00000000000000bb"}, kBaseWall)});
  EXPECT_EQ(input_error(base, other),
            "cand.json has no runs of trace 'python3' with allocator 'glibc' (mode parallel) "
            "that base.json has");
  auto rerecorded = make_file({make_runs({.hash = "fnv1a64:00000000000000cc"}, kBaseWall)});
  EXPECT_NE(input_error(base, rerecorded).find("trace 'python3' differs"), std::string::npos);
}

TEST(Diff, DifferentSchemaVersionsAreBadInput) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand = base;
  cand.schema_version = 2;
  EXPECT_EQ(input_error(base, cand), "base.json is schema version 1 but cand.json is version 2");
}

TEST(Diff, MissingMetricIsBadInput) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand = base;
  cand.runs[3].wall_ns.reset();
  EXPECT_EQ(input_error(base, cand),
            "cand.json: runs/3 (trace 'python3' with allocator 'glibc' (mode parallel)) has no "
            "wall_ns");
}

TEST(Diff, ExtraCandidateConfigurationsAreNotedNotFatal) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand =
      make_file({make_runs({}, kBaseWall), make_runs({.allocator = "jemalloc"}, kBaseWall)});
  auto r = diff(base, cand);
  EXPECT_EQ(r.groups.size(), 1u);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("only in cand.json"), std::string::npos);
}

TEST(Diff, TooFewRepeatsAreExplained) {
  auto base = make_file({make_runs({}, {100, 101, 102})});
  auto cand = make_file({make_runs({}, {200, 201, 202})});
  auto r = diff(base, cand);
  EXPECT_EQ(metric(r, "wall_ns").verdict, Verdict::kUnchanged);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes.back().find("no p-value can fall below 0.100"), std::string::npos);
}

TEST(DiffReport, MarkdownHasOneRowPerMetric) {
  auto base = make_file({make_runs({}, kBaseWall)});
  auto cand = make_file({make_runs({}, {120, 121, 119, 122, 120.5})});
  auto r = diff(base, cand);
  std::string md = mr::diff_markdown(r, {}, "base.json", "cand.json");
  EXPECT_NE(md.find("| python3 | glibc | wall |"), std::string::npos) << md;
  EXPECT_NE(md.find("**regressed**"), std::string::npos);
  size_t rows = 0;
  for (size_t p = md.find("\n| python3"); p != std::string::npos; p = md.find("\n| python3", p + 1))
    ++rows;
  EXPECT_EQ(rows, r.groups[0].metrics.size());
}

TEST(Diff, NormalizingCancelsMachineDrift) {
  // The whole machine got 30 % slower between the two files: raw, everything
  // regressed; as a ratio to glibc's run of the same round, nothing did.
  auto file = [](double scale, double x_scale) {
    std::vector<double> glibc, x;
    for (double w : kBaseWall) glibc.push_back(w * scale), x.push_back(w * 0.8 * scale * x_scale);
    return make_file({make_runs({}, glibc), make_runs({.allocator = "mine"}, x)});
  };
  auto drifted = diff(file(1.0, 1.0), file(1.3, 1.0));
  EXPECT_EQ(metric(drifted, "wall_ns", 1).verdict, Verdict::kRegressed);
  auto normalized = diff(file(1.0, 1.0), file(1.3, 1.0), {.normalize_to = "glibc"});
  EXPECT_TRUE(normalized.groups[0].metrics.empty());  // the reference is not judged
  const auto& wall = metric(normalized, "wall_ns", 1);
  EXPECT_EQ(wall.verdict, Verdict::kUnchanged);
  EXPECT_NEAR(wall.base_median, 0.8, 1e-6);
  EXPECT_NEAR(wall.change_pct, 0, 1e-6);
  // ... while a real 20 % slowdown of the allocator itself still shows through drift.
  auto slower = diff(file(1.0, 1.0), file(1.3, 1.2), {.normalize_to = "glibc"});
  EXPECT_EQ(metric(slower, "wall_ns", 1).verdict, Verdict::kRegressed);
  EXPECT_NEAR(metric(slower, "wall_ns", 1).change_pct, 20, 1e-6);
  // The reference must be there on both sides.
  try {
    diff(file(1.0, 1.0), file(1.0, 1.0), {.normalize_to = "jemalloc"});
    FAIL();
  } catch (const mr::DiffInputError& e) {
    EXPECT_NE(std::string(e.what()).find("--normalize-to jemalloc"), std::string::npos);
  }
}

TEST(Diff, ThinlySampledLatencyIsNotJudged) {
  auto base = make_file({make_runs({.malloc_p99_ns = 100}, kBaseWall)});
  auto cand = make_file({make_runs({.malloc_p99_ns = 300}, kBaseWall)});
  EXPECT_EQ(metric(diff(base, cand), "latency.malloc.p99").verdict, Verdict::kRegressed);
  for (auto& r : cand.runs) r.latency_ns["malloc"].samples = 40;
  auto r = diff(base, cand);
  EXPECT_THROW(metric(r, "latency.malloc.p99"), std::runtime_error);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("latency of malloc sampled fewer than 1000 times"), std::string::npos);
}
