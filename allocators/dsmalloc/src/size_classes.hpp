#pragma once
// Small-block size classes: 16-byte steps up to 256 bytes (where most blocks of real
// programs are, so rounding wastes little), then four classes per power of two up to
// 16 KiB. Each class has a slab shape (pages, slots) chosen so that the slab wastes
// under 1/64 of its pages and amortises its descriptor over enough slots.
#include <array>
#include <cstddef>
#include <cstdint>

namespace mtreplay::dsmalloc {

inline constexpr std::size_t kPageBytes = 4096;
inline constexpr std::size_t kSmallMax = 16384;
inline constexpr std::size_t kClassCount = 40;

struct SizeClass {
  std::uint32_t size;
  std::uint32_t slab_pages;
  std::uint32_t slots;
  std::uint32_t reciprocal;  // ceil(2^32 / size): slot = (offset * reciprocal) >> 32
};

constexpr std::uint32_t class_size(std::size_t i) {
  if (i < 16) return static_cast<std::uint32_t>((i + 1) * 16);
  std::size_t group = (i - 16) / 4, step_index = (i - 16) % 4;
  std::size_t base = std::size_t{256} << group;
  return static_cast<std::uint32_t>(base + (step_index + 1) * (base / 4));
}

// Fewest pages that give enough slots (at most 16 pages) with under 1/64 of the slab
// wasted; the least wasteful shape if none qualifies.
constexpr SizeClass make_class(std::size_t i) {
  std::uint32_t size = class_size(i);
  std::uint32_t min_slots = size <= 128 ? 256 : (size <= 1024 ? 64 : 16);
  std::uint32_t best_pages = 0;
  std::size_t best_waste_ppm = ~std::size_t{0};
  for (std::uint32_t pages = 1; pages <= 16; ++pages) {
    std::size_t bytes = pages * kPageBytes;
    std::size_t slots = bytes / size;
    if (slots < min_slots && pages < 16) continue;
    std::size_t waste_ppm = (bytes % size) * 1000000 / bytes;
    if (waste_ppm * 64 < 1000000) {
      best_pages = pages;
      break;
    }
    if (waste_ppm < best_waste_ppm) {
      best_waste_ppm = waste_ppm;
      best_pages = pages;
    }
  }
  std::uint32_t slots = static_cast<std::uint32_t>(best_pages * kPageBytes / size);
  std::uint32_t reciprocal =
      static_cast<std::uint32_t>(((std::uint64_t{1} << 32) + size - 1) / size);
  return {size, best_pages, slots, reciprocal};
}

constexpr std::array<SizeClass, kClassCount> make_classes() {
  std::array<SizeClass, kClassCount> table{};
  for (std::size_t i = 0; i < kClassCount; ++i) table[i] = make_class(i);
  return table;
}

inline constexpr std::array<SizeClass, kClassCount> kClasses = make_classes();
static_assert(kClasses[kClassCount - 1].size == kSmallMax);
static_assert(kClasses[16].size == 320 && kClasses[19].size == 512);

// The smallest class holding n bytes (n <= kSmallMax).
inline std::size_t class_of(std::size_t n) noexcept {
  if (n <= 256) return n ? (n - 1) >> 4 : 0;
  unsigned log2 = 63 - __builtin_clzll(n - 1);  // 2^log2 < n <= 2^(log2+1)
  std::size_t step = std::size_t{1} << (log2 - 2);
  return 16 + (log2 - 8) * 4 + ((n - 1 - (std::size_t{1} << log2)) / step);
}

inline std::uint32_t slot_of(const SizeClass& c, std::size_t offset) noexcept {
  return static_cast<std::uint32_t>((offset * c.reciprocal) >> 32);
}

// Slots are at most 16 pages / 16 bytes.
inline constexpr std::size_t kMaxSlots = 16 * kPageBytes / 16;

}  // namespace mtreplay::dsmalloc
