// The option parsing every subcommand shares: Boost.Program_options over the
// subcommand's arguments, a parse error reported as one line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "commands.hpp"

namespace mtreplay::cli {

// Parses args against `options` (with `positional`); on an error prints
// "mtreplay COMMAND: what" on stderr and returns nothing (the caller exits 2).
std::optional<boost::program_options::variables_map> parse_options(
    std::string_view command, Args args, const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {});

// The command line of `mtreplay COMMAND TRACE [options]`, where `visible` holds the
// options (with "help,h") and their usage line.
struct TraceCommandLine {
  boost::program_options::variables_map options;
  std::string trace;
  // Set when the command is over before it started: the help was printed (0) or the
  // command line was wrong and a one-line message says why (2).
  std::optional<int> exit_code;
};
TraceCommandLine parse_trace_command(std::string_view command, Args args,
                                     const boost::program_options::options_description& visible);

// Repeatable comma-separated list options (-a glibc,arena -a mimalloc): every
// non-empty item in order.
std::vector<std::string> split_list(const std::vector<std::string>& values);

}  // namespace mtreplay::cli
