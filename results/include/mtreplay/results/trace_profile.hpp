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
// Traces that cannot be read are left out (their runs say why).
std::vector<TraceProfile> profile_traces(const std::vector<std::filesystem::path>& traces);

}  // namespace mtreplay::results
