// What compare and validate share around their runs: a scratch directory for the
// runs' files, removed at the end, and writing a report file.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mtreplay::cli {

class ScratchDir {
 public:
  // A fresh directory named `<tmp>/mtreplay-<purpose>.XXXXXX`.
  explicit ScratchDir(const std::string& purpose) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("mtreplay-" + purpose + ".XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// False when the file could not be written whole.
inline bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

}  // namespace mtreplay::cli
