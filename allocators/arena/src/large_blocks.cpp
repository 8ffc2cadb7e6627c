#include "large_blocks.hpp"

#include <cerrno>

#include "config.hpp"
#include "os.hpp"

namespace arena {

std::size_t LargeBlocks::shard_of(std::uintptr_t address) {
  return ((address >> kPageShift) * 0x9E3779B97F4A7C15ull) >> 58;  // top 6 bits
}

std::size_t LargeBlocks::slot_of(std::uintptr_t address, std::size_t capacity) {
  return ((address >> kPageShift) * 0xD6E8FEB86659FD93ull >> 20) & (capacity - 1);
}

LargeBlocks::Entry* LargeBlocks::Shard::find(std::uintptr_t address) {
  if (capacity == 0) return nullptr;
  for (std::size_t i = slot_of(address, capacity);; i = (i + 1) & (capacity - 1)) {
    if (slots[i].address == address) return &slots[i];
    if (slots[i].address == 0) return nullptr;
  }
}

bool LargeBlocks::Shard::grow() {
  const std::size_t new_capacity = capacity == 0 ? kPageSize / sizeof(Entry) : capacity * 2;
  auto* fresh = static_cast<Entry*>(map_pages(new_capacity * sizeof(Entry)));
  if (fresh == nullptr) return false;
  for (std::size_t i = 0; i < capacity; ++i) {
    if (slots[i].address == 0) continue;
    std::size_t j = slot_of(slots[i].address, new_capacity);
    while (fresh[j].address != 0) j = (j + 1) & (new_capacity - 1);
    fresh[j] = slots[i];
  }
  if (slots != nullptr) unmap_pages(slots, capacity * sizeof(Entry));
  slots = fresh;
  capacity = new_capacity;
  return true;
}

bool LargeBlocks::Shard::insert(std::uintptr_t address, std::size_t size) {
  if ((used + 1) * 2 > capacity && !grow()) return false;
  std::size_t i = slot_of(address, capacity);
  while (slots[i].address != 0) i = (i + 1) & (capacity - 1);
  slots[i] = {address, size};
  ++used;
  bytes += size;
  return true;
}

// Linear probing without tombstones: shift later entries back into the hole.
void LargeBlocks::Shard::erase(Entry* entry) {
  bytes -= entry->bytes;
  --used;
  std::size_t hole = static_cast<std::size_t>(entry - slots);
  for (std::size_t i = (hole + 1) & (capacity - 1); slots[i].address != 0;
       i = (i + 1) & (capacity - 1)) {
    const std::size_t home = slot_of(slots[i].address, capacity);
    // Move slots[i] into the hole unless its home lies cyclically in (hole, i].
    const bool home_after_hole =
        hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (home_after_hole) continue;
    slots[hole] = slots[i];
    hole = i;
  }
  slots[hole] = {0, 0};
}

void* LargeBlocks::allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t rounded = bytes == 0 ? kPageSize : (bytes + kPageSize - 1) & ~(kPageSize - 1);
  if (rounded < bytes) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = alignment <= kPageSize ? map_pages(rounded) : map_aligned(rounded, alignment);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  Shard& shard = shards_[shard_of(address)];
  bool inserted;
  {
    LockGuard guard(shard.lock);
    inserted = shard.insert(address, rounded);
  }
  if (!inserted) {
    unmap_pages(p, rounded);
    errno = ENOMEM;
    return nullptr;
  }
  return p;
}

std::size_t LargeBlocks::usable_size(std::uintptr_t address) {
  Shard& shard = shards_[shard_of(address)];
  LockGuard guard(shard.lock);
  Entry* e = shard.find(address);
  return e == nullptr ? 0 : e->bytes;
}

bool LargeBlocks::release(std::uintptr_t address) {
  Shard& shard = shards_[shard_of(address)];
  std::size_t size;
  {
    LockGuard guard(shard.lock);
    Entry* e = shard.find(address);
    if (e == nullptr) return false;
    size = e->bytes;
    shard.erase(e);
  }
  unmap_pages(reinterpret_cast<void*>(address), size);
  return true;
}

void* LargeBlocks::resize(std::uintptr_t address, std::size_t bytes) {
  const std::size_t rounded = (bytes + kPageSize - 1) & ~(kPageSize - 1);
  if (rounded < bytes) return nullptr;
  Shard& shard = shards_[shard_of(address)];
  std::size_t old_size;
  {
    // Taken out of the table while it is remapped: the caller owns the block, and a
    // concurrent free of it would be the program's bug.
    LockGuard guard(shard.lock);
    Entry* e = shard.find(address);
    if (e == nullptr) return nullptr;
    old_size = e->bytes;
    if (old_size == rounded) return reinterpret_cast<void*>(address);
    shard.erase(e);
  }
  void* moved = remap_pages(reinterpret_cast<void*>(address), old_size, rounded);
  const auto new_address = moved == nullptr ? address : reinterpret_cast<std::uintptr_t>(moved);
  const std::size_t new_size = moved == nullptr ? old_size : rounded;
  Shard& target = shards_[shard_of(new_address)];
  bool inserted;
  {
    LockGuard guard(target.lock);
    inserted = target.insert(new_address, new_size);
  }
  if (!inserted) die("large block table: out of memory while resizing");
  return moved;
}

std::size_t LargeBlocks::count() {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    LockGuard guard(s.lock);
    n += s.used;
  }
  return n;
}

std::size_t LargeBlocks::bytes() {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    LockGuard guard(s.lock);
    n += s.bytes;
  }
  return n;
}

void LargeBlocks::lock_all() {
  for (Shard& s : shards_) s.lock.lock();
}
void LargeBlocks::unlock_all() {
  for (Shard& s : shards_) s.lock.unlock();
}
void LargeBlocks::reset_locks() {
  for (Shard& s : shards_) s.lock.reset();
}

namespace {
constinit LargeBlocks the_blocks;
}

LargeBlocks& large_blocks() {
  return the_blocks;
}

}  // namespace arena
