// A per-block byte pattern: written when a block is made, checked before it is freed or
// after it moved (realloc), so that an allocator that hands out overlapping blocks or
// loses contents is caught at the block that shows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>

namespace mtreplay::alloctest {

// Word w of the block tagged `tag`. Cheap, and differs between neighbouring blocks.
inline std::uint64_t pattern_word(std::uint64_t tag, std::size_t w) {
  const std::uint64_t mixed = (tag + 1) * 0x9E3779B97F4A7C15ull ^ (w * 0xBF58476D1CE4E5B9ull);
  return mixed ^ (mixed >> 29);
}

// The pattern is laid out in whole words (memcpy keeps it alignment-agnostic) so that
// filling and checking megabytes stays cheap next to the allocator calls under test.
inline void fill_pattern(void* block, std::size_t size, std::uint64_t tag) {
  auto* bytes = static_cast<unsigned char*>(block);
  std::size_t w = 0;
  for (; (w + 1) * 8 <= size; ++w) {
    const std::uint64_t word = pattern_word(tag, w);
    std::memcpy(bytes + w * 8, &word, 8);
  }
  const std::uint64_t last = pattern_word(tag, w);
  std::memcpy(bytes + w * 8, &last, size - w * 8);
}

// Offset of the first byte that differs from the pattern, or `size` when all match.
inline std::size_t first_pattern_mismatch(const void* block, std::size_t size,
                                          std::uint64_t tag) {
  const auto* bytes = static_cast<const unsigned char*>(block);
  for (std::size_t w = 0; w * 8 < size; ++w) {
    const std::size_t length = std::min<std::size_t>(8, size - w * 8);
    const std::uint64_t word = pattern_word(tag, w);
    if (std::memcmp(bytes + w * 8, &word, length) != 0) {
      for (std::size_t i = 0; i < length; ++i) {
        if (bytes[w * 8 + i] != reinterpret_cast<const unsigned char*>(&word)[i]) return w * 8 + i;
      }
    }
  }
  return size;
}

inline bool is_aligned(const void* block, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(block) % alignment == 0;
}

}  // namespace mtreplay::alloctest
