// Reading and writing result files. Errors are one line naming the file and the JSON
// path of the offending field ("base.json: runs/3/wall_ns: expected an unsigned
// integer"); callers print it and exit with kExitBadInput.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `origin` names the input in messages (usually the file name).
ResultFile parse_result(const nlohmann::json& doc, std::string_view origin);
Run parse_run(const nlohmann::json& run, std::string_view where);
ResultFile read_result_file(const std::filesystem::path& path);

nlohmann::json to_json(const ResultFile& file);
nlohmann::json to_json(const Run& run);
// Writes through a temporary file and a rename, so a reader never sees half a file.
// Throws std::runtime_error naming the path on failure.
void write_result_file(const ResultFile& file, const std::filesystem::path& path);

// The environment this process runs in (CPU model, cores, kernel, libc).
Environment detect_environment(std::string_view mtreplay_version);
std::string utc_now_iso8601();

}  // namespace mtreplay::results
