// A quick smoke of real programs under the preloaded allocator (python3, git, sort):
// the output must be identical to the run without it. The full real-program suite is
// the conformance one; this catches a broken .so early.
// Compile definitions: MTREPLAY_PRELOAD_LIB (the .so), MTREPLAY_SOURCE_DIR (a git tree).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "family_api.hpp"

namespace mtreplay::alloc::testing {
namespace {

struct RunResult {
  std::string output;
  int status = -1;
};

RunResult run_shell(const std::string& command) {
  RunResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buf[65536];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, got);
  r.status = pclose(pipe);
  return r;
}

bool have(const char* program) {
  return run_shell(std::string("command -v ") + program + " >/dev/null 2>&1").status == 0;
}

void expect_same_output(const std::string& command) {
  RunResult plain = run_shell(command);
  ASSERT_EQ(plain.status, 0) << "the program fails even without the allocator: " << command;
  RunResult preloaded =
      run_shell(std::string("env LD_PRELOAD=") + MTREPLAY_PRELOAD_LIB + " " + command);
  ASSERT_TRUE(WIFEXITED(preloaded.status)) << command << " crashed under the allocator";
  EXPECT_EQ(WEXITSTATUS(preloaded.status), 0) << command;
  EXPECT_EQ(preloaded.output.size(), plain.output.size()) << command;
  EXPECT_TRUE(preloaded.output == plain.output) << command << ": output differs";
}

class RealPrograms : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sanitized_build()) GTEST_SKIP() << "preload tests skip in sanitizer builds";
  }
};

TEST_F(RealPrograms, Python) {
  if (!have("python3")) GTEST_SKIP() << "no python3";
  expect_same_output(
      "env PYTHONMALLOC=malloc python3 -c \"import json,threading\n"
      "x=[str(i)*3 for i in range(200000)]\nd={i:x[i] for i in range(0,200000,3)}\n"
      "out=[]\ndef work(k): out.append(sum(len(json.dumps(d)) for _ in range(2)))\n"
      "t=[threading.Thread(target=work,args=(k,)) for k in range(2)]\n"
      "[a.start() for a in t]; [a.join() for a in t]\nprint(len(x), len(d), sorted(out))\"");
}

TEST_F(RealPrograms, GitOnThisRepository) {
  if (!have("git")) GTEST_SKIP() << "no git";
  std::string git = std::string("git -C '") + MTREPLAY_SOURCE_DIR + "' ";
  if (run_shell(git + "rev-parse --git-dir >/dev/null 2>&1").status != 0) {
    GTEST_SKIP() << "source tree is not a git checkout";
  }
  expect_same_output(git + "log --stat -30 --no-color");
  expect_same_output(git + "ls-files -s");
}

TEST_F(RealPrograms, ParallelSort) {
  if (!have("sort") || !have("seq")) GTEST_SKIP() << "no coreutils";
  expect_same_output("sh -c 'seq 1 200000 | sed s/1/x/g | sort --parallel=2 -S 2M | md5sum'");
}

}  // namespace
}  // namespace mtreplay::alloc::testing
