// Where the bundled sample traces are, for `mtreplay compare` with no trace given.
// Looked for, in order:
//   1. $MTREPLAY_SAMPLES (a directory)
//   2. <prefix>/share/mtreplay/samples               (an installed tree)
//   3. <dir of the executable>/../../traces/samples  (build/bin in a source tree)
// (mtreplay/install_layout.hpp: <prefix> is the executable's directory less bin/.)
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace mtreplay::results {

// The candidate directories in search order (for the error message).
std::vector<std::filesystem::path> sample_dir_candidates(const std::filesystem::path& exe);
std::optional<std::filesystem::path> find_sample_dir(const std::filesystem::path& exe);
// The *.mtr files of a directory, sorted by name.
std::vector<std::filesystem::path> traces_in(const std::filesystem::path& dir);

}  // namespace mtreplay::results
