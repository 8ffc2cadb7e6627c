// The pointer model of format version 4 (FORMAT.md "Pointer model"): state that the
// encoder and the decoder of one chunk keep alike, so that a pointer the model can
// predict is written as a small number instead of a delta.
//
// - Live table: every allocation's non-NULL result is inserted (direct-mapped by a
//   hash of the address) with its insertion serial and its size bucket. A free of an
//   address still in the table is written as the serial distance back to that
//   allocation (a program that frees in the order it allocates writes one number,
//   over and over); the entry is removed and the address pushed on its bucket's stack.
// - Freed stacks: per size bucket, the last kDepth addresses freed (LIFO, the oldest
//   dropped). An allocation that returns the top of its size's stack is written as a
//   single byte: allocators hand back the block just freed in the same size class.
//
// The model is only a predictor: a pointer it does not predict is written as a delta,
// as in versions 1-3, so it never changes what a trace says, only how many bytes it
// takes. Header-only and allocation-free: the encoder runs on the recorder's hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mtreplay::traces {

struct PointerModel {
  static constexpr unsigned kTableBits = 10;
  static constexpr uint32_t kTableSize = 1u << kTableBits;
  static constexpr uint32_t kBuckets = 80;
  static constexpr uint32_t kDepth = 4;  // a power of two
  // A free is written as a distance only below this (the decoder's serial ring).
  static constexpr uint32_t kMaxDistance = 4096;  // a power of two

  struct Entry {
    uint64_t ptr;     // 0: empty
    uint32_t serial;  // 1 for the chunk's first insertion
    uint32_t bucket;
  };

  // The size bucket of an allocation of `bytes`: glibc's 16-byte chunk classes up to
  // 1 KiB (64 buckets), then one per power of two, the last one open-ended.
  static uint32_t bucket(uint64_t bytes) {
    if (bytes <= 1016) {
      const uint64_t chunk = (bytes + 8 + 15) & ~uint64_t{15};
      return chunk <= 32 ? 0 : static_cast<uint32_t>(chunk / 16 - 2);
    }
    const unsigned width = 64 - static_cast<unsigned>(__builtin_clzll(bytes));  // >= 10
    const uint32_t b = 64 + (width - 10);
    return b < kBuckets ? b : kBuckets - 1;
  }
  static uint32_t slot(uint64_t ptr) {
    return static_cast<uint32_t>(((ptr >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kTableBits));
  }

  // Forgets everything: a chunk starts with an empty model.
  void clear() {
    std::memset(table, 0, sizeof table);
    std::memset(depth, 0, sizeof depth);
    serial = 0;
  }

  void insert(uint64_t ptr, uint32_t bucket_of_size) {
    ++serial;
    table[slot(ptr)] = {ptr, serial, bucket_of_size};
  }
  // The top of `b`'s stack, 0 when it is empty.
  uint64_t top(uint32_t b) const { return depth[b] ? stack[b][(pos[b] - 1) & (kDepth - 1)] : 0; }
  void pop(uint32_t b) {
    --pos[b];
    --depth[b];
  }
  void push(uint32_t b, uint64_t ptr) {
    stack[b][pos[b] & (kDepth - 1)] = ptr;
    ++pos[b];
    if (depth[b] < kDepth) ++depth[b];
  }
  // A free of the entry in `s`: out of the table, onto its bucket's stack.
  void release(uint32_t s) {
    Entry& e = table[s];
    push(e.bucket, e.ptr);
    e.ptr = 0;
  }

  Entry table[kTableSize];
  uint64_t stack[kBuckets][kDepth];
  uint8_t pos[kBuckets];  // next push position (mod kDepth)
  uint8_t depth[kBuckets];
  uint32_t serial;
};

// The decoder's side: the same model plus, for each of the last kMaxDistance serials,
// the table slot it was inserted into (a distance names a serial, not a slot).
struct PointerModelReader : PointerModel {
  void clear() {
    PointerModel::clear();
    std::memset(slot_of_serial, 0, sizeof slot_of_serial);
  }
  void insert(uint64_t ptr, uint32_t bucket_of_size) {
    PointerModel::insert(ptr, bucket_of_size);
    slot_of_serial[serial & (kMaxDistance - 1)] = static_cast<uint16_t>(slot(ptr));
  }
  // The slot of the entry `distance` insertions back, if it is still in the table;
  // else -1 (the chunk is corrupt).
  int64_t find(uint64_t distance) const {
    if (distance >= kMaxDistance || distance >= serial) return -1;
    const uint32_t s = serial - static_cast<uint32_t>(distance);
    const uint32_t sl = slot_of_serial[s & (kMaxDistance - 1)];
    if (table[sl].ptr == 0 || table[sl].serial != s) return -1;
    return sl;
  }

  uint16_t slot_of_serial[kMaxDistance];
};

}  // namespace mtreplay::traces
