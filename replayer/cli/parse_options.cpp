#include "parse_options.hpp"

#include <fmt/core.h>

#include <string>
#include <vector>

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
