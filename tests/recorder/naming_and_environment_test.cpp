// Unit tests of the recorder's pure parts: output-name expansion and the environment
// handed to exec'd programs. No preloading, so they also run under ASan and TSan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "decimal.hpp"
#include "exec_environment.hpp"
#include "trace_output.hpp"

namespace mtreplay::recorder {
namespace {

std::string expand(const char* pattern, uint32_t pid, uint32_t generation, bool root,
                   const char* exe = "prog") {
  char out[4096];
  const OutputNameInputs in{pattern, pid, generation, root, exe};
  EXPECT_TRUE(expand_output_name(in, out, sizeof out));
  return out;
}

TEST(RecorderOutputName, ExpandsPidExeAndPercent) {
  EXPECT_EQ(expand("/t/mhook.%p.mtr", 42, 0, true), "/t/mhook.42.mtr");
  EXPECT_EQ(expand("/t/%e-%p.mtr", 7, 0, true, "python3"), "/t/python3-7.mtr");
  EXPECT_EQ(expand("/t/100%%-%p", 7, 0, true), "/t/100%-7");
  EXPECT_EQ(expand("/t/odd%x", 7, 0, true), "/t/odd%x");
}

TEST(RecorderOutputName, GenerationAfterExecFollowsThePid) {
  EXPECT_EQ(expand("/t/m.%p.mtr", 42, 2, false), "/t/m.42.2.mtr");
}

TEST(RecorderOutputName, PatternWithoutPidGetsOneForEveryProcessButTheRoot) {
  EXPECT_EQ(expand("/t/trace.mtr", 42, 0, true), "/t/trace.mtr");
  EXPECT_EQ(expand("/t/trace.mtr", 43, 0, false), "/t/trace.43.mtr");
  EXPECT_EQ(expand("/t/trace", 43, 1, false), "/t/trace.43.1");
}

TEST(RecorderOutputName, RelativePatternIsMadeAbsolute) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(expand("t.%p.mtr", 5, 0, true), std::string(cwd) + "/t.5.mtr");
}

TEST(RecorderOutputName, TooLongIsRefused) {
  char out[16];
  const OutputNameInputs in{"/a/very/long/pattern/%p.mtr", 1, 0, true, "x"};
  EXPECT_FALSE(expand_output_name(in, out, sizeof out));
}

std::vector<std::string> as_vector(char* const* envp) {
  std::vector<std::string> v;
  for (; *envp; ++envp) v.emplace_back(*envp);
  return v;
}

TEST(RecorderExecEnvironment, FollowingAddsTheParentAndKeepsPreload) {
  char a[] = "PATH=/bin", b[] = "LD_PRELOAD=/x/libmhook.so:/y/libother.so",
       c[] = "MHOOK_EXEC_OF=1:0";
  char* envp[] = {a, b, c, nullptr};
  const ExecEnvironment env(envp, 77, 3, /*keep_preload=*/true);
  EXPECT_EQ(as_vector(env.get()),
            (std::vector<std::string>{"PATH=/bin", "LD_PRELOAD=/x/libmhook.so:/y/libother.so",
                                      "MHOOK_EXEC_OF=77:3"}));
}

TEST(RecorderExecEnvironment, NotFollowingStripsOnlyUs) {
  char a[] = "LD_PRELOAD=/x/libmhook.so /y/libother.so", b[] = "HOME=/h";
  char* envp[] = {a, b, nullptr};
  const ExecEnvironment env(envp, 77, 0, /*keep_preload=*/false);
  EXPECT_EQ(as_vector(env.get()),
            (std::vector<std::string>{"LD_PRELOAD=/y/libother.so", "HOME=/h"}));

  char only[] = "LD_PRELOAD=libmhook.so";
  char* envp2[] = {only, b, nullptr};
  const ExecEnvironment env2(envp2, 77, 0, false);
  EXPECT_EQ(as_vector(env2.get()), (std::vector<std::string>{"HOME=/h"}));
}

TEST(RecorderExecEnvironment, NullEnvironmentIsEmpty) {
  const ExecEnvironment env(nullptr, 9, 0, true);
  EXPECT_EQ(as_vector(env.get()), (std::vector<std::string>{"MHOOK_EXEC_OF=9:0"}));
}

TEST(RecorderDecimal, WritesEveryWidthUpToUint64Max) {
  auto text = [](uint64_t v) {
    char out[kMaxDecimalDigits];
    return std::string(out, write_decimal(out, v));
  };
  EXPECT_EQ(text(0), "0");
  EXPECT_EQ(text(42), "42");
  EXPECT_EQ(text(4294967295u), "4294967295");
  EXPECT_EQ(text(UINT64_MAX), "18446744073709551615");
}

}  // namespace
}  // namespace mtreplay::recorder
