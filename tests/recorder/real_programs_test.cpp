// Real programs under libmhook.so: their output is exactly what they print untraced,
// their traces read back complete, and for one deterministic program the per-function
// call counts equal glibc's memusage.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "recorder_test_support.hpp"

namespace mtreplay::recorder_test {
namespace {

namespace fs = std::filesystem;
using traces::Op;

#define SKIP_IF_SANITIZED()                           \
  if (std::string_view(MTREPLAY_SANITIZE_MODE) != "") \
  GTEST_SKIP() << "preloading libmhook.so into a sanitized build is meaningless"

#define SKIP_UNLESS_EXISTS(path) \
  if (!fs::exists(path)) GTEST_SKIP() << path << " is not installed"

struct Traced {
  RunResult untraced;
  RunResult traced;
  std::vector<ReadTrace> traces;
  size_t events = 0;
  size_t max_threads = 0;
};

// Runs argv twice, untraced in dir/plain and traced in dir/traced (same relative
// layout, so outputs that name files compare equal).
Traced run_both(const TempDir& dir, const std::vector<std::string>& argv,
                const std::function<void(const fs::path&)>& prepare = {},
                const std::vector<std::string>& env = {}, const std::string& input = "") {
  Traced t;
  const fs::path plain = dir.path() / "plain", traced = dir.path() / "traced",
                 out = dir.path() / "traces";
  fs::create_directories(plain);
  fs::create_directories(traced);
  fs::create_directories(out);
  if (prepare) {
    prepare(plain);
    prepare(traced);
  }
  t.untraced = run({argv, env, plain, input});
  auto traced_env = env;
  traced_env.push_back("LD_PRELOAD=" + mhook_library().string());
  traced_env.push_back("MHOOK_OUTPUT=" + (out / "t.%p.mtr").string());
  t.traced = run({argv, traced_env, traced, input});
  for (const auto& f : traces_in(out)) {
    t.traces.push_back(read_trace(f));
    t.events += t.traces.back().events();
    t.max_threads = std::max(t.max_threads, t.traces.back().threads.size());
  }
  return t;
}

void expect_same_behaviour(const Traced& t) {
  EXPECT_EQ(t.traced.exit_code, t.untraced.exit_code);
  EXPECT_EQ(t.traced.out, t.untraced.out);
  EXPECT_EQ(t.traced.err, t.untraced.err);
  ASSERT_FALSE(t.traces.empty());
  for (const auto& tr : t.traces) EXPECT_TRUE(tr.summary.complete || tr.threads.size() > 0);
}

std::string file_contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_lines(const fs::path& p, size_t lines) {
  std::ofstream out(p);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < lines; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out << (x % 1000003) << " line " << i << "\n";
  }
}

TEST(RecorderRealPrograms, Python) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/python3");
  TempDir dir("python");
  const auto t = run_both(dir,
                          {"/usr/bin/python3", "-c",
                           "import json,collections\n"
                           "d={str(i):[i]*(i%7) for i in range(20000)}\n"
                           "c=collections.Counter(len(v) for v in d.values())\n"
                           "print(json.dumps(sorted(c.items())))"},
                          {}, {"PYTHONMALLOC=malloc"});
  expect_same_behaviour(t);
  EXPECT_EQ(t.traces.size(), 1u);
  EXPECT_GT(t.events, 50'000u);
  for (const auto& tr : t.traces) EXPECT_TRUE(tr.summary.complete);
}

TEST(RecorderRealPrograms, SortParallel) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/sort");
  TempDir dir("sort");
  const auto t = run_both(dir, {"/usr/bin/sort", "--parallel=2", "-S", "64M", "input.txt"},
                          [](const fs::path& d) { write_lines(d / "input.txt", 400'000); });
  expect_same_behaviour(t);
  EXPECT_GE(t.max_threads, 2u) << "sort --parallel=2 should run two threads";
  EXPECT_GT(t.traced.out.size(), 5'000'000u);
  for (const auto& tr : t.traces) EXPECT_TRUE(tr.summary.complete);
}

TEST(RecorderRealPrograms, XzTwoThreads) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/xz");
  TempDir dir("xz");
  const auto t =
      run_both(dir, {"/usr/bin/xz", "-T2", "--block-size=256KiB", "-1", "-k", "input.txt"},
               [](const fs::path& d) { write_lines(d / "input.txt", 80'000); });
  expect_same_behaviour(t);
  EXPECT_GE(t.max_threads, 2u);
  EXPECT_EQ(file_contents(dir.path() / "traced" / "input.txt.xz"),
            file_contents(dir.path() / "plain" / "input.txt.xz"));
  EXPECT_GT(file_contents(dir.path() / "traced" / "input.txt.xz").size(), 1000u);
}

TEST(RecorderRealPrograms, GitCommitAndLog) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/git");
  TempDir dir("git");
  // Fixed identity and dates make the commit ids identical across the two runs.
  const std::vector<std::string> env = {"GIT_AUTHOR_NAME=t",
                                        "GIT_AUTHOR_EMAIL=t@example.org",
                                        "GIT_COMMITTER_NAME=t",
                                        "GIT_COMMITTER_EMAIL=t@example.org",
                                        "GIT_AUTHOR_DATE=2024-01-01T00:00:00Z",
                                        "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z",
                                        "HOME=" + dir.path().string(),
                                        "GIT_CONFIG_NOSYSTEM=1"};
  const auto t =
      run_both(dir,
               {"/bin/sh", "-c",
                "git init -q -b main . && echo hello > a.txt && git add a.txt && "
                "git commit -q -m first && echo more >> a.txt && git commit -q -am second && "
                "git log --format='%H %s' && git rev-list --count HEAD"},
               {}, env);
  expect_same_behaviour(t);
  EXPECT_NE(t.traced.out.find(" second\n"), std::string::npos) << t.traced.out;
  EXPECT_GE(t.traces.size(), 5u) << "sh and every git process write their own trace";
  std::set<uint32_t> pids;
  for (const auto& tr : t.traces) pids.insert(tr.header.pid);
  size_t linked = 0;
  for (const auto& tr : t.traces) linked += pids.count(tr.header.parent_trace_pid);
  EXPECT_GE(linked, t.traces.size() - 1)
      << "every trace but the root links to a parent in the tree";
}

TEST(RecorderRealPrograms, GccCompilesAFile) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/gcc");
  TempDir dir("gcc");
  const auto t = run_both(dir, {"/usr/bin/gcc", "-O2", "-c", "hello.c", "-o", "hello.o"},
                          [](const fs::path& d) {
                            std::ofstream(d / "hello.c")
                                << "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n";
                          });
  expect_same_behaviour(t);
  EXPECT_EQ(file_contents(dir.path() / "traced" / "hello.o"),
            file_contents(dir.path() / "plain" / "hello.o"));
  EXPECT_GE(t.traces.size(), 3u) << "gcc, cc1 and as each write a trace";
  EXPECT_GT(t.events, 10'000u);
}

std::map<std::string, uint64_t> memusage_counts(const std::string& report) {
  std::map<std::string, uint64_t> counts;
  const std::regex row(R"((malloc|realloc|calloc|free)\|\s*(\d+))");
  const std::string plain = std::regex_replace(report, std::regex("\x1b\\[[0-9;]*m"), "");
  for (std::sregex_iterator it(plain.begin(), plain.end(), row), end; it != end; ++it)
    counts[(*it)[1]] = std::stoull((*it)[2]);
  return counts;
}

TEST(RecorderRealPrograms, CountsMatchMemusage) {
  SKIP_IF_SANITIZED();
  SKIP_UNLESS_EXISTS("/usr/bin/memusage");
  TempDir dir("memusage");
  const std::string subject = (fs::path(MTREPLAY_TEST_BIN_DIR) / "memusage_subject").string();
  const RunResult mu = run({{"/usr/bin/memusage", subject}, {}, dir.path(), ""});
  ASSERT_EQ(mu.exit_code, 0) << mu.err;
  const auto expected = memusage_counts(mu.err);
  ASSERT_EQ(expected.size(), 4u) << mu.err;

  const RunResult r = run({{subject},
                           {"LD_PRELOAD=" + mhook_library().string(),
                            "MHOOK_OUTPUT=" + (dir.path() / "m.mtr").string()},
                           dir.path(),
                           ""});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, mu.out);
  const ReadTrace t = read_trace(dir.path() / "m.mtr");
  std::map<std::string, uint64_t> recorded;
  for (const auto& [index, events] : t.threads) {
    recorded["malloc"] += of_op(events, Op::kMalloc).size();
    recorded["realloc"] += of_op(events, Op::kRealloc).size();
    recorded["calloc"] += of_op(events, Op::kCalloc).size();
    recorded["free"] += of_op(events, Op::kFree).size();
  }
  EXPECT_EQ(recorded, expected) << "memusage said:\n" << mu.err;
}

}  // namespace
}  // namespace mtreplay::recorder_test
