#include "large_blocks.hpp"

#include <time.h>

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

bool LargeBlocks::Shard::grow(Entry* first_table) {
  if (capacity == 0) {
    slots = first_table;
    capacity = kFirstTableSlots;
    return true;
  }
  const std::size_t new_capacity = capacity * 2;  // a power of two
  auto* fresh = static_cast<Entry*>(map_pages(new_capacity * sizeof(Entry)));
  if (fresh == nullptr) return false;
  for (std::size_t i = 0; i < capacity; ++i) {
    if (slots[i].address == 0) continue;
    std::size_t j = slot_of(slots[i].address, new_capacity);
    while (fresh[j].address != 0) j = (j + 1) & (new_capacity - 1);
    fresh[j] = slots[i];
  }
  if (slots != first_table) unmap_pages(slots, capacity * sizeof(Entry));
  slots = fresh;
  capacity = new_capacity;
  return true;
}

bool LargeBlocks::Shard::insert(Entry* first_table, std::uintptr_t address, std::size_t size,
                                bool cached, std::size_t room) {
  if ((used + 1) * 2 > capacity && !grow(first_table)) return false;
  std::size_t i = slot_of(address, capacity);
  while (slots[i].address != 0) i = (i + 1) & (capacity - 1);
  slots[i] = {address, size, room, cached};
  ++used;
  if (!cached) {
    ++live;
    bytes += size;
  }
  return true;
}

// Linear probing without tombstones: shift later entries back into the hole.
void LargeBlocks::Shard::erase(Entry* entry) {
  if (!entry->cached) {
    bytes -= entry->bytes;
    --live;
  }
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
  slots[hole] = {0, 0, 0, false};
}

bool LargeBlocks::record(std::uintptr_t address, std::size_t size, std::size_t room) {
  Shard& shard = shards_[shard_of(address)];
  LockGuard guard(shard.lock);
  return shard.insert(first_table_of(shard), address, size, false, room);
}

void LargeBlocks::forget_and_unmap(std::uintptr_t address, std::size_t size) {
  Shard& shard = shards_[shard_of(address)];
  std::size_t room = 0;
  {
    LockGuard guard(shard.lock);
    if (Entry* e = shard.find(address)) {
      room = e->room;
      shard.erase(e);
    }
  }
  unmap_with_room(reinterpret_cast<void*>(address), size, room);
}

// A mapping of `rounded` bytes; when the kernel refuses, the cache is given back and
// the mapping tried once more. A block the cache may keep gets three times its length
// of room below it, so that once freed it can grow fourfold in place (grow_cached):
// address space only, no memory and no commit charge until used. large_blocks_touched
// (blocks of 5-25 MiB) took 134 k page faults without room, 128-134 k with room for a
// doubling and 110 k with room for a fourfold growth (tcmalloc 119 k; BENCHMARKS.md,
// #14, Session 27). Where address space runs short (RLIMIT_AS), the block goes alone.
void* LargeBlocks::map_fresh(std::size_t rounded, std::size_t alignment, std::size_t* room) {
  *room = alignment <= kPageSize && rounded <= kCacheBytes ? kRoomPerByte * rounded : 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // No huge-page advice (nor 2 MiB alignment): where transparent huge pages are always
    // on, the 2 MiB faults it asked for made blocks written through slower than 4 KiB
    // faults and their time swing (0.88x glibc's against 1.02-1.21x), and a block
    // touched at a byte was charged 2 MiB (BENCHMARKS.md, #14, Session 13).
    void* p = nullptr;
    if (alignment > kPageSize) {
      p = map_aligned(rounded, alignment);
    } else {
      if (*room != 0) p = map_pages_with_room(rounded, *room);
      if (p == nullptr) {
        *room = 0;  // address space is short (RLIMIT_AS): the block alone
        p = map_pages(rounded);
      }
    }
    if (p != nullptr) return p;
    if (!release_cached()) break;
  }
  return nullptr;
}

void LargeBlocks::drop_entry(std::uintptr_t address) {
  Shard& shard = shards_[shard_of(address)];
  LockGuard guard(shard.lock);
  if (Entry* e = shard.find(address)) shard.erase(e);
}

// With cache_lock_ held: files a freed block (its table entry marked cached) in the
// cache, merged with cached neighbours on either side, after dropping what decayed and,
// while over a bound, the oldest. What falls out goes to `evicted` (table entries still
// there: the caller unmaps them with forget_and_unmap once the lock is dropped).
bool LargeBlocks::decayed(const CachedBlock& block, std::uint64_t now) const {
  const std::uint64_t age = now - block.freed_ns;
  const std::uint64_t requests = requests_.load(std::memory_order_relaxed) - block.requests_at_free;
  return age > kCacheDecayNs || (age > kCacheIdleNs && requests * kCacheIdleNs < age);
}

void LargeBlocks::cache_put_locked(std::uintptr_t address, std::size_t size,
                                   const CachedBlock& stamp, std::uint64_t now,
                                   CachedBlock* evicted, std::size_t& evicted_count) {
  auto take_slot = [&](CachedBlock& c) {
    cache_bytes_ -= c.bytes;
    cached_count_.fetch_sub(1, std::memory_order_relaxed);
    c = {};
  };
  bool merged = false;
  for (CachedBlock& c : cache_) {
    if (c.address == 0) continue;
    if (c.address + c.bytes == address) {  // a neighbour below: it absorbs the block
      drop_entry(address);
      address = c.address;
      size += c.bytes;
      take_slot(c);
      merged = true;
    } else if (address + size == c.address) {  // a neighbour above: absorbed
      drop_entry(c.address);
      size += c.bytes;
      take_slot(c);
      merged = true;
    }
  }
  if (merged) {
    Shard& shard = shards_[shard_of(address)];
    LockGuard guard(shard.lock);
    Entry* e = shard.find(address);
    if (e == nullptr) die("large block table: a cached block lost its entry");
    e->bytes = size;
  }
  std::size_t free_slot = kCacheSlots;
  for (std::size_t i = 0; i < kCacheSlots; ++i) {
    CachedBlock& c = cache_[i];
    if (c.address != 0 && decayed(c, now)) {
      evicted[evicted_count++] = c;
      take_slot(c);
    }
    if (c.address == 0 && free_slot == kCacheSlots) free_slot = i;
  }
  if (size > kCacheBytes) {
    evicted[evicted_count++] = {address, size, stamp.freed_ns, stamp.requests_at_free};
    return;
  }
  while (free_slot == kCacheSlots || cache_bytes_ + size > kCacheBytes) {
    std::size_t oldest = kCacheSlots;
    for (std::size_t i = 0; i < kCacheSlots; ++i)
      if (cache_[i].address != 0 &&
          (oldest == kCacheSlots || cache_[i].freed_ns < cache_[oldest].freed_ns))
        oldest = i;
    evicted[evicted_count++] = cache_[oldest];
    take_slot(cache_[oldest]);
    free_slot = oldest;
  }
  cache_[free_slot] = {address, size, stamp.freed_ns, stamp.requests_at_free};
  cache_bytes_ += size;
  cached_count_.fetch_add(1, std::memory_order_relaxed);
}

LargeBlocks::CachedBlock LargeBlocks::take_slot_locked(CachedBlock& slot) {
  const CachedBlock taken = slot;
  slot = {};
  cache_bytes_ -= taken.bytes;
  cached_count_.fetch_sub(1, std::memory_order_relaxed);
  return taken;
}

bool LargeBlocks::cache_tail_locked(const CachedBlock& block, std::size_t head_bytes,
                                    CachedBlock* evicted, std::size_t& evicted_count) {
  const std::uintptr_t tail = block.address + head_bytes;
  const std::size_t tail_bytes = block.bytes - head_bytes;
  {
    Shard& shard = shards_[shard_of(tail)];
    LockGuard shard_guard(shard.lock);
    if (!shard.insert(first_table_of(shard), tail, tail_bytes, true)) return false;
  }
  cache_put_locked(tail, tail_bytes, block, coarse_now_ns(), evicted, evicted_count);
  return true;
}

// A cached block of at least `rounded` bytes, nullptr when none is that long. Best
// fit: the smallest block that is long enough, split when much too long (the tail stays
// cached). A shorter one is not grown by mremap: where the hypervisor shadows the page
// tables (some of this project's machines), a block moved by mremap took 3.7 us a page
// at its next memset (a fresh page 9 us, a page in place 0.1 us), and growing the
// longest made large_blocks_touched 2.1-2.4x tcmalloc's time there, fresh mappings
// 1.07-1.10x (BENCHMARKS.md, #14, Session 20). It may grow in place instead, into the
// room reserved below it (grow_cached).
void* LargeBlocks::reuse(std::size_t rounded, bool* fresh) {
  CachedBlock taken{};
  CachedBlock evicted[kCacheSlots + 2];
  std::size_t evicted_count = 0;
  {
    LockGuard guard(cache_lock_);
    if (cached_count_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::size_t best = kCacheSlots;
    for (std::size_t i = 0; i < kCacheSlots; ++i) {
      const CachedBlock& c = cache_[i];
      if (c.address != 0 && c.bytes >= rounded &&
          (best == kCacheSlots || c.bytes < cache_[best].bytes))
        best = i;
    }
    if (best == kCacheSlots) return nullptr;
    taken = take_slot_locked(cache_[best]);
    const std::size_t slack = ((rounded / 16) + kPageSize - 1) & ~(kPageSize - 1);
    // Split: the tail goes back to the cache (or, without a table entry, stays with the block).
    if (taken.bytes > rounded + slack && cache_tail_locked(taken, rounded, evicted, evicted_count))
      taken.bytes = rounded;
    Shard& shard = shards_[shard_of(taken.address)];
    LockGuard shard_guard(shard.lock);
    mark_live(shard, taken.address, taken.bytes);
  }
  for (std::size_t i = 0; i < evicted_count; ++i)
    forget_and_unmap(evicted[i].address, evicted[i].bytes);
  if (fresh != nullptr) *fresh = false;
  return reinterpret_cast<void*>(taken.address);
}

// No cached block is long enough for `rounded`: the longest one whose room below holds
// what it lacks grows into it (the room's pages made writable, one mprotect), so its
// resident pages serve the request where they are and only the difference is new. A
// fresh mapping instead faults in all of it while the cached blocks stay resident beside
// it; moving a cached block with mremap to where it could grow cost 3.7 us a page at its
// next touch on a host that shadows the page tables (see reuse). nullptr when no cached
// block has the room.
void* LargeBlocks::grow_cached(std::size_t rounded, bool* fresh) {
  LockGuard guard(cache_lock_);
  if (cached_count_.load(std::memory_order_relaxed) == 0) return nullptr;
  CachedBlock* grown = nullptr;
  std::size_t room = 0;
  for (CachedBlock& c : cache_) {
    if (c.address == 0 || (grown != nullptr && c.bytes <= grown->bytes)) continue;
    Shard& shard = shards_[shard_of(c.address)];
    LockGuard shard_guard(shard.lock);
    const Entry* e = shard.find(c.address);
    if (e == nullptr) die("large block table: a cached block lost its entry");
    if (e->room >= rounded - c.bytes) {
      grown = &c;
      room = e->room;
    }
  }
  if (grown == nullptr) return nullptr;
  const std::size_t missing = rounded - grown->bytes;
  const std::uintptr_t start = grown->address - missing;
  if (!open_room(reinterpret_cast<void*>(start), missing)) return nullptr;  // commit limit
  const CachedBlock taken = take_slot_locked(*grown);
  drop_entry(taken.address);
  if (!record(start, rounded, room - missing)) {
    // No table entry for it: the whole mapping goes, and the caller maps afresh.
    unmap_with_room(reinterpret_cast<void*>(start), rounded, room - missing);
    return nullptr;
  }
  if (fresh != nullptr) *fresh = false;
  return reinterpret_cast<void*>(start);
}

void LargeBlocks::mark_live(Shard& shard, std::uintptr_t address, std::size_t size) {
  Entry* e = shard.find(address);
  if (e == nullptr) die("large block table: a cached block lost its entry");
  e->cached = false;
  e->bytes = size;
  ++shard.live;
  shard.bytes += size;
}

void* LargeBlocks::allocate(std::size_t bytes, std::size_t alignment, bool* fresh) {
  const std::size_t rounded = bytes == 0 ? kPageSize : (bytes + kPageSize - 1) & ~(kPageSize - 1);
  if (rounded < bytes) {
    errno = ENOMEM;
    return nullptr;
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
  decay();
  if (alignment <= kPageSize) {
    if (void* p = reuse(rounded, fresh)) return p;
    if (void* p = grow_cached(rounded, fresh)) return p;
  }
  std::size_t room;
  void* p = map_fresh(rounded, alignment, &room);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!record(reinterpret_cast<std::uintptr_t>(p), rounded, room)) {
    unmap_with_room(p, rounded, room);
    errno = ENOMEM;
    return nullptr;
  }
  if (fresh != nullptr) *fresh = true;
  return p;
}

std::size_t LargeBlocks::usable_size(std::uintptr_t address, Found& found) {
  Shard& shard = shards_[shard_of(address)];
  LockGuard guard(shard.lock);
  Entry* e = shard.find(address);
  found = e == nullptr ? Found::kUnknown : e->cached ? Found::kFreed : Found::kLive;
  return found == Found::kLive ? e->bytes : 0;
}

LargeBlocks::Found LargeBlocks::release(std::uintptr_t address) {
  Shard& shard = shards_[shard_of(address)];
  std::size_t size;
  std::size_t room;
  {
    LockGuard guard(shard.lock);
    Entry* e = shard.find(address);
    if (e == nullptr) return Found::kUnknown;
    if (e->cached) return Found::kFreed;
    size = e->bytes;
    room = e->room;
    if (size > kCacheBytes) {
      shard.erase(e);
      e = nullptr;
    } else {
      e->cached = true;
      --shard.live;
      shard.bytes -= size;
    }
  }
  if (size > kCacheBytes) {
    unmap_with_room(reinterpret_cast<void*>(address), size, room);
    return Found::kLive;
  }
  // Into the cache; what falls out is unmapped after the lock is dropped.
  CachedBlock evicted[kCacheSlots + 2];
  std::size_t evicted_count = 0;
  {
    LockGuard guard(cache_lock_);
    const std::uint64_t now = coarse_now_ns();
    const CachedBlock stamp{0, 0, now, requests_.load(std::memory_order_relaxed)};
    cache_put_locked(address, size, stamp, now, evicted, evicted_count);
  }
  for (std::size_t i = 0; i < evicted_count; ++i)
    forget_and_unmap(evicted[i].address, evicted[i].bytes);
  return Found::kLive;
}

void LargeBlocks::decay_slow() {
  const std::uint64_t now = coarse_now_ns();
  CachedBlock evicted[kCacheSlots];
  std::size_t evicted_count = 0;
  {
    LockGuard guard(cache_lock_);
    for (CachedBlock& c : cache_) {
      if (c.address != 0 && decayed(c, now)) {
        evicted[evicted_count++] = c;
        cache_bytes_ -= c.bytes;
        cached_count_.fetch_sub(1, std::memory_order_relaxed);
        c = {};
      }
    }
  }
  for (std::size_t i = 0; i < evicted_count; ++i)
    forget_and_unmap(evicted[i].address, evicted[i].bytes);
}

bool LargeBlocks::release_cached() {
  CachedBlock evicted[kCacheSlots];
  std::size_t evicted_count = 0;
  {
    LockGuard guard(cache_lock_);
    for (CachedBlock& c : cache_) {
      if (c.address != 0) evicted[evicted_count++] = c;
      c = {};
    }
    cache_bytes_ = 0;
    cached_count_.store(0, std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < evicted_count; ++i)
    forget_and_unmap(evicted[i].address, evicted[i].bytes);
  return evicted_count != 0;
}

std::size_t LargeBlocks::cached_bytes() {
  LockGuard guard(cache_lock_);
  return cache_bytes_;
}

// A block that grows takes the cached block that starts where it ends, when that is
// long enough: no system call, and the cached pages (resident, often the tail a split
// left) are used instead of staying beside the grown block. sqlite3's page-cache hash
// table, say, is taken at 1 MiB from a cached 2 MiB block and grown back to 2 MiB by
// realloc: mremap moved it (the tail was in the way) and the 976 KiB tail stayed cached
// and resident at the program's peak.
bool LargeBlocks::take_cached_neighbour(std::uintptr_t start, std::size_t bytes) {
  CachedBlock evicted[kCacheSlots + 2];
  std::size_t evicted_count = 0;
  {
    LockGuard guard(cache_lock_);
    if (cached_count_.load(std::memory_order_relaxed) == 0) return false;
    CachedBlock* found = nullptr;
    for (CachedBlock& c : cache_)
      if (c.address == start && c.bytes >= bytes) found = &c;
    if (found == nullptr) return false;
    const CachedBlock taken = take_slot_locked(*found);
    drop_entry(taken.address);
    // The rest stays cached, or without a table entry is unmapped.
    if (taken.bytes > bytes && !cache_tail_locked(taken, bytes, evicted, evicted_count))
      evicted[evicted_count++] = {taken.address + bytes, taken.bytes - bytes, taken.freed_ns,
                                  taken.requests_at_free};
  }
  for (std::size_t i = 0; i < evicted_count; ++i)
    forget_and_unmap(evicted[i].address, evicted[i].bytes);
  return true;
}

void* LargeBlocks::resize(std::uintptr_t address, std::size_t bytes) {
  const std::size_t rounded = (bytes + kPageSize - 1) & ~(kPageSize - 1);
  if (rounded < bytes) return nullptr;
  Shard& shard = shards_[shard_of(address)];
  std::size_t old_size;
  std::size_t room;
  {
    // Taken out of the table while it is remapped: the caller owns the block, and a
    // concurrent free of it would be the program's bug.
    LockGuard guard(shard.lock);
    Entry* e = shard.find(address);
    if (e == nullptr || e->cached) return nullptr;
    old_size = e->bytes;
    room = e->room;
    if (old_size == rounded) return reinterpret_cast<void*>(address);
    shard.erase(e);
  }
  if (rounded > old_size && take_cached_neighbour(address + old_size, rounded - old_size)) {
    if (!record(address, rounded, room)) die("large block table: out of memory while resizing");
    return reinterpret_cast<void*>(address);
  }
  void* moved = remap_pages(reinterpret_cast<void*>(address), old_size, rounded);
  if (moved == nullptr && release_cached())
    moved = remap_pages(reinterpret_cast<void*>(address), old_size, rounded);
  const auto new_address = moved == nullptr ? address : reinterpret_cast<std::uintptr_t>(moved);
  const std::size_t new_size = moved == nullptr ? old_size : rounded;
  if (new_address != address && room != 0) {
    // Moved away from its room, which is of no use to anyone now.
    unmap_with_room(reinterpret_cast<void*>(address), 0, room);
    room = 0;
  }
  if (!record(new_address, new_size, room)) die("large block table: out of memory while resizing");
  return moved;
}

std::size_t LargeBlocks::count() {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    LockGuard guard(s.lock);
    n += s.live;
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
  cache_lock_.lock();
  for (Shard& s : shards_) s.lock.lock();
}
void LargeBlocks::unlock_all() {
  for (Shard& s : shards_) s.lock.unlock();
  cache_lock_.unlock();
}
void LargeBlocks::reset_locks() {
  for (Shard& s : shards_) s.lock.reset();
  cache_lock_.reset();
}

namespace {
constinit LargeBlocks the_blocks;
}

LargeBlocks& large_blocks() {
  return the_blocks;
}

}  // namespace arena
