// compare's measurement loop. Every run is a fresh `mtreplay replay` process; within a
// trace, one warm-up round runs each allocator once (kept in the file, marked warmup,
// left out of every statistic), then each repeat runs every allocator once, the
// starting allocator rotating from repeat to repeat, so that drift of the machine
// (other load, thermal state, page cache) falls on all allocators alike.
// A run that fails or crashes becomes a run with that status; the others go on.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

struct CompareRequest {
  std::filesystem::path mtreplay;  // the executable whose `replay` subcommand runs
  std::vector<std::filesystem::path> traces;
  std::vector<std::string> allocators;
  int repeat = 5;
  int warmup = 1;
  std::vector<std::string> replay_args;  // passed to every replay (--mode, --touch)
  // Passed to the replays of one trace (indexed like traces; may be shorter).
  std::vector<std::vector<std::string>> trace_args;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::filesystem::path work_dir;  // scratch space for per-run JSON and stderr
  // --shard K/N: run only the measured rounds (one repeat of a trace: every allocator
  // once) whose position among plan_runs()'s rounds is K-1 modulo N (shard_index =
  // K-1), each trace's warm-up rounds before them. The N shards' measured runs together
  // are the whole matrix; each shard repeats the warm-ups of the traces it measures.
  int shard_index = 0;
  int shard_count = 1;
};

struct PlannedRun {
  size_t trace = 0;  // index into CompareRequest::traces
  std::string allocator;
  int repeat = 0;
  bool warmup = false;
};

// The order runs happen in (exposed so tests can check the interleaving).
std::vector<PlannedRun> plan_runs(const CompareRequest& request);

// The runs of one shard, in plan_runs() order.
std::vector<PlannedRun> shard_runs(const std::vector<PlannedRun>& all, int index, int count);

// Called before each run: runs done, runs in all, the run about to start.
using CompareProgress = std::function<void(size_t done, size_t total, const PlannedRun& next)>;

// Throws Interrupted (child_process.hpp) on SIGINT/SIGTERM under an InterruptGuard.
ResultFile run_compare(const CompareRequest& request, const CompareProgress& progress = {});

// A progress bar on stderr, redrawn in place; silent when stderr is not a terminal.
CompareProgress terminal_progress(const CompareRequest& request);
void clear_terminal_progress();

}  // namespace mtreplay::results
