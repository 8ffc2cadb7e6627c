// mtreplay diff as a user runs it: crafted result files in, verdicts and exit codes out.
#include <gtest/gtest.h>

#include <fstream>

#include "crafted.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "run_command.hpp"

namespace mr = mtreplay::results;
using mr::testing::make_file;
using mr::testing::make_runs;
using mr::testing::run_command;
using mr::testing::TempDir;

namespace {

const std::string kMtreplay = MTREPLAY_BIN_DIR "/mtreplay";
const std::vector<double> kBaseWall = {100, 101, 99, 100.5, 102};

class DiffCli : public ::testing::Test {
 protected:
  TempDir dir{"mtreplay_diff_cli"};
  std::string write(const std::string& name, const mr::ResultFile& f) {
    auto p = dir / name;
    mr::write_result_file(f, p);
    return p.string();
  }
  mr::testing::CommandResult diff(const std::string& args) {
    return run_command(kMtreplay + " diff " + args, dir.path());
  }
};

}  // namespace

TEST_F(DiffCli, RegressionExitsOne) {
  auto base = write("base.json", make_file({make_runs({}, kBaseWall)}));
  auto cand = write("cand.json", make_file({make_runs({}, {120, 121, 119, 122, 120.5})}));
  auto md = (dir / "report.md").string();
  auto r = diff(base + " " + cand + " --markdown " + md);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("regressed"), std::string::npos);
  EXPECT_NE(r.out.find("+19.9%"), std::string::npos) << r.out;
  EXPECT_NE(mr::testing::slurp(md).find("**regressed**"), std::string::npos);
}

TEST_F(DiffCli, MarkdownToStandardOutputMovesTheTextReportToStandardError) {
  auto base = write("base.json", make_file({make_runs({}, kBaseWall)}));
  auto cand = write("cand.json", make_file({make_runs({}, {120, 121, 119, 122, 120.5})}));
  auto r = diff(base + " " + cand + " --markdown -");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("**regressed**"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("+19.9%"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::current_path() / "-"));
}

TEST_F(DiffCli, ImprovementExitsZero) {
  auto base = write("base.json", make_file({make_runs({}, kBaseWall)}));
  auto cand = write("cand.json", make_file({make_runs({}, {80, 81, 79, 80, 82})}));
  auto r = diff(base + " " + cand);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("improved"), std::string::npos);
  EXPECT_NE(r.out.find("0 regressed, 2 improved"), std::string::npos) << r.out;
}

TEST_F(DiffCli, NoiseExitsZeroAndThresholdIsHonoured) {
  auto base = write("base.json", make_file({make_runs({}, kBaseWall)}));
  auto cand = write("cand.json", make_file({make_runs({}, {103, 104, 102, 103.5, 105})}));
  EXPECT_EQ(diff(base + " " + cand).exit_code, 0);
  EXPECT_EQ(diff(base + " " + cand + " --threshold 1").exit_code, 1);
}

TEST_F(DiffCli, BadInputExitsTwoWithOneLine) {
  auto base = write("base.json", make_file({make_runs({}, kBaseWall)}));
  auto other = write("other.json",
                     make_file({make_runs({.trace = "gcc", .hash = "fnv1a64:bb"}, kBaseWall)}));
  auto v2 = make_file({make_runs({}, kBaseWall)});
  v2.schema_version = 2;
  auto newer = dir / "v2.json";
  std::ofstream(newer) << mr::to_json(v2).dump();
  std::ofstream(dir / "garbage.json") << "not json at all";

  struct Case {
    std::string args, message;
  };
  std::vector<Case> cases = {
      {base + " " + other, "has no runs of trace 'python3'"},
      {base + " " + newer.string(), "schema_version: is 2, this mtreplay reads version 1"},
      {base + " " + (dir / "garbage.json").string(), "garbage.json: not JSON"},
      {base + " " + (dir / "absent.json").string(), "absent.json: cannot open"},
      {base, "needs two result files"},
      {base + " " + base + " --threshold -3", "--threshold must be >= 0"},
      {base + " " + base + " --no-such-flag", "unrecognised option"},
  };
  for (const auto& c : cases) {
    auto r = diff(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}
