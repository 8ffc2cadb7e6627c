// Iteration counts: the default run stays short, sanitizer builds shorter, the `long`
// build (LPHASH_LONG_RUN) much longer.
#pragma once

#include <cstdint>
#include <string_view>

namespace lphash_test {

inline constexpr bool kSanitized = std::string_view{MTREPLAY_SANITIZE} != "";

#ifdef LPHASH_LONG_RUN
inline constexpr std::uint64_t kScale = 10;
#else
inline constexpr std::uint64_t kScale = 1;
#endif

// n for a plain build, n/20 under a sanitizer, n*10 in the long run.
inline constexpr std::uint64_t scaled(std::uint64_t n) {
  return kSanitized ? n / 20 * kScale : n * kScale;
}

}  // namespace lphash_test
