// `mtreplay record`: runs the command under libmhook.so, passes its status through,
// summarises the traces, and rejects bad input with exit code 2.
#include <gtest/gtest.h>

#include "recorder_test_support.hpp"
#include "workload_markers.hpp"

namespace mtreplay::recorder_test {
namespace {

namespace fs = std::filesystem;

#define SKIP_IF_SANITIZED()                           \
  if (std::string_view(MTREPLAY_SANITIZE_MODE) != "") \
  GTEST_SKIP() << "preloading libmhook.so into a sanitized build is meaningless"

std::string mtreplay() {
  return (fs::path(MTREPLAY_BIN_DIR) / "mtreplay").string();
}

TEST(RecordCommand, RecordsSummarisesAndKeepsTheProgramsOutput) {
  SKIP_IF_SANITIZED();
  TempDir dir("record");
  const RunResult r = run({{mtreplay(), "record", "-o", (dir.path() / "r.%p.mtr").string(), "--",
                            workload_program().string(), "kinds"},
                           {},
                           dir.path(),
                           ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "kinds done\n");
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const ReadTrace t = read_trace(files[0]);
  const std::string first_line = r.err.substr(0, r.err.find('\n'));
  EXPECT_EQ(first_line, "mtreplay record: " + std::to_string(t.events()) + " events, " +
                            std::to_string(t.threads.size()) + " threads, 1 processes, 1 traces, " +
                            first_line.substr(first_line.rfind(", ") + 2));
  EXPECT_NE(r.err.find(files[0].string()), std::string::npos) << r.err;
}

TEST(RecordCommand, PropagatesTheExitStatus) {
  SKIP_IF_SANITIZED();
  TempDir dir("status");
  const RunResult r =
      run({{mtreplay(), "record", "-q", "--", "/bin/sh", "-c", "exit 5"}, {}, dir.path(), ""});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "");
  const RunResult k = run(
      {{mtreplay(), "record", "-q", "--", "/bin/sh", "-c", "kill -TERM $$"}, {}, dir.path(), ""});
  EXPECT_EQ(k.exit_code, 128 + 15);
}

TEST(RecordCommand, PutsItselfFirstInAnExistingPreload) {
  SKIP_IF_SANITIZED();
  TempDir dir("preload");
  const std::string other = "/lib/x86_64-linux-gnu/libm.so.6";
  if (!fs::exists(other)) GTEST_SKIP() << other << " missing";
  const RunResult r = run({{mtreplay(), "record", "-q", "--", "/bin/sh", "-c", "echo $LD_PRELOAD"},
                           {"LD_PRELOAD=" + other},
                           dir.path(),
                           ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, fs::canonical(mhook_library()).string() + ":" + other + "\n");
}

TEST(RecordCommand, NoFollowForkWritesOneTrace) {
  SKIP_IF_SANITIZED();
  TempDir dir("nofollow");
  const RunResult r =
      run({{mtreplay(), "record", "--no-follow-fork", "-o", (dir.path() / "n.%p.mtr").string(),
            "--", workload_program().string(), "fork"},
           {},
           dir.path(),
           ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(traces_in(dir.path()).size(), 1u);
}

TEST(RecordCommand, BadInputExitsTwo) {
  TempDir dir("bad");
  const RunResult no_command = run({{mtreplay(), "record"}, {}, dir.path(), ""});
  EXPECT_EQ(no_command.exit_code, 2);
  EXPECT_NE(no_command.err.find("no command given"), std::string::npos);
  const RunResult bad_flag =
      run({{mtreplay(), "record", "--bogus", "--", "/bin/true"}, {}, dir.path(), ""});
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_NE(bad_flag.err.find("--bogus"), std::string::npos);
  const RunResult missing =
      run({{mtreplay(), "record", "--", "/nonexistent/program"}, {}, dir.path(), ""});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err,
            "mtreplay record: cannot run '/nonexistent/program': No such file or directory\n");
  const RunResult level =
      run({{mtreplay(), "record", "--zstd-level", "99", "--", "/bin/true"}, {}, dir.path(), ""});
  EXPECT_EQ(level.exit_code, 2);
}

}  // namespace
}  // namespace mtreplay::recorder_test
