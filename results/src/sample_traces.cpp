#include "mtreplay/results/sample_traces.hpp"

#include <algorithm>
#include <cstdlib>

#include "mtreplay/install_layout.hpp"

namespace mtreplay::results {

namespace fs = std::filesystem;

std::vector<fs::path> sample_dir_candidates(const fs::path& exe) {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("MTREPLAY_SAMPLES"); env && *env) out.emplace_back(env);
  std::error_code ec;
  fs::path real = fs::canonical(exe, ec);
  for (auto& dir : layout::sample_dirs(ec ? exe : real)) out.push_back(std::move(dir));
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
