// The pointer model of format version 4 (FORMAT.md "Pointer model"): state that the
// encoder and the decoder of one chunk keep alike, so that a pointer the model can
// predict is written as a small number instead of a delta.
//
// - Live table: every allocation's result (non-NULL, 16-aligned, below 2^47) is
//   inserted (direct-mapped by a hash of the address) with its insertion serial and
//   its size bucket, packed in one word (8 KiB in all: the hot path's cache footprint). A free of
//   an address still in the table is written as the serial distance back to that allocation (a
//   program that frees in the order it allocates writes one number, over and over); the entry is
//   removed and the address pushed on its bucket's stack.
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
  static constexpr uint32_t kDepth = 4;
  // A free is written as a distance only below this (the decoder's serial ring).
  static constexpr uint32_t kMaxDistance = 4096;  // a power of two
  // The encoder keeps serials in kSerialBits: a modeled chunk holds at most this many
  // allocations (ChunkEncoder caps its bytes, every allocation taking at least 4).
  static constexpr unsigned kSerialBits = 14;
  static constexpr uint32_t kMaxInsertions = 1u << kSerialBits;
  static constexpr uint64_t kMaxPointer = uint64_t{1} << 47;

  // Only such pointers enter the table (FORMAT.md): they pack into one word.
  static bool insertable(uint64_t ptr) { return (ptr & 15) == 0 && ptr < kMaxPointer && ptr; }

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

  // A table entry in one word (0: empty): ptr / 16 (43 bits), serial mod 2^14, bucket.
  static uint64_t pack(uint64_t ptr, uint32_t serial, uint32_t bucket_of_size) {
    return (ptr >> 4) << 21 | uint64_t{serial & (kMaxInsertions - 1)} << 7 | bucket_of_size;
  }
  static uint64_t ptr_of(uint64_t entry) { return (entry >> 21) << 4; }
  static uint32_t serial_of(uint64_t entry) {
    return static_cast<uint32_t>(entry >> 7) & (kMaxInsertions - 1);
  }
  static uint32_t bucket_of(uint64_t entry) { return static_cast<uint32_t>(entry & 127); }

  // Forgets everything: a chunk starts with an empty model.
  void clear() {
    std::memset(table, 0, sizeof table);
    std::memset(stacks, 0, sizeof stacks);
    serial = 0;
  }

  void insert(uint64_t ptr, uint32_t bucket_of_size) {
    ++serial;
    table[slot(ptr)] = pack(ptr, serial, bucket_of_size);
  }
  // The top of `b`'s stack, 0 when it is empty. A stack is its last kDepth pushes,
  // newest first, 0 past its depth.
  uint64_t top(uint32_t b) const { return stacks[b].ptr[0]; }
  void pop(uint32_t b) {
    uint64_t* p = stacks[b].ptr;
    for (uint32_t i = 0; i + 1 < kDepth; ++i) p[i] = p[i + 1];
    p[kDepth - 1] = 0;
  }
  void push(uint32_t b, uint64_t ptr) {
    uint64_t* p = stacks[b].ptr;
    for (uint32_t i = kDepth - 1; i > 0; --i) p[i] = p[i - 1];
    p[0] = ptr;
  }
  // A free of the entry in `s`: out of the table, onto its bucket's stack.
  void release(uint32_t s) {
    push(bucket_of(table[s]), ptr_of(table[s]));
    table[s] = 0;
  }

  struct alignas(32) Stack {
    uint64_t ptr[kDepth];
  };
  uint64_t table[kTableSize];
  Stack stacks[kBuckets];
  uint32_t serial;
};

// The decoder's side: the same model plus each slot's full serial and, for each of the
// last kMaxDistance serials, the slot it was inserted into (a distance names a
// serial, not a slot). It reads any chunk, however many allocations it holds.
struct PointerModelReader : PointerModel {
  void clear() {
    PointerModel::clear();
    std::memset(serial_of_slot, 0, sizeof serial_of_slot);
    std::memset(slot_of_serial, 0, sizeof slot_of_serial);
  }
  void insert(uint64_t ptr, uint32_t bucket_of_size) {
    PointerModel::insert(ptr, bucket_of_size);
    serial_of_slot[slot(ptr)] = serial;
    slot_of_serial[serial & (kMaxDistance - 1)] = static_cast<uint16_t>(slot(ptr));
  }
  // The slot of the entry `distance` insertions back, if it is still in the table;
  // else -1 (the chunk is corrupt).
  int64_t find(uint64_t distance) const {
    if (distance >= kMaxDistance || distance >= serial) return -1;
    const uint32_t s = serial - static_cast<uint32_t>(distance);
    const uint32_t sl = slot_of_serial[s & (kMaxDistance - 1)];
    if (table[sl] == 0 || serial_of_slot[sl] != s) return -1;
    return sl;
  }

  uint32_t serial_of_slot[kTableSize];
  uint16_t slot_of_serial[kMaxDistance];
};

}  // namespace mtreplay::traces
