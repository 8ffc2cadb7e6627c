// On-disk constants and fixed layouts of a trace file. traces/FORMAT.md is the
// specification; this header mirrors it for the writer and the readers.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "mtreplay/traces/event.hpp"

namespace mtreplay::traces::format {

inline constexpr char kFileMagic[8] = {'M', 'T', 'R', 'T', 'R', 'A', 'C', 'E'};
inline constexpr uint32_t kVersion = 2;     // what writers write by default
inline constexpr uint32_t kMinVersion = 1;  // readers read kMinVersion..kMaxVersion
inline constexpr uint32_t kMaxVersion = 6;  // 3: frame flags (coarse stamps); 4: pointer model;
                                            // 5: column layout; 6: touched extents
inline constexpr uint32_t kFrameMagic = 0x4652544d;  // "MTRF" in file byte order
inline constexpr uint32_t kEndMagic = 0x4552544d;    // "MTRE" in file byte order
inline constexpr size_t kRecordBytes = 40;           // frame header and end record
inline constexpr size_t kFixedHeaderBytes = 60;      // file header up to the exe bytes
inline constexpr uint32_t kMaxHeaderBytes = 1u << 20;
inline constexpr uint32_t kMaxRawChunkBytes = 64u << 20;
inline constexpr size_t kMaxExeBytes = 4096;

// Frame flags (version 3; versions 1 and 2 have none). kFrameCoarseTime: the frame's
// events with a zero time delta repeat their thread's last clock reading rather than
// reading the clock (FORMAT.md "Coarse stamps").
inline constexpr uint32_t kFrameCoarseTime = 1;
inline constexpr uint32_t kFrameFlagsV3 = kFrameCoarseTime;
// Version 4. kFramePointerModel: the frame's pointers are written against the pointer
// model (pointer_model.hpp, FORMAT.md "Pointer model"), not as plain deltas.
inline constexpr uint32_t kFramePointerModel = 2;
inline constexpr uint32_t kFrameFlagsV4 = kFrameCoarseTime | kFramePointerModel;
// Version 5. kFrameColumns: the payload holds the events field by field (columns.hpp,
// FORMAT.md "Column layout"); readers put them back in row order before decoding.
inline constexpr uint32_t kFrameColumns = 4;
inline constexpr uint32_t kFrameFlagsV5 = kFrameFlagsV4 | kFrameColumns;
// Version 6. kFrameTouched: the frame may hold kTouched events (FORMAT.md "Touched
// extents"); in any other frame op 17 is an unknown event kind.
inline constexpr uint32_t kFrameTouched = 8;
inline constexpr uint32_t kFrameFlagsV6 = kFrameFlagsV5 | kFrameTouched;
// The frame flags a file of `version` may use.
constexpr uint32_t frame_flags_of(uint32_t version) {
  return version >= 6   ? kFrameFlagsV6
         : version == 5 ? kFrameFlagsV5
         : version == 4 ? kFrameFlagsV4
         : version == 3 ? kFrameFlagsV3
                        : 0u;
}

// Event encoding: the op byte's low 5 bits are the Op, the high bits are flags.
inline constexpr uint8_t kOpMask = 0x1f;
inline constexpr uint8_t kFlagPtr16 = 0x20;     // pointer deltas are stored divided by 16
inline constexpr uint8_t kFlagTimeBack = 0x40;  // the time delta is negative
inline constexpr uint8_t kFlagError = 0x80;     // a zigzag error value ends the event

// Which arguments an Op carries on disk, in this order after the time delta.
struct OpFields {
  bool ptr = false, count = false, align = false, size = false;
  enum class Result : uint8_t { kNone, kPointer, kValue } result = Result::kNone;
};

constexpr OpFields fields_of_switch(Op op) {
  using R = OpFields::Result;
  switch (op) {
    case Op::kMalloc:
    case Op::kValloc:
    case Op::kPvalloc:
      return {false, false, false, true, R::kPointer};
    case Op::kCalloc:
      return {false, true, false, true, R::kPointer};
    case Op::kRealloc:
      return {true, false, false, true, R::kPointer};
    case Op::kReallocArray:
      return {true, true, false, true, R::kPointer};
    case Op::kFree:
    case Op::kReallocBegin:
      return {true, false, false, false, R::kNone};
    case Op::kMemalign:
    case Op::kPosixMemalign:
    case Op::kAlignedAlloc:
      return {false, false, true, true, R::kPointer};
    case Op::kUsableSize:
    case Op::kTouched:
      return {true, false, false, false, R::kValue};
    case Op::kThreadStart:
    case Op::kFork:
      return {false, false, false, false, R::kValue};
    case Op::kThreadExit:
    case Op::kExec:
      return {};
  }
  return {};
}

// The same from a table: the decoder asks once an event, and the switch was a call.
inline constexpr auto kOpFields = [] {
  struct Table {
    OpFields of[kOpCount];
  } t{};
  for (uint8_t op = 0; op < kOpCount; ++op) t.of[op] = fields_of_switch(static_cast<Op>(op));
  return t;
}();
constexpr OpFields fields_of(Op op) {
  const auto value = static_cast<uint8_t>(op);
  return value < kOpCount ? kOpFields.of[value] : OpFields{};
}

constexpr bool valid_op(uint8_t v) {
  return v >= 1 && v < kOpCount;
}

// Little-endian fixed-width helpers (x86-64 and aarch64 are little-endian; memcpy keeps
// them alignment-safe).
template <typename T>
inline void store(std::byte* p, T v) {
  static_assert(std::endian::native == std::endian::little);
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
inline T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// FNV-1a 64: header checks and trace content identity.
inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ull;
inline uint64_t fnv1a64(std::span<const std::byte> bytes, uint64_t h = kFnvOffset) {
  for (std::byte b : bytes) h = (h ^ static_cast<uint8_t>(b)) * kFnvPrime;
  return h;
}
inline uint32_t record_check(const std::byte* record) {
  return static_cast<uint32_t>(fnv1a64({record, kRecordBytes - 4}));
}

}  // namespace mtreplay::traces::format
