// Which segment (if any) holds an address, found without a lock: a two-level radix
// map over the 47-bit address space, one slot per 4 MiB segment. Leaves are mapped on
// first use and never freed, so a reader can always follow a pointer it loaded.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "config.hpp"

namespace arena {

struct Segment;
struct Span;

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

// The free fast path's lookup: a direct-mapped table from a page's address to the slab
// that last covered a page with the same low address bits, written when a slab is made
// (mark_slab_pages) and never cleared. One load instead of the chain root -> leaf ->
// segment page table. It is only a guess: a stale entry (the slab went back, its
// descriptor describes other pages now) or one another slab 2 GiB away took over is
// refused by the checks the owner's free makes anyway (the span is this thread's, and
// the address is exactly the start of one of its blocks), and the free then takes the
// exact lookup. It lives in .bss, apart from user memory like every other descriptor
// (4 MiB of address space; a page of it is resident per 2 MiB of slab pages it maps).
// Descriptors are never unmapped, so following a stale entry is always safe.
inline constexpr unsigned kSlabMapBits = 19;
inline constexpr std::size_t kSlabMapSlots = std::size_t{1} << kSlabMapBits;
extern Span* slab_page_map[kSlabMapSlots];

inline Span* slab_map_find(std::uintptr_t address) {
  return __atomic_load_n(&slab_page_map[(address >> kPageShift) & (kSlabMapSlots - 1)],
                         __ATOMIC_RELAXED);
}
inline void slab_map_set(std::uintptr_t page_address, Span* span) {
  __atomic_store_n(&slab_page_map[(page_address >> kPageShift) & (kSlabMapSlots - 1)], span,
                   __ATOMIC_RELAXED);
}

}  // namespace arena
