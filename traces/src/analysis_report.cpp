// `mtreplay info` output: JSON (stable keys, for scripts and compare) and text.
#include <fmt/core.h>
#include <fmt/format.h>

#include "mtreplay/traces/analysis.hpp"

namespace mtreplay::traces {
namespace {

std::string human_bytes(uint64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < (1u << 20)) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (b < (1ull << 30)) return fmt::format("{:.1f} MiB", b / 1048576.0);
  return fmt::format("{:.2f} GiB", b / 1073741824.0);
}

std::string human_ns(uint64_t ns) {
  if (ns < 1000) return fmt::format("{} ns", ns);
  if (ns < 1'000'000) return fmt::format("{:.1f} us", ns / 1e3);
  if (ns < 1'000'000'000) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.3f} s", ns / 1e9);
}

std::string size_label(size_t bucket) {
  if (bucket == 0) return "0";
  if (bucket == 64) return "<=2^64-1";
  const uint64_t b = SizeHistogram::upper_bound(bucket);
  if (b >= (1ull << 30)) return fmt::format("<={}G", b >> 30);
  if (b >= (1u << 20)) return fmt::format("<={}M", b >> 20);
  if (b >= 1024) return fmt::format("<={}K", b >> 10);
  return fmt::format("<={}", b);
}

}  // namespace

nlohmann::ordered_json to_json(const TraceAnalysis& a) {
  using json = nlohmann::ordered_json;
  json j;
  j["trace"] = {{"version", a.header.version},
                {"pid", a.header.pid},
                {"ppid", a.header.ppid},
                {"parent_trace_pid", a.header.parent_trace_pid},
                {"exe", a.header.exe},
                {"argv", a.header.argv},
                {"page_size", a.header.page_size},
                {"start_realtime_ns", a.header.start_realtime_ns},
                {"complete", a.summary.complete},
                {"end_reason", end_reason_name(a.summary.end_reason)},
                {"unrecorded_calls", a.summary.unrecorded_calls},
                {"truncated_bytes", a.summary.truncated_bytes},
                {"frames", a.summary.frames}};
  j["events"] = a.events;
  json by_op = json::object();
  for (uint8_t op = 1; op < kOpCount; ++op)
    if (a.events_by_op[op] != 0)
      by_op[std::string(op_name(static_cast<Op>(op)))] = a.events_by_op[op];
  j["events_by_op"] = by_op;
  j["first_ns"] = a.first_ns;
  j["last_ns"] = a.last_ns;
  j["duration_ns"] = a.duration_ns();
  json threads = json::array();
  for (const ThreadSummary& t : a.threads)
    threads.push_back({{"index", t.index},
                       {"tid", t.os_tid},
                       {"events", t.events},
                       {"allocations", t.allocations},
                       {"releases", t.releases},
                       {"first_ns", t.first_ns},
                       {"last_ns", t.last_ns},
                       {"exited", t.exited}});
  j["threads"] = threads;
  j["processes"] = {{"pid", a.header.pid},
                    {"ppid", a.header.ppid},
                    {"parent_trace_pid", a.header.parent_trace_pid},
                    {"fork_children", a.fork_children},
                    {"failed_forks", a.failed_forks},
                    {"execs", a.execs}};
  j["allocations"] = a.allocations;
  j["failed_allocations"] = a.failed_allocations;
  j["releases"] = a.releases;
  j["free_null"] = a.free_null;
  j["requested_bytes"] = a.requested_bytes;
  json sizes = json::array();
  for (size_t b = 0; b < a.sizes.counts.size(); ++b)
    if (a.sizes.counts[b] != 0)
      sizes.push_back({{"le", SizeHistogram::upper_bound(b)}, {"count", a.sizes.counts[b]}});
  j["size_histogram"] = sizes;
  j["peak_live"] = {{"bytes", a.peak_live_bytes},
                    {"bytes_at_ns", a.peak_live_bytes_ns},
                    {"objects", a.peak_live_objects},
                    {"objects_at_ns", a.peak_live_objects_ns}};
  j["live_at_end"] = {{"bytes", a.live_bytes_at_end}, {"objects", a.live_objects_at_end}};
  json lifetimes = json::array();
  for (size_t b = 0; b < LifetimeHistogram::kBuckets; ++b)
    lifetimes.push_back({{"age", LifetimeHistogram::label(b)}, {"count", a.lifetimes.counts[b]}});
  j["lifetime_histogram"] = lifetimes;
  j["never_freed"] = a.lifetimes.never_freed;
  j["cross_thread_releases"] = a.cross_thread_releases;
  j["anomalies"] = {{"unknown_frees", a.anomalies.unknown_frees},
                    {"double_frees", a.anomalies.double_frees},
                    {"inversions", a.anomalies.inversions},
                    {"clock_regressions", a.anomalies.clock_regressions}};
  // Only for traces with coarse stamps (format version 3), so that the JSON of exact
  // traces stays as it was.
  if (a.coarse.events != 0) {
    j["lifetime_unresolved"] = a.lifetimes.unresolved;
    j["coarse_stamps"] = {
        {"events", a.coarse.events},
        {"runs", a.coarse.runs},
        {"run_span_mean_ns", a.coarse.runs ? a.coarse.span_sum_ns / a.coarse.runs : 0},
        {"run_span_max_ns", a.coarse.span_max_ns},
        {"lifetimes", a.coarse.lifetimes}};
  }
  if (a.events_by_op[static_cast<uint8_t>(Op::kTouched)] != 0)  // version 6 recordings
    j["touched_extents"] = {{"blocks", a.touched.blocks},
                            {"requested_bytes", a.touched.requested_bytes},
                            {"used_bytes", a.touched.used_bytes}};
  return j;
}

std::string to_text(const TraceAnalysis& a) {
  std::string s;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "trace      pid {} (ppid {}{}) {}\n", a.header.pid, a.header.ppid,
                 a.header.parent_trace_pid
                     ? fmt::format(", parent trace pid {}", a.header.parent_trace_pid)
                     : "",
                 a.header.exe);
  if (!a.summary.complete)
    fmt::format_to(out,
                   "TRUNCATED  no end-of-trace record: {} bytes after the last whole frame "
                   "dropped; figures cover {} whole frames\n",
                   a.summary.truncated_bytes, a.summary.frames);
  if (a.summary.end_reason != EndReason::kNone)
    fmt::format_to(out, "ended      by {}; {} calls passed through unrecorded\n",
                   end_reason_name(a.summary.end_reason), a.summary.unrecorded_calls);
  fmt::format_to(out, "events     {} in {} frames, over {}\n", a.events, a.summary.frames,
                 human_ns(a.duration_ns()));
  for (uint8_t op = 1; op < kOpCount; ++op)
    if (a.events_by_op[op] != 0)
      fmt::format_to(out, "  {:<20} {:>12}\n", op_name(static_cast<Op>(op)), a.events_by_op[op]);
  fmt::format_to(out, "threads    {}\n", a.threads.size());
  for (const ThreadSummary& t : a.threads)
    fmt::format_to(out, "  t{:<4} tid {:<8} {:>10} events {:>10} allocs {:>10} releases{}\n",
                   t.index, t.os_tid, t.events, t.allocations, t.releases,
                   t.exited ? "  exited" : "");
  fmt::format_to(
      out, "processes  forks {}{}, failed forks {}, execs {}\n", a.fork_children.size(),
      a.fork_children.empty() ? "" : fmt::format(" (children {})", fmt::join(a.fork_children, " ")),
      a.failed_forks, a.execs);
  fmt::format_to(out, "allocs     {} ok, {} failed, {} requested; {} releases, {} free(NULL)\n",
                 a.allocations, a.failed_allocations, human_bytes(a.requested_bytes), a.releases,
                 a.free_null);
  fmt::format_to(out, "peak live  {} at +{}; {} objects at +{}\n", human_bytes(a.peak_live_bytes),
                 human_ns(a.peak_live_bytes_ns - std::min(a.peak_live_bytes_ns, a.first_ns)),
                 a.peak_live_objects,
                 human_ns(a.peak_live_objects_ns - std::min(a.peak_live_objects_ns, a.first_ns)));
  fmt::format_to(out, "at end     {} live in {} objects\n", human_bytes(a.live_bytes_at_end),
                 a.live_objects_at_end);
  fmt::format_to(out, "sizes      (requested bytes, power-of-two buckets)\n");
  for (size_t b = 0; b < a.sizes.counts.size(); ++b)
    if (a.sizes.counts[b] != 0)
      fmt::format_to(out, "  {:<10} {:>12}\n", size_label(b), a.sizes.counts[b]);
  fmt::format_to(out, "lifetimes  (release time - allocation time)\n");
  for (size_t b = 0; b < LifetimeHistogram::kBuckets; ++b)
    if (a.lifetimes.counts[b] != 0)
      fmt::format_to(out, "  {:<10} {:>12}\n", LifetimeHistogram::label(b), a.lifetimes.counts[b]);
  if (a.lifetimes.unresolved != 0)
    fmt::format_to(out, "  {:<10} {:>12}  (within one coarse run: shorter than its span)\n",
                   "unresolved", a.lifetimes.unresolved);
  fmt::format_to(out, "  {:<10} {:>12}\n", "never", a.lifetimes.never_freed);
  if (a.coarse.events != 0)
    fmt::format_to(out,
                   "clock      {} of {} events repeat their thread's last clock reading (coarse "
                   "stamps, one thread alone): times and the {} lifetimes measured from them are "
                   "early by up to a run's span, mean {}, max {}\n",
                   a.coarse.events, a.events, a.coarse.lifetimes,
                   human_ns(a.coarse.runs ? a.coarse.span_sum_ns / a.coarse.runs : 0),
                   human_ns(a.coarse.span_max_ns));
  if (a.touched.blocks != 0)
    fmt::format_to(
        out, "touched    {} large blocks measured: the program used {} of their {} ({:.0f}%)\n",
        a.touched.blocks, human_bytes(a.touched.used_bytes), human_bytes(a.touched.requested_bytes),
        100.0 * static_cast<double>(a.touched.used_bytes) /
            static_cast<double>(a.touched.requested_bytes));
  fmt::format_to(out, "cross-thread releases  {}\n", a.cross_thread_releases);
  fmt::format_to(
      out, "anomalies  unknown frees {}, double frees {}, inversions {}, clock regressions {}\n",
      a.anomalies.unknown_frees, a.anomalies.double_frees, a.anomalies.inversions,
      a.anomalies.clock_regressions);
  return s;
}

}  // namespace mtreplay::traces
