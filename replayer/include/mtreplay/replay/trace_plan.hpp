// Reads a trace file and builds its replay plan; also the trace's identity for the
// result (name, content hash, events, threads, pid).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces {
class ReadAhead;
}

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
// `content_hash`, when known already, is not computed again. `read_ahead`: the trace is
// decoded on a second thread (traces/read_ahead.hpp) while the plan is built.
TracePlan load_trace_plan(const std::filesystem::path& trace, std::string content_hash = {},
                          bool read_ahead = true);

// --segment-events' default. Planning a segment writes about 56 bytes an op into the
// builder's arrays and then its image: at this length both stay in the planning core's
// L2 cache (4 MiB here) with the address table, where segments of 10^6 events went
// through L3 and the streamed 10^9-event replay waited twice as long for its planning.
// Shorter segments make the replay's threads meet more often: at 32768 the replay of
// 10^8 events itself took 13 % longer (BENCHMARKS.md "Scale", Session 14).
inline constexpr uint64_t kDefaultSegmentEvents = 65536;

// A trace planned segment after segment (--plan stream, replayer/README.md): memory
// bounded by a segment of `segment_events` events and the objects live across it.
class TraceSegments {
 public:
  // Throws traces::TraceError for a missing or unreadable trace.
  TraceSegments(const std::filesystem::path& trace, uint64_t segment_events,
                bool read_ahead = true);
  ~TraceSegments();
  // The next segment's plan; throws traces::TraceError for a corrupt trace.
  const Plan& next();
  // The trace's identity; the events and threads are the trace's, known from the start.
  TraceIdentity identity(std::string content_hash = {}) const;
  // After the last segment: what a whole plan's header would report of the trace.
  const PlanHeader& totals() const { return totals_; }

 private:
  std::filesystem::path path_;
  traces::MergedReader reader_;
  std::unique_ptr<traces::ReadAhead> ahead_;  // reads reader_ on a thread of its own
  PlanBuilder builder_;
  uint64_t segment_events_;
  PlanHeader totals_;
};

// Whether --plan auto streams a trace of `events` events: when its whole plan would
// take more than half of the memory available now (about 130 bytes per event while
// planning), or its ops could overflow a whole plan's 32-bit serial positions.
bool should_stream(uint64_t events);

}  // namespace mtreplay::replay
