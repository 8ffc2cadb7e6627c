// The option parsing every subcommand shares: Boost.Program_options over the
// subcommand's arguments, a parse error reported as one line.
#pragma once

#include <optional>
#include <string_view>

#include <boost/program_options.hpp>

#include "commands.hpp"

namespace mtreplay::cli {

// Parses args against `options` (with `positional`); on an error prints
// "mtreplay COMMAND: what" on stderr and returns nothing (the caller exits 2).
std::optional<boost::program_options::variables_map> parse_options(
    std::string_view command, Args args, const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {});

}  // namespace mtreplay::cli
