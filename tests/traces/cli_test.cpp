// mtreplay info / dump / import as a user runs them: exit codes and messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

struct CliRun {
  int code;
  std::string out;  // stdout (stderr goes to err)
  std::string err;
};

CliRun mtreplay(const std::string& args) {
  const auto err_path = scratch("stderr.txt");
  const std::string cmd =
      std::string(MTREPLAY_BIN_DIR) + "/mtreplay " + args + " 2>" + err_path.string();
  CliRun r{};
  std::FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

const std::string kData = MTREPLAY_TEST_DATA;

TEST(Cli, MissingFilesAndBadFlagsExitTwo) {
  for (const char* args :
       {"info /nonexistent.mtr", "dump /nonexistent.mtr", "import /nonexistent.txt -o /tmp/x.mtr",
        "info", "dump", "info --bogus x.mtr", "dump --format xml x.mtr", "import x.txt",
        "info a.mtr b.mtr"}) {
    const CliRun r = mtreplay(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_FALSE(r.err.empty()) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

// Progress of long reads goes to stderr only: with --progress (and no delay) there is
// a line on stderr and stdout is what it is without; --no-progress prints nothing.
TEST(Cli, ProgressGoesToStderrOnly) {
  const auto trace = scratch("p.mtr");
  write_trace(trace, synthetic_stream(300000, 2, 7));
  const std::string t = trace.string(), text = scratch("p.txt").string();
  const std::string now = "env MTREPLAY_PROGRESS_AFTER_MS=0 " + std::string(MTREPLAY_BIN_DIR);
  for (const char* command : {"info --json", "dump"}) {
    const CliRun plain = mtreplay(std::string(command) + " --no-progress " + t);
    EXPECT_EQ(plain.code, 0);
    EXPECT_EQ(plain.err, "") << command;
    const auto err_path = scratch("progress.txt");
    const std::string cmd = now + "/mtreplay " + command + " --progress " + t + " 2>" +
                            err_path.string() + " >" + scratch("out.txt").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream out(scratch("out.txt")), err(err_path);
    const std::string got(std::istreambuf_iterator<char>(out), {});
    const std::string progress(std::istreambuf_iterator<char>(err), {});
    EXPECT_EQ(got, plain.out) << command;
    EXPECT_NE(progress.find("events of 300000 events"), std::string::npos) << progress;
  }
  ASSERT_EQ(mtreplay("dump " + t + " >" + text).code, 0);
  const auto err_path = scratch("import.txt");
  const std::string cmd = now + "/mtreplay import --progress " + text + " -o " +
                          scratch("q.mtr").string() + " 2>" + err_path.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream err(err_path);
  const std::string progress(std::istreambuf_iterator<char>(err), {});
  EXPECT_NE(progress.find("MiB of"), std::string::npos) << progress;
  EXPECT_NE(progress.find("wrote 300000 events"), std::string::npos) << progress;
}

TEST(Cli, HelpExitsZero) {
  for (const char* args : {"info --help", "dump --help", "import --help"}) {
    const CliRun r = mtreplay(args);
    EXPECT_EQ(r.code, 0) << args;
    EXPECT_NE(r.out.find("usage"), std::string::npos);
  }
}

TEST(Cli, ImportDumpImportRoundTrip) {
  const auto a = scratch("a.mtr"), b = scratch("b.mtr");
  ASSERT_EQ(mtreplay("import " + kData + "/every_op.txt -o " + a.string()).code, 0);
  const CliRun first = mtreplay("dump " + a.string());
  ASSERT_EQ(first.code, 0) << first.err;
  const auto text = scratch("a.txt");
  std::ofstream(text) << first.out;
  ASSERT_EQ(mtreplay("import " + text.string() + " -o " + b.string()).code, 0);
  EXPECT_EQ(mtreplay("dump " + b.string()).out, first.out);
  EXPECT_EQ(mtreplay("import - -o " + b.string() + " < " + text.string()).code, 0);
  EXPECT_EQ(mtreplay("dump " + b.string()).out, first.out);
  const CliRun jsonl = mtreplay("dump --format jsonl " + a.string());
  EXPECT_EQ(jsonl.code, 0);
  EXPECT_NE(jsonl.out.find("\"op\":\"reallocarray\""), std::string::npos);
}

TEST(Cli, ImportErrorNamesTheLineAndLeavesNoTrace) {
  const auto text = scratch("bad.txt");
  std::ofstream(text) << "pid 3\nt0 malloc 8 -> 0x10\nt0 free\n";
  const auto out = scratch("bad.mtr");
  const CliRun r = mtreplay("import " + text.string() + " -o " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad.txt:3:"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Cli, InfoJsonAndTruncationAndCorruption) {
  const auto path = scratch("t.mtr");
  ASSERT_EQ(mtreplay("import " + kData + "/every_op.txt -o " + path.string()).code, 0);
  const CliRun r = mtreplay("info --json " + path.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["events"], 25);
  EXPECT_EQ(j["threads"].size(), 2u);
  EXPECT_EQ(j["touched_extents"]["blocks"], 1);
  EXPECT_EQ(j["touched_extents"]["used_bytes"], 1024);
  EXPECT_EQ(j["processes"]["fork_children"][0], 4250);
  EXPECT_EQ(j["processes"]["execs"], 1);
  EXPECT_EQ(j["cross_thread_releases"], 1);
  EXPECT_EQ(j["trace"]["complete"], true);
  EXPECT_EQ(j["trace"]["end_reason"], "tool");  // imported, not recorded
  EXPECT_EQ(j["trace"]["unrecorded_calls"], 0);
  EXPECT_NE(mtreplay("info " + path.string()).out.find("ended      by tool; 0 calls"),
            std::string::npos);
  EXPECT_EQ(std::string(j["content_hash"]).rfind("fnv1a64:", 0), 0u);

  const auto cut = scratch("cut.mtr");
  std::filesystem::copy_file(path, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 10);
  const CliRun t = mtreplay("info " + cut.string());
  EXPECT_EQ(t.code, 0);
  EXPECT_NE(t.out.find("TRUNCATED"), std::string::npos);
  EXPECT_NE(t.err.find("truncated"), std::string::npos);

  const auto bad = scratch("bad.mtr");
  std::filesystem::copy_file(path, bad);
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  for (const char* cmd : {"info ", "dump "}) {
    const CliRun c = mtreplay(cmd + bad.string());
    EXPECT_EQ(c.code, 2);
    EXPECT_NE(c.err.find("at byte 0"), std::string::npos) << c.err;
  }
}

}  // namespace
}  // namespace mtreplay::traces
