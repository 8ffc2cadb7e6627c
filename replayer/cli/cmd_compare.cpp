// Placeholder until the owning component lands its implementation.
#include <fmt/core.h>

#include "commands.hpp"
#include "exit_codes.hpp"

int mtreplay::cli::run_compare(Args) {
  fmt::print(stderr, "mtreplay compare: not built yet\n");
  return kExitInternal;
}
