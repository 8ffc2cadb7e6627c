// The replay options that compare and validate pass through to every replay they run
// (--mode, --touch, --pace, --timing, --plan), checked once before the first run, so a
// bad value is one error up front instead of every run failing with it.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mtreplay/replay/run_result.hpp"

namespace mtreplay::cli {

bool parse_mode(const std::string& s, replay::ReplayMode& out);
// "none", or a duration with a unit: 250us, 1ms, 0.5s, 2000ns.
bool parse_pace(const std::string& s, uint64_t& window_ns);
// none, recorded, or scaled:F (F > 0 replay seconds per recorded second).
bool parse_timing(const std::string& s, replay::ReplayOptions& options);

struct ReplayFlags {
  std::string mode, touch, pace, timing, plan;  // empty: replay's default

  // Adds the five as "passed to replay: ..." options.
  void add_to(boost::program_options::options_description& options);
  // The first bad value as a one-line message ("unknown --touch 'x' (...)"), or none.
  std::optional<std::string> problem() const;
  // "--mode", "serial", ...: the given ones only.
  std::vector<std::string> args() const;
};

}  // namespace mtreplay::cli
