#include "mtreplay/results/sample_traces.hpp"

#include <algorithm>
#include <cstdlib>

namespace mtreplay::results {

namespace fs = std::filesystem;

std::vector<fs::path> sample_dir_candidates(const fs::path& exe) {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("MTREPLAY_SAMPLES"); env && *env) out.emplace_back(env);
  std::error_code ec;
  fs::path real = fs::canonical(exe, ec);
  fs::path bin = (ec ? exe : real).parent_path();
  out.push_back((bin / ".." / "share" / "mtreplay" / "samples").lexically_normal());
  out.push_back((bin / ".." / ".." / "traces" / "samples").lexically_normal());
  return out;
}

std::optional<fs::path> find_sample_dir(const fs::path& exe) {
  for (const auto& dir : sample_dir_candidates(exe))
    if (!traces_in(dir).empty()) return dir;
  return std::nullopt;
}

std::vector<fs::path> traces_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && entry.path().extension() == ".mtr")
      out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mtreplay::results
