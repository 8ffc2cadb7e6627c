// The per-trace facts of the report (requested-size and lifetime histograms), taken
// from the traces analysis library and stored in the result file's trace_profiles.
#pragma once

#include <filesystem>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::traces {
struct TraceAnalysis;
}

namespace mtreplay::results {

TraceProfile profile_of(const traces::TraceAnalysis& analysis, std::string content_hash,
                        std::string name);
// Bumped when what a profile holds changes: older cached profiles are not used.
inline constexpr int kProfileCacheVersion = 1;

// Traces that cannot be read are left out (their runs say why). With a cache
// directory (the plan cache's), each trace's profile is kept there beside its plan,
// as `<content hash>-profile-v1.json`, and read back instead of analysing the trace.
std::vector<TraceProfile> profile_traces(const std::vector<std::filesystem::path>& traces,
                                         const std::filesystem::path& cache_dir = {});

}  // namespace mtreplay::results
