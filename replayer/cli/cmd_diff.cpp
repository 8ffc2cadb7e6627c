// Placeholder until the owning component lands its implementation.
#include <fmt/core.h>

#include "commands.hpp"
#include "exit_codes.hpp"

int mtreplay::cli::run_diff(Args) {
  fmt::print(stderr, "mtreplay diff: not built yet\n");
  return kExitInternal;
}
