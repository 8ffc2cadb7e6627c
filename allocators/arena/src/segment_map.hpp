// Which segment (if any) holds an address, found without a lock: a two-level radix
// map over the 47-bit address space, one slot per 4 MiB segment. Leaves are mapped on
// first use and never freed, so a reader can always follow a pointer it loaded.
#pragma once

#include <atomic>
#include <cstdint>

#include "config.hpp"

namespace arena {

struct Segment;

class SegmentMap {
 public:
  Segment* find(std::uintptr_t address) const {
    if ((address >> kAddressBits) != 0) return nullptr;
    const std::uintptr_t slot = address >> kSegmentShift;
    const Leaf* leaf = roots_[slot >> kLeafBits].load(std::memory_order_acquire);
    if (leaf == nullptr) return nullptr;
    return leaf->slots[slot & (kLeafSlots - 1)].load(std::memory_order_acquire);
  }
  // False when the leaf for `base` cannot be mapped.
  bool insert(std::uintptr_t base, Segment* segment);
  void erase(std::uintptr_t base);

 private:
  static constexpr unsigned kSlotBits = kAddressBits - kSegmentShift;
  static constexpr unsigned kLeafBits = 12;
  static constexpr std::size_t kLeafSlots = std::size_t{1} << kLeafBits;
  static constexpr std::size_t kRoots = std::size_t{1} << (kSlotBits - kLeafBits);
  struct Leaf {
    std::atomic<Segment*> slots[kLeafSlots];
  };
  Leaf* leaf_for(std::uintptr_t slot, bool create);
  std::atomic<Leaf*> roots_[kRoots] = {};
};

SegmentMap& segment_map();

}  // namespace arena
