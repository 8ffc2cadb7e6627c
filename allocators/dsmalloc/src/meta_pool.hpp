#pragma once
// Memory for dsmalloc's own metadata (slab descriptors, chunk page tables), kept in
// mappings of its own, away from user blocks. Sizes are rounded to 8 bytes; freed
// pieces are reused through a free list per size. Metadata is small and recycled, so
// the pool never unmaps. Callers hold the heap lock.
#include <cstddef>
#include <cstdint>

#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::dsmalloc {

class MetaPool {
 public:
  static constexpr std::size_t kMaxPiece = 16384;

  void* allocate(std::size_t bytes) noexcept {
    bytes = alloc::round_up(bytes, 8);
    std::size_t list = bytes / 8;
    void* p;
    if (FreePiece* piece = free_[list]) {
      free_[list] = piece->next;
      p = piece;
    } else {
      if (static_cast<std::size_t>(bump_end_ - bump_) < bytes) {
        auto* fresh = static_cast<char*>(alloc::map_pages(kMappingBytes));
        if (!fresh) return nullptr;
        mapped_ += kMappingBytes;
        bump_ = fresh;
        bump_end_ = fresh + kMappingBytes;
      }
      p = bump_;
      bump_ += bytes;
    }
    in_use_ += bytes;
    return p;
  }

  void release(void* p, std::size_t bytes) noexcept {
    bytes = alloc::round_up(bytes, 8);
    auto* piece = static_cast<FreePiece*>(p);
    piece->next = free_[bytes / 8];
    free_[bytes / 8] = piece;
    in_use_ -= bytes;
  }

  std::size_t bytes_in_use() const noexcept { return in_use_; }
  std::size_t bytes_mapped() const noexcept { return mapped_; }

 private:
  static constexpr std::size_t kMappingBytes = std::size_t{256} << 10;
  struct FreePiece {
    FreePiece* next;
  };
  FreePiece* free_[kMaxPiece / 8 + 1] = {};
  char* bump_ = nullptr;
  char* bump_end_ = nullptr;
  std::size_t in_use_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace mtreplay::dsmalloc
