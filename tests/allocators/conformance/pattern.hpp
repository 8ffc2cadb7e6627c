// A per-block byte pattern: written when a block is made, checked before it is freed or
// after it moved (realloc), so that an allocator that hands out overlapping blocks or
// loses contents is caught at the block that shows it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::alloctest {

// Byte i of the block tagged `tag`. Cheap, and differs between neighbouring blocks.
inline std::uint8_t pattern_byte(std::uint64_t tag, std::size_t i) {
  const std::uint64_t mixed = (tag * 0x9E3779B97F4A7C15ull) ^ (i * 0xBF58476D1CE4E5B9ull);
  return static_cast<std::uint8_t>((mixed >> 29) ^ (mixed >> 7) ^ i);
}

inline void fill_pattern(void* block, std::size_t size, std::uint64_t tag) {
  auto* bytes = static_cast<std::uint8_t*>(block);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(tag, i);
}

// Offset of the first byte that differs from the pattern, or `size` when all match.
inline std::size_t first_pattern_mismatch(const void* block, std::size_t size, std::uint64_t tag) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != pattern_byte(tag, i)) return i;
  }
  return size;
}

inline bool is_aligned(const void* block, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(block) % alignment == 0;
}

}  // namespace mtreplay::alloctest
