// Reads a trace file and builds its replay plan; also the trace's identity for the
// result (name, content hash, events, threads, pid).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "mtreplay/replay/plan.hpp"

namespace mtreplay::replay {

struct TraceIdentity {
  std::string name;  // file name without .mtr
  std::string path;
  std::string content_hash;  // "fnv1a64:<16 hex digits>" of the file's bytes
  uint64_t events = 0;
  uint32_t threads = 0;
  uint32_t pid = 0;
  bool complete = false;
  uint64_t truncated_bytes = 0;
};

struct TracePlan {
  TraceIdentity identity;
  Plan plan;
};

// Throws traces::TraceError for a missing, unreadable or corrupt trace.
// `content_hash`, when known already, is not computed again.
TracePlan load_trace_plan(const std::filesystem::path& trace, std::string content_hash = {});

}  // namespace mtreplay::replay
