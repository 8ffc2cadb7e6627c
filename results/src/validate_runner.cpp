// validate's measurement loop: the program under the launcher, its traces under
// `mtreplay replay` (through compare's runner), in interleaved rounds.
#include <fmt/core.h>

#include <fstream>
#include <stdexcept>

#include "mtreplay/results/child_process.hpp"
#include "mtreplay/results/compare_runner.hpp"
#include "mtreplay/results/library_footprint.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "mtreplay/results/validate.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::results {

namespace fs = std::filesystem;

std::optional<uint64_t> ProgramRun::cpu_ns() const {
  if (!cpu_user_ns || !cpu_sys_ns) return std::nullopt;
  return *cpu_user_ns + *cpu_sys_ns;
}

namespace {

std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

std::optional<uint64_t> unsigned_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

// Per allocator that preloads a library and per trace: what the libraries it needs and
// the traced executable lacks add to a small C program's peak RSS, less what the ones
// the worker lacks add. Unknown (ldd cannot read the executable, or the worker): none.
std::map<std::string, std::map<std::string, LibraryGap>> measure_library_gaps(
    const ValidateRequest& request) {
  std::map<std::string, std::map<std::string, LibraryGap>> gaps;
  if (request.worker.empty()) return gaps;
  const fs::path& launcher = request.program.launcher;
  const fs::path& dir = request.program.work_dir;
  const std::optional<LibrarySet> worker = shared_libraries(launcher, request.worker, dir);
  if (!worker) return gaps;
  // Each trace read once (its content hash reads the whole file): its hash and its
  // executable's libraries, each executable asked of ldd once.
  struct Process {
    std::string hash;
    const LibrarySet* libraries;
  };
  std::map<std::string, std::optional<LibrarySet>> executables;
  std::vector<Process> processes;
  for (const auto& trace : request.traces) {
    try {
      const std::string exe = traces::ChunkReader(trace).header().exe;
      auto [it, added] = executables.try_emplace(exe);
      if (added && !exe.empty()) it->second = shared_libraries(launcher, exe, dir);
      if (it->second) processes.push_back({traces::content_hash(trace), &*it->second});
    } catch (const std::exception&) {
      // the replay reports an unreadable trace
    }
  }
  std::map<LibrarySet, uint64_t> footprints;
  auto footprint = [&](const LibrarySet& libraries) {
    auto [it, added] = footprints.try_emplace(libraries, 0);
    if (added) it->second = preload_footprint(launcher, libraries, dir);
    return static_cast<int64_t>(it->second);
  };
  for (const auto& a : request.allocators) {
    if (a.preload.empty()) continue;
    const std::optional<LibrarySet> needs = shared_libraries(launcher, a.preload, dir);
    if (!needs) continue;
    const int64_t in_replay = footprint(missing_from(*needs, *worker));
    for (const Process& process : processes) {
      const LibrarySet lacking = missing_from(*needs, *process.libraries);
      LibraryGap gap;
      gap.bytes = footprint(lacking) - in_replay;
      for (const auto& [soname, path] : lacking) gap.sonames.push_back(soname);
      if (gap.bytes != 0 || !gap.sonames.empty()) gaps[a.name][process.hash] = std::move(gap);
    }
  }
  return gaps;
}

}  // namespace

ProgramRun launch_program(const Launch& launch, const std::string& allocator, int index) {
  const fs::path result = launch.work_dir / fmt::format("program{}.json", index);
  const fs::path out = launch.work_dir / fmt::format("program{}.out", index);
  const fs::path err = launch.work_dir / fmt::format("program{}.err", index);
  std::vector<std::string> argv = {launch.launcher.string(), "--result", result.string(),
                                   "--stdout", out.string()};
  if (!launch.preload.empty()) argv.insert(argv.end(), {"--preload", launch.preload});
  for (const auto& e : launch.env) argv.insert(argv.end(), {"--env", e});
  argv.push_back("--");
  argv.insert(argv.end(), launch.command.begin(), launch.command.end());

  ProgramRun run;
  run.allocator = allocator;
  const ChildOutcome outcome = run_child(argv, err, launch.timeout);
  std::error_code ec;
  if (outcome.timed_out) {
    run.status = RunStatus::kCrashed;
    run.error = fmt::format("timed out after {} s", launch.timeout.count() / 1000.0);
  } else if (outcome.exit_code != 0) {
    throw std::runtime_error(fmt::format("{} failed ({}): {}", launch.launcher.string(),
                                         outcome.describe(), last_line(err)));
  } else {
    nlohmann::json j;
    try {
      std::ifstream in(result);
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(
          fmt::format("{}: unreadable launcher result: {}", result.string(), e.what()));
    }
    if (j.contains("start_error")) {
      run.status = RunStatus::kFailed;
      run.error = j["start_error"].get<std::string>();
    } else {
      run.exit_code = j.value("exit_code", -1);
      run.signal = j.value("signal", 0);
      run.wall_ns = unsigned_field(j, "wall_ns");
      run.cpu_user_ns = unsigned_field(j, "cpu_user_ns");
      run.cpu_sys_ns = unsigned_field(j, "cpu_sys_ns");
      run.peak_rss_bytes = unsigned_field(j, "peak_rss_bytes");
      run.stdout_hash = traces::content_hash(out);
      if (run.signal != 0 || run.exit_code != 0) {
        ChildOutcome program;
        program.exit_code = run.exit_code;
        program.signal = run.signal;
        run.status = run.signal ? RunStatus::kCrashed : RunStatus::kFailed;
        const std::string said = last_line(err);
        run.error =
            said.empty() ? program.describe() : fmt::format("{} ({})", program.describe(), said);
      }
    }
  }
  fs::remove(result, ec);
  fs::remove(out, ec);
  fs::remove(err, ec);
  return run;
}

Validation run_validate(const ValidateRequest& request, const ValidateProgress& progress) {
  Validation v;
  v.command = request.program.command;
  for (const auto& a : request.allocators) v.allocators.push_back(a.name);
  v.repeat = request.repeat;
  v.warmup = request.warmup;
  v.replays.created = utc_now_iso8601();
  for (size_t i = 0; i < request.recording_of.size() && i < request.traces.size(); ++i)
    if (request.recording_of[i] != 0)
      v.recording_of[traces::content_hash(request.traces[i])] = request.recording_of[i];

  v.library_gaps = measure_library_gaps(request);

  const size_t n = request.allocators.size();
  const int rounds = request.warmup + request.repeat;
  const size_t total = static_cast<size_t>(rounds) * n * (1 + request.traces.size());
  size_t done = 0;
  int launches = 0;
  bool have_environment = false;
  for (int round = 0; round < rounds; ++round) {
    const bool warmup = round < request.warmup;
    const int repeat = warmup ? round : round - request.warmup;
    const std::string label =
        warmup ? std::string("warm-up") : fmt::format("round {}/{}", repeat + 1, request.repeat);
    for (size_t k = 0; k < n; ++k) {
      const ValidateAllocator& a = request.allocators[(k + static_cast<size_t>(round)) % n];
      if (progress) progress(done, total, fmt::format("{} program, {}", a.name, label));
      Launch launch = request.program;
      launch.preload = a.preload;
      ProgramRun run = launch_program(launch, a.name, launches++);
      run.repeat = repeat;
      run.warmup = warmup;
      v.program_runs.push_back(std::move(run));
      ++done;

      CompareRequest replay;
      replay.mtreplay = request.mtreplay;
      replay.traces = request.traces;
      replay.allocators = {a.spec};
      replay.repeat = 1;
      replay.warmup = 0;
      replay.timeout = request.replay_timeout;
      replay.replay_args = request.replay_args;
      replay.work_dir = request.program.work_dir;
      const size_t before = done;
      ResultFile got = run_compare(replay, [&](size_t i, size_t, const PlannedRun& next) {
        if (progress)
          progress(before + i, total,
                   fmt::format("{} replay of {}, {}", a.name,
                               request.traces[next.trace].filename().string(), label));
      });
      done = before + request.traces.size();
      if (!have_environment) {
        v.replays.environment = got.environment;
        have_environment = true;
      }
      for (auto& r : got.runs) {
        r.allocator.name = a.name;
        r.repeat = repeat;
        r.warmup = warmup;
        v.replays.runs.push_back(std::move(r));
      }
    }
  }
  if (!have_environment) v.replays.environment = detect_environment(MTREPLAY_VERSION);
  return v;
}

}  // namespace mtreplay::results
