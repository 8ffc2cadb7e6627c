// The terminal table `mtreplay replay` prints: one row per run.
#pragma once

#include <cstdio>
#include <vector>

#include "mtreplay/replay/run_result.hpp"
#include "mtreplay/replay/trace_plan.hpp"

namespace mtreplay::replay {

void print_run_table(std::FILE* out, const TraceIdentity& trace, const PlanHeader& plan,
                     const std::vector<RunResult>& runs);

}  // namespace mtreplay::replay
