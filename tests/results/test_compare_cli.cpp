// mtreplay compare and diff on real replays of the bundled samples.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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
  };
  for (const auto& c : cases) {
    auto r = mtreplay(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}
