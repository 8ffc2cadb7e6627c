#pragma once
// Memory for dsmalloc's own metadata (slab descriptors, chunk descriptors, radix
// leaves), kept in 256 KiB mappings of its own, away from user blocks. Sizes are
// rounded to 8 bytes (16 at least); freed pieces are reused through a free list per
// size. Every piece also has a 32-bit handle (mapping number, offset / 8), which is
// what the chunks' page tables store: half the size of a pointer. Metadata is small and
// recycled, so the pool never unmaps. Callers hold the heap lock.
#include <cstddef>
#include <cstdint>

#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::dsmalloc {

using MetaHandle = std::uint32_t;  // never 0; below 2^31

class MetaPool {
 public:
  static constexpr std::size_t kMaxPiece = 16384;

  void* allocate(std::size_t bytes, MetaHandle* handle = nullptr) noexcept {
    bytes = piece_bytes(bytes);
    std::size_t list = bytes / 8;
    void* p;
    MetaHandle h;
    if (FreePiece* piece = free_[list]) {
      free_[list] = piece->next;
      h = piece->handle;
      p = piece;
    } else {
      if (kMappingBytes - bump_offset_ < bytes || !mapping_count_) {
        if (mapping_count_ + 1 >= kMaxMappings) return nullptr;
        auto* fresh = static_cast<char*>(alloc::map_pages(kMappingBytes));
        if (!fresh) return nullptr;
        mappings_[++mapping_count_] = fresh;  // numbered from 1: handle 0 means none
        bump_offset_ = 0;
      }
      p = mappings_[mapping_count_] + bump_offset_;
      h = static_cast<MetaHandle>(mapping_count_ << kOffsetBits | bump_offset_ / 8);
      bump_offset_ += bytes;
    }
    in_use_ += bytes;
    if (handle) *handle = h;
    return p;
  }

  void release(void* p, std::size_t bytes, MetaHandle handle) noexcept {
    bytes = piece_bytes(bytes);
    auto* piece = static_cast<FreePiece*>(p);
    piece->next = free_[bytes / 8];
    piece->handle = handle;
    free_[bytes / 8] = piece;
    in_use_ -= bytes;
  }

  void* resolve(MetaHandle h) const noexcept {
    return mappings_[h >> kOffsetBits] + std::size_t{h & ((1u << kOffsetBits) - 1)} * 8;
  }

  // Pieces in use, plus the resident part of the mapping table.
  std::size_t bytes_in_use() const noexcept {
    return in_use_ + alloc::round_up((mapping_count_ + 1) * sizeof(char*), alloc::kPageSize);
  }

 private:
  static constexpr std::size_t kMappingBytes = std::size_t{256} << 10;
  static constexpr unsigned kOffsetBits = 15;  // 256 KiB / 8
  static constexpr std::size_t kMaxMappings = std::size_t{1} << 16;
  struct FreePiece {
    FreePiece* next;
    MetaHandle handle;
  };
  static std::size_t piece_bytes(std::size_t bytes) noexcept {
    bytes = alloc::round_up(bytes, 8);
    return bytes < sizeof(FreePiece) ? sizeof(FreePiece) : bytes;
  }

  FreePiece* free_[kMaxPiece / 8 + 1] = {};
  char* mappings_[kMaxMappings] = {};
  std::size_t mapping_count_ = 0;
  std::size_t bump_offset_ = 0;
  std::size_t in_use_ = 0;
};

}  // namespace mtreplay::dsmalloc
