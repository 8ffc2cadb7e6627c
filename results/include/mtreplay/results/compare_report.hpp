// compare's tables: one per trace, one row per allocator, each metric's median with
// its ratio to the baseline and the winner marked; the same as Markdown.
#pragma once

#include <string>
#include <vector>

#include "mtreplay/results/summary.hpp"

namespace mtreplay::results {

std::string compare_text(const std::vector<TraceSummary>& traces);
std::string compare_markdown(const std::vector<TraceSummary>& traces, const Environment& env);

}  // namespace mtreplay::results
