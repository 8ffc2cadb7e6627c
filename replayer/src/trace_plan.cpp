#include "mtreplay/replay/trace_plan.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <vector>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::replay {

std::string content_hash(const std::filesystem::path& file) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"), std::fclose);
  if (!in) throw std::system_error(errno, std::generic_category(), file.string());
  std::vector<unsigned char> buffer(1 << 20);
  uint64_t hash = 0xcbf29ce484222325ull;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), in.get())) > 0) {
    for (size_t i = 0; i < n; ++i) hash = (hash ^ buffer[i]) * 0x100000001b3ull;
  }
  if (std::ferror(in.get())) throw std::system_error(EIO, std::generic_category(), file.string());
  return fmt::format("fnv1a64:{:016x}", hash);
}

TracePlan load_trace_plan(const std::filesystem::path& trace) {
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
  id.content_hash = content_hash(trace);
  id.events = events;
  id.threads = static_cast<uint32_t>(out.plan.threads.size());
  id.pid = header.pid;
  id.complete = summary.complete;
  id.truncated_bytes = summary.truncated_bytes;
  return out;
}

}  // namespace mtreplay::replay
