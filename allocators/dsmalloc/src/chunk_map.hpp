#pragma once
// Address -> chunk descriptor, for every 4 MiB chunk dsmalloc carves blocks from: a
// two-level radix table over the 47-bit user address space. The root (65536 slots, in
// .bss, so only the pages actually used become resident) points to 4 KiB leaves of 512
// slots, each covering 2 GiB, taken from the metadata pool on first use. Two dependent
// loads, no hashing, no lock of its own (callers hold the heap lock).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "meta_pool.hpp"

namespace mtreplay::dsmalloc {

inline constexpr unsigned kChunkShift = 22;
inline constexpr std::size_t kChunkBytes = std::size_t{1} << kChunkShift;

template <class Meta>
class ChunkMap {
 public:
  Meta* find(std::uintptr_t addr) const noexcept {
    if (addr >> kAddressBits) return nullptr;
    Meta** leaf = root_[addr >> (kChunkShift + kLeafBits)];
    return leaf ? leaf[(addr >> kChunkShift) & (kLeafEntries - 1)] : nullptr;
  }

  bool insert(std::uintptr_t chunk, Meta* meta, MetaPool& pool) noexcept {
    std::size_t root_index = chunk >> (kChunkShift + kLeafBits);
    Meta**& leaf = root_[root_index];
    if (!leaf) {
      leaf = static_cast<Meta**>(pool.allocate(kLeafBytes));
      if (!leaf) return false;
      std::memset(leaf, 0, kLeafBytes);
      std::size_t root_page = root_index * sizeof(Meta**) / kRootPageBytes;
      root_pages_touched_[root_page / 64] |= 1ull << (root_page % 64);
    }
    leaf[(chunk >> kChunkShift) & (kLeafEntries - 1)] = meta;
    return true;
  }

  void erase(std::uintptr_t chunk) noexcept {
    root_[chunk >> (kChunkShift + kLeafBits)][(chunk >> kChunkShift) & (kLeafEntries - 1)] =
        nullptr;
  }

  // Resident root pages (the leaves are counted by the pool that holds them).
  std::size_t bytes() const noexcept {
    std::size_t pages = 0;
    for (std::uint64_t word : root_pages_touched_) {
      for (; word; word &= word - 1) ++pages;
    }
    return pages * kRootPageBytes;
  }

 private:
  static constexpr unsigned kAddressBits = 47;
  static constexpr unsigned kLeafBits = 9;
  static constexpr std::size_t kLeafEntries = std::size_t{1} << kLeafBits;
  static constexpr std::size_t kLeafBytes = kLeafEntries * sizeof(Meta*);
  static constexpr std::size_t kRootEntries = std::size_t{1}
                                              << (kAddressBits - kChunkShift - kLeafBits);
  static constexpr std::size_t kRootPageBytes = 4096;
  static constexpr std::size_t kRootPages = kRootEntries * sizeof(Meta**) / kRootPageBytes;

  Meta** root_[kRootEntries] = {};
  std::uint64_t root_pages_touched_[kRootPages / 64] = {};
};

}  // namespace mtreplay::dsmalloc
