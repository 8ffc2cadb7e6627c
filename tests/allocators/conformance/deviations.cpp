#include "deviations.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mtreplay::alloctest {

bool known_deviation(std::string_view key) {
  const char* listed = std::getenv("MTREPLAY_KNOWN_DEVIATIONS");
  if (listed == nullptr) return false;
  std::string_view rest{listed};
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    if (rest.substr(0, comma) == key) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

void note_deviation(std::string_view key, std::string_view what) {
  fmt::print("[   NOTE   ] known deviation {}: {}\n", key, what);
}

std::size_t required_alignment(std::size_t size) {
  if (size >= 16 || !known_deviation("small-block-alignment")) return 16;
  return std::bit_floor(size == 0 ? std::size_t{1} : size);
}

void expect_errno(int actual, int wanted, std::string_view call) {
  if (actual == wanted) return;
  if (known_deviation("errno-on-failure")) {
    note_deviation("errno-on-failure",
                   fmt::format("{} failed with errno {} ({}), not {}", call, actual,
                               std::strerror(actual), std::strerror(wanted)));
    return;
  }
  ADD_FAILURE() << call << " failed with errno " << actual << " (" << std::strerror(actual)
                << "), expected " << wanted << " (" << std::strerror(wanted) << ")";
}

}  // namespace mtreplay::alloctest
