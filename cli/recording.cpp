#include "recording.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

#include "mtreplay/install_layout.hpp"

namespace fs = std::filesystem;

namespace mtreplay::cli {

fs::path find_mhook() {
  if (layout::self_exe().empty()) return {};
  return layout::library_dir() / "libmhook.so";
}

std::vector<std::string> mhook_settings(const RecordSettings& s, const fs::path& manifest) {
  return {"MHOOK_OUTPUT=" + s.pattern,
          "MHOOK_MANIFEST=" + manifest.string(),
          std::string("MHOOK_FOLLOW_FORK=") + (s.follow_fork ? "1" : "0"),
          std::string("MHOOK_FOLLOW_EXEC=") + (s.follow_exec ? "1" : "0"),
          "MHOOK_ZSTD_LEVEL=" + std::to_string(s.zstd_level),
          "MHOOK_TOUCHED=" + s.touched};
}

fs::path create_manifest() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path =
      (fs::path(tmpdir && *tmpdir ? tmpdir : "/tmp") / "mtreplay-record-XXXXXX").string();
  const int fd = mkstemp(path.data());
  if (fd < 0)
    throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  close(fd);
  return path;
}

std::vector<TraceEntry> traces_from_manifest(const fs::path& manifest) {
  std::vector<TraceEntry> out;
  std::map<std::string, size_t> index;
  std::ifstream in(manifest);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    const std::string path = line.substr(0, tab);
    auto [it, added] = index.emplace(path, out.size());
    if (added) out.push_back({path});
    if (tab != std::string::npos) {
      out[it->second].closed = true;
      out[it->second].unrecorded = std::strtoull(line.c_str() + tab + 1, nullptr, 10);
    }
  }
  return out;
}

}  // namespace mtreplay::cli
