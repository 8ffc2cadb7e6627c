// Decimal digits without the C library: the recorder formats pids and counts where it
// may neither allocate nor take stdio's locks (exec, exit, a forked child).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::recorder {

inline constexpr size_t kMaxDecimalDigits = 20;  // UINT64_MAX

// Writes v's digits at out (at most kMaxDecimalDigits, no terminator); returns the end.
inline char* write_decimal(char* out, uint64_t v) {
  char digits[kMaxDecimalDigits];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) *out++ = digits[--n];
  return out;
}

}  // namespace mtreplay::recorder
