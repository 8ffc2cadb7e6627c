// Encodes one thread's events into memory the caller owns (the recorder's mmapped
// per-thread chunk). Header-only and allocation-free: it runs on the recorder's hot
// path. The byte layout is specified in traces/FORMAT.md ("Events").
//
// CONTRACT (owned by traces/; the recorder relies on exactly this interface):
//   ChunkEncoder enc;
//   enc.reset(begin, end, first_time_ns);   // start a chunk in [begin, end)
//   if (!enc.has_room()) { flush(enc.bytes()); enc.reset(...); }
//   enc.append(event);                      // never writes past end when has_room()
//   enc.count(), enc.bytes() -> what to hand to TraceWriter::write_chunk
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/varint.hpp"

namespace mtreplay::traces {

class ChunkEncoder {
 public:
  // No event encodes to more than this many bytes (1 + 6 varints + a 5-byte error).
  static constexpr size_t kMaxEventBytes = 64;

  void reset(std::byte* begin, std::byte* end, uint64_t base_time_ns) {
    begin_ = cursor_ = begin;
    end_ = end;
    base_time_ns_ = last_time_ns_ = base_time_ns;
    last_ptr_ = 0;
    count_ = 0;
  }
  bool has_room() const { return static_cast<size_t>(end_ - cursor_) >= kMaxEventBytes; }
  inline void append(const Event& e);  // precondition: has_room()

  uint32_t count() const { return count_; }
  uint64_t base_time_ns() const { return base_time_ns_; }
  std::span<const std::byte> bytes() const { return {begin_, cursor_}; }

 private:
  // A pointer as a varint: 0 = NULL, else zigzag(delta from the previous pointer) + 1,
  // the delta divided by 16 when the op byte says so.
  std::byte* put_pointer(std::byte* p, uint64_t ptr, bool by16) {
    if (ptr == 0) return varint::put(p, 0);
    int64_t delta = static_cast<int64_t>(ptr - last_ptr_);
    if (by16) delta >>= 4;  // arithmetic shift: exact because delta % 16 == 0
    last_ptr_ = ptr;
    return varint::put_pointer_code(p, varint::zigzag(delta));
  }

  std::byte* begin_ = nullptr;
  std::byte* cursor_ = nullptr;
  std::byte* end_ = nullptr;
  uint64_t base_time_ns_ = 0;
  // Delta state: previous time and previous pointer of this chunk (see FORMAT.md).
  uint64_t last_time_ns_ = 0;
  uint64_t last_ptr_ = 0;
  uint32_t count_ = 0;
};

void ChunkEncoder::append(const Event& e) {
  const format::OpFields f = format::fields_of(e.op);
  const bool result_is_ptr = f.result == format::OpFields::Result::kPointer;
  // Divide pointer deltas by 16 when every pointer of this event keeps 16-byte steps.
  bool by16 = true;
  uint64_t prev = last_ptr_;
  if (f.ptr && e.ptr != 0) {
    by16 = ((e.ptr - prev) & 15) == 0;
    prev = e.ptr;
  }
  if (result_is_ptr && e.result != 0) by16 = by16 && ((e.result - prev) & 15) == 0;

  uint8_t op = static_cast<uint8_t>(e.op);
  if (by16) op |= format::kFlagPtr16;
  const bool back = e.time_ns < last_time_ns_;
  if (back) op |= format::kFlagTimeBack;
  if (e.error != 0) op |= format::kFlagError;

  std::byte* p = cursor_;
  *p++ = static_cast<std::byte>(op);
  p = varint::put(p, back ? last_time_ns_ - e.time_ns : e.time_ns - last_time_ns_);
  last_time_ns_ = e.time_ns;
  if (f.ptr) p = put_pointer(p, e.ptr, by16);
  if (f.count) p = varint::put(p, e.count);
  if (f.align) p = varint::put(p, e.align);
  if (f.size) p = varint::put(p, e.size);
  if (result_is_ptr) p = put_pointer(p, e.result, by16);
  if (f.result == format::OpFields::Result::kValue) p = varint::put(p, e.result);
  if (e.error != 0) p = varint::put(p, varint::zigzag(e.error));
  cursor_ = p;
  ++count_;
}

}  // namespace mtreplay::traces
