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
  // bytes are used up exactly. kCorrupt: see error_offset() and error(); out is then
  // left in an unspecified state.
  [[gnu::always_inline]] Status next(Event& out) {
    // Far from the end every field can be read 8 bytes at a time (varint::get8).
    if (end_ - cursor_ >= kFastBytes) [[likely]] {
      // Most events are a plain malloc or free (no error value): their fields are known
      // here, so they decode without the per-field tests of the other kinds.
      switch (static_cast<uint8_t>(*cursor_) & (format::kOpMask | format::kFlagError)) {
        case static_cast<uint8_t>(Op::kMalloc):
          return decode<true, Op::kMalloc>(out);
        case static_cast<uint8_t>(Op::kFree):
          return decode<true, Op::kFree>(out);
        default:
          return decode<true>(out);
      }
    }
    return decode_near_end(out);
  }

  size_t error_offset() const { return static_cast<size_t>(cursor_ - begin_); }
  const char* error() const { return error_; }
  uint32_t remaining() const { return remaining_; }

 private:
  // An event reads at most 1 + 5 * 10 bytes before its last field, then 8 at once.
  static constexpr ptrdiff_t kFastBytes = 64;

  // kOp: the event's kind when the caller has seen it is that one, without an error
  // value (its op byte's kFlagError clear); Op{} when it is to be read from the byte.
  template <bool kFast, Op kOp = Op{}>
  [[gnu::always_inline]] Status decode(Event& out);
  [[gnu::noinline]] Status decode_near_end(Event& out) { return decode<false>(out); }

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

template <bool kFast, Op kOp>
inline ChunkDecoder::Status ChunkDecoder::decode(Event& out) {
  constexpr bool kKnown = kOp != Op{};
  const std::byte* p = cursor_;
  if (remaining_ == 0) {
    return p == end_ ? Status::kEnd : fail(p, "bytes after the chunk's last event");
  }
  if (p == end_) return fail(p, "chunk ends before its event count");
  const auto op_byte = static_cast<uint8_t>(*p);
  const uint8_t op_value = kKnown ? static_cast<uint8_t>(kOp) : op_byte & format::kOpMask;
  if (!kKnown && (!format::valid_op(op_value) ||
                  (op_value == static_cast<uint8_t>(Op::kTouched) && !touched_)))
    return fail(p, "unknown event kind");
  const auto op = static_cast<Op>(op_value);
  const format::OpFields f = kKnown ? format::fields_of_switch(kOp) : format::fields_of(op);
  const bool by16 = (op_byte & format::kFlagPtr16) != 0;
  const std::byte* q = p + 1;

  // The fields are put together in locals and stored once at the end (out may be
  // anything: its stores would make the compiler reload the decoder's members).
  uint64_t time_ns = 0, ptr = 0, count = 0, align = 0, size = 0, result = 0;
  int32_t error = 0;
  const std::byte* const end = end_;
  auto get = [end](const std::byte* at, uint64_t& v) __attribute__((always_inline)) {
    return kFast ? varint::get8(at, end, v) : varint::get(at, end, v);
  };
  uint64_t dt = 0;
  if ((q = get(q, dt)) == nullptr) return fail(p, "bad time delta");
  time_ns = (op_byte & format::kFlagTimeBack) ? last_time_ns_ - dt : last_time_ns_ + dt;
  if ((op_byte & format::kFlagTimeBack) && dt == 0) return fail(p, "non-canonical time delta");
  const bool coarse_time = coarse_ && dt == 0;

  uint64_t last_ptr = last_ptr_;
  // A delta from the previous pointer, from its zigzag code.
  auto apply_delta = [&](uint64_t zz, uint64_t & value) __attribute__((always_inline)) {
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
  auto get_ptr = [&](uint64_t & value) __attribute__((always_inline)) {
    bool null = false;
    uint64_t zz = 0;
    q = kFast ? varint::get_pointer_code8(q, end, null, zz)
              : varint::get_pointer_code(q, end, null, zz);
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
  auto get_modeled_in = [&](uint64_t & value) __attribute__((always_inline)) {
    varint::Wide c = 0;
    if ((q = kFast ? varint::get_wide8(q, end, c) : varint::get_wide(q, end, c)) == nullptr)
      return false;
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
  auto get_modeled_result = [&](uint64_t & value) __attribute__((always_inline)) {
    varint::Wide c = 0;
    if ((q = kFast ? varint::get_wide8(q, end, c) : varint::get_wide(q, end, c)) == nullptr)
      return false;
    if (c == 0) {
      value = 0;
      return true;
    }
    uint64_t bytes = size;
    if (f.count && __builtin_mul_overflow(size, count, &bytes)) bytes = UINT64_MAX;
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
  if (f.ptr && !(modeled_ ? get_modeled_in(ptr) : get_ptr(ptr))) return fail(p, "bad pointer");
  if (f.count && (q = get(q, count)) == nullptr) return fail(p, "bad count");
  if (f.align && (q = get(q, align)) == nullptr) return fail(p, "bad alignment");
  if (f.size && (q = get(q, size)) == nullptr) return fail(p, "bad size");
  if (f.result == format::OpFields::Result::kPointer &&
      !(modeled_ ? get_modeled_result(result) : get_ptr(result)))
    return fail(p, "bad result pointer");
  if (f.result == format::OpFields::Result::kValue && (q = get(q, result)) == nullptr)
    return fail(p, "bad result");
  if (!kKnown && (op_byte & format::kFlagError)) {
    uint64_t zz = 0;
    if ((q = get(q, zz)) == nullptr) return fail(p, "bad error value");
    const int64_t err = varint::unzigzag(zz);
    if (err == 0 || err < INT32_MIN || err > INT32_MAX) return fail(p, "bad error value");
    error = static_cast<int32_t>(err);
  }
  if (modeled_) {
    if (in_slot >= 0 && op == Op::kFree) model_.release(static_cast<uint32_t>(in_slot));
    if (result_hit) model_.pop(bucket);
    if (f.result == format::OpFields::Result::kPointer && PointerModel::insertable(result))
      model_.insert(result, bucket);
  }
  const uint32_t thread = thread_;
  cursor_ = q;
  last_time_ns_ = time_ns;
  last_ptr_ = last_ptr;
  --remaining_;
  out.time_ns = time_ns;
  out.ptr = ptr;
  out.size = size;
  out.count = count;
  out.align = align;
  out.result = result;
  out.error = error;
  out.thread = thread;
  out.op = op;
  out.coarse_time = coarse_time;
  return Status::kEvent;
}

}  // namespace mtreplay::traces
