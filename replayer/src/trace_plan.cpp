#include "mtreplay/replay/trace_plan.hpp"

#include <fmt/core.h>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::replay {

TracePlan load_trace_plan(const std::filesystem::path& trace, std::string content_hash) {
  traces::MergedReader reader(trace);
  const traces::TraceHeader& header = reader.header();
  PlanBuilder builder(header.page_size);
  traces::Event event;
  uint64_t events = 0;
  while (reader.next(event)) {
    builder.add(event);
    ++events;
  }
  TracePlan out;
  out.plan = builder.finish();
  const traces::ReadSummary& summary = reader.summary();
  TraceIdentity& id = out.identity;
  id.path = trace.string();
  id.name = trace.filename().string();
  if (trace.extension() == ".mtr") id.name = trace.stem().string();
  id.content_hash = content_hash.empty() ? traces::content_hash(trace) : std::move(content_hash);
  id.events = events;
  id.threads = static_cast<uint32_t>(out.plan.threads.size());
  id.pid = header.pid;
  id.complete = summary.complete;
  id.truncated_bytes = summary.truncated_bytes;
  return out;
}

}  // namespace mtreplay::replay
