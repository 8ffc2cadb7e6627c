#include <array>

#include "mtreplay/traces/event.hpp"

namespace mtreplay::traces {
namespace {

// Indexed by Op value; the names are the text form's (FORMAT.md "Text form").
constexpr std::array<std::string_view, kOpCount> kNames = {
    "",
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "thread_start",
    "thread_exit",
    "fork",
    "exec",
    "realloc_begin",
    "touched",
};

}  // namespace

std::string_view op_name(Op op) {
  const auto v = static_cast<uint8_t>(op);
  return v < kOpCount && v != 0 ? kNames[v] : std::string_view("unknown");
}

bool op_from_name(std::string_view name, Op& out) {
  for (uint8_t v = 1; v < kOpCount; ++v) {
    if (kNames[v] == name) {
      out = static_cast<Op>(v);
      return true;
    }
  }
  return false;
}

}  // namespace mtreplay::traces
