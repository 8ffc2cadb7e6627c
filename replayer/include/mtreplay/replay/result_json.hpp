// The result file of results/SCHEMA.md (version 1) for replay runs.
#pragma once

#include <optional>
#include <string_view>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "mtreplay/replay/run_result.hpp"
#include "mtreplay/replay/trace_plan.hpp"

namespace mtreplay::replay {

nlohmann::json environment_json();
nlohmann::json run_json(const TraceIdentity& trace, const RunResult& run);
nlohmann::json result_document(const TraceIdentity& trace, const std::vector<RunResult>& runs);

// Writes atomically (temporary file, then rename); throws std::system_error.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& document);

const char* mode_name(ReplayMode mode);
const char* touch_name(TouchPolicy touch);
// The inverse of touch_name; nothing for another name.
std::optional<TouchPolicy> parse_touch(std::string_view name);
// Every touch model's name, comma-separated, for help and errors.
const std::string& touch_names();

}  // namespace mtreplay::replay
