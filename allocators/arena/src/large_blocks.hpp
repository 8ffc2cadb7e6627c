// Blocks above kMaxMedium get a mapping each. Their sizes live in a table sharded by
// address, one lock per shard, so that frees of large blocks from many threads do not
// serialise on one lock; the table's storage is mapped, never taken from the heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lock.hpp"

namespace arena {

class LargeBlocks {
 public:
  // nullptr (errno ENOMEM) when the kernel refuses. `alignment` is a power of two.
  void* allocate(std::size_t bytes, std::size_t alignment);
  // Usable bytes of a block, or 0 when `address` is not a live large block.
  std::size_t usable_size(std::uintptr_t address);
  // False when `address` is not a live large block.
  bool release(std::uintptr_t address);
  // Resizes in place or by moving the mapping (no copy); nullptr when it cannot.
  void* resize(std::uintptr_t address, std::size_t bytes);

  std::size_t count();
  std::size_t bytes();
  void lock_all();
  void unlock_all();
  void reset_locks();

 private:
  struct Entry {
    std::uintptr_t address;  // 0 = empty slot
    std::size_t bytes;
  };
  struct Shard {
    Lock lock;
    Entry* slots = nullptr;
    std::size_t capacity = 0;  // a power of two
    std::size_t used = 0;
    std::size_t bytes = 0;
    Entry* find(std::uintptr_t address);
    bool insert(std::uintptr_t address, std::size_t bytes);
    void erase(Entry* entry);
    bool grow();
  };
  static constexpr std::size_t kShards = 64;
  static std::size_t shard_of(std::uintptr_t address);
  static std::size_t slot_of(std::uintptr_t address, std::size_t capacity);
  Shard shards_[kShards];
};

LargeBlocks& large_blocks();

}  // namespace arena
