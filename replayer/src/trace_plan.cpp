#include "mtreplay/replay/trace_plan.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <span>

#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/read_ahead.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::replay {

namespace {

TraceIdentity identify(const std::filesystem::path& trace, const traces::MergedReader& reader,
                       std::string content_hash) {
  TraceIdentity id;
  id.path = trace.string();
  id.name = trace.filename().string();
  if (trace.extension() == ".mtr") id.name = trace.stem().string();
  id.content_hash = content_hash.empty() ? traces::content_hash(trace) : std::move(content_hash);
  id.pid = reader.header().pid;
  id.complete = reader.summary().complete;
  id.truncated_bytes = reader.summary().truncated_bytes;
  return id;
}

// How many events ahead the builder prefetches an event (BENCHMARKS.md "Scale",
// Session 9).
constexpr uint32_t kPrefetchEvent = 24;

}  // namespace

TracePlan load_trace_plan(const std::filesystem::path& trace, std::string content_hash,
                          bool read_ahead) {
  traces::MergedReader reader(trace);
  const traces::TraceHeader& header = reader.header();
  PlanBuilder builder(header.page_size);
  for (const traces::ThreadInfo& thread : reader.threads())
    builder.expect_events(thread.index, thread.events);
  traces::Event event;
  uint64_t events = 0;
  std::optional<traces::ReadAhead> ahead;
  if (read_ahead) ahead.emplace(reader);
  if (ahead) {
    // Where the read-ahead batch holds the events, a run at a time, as TraceSegments::next.
    for (std::span<const traces::Event> run; !(run = ahead->run()).empty();) {
      builder.add_until_end(run.data(), run.size(), UINT64_MAX, kPrefetchEvent);
      ahead->consume(run.size());
      events += run.size();
    }
  } else {
    while (reader.next(event)) {
      builder.add(event);
      ++events;
    }
  }
  TracePlan out;
  out.plan = builder.finish();
  out.identity = identify(trace, reader, std::move(content_hash));
  out.identity.events = events;
  out.identity.threads = static_cast<uint32_t>(out.plan.threads.size());
  return out;
}

TraceSegments::TraceSegments(const std::filesystem::path& trace, uint64_t segment_events,
                             bool read_ahead)
    : path_(trace),
      reader_(trace),
      ahead_(read_ahead ? std::make_unique<traces::ReadAhead>(reader_) : nullptr),
      builder_(reader_.header().page_size),
      segment_events_(segment_events ? segment_events : 1) {
  const auto& threads = reader_.threads();
  builder_.stream(static_cast<uint32_t>(threads.size()));
  // Each thread's arrays sized for its share of a segment from the start (up to twice
  // an even share, never more than it has): the first segment does not grow them by
  // doubling (copies, and pages faulted in twice). Only the pages used are resident.
  const uint64_t share = 2 * segment_events_ / std::max<size_t>(threads.size(), 1) + 1024;
  for (const traces::ThreadInfo& thread : threads)
    builder_.expect_events(thread.index, std::min({thread.events, segment_events_, share}));
}

TraceSegments::~TraceSegments() = default;

const Plan& TraceSegments::next() {
  traces::Event event;
  bool more = false;
  if (ahead_) {
    // The events are planned where the read-ahead batch holds them, a run at a time.
    // The reading thread wrote them on its core: their lines are fetched from there,
    // a few events ahead (BENCHMARKS.md "Scale", Session 9).
    for (;;) {
      const std::span<const traces::Event> run = ahead_->run();
      if (!(more = !run.empty())) break;
      ahead_->consume(
          builder_.add_until_end(run.data(), run.size(), segment_events_, kPrefetchEvent));
      if (builder_.segment_may_end(segment_events_)) break;
    }
  } else {
    while ((more = reader_.next(event))) {
      builder_.add(event);
      if (builder_.segment_may_end(segment_events_)) break;
    }
  }
  const Plan& plan = builder_.finish_segment(!more);
  totals_.thread_count = static_cast<uint32_t>(plan.threads.size());
  totals_.op_count += plan.op_count;
  totals_.object_count = std::max<uint64_t>(totals_.object_count, plan.objects.size());
  totals_.peak_live_bytes = plan.peak_live_bytes;
  totals_.anomalies = plan.anomalies;
  totals_.segment = plan.segment;
  totals_.last_segment = plan.last_segment;
  return plan;
}

TraceIdentity TraceSegments::identity(std::string content_hash) const {
  TraceIdentity id = identify(path_, reader_, std::move(content_hash));
  id.events = reader_.summary().events;
  id.threads = static_cast<uint32_t>(reader_.threads().size());
  return id;
}

bool should_stream(uint64_t events) {
  constexpr uint64_t kPlanningBytesPerEvent = 130;
  if (events >= (uint64_t{1} << 31)) return true;
  long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return false;
  return events * kPlanningBytesPerEvent >
         static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

}  // namespace mtreplay::replay
