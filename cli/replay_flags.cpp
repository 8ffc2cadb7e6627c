#include "replay_flags.hpp"

#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <exception>

#include "mtreplay/replay/result_json.hpp"

namespace mtreplay::cli {

namespace po = boost::program_options;
using replay::ReplayMode;
using replay::TimingMode;

bool parse_mode(const std::string& s, ReplayMode& out) {
  if (s == "parallel") return out = ReplayMode::kParallel, true;
  if (s == "serial") return out = ReplayMode::kSerial, true;
  if (s == "single") return out = ReplayMode::kSingle, true;
  return false;
}

bool parse_pace(const std::string& s, uint64_t& window_ns) {
  if (s == "none") return window_ns = 0, true;
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  std::string unit = s.substr(used);
  double scale = unit == "ns" ? 1 : unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : 0;
  if (scale == 0 || !(value > 0) || value * scale > 1e18) return false;
  window_ns = static_cast<uint64_t>(value * scale);
  return window_ns > 0;
}

bool parse_timing(const std::string& s, replay::ReplayOptions& options) {
  if (s == "none") return options.timing = TimingMode::kNone, true;
  if (s == "recorded")
    return options.timing = TimingMode::kRecorded, options.timing_scale = 1, true;
  if (s.rfind("scaled:", 0) != 0) return false;
  size_t used = 0;
  try {
    options.timing_scale = std::stod(s.substr(7), &used);
  } catch (const std::exception&) {
    return false;
  }
  options.timing = TimingMode::kRecorded;
  return used == s.size() - 7 && options.timing_scale > 0 && options.timing_scale < 1e6;
}

void ReplayFlags::add_to(po::options_description& options) {
  options.add_options()("mode", po::value(&mode), "passed to replay: parallel, serial or single")(
      "touch", po::value(&touch), "passed to replay: a touch model (see mtreplay replay --help)")(
      "pace", po::value(&pace), "passed to replay: a window such as 100us, or none")(
      "timing", po::value(&timing), "passed to replay: none, recorded or scaled:F")(
      "plan", po::value(&plan), "passed to replay: auto, memory or stream");
}

std::optional<std::string> ReplayFlags::problem() const {
  replay::ReplayOptions options;
  uint64_t window = 0;
  if (!mode.empty() && !parse_mode(mode, options.mode))
    return fmt::format("unknown --mode '{}' (parallel, serial, single)", mode);
  if (!touch.empty() && !replay::parse_touch(touch))
    return fmt::format("unknown --touch '{}' ({})", touch, replay::touch_names());
  if (!pace.empty() && !parse_pace(pace, window))
    return fmt::format("bad --pace '{}' (none, or a positive duration such as 500us, 1ms, 2s)",
                       pace);
  if (!timing.empty() && !parse_timing(timing, options))
    return fmt::format("bad --timing '{}' (none, recorded, scaled:F with F > 0)", timing);
  if (options.timing != TimingMode::kNone && options.mode != ReplayMode::kParallel)
    return fmt::format("--timing {} needs --mode parallel", timing);
  if (!plan.empty() && plan != "auto" && plan != "memory" && plan != "stream")
    return fmt::format("unknown --plan '{}' (auto, memory, stream)", plan);
  return std::nullopt;
}

std::vector<std::string> ReplayFlags::args() const {
  std::vector<std::string> out;
  for (const auto& [flag, value] : {std::pair{"--mode", &mode},
                                    {"--touch", &touch},
                                    {"--pace", &pace},
                                    {"--timing", &timing},
                                    {"--plan", &plan}})
    if (!value->empty()) out.insert(out.end(), {flag, *value});
  return out;
}

}  // namespace mtreplay::cli
