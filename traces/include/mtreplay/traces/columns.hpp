// The column layout of format version 5 (FORMAT.md "Column layout"): a chunk's encoded
// events, rearranged field by field before compression, so that zstd sees the op bytes
// together, the time deltas together, the pointers together and the sizes together.
// The bytes are the same, only their order changes: a frame flagged
// format::kFrameColumns holds the columns; readers put the events back in row order
// (to_rows) before decoding them as usual.
//
// Header-only and allocation-free: to_columns runs on the recorder's writer thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/varint.hpp"

namespace mtreplay::traces::columns {

// Column order in the payload: op bytes, time deltas, input pointers, arguments (count,
// align, size in that order per event), results, error values.
enum Column : unsigned { kOps, kTimes, kPtrs, kArgs, kResults, kErrors, kCount };

// The payload starts with the byte lengths of columns kTimes..kErrors as varints (the
// op column has one byte per event); at most this many bytes.
inline constexpr size_t kMaxHeaderBytes = (kCount - 1) * varint::kMaxBytes;

// Slack that to_columns' scratch columns and to_rows' output need past their data:
// fields are copied 8 bytes at a time.
inline constexpr size_t kSlack = 16;

// Scratch bytes to_columns needs for a chunk of `rows` bytes.
constexpr size_t scratch_bytes(size_t rows) {
  return kCount * (rows + kSlack);
}

namespace detail {

// Per op byte: the columns of its fields in row order after the op byte, 3 bits each
// from bit 3 up, and their number in bits 0-2; 0 for an invalid op.
constexpr uint32_t layout_of(unsigned op_byte) {
  const uint8_t op = op_byte & format::kOpMask;
  if (!format::valid_op(op)) return 0;
  const format::OpFields f = format::fields_of(static_cast<Op>(op));
  uint32_t layout = 0, n = 0;
  auto add = [&](unsigned column) { layout |= column << (3 + 3 * n++); };
  add(kTimes);
  if (f.ptr) add(kPtrs);
  if (f.count) add(kArgs);
  if (f.align) add(kArgs);
  if (f.size) add(kArgs);
  if (f.result != format::OpFields::Result::kNone) add(kResults);
  if (op_byte & format::kFlagError) add(kErrors);
  return layout | n;
}
inline constexpr std::array<uint32_t, 256> kLayouts = [] {
  std::array<uint32_t, 256> t{};
  for (unsigned b = 0; b < 256; ++b) t[b] = layout_of(b);
  return t;
}();

// Bytes of the varint at p, at most varint::kMaxBytes and not past end; 0 if there is
// no such varint. Only boundaries matter here: the decoder checks the values.
inline size_t varint_bytes(const std::byte* p, const std::byte* end) {
  if (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const uint64_t stops = ~x & 0x8080808080808080ull;
    if (stops != 0) return static_cast<size_t>(__builtin_ctzll(stops)) / 8 + 1;
  }
  const size_t avail = static_cast<size_t>(end - p);
  const size_t limit = avail < varint::kMaxBytes ? avail : varint::kMaxBytes;
  for (size_t i = 0; i < limit; ++i)
    if ((static_cast<uint8_t>(p[i]) & 0x80) == 0) return i + 1;
  return 0;
}

// Copies n <= 10 bytes; `to` has kSlack bytes of room past them.
inline void copy_field(std::byte* to, const std::byte* from, size_t n, const std::byte* from_end) {
  if (from_end - from >= 16) {
    std::memcpy(to, from, 16);
  } else {
    std::memcpy(to, from, n);
  }
}

}  // namespace detail

// Rearranges `count` row-encoded events into out (room for kMaxHeaderBytes +
// rows.size() bytes), through scratch (room for scratch_bytes(rows.size())). Returns
// the bytes written, or 0 if rows are not exactly `count` events whose op bytes are
// valid and whose fields are varints of at most 10 bytes.
inline size_t to_columns(std::span<const std::byte> rows, uint32_t count, std::byte* out,
                         std::byte* scratch) {
  const size_t region = rows.size() + kSlack;
  // One cursor per column, kept in locals (not an array that every copy might alias):
  // the common ops' fields go straight to theirs.
  std::byte *ops = scratch, *times = ops + region, *ptrs = times + region, *args = ptrs + region,
            *results = args + region, *errors = results + region;
  const std::byte* p = rows.data();
  const std::byte* const end = p + rows.size();
  constexpr uint8_t kKind = format::kOpMask | format::kFlagError;
  for (uint32_t i = 0; i < count; ++i) {
    if (p == end) return 0;
    const auto op = static_cast<uint8_t>(*p);
    uint32_t layout = detail::kLayouts[op];
    if (layout == 0) return 0;
    *ops++ = static_cast<std::byte>(op);
    const unsigned k = layout & 7;
    // Fast path: every field of the event ends within the 8 bytes after its op byte
    // (most fields are one byte), found from one load; each is copied 8 bytes at a
    // time (the columns have kSlack to spare). The k-th field end exists if clearing
    // the lowest k-1 of the stop bits leaves one (no popcount: without -mpopcnt it is
    // a library call).
    if (end - p >= 17) {
      uint64_t x;
      std::memcpy(&x, p + 1, 8);
      uint64_t stops = ~x & 0x8080808080808080ull;
      unsigned start = 0;
      auto take = [&](std::byte*& to) {
        const unsigned stop = static_cast<unsigned>(__builtin_ctzll(stops)) / 8 + 1;
        stops &= stops - 1;
        const uint64_t bytes = x >> (8 * start);
        std::memcpy(to, &bytes, 8);
        to += stop - start;
        start = stop;
      };
      bool done = false;
      switch (op & kKind) {
        case static_cast<uint8_t>(Op::kFree):
          if ((stops & (stops - 1)) != 0) {
            take(times);
            take(ptrs);
            done = true;
          }
          break;
        case static_cast<uint8_t>(Op::kMalloc): {
          const uint64_t two = stops & (stops - 1);
          if ((two & (two - 1)) != 0) {
            take(times);
            take(args);
            take(results);
            done = true;
          }
          break;
        }
        default: {
          uint64_t enough = stops;
          for (unsigned f = 1; f < k; ++f) enough &= enough - 1;
          if (enough == 0) break;
          for (unsigned f = 0; f < k; ++f) {
            layout >>= 3;
            switch (layout & 7) {
              case kTimes:
                take(times);
                break;
              case kPtrs:
                take(ptrs);
                break;
              case kArgs:
                take(args);
                break;
              case kResults:
                take(results);
                break;
              default:
                take(errors);
                break;
            }
          }
          done = true;
        }
      }
      if (done) {
        p += 1 + start;
        continue;
      }
    }
    // The chunk's last bytes, or a field longer than what is left of the 8.
    ++p;
    for (unsigned f = 0; f < k; ++f) {
      layout >>= 3;
      const size_t n = detail::varint_bytes(p, end);
      if (n == 0) return 0;
      std::byte** to = nullptr;
      switch (layout & 7) {
        case kTimes:
          to = &times;
          break;
        case kPtrs:
          to = &ptrs;
          break;
        case kArgs:
          to = &args;
          break;
        case kResults:
          to = &results;
          break;
        default:
          to = &errors;
          break;
      }
      detail::copy_field(*to, p, n, end);
      *to += n;
      p += n;
    }
  }
  if (p != end) return 0;
  const std::byte* const at[kCount] = {ops, times, ptrs, args, results, errors};
  std::byte* o = out;
  for (unsigned c = kTimes; c < kCount; ++c)
    o = varint::put(o, static_cast<uint64_t>(at[c] - (scratch + c * region)));
  for (unsigned c = 0; c < kCount; ++c) {
    const size_t n = static_cast<size_t>(at[c] - (scratch + c * region));
    if (n != 0) std::memcpy(o, scratch + c * region, n);
    o += n;
  }
  return static_cast<size_t>(o - out);
}

// The inverse: puts the columns of a frame's payload back into row order in out (room
// for cols.size() + kSlack bytes) and sets rows to their size. False, with *why set,
// if the columns are not `count` events that use up every column exactly.
inline bool to_rows(std::span<const std::byte> cols, uint32_t count, std::byte* out, size_t& rows,
                    const char** why) {
  const std::byte* p = cols.data();
  const std::byte* const end = p + cols.size();
  size_t length[kCount] = {};
  for (unsigned c = kTimes; c < kCount; ++c) {
    uint64_t v = 0;
    if ((p = varint::get(p, end, v)) == nullptr || v > cols.size()) {
      *why = "bad column length";
      return false;
    }
    length[c] = static_cast<size_t>(v);
  }
  length[kOps] = count;
  const std::byte* at[kCount];
  const std::byte* stop[kCount];
  for (unsigned c = 0; c < kCount; ++c) {
    at[c] = c == 0 ? p : stop[c - 1];
    if (length[c] > static_cast<size_t>(end - at[c])) {
      *why = "columns longer than the payload";
      return false;
    }
    stop[c] = at[c] + length[c];
  }
  if (stop[kCount - 1] != end) {
    *why = "columns do not fill the payload";
    return false;
  }
  std::byte* o = out;
  for (uint32_t i = 0; i < count; ++i) {
    const auto op = static_cast<uint8_t>(*at[kOps]++);
    uint32_t layout = detail::kLayouts[op];
    if (layout == 0) {
      *why = "unknown event kind";
      return false;
    }
    *o++ = static_cast<std::byte>(op);
    for (unsigned k = layout & 7; k > 0; --k) {
      layout >>= 3;
      const unsigned c = layout & 7;
      const size_t n = detail::varint_bytes(at[c], stop[c]);
      if (n == 0) {
        *why = "a column ends inside a field";
        return false;
      }
      detail::copy_field(o, at[c], n, end);
      o += n;
      at[c] += n;
    }
  }
  for (unsigned c = 0; c < kCount; ++c) {
    if (at[c] != stop[c]) {
      *why = "bytes left in a column";
      return false;
    }
  }
  rows = static_cast<size_t>(o - out);
  return true;
}

}  // namespace mtreplay::traces::columns
