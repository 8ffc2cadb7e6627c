// mtreplay import TEXT -o TRACE: builds a trace from its text form (FORMAT.md "Text
// form"); TEXT may be - for stdin.
#include <fmt/core.h>
#include <fmt/ostream.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "parse_options.hpp"

namespace po = boost::program_options;

int mtreplay::cli::run_import(Args args) {
  po::options_description visible("usage: mtreplay import TEXT -o TRACE [options]\noptions");
  visible.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                    "the trace file to write")(
      "chunk-bytes", po::value<size_t>()->default_value(traces::TraceBuilder::kDefaultChunkBytes),
      "encoded bytes per chunk (frame)");
  po::options_description all;
  all.add(visible).add_options()("text", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("text", 1);
  const auto parsed = parse_options("import", args, all, positional);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    fmt::print("{}\n", fmt::streamed(visible));
    return kExitOk;
  }
  if (!vm.count("text") || !vm.count("output")) {
    fmt::print(stderr, "mtreplay import: need TEXT and -o TRACE (try mtreplay import --help)\n");
    return kExitBadInput;
  }
  const std::string text_path = vm["text"].as<std::string>();
  const std::filesystem::path out = vm["output"].as<std::string>();
  std::ifstream file;
  std::istream* in = &std::cin;
  if (text_path != "-") {
    file.open(text_path);
    if (!file) {
      fmt::print(stderr, "mtreplay import: cannot open {}\n", text_path);
      return kExitBadInput;
    }
    in = &file;
  }
  try {
    const uint64_t events = traces::import_text(*in, text_path == "-" ? "<stdin>" : text_path, out,
                                                vm["chunk-bytes"].as<size_t>());
    fmt::print(stderr, "mtreplay import: wrote {} events to {}\n", events, out.string());
  } catch (const traces::TextError& e) {
    std::error_code ignored;
    std::filesystem::remove(out, ignored);  // never leave a half-built trace behind
    fmt::print(stderr, "mtreplay import: {}\n", e.what());
    return kExitBadInput;
  } catch (const traces::TraceError& e) {
    fmt::print(stderr, "mtreplay import: {}\n", e.what());
    return kExitBadInput;
  }
  return kExitOk;
}
