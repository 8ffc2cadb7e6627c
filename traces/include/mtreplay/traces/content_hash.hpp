// Identity of a trace file for results (results/SCHEMA.md trace.content_hash).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace mtreplay::traces {

// "fnv1a64:%016x" of the file's bytes, read in a streaming pass. Throws TraceError
// when the file cannot be read. progress, if given, hears (bytes read, file size)
// about every 16 MiB.
std::string content_hash(
    const std::filesystem::path& path,
    const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);

}  // namespace mtreplay::traces
