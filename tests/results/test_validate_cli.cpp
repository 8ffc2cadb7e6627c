// mtreplay validate end to end on a small real program (validate_subject) with glibc
// and the project's arena allocator, plus mtreplay-launch's peak RSS and bad input.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "run_command.hpp"

namespace fs = std::filesystem;
using mtreplay::results::testing::run_command;
using mtreplay::results::testing::slurp;
using mtreplay::results::testing::TempDir;
using nlohmann::json;

extern char** environ;

namespace {

const std::string kMtreplay = MTREPLAY_BIN_DIR "/mtreplay";
const std::string kLauncher = MTREPLAY_BIN_DIR "/mtreplay-launch";
const std::string kSubject = VALIDATE_SUBJECT;
const std::string kCrashing = MTREPLAY_CRASHING_MALLOC;
constexpr uint64_t kMiB = 1 << 20;

class ValidateCli : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MTREPLAY_SANITIZE
    GTEST_SKIP() << "records and preloads allocators: not under a sanitizer runtime";
#endif
  }
  TempDir dir{"mtreplay_validate_cli"};
  mtreplay::results::testing::CommandResult mtreplay(const std::string& args) {
    return run_command(kMtreplay + " " + args, dir.path());
  }
  json read_json(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
  }
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Only the one line: no usage dump after a bad-input message.
void expect_one_line(const std::string& err) {
  EXPECT_EQ(count(err, "\n"), 1u) << err;
  EXPECT_EQ(err.rfind("mtreplay validate: ", 0), 0u) << err;
}

}  // namespace

TEST_F(ValidateCli, ProgramAgainstReplaysWithTwoAllocators) {
  auto json_path = dir / "v.json", html = dir / "v.html", md = dir / "v.md";
  auto r = mtreplay("validate -a glibc,arena --repeat 2 --warmup 1 --json " + json_path.string() +
                    " --html " + html.string() + " --markdown " + md.string() + " -- " + kSubject +
                    " --mib 24");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << r.err << r.out;
  EXPECT_NE(r.out.find("verdict: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rank correlation"), std::string::npos);
  EXPECT_NE(r.out.find("arena"), std::string::npos);

  json doc = read_json(json_path);
  EXPECT_EQ(doc["schema"], "mtreplay-result");
  const json& v = doc["validation"];
  EXPECT_EQ(v["exit_code"], r.exit_code);
  EXPECT_EQ(v["verdict"] == "faithful" ? 0 : 1, r.exit_code) << v["verdict_text"];
  EXPECT_EQ(v["baseline"], "glibc");
  EXPECT_EQ(v["repeat"], 2);
  ASSERT_EQ(v["traces"].size(), 1u);
  EXPECT_GT(v["traces"][0]["events"].get<uint64_t>(), 1000u);

  // The recording, then 3 rounds x 2 allocators, the start rotating per round.
  const json& runs = v["program_runs"];
  ASSERT_EQ(runs.size(), 7u);
  EXPECT_EQ(runs[0]["allocator"], "record");
  const char* order[] = {"glibc", "arena", "arena", "glibc", "glibc", "arena"};
  std::string first_hash = runs[0]["stdout_hash"];
  EXPECT_EQ(first_hash.rfind("fnv1a64:", 0), 0u);
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i]["allocator"], order[i - 1]) << i;
    EXPECT_EQ(runs[i]["warmup"], i <= 2) << i;
    EXPECT_EQ(runs[i]["status"], "ok") << runs[i]["error"];
    EXPECT_EQ(runs[i]["stdout_hash"], first_hash) << "the same output under every allocator";
    // The program's own peak: its 24 MiB and some, not the launching mtreplay's.
    uint64_t rss = runs[i]["peak_rss_bytes"];
    EXPECT_GT(rss, 20 * kMiB) << i;
    EXPECT_LT(rss, 64 * kMiB) << i;
    EXPECT_GT(runs[i]["wall_ns"].get<uint64_t>(), 0u);
  }
  EXPECT_FALSE(v["output"]["differs"]);
  EXPECT_FALSE(v["output"]["varies"]);

  // Every replay is in `runs`, as compare writes them: rounds x allocators x traces.
  ASSERT_EQ(doc["runs"].size(), 6u);
  for (const auto& run : doc["runs"]) EXPECT_EQ(run["status"], "ok") << run["error"];

  ASSERT_EQ(v["allocators"].size(), 2u);
  for (const auto& a : v["allocators"]) {
    EXPECT_TRUE(a["ok"]) << a["failure"];
    EXPECT_EQ(a["program_runs_ok"], 2);
    EXPECT_EQ(a["replay_runs_ok"], 2);
    EXPECT_GT(a["program"]["peak_rss_bytes"].get<double>(), 20.0 * kMiB);
    // The replay holds the program's live blocks: most of its 24 MiB.
    EXPECT_GT(a["replay"]["peak_rss_delta_bytes"].get<double>(), 12.0 * kMiB);
    for (const char* k : {"program_wall", "replay_wall", "program_cpu", "replay_cpu",
                          "program_peak_rss", "replay_peak_rss", "peak_rss_error"})
      EXPECT_TRUE(a["ratio"][k].is_number()) << a["name"] << " " << k;
  }
  const json& glibc = v["allocators"][0];
  EXPECT_EQ(glibc["name"], "glibc");
  EXPECT_DOUBLE_EQ(glibc["ratio"]["program_wall"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(glibc["ratio"]["replay_peak_rss"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(glibc["ratio"]["peak_rss_error"].get<double>(), 0.0);
  const json& arena = v["allocators"][1];
  EXPECT_NEAR(arena["ratio"]["peak_rss_error"].get<double>(),
              arena["ratio"]["replay_peak_rss"].get<double>() -
                  arena["ratio"]["program_peak_rss"].get<double>(),
              1e-9);
  // Two allocators: a rank correlation is +-1 or undefined (a tie).
  EXPECT_EQ(v["spearman"]["allocators"], 2);
  if (!v["spearman"]["peak_rss"].is_null()) {
    EXPECT_EQ(std::abs(v["spearman"]["peak_rss"].get<double>()), 1.0);
  }

  const std::string page = slurp(html);
  EXPECT_NE(page.find("data-chart=\"validate-peak_rss\""), std::string::npos);
  EXPECT_EQ(count(page, "<circle class=\"point\""), 6u);  // 3 charts x 2 allocators
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_NE(slurp(md).find("| arena"), std::string::npos);

  // --from re-tabulates the file without running anything: the same table and verdict.
  auto again = mtreplay("validate --from " + json_path.string() + " --html " + html.string());
  EXPECT_EQ(again.exit_code, r.exit_code) << again.err;
  EXPECT_EQ(again.out, r.out);
  // "-": the file on standard output, the table on standard error.
  auto to_stdout = mtreplay("validate --from " + json_path.string() + " --json -");
  EXPECT_EQ(to_stdout.exit_code, r.exit_code) << to_stdout.err;
  EXPECT_EQ(json::parse(to_stdout.out)["validation"], doc["validation"]);
  EXPECT_EQ(to_stdout.err, r.out);
  auto two = mtreplay("validate --from " + json_path.string() + " --json - --markdown -");
  EXPECT_EQ(two.exit_code, 2);
  expect_one_line(two.err);
  auto not_validate = mtreplay("validate --from " + md.string());
  EXPECT_EQ(not_validate.exit_code, 2);
  expect_one_line(not_validate.err);
}

TEST_F(ValidateCli, ForkedProcessesAreEachReplayed) {
  auto json_path = dir / "v.json";
  auto kept = dir / "traces";
  auto r = mtreplay("validate -a glibc,arena --repeat 1 --warmup 0 --keep-traces " + kept.string() +
                    " --json " + json_path.string() + " -- " + kSubject + " --mib 8 --fork");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err << r.out;
  json doc = read_json(json_path);
  const json& v = doc["validation"];
  ASSERT_EQ(v["traces"].size(), 2u) << "parent and forked child";
  EXPECT_EQ(doc["runs"].size(), 4u);  // 2 allocators x 2 processes
  EXPECT_NE(r.out.find("2 processes replayed"), std::string::npos) << r.out;
  // The round's replay figures are the sums over the two processes.
  double sum = 0;
  for (const auto& run : doc["runs"])
    if (run["allocator"]["name"] == "glibc") sum += run["wall_ns"].get<double>();
  EXPECT_DOUBLE_EQ(v["allocators"][0]["replay"]["wall_ns"].get<double>(), sum);

  // The kept traces validate again without recording.
  std::string traces;
  for (const auto& e : fs::directory_iterator(kept)) traces += " --trace " + e.path().string();
  auto again = mtreplay("validate -a glibc --repeat 1 --warmup 0" + traces + " --json " +
                        json_path.string() + " -- " + kSubject + " --mib 8 --fork");
  EXPECT_EQ(again.exit_code, 0) << again.err << again.out;
  json second = read_json(json_path)["validation"];
  EXPECT_EQ(second["traces"].size(), 2u);
  ASSERT_EQ(second["program_runs"].size(), 1u);
  EXPECT_EQ(second["program_runs"][0]["allocator"], "glibc");
  EXPECT_EQ(second["verdict"], "inconclusive");
}

TEST_F(ValidateCli, OutputThatDependsOnTheAllocatorIsAProblem) {
  auto json_path = dir / "v.json";
  auto r = mtreplay("validate -a glibc,arena --repeat 1 --warmup 0 --json " + json_path.string() +
                    " -- " + kSubject + " --mib 2 --print-preload");
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  json v = read_json(json_path)["validation"];
  EXPECT_TRUE(v["output"]["differs"]);
  EXPECT_NE(v["output"]["note"].get<std::string>().find("arena"), std::string::npos);
  EXPECT_NE(r.out.find("output: differs from glibc's under arena"), std::string::npos) << r.out;
}

TEST_F(ValidateCli, AProgramCrashingUnderAnAllocatorIsReported) {
  // Its malloc crashes after 2000 calls: the 24 MiB run makes about 3600.
  auto r = mtreplay("validate -a glibc," + kCrashing + " --repeat 1 --warmup 0 -- " + kSubject +
                    " --mib 24");
  EXPECT_EQ(r.exit_code, 3) << r.err << r.out;
  EXPECT_NE(r.out.find("FAILED: program crashed: killed by signal 11"), std::string::npos) << r.out;
}

TEST_F(ValidateCli, BadInputIsOneLineAndExitCode2) {
  auto none = mtreplay("validate -a glibc");
  EXPECT_EQ(none.exit_code, 2);
  expect_one_line(none.err);
  EXPECT_NE(none.err.find("no command given"), std::string::npos);

  auto unknown = mtreplay("validate -a glibc,nosuchalloc -- true");
  EXPECT_EQ(unknown.exit_code, 2);
  expect_one_line(unknown.err);
  EXPECT_NE(unknown.err.find("unknown allocator 'nosuchalloc'"), std::string::npos);

  auto failing = mtreplay("validate -a glibc -- sh -c 'echo broken >&2; exit 3'");
  EXPECT_EQ(failing.exit_code, 2);
  expect_one_line(failing.err);
  EXPECT_NE(failing.err.find("failed while recording: exit code 3 (broken)"), std::string::npos)
      << failing.err;

  auto missing = mtreplay("validate -a glibc -- /nonexistent/program");
  EXPECT_EQ(missing.exit_code, 2);
  expect_one_line(missing.err);
  EXPECT_NE(missing.err.find("cannot run '/nonexistent/program'"), std::string::npos);

  auto no_trace = mtreplay("validate --trace " + (dir / "nope.mtr").string() + " -- true");
  EXPECT_EQ(no_trace.exit_code, 2);
  expect_one_line(no_trace.err);

  auto bad_repeat = mtreplay("validate --repeat 0 -- true");
  EXPECT_EQ(bad_repeat.exit_code, 2);
  expect_one_line(bad_repeat.err);

  auto bad_touch = mtreplay("validate --touch lots -- true");
  EXPECT_EQ(bad_touch.exit_code, 2);
  expect_one_line(bad_touch.err);

  auto bad_recordings = mtreplay("validate --recordings 0 -- true");
  EXPECT_EQ(bad_recordings.exit_code, 2);
  expect_one_line(bad_recordings.err);
  auto recordings_and_trace =
      mtreplay("validate --recordings 2 --trace " + (dir / "t.mtr").string() + " -- true");
  EXPECT_EQ(recordings_and_trace.exit_code, 2);
  expect_one_line(recordings_and_trace.err);
  EXPECT_NE(recordings_and_trace.err.find("does not go with --trace"), std::string::npos);
}

// --recordings: the program is recorded that many times and every recording is replayed
// in every round; the JSON says which trace is of which recording, and --from reads the
// same figures back. Kept, each recording's traces have a directory, which --trace takes.
TEST_F(ValidateCli, SeveralRecordingsAreEachReplayedEveryRound) {
  auto json_path = dir / "v.json";
  auto kept = dir / "kept";
  auto r =
      mtreplay("validate -a glibc,arena --repeat 2 --warmup 0 --recordings 2 --keep-traces " +
               kept.string() + " --json " + json_path.string() + " -- " + kSubject + " --mib 4");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << r.err << r.out;
  EXPECT_NE(r.out.find("2 recordings, 2 processes in all"), std::string::npos) << r.out;
  json doc = read_json(json_path);
  const json& v = doc["validation"];
  EXPECT_EQ(v["recordings"], 2);
  ASSERT_EQ(v["traces"].size(), 2u);
  EXPECT_NE(v["traces"][0]["recording"], v["traces"][1]["recording"]);
  EXPECT_EQ(doc["runs"].size(), 2u * 2u * 2u);  // rounds x allocators x recordings
  size_t recording_runs = 0;
  for (const json& run : v["program_runs"]) recording_runs += run["allocator"] == "record";
  EXPECT_EQ(recording_runs, 2u);
  for (const json& a : v["allocators"]) {
    EXPECT_EQ(a["replay_runs_ok"], 4u) << a.dump();
    EXPECT_TRUE(a["replay"]["peak_rss_bytes"].is_number()) << a.dump();
  }
  auto again = mtreplay("validate --from " + json_path.string());
  EXPECT_EQ(again.exit_code, r.exit_code) << again.err;
  EXPECT_NE(again.out.find("2 recordings"), std::string::npos) << again.out;

  // Each kept recording has a directory, which --trace replays as a recording again.
  auto replayed =
      mtreplay("validate -a glibc --repeat 1 --warmup 0 --trace " +
               (kept / "recording-1").string() + " --trace " + (kept / "recording-2").string() +
               " --json " + json_path.string() + " -- " + kSubject + " --mib 4");
  ASSERT_TRUE(replayed.exit_code == 0 || replayed.exit_code == 1) << replayed.err;
  EXPECT_NE(replayed.out.find("2 recordings, 2 processes in all"), std::string::npos)
      << replayed.out;
  const json second = read_json(json_path)["validation"];
  EXPECT_EQ(second["recordings"], 2);
  ASSERT_EQ(second["traces"].size(), 2u);
  EXPECT_NE(second["traces"][0]["recording"], second["traces"][1]["recording"]);

  auto mixed = mtreplay("validate --trace " + (kept / "recording-1").string() + " --trace " +
                        fs::directory_iterator(kept / "recording-2")->path().string() + " -- true");
  EXPECT_EQ(mixed.exit_code, 2);
  expect_one_line(mixed.err);
  EXPECT_NE(mixed.err.find("not both"), std::string::npos) << mixed.err;
  fs::create_directories(dir / "empty");
  auto empty = mtreplay("validate --trace " + (dir / "empty").string() + " -- true");
  EXPECT_EQ(empty.exit_code, 2);
  expect_one_line(empty.err);
  EXPECT_NE(empty.err.find("no .mtr trace"), std::string::npos) << empty.err;
}

// Replay's models are chosen on the command line and reach every replay.
TEST_F(ValidateCli, ReplayOptionsReachTheReplays) {
  auto json_path = dir / "v.json";
  auto r =
      mtreplay("validate -a glibc,arena --repeat 1 --warmup 0 --touch use --pace 50us --json " +
               json_path.string() + " -- " + kSubject + " --mib 4");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << r.err << r.out;
  json doc = read_json(json_path);
  ASSERT_FALSE(doc["runs"].empty());
  for (const json& run : doc["runs"]) {
    EXPECT_EQ(run["touch"], "use");
    EXPECT_EQ(run["pace_window_ns"], 50'000);
  }
}

// The launcher's whole point: started with posix_spawn (vfork semantics) from a large
// process, the program it runs reports its own peak RSS, not the large process's.
TEST(MtreplayLaunch, PeakRssIsTheProgramsOwn) {
  std::vector<char> ballast(256 * kMiB);
  for (size_t i = 0; i < ballast.size(); i += 4096) ballast[i] = 1;
  TempDir dir("mtreplay_launch");
  const std::string result = (dir / "r.json").string();
  std::vector<std::string> args = {kLauncher, "--result", result, "--", "true"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  int status = 0;
  rusage launcher_usage{};
  ASSERT_EQ(wait4(pid, &status, 0, &launcher_usage), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(result);
  json r = json::parse(in);
  EXPECT_EQ(r["exit_code"], 0);
  EXPECT_LT(r["peak_rss_bytes"].get<uint64_t>(), 16 * kMiB) << r.dump();
  EXPECT_GT(r["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(r["page_faults"].get<uint64_t>(), 0u) << r.dump();  // its pages touched first
  // What the launcher avoids: its own figure starts at ours (ru_maxrss in KiB).
  RecordProperty("launcher_own_peak_kib", std::to_string(launcher_usage.ru_maxrss));
  EXPECT_GT(ballast[4096], 0);
}

TEST(MtreplayLaunch, ReportsAStartErrorAndBadArguments) {
  TempDir dir("mtreplay_launch_bad");
  auto r = run_command(kLauncher + " --result " + (dir / "r.json").string() + " -- /nonexistent",
                       dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(slurp(dir / "r.json").find("\"start_error\":\"cannot run '/nonexistent'"),
            std::string::npos);
  auto bad = run_command(kLauncher + " --bogus -- true", dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  auto no_command = run_command(kLauncher + " --result x --", dir.path());
  EXPECT_EQ(no_command.exit_code, 2);
}
