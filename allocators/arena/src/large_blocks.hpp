// Blocks above kMaxMedium get a mapping each. Their sizes live in a table sharded by
// address, one lock per shard, so that frees of large blocks from many threads do not
// serialise on one lock; the table's storage is in the object or mapped, never taken
// from the heap.
//
// Freed large blocks are not unmapped at once: a few are kept in a small cache (their
// table entries stay, marked free, so a second free of one is still a double free) and
// the next large request takes the best fitting one, cutting its tail off, so a program
// that keeps replacing multi-MiB buffers reuses resident pages instead of paying a map,
// a page fault per page and an unmap per block. A request longer than every cached
// block grows one of them downwards into address space reserved below it when it was
// mapped (its room): only the pages it lacks are new. The cache is bounded (kCacheSlots
// blocks, kCacheBytes bytes), decays (a block unused for kCacheDecayNs is unmapped at
// the next call that looks, sooner when large requests have stopped coming: see
// kCacheIdleNs), and is emptied under pressure: when a mapping fails, and on
// malloc_trim/arena_trim.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lock.hpp"

namespace arena {

class LargeBlocks {
 public:
  // large_blocks_touched (20 live blocks of 5-25 MiB, each written through) refaulted
  // 188 k pages with 16 blocks and 128 MiB, 1.13x tcmalloc's time; with 24 and 192 MiB
  // 120 k as tcmalloc does, 1.01x, its peak RSS 0.94x glibc's. 16 blocks and 192 MiB:
  // 137 k, the split tails took the slots (BENCHMARKS.md, #14, Session 17).
  static constexpr std::size_t kCacheSlots = 24;
  static constexpr std::size_t kCacheBytes = std::size_t{192} << 20;
  static constexpr std::uint64_t kCacheDecayNs = 1'000'000'000;
  // A block is kept that long only while large requests keep coming, each a chance to
  // reuse it: one older than kCacheIdleNs goes once fewer than one large request per
  // kCacheIdleNs has come since it was freed. A program that frees a big buffer and
  // moves on to other work kept it resident at its peak: python3 loading a 10 MB JSON
  // file frees the file's bytes and builds its objects for the next 0.4 s, peak RSS 1.09x
  // glibc's (which unmaps it at once), 1.00x with this. A plain 100 ms decay made
  // large_blocks_touched (a replacement every 20 ms or so, a block waiting longer for one
  // it fits) refault 136 k pages instead of 110 k; at least 8 requests in 100 ms, 119 k
  // (BENCHMARKS.md, #12, Session 45).
  static constexpr std::uint64_t kCacheIdleNs = 100'000'000;
  // Address space reserved below a fresh block the cache may keep, per byte of it.
  static constexpr std::size_t kRoomPerByte = 3;

  // nullptr (errno ENOMEM) when the kernel refuses. `alignment` is a power of two.
  // `*fresh` says whether the block is a new mapping (reads as zero) or a reused one.
  void* allocate(std::size_t bytes, std::size_t alignment, bool* fresh = nullptr);
  enum class Found { kLive, kFreed, kUnknown };
  // Usable bytes of a live block; `found` tells a freed (cached) block from a foreign one.
  std::size_t usable_size(std::uintptr_t address, Found& found);
  // kLive when the block was live and is now freed.
  Found release(std::uintptr_t address);
  // Resizes in place or by moving the mapping (no copy); nullptr when it cannot.
  void* resize(std::uintptr_t address, std::size_t bytes);

  // Unmaps every cached block (pressure, trim); true when there was any.
  bool release_cached();
  // Unmaps the cached blocks unused for kCacheDecayNs. Cheap when the cache is empty.
  void decay() {
    if (cached_count_.load(std::memory_order_relaxed) != 0) decay_slow();
  }

  std::size_t count();
  std::size_t bytes();
  std::size_t cached_count() { return cached_count_.load(std::memory_order_relaxed); }
  std::size_t cached_bytes();
  void lock_all();
  void unlock_all();
  void reset_locks();

 private:
  struct Entry {
    std::uintptr_t address;  // 0 = empty slot
    std::size_t bytes;
    // Address space reserved just below the block, part of its mapping (see grow_cached).
    std::size_t room;
    bool cached;  // freed, kept mapped in the cache
  };
  // A shard's first table is in the object (.bss: resident only once used); bigger ones
  // are mapped. Mapped one by one, the first tables took 64 of the 150 mmap calls of
  // large_blocks' 420 replacements, and 64 mappings of their own. The shards' heads lie
  // together, apart from the tables: the fork handlers and the stats read every head,
  // and with each beside its 4 KiB table a program's first fork, malloc_stats or
  // mallinfo2 made all 64 tables resident (256 KiB; a read of an untouched page of
  // .bss counts in the RSS as a write does).
  static constexpr std::size_t kFirstTableSlots = 128;
  struct alignas(64) Shard {
    Lock lock;
    Entry* slots = nullptr;
    std::size_t capacity = 0;  // a power of two
    std::size_t used = 0;      // entries, cached ones included
    std::size_t bytes = 0;     // of live blocks
    std::size_t live = 0;
    Entry* find(std::uintptr_t address);
    // `first_table`: the shard's own (first_tables_), taken when the shard is empty.
    bool insert(Entry* first_table, std::uintptr_t address, std::size_t bytes, bool cached = false,
                std::size_t room = 0);
    void erase(Entry* entry);
    bool grow(Entry* first_table);
  };
  struct CachedBlock {
    std::uintptr_t address;  // 0 = empty
    std::size_t bytes;
    std::uint64_t freed_ns;
    std::uint64_t requests_at_free;  // requests_ when it was freed
  };
  // Unused for kCacheDecayNs, or for kCacheIdleNs while few large requests came.
  bool decayed(const CachedBlock& block, std::uint64_t now) const;
  static constexpr std::size_t kShards = 64;
  static std::size_t shard_of(std::uintptr_t address);
  static std::size_t slot_of(std::uintptr_t address, std::size_t capacity);
  // A fresh mapping; `*room` is set to the address space reserved below it.
  void* map_fresh(std::size_t rounded, std::size_t alignment, std::size_t* room);
  void* reuse(std::size_t rounded, bool* fresh);
  void* grow_cached(std::size_t rounded, bool* fresh);
  bool record(std::uintptr_t address, std::size_t bytes, std::size_t room = 0);
  // Drops a block from the table and unmaps it with its room (it is in no cache slot any
  // more).
  void forget_and_unmap(std::uintptr_t address, std::size_t bytes);
  void decay_slow();
  // Takes `bytes` from the cached block starting at `start` out of the cache (the rest
  // stays cached); false when no cached block starts there or it is too short.
  bool take_cached_neighbour(std::uintptr_t start, std::size_t bytes);
  void drop_entry(std::uintptr_t address);
  void mark_live(Shard& shard, std::uintptr_t address, std::size_t size);
  // `stamp`: the freed_ns and requests_at_free the block is cached with.
  void cache_put_locked(std::uintptr_t address, std::size_t size, const CachedBlock& stamp,
                        std::uint64_t now, CachedBlock* evicted, std::size_t& evicted_count);
  // Under cache_lock_: empties `slot` and returns the block it held.
  CachedBlock take_slot_locked(CachedBlock& slot);
  // Under cache_lock_: caches `block`'s bytes past `head_bytes` as a block of their own;
  // false when the table has no room for its entry (nothing changed).
  bool cache_tail_locked(const CachedBlock& block, std::size_t head_bytes, CachedBlock* evicted,
                         std::size_t& evicted_count);

  Shard shards_[kShards];
  Entry first_tables_[kShards][kFirstTableSlots] = {};
  Entry* first_table_of(const Shard& shard) { return first_tables_[&shard - shards_]; }
  // Lock order: cache_lock_, then a shard lock (the table is updated under both).
  Lock cache_lock_;
  CachedBlock cache_[kCacheSlots] = {};
  std::size_t cache_bytes_ = 0;
  std::atomic<std::size_t> cached_count_{0};
  std::atomic<std::uint64_t> requests_{0};  // large allocations so far
};

LargeBlocks& large_blocks();

}  // namespace arena
