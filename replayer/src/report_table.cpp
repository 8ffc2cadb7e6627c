#include "mtreplay/replay/report_table.hpp"

#include <fmt/core.h>

#include "mtreplay/replay/result_json.hpp"

namespace mtreplay::replay {
namespace {

std::string mib(uint64_t bytes) {
  return fmt::format("{:.1f}", static_cast<double>(bytes) / (1 << 20));
}
std::string ms(uint64_t ns) {
  return fmt::format("{:.1f}", static_cast<double>(ns) / 1e6);
}

std::string latency(const RunResult& r, const char* kind) {
  auto it = r.latency_ns.find(kind);
  if (it == r.latency_ns.end()) return "-";
  return fmt::format("{}/{}", it->second.p50, it->second.p99);
}

}  // namespace

void print_run_table(std::FILE* out, const TraceIdentity& trace, const PlanHeader& plan,
                     const std::vector<RunResult>& runs) {
  fmt::print(out, "trace {}  ({} events, {} threads, {} ops, peak live {} MiB)\n", trace.name,
             trace.events, trace.threads, plan.op_count, mib(plan.peak_live_bytes));
  const PlanAnomalies& a = plan.anomalies;
  if (a.unknown_free + a.double_free + a.unknown_realloc + a.unknown_usable_size +
          a.failed_alloc_recorded + a.inversions_repaired + a.cycles_broken >
      0) {
    fmt::print(out,
               "anomalies: {} unknown free, {} double free, {} unknown realloc, {} unknown "
               "usable-size, {} failed in recording, {} inversions repaired, {} cycles broken\n",
               a.unknown_free, a.double_free, a.unknown_realloc, a.unknown_usable_size,
               a.failed_alloc_recorded, a.inversions_repaired, a.cycles_broken);
  }
  fmt::print(out,
             "{:<10} {:<8} {:>3} {:<7} {:>9} {:>11} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9} {:>13} "
             "{:>13} {:>7}\n",
             "allocator", "mode", "run", "status", "wall ms", "ops/s", "cpu ms", "peak MiB",
             "live MiB", "frag", "wait ms", "pace ms", "malloc p50/99", "free p50/99", "faults");
  for (const auto& r : runs) {
    std::string run = r.warmup ? "w" : std::to_string(r.repeat);
    fmt::print(
        out,
        "{:<10} {:<8} {:>3} {:<7} {:>9} {:>11.0f} {:>9} {:>10} {:>9} {:>6.2f} {:>9} {:>9} {:>13} "
        "{:>13} {:>7}\n",
        r.backend.name.substr(0, 10), mode_name(r.options.mode), run, r.status, ms(r.wall_ns),
        r.ops_per_sec, ms(r.cpu_user_ns + r.cpu_sys_ns), mib(r.peak_rss_delta_bytes),
        mib(r.peak_live_bytes), r.fragmentation, ms(r.sync_wait_ns), ms(r.pace_wait_ns),
        latency(r, "malloc"), latency(r, "free"), r.page_faults);
    if (!r.error.empty()) fmt::print(out, "  {}\n", r.error);
  }
  if (!runs.empty() && !runs.front().emulated.empty()) {
    std::string list;
    for (const auto& e : runs.front().emulated) list += (list.empty() ? "" : ", ") + e;
    fmt::print(out, "emulated for {}: {}\n", runs.front().backend.name, list);
  }
}

}  // namespace mtreplay::replay
