#include "mtreplay/replay/result_json.hpp"

#include "mtreplay/results/schema_io.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#ifndef MTREPLAY_VERSION
#define MTREPLAY_VERSION "0.0.0"
#endif

namespace mtreplay::replay {

const char* mode_name(ReplayMode mode) {
  switch (mode) {
    case ReplayMode::kParallel:
      return "parallel";
    case ReplayMode::kSerial:
      return "serial";
    case ReplayMode::kSingle:
      return "single";
  }
  return "?";
}

std::string timing_name(const ReplayOptions& options) {
  if (options.timing == TimingMode::kNone) return "none";
  if (options.timing_scale == 1.0) return "recorded";
  return fmt::format("scaled:{}", options.timing_scale);
}

const char* touch_name(TouchPolicy touch) {
  switch (touch) {
    case TouchPolicy::kNone:
      return "none";
    case TouchPolicy::kPage:
      return "page";
    case TouchPolicy::kUse:
      return "use";
    case TouchPolicy::kFill:
      return "fill";
    case TouchPolicy::kHead8k:
      return "head8k";
    case TouchPolicy::kHead16k:
      return "head16k";
    case TouchPolicy::kHead64k:
      return "head64k";
    case TouchPolicy::kEnds64k:
      return "ends64k";
    case TouchPolicy::kGrown16k:
      return "grown16k";
    case TouchPolicy::kRevisit:
      return "revisit";
    case TouchPolicy::kWorkingSet:
      return "wset";
    case TouchPolicy::kRevisitWorkingSet:
      return "revisit-wset";
    case TouchPolicy::kRevisitDeep:
      return "revisit-deep";
    case TouchPolicy::kWhole:
      return "whole";
  }
  return "?";
}

namespace {
constexpr TouchPolicy kTouchPolicies[] = {
    TouchPolicy::kNone,        TouchPolicy::kPage,       TouchPolicy::kFill,
    TouchPolicy::kUse,         TouchPolicy::kHead8k,     TouchPolicy::kHead16k,
    TouchPolicy::kHead64k,     TouchPolicy::kEnds64k,    TouchPolicy::kGrown16k,
    TouchPolicy::kRevisit,     TouchPolicy::kWorkingSet, TouchPolicy::kRevisitWorkingSet,
    TouchPolicy::kRevisitDeep, TouchPolicy::kWhole};
}  // namespace

std::optional<TouchPolicy> parse_touch(std::string_view name) {
  for (TouchPolicy touch : kTouchPolicies) {
    if (name == touch_name(touch)) return touch;
  }
  return std::nullopt;
}

const std::string& touch_names() {
  static const std::string names = [] {
    std::string out;
    for (TouchPolicy touch : kTouchPolicies)
      out += (out.empty() ? "" : ", ") + std::string(touch_name(touch));
    return out;
  }();
  return names;
}

nlohmann::json environment_json() {
  const results::Environment env = results::detect_environment(MTREPLAY_VERSION);
  return {
      {"cpu", env.cpu},
      {"cores", env.cores},
      {"kernel", env.kernel},
      {"libc", env.libc},
      {"mtreplay_version", env.mtreplay_version},
      {"mtreplay_revision", env.mtreplay_revision},
  };
}

nlohmann::json run_json(const TraceIdentity& trace, const RunResult& r) {
  nlohmann::json latency = nlohmann::json::object();
  for (const auto& [kind, s] : r.latency_ns) {
    latency[kind] = {{"samples", s.samples}, {"p50", s.p50},   {"p90", s.p90},
                     {"p99", s.p99},         {"p999", s.p999}, {"max", s.max}};
  }
  nlohmann::json timeline = nlohmann::json::array();
  for (const auto& [t, rss] : r.rss_timeline) timeline.push_back({t, rss});
  const PlanAnomalies& a = r.anomalies;
  return {
      {"trace",
       {{"name", trace.name},
        {"path", trace.path},
        {"content_hash", trace.content_hash},
        {"events", trace.events},
        {"threads", trace.threads},
        {"pid", trace.pid}}},
      {"allocator",
       {{"name", r.backend.name},
        {"path", r.backend.path},
        {"version", r.backend.version},
        {"emulated", r.emulated}}},
      {"mode", mode_name(r.options.mode)},
      {"touch", touch_name(r.options.touch)},
      {"verify", r.options.verify},
      {"pace_window_ns", r.options.mode == ReplayMode::kParallel ? r.options.pace_window_ns : 0},
      {"timing", timing_name(r.options)},
      {"repeat", r.repeat},
      {"warmup", r.warmup},
      {"status", r.status},
      {"error", r.error},
      {"failed_at_op", r.failed_at_op},
      {"wall_ns", r.wall_ns},
      {"cpu_user_ns", r.cpu_user_ns},
      {"cpu_sys_ns", r.cpu_sys_ns},
      {"page_faults", r.page_faults},
      {"ops", r.ops},
      {"ops_per_sec", r.ops_per_sec},
      {"ops_by_kind", r.ops_by_kind},
      {"ops_by_thread", r.ops_by_thread},
      {"latency_ns", latency},
      {"replayer_startup_bytes", r.replayer_startup_bytes},
      {"baseline_rss_bytes", r.baseline_rss_bytes},
      {"peak_rss_bytes", r.peak_rss_bytes},
      {"peak_rss_delta_bytes", r.peak_rss_delta_bytes},
      {"program_peak_rss_bytes", r.program_peak_rss_bytes},
      {"peak_rss_method", r.peak_rss_method},
      {"rss_timeline", timeline},
      {"peak_live_bytes", r.peak_live_bytes},
      {"fragmentation", r.fragmentation},
      {"usable_slop_bytes", r.usable_slop_bytes},
      {"usable_slop_measured", r.usable_slop_measured},
      {"sync_wait_ns", r.sync_wait_ns},
      {"pace_wait_ns", r.pace_wait_ns},
      {"timing_wait_ns", r.timing_wait_ns},
      {"plan_segments", r.plan_segments},
      {"stream_stall_ns", r.stream_stall_ns},
      {"excluded_ns", r.excluded_ns},
      {"anomalies",
       {{"unknown_free", a.unknown_free},
        {"double_free", a.double_free},
        {"unknown_realloc", a.unknown_realloc},
        {"unknown_usable_size", a.unknown_usable_size},
        {"failed_alloc_recorded", a.failed_alloc_recorded},
        {"failed_alloc_replay", r.failed_alloc_replay},
        {"inversions_repaired", a.inversions_repaired},
        {"cycles_broken", a.cycles_broken}}},
  };
}

nlohmann::json result_document(const TraceIdentity& trace, const std::vector<RunResult>& runs) {
  nlohmann::json doc = {
      {"schema", "mtreplay-result"},
      {"schema_version", 1},
      {"created",
       fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(
                                                std::chrono::system_clock::now())))},
      {"environment", environment_json()},
      {"runs", nlohmann::json::array()},
  };
  for (const auto& r : runs) doc["runs"].push_back(run_json(trace, r));
  return doc;
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& document) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) throw std::system_error(errno, std::generic_category(), temporary.string());
    out << document.dump(2) << '\n';
    if (!out) throw std::system_error(EIO, std::generic_category(), temporary.string());
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw std::system_error(ec, path.string());
}

}  // namespace mtreplay::replay
