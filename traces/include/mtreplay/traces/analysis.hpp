// What a trace holds: the analysis behind `mtreplay info`, reusable by compare's report
// (the histograms). One streaming pass over the merged events; memory is the set of
// live objects, the releases of addresses that were not live (anomalies) and a bounded
// set of the addresses released so far (AnalysisOptions). When that set overflowed and
// a release of a not-live address is still unexplained at the end, a second pass over
// the trace decides whether it was a double free or an unknown free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces {

// Requested sizes in power-of-two buckets: bucket 0 holds size 0, bucket k (1..64)
// holds sizes in (2^(k-1), 2^k] (bucket 1 also holds 1).
struct SizeHistogram {
  std::array<uint64_t, 65> counts{};
  void add(uint64_t size);
  static uint64_t upper_bound(size_t bucket);  // largest size of the bucket (2^64-1 for 64)
};

// Allocation lifetimes (free time - allocation time) in decades from 100 ns to 10 s.
struct LifetimeHistogram {
  static constexpr size_t kBuckets = 10;  // <100ns <1us <10us ... <10s >=10s
  std::array<uint64_t, kBuckets> counts{};
  uint64_t never_freed = 0;  // still live at the end of the trace
  // Both ends repeat one coarse clock reading of one thread (FORMAT.md "Coarse
  // stamps"): shorter than that run of events, by how much is unknown. Not in counts.
  uint64_t unresolved = 0;
  void add(uint64_t age_ns);
  static std::string label(size_t bucket);  // "<100ns", ..., ">=10s"
};

struct ThreadSummary {
  uint32_t index = 0, os_tid = 0;
  uint64_t events = 0, allocations = 0, releases = 0;
  uint64_t first_ns = 0, last_ns = 0;
  bool exited = false;  // a thread_exit event was seen
};

struct Anomalies {
  uint64_t unknown_frees = 0;      // free/realloc of an address never allocated in the trace
  uint64_t double_frees = 0;       // released again while not live, never allocated after
  uint64_t inversions = 0;         // released before the allocation that returned it (merged order)
  uint64_t clock_regressions = 0;  // stamped earlier than the same thread's previous event
};

// Coarse stamps (FORMAT.md "Coarse stamps"): how many events repeat an earlier clock
// reading of their thread, and how far apart the readings of those runs are, which is
// the resolution of any time measured from them.
struct CoarseStamps {
  uint64_t events = 0;       // events with Event::coarse_time
  uint64_t runs = 0;         // readings followed by at least one coarse event, closed
  uint64_t span_sum_ns = 0;  // sum over closed runs: next reading - the run's reading
  uint64_t span_max_ns = 0;
  uint64_t lifetimes = 0;  // lifetimes (resolved ones too) with a coarse end
};

// Touched extents (FORMAT.md "Touched extents"): the large blocks whose use the
// recording measured, and how much of them the program used.
struct TouchedExtents {
  uint64_t blocks = 0;           // touched events of a live block
  uint64_t requested_bytes = 0;  // those blocks' sizes
  uint64_t used_bytes = 0;       // what the events say was used of them
};

struct TraceAnalysis {
  TraceHeader header;
  ReadSummary summary;
  uint64_t events = 0;
  std::array<uint64_t, kOpCount> events_by_op{};
  std::vector<ThreadSummary> threads;
  std::vector<uint32_t> fork_children;  // pids of the children forked (successful forks)
  uint64_t failed_forks = 0, execs = 0;
  uint64_t first_ns = 0, last_ns = 0;  // of the first and last event (merged order)

  uint64_t allocations = 0, failed_allocations = 0, releases = 0, free_null = 0;
  uint64_t requested_bytes = 0;  // sum of requested sizes of successful allocations
  SizeHistogram sizes;           // every allocating call's request, failed ones included
  uint64_t peak_live_bytes = 0, peak_live_bytes_ns = 0;
  uint64_t peak_live_objects = 0, peak_live_objects_ns = 0;
  uint64_t live_bytes_at_end = 0, live_objects_at_end = 0;
  LifetimeHistogram lifetimes;
  uint64_t cross_thread_releases = 0;  // freed (or realloc'd) by another thread than its allocator
  Anomalies anomalies;
  CoarseStamps coarse;
  TouchedExtents touched;

  uint64_t duration_ns() const { return last_ns - first_ns; }
};

struct AnalysisOptions {
  // Addresses remembered as once live, to tell a double free from an unknown free.
  // Beyond this many the set is dropped and such releases are decided by a second pass
  // (same result, one more read of the trace, only for traces that have them).
  uint64_t released_addresses_cap = uint64_t{1} << 16;
};

// Reads every event (throws TraceError on corruption). A second pass, when needed
// (AnalysisOptions), opens reader.path() again and reports to reader.progress().
TraceAnalysis analyze(MergedReader& reader, const AnalysisOptions& options = {});

nlohmann::ordered_json to_json(const TraceAnalysis& a);
std::string to_text(const TraceAnalysis& a);

}  // namespace mtreplay::traces
