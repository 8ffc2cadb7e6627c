#include "mtreplay/results/library_footprint.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mtreplay/results/child_process.hpp"
#include "mtreplay/results/validate.hpp"

namespace mtreplay::results {

namespace fs = std::filesystem;

namespace {

// One line of ldd's output: "\tSONAME => PATH (0x...)" or "\tPATH (0x...)" (the loader).
void add_line(const std::string& line, LibrarySet& out) {
  std::istringstream words(line);
  std::string first, arrow, path;
  if (!(words >> first)) return;
  if (words >> arrow && arrow == "=>") {
    if (!(words >> path) || path.empty() || path.front() != '/') return;  // "not found"
  } else if (first.front() == '/') {
    path = first;
  } else {
    return;  // linux-vdso.so.1: no file
  }
  out[fs::path(first).filename().string()] = path;
}

std::optional<uint64_t> median_rss(const Launch& launch, int runs) {
  std::vector<uint64_t> rss;
  for (int i = 0; i < runs; ++i) {
    ProgramRun run = launch_program(launch, "footprint", i);
    if (!run.ok() || !run.peak_rss_bytes) return std::nullopt;
    rss.push_back(*run.peak_rss_bytes);
  }
  std::nth_element(rss.begin(), rss.begin() + runs / 2, rss.end());
  return rss[static_cast<size_t>(runs / 2)];
}

}  // namespace

std::optional<LibrarySet> shared_libraries(const fs::path& launcher, const fs::path& file,
                                           const fs::path& work_dir) {
  const fs::path result = work_dir / "ldd.json";
  const fs::path out = work_dir / "ldd.out";
  const fs::path err = work_dir / "ldd.err";
  const ChildOutcome outcome = run_child({launcher.string(), "--result", result.string(),
                                          "--stdout", out.string(), "--", "ldd", file.string()},
                                         err, std::chrono::seconds(30));
  std::optional<LibrarySet> libraries;
  std::ifstream status(result);
  const nlohmann::json j = nlohmann::json::parse(status, nullptr, false);
  if (outcome.exit_code == 0 && j.is_object() && j.value("exit_code", -1) == 0) {
    libraries.emplace();
    std::ifstream in(out);
    for (std::string line; std::getline(in, line);) add_line(line, *libraries);
  }
  std::error_code ec;
  for (const auto& f : {result, out, err}) fs::remove(f, ec);
  return libraries;
}

LibrarySet missing_from(const LibrarySet& wanted, const LibrarySet& present) {
  LibrarySet missing;
  for (const auto& [soname, path] : wanted)
    if (!present.contains(soname)) missing.emplace(soname, path);
  return missing;
}

uint64_t preload_footprint(const fs::path& launcher, const LibrarySet& libraries,
                           const fs::path& work_dir) {
  if (libraries.empty()) return 0;
  constexpr int kRuns = 5;
  Launch launch;
  launch.launcher = launcher;
  launch.command = {"true"};
  launch.work_dir = work_dir;
  launch.timeout = std::chrono::seconds(30);
  const std::optional<uint64_t> without = median_rss(launch, kRuns);
  for (const auto& [soname, path] : libraries)
    launch.preload += (launch.preload.empty() ? "" : ":") + path;
  const std::optional<uint64_t> with = median_rss(launch, kRuns);
  if (!with || !without || *with <= *without) return 0;
  return *with - *without;
}

}  // namespace mtreplay::results
