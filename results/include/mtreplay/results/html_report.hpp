// compare --html: one self-contained page (inline CSS and SVG, no network, no external
// script or font). Per trace: the table, then charts of wall time and peak RSS per
// allocator (median bars, min-max whiskers), malloc and free latency percentiles, RSS
// over time of each allocator's median run on one axis, and the trace's requested-size
// and lifetime histograms. A small inline script records, after layout, how many bars
// and lines each chart drew (body[data-rendered]) so a headless browser can check it.
#pragma once

#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"
#include "mtreplay/results/summary.hpp"

namespace mtreplay::results {

std::string html_report(const ResultFile& file, const std::vector<TraceSummary>& traces);

}  // namespace mtreplay::results
