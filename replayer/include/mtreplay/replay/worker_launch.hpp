// Runs one replay of a plan in a fresh worker process with the backend preloaded and
// turns what it reported into a RunResult. A worker that fails to load the backend,
// crashes or is stopped by --verify yields a result with status failed/crashed, never
// an exception; only a failure of mtreplay itself throws.
#pragma once

#include <filesystem>
#include <functional>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/run_result.hpp"

namespace mtreplay::replay {

// Called about every 50 ms while the worker runs: ops done, ops in total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// `plan` is the image mapped from `plan_fd` (the parent needs nothing else).
RunResult run_worker(const PlanView& plan, int plan_fd, const BackendSpec& backend,
                     const ReplayOptions& options, const std::filesystem::path& worker,
                     const ProgressFn& progress = {});

// The same for a caller that still holds the in-memory plan whose image is `plan_fd`
// (write_plan_image): maps the image and reports from it.
RunResult run_worker(const Plan& plan, int plan_fd, const BackendSpec& backend,
                     const ReplayOptions& options, const std::filesystem::path& worker,
                     const ProgressFn& progress = {});

// A streamed plan (replayer/README.md, "Streaming"): each call plans the next segment;
// the last one has Plan::last_segment set.
using SegmentSource = std::function<const Plan&()>;

// Replays a streamed plan: the first segment is planned before the worker starts, each
// next one while the worker replays the previous (`plan_ahead`) or once it has
// completed it. The result reports the whole trace; its wall and CPU time leave out
// the waits between segments. `progress` gets the ops done so far and 0 for the total,
// which is not known before the end.
RunResult run_streamed_worker(const SegmentSource& next, bool plan_ahead,
                              const BackendSpec& backend, const ReplayOptions& options,
                              const std::filesystem::path& worker, const ProgressFn& progress = {});

// Whether --plan-ahead auto plans while the worker replays: when the machine has two
// cores beyond the `runners` replay threads, one for the planning and one for reading
// the trace (planning would otherwise take the replay's time).
bool plan_ahead_by_default(uint32_t runners);

// The worker binary of the running executable's tree (mtreplay/install_layout.hpp).
std::filesystem::path default_worker_path();

}  // namespace mtreplay::replay
