// mtreplay validate: how well a replay predicts the program it was recorded from.
// The program itself runs under each allocator (from the small mtreplay-launch, so
// that its peak RSS is its own), its recorded traces are replayed under the same
// allocators in the same interleaved rounds, and the two are set side by side: per
// allocator the ratios to the baseline and their error, over the allocators the
// Spearman rank correlations, and a verdict.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

// One run of the user's program under the launcher.
struct ProgramRun {
  std::string allocator;  // the allocator's name; "record" for the recording run
  int repeat = 0;
  bool warmup = false;
  RunStatus status = RunStatus::kOk;  // ok: exit code 0; failed: another; crashed: signal, timeout
  std::string error;                  // one line when not ok
  int exit_code = -1;
  int signal = 0;
  std::optional<uint64_t> wall_ns, cpu_user_ns, cpu_sys_ns, peak_rss_bytes;
  std::string stdout_hash;  // of what the program wrote to stdout (a file, never a pipe)
  std::optional<uint64_t> cpu_ns() const;
  bool ok() const;
};

// How to start the program once.
struct Launch {
  std::filesystem::path launcher;    // mtreplay-launch
  std::vector<std::string> command;  // CMD ARGS...
  std::string preload;               // LD_PRELOAD for the program; empty: none
  std::vector<std::string> env;      // NAME=VALUE added to the program's environment
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::filesystem::path work_dir;  // the program's stdout, the launcher's result
};

// Runs the program through the launcher. A program that cannot be started comes back
// failed with the reason in `error`; a run that fails is a run with that status.
// Throws Interrupted (child_process.hpp) on SIGINT/SIGTERM under an InterruptGuard,
// std::runtime_error when the launcher itself cannot run.
ProgramRun launch_program(const Launch& launch, const std::string& allocator, int index);

struct ValidateAllocator {
  std::string name;     // as the registry names it (a path backend: its file name)
  std::string spec;     // what `mtreplay replay --allocator` is given: the name or the path
  std::string preload;  // its .so; empty for the system malloc
};

struct ValidateRequest {
  std::filesystem::path mtreplay;             // whose `replay` subcommand replays
  Launch program;                             // preload and env are set per allocator
  std::vector<std::filesystem::path> traces;  // the recorded processes
  // Which recording each trace is of (parallel to traces; empty: all of one). Every
  // round replays every recording: one recording is one of the interleavings a threaded
  // program can take, and its replay's figures move with it.
  std::vector<int> recording_of;
  std::vector<ValidateAllocator> allocators;
  int repeat = 5, warmup = 1;
  std::chrono::milliseconds replay_timeout{std::chrono::minutes(10)};
  std::vector<std::string> replay_args;  // passed to every `mtreplay replay`
  // mtreplay-worker, whose libraries a replay has under every allocator; empty: no
  // correction for the libraries an allocator brings (library_footprint.hpp).
  std::filesystem::path worker;
};

// What the libraries an allocator brings add to one recorded process's peak RSS that
// its replay cannot show (library_footprint.hpp): measured once, added to the replay's
// peak. Negative when the replay loads more of them than the program.
struct LibraryGap {
  int64_t bytes = 0;
  std::vector<std::string> sonames;  // the program lacks them (what the worker lacks: not listed)
};

struct Validation {
  std::vector<std::string> command;
  std::vector<std::string> allocators;  // names, in the order asked for
  std::string baseline;
  int repeat = 0, warmup = 0;
  std::vector<ProgramRun> program_runs;  // the recording runs (if any) first
  ResultFile replays;                    // every replay, repeat/warmup set per round
  // Trace content hash -> the recording it is of; a trace not listed is of recording 0.
  std::map<std::string, int> recording_of;
  // Allocator name -> trace content hash -> its gap; an allocator or trace not listed: 0.
  std::map<std::string, std::map<std::string, LibraryGap>> library_gaps;
};

// Called before each step: steps done, steps in all, what is about to run.
using ValidateProgress = std::function<void(size_t done, size_t total, const std::string& what)>;

// Round r (warm-up rounds first) runs, for each allocator starting at the r-th
// (rotating), the program once and then every trace's replay once.
Validation run_validate(const ValidateRequest& request, const ValidateProgress& progress = {});

// The verdict's thresholds (issue #10's fidelity targets).
struct FidelityThresholds {
  double min_rss_rho = 0.9;
  double min_cpu_rho = 0.85;
  double max_rss_ratio_error = 0.1;
};

// Per allocator: medians over the measured rounds, ratios to the baseline's medians.
// A round's replay wall and CPU times are summed over the traces (one per process), its
// peak RSS is the largest trace's: the program's figures come from wait4, which sums
// the CPU time of the processes it reaped and keeps the largest peak RSS.
struct AllocatorFidelity {
  std::string allocator;
  size_t program_ok = 0, program_failed = 0, replay_ok = 0, replay_failed = 0;
  std::string failure;  // first failed run's reason
  std::optional<double> program_wall, program_cpu, program_rss;
  std::optional<double> replay_wall, replay_cpu, replay_rss, replay_rss_delta;
  std::optional<double> replay_program_rss;  // shown: program_peak_rss_bytes where reported
  // The program's CPU time over the measured rounds: median absolute deviation (its
  // spread, for the pair order below).
  std::optional<double> program_cpu_spread;
  // The program's peak RSS over the measured rounds: lowest and highest run. A threaded
  // program's own peak can differ from run to run by more than the ratio threshold (how
  // its threads happened to interleave); a replay of one recording cannot be held to
  // more than that.
  std::optional<double> program_rss_min, program_rss_max;
  // The same medians over each half of the measured rounds (even and odd), for how
  // well the runs agree with themselves (FidelitySummary::program_self, replay_self).
  std::optional<double> program_cpu_half[2], program_rss_half[2];
  std::optional<double> replay_cpu_half[2], replay_rss_half[2];
  // Ratios to the baseline allocator. A replayed ratio predicts the program's: the
  // baseline program's figure plus the difference the replays show, e.g.
  // (program_rss(base) + replay_rss(A) - replay_rss(base)) / program_rss(base). What the
  // program does besides its allocator calls (its own compute, the replayer's plan and
  // tables for memory) is the same under every allocator and drops out; a replay alone
  // would set its allocator differences against the allocator's time only (sqlite3:
  // the replays' CPU spans 0.91-1.92x glibc's, the program's 0.96-1.14x). The replays' own
  // ratios: replay_wall_alone_ratio, replay_cpu_alone_ratio, and replay_heap_ratio =
  // replay_rss_delta(A) / (base's).
  std::optional<double> program_wall_ratio, replay_wall_ratio, program_cpu_ratio, replay_cpu_ratio,
      program_rss_ratio, replay_rss_ratio, replay_heap_ratio;
  std::optional<double> replay_wall_alone_ratio, replay_cpu_alone_ratio;
  // program_rss_min and _max over the baseline program's median peak RSS.
  std::optional<double> program_rss_ratio_min, program_rss_ratio_max;
  // replay ratio - program ratio
  std::optional<double> wall_error() const;
  std::optional<double> cpu_error() const;
  std::optional<double> rss_error() const;
  bool ok() const { return program_failed == 0 && replay_failed == 0 && program_ok > 0; }
};

enum class FidelityVerdict { kFaithful, kNotFaithful, kInconclusive };
std::string_view fidelity_verdict_name(
    FidelityVerdict v);  // "faithful", "not faithful", "inconclusive"

struct FidelitySummary {
  std::string baseline;
  FidelityThresholds thresholds;
  std::vector<AllocatorFidelity> allocators;      // in request order
  size_t ranked = 0;                              // allocators in the correlations
  double wall_rho = 0, cpu_rho = 0, rss_rho = 0;  // NaN: undefined (< 2, or all ties)
  // Over the same allocators: the largest minus the smallest of the program's ratios to
  // the baseline. Ranks of ratios that span 0.02 are mostly the noise of the runs.
  double wall_span = 0, cpu_span = 0, rss_span = 0;
  // A tie-aware view of the CPU ranks, beside Spearman: of the pairs of ranked
  // allocators, those whose program CPU medians differ by more than their two spreads
  // added (the program tells them apart), and of those, the ones the replay orders alike.
  size_t cpu_pairs = 0, cpu_pairs_resolved = 0, cpu_pairs_agreeing = 0;
  // How well the runs agree with themselves: over the same allocators, Spearman between
  // the medians of the even and of the odd measured rounds (NaN below 4 rounds). A
  // program whose own halves rank its allocators alike at 0.3 cannot be predicted to
  // 0.85 by any replay: a rank below the threshold is then not judged, and the verdict
  // is at best inconclusive.
  struct SelfAgreement {
    double cpu = 0, rss = 0;
  };
  SelfAgreement program_self, replay_self;
  FidelityVerdict verdict = FidelityVerdict::kInconclusive;
  std::string verdict_text;  // one line: the verdict and why
  bool failures = false;     // a program or replay run failed or crashed
  // The program's stdout, compared by hash over its successful runs.
  bool output_differs = false;         // stable under each allocator, different between them
  bool output_varies = false;          // differs between runs of one allocator: not compared
  std::string output_note;             // one line when either is set
  size_t recordings = 1;               // of the program, each replayed every round
  std::vector<std::string> traces;     // "name (N events, T threads)", most events first
  std::vector<uint64_t> trace_events;  // parallel to traces
};

FidelitySummary summarize_fidelity(const Validation& v, const FidelityThresholds& t = {});

// 0 ok (faithful or inconclusive), 1 not faithful or the output differs between
// allocators, 3 a program or replay run failed or crashed.
int fidelity_exit_code(const FidelitySummary& s);

std::string fidelity_text(const Validation& v, const FidelitySummary& s);
std::string fidelity_markdown(const Validation& v, const FidelitySummary& s,
                              const Environment& environment);
std::string fidelity_html(const Validation& v, const FidelitySummary& s);
// The result file (the replays as `runs`) plus the "validation" object (SCHEMA.md).
nlohmann::json fidelity_json(const Validation& v, const FidelitySummary& s);
// Reads back what fidelity_json wrote (validate --from). Throws SchemaError naming the
// file and the field.
Validation read_validation(const std::filesystem::path& path);

}  // namespace mtreplay::results
