// LEB128 varints and zigzag signed mapping, shared by the encoder and the decoder.
// Header-only and allocation-free (the encoder runs inside the traced process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

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

// get() where at least 8 bytes can be read at p (end - p >= 8): a varint of up to 8
// bytes is found and put together from one 8-byte load, without a loop (the decoder's
// common case: most fields take one or two bytes); a longer one goes through get().
// Same results as get().
[[gnu::noinline]] inline const std::byte* get_long(const std::byte* p, const std::byte* end,
                                                   uint64_t& out) {
  return get(p, end, out);
}
[[gnu::always_inline]] inline const std::byte* get8(const std::byte* p, const std::byte* end,
                                                    uint64_t& out) {
  uint64_t x;
  std::memcpy(&x, p, 8);  // little-endian: byte i in bits 8i..8i+7
  if ((x & 0x80) == 0) {
    out = x & 0x7f;
    return p + 1;
  }
  if ((x & 0x8000) == 0) {
    out = (x & 0x7f) | ((x >> 1) & 0x3f80);
    return p + 2;
  }
  const uint64_t stops = ~x & 0x8080808080808080ull;
  if (stops == 0) return get_long(p, end, out);
  const unsigned bits = static_cast<unsigned>(__builtin_ctzll(stops)) + 1;  // 24..64
  uint64_t v = x & (~uint64_t{0} >> (64 - bits)) & 0x7f7f7f7f7f7f7f7full;
  // The 7-bit groups side by side: pairs, then fours, then all eight.
  v = (v & 0x007f007f007f007full) | ((v & 0x7f007f007f007f00ull) >> 1);
  v = (v & 0x00003fff00003fffull) | ((v & 0x3fff00003fff0000ull) >> 2);
  v = (v & 0x000000000fffffffull) | ((v & 0x0fffffff00000000ull) >> 4);
  out = v;
  return p + bits / 8;
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

// get_pointer_code() where at least 8 bytes can be read at p, as get8().
[[gnu::always_inline]] inline const std::byte* get_pointer_code8(const std::byte* p,
                                                                 const std::byte* end, bool& null,
                                                                 uint64_t& zigzag_delta) {
  const std::byte* q = get8(p, end, zigzag_delta);
  if (q == nullptr) return get_pointer_code(p, end, null, zigzag_delta);
  null = zigzag_delta == 0;
  zigzag_delta -= 1;
  return q;
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

// get_wide() where at least 8 bytes can be read at p: codes of up to 8 bytes as get8().
inline const std::byte* get_wide8(const std::byte* p, const std::byte* end, Wide& out) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  if ((~x & 0x8080808080808080ull) == 0) return get_wide(p, end, out);
  uint64_t v = 0;
  p = get8(p, end, v);
  out = v;
  return p;
}

}  // namespace mtreplay::traces::varint
