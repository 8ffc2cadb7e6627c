#include "huge_table.hpp"

#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::dsmalloc {

std::size_t HugeTable::find(std::uintptr_t p) const noexcept {
  if (!capacity_) return 0;
  for (std::size_t i = slot_of(p);; i = (i + 1) & (capacity_ - 1)) {
    if (entries_[i].start == p) return entries_[i].bytes;
    if (!entries_[i].start) return 0;
  }
}

bool HugeTable::insert(std::uintptr_t p, std::size_t bytes) noexcept {
  if ((count_ + 1) * 2 > capacity_ && !grow()) return false;
  std::size_t i = slot_of(p);
  while (entries_[i].start) i = (i + 1) & (capacity_ - 1);
  entries_[i] = {p, bytes};
  ++count_;
  return true;
}

void HugeTable::erase(std::uintptr_t p) noexcept {
  std::size_t mask = capacity_ - 1;
  std::size_t hole = slot_of(p);
  while (entries_[hole].start != p) hole = (hole + 1) & mask;
  // Backward shift: pull later entries of the probe run into the hole, so lookups never
  // need tombstones.
  for (std::size_t i = (hole + 1) & mask; entries_[i].start; i = (i + 1) & mask) {
    std::size_t home = slot_of(entries_[i].start);
    bool movable = hole <= i ? (home <= hole || home > i) : (home <= hole && home > i);
    if (movable) {
      entries_[hole] = entries_[i];
      hole = i;
    }
  }
  entries_[hole] = {0, 0};
  --count_;
}

bool HugeTable::grow() noexcept {
  std::size_t capacity = capacity_ ? capacity_ * 2 : 256;
  auto* fresh = static_cast<Entry*>(alloc::map_pages(capacity * sizeof(Entry)));
  if (!fresh) return false;
  Entry* old = entries_;
  std::size_t old_capacity = capacity_;
  entries_ = fresh;
  capacity_ = capacity;
  count_ = 0;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].start) insert(old[i].start, old[i].bytes);
  }
  if (old) alloc::unmap_pages(old, old_capacity * sizeof(Entry));
  return true;
}

}  // namespace mtreplay::dsmalloc
