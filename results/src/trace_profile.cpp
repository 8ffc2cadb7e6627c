#include "mtreplay/results/trace_profile.hpp"

#include <fmt/core.h>

#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::results {

namespace {

std::string size_label(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) == 0)
    return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0)
    return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

}  // namespace

TraceProfile profile_of(const traces::TraceAnalysis& a, std::string content_hash,
                        std::string name) {
  TraceProfile p;
  p.content_hash = std::move(content_hash);
  p.name = std::move(name);
  // Only the span of buckets that hold something: 65 mostly empty bars say nothing.
  const auto& counts = a.sizes.counts;
  size_t first = counts.size(), last = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    if (counts[b]) {
      first = std::min(first, b);
      last = b;
    }
  }
  for (size_t b = first; b <= last && first < counts.size(); ++b)
    p.size_histogram.push_back(
        {b == 0 ? "0 B" : "<= " + size_label(a.sizes.upper_bound(b)), counts[b]});
  for (size_t b = 0; b < traces::LifetimeHistogram::kBuckets; ++b)
    p.lifetime_histogram.push_back({traces::LifetimeHistogram::label(b), a.lifetimes.counts[b]});
  // Traces with coarse stamps (format version 3): lifetimes within one run of a
  // repeated clock reading have no measured length.
  if (a.lifetimes.unresolved != 0)
    p.lifetime_histogram.push_back({"unresolved", a.lifetimes.unresolved});
  p.lifetime_histogram.push_back({"never freed", a.lifetimes.never_freed});
  return p;
}

std::vector<TraceProfile> profile_traces(const std::vector<std::filesystem::path>& paths) {
  std::vector<TraceProfile> out;
  for (const auto& path : paths) {
    try {
      traces::MergedReader reader(path);
      traces::TraceAnalysis a = traces::analyze(reader);
      out.push_back(profile_of(a, traces::content_hash(path), path.stem().string()));
    } catch (const traces::TraceError&) {
      // The replay of an unreadable trace fails and says so in the table.
    }
  }
  return out;
}

}  // namespace mtreplay::results
