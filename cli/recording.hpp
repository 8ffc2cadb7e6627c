// The pieces of a recording that `mtreplay record` and `mtreplay validate` share:
// where libmhook.so is, the MHOOK_* settings of a traced run, the manifest file the
// traced processes list their traces in, and reading it back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mtreplay::cli {

// libmhook.so of our own tree: <prefix>/lib/libmhook.so (mtreplay/install_layout.hpp).
// Empty when /proc/self/exe cannot be read.
std::filesystem::path find_mhook();

struct RecordSettings {
  std::string pattern = "mhook.%p.mtr";  // MHOOK_OUTPUT; made absolute by the caller
  bool follow_fork = true;
  bool follow_exec = true;
  int zstd_level = 1;            // the writer's cost while the program runs matters more than bytes
  std::string touched = "auto";  // auto | resident | exact | off (MHOOK_TOUCHED)
};

// "MHOOK_OUTPUT=...", "MHOOK_MANIFEST=...", ...: what a traced run needs besides
// LD_PRELOAD. An inherited MHOOK_* variable must be dropped by the caller.
std::vector<std::string> mhook_settings(const RecordSettings& settings,
                                        const std::filesystem::path& manifest);

// An empty manifest file under $TMPDIR (or /tmp). Throws std::runtime_error with a
// one-line message when it cannot be created.
std::filesystem::path create_manifest();

struct TraceEntry {
  std::filesystem::path path;
  bool closed = false;      // the recorder finished it (exit, _exit)
  uint64_t unrecorded = 0;  // calls it did not record (bootstrap, its own)
};

// Lines "<path>" (opened) and "<path>\t<unrecorded>" (closed); see recorder/README.md.
// In the order the traces were opened.
std::vector<TraceEntry> traces_from_manifest(const std::filesystem::path& manifest);

}  // namespace mtreplay::cli
