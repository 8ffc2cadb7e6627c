// Identity of a trace file for results (results/SCHEMA.md trace.content_hash).
#pragma once

#include <filesystem>
#include <string>

namespace mtreplay::traces {

// "fnv1a64:%016x" of the file's bytes, read in a streaming pass. Throws TraceError
// when the file cannot be read.
std::string content_hash(const std::filesystem::path& path);

}  // namespace mtreplay::traces
