// Decodes one chunk's raw (decompressed) bytes back into Events, one at a time, so a
// reader holds bytes, not Event vectors. Allocation-free and exception-free: the
// readers turn a kCorrupt status into a TraceError naming the file offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/pointer_model.hpp"
#include "mtreplay/traces/varint.hpp"

namespace mtreplay::traces {

class ChunkDecoder {
 public:
  enum class Status { kEvent, kEnd, kCorrupt };

  // frame_flags: the frame header's flags (format::kFrameCoarseTime marks events with a
  // zero time delta as coarse_time; format::kFramePointerModel, pointers written against
  // the pointer model).
  void reset(std::span<const std::byte> raw, uint64_t base_time_ns, uint32_t event_count,
             uint32_t thread_index, uint32_t frame_flags = 0) {
    coarse_ = (frame_flags & format::kFrameCoarseTime) != 0;
    modeled_ = (frame_flags & format::kFramePointerModel) != 0;
    touched_ = (frame_flags & format::kFrameTouched) != 0;
    if (modeled_) model_.clear();
    begin_ = cursor_ = raw.data();
    end_ = raw.data() + raw.size();
    last_time_ns_ = base_time_ns;
    last_ptr_ = 0;
    remaining_ = event_count;
    thread_ = thread_index;
  }

  // kEvent: out holds the next event. kEnd: all event_count events were read and the
  // bytes are used up exactly. kCorrupt: see error_offset() and error().
  Status next(Event& out);

  size_t error_offset() const { return static_cast<size_t>(cursor_ - begin_); }
  const char* error() const { return error_; }
  uint32_t remaining() const { return remaining_; }

 private:
  Status fail(const std::byte* at, const char* why) {
    cursor_ = at;
    error_ = why;
    return Status::kCorrupt;
  }

  const std::byte* begin_ = nullptr;
  const std::byte* cursor_ = nullptr;
  const std::byte* end_ = nullptr;
  uint64_t last_time_ns_ = 0;
  uint64_t last_ptr_ = 0;
  uint32_t remaining_ = 0;
  uint32_t thread_ = 0;
  bool coarse_ = false;
  bool modeled_ = false;
  bool touched_ = false;
  const char* error_ = "";
  PointerModelReader model_;  // cleared only for modeled frames
};

inline ChunkDecoder::Status ChunkDecoder::next(Event& out) {
  const std::byte* p = cursor_;
  if (remaining_ == 0) {
    return p == end_ ? Status::kEnd : fail(p, "bytes after the chunk's last event");
  }
  if (p == end_) return fail(p, "chunk ends before its event count");
  const auto op_byte = static_cast<uint8_t>(*p);
  const uint8_t op_value = op_byte & format::kOpMask;
  if (!format::valid_op(op_value) || (op_value == static_cast<uint8_t>(Op::kTouched) && !touched_))
    return fail(p, "unknown event kind");
  const auto op = static_cast<Op>(op_value);
  const format::OpFields f = format::fields_of(op);
  const bool by16 = (op_byte & format::kFlagPtr16) != 0;
  const std::byte* q = p + 1;

  Event e;
  e.op = op;
  e.thread = thread_;
  uint64_t dt = 0;
  if ((q = varint::get(q, end_, dt)) == nullptr) return fail(p, "bad time delta");
  e.time_ns = (op_byte & format::kFlagTimeBack) ? last_time_ns_ - dt : last_time_ns_ + dt;
  if ((op_byte & format::kFlagTimeBack) && dt == 0) return fail(p, "non-canonical time delta");
  e.coarse_time = coarse_ && dt == 0;

  uint64_t last_ptr = last_ptr_;
  // A delta from the previous pointer, from its zigzag code.
  auto apply_delta = [&](uint64_t zz, uint64_t& value) {
    const int64_t delta = varint::unzigzag(zz);
    if (by16) {
      // Stored divided by 16: deltas beyond +-2^59 cannot have been written that way.
      if (delta > (INT64_MAX >> 4) || delta < (INT64_MIN >> 4)) return false;
      value = last_ptr + (static_cast<uint64_t>(delta) << 4);
    } else {
      value = last_ptr + static_cast<uint64_t>(delta);
    }
    last_ptr = value;
    return true;
  };
  auto get_ptr = [&](uint64_t& value) {
    bool null = false;
    uint64_t zz = 0;
    q = varint::get_pointer_code(q, end_, null, zz);
    if (q == nullptr) return false;
    if (null) {
      value = 0;
      return true;
    }
    return apply_delta(zz, value);
  };
  // Version 4's modeled codes (FORMAT.md "Pointer model"); the model is updated only
  // once the whole event has decoded.
  int64_t in_slot = -1;
  auto get_modeled_in = [&](uint64_t& value) {
    varint::Wide c = 0;
    if ((q = varint::get_wide(q, end_, c)) == nullptr) return false;
    if (c == 0) {
      value = 0;
    } else if (c & 1) {
      if ((in_slot = model_.find(static_cast<uint64_t>(c >> 1))) < 0) return false;
      value = PointerModel::ptr_of(model_.table[in_slot]);
    } else {
      const varint::Wide zz = (c >> 1) - 1;
      if (zz > UINT64_MAX || !apply_delta(static_cast<uint64_t>(zz), value)) return false;
    }
    return true;
  };
  bool result_hit = false;
  uint32_t bucket = 0;
  auto get_modeled_result = [&](uint64_t& value) {
    varint::Wide c = 0;
    if ((q = varint::get_wide(q, end_, c)) == nullptr) return false;
    if (c == 0) {
      value = 0;
      return true;
    }
    uint64_t bytes = e.size;
    if (f.count && __builtin_mul_overflow(e.size, e.count, &bytes)) bytes = UINT64_MAX;
    bucket = PointerModel::bucket(bytes);
    if (c == 1) {
      value = model_.top(bucket);
      result_hit = true;
      return value != 0;
    }
    const varint::Wide zz = c - 2;
    if (zz > UINT64_MAX || !apply_delta(static_cast<uint64_t>(zz), value)) return false;
    return value != 0;  // NULL has its own code
  };
  if (f.ptr && !(modeled_ ? get_modeled_in(e.ptr) : get_ptr(e.ptr))) return fail(p, "bad pointer");
  if (f.count && (q = varint::get(q, end_, e.count)) == nullptr) return fail(p, "bad count");
  if (f.align && (q = varint::get(q, end_, e.align)) == nullptr) return fail(p, "bad alignment");
  if (f.size && (q = varint::get(q, end_, e.size)) == nullptr) return fail(p, "bad size");
  if (f.result == format::OpFields::Result::kPointer &&
      !(modeled_ ? get_modeled_result(e.result) : get_ptr(e.result)))
    return fail(p, "bad result pointer");
  if (f.result == format::OpFields::Result::kValue &&
      (q = varint::get(q, end_, e.result)) == nullptr)
    return fail(p, "bad result");
  if (op_byte & format::kFlagError) {
    uint64_t zz = 0;
    if ((q = varint::get(q, end_, zz)) == nullptr) return fail(p, "bad error value");
    const int64_t err = varint::unzigzag(zz);
    if (err == 0 || err < INT32_MIN || err > INT32_MAX) return fail(p, "bad error value");
    e.error = static_cast<int32_t>(err);
  }
  if (modeled_) {
    if (in_slot >= 0 && op == Op::kFree) model_.release(static_cast<uint32_t>(in_slot));
    if (result_hit) model_.pop(bucket);
    if (f.result == format::OpFields::Result::kPointer && PointerModel::insertable(e.result))
      model_.insert(e.result, bucket);
  }
  cursor_ = q;
  last_time_ns_ = e.time_ns;
  last_ptr_ = last_ptr;
  --remaining_;
  out = e;
  return Status::kEvent;
}

}  // namespace mtreplay::traces
