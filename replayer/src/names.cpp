#include "mtreplay/replay/plan_format.hpp"
#include "mtreplay/replay/results_region.hpp"

namespace mtreplay::replay {

const char* plan_kind_name(PlanKind kind) {
  static constexpr const char* kNames[kKinds] = {
      "skip",     "malloc",         "calloc",        "realloc", "reallocarray", "free",
      "memalign", "posix_memalign", "aligned_alloc", "valloc",  "pvalloc",      "usable_size"};
  auto index = static_cast<size_t>(kind);
  return index < kKinds ? kNames[index] : "?";
}

const char* emulated_call_name(uint32_t bit) {
  static constexpr const char* kNames[kEmuCount] = {
      "calloc", "reallocarray",  "memalign", "posix_memalign",
      "aligned_alloc", "valloc", "pvalloc",  "malloc_usable_size"};
  return bit < kEmuCount ? kNames[bit] : "?";
}

}  // namespace mtreplay::replay
