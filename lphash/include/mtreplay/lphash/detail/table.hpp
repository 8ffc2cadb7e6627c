// One flat open-addressing table of lphash: a header followed by 16-byte slots, all in
// one mapping. See pointer_map.hpp for the protocol the slot states implement.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "mtreplay/lphash/detail/mapping.hpp"

namespace mtreplay::lphash::detail {

// Slot key states. Real keys are everything else (recorded addresses: never 0, never ~0).
inline constexpr std::uint64_t kEmptyKey = ~std::uint64_t{0};  // never claimed
inline constexpr std::uint64_t kDeadKey = 0;  // frozen while empty by a migration, or released

// Slot word states. A live word is the bitwise complement of the value, so that the two
// reserved states are the user values ~0 and ~1 (never a user-space pointer).
inline constexpr std::uint64_t kMovedWord = 0;   // frozen: the key lives in `next` now
inline constexpr std::uint64_t kAbsentWord = 1;  // key claimed, no value (erased or not yet set)

// Zero means "go to the next table" for both fields: a released table reads as all
// zeros, so a thread still probing it after its release is redirected, never misled.
static_assert(kDeadKey == 0 && kMovedWord == 0);

struct Slot {
  std::atomic<std::uint64_t> key;
  std::atomic<std::uint64_t> word;
};
static_assert(sizeof(Slot) == 16);

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kMaxShards = 64;
inline constexpr std::size_t kChunkSlots = 4096;  // migration work unit
inline constexpr std::size_t kMinCapacity = 64;

struct alignas(kCacheLine) ShardCounter {
  std::atomic<std::uint64_t> claimed{0};
};

// Fibonacci hashing: one multiply, and the top bits depend on every key bit, so the
// zero low bits of aligned addresses cost nothing.
inline constexpr std::uint64_t kGoldenRatio = 0x9E3779B97F4A7C15ull;
inline std::uint64_t mix(std::uint64_t key) {
  return key * kGoldenRatio;
}

enum class MigrationState : std::uint32_t { kIdle, kAllocating, kMigrating };

struct Table {
  // Read-only once the table is published.
  Slot* slots;
  std::uint64_t mask;
  unsigned shift;  // slot index = mix(key) >> shift
  unsigned shard_shift;
  std::uint64_t shard_limit;  // claims per shard that start a migration (3/4 full)
  std::uint64_t chunks;
  std::size_t header_bytes;
  std::size_t total_bytes;
  Table* prev;  // the table this one is being filled from, or null

  alignas(kCacheLine) std::atomic<Table*> next{nullptr};
  std::atomic<MigrationState> state{MigrationState::kIdle};
  std::atomic<bool> copy_in_done{true};
  alignas(kCacheLine) std::atomic<std::uint64_t> chunk_cursor{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> chunks_done{0};
  ShardCounter shards[kMaxShards];

  std::uint64_t capacity() const { return mask + 1; }
  std::uint64_t home(std::uint64_t key) const { return mix(key) >> shift; }
  ShardCounter& shard_of(std::uint64_t index) { return shards[index >> shard_shift]; }
  std::uint64_t chunk_slots() const { return std::min<std::uint64_t>(capacity(), kChunkSlots); }

  // A fresh table of `capacity` slots (a power of two >= kMinCapacity), every slot
  // empty. Initialising here, before publication, is what lets zero mean "moved".
  static Table* create(std::uint64_t capacity, Table* prev) {
    const std::size_t header = round_up(sizeof(Table), page_size());
    const std::size_t total = header + round_up(capacity * sizeof(Slot), page_size());
    auto* base = static_cast<std::byte*>(map_zeroed(total));
    Table* t = std::construct_at(reinterpret_cast<Table*>(base));
    t->slots = reinterpret_cast<Slot*>(base + header);
    t->mask = capacity - 1;
    const unsigned log2 = static_cast<unsigned>(std::countr_zero(capacity));
    t->shift = 64 - log2;
    const std::uint64_t shards = std::clamp<std::uint64_t>(capacity / 1024, 1, kMaxShards);
    t->shard_shift = log2 - static_cast<unsigned>(std::countr_zero(shards));
    t->shard_limit = (capacity / shards) * 3 / 4;
    t->chunks = (capacity + kChunkSlots - 1) / kChunkSlots;
    t->header_bytes = header;
    t->total_bytes = total;
    t->prev = prev;
    t->copy_in_done.store(prev == nullptr, std::memory_order_relaxed);
    for (std::uint64_t i = 0; i < capacity; ++i) {
      t->slots[i].key.store(kEmptyKey, std::memory_order_relaxed);
      t->slots[i].word.store(kAbsentWord, std::memory_order_relaxed);
    }
    return t;  // the caller publishes it with a release store
  }

  // After a completed migration nothing in the slots is needed any more; the header
  // (with `next`) stays for threads that still hold a pointer to this table.
  void release_slots() { release_pages(slots, total_bytes - header_bytes); }

  static void destroy(Table* t) {
    const std::size_t total = t->total_bytes;
    std::destroy_at(t);
    unmap(t, total);
  }
};

inline std::uint64_t capacity_for(std::uint64_t live) {
  return std::bit_ceil(std::max<std::uint64_t>(kMinCapacity, live * 2));
}

}  // namespace mtreplay::lphash::detail
