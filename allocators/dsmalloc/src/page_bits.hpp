#pragma once
// Bit-range helpers over the chunks' page bitmaps (bit i = page i).
#include <cstddef>
#include <cstdint>

namespace mtreplay::dsmalloc {

// SWAR population count: keeps libgcc's __popcountdi2 (and libgcc_s) out of the .so
// for targets without POPCNT.
inline unsigned popcount64(std::uint64_t x) noexcept {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<unsigned>((x * 0x0101010101010101ull) >> 56);
}

inline bool bit_at(const std::uint64_t* map, std::size_t i) noexcept {
  return (map[i >> 6] >> (i & 63)) & 1;
}

inline std::uint64_t word_mask(std::size_t from, std::size_t to, std::size_t word) noexcept {
  std::size_t lo = from > word * 64 ? from - word * 64 : 0;
  std::size_t hi = to < (word + 1) * 64 ? to - word * 64 : 64;
  std::uint64_t upper = hi == 64 ? ~0ull : ((1ull << hi) - 1);
  return upper & (~0ull << lo);
}

inline void set_bits(std::uint64_t* map, std::size_t from, std::size_t count) noexcept {
  for (std::size_t w = from >> 6; w * 64 < from + count; ++w)
    map[w] |= word_mask(from, from + count, w);
}

inline void clear_bits(std::uint64_t* map, std::size_t from, std::size_t count) noexcept {
  for (std::size_t w = from >> 6; w * 64 < from + count; ++w)
    map[w] &= ~word_mask(from, from + count, w);
}

inline std::size_t count_bits(const std::uint64_t* map, std::size_t from,
                              std::size_t count) noexcept {
  std::size_t n = 0;
  for (std::size_t w = from >> 6; w * 64 < from + count; ++w) {
    n += popcount64(map[w] & word_mask(from, from + count, w));
  }
  return n;
}

// First index in [from, limit) whose bit equals `value`, or limit.
inline std::size_t next_bit(const std::uint64_t* map, std::size_t from, std::size_t limit,
                            bool value) noexcept {
  while (from < limit) {
    std::uint64_t word = map[from >> 6];
    if (!value) word = ~word;
    word &= ~0ull << (from & 63);
    if (word) {
      std::size_t i = (from & ~std::size_t{63}) + __builtin_ctzll(word);
      return i < limit ? i : limit;
    }
    from = (from | 63) + 1;
  }
  return limit;
}

}  // namespace mtreplay::dsmalloc
