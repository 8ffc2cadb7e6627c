// Encodes one thread's events into memory the caller owns (the recorder's mmapped
// per-thread chunk). Header-only and allocation-free: it runs on the recorder's hot
// path. The byte layout is specified in traces/FORMAT.md ("Events").
//
// CONTRACT (owned by traces/; the recorder relies on exactly this interface):
//   ChunkEncoder enc;
//   enc.reset(begin, end, first_time_ns);   // start a chunk in [begin, end)
//   enc.reset(begin, end, t, &model);       // ... whose frame has kFramePointerModel
//   if (!enc.has_room()) { flush(enc.bytes()); enc.reset(...); }
//   enc.append(event);                      // never writes past end when has_room()
//   enc.count(), enc.bytes() -> what to hand to TraceWriter::write_chunk
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/pointer_model.hpp"
#include "mtreplay/traces/varint.hpp"

namespace mtreplay::traces {

class ChunkEncoder {
 public:
  // No event encodes to more than this many bytes (1 + 6 varints + a 5-byte error).
  static constexpr size_t kMaxEventBytes = 64;

  // model: the caller's memory for the pointer model (FORMAT.md "Pointer model"), which
  // the frame must then flag with format::kFramePointerModel; nullptr: plain deltas.
  void reset(std::byte* begin, std::byte* end, uint64_t base_time_ns,
             PointerModel* model = nullptr) {
    begin_ = cursor_ = begin;
    end_ = end;
    base_time_ns_ = last_time_ns_ = base_time_ns;
    last_ptr_ = 0;
    count_ = 0;
    model_ = model;
    if (model) {
      model->clear();
      // At most PointerModel::kMaxInsertions allocations (of >= 4 bytes each) per chunk.
      constexpr size_t kMaxBytes = size_t{4} * PointerModel::kMaxInsertions;
      if (static_cast<size_t>(end - begin) > kMaxBytes) end_ = begin + kMaxBytes;
    }
  }
  bool has_room() const { return static_cast<size_t>(end_ - cursor_) >= kMaxEventBytes; }
  bool modeled() const { return model_ != nullptr; }
  // precondition: has_room()
  void append(const Event& e) {
    if (model_)
      append_modeled(e);
    else
      append_plain(e);
  }
  inline void append_plain(const Event& e);
  inline void append_modeled(const Event& e);  // precondition: modeled()

  uint32_t count() const { return count_; }
  uint64_t base_time_ns() const { return base_time_ns_; }
  std::span<const std::byte> bytes() const { return {begin_, cursor_}; }

 private:
  // A pointer as a varint: 0 = NULL, else zigzag(delta from the previous pointer) + 1,
  // the delta divided by 16 when the op byte says so.
  // Whether the pointers written as deltas (the input `ptr` if `ptr_delta`, then the
  // `result` if `result_delta`) each move from the one before in 16-byte steps.
  bool in_16_byte_steps(bool ptr_delta, uint64_t ptr, bool result_delta, uint64_t result) const {
    bool by16 = true;
    uint64_t prev = last_ptr_;
    if (ptr_delta) {
      by16 = ((ptr - prev) & 15) == 0;
      prev = ptr;
    }
    return result_delta ? by16 && ((result - prev) & 15) == 0 : by16;
  }
  // The op byte with its flags, then the time delta; returns where the fields go.
  std::byte* put_head(const Event& e, bool by16) {
    uint8_t op = static_cast<uint8_t>(e.op);
    if (by16) op |= format::kFlagPtr16;
    const bool back = e.time_ns < last_time_ns_;
    if (back) op |= format::kFlagTimeBack;
    if (e.error != 0) op |= format::kFlagError;
    std::byte* p = cursor_;
    *p++ = static_cast<std::byte>(op);
    p = varint::put(p, back ? last_time_ns_ - e.time_ns : e.time_ns - last_time_ns_);
    last_time_ns_ = e.time_ns;
    return p;
  }
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
  PointerModel* model_ = nullptr;
};

void ChunkEncoder::append_plain(const Event& e) {
  const format::OpFields f = format::fields_of(e.op);
  const bool result_is_ptr = f.result == format::OpFields::Result::kPointer;
  // Divide pointer deltas by 16 when every pointer of this event keeps 16-byte steps.
  const bool by16 =
      in_16_byte_steps(f.ptr && e.ptr != 0, e.ptr, result_is_ptr && e.result != 0, e.result);

  std::byte* p = put_head(e, by16);
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

// FORMAT.md "Pointer model". An input pointer (free, realloc, usable_size) is 0 for
// NULL, 2d+1 for the allocation d insertions back in the live table, else 2(zz+1) with
// zz the zigzag delta; a result pointer is 0 for NULL, 1 for the top of its size's
// freed stack, else zz+2. Only the deltas move the previous pointer, and only they
// decide the divide-by-16 flag.
void ChunkEncoder::append_modeled(const Event& e) {
  const format::OpFields f = format::fields_of(e.op);
  const bool result_is_ptr = f.result == format::OpFields::Result::kPointer;
  PointerModel& m = *model_;

  // Input pointer: a hit in the live table?
  uint64_t in_code = 0;  // 0: NULL, odd: hit; else filled in below (a delta)
  uint32_t in_slot = 0;
  bool in_delta = false;
  if (f.ptr && e.ptr != 0) {
    in_slot = PointerModel::slot(e.ptr);
    const uint64_t ent = m.table[in_slot];
    const uint32_t distance =
        (m.serial - PointerModel::serial_of(ent)) & (PointerModel::kMaxInsertions - 1);
    if (ent != 0 && PointerModel::ptr_of(ent) == e.ptr && distance < PointerModel::kMaxDistance)
      in_code = (uint64_t{distance} << 1) | 1;
    else
      in_delta = true;
  }
  // Result pointer: the top of its size's freed stack?
  uint32_t bucket = 0;
  bool result_hit = false, result_delta = false;
  if (result_is_ptr && e.result != 0) {
    uint64_t bytes = e.size;
    if (f.count && __builtin_mul_overflow(e.size, e.count, &bytes)) bytes = UINT64_MAX;
    bucket = PointerModel::bucket(bytes);
    result_hit = m.top(bucket) == e.result;
    result_delta = !result_hit;
  }

  const bool by16 = in_16_byte_steps(in_delta, e.ptr, result_delta, e.result);

  std::byte* p = put_head(e, by16);
  // A delta's code; the rare ones beyond 62 bits take the wide writer.
  auto put_delta = [&](uint64_t ptr, uint64_t shift, uint64_t add) {
    int64_t delta = static_cast<int64_t>(ptr - last_ptr_);
    if (by16) delta >>= 4;
    last_ptr_ = ptr;
    const uint64_t zz = varint::zigzag(delta);
    if (__builtin_expect(zz < (uint64_t{1} << 62), 1)) return varint::put(p, ((zz + add) << shift));
    return varint::put_wide(p, (static_cast<varint::Wide>(zz) + add) << shift);
  };
  if (f.ptr) {
    if (in_delta) {
      p = put_delta(e.ptr, 1, 1);
    } else {
      p = varint::put(p, in_code);
      // A free leaves the table for its bucket's stack; realloc and usable_size only look.
      if (in_code != 0 && e.op == Op::kFree) m.release(in_slot);
    }
  }
  if (f.count) p = varint::put(p, e.count);
  if (f.align) p = varint::put(p, e.align);
  if (f.size) p = varint::put(p, e.size);
  if (result_is_ptr) {
    if (result_delta) {
      p = put_delta(e.result, 0, 2);
    } else {
      *p++ = std::byte{result_hit ? uint8_t{1} : uint8_t{0}};
      if (result_hit) m.pop(bucket);
    }
    if (PointerModel::insertable(e.result)) m.insert(e.result, bucket);
  }
  if (f.result == format::OpFields::Result::kValue) p = varint::put(p, e.result);
  if (e.error != 0) p = varint::put(p, varint::zigzag(e.error));
  cursor_ = p;
  ++count_;
}

}  // namespace mtreplay::traces
