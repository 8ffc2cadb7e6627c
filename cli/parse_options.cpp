#include "parse_options.hpp"

#include <fmt/core.h>
#include <fmt/ostream.h>

#include <boost/algorithm/string.hpp>

#include <string>
#include <vector>

#include "exit_codes.hpp"

namespace po = boost::program_options;

std::optional<po::variables_map> mtreplay::cli::parse_options(
    std::string_view command, Args args, const po::options_description& options,
    const po::positional_options_description& positional) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(std::vector<std::string>(args.begin(), args.end()))
                  .options(options)
                  .positional(positional)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "mtreplay {}: {}\n", command, e.what());
    return std::nullopt;
  }
  return vm;
}

mtreplay::cli::TraceCommandLine mtreplay::cli::parse_trace_command(
    std::string_view command, Args args, const po::options_description& visible) {
  po::options_description all;
  all.add(visible).add_options()("trace", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("trace", 1);
  TraceCommandLine line;
  auto parsed = parse_options(command, args, all, positional);
  if (!parsed) {
    line.exit_code = kExitBadInput;
    return line;
  }
  line.options = std::move(*parsed);
  if (line.options.count("help")) {
    fmt::print("{}\n", fmt::streamed(visible));
    line.exit_code = kExitOk;
  } else if (!line.options.count("trace")) {
    fmt::print(stderr, "mtreplay {0}: missing TRACE (try mtreplay {0} --help)\n", command);
    line.exit_code = kExitBadInput;
  } else {
    line.trace = line.options["trace"].as<std::string>();
  }
  return line;
}

std::vector<std::string> mtreplay::cli::split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::vector<std::string> parts;
    boost::split(parts, v, boost::is_any_of(","));
    for (auto& p : parts)
      if (!p.empty()) out.push_back(p);
  }
  return out;
}
