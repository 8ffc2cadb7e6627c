// What the commands that write report files share: a scratch directory for the runs'
// files, removed at the end, and writing a report file, where "-" names standard output
// (as `import -` reads standard input).
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
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

inline bool is_stdout(const std::string& path) {
  return path == "-";
}

// False when the file could not be written whole.
inline bool write_text(const std::string& path, const std::string& text) {
  if (is_stdout(path))
    return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
           std::fflush(stdout) == 0;
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

// Where a command prints its table when its report files are `outputs` (flag name and
// path; an empty path is not asked for): stdout, or stderr when one of them is "-", so
// that stdout holds that file alone. An error when two are "-": they would interleave.
struct TableStream {
  std::FILE* stream = stdout;
  std::optional<std::string> error;
};
inline TableStream table_stream(
    std::initializer_list<std::pair<const char*, const std::string*>> outputs) {
  TableStream result;
  const char* taken = nullptr;
  for (const auto& [flag, path] : outputs) {
    if (!is_stdout(*path)) continue;
    if (taken != nullptr) {
      result.error = std::string("--") + taken + " and --" + flag +
                     " both name standard output (-): only one may";
      return result;
    }
    taken = flag;
    result.stream = stderr;
  }
  return result;
}

}  // namespace mtreplay::cli
