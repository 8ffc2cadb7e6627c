// Request sizes that cross every size-class regime of the usual designs: tiny classes,
// the boundaries just below and above powers of two, page multiples, and sizes past the
// common mmap thresholds (128 KiB in glibc, larger elsewhere).
#pragma once

#include <cstddef>
#include <vector>

namespace mtreplay::alloctest {

inline std::vector<std::size_t> interesting_sizes() {
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 128; ++n) sizes.push_back(n);
  for (std::size_t power = 256; power <= (std::size_t{8} << 20); power *= 2) {
    sizes.push_back(power - 1);
    sizes.push_back(power);
    sizes.push_back(power + 1);
    sizes.push_back(power + power / 2);
  }
  sizes.push_back(4096 * 3);
  sizes.push_back(100'000);
  sizes.push_back(1'000'003);
  return sizes;
}

// Sizes no allocator can satisfy on a 64-bit machine; each must give NULL and ENOMEM.
inline std::vector<std::size_t> impossible_sizes() {
  return {~std::size_t{0},     ~std::size_t{0} - 4096, ~std::size_t{0} / 2 + 1,
          ~std::size_t{0} / 2, std::size_t{1} << 62,   (std::size_t{1} << 48) * 255};
}

}  // namespace mtreplay::alloctest
