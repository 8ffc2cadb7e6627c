#include <fmt/core.h>

#include <cstring>
#include <string_view>

#include "commands.hpp"
#include "exit_codes.hpp"

namespace {

struct Command {
  std::string_view name;
  int (*run)(mtreplay::cli::Args);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"record", mtreplay::cli::run_record, "run a program under libmhook.so and write its trace"},
    {"info", mtreplay::cli::run_info,
     "summarise a trace: kinds, threads, sizes, lifetimes, anomalies"},
    {"dump", mtreplay::cli::run_dump, "print a trace as text or JSON lines"},
    {"import", mtreplay::cli::run_import, "build a trace from its text form"},
    {"replay", mtreplay::cli::run_replay, "replay a trace against one allocator"},
    {"allocators", mtreplay::cli::run_allocators, "list the known allocators and which are here"},
    {"compare", mtreplay::cli::run_compare, "replay traces against several allocators and compare"},
    {"diff", mtreplay::cli::run_diff, "compare two result files and flag regressions"},
    {"validate", mtreplay::cli::run_validate,
     "run a program and the replays of its trace under each allocator: fidelity"},
};

void usage(std::FILE* out) {
  fmt::print(out,
             "usage: mtreplay <command> [options]   (mtreplay <command> --help)\n\ncommands:\n");
  for (const auto& c : kCommands) fmt::print(out, "  {:<11} {}\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return mtreplay::kExitBadInput;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return mtreplay::kExitOk;
  }
  if (name == "--version") {
    fmt::print("mtreplay {}\n", MTREPLAY_VERSION);
    return mtreplay::kExitOk;
  }
  for (const auto& c : kCommands) {
    if (c.name == name) return c.run(mtreplay::cli::Args(argv + 2, argc - 2));
  }
  fmt::print(stderr, "mtreplay: unknown command '{}' (try mtreplay --help)\n", name);
  return mtreplay::kExitBadInput;
}
