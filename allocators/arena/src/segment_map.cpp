#include "segment_map.hpp"

#include "meta_pool.hpp"

namespace arena {

SegmentMap::Leaf* SegmentMap::leaf_for(std::uintptr_t slot, bool create) {
  std::atomic<Leaf*>& root = roots_[slot >> kLeafBits];
  Leaf* leaf = root.load(std::memory_order_acquire);
  if (leaf != nullptr || !create) return leaf;
  // Leaves come from the metadata pool (zeroed, never freed); losing a race wastes one.
  auto* fresh = static_cast<Leaf*>(meta_pool().allocate(sizeof(Leaf)));
  if (fresh == nullptr) return nullptr;
  if (root.compare_exchange_strong(leaf, fresh, std::memory_order_acq_rel)) return fresh;
  return leaf;
}

bool SegmentMap::insert(std::uintptr_t base, Segment* segment) {
  const std::uintptr_t slot = base >> kSegmentShift;
  Leaf* leaf = leaf_for(slot, true);
  if (leaf == nullptr) return false;
  leaf->slots[slot & (kLeafSlots - 1)].store(segment, std::memory_order_release);
  return true;
}

void SegmentMap::erase(std::uintptr_t base) {
  const std::uintptr_t slot = base >> kSegmentShift;
  if (Leaf* leaf = leaf_for(slot, false))
    leaf->slots[slot & (kLeafSlots - 1)].store(nullptr, std::memory_order_release);
}

namespace {
constinit SegmentMap the_map;
}

constinit Span* slab_page_map[kSlabMapSlots] = {};

SegmentMap& segment_map() {
  return the_map;
}

}  // namespace arena
