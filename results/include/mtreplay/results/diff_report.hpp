// diff's output: an aligned table for the terminal and the same as Markdown (for a
// pull-request comment), with the notes and a one-line summary.
#pragma once

#include <string>
#include <string_view>

#include "mtreplay/results/diff.hpp"

namespace mtreplay::results {

std::string diff_text(const DiffReport& report, const DiffOptions& opts);
std::string diff_markdown(const DiffReport& report, const DiffOptions& opts,
                          std::string_view base_name, std::string_view cand_name);
std::string diff_summary_line(const DiffReport& report);  // "1 regressed, 0 improved, ..."

}  // namespace mtreplay::results
