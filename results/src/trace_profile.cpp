#include "mtreplay/results/trace_profile.hpp"

#include <fmt/core.h>

#include <optional>

#include "mtreplay/results/schema_io.hpp"
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
  p.lifetime_histogram.push_back({"never freed", a.lifetimes.never_freed});
  return p;
}

namespace {

// A cached profile is a result file with no runs and this one profile; anything else
// (unreadable, another trace) is computed again and overwritten.
std::optional<TraceProfile> cached_profile(const std::filesystem::path& file,
                                           const std::string& content_hash) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  try {
    ResultFile got = read_result_file(file);
    if (got.runs.empty() && got.trace_profiles.size() == 1 &&
        got.trace_profiles[0].content_hash == content_hash)
      return got.trace_profiles[0];
  } catch (const SchemaError&) {
  }
  return std::nullopt;
}

void store_profile(const std::filesystem::path& dir, const std::filesystem::path& file,
                   const TraceProfile& profile) {
  try {
    std::filesystem::create_directories(dir);
    ResultFile entry;
    entry.trace_profiles.push_back(profile);
    write_result_file(entry, file);  // through a temporary file and a rename
  } catch (const std::exception&) {
    // A cache that cannot be written only costs the analysis next time.
  }
}

}  // namespace

std::vector<TraceProfile> profile_traces(const std::vector<std::filesystem::path>& paths,
                                         const std::filesystem::path& cache_dir) {
  std::vector<TraceProfile> out;
  for (const auto& path : paths) {
    try {
      std::string hash = traces::content_hash(path);
      std::filesystem::path file;
      if (!cache_dir.empty()) {
        std::string hex = hash.substr(hash.find(':') + 1);
        file = cache_dir / fmt::format("{}-profile-v{}.json", hex, kProfileCacheVersion);
        if (auto hit = cached_profile(file, hash)) {
          hit->name = path.stem().string();
          out.push_back(std::move(*hit));
          continue;
        }
      }
      traces::MergedReader reader(path);
      traces::TraceAnalysis a = traces::analyze(reader);
      out.push_back(profile_of(a, hash, path.stem().string()));
      if (!file.empty()) store_profile(cache_dir, file, out.back());
    } catch (const traces::TraceError&) {
      // The replay of an unreadable trace fails and says so in the table.
    }
  }
  return out;
}

}  // namespace mtreplay::results
