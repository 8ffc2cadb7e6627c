// mtreplay allocators: every backend mtreplay knows, whether it is here, where, which version.
#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/allocators/registry.hpp"
#include "mtreplay/install_layout.hpp"
#include "mtreplay/replay/worker_launch.hpp"
#include "parse_options.hpp"

namespace po = boost::program_options;

int mtreplay::cli::run_allocators(Args args) {
  po::options_description options("mtreplay allocators options");
  options.add_options()("help,h", "show this help")("json", "print JSON instead of a table")(
      "available", "list only the allocators available here");
  const auto parsed = parse_options("allocators", args, options);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    std::ostringstream text;
    text << options;
    fmt::print("usage: mtreplay allocators [--json] [--available]\n\n{}", text.str());
    return kExitOk;
  }
  auto lib_dir = layout::library_dir();
  auto backends = allocators::known_backends(lib_dir);
  if (vm.count("json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : backends) {
      if (vm.count("available") && !b.available) continue;
      list.push_back({{"name", b.name},
                      {"available", b.available},
                      {"path", b.path.string()},
                      {"version", b.version},
                      {"package", b.package},
                      {"description", b.description}});
    }
    fmt::print("{}\n", list.dump(2));
    return kExitOk;
  }
  fmt::print("{:<10} {:<9} {:<24} {}\n", "name", "here", "version", "path");
  for (const auto& b : backends) {
    if (vm.count("available") && !b.available) continue;
    fmt::print("{:<10} {:<9} {:<24} {}\n", b.name, b.available ? "yes" : "no",
               b.version.empty() ? "-" : b.version,
               b.path.empty() ? "(the system malloc, no preload)" : b.path.string());
  }
  return kExitOk;
}
