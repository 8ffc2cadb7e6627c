// LEB128 varints and zigzag signed mapping, shared by the encoder and the decoder.
// Header-only and allocation-free (the encoder runs inside the traced process).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::traces::varint {

inline constexpr size_t kMaxBytes = 10;  // a uint64_t never needs more

constexpr uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// Writes v at p (room for kMaxBytes assumed); returns one past the last byte written.
inline std::byte* put(std::byte* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}

// Reads one varint from [p, end). Returns nullptr when it runs past end or is not a
// canonical encoding of a uint64_t (more than 10 bytes, or bits beyond 64).
inline const std::byte* get(const std::byte* p, const std::byte* end, uint64_t& out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p == end) return nullptr;
    const auto b = static_cast<uint8_t>(*p++);
    if (shift == 63 && b > 1) return nullptr;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      out = v;
      return p;
    }
  }
  return nullptr;
}

// A pointer code is zigzag(delta) + 1 (0 stands for NULL), a 65-bit number: the one
// value that does not fit in 64 bits, 2^64, is written as nine 0x80 bytes then 0x02.
inline std::byte* put_pointer_code(std::byte* p, uint64_t zigzag_delta) {
  if (zigzag_delta != UINT64_MAX) return put(p, zigzag_delta + 1);
  for (int i = 0; i < 9; ++i) *p++ = std::byte{0x80};
  *p++ = std::byte{0x02};
  return p;
}

// Reads a pointer code. Sets null when it is 0, else zigzag_delta = code - 1.
inline const std::byte* get_pointer_code(const std::byte* p, const std::byte* end, bool& null,
                                         uint64_t& zigzag_delta) {
  const std::byte* q = get(p, end, zigzag_delta);
  if (q != nullptr) {
    null = zigzag_delta == 0;
    zigzag_delta -= 1;
    return q;
  }
  // The one 65-bit code: exactly nine 0x80 bytes then 0x02.
  if (end - p < 10) return nullptr;
  for (int i = 0; i < 9; ++i)
    if (p[i] != std::byte{0x80}) return nullptr;
  if (p[9] != std::byte{0x02}) return nullptr;
  null = false;
  zigzag_delta = UINT64_MAX;
  return p + 10;
}

// Codes of up to 70 bits (format version 4's pointer codes reach 2^65): the same
// LEB128 bytes, at most kMaxBytes of them. The encoder's common case stays in put().
using Wide = unsigned __int128;

inline std::byte* put_wide(std::byte* p, Wide v) {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>(static_cast<uint8_t>(v) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(static_cast<uint8_t>(v));
  return p;
}

// Reads a code of at most kMaxBytes bytes; nullptr when it runs past end or is longer.
inline const std::byte* get_wide(const std::byte* p, const std::byte* end, Wide& out) {
  Wide v = 0;
  for (unsigned shift = 0; shift < 7 * kMaxBytes; shift += 7) {
    if (p == end) return nullptr;
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<Wide>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      out = v;
      return p;
    }
  }
  return nullptr;
}

}  // namespace mtreplay::traces::varint
