#pragma once
// The in-band chunk layout (the classic dlmalloc/ptmalloc one):
//
//   chunk -> | prev_size: size of the previous chunk, valid only while it is free |
//            | size | PREV_INUSE | IS_MMAPPED                                     |
//   mem   -> | user data ... (fd, bk links while the chunk is free and binned)   |
//            | ... the last 8 bytes overlap the next chunk's prev_size field      |
//
// An in-use chunk therefore costs 8 bytes of header; a free one also has a footer
// (the next chunk's prev_size) so that its neighbour can coalesce backwards.
#include <cstddef>
#include <cstdint>

#include "mtreplay/alloc_common/malloc_family.hpp"

namespace mtreplay::ptmalloc {

inline constexpr std::size_t kPrevInUse = 1;
inline constexpr std::size_t kIsMmapped = 2;
inline constexpr std::size_t kFlagMask = 7;
inline constexpr std::size_t kHeaderBytes = 16;  // prev_size + size before mem
inline constexpr std::size_t kMinChunk = 32;     // header + fd + bk

struct Chunk {
  std::size_t prev_size;
  // Read without the arena lock by the thread that owns the block (free, realloc,
  // malloc_usable_size), while a neighbour's free flips its PREV_INUSE bit under the
  // lock: relaxed atomic loads and stores (plain moves on x86-64) keep that race defined.
  // Every write happens under the arena lock, so none is a read-modify-write race.
  std::size_t size_word;
  Chunk* fd;
  Chunk* bk;

  std::size_t size_flags() const noexcept { return __atomic_load_n(&size_word, __ATOMIC_RELAXED); }
  void set_size_flags(std::size_t v) noexcept { __atomic_store_n(&size_word, v, __ATOMIC_RELAXED); }
  void mark_prev_in_use() noexcept { set_size_flags(size_flags() | kPrevInUse); }
  void clear_prev_in_use() noexcept { set_size_flags(size_flags() & ~kPrevInUse); }

  std::size_t size() const noexcept { return size_flags() & ~kFlagMask; }
  bool prev_in_use() const noexcept { return size_flags() & kPrevInUse; }
  bool is_mmapped() const noexcept { return size_flags() & kIsMmapped; }
  void set_size_keep_flags(std::size_t s) noexcept {
    set_size_flags(s | (size_flags() & kFlagMask));
  }

  void* mem() noexcept { return reinterpret_cast<char*>(this) + kHeaderBytes; }
  static Chunk* of(void* mem) noexcept {
    return reinterpret_cast<Chunk*>(static_cast<char*>(mem) - kHeaderBytes);
  }
  Chunk* at_offset(std::size_t off) noexcept {
    return reinterpret_cast<Chunk*>(reinterpret_cast<char*>(this) + off);
  }
  Chunk* next() noexcept { return at_offset(size()); }
  Chunk* prev() noexcept {
    return reinterpret_cast<Chunk*>(reinterpret_cast<char*>(this) - prev_size);
  }
  // In use means: the next chunk says so in its PREV_INUSE bit.
  bool in_use() noexcept { return next()->prev_in_use(); }
};

// The chunk size that serves a request of n bytes (n <= kMaxRequest): n plus the
// 8-byte size field, rounded to 16, at least kMinChunk.
inline constexpr std::size_t chunk_size_for(std::size_t n) noexcept {
  std::size_t s = (n + sizeof(std::size_t) + 15) & ~std::size_t{15};
  return s < kMinChunk ? kMinChunk : s;
}

// Bytes the caller may use in an in-heap chunk (it may also use the next prev_size).
inline constexpr std::size_t usable_in_heap(std::size_t chunk_size) noexcept {
  return chunk_size - sizeof(std::size_t);
}

}  // namespace mtreplay::ptmalloc
