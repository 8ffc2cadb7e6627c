// validate's analysis on crafted runs: medians, the peak-RSS prediction, errors, rank
// correlations, the verdict, the output check and the exit code.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/results/validate.hpp"

namespace mr = mtreplay::results;

namespace {

constexpr uint64_t kMiB = 1 << 20;

mr::ProgramRun program(const std::string& allocator, int repeat, uint64_t cpu_ms, uint64_t rss_mib,
                       const std::string& out = "fnv1a64:same") {
  mr::ProgramRun r;
  r.allocator = allocator;
  r.repeat = repeat;
  r.exit_code = 0;
  r.wall_ns = cpu_ms * 1000000 + 5000000;
  r.cpu_user_ns = cpu_ms * 1000000;
  r.cpu_sys_ns = 0;
  r.peak_rss_bytes = rss_mib * kMiB;
  r.stdout_hash = out;
  return r;
}

mr::Run replay(const std::string& allocator, int repeat, const std::string& trace, uint64_t cpu_ms,
               uint64_t peak_mib, uint64_t base_mib = 30) {
  mr::Run r;
  r.allocator.name = allocator;
  r.repeat = repeat;
  r.trace.name = trace;
  r.trace.content_hash = "fnv1a64:" + trace;
  r.trace.events = 1000;
  r.trace.threads = 1;
  r.wall_ns = cpu_ms * 1000000;
  r.cpu_user_ns = cpu_ms * 1000000;
  r.cpu_sys_ns = 0;
  r.peak_rss_bytes = peak_mib * kMiB;
  r.baseline_rss_bytes = base_mib * kMiB;
  r.peak_rss_delta_bytes = (peak_mib - base_mib) * kMiB;
  return r;
}

// Three allocators, two rounds; the program's peak RSS is 100/120/90 MiB, the replays'
// heap (above a 30 MiB replayer) 60/78/52 MiB: predicted 1.18x and 0.92x for 1.20x, 0.90x.
mr::Validation three_allocators() {
  mr::Validation v;
  v.command = {"prog"};
  v.allocators = {"glibc", "jem", "mi"};
  v.baseline = "glibc";
  v.repeat = 2;
  struct Figures {
    const char* name;
    uint64_t cpu, rss, replay_cpu, replay_peak;
  };
  for (const Figures& f : {Figures{"glibc", 100, 100, 50, 90}, Figures{"jem", 80, 120, 30, 108},
                           Figures{"mi", 90, 90, 40, 82}})
    for (int round = 0; round < 2; ++round) {
      v.program_runs.push_back(program(f.name, round, f.cpu + static_cast<uint64_t>(round), f.rss));
      v.replays.runs.push_back(replay(f.name, round, "main", f.replay_cpu, f.replay_peak));
    }
  return v;
}

}  // namespace

TEST(ValidateSummary, RatiosErrorsAndTheRssPrediction) {
  mr::FidelitySummary s = mr::summarize_fidelity(three_allocators());
  ASSERT_EQ(s.allocators.size(), 3u);
  const auto& jem = s.allocators[1];
  EXPECT_TRUE(jem.ok());
  EXPECT_EQ(jem.program_ok, 2u);
  EXPECT_DOUBLE_EQ(*jem.program_cpu, 80.5e6);  // median of 80 and 81 ms
  EXPECT_DOUBLE_EQ(*jem.program_rss_ratio, 1.2);
  // (100 + 108 - 90) / 100: the replayer's own 30 MiB drops out.
  EXPECT_NEAR(*jem.replay_rss_ratio, 1.18, 1e-12);
  EXPECT_NEAR(*jem.rss_error(), -0.02, 1e-12);
  EXPECT_NEAR(*jem.replay_heap_ratio, 78.0 / 60.0, 1e-12);
  // The replays alone: 30 / 50 ms. The prediction adds the program's own 50.5 ms of
  // work beside its allocator (100.5 - 50) to both: (100.5 + 30 - 50) / 100.5.
  EXPECT_NEAR(*jem.replay_cpu_alone_ratio, 0.6, 1e-12);
  EXPECT_NEAR(*jem.replay_cpu_ratio, 80.5 / 100.5, 1e-12);
  EXPECT_NEAR(*jem.cpu_error(), 0.0, 1e-12);
  const auto ratio =
      mr::fidelity_json(three_allocators(), s)["validation"]["allocators"][1]["ratio"];
  EXPECT_NEAR(ratio["replay_cpu"].get<double>(), 0.6, 1e-12);  // the schema's, unchanged
  EXPECT_NEAR(ratio["predicted_cpu"].get<double>(), 80.5 / 100.5, 1e-12);
  EXPECT_EQ(s.ranked, 3u);
  EXPECT_DOUBLE_EQ(s.rss_rho, 1.0);
  EXPECT_DOUBLE_EQ(s.cpu_rho, 1.0);
  EXPECT_NEAR(s.rss_span, 0.3, 1e-12);  // 1.2 - 0.9
  EXPECT_EQ(s.verdict, mr::FidelityVerdict::kFaithful) << s.verdict_text;
  EXPECT_EQ(mr::fidelity_exit_code(s), 0);
}

TEST(ValidateSummary, AMissedRatioOrRankIsNotFaithful) {
  mr::Validation v = three_allocators();
  // mi's replay now predicts 1.10x where the program showed 0.90x: off by +0.20, and
  // the peak-RSS ranks disagree.
  for (auto& r : v.replays.runs)
    if (r.allocator.name == "mi") r.peak_rss_bytes = 100 * kMiB;
  mr::FidelitySummary s = mr::summarize_fidelity(v);
  EXPECT_EQ(s.verdict, mr::FidelityVerdict::kNotFaithful);
  EXPECT_NE(s.verdict_text.find("mi peak RSS ratio off by +0.20"), std::string::npos)
      << s.verdict_text;
  EXPECT_NE(s.verdict_text.find("peak RSS rho 0.50 < 0.90"), std::string::npos) << s.verdict_text;
  EXPECT_EQ(mr::fidelity_exit_code(s), 1);
}

// A threaded program's own peak RSS can differ between runs by more than the threshold:
// a replayed ratio off the program's median but inside its runs' range is not a miss.
TEST(ValidateSummary, ARatioWithinTheProgramsOwnRunsIsNotAMiss) {
  mr::Validation v = three_allocators();
  // mi's replay predicts 1.10x for a median of 0.90x, off by +0.20...
  for (auto& r : v.replays.runs)
    if (r.allocator.name == "mi") r.peak_rss_bytes = 99 * kMiB;
  // ...while mi's own runs went from 0.90x to 1.12x (a third round for every allocator).
  for (const char* name : {"glibc", "jem", "mi"}) {
    const uint64_t rss = std::string(name) == "glibc" ? 100 : std::string(name) == "jem" ? 120 : 90;
    v.program_runs.push_back(program(name, 2, 100, rss));
    v.replays.runs.push_back(replay(name, 2, "main", 40, rss == 100 ? 90 : rss == 120 ? 108 : 99));
  }
  v.program_runs.back().peak_rss_bytes = 112 * kMiB;
  mr::FidelitySummary s = mr::summarize_fidelity(v);
  const auto& mi = s.allocators[2];
  EXPECT_NEAR(*mi.program_rss_ratio, 0.90, 1e-12);
  EXPECT_NEAR(*mi.program_rss_ratio_min, 0.90, 1e-12);
  EXPECT_NEAR(*mi.program_rss_ratio_max, 1.12, 1e-12);
  EXPECT_NEAR(*mi.replay_rss_ratio, 1.09, 1e-12);
  EXPECT_EQ(s.verdict_text.find("mi peak RSS ratio off by"), std::string::npos) << s.verdict_text;
  EXPECT_NE(s.verdict_text.find("mi peak RSS ratio +0.19 off the program's median but within its "
                                "own runs (0.90-1.12x)"),
            std::string::npos)
      << s.verdict_text;
  // Outside the range it is a miss, and the message gives the range.
  for (auto& r : v.replays.runs)
    if (r.allocator.name == "mi") r.peak_rss_bytes = 105 * kMiB;
  s = mr::summarize_fidelity(v);
  EXPECT_NE(s.verdict_text.find("mi peak RSS ratio off by +0.25 (program 0.90x, its runs "
                                "0.90-1.12x; replay 1.15x)"),
            std::string::npos)
      << s.verdict_text;
}

TEST(ValidateSummary, ProcessesSumTimesAndTakeTheLargestPeak) {
  mr::Validation v = three_allocators();
  for (int round = 0; round < 2; ++round)
    for (const char* a : {"glibc", "jem", "mi"})
      v.replays.runs.push_back(replay(a, round, "child", 7, 40));
  mr::FidelitySummary s = mr::summarize_fidelity(v);
  EXPECT_EQ(s.traces.size(), 2u);
  EXPECT_DOUBLE_EQ(*s.allocators[0].replay_cpu, 57e6);         // 50 + 7 ms
  EXPECT_DOUBLE_EQ(*s.allocators[0].replay_rss, 90.0 * kMiB);  // max(90, 40)
}

TEST(ValidateSummary, FailuresOutputsAndTooFewAllocators) {
  mr::Validation v = three_allocators();
  v.program_runs[3].status = mr::RunStatus::kCrashed;  // jem, round 1
  v.program_runs[3].error = "killed by signal 11 (Segmentation fault)";
  mr::FidelitySummary s = mr::summarize_fidelity(v);
  EXPECT_TRUE(s.failures);
  EXPECT_FALSE(s.allocators[1].ok());
  EXPECT_EQ(s.allocators[1].failure, "program crashed: killed by signal 11 (Segmentation fault)");
  EXPECT_EQ(mr::fidelity_exit_code(s), 3);

  mr::Validation out = three_allocators();
  for (auto& r : out.program_runs)
    if (r.allocator == "mi") r.stdout_hash = "fnv1a64:other";
  s = mr::summarize_fidelity(out);
  EXPECT_TRUE(s.output_differs);
  EXPECT_EQ(s.output_note, "differs from glibc's under mi");
  EXPECT_EQ(mr::fidelity_exit_code(s), 1);

  out.program_runs[0].stdout_hash = "fnv1a64:a-timestamp";  // glibc differs from itself
  s = mr::summarize_fidelity(out);
  EXPECT_TRUE(s.output_varies);
  EXPECT_FALSE(s.output_differs);
  EXPECT_EQ(mr::fidelity_exit_code(s), 0);

  mr::Validation one = three_allocators();
  one.allocators = {"glibc"};
  s = mr::summarize_fidelity(one);
  EXPECT_EQ(s.verdict, mr::FidelityVerdict::kInconclusive);
  EXPECT_TRUE(std::isnan(s.rss_rho));
}

// Beside Spearman: the pairs the program tells apart beyond its runs' spread, and how
// many of those the replay orders alike; a pair within the noise does not count.
TEST(ValidateSummary, CpuPairsCountOnlyWhatTheProgramTellsApart) {
  mr::FidelitySummary s = mr::summarize_fidelity(three_allocators());
  EXPECT_DOUBLE_EQ(*s.allocators[0].program_cpu_spread, 0.5e6);  // 100 and 101 ms
  EXPECT_EQ(s.cpu_pairs, 3u);
  EXPECT_EQ(s.cpu_pairs_resolved, 3u);
  EXPECT_EQ(s.cpu_pairs_agreeing, 3u);

  // mi's program now 100 and 104 ms (median 102, spread 2): within glibc's 100.5 +- 2.5,
  // so that pair is a tie; its replay (40 ms) still orders it below glibc (50 ms).
  mr::Validation v = three_allocators();
  for (auto& r : v.program_runs)
    if (r.allocator == "mi") r.cpu_user_ns = (r.repeat == 0 ? 100 : 104) * 1000000ull;
  s = mr::summarize_fidelity(v);
  EXPECT_EQ(s.cpu_pairs_resolved, 2u);
  EXPECT_EQ(s.cpu_pairs_agreeing, 2u);
  EXPECT_LT(s.cpu_rho, 1.0);  // Spearman counts that tie as a disagreement
  // The replay now puts jem above mi: one resolved pair ordered the other way.
  for (auto& r : v.replays.runs)
    if (r.allocator.name == "jem") r.cpu_user_ns = 45 * 1000000ull;
  s = mr::summarize_fidelity(v);
  EXPECT_EQ(s.cpu_pairs_resolved, 2u);
  EXPECT_EQ(s.cpu_pairs_agreeing, 1u);
}

// Four allocators, four rounds. The program's CPU order is glibc > jem > mi > tc; the
// replay orders the last two the other way (rho 0.80 < 0.85).
mr::Validation four_rounds(bool program_reproducible) {
  mr::Validation v;
  v.command = {"prog"};
  v.allocators = {"glibc", "jem", "mi", "tc"};
  v.baseline = "glibc";
  v.repeat = 4;
  const uint64_t cpu[] = {100, 90, 80, 70}, replay_cpu[] = {50, 40, 20, 30};
  for (size_t a = 0; a < 4; ++a)
    for (int round = 0; round < 4; ++round) {
      uint64_t c = cpu[a];
      // Not reproducible: odd rounds turn the program's order upside down, by less than
      // the even rounds set it, so that the medians over all rounds keep it.
      if (!program_reproducible && round % 2) c = 150 - c / 2;
      v.program_runs.push_back(program(v.allocators[a], round, c, 100));
      v.replays.runs.push_back(replay(v.allocators[a], round, "main", replay_cpu[a], 130));
    }
  return v;
}

TEST(ValidateSummary, ARankTheProgramDoesNotReproduceIsNotJudged) {
  mr::FidelitySummary s = mr::summarize_fidelity(four_rounds(true));
  EXPECT_DOUBLE_EQ(s.program_self.cpu, 1.0);
  EXPECT_DOUBLE_EQ(s.replay_self.cpu, 1.0);
  EXPECT_NEAR(s.cpu_rho, 0.8, 1e-12);
  EXPECT_EQ(s.verdict, mr::FidelityVerdict::kNotFaithful) << s.verdict_text;
  EXPECT_NE(s.verdict_text.find("CPU rho 0.80 < 0.85"), std::string::npos) << s.verdict_text;

  s = mr::summarize_fidelity(four_rounds(false));
  EXPECT_DOUBLE_EQ(s.program_self.cpu, -1.0);  // the halves rank the other way round
  EXPECT_EQ(s.verdict, mr::FidelityVerdict::kInconclusive) << s.verdict_text;
  EXPECT_NE(s.verdict_text.find("not judged: the program's own halves of rounds rank alike at "
                                "-1.00"),
            std::string::npos)
      << s.verdict_text;
  EXPECT_EQ(mr::fidelity_exit_code(s), 0);
  const auto json = mr::fidelity_json(four_rounds(false), s);
  EXPECT_DOUBLE_EQ(json["validation"]["self_agreement"]["program"]["cpu"].get<double>(), -1.0);

  // Two rounds: no halves to compare, so every rank is judged.
  mr::FidelitySummary two = mr::summarize_fidelity(three_allocators());
  EXPECT_TRUE(std::isnan(two.program_self.cpu));
}

// jemalloc's libstdc++ is resident in a C program under jemalloc only, and in the C++
// replay worker under every allocator: validate adds what it measured to jem's replays.
TEST(ValidateSummary, TheLibrariesAnAllocatorBringsAreAddedToItsReplaysPeaks) {
  mr::Validation v = three_allocators();
  v.library_gaps["jem"]["fnv1a64:main"] = {2 * static_cast<int64_t>(kMiB), {"libstdc++.so.6"}};
  mr::FidelitySummary s = mr::summarize_fidelity(v);
  // (100 + 108 + 2 - 90) / 100, where 1.18x without the gap.
  EXPECT_NEAR(*s.allocators[1].replay_rss_ratio, 1.20, 1e-12);
  EXPECT_NEAR(*s.allocators[2].replay_rss_ratio, 0.92, 1e-12);  // mi: none
  EXPECT_NE(mr::fidelity_text(v, s).find("jem +2.0 MiB (libstdc++.so.6)"), std::string::npos)
      << mr::fidelity_text(v, s);
  // Kept in the JSON and read back by validate --from.
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / "mtreplay_library_gaps.json";
  std::ofstream(file) << mr::fidelity_json(v, s).dump();
  const mr::Validation back = mr::read_validation(file);
  // A gap that is not a number is a schema error naming the file, not a crash.
  nlohmann::json broken = mr::fidelity_json(v, s);
  broken["validation"]["traces"][0]["library_gaps"]["jem"]["bytes"] = "lots";
  std::ofstream(file) << broken.dump();
  try {
    mr::read_validation(file);
    ADD_FAILURE() << "a broken library gap was read";
  } catch (const mr::SchemaError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(file);
  ASSERT_EQ(back.library_gaps.count("jem"), 1u);
  EXPECT_EQ(back.library_gaps.at("jem").at("fnv1a64:main").bytes, 2 * static_cast<int64_t>(kMiB));
  EXPECT_NEAR(*mr::summarize_fidelity(back).allocators[1].replay_rss_ratio, 1.20, 1e-12);
}
