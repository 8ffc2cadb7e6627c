// mtreplay dump TRACE [--format text|jsonl]: the trace as text (FORMAT.md "Text form")
// or JSON lines, events in merged order, to stdout.
#include <fmt/core.h>
#include <fmt/ostream.h>

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "parse_options.hpp"
#include "progress.hpp"

namespace po = boost::program_options;

int mtreplay::cli::run_dump(Args args) {
  po::options_description visible("usage: mtreplay dump TRACE [options]\noptions");
  visible.add_options()("help,h", "show this help")(
      "format", po::value<std::string>()->default_value("text"), "text or jsonl");
  ReadProgress::add_options(visible);
  const TraceCommandLine line = parse_trace_command("dump", args, visible);
  if (line.exit_code) return *line.exit_code;
  const po::variables_map& vm = line.options;
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "jsonl") {
    fmt::print(stderr, "mtreplay dump: --format must be text or jsonl, not '{}'\n", format);
    return kExitBadInput;
  }
  const std::string& path = line.trace;
  try {
    traces::MergedReader reader(path);
    ReadProgress progress("dump", vm, /*prints_to_stdout=*/true);
    if (progress.enabled())
      reader.set_progress(
          [&](uint64_t done, uint64_t total) { progress.update(done, total, "events"); });
    const traces::ReadSummary& summary = reader.summary();
    if (!summary.complete)
      fmt::print(stderr,
                 "mtreplay dump: {} is truncated (no end-of-trace record): {} bytes after the "
                 "last whole frame are dropped\n",
                 path, summary.truncated_bytes);
    if (format == "text")
      traces::dump_text(reader, stdout);
    else
      traces::dump_jsonl(reader, stdout);
    progress.finish();
  } catch (const traces::TraceError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "mtreplay dump: {}\n", e.what());
    return kExitBadInput;
  }
  return kExitOk;
}
