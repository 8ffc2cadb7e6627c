// mtreplay compare and diff on real replays of the bundled samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "mtreplay/results/diff.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "run_command.hpp"

namespace mr = mtreplay::results;
namespace fs = std::filesystem;
using mr::testing::run_command;
using mr::testing::slurp;
using mr::testing::TempDir;

namespace {

const std::string kMtreplay = MTREPLAY_BIN_DIR "/mtreplay";
const fs::path kSamples = MTREPLAY_SAMPLES_DIR;
// The two smallest samples, one multithreaded: the tests stay short.
const std::string kSmallTraces =
    (kSamples / "gcc.mtr").string() + " " + (kSamples / "xz-threads.mtr").string();

class CompareCli : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MTREPLAY_SANITIZE
    GTEST_SKIP() << "replays preload allocators: not under a sanitizer runtime";
#endif
  }
  TempDir dir{"mtreplay_compare_cli"};
  mr::testing::CommandResult mtreplay(const std::string& args) {
    return run_command(kMtreplay + " " + args, dir.path());
  }
};

}  // namespace

TEST_F(CompareCli, ComparesSamplesWithInterleavedFreshRuns) {
  auto json = dir / "out.json", md = dir / "out.md", html = dir / "out.html";
  auto r = mtreplay("compare " + kSmallTraces + " -a glibc,jemalloc --repeat 2 --warmup 1 --json " +
                    json.string() + " --markdown " + md.string() + " --html " + html.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gcc ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xz-threads ("), std::string::npos);
  EXPECT_NE(r.out.find("jemalloc"), std::string::npos);

  mr::ResultFile f = mr::read_result_file(json);
  ASSERT_EQ(f.runs.size(), 2u * 2u * 3u);  // traces x allocators x (warm-up + 2)
  // Per trace: the warm-up round, then repeat 0 from glibc, repeat 1 from jemalloc.
  const char* order[] = {"glibc", "jemalloc", "glibc", "jemalloc", "jemalloc", "glibc"};
  bool warm[] = {true, true, false, false, false, false};
  for (size_t i = 0; i < f.runs.size(); ++i) {
    const auto& run = f.runs[i];
    EXPECT_EQ(run.allocator.name, order[i % 6]) << i;
    EXPECT_EQ(run.warmup, warm[i % 6]) << i;
    EXPECT_TRUE(run.ok()) << run.error;
    EXPECT_EQ(run.trace.name, i < 6 ? "gcc" : "xz-threads");
    EXPECT_GT(run.wall_ns.value_or(0), 0u);
    // The slop is measured once per trace and allocator: in its first measured run.
    EXPECT_EQ(run.raw.value("usable_slop_measured", false), !warm[i % 6] && i % 6 < 4) << i;
  }
  ASSERT_EQ(f.trace_profiles.size(), 2u);
  EXPECT_FALSE(f.trace_profiles[0].size_histogram.empty());
  EXPECT_NE(slurp(md).find("### gcc"), std::string::npos);
  EXPECT_NE(slurp(html).find("data-chart=\"gcc-wall_ns\""), std::string::npos);

  // Re-tabulating the file prints the same table without running anything.
  auto again = mtreplay("compare --from " + json.string());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, r.out);

  // diff of real replays: the file against itself changes nothing; two repeats can
  // never be significant, and diff says so rather than guessing.
  auto same = mtreplay("diff " + json.string() + " " + json.string());
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("0 regressed, 0 improved"), std::string::npos) << same.out;
  EXPECT_NE(same.out.find("no p-value can fall below"), std::string::npos);
}

// "-" names standard output, for one report file at a time: it then holds that file
// alone, and the table goes to standard error.
TEST_F(CompareCli, ADashWritesTheFileToStandardOutput) {
  auto r = mtreplay("compare " + (kSamples / "gcc.mtr").string() +
                    " -a glibc --repeat 2 --warmup 0 --json -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const mr::ResultFile f = mr::parse_result(nlohmann::json::parse(r.out), "stdout");
  EXPECT_EQ(f.runs.size(), 2u);
  EXPECT_NE(r.err.find("gcc ("), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fs::current_path() / "-"));  // no file named "-"

  auto saved = dir / "runs.json";
  std::ofstream(saved) << r.out;
  auto md = mtreplay("compare --from " + saved.string() + " --markdown -");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_EQ(md.out.rfind("## mtreplay compare", 0), 0u) << md.out;
  EXPECT_NE(md.err.find("gcc ("), std::string::npos);
}

TEST_F(CompareCli, DiffOfTwoRealCompares) {
  auto a = dir / "a.json", b = dir / "b.json";
  for (const auto& out : {a, b}) {
    auto r = mtreplay("compare " + (kSamples / "gcc.mtr").string() +
                      " -a glibc --repeat 4 --warmup 1 --json " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  mr::DiffReport report =
      mr::diff_results(mr::read_result_file(a), mr::read_result_file(b), {}, "a", "b");
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_GE(report.groups[0].metrics.size(), 3u);  // wall, cpu, RSS, latency p99s
  for (const auto& m : report.groups[0].metrics) {
    EXPECT_EQ(m.base_n, 4u);
    EXPECT_GT(m.base_median, 0) << m.metric;
    EXPECT_TRUE(m.exact);
  }
  auto cli = mtreplay("diff " + a.string() + " " + b.string());
  EXPECT_TRUE(cli.exit_code == 0 || cli.exit_code == 1) << cli.err;
  EXPECT_EQ(cli.exit_code == 1, report.regressed());
}

TEST_F(CompareCli, CrashedBackendIsReportedAndOthersGoOn) {
  auto json = dir / "out.json";
  auto r = mtreplay("compare " + (kSamples / "gcc.mtr").string() + " -a glibc," +
                    std::string(MTREPLAY_CRASHING_MALLOC) + " --repeat 1 --warmup 0 --json " +
                    json.string());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("libcrashing_malloc.so  FAILED:"), std::string::npos) << r.out;
  mr::ResultFile f = mr::read_result_file(json);
  ASSERT_EQ(f.runs.size(), 2u);
  EXPECT_TRUE(f.runs[0].ok()) << f.runs[0].error;
  EXPECT_FALSE(f.runs[1].ok());
  EXPECT_FALSE(f.runs[1].error.empty());
}

TEST_F(CompareCli, NoTraceMeansTheSamples) {
  fs::create_directories(dir / "samples");
  fs::copy_file(kSamples / "xz-threads.mtr", dir / "samples" / "xz-threads.mtr");
  auto r = run_command("MTREPLAY_SAMPLES='" + (dir / "samples").string() + "' " + kMtreplay +
                           " compare -a glibc --repeat 1 --warmup 0",
                       dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("xz-threads ("), std::string::npos) << r.out;
}

TEST_F(CompareCli, BadInputExitsTwo) {
  std::ofstream(dir / "garbage.json") << "[]";
  struct Case {
    std::string args, message;
  };
  std::vector<Case> cases = {
      {"compare " + (dir / "absent.mtr").string(), "absent.mtr: no such trace file"},
      {"compare " + kSmallTraces + " -a glibc,nosuch", "unknown allocator 'nosuch'"},
      {"compare --from " + (dir / "garbage.json").string(), "garbage.json: expected an object"},
      {"compare --repeat 0", "--repeat must be >= 1"},
      {"compare " + kSmallTraces + " --shard 3/2", "is not K/N"},
      {"compare --from " + (dir / "garbage.json").string() + " --shard 1/2", "takes no traces"},
      {"compare " + kSmallTraces + " --pace 10x", "bad --pace '10x'"},
      {"compare " + kSmallTraces + " --mode serial --timing recorded", "needs --mode parallel"},
      {"compare " + kSmallTraces + " --touch nosuch", "unknown --touch 'nosuch'"},
      {"compare " + kSmallTraces + " --plan nosuch", "unknown --plan 'nosuch'"},
      {"compare " + kSmallTraces + " --json - --html -", "--json and --html both name standard"},
  };
  for (const auto& c : cases) {
    auto r = mtreplay(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

// --pace and --timing reach every replay a compare runs, as --mode, --touch and --plan do.
TEST_F(CompareCli, ReplayOptionsReachEveryRun) {
  auto json = dir / "out.json";
  auto r = mtreplay("compare " + (kSamples / "xz-threads.mtr").string() +
                    " -a glibc --repeat 2 --warmup 0 --pace 20us --timing scaled:0.5 --json " +
                    json.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(slurp(json));
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (const auto& run : doc["runs"]) {
    EXPECT_EQ(run["pace_window_ns"], 20000);
    EXPECT_EQ(run["timing"], "scaled:0.5");
  }
}

namespace {

// (trace, allocator, repeat, warm-up) of every run: the matrix a file covers.
std::multiset<std::tuple<std::string, std::string, int, bool>> run_set(const mr::ResultFile& f) {
  std::multiset<std::tuple<std::string, std::string, int, bool>> out;
  for (const auto& r : f.runs)
    out.emplace(r.trace.content_hash, r.allocator.name, r.repeat, r.warmup);
  return out;
}

}  // namespace

// results/README.md's GNU parallel recipe: three shards as three local processes,
// merged with --from, hold exactly the runs of the whole matrix.
TEST_F(CompareCli, ShardsRunInParallelAndMergeToTheFullMatrix) {
  if (std::system("command -v parallel >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "GNU parallel is not installed (scripts/setup.sh installs it)";
  const std::string matrix = kSmallTraces + " -a glibc,arena --repeat 3 --warmup 1 --cache-dir " +
                             (dir / "cache").string();
  auto full = mtreplay("compare " + matrix + " --json " + (dir / "full.json").string());
  ASSERT_EQ(full.exit_code, 0) << full.err;
  auto shards = run_command("parallel --halt now,fail=1 " + kMtreplay + " compare " + matrix +
                                " --shard {}/3 --json " + (dir / "shard{}.json").string() +
                                " '>/dev/null' ::: 1 2 3",
                            dir.path());
  ASSERT_EQ(shards.exit_code, 0) << shards.err;
  std::string files;
  for (int k = 1; k <= 3; ++k) {
    auto shard = mr::read_result_file(dir / ("shard" + std::to_string(k) + ".json"));
    EXPECT_FALSE(shard.runs.empty()) << k;
    EXPECT_LT(shard.runs.size(), 16u) << k;
    files += " " + (dir / ("shard" + std::to_string(k) + ".json")).string();
  }
  auto merged = mtreplay("compare --from" + files + " --json " + (dir / "merged.json").string());
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_NE(merged.out.find("xz-threads ("), std::string::npos) << merged.out;
  auto whole = mr::read_result_file(dir / "full.json");
  auto joined = mr::read_result_file(dir / "merged.json");
  EXPECT_EQ(whole.runs.size(), 2u * 2u * 4u);
  EXPECT_EQ(run_set(joined), run_set(whole));
  EXPECT_EQ(joined.trace_profiles.size(), 2u);

  // A shard given twice repeats measured runs: refused, in one line.
  auto twice = mtreplay("compare --from" + files + " " + (dir / "shard2.json").string());
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("repeats a run"), std::string::npos) << twice.err;
  EXPECT_EQ(std::count(twice.err.begin(), twice.err.end(), '\n'), 1) << twice.err;
}

TEST_F(CompareCli, MergeRefusesOtherEnvironmentsAndTracesUnlessForced) {
  auto a = dir / "a.json";
  auto r = mtreplay("compare " + (kSamples / "gcc.mtr").string() +
                    " -a glibc --repeat 1 --warmup 0 --no-cache --json " + a.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  mr::ResultFile file = mr::read_result_file(a);
  for (auto& run : file.runs) run.repeat = 1, run.raw["repeat"] = 1;
  mr::ResultFile other_machine = file;
  other_machine.environment.kernel = "9.9.9-elsewhere";
  mr::write_result_file(other_machine, dir / "b.json");
  mr::ResultFile other_trace = file;
  for (auto& run : other_trace.runs) {
    run.trace.content_hash = "fnv1a64:0000000000000000";
    run.raw["trace"]["content_hash"] = run.trace.content_hash;
  }
  mr::write_result_file(other_trace, dir / "c.json");
  struct Case {
    std::string second, message;
  };
  for (const Case& c : {Case{"b.json", "another environment"}, Case{"c.json", "differs between"}}) {
    auto refused = mtreplay("compare --from " + a.string() + " " + (dir / c.second).string());
    EXPECT_EQ(refused.exit_code, 2) << c.second;
    EXPECT_NE(refused.err.find(c.message), std::string::npos) << refused.err;
    EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
    auto forced =
        mtreplay("compare --from " + a.string() + " " + (dir / c.second).string() + " --force");
    EXPECT_EQ(forced.exit_code, 0) << forced.err;
  }
}
