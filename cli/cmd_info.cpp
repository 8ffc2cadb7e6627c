// mtreplay info TRACE [--json]: what a trace holds (traces/analysis.hpp).
#include <fmt/core.h>
#include <fmt/ostream.h>

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "parse_options.hpp"
#include "progress.hpp"

namespace po = boost::program_options;

int mtreplay::cli::run_info(Args args) {
  po::options_description visible("usage: mtreplay info TRACE [options]\noptions");
  visible.add_options()("help,h", "show this help")("json", "print JSON instead of text");
  ReadProgress::add_options(visible);
  const TraceCommandLine line = parse_trace_command("info", args, visible);
  if (line.exit_code) return *line.exit_code;
  const po::variables_map& vm = line.options;
  const std::string& path = line.trace;
  try {
    traces::MergedReader reader(path);
    ReadProgress progress("info", vm);
    if (progress.enabled())
      reader.set_progress(
          [&](uint64_t done, uint64_t total) { progress.update(done, total, "events"); });
    const traces::TraceAnalysis analysis = traces::analyze(reader);
    const std::string hash =
        progress.enabled()
            ? traces::content_hash(path,
                                   [&](uint64_t done, uint64_t total) {
                                     progress.update(done, total, "bytes", "content hash");
                                   })
            : traces::content_hash(path);
    progress.finish();
    if (vm.count("json")) {
      nlohmann::ordered_json j;
      j["file"] = path;
      j["content_hash"] = hash;
      j.update(traces::to_json(analysis));
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
      fmt::print("file       {} ({})\n{}", path, hash, traces::to_text(analysis));
    }
    if (!analysis.summary.complete)
      fmt::print(stderr, "mtreplay info: {} is truncated: {} bytes dropped\n", path,
                 analysis.summary.truncated_bytes);
  } catch (const traces::TraceError& e) {
    fmt::print(stderr, "mtreplay info: {}\n", e.what());
    return kExitBadInput;
  }
  return kExitOk;
}
