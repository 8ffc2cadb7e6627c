// Placeholder until the owning component lands its implementation.
#include <fmt/core.h>

#include "commands.hpp"
#include "exit_codes.hpp"

int mtreplay::cli::run_replay(Args) {
  fmt::print(stderr, "mtreplay replay: not built yet\n");
  return kExitInternal;
}
