// ChunkEncoder -> ChunkDecoder round trips: every Op, edge values, negative deltas.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "mtreplay/traces/chunk_decoder.hpp"
#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/columns.hpp"
#include "mtreplay/traces/varint.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using testing::same_event;

constexpr std::array<uint64_t, 12> kEdges = {0,
                                             1,
                                             15,
                                             16,
                                             127,
                                             128,
                                             0x5555'5555'0010ull,
                                             0x7fff'ffff'ffff'ffffull,
                                             0x8000'0000'0000'0000ull,
                                             0x8000'0000'0000'0001ull,
                                             UINT64_MAX - 15,
                                             UINT64_MAX};

// Keeps only the fields the op carries on disk (FORMAT.md "Events").
Event canonical(Event e) {
  const format::OpFields f = format::fields_of(e.op);
  if (!f.ptr) e.ptr = 0;
  if (!f.count) e.count = 0;
  if (!f.align) e.align = 0;
  if (!f.size) e.size = 0;
  if (f.result == format::OpFields::Result::kNone) e.result = 0;
  return e;
}

// A chunk's bytes in column layout (FORMAT.md "Column layout"), and back.
std::vector<std::byte> to_columns(std::span<const std::byte> rows, uint32_t count) {
  std::vector<std::byte> out(rows.size() + columns::kMaxHeaderBytes);
  std::vector<std::byte> scratch(columns::scratch_bytes(rows.size()));
  const size_t n = columns::to_columns(rows, count, out.data(), scratch.data());
  EXPECT_NE(n, 0u);
  out.resize(n);
  return out;
}
std::vector<std::byte> from_columns(std::span<const std::byte> cols, uint32_t count,
                                    const char** why = nullptr) {
  std::vector<std::byte> rows(cols.size() + columns::kSlack);
  size_t n = 0;
  const char* reason = "";
  if (!columns::to_rows(cols, count, rows.data(), n, &reason)) {
    if (why) *why = reason;
    return {};
  }
  rows.resize(n);
  return rows;
}

// Encodes `in` into chunks (with the pointer model when `modeled`; a modeled chunk
// holds at most 64 KiB), checks that each chunk goes into columns and back, decodes
// them.
std::vector<Event> round_trip(const std::vector<Event>& in, uint64_t base, bool modeled = false,
                              size_t* encoded_bytes = nullptr) {
  std::vector<std::byte> buffer(in.size() * ChunkEncoder::kMaxEventBytes + 64);
  ChunkEncoder enc;
  auto model = std::make_unique<PointerModel>();
  auto dec = std::make_unique<ChunkDecoder>();
  std::vector<Event> out;
  size_t total = 0;
  auto start = [&](uint64_t t) {
    enc.reset(buffer.data(), buffer.data() + buffer.size(), t, modeled ? model.get() : nullptr);
  };
  auto flush = [&] {
    total += enc.bytes().size();
    // Every chunk also goes into columns (format version 5) and back, byte for byte.
    const std::vector<std::byte> cols = to_columns(enc.bytes(), enc.count());
    EXPECT_EQ(from_columns(cols, enc.count()),
              std::vector<std::byte>(enc.bytes().begin(), enc.bytes().end()));
    dec->reset(enc.bytes(), enc.base_time_ns(), enc.count(), 7,
               format::kFrameTouched | (modeled ? format::kFramePointerModel : 0u));
    Event e;
    ChunkDecoder::Status s;
    while ((s = dec->next(e)) == ChunkDecoder::Status::kEvent) out.push_back(e);
    EXPECT_EQ(s, ChunkDecoder::Status::kEnd) << dec->error();
  };
  start(base);
  for (const Event& e : in) {
    if (!enc.has_room()) {
      EXPECT_TRUE(modeled) << "a plain chunk has room for every event";
      flush();
      start(e.time_ns);
    }
    const size_t before = enc.bytes().size();
    enc.append(e);
    EXPECT_LE(enc.bytes().size() - before, ChunkEncoder::kMaxEventBytes);
  }
  flush();
  if (encoded_bytes) *encoded_bytes = total;
  return out;
}

// A heap as programs make one: LIFO reuse per size, FIFO lifetimes, reallocs that
// move or not, failures, frees of NULL, of unknown addresses and twice, unaligned
// addresses, lifetimes beyond the model's reach and table collisions.
std::vector<Event> heap_like_events(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<Event> in;
  std::vector<uint64_t> live;
  std::vector<std::vector<uint64_t>> freed(8);
  uint64_t next = 0x5555'0000'0000ull, time = 100;
  auto size_of = [&](uint64_t r) { return 16 * (1 + r % 8); };
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.time_ns = time += rng() % 3 == 0 ? rng() % 500 : 0;
    e.thread = 7;
    const uint64_t r = rng();
    const unsigned kind = r % 16;
    if (kind < 7 || live.empty()) {
      e.op = kind == 0 ? Op::kCalloc : (kind == 1 ? Op::kMemalign : Op::kMalloc);
      e.size = size_of(r >> 8);
      if (e.op == Op::kCalloc) e.count = 1 + (r >> 20) % 3;
      if (e.op == Op::kMemalign) e.align = 64;
      auto& bin = freed[(r >> 8) % 8];
      if ((r >> 32) % 50 == 0) {
        e.result = 0;  // a failure
        e.error = 12;
      } else if (!bin.empty() && (r >> 40) % 4 != 0) {
        e.result = bin.back();
        bin.pop_back();
      } else {
        e.result = next += (r >> 44) % 7 == 0 ? 0x10'0000'0000ull : 16 * (1 + (r >> 48) % 64);
        if ((r >> 56) % 97 == 0) e.result += 3;  // not 16-byte aligned
      }
      if (e.result) live.push_back(e.result);
    } else if (kind < 14) {
      e.op = Op::kFree;
      const size_t at = (r >> 8) % 5 == 0 ? (r >> 16) % live.size() : 0;  // mostly FIFO
      e.ptr = live[at];
      if ((r >> 24) % 40 == 0) e.ptr = 0;
      if ((r >> 24) % 40 == 1) e.ptr = 0x7777'0000'0000ull + 16 * ((r >> 32) % 8);  // unknown
      if ((r >> 24) % 40 == 2 && !freed[0].empty()) e.ptr = freed[0].back();        // double free
      if (e.ptr == live[at]) {
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(at));
        freed[(r >> 40) % 8].push_back(e.ptr);
      }
    } else {
      const size_t at = (r >> 8) % live.size();
      e.ptr = live[at];
      if (kind == 14) {
        e.op = Op::kUsableSize;
        e.result = 24;
      } else {
        Event begin = e;
        begin.op = Op::kReallocBegin;
        in.push_back(canonical(begin));
        e.op = (r >> 16) % 2 ? Op::kRealloc : Op::kReallocArray;
        e.size = size_of(r >> 20);
        if (e.op == Op::kReallocArray) e.count = 2;
        e.result = (r >> 24) % 2 ? e.ptr : (next += 64);
        live[at] = e.result;
      }
    }
    in.push_back(canonical(e));
  }
  return in;
}

// `in` encoded as one chunk against the pointer model.
struct ModeledChunk {
  std::vector<std::byte> bytes;
  uint32_t count = 0;
};
ModeledChunk encode_modeled(const std::vector<Event>& in) {
  std::vector<std::byte> buffer(in.size() * ChunkEncoder::kMaxEventBytes);
  auto model = std::make_unique<PointerModel>();
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0, model.get());
  for (const Event& e : in) enc.append(e);
  return {{enc.bytes().begin(), enc.bytes().end()}, enc.count()};
}

TEST(Varint, ZigzagAndPointerCodesCoverTheWholeRange) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX})
    EXPECT_EQ(varint::unzigzag(varint::zigzag(v)), v);
  std::byte buf[16];
  for (uint64_t zz : {uint64_t{0}, uint64_t{1}, UINT64_MAX - 1, UINT64_MAX}) {
    std::byte* end = varint::put_pointer_code(buf, zz);
    bool null = true;
    uint64_t back = 0;
    ASSERT_EQ(varint::get_pointer_code(buf, end, null, back), end);
    EXPECT_FALSE(null);
    EXPECT_EQ(back, zz);
  }
}

TEST(Varint, RejectsOverlongAndTruncatedInput) {
  std::byte eleven[11];
  for (auto& b : eleven) b = std::byte{0x80};
  uint64_t v = 0;
  EXPECT_EQ(varint::get(eleven, eleven + 11, v), nullptr);
  const std::byte too_big[10] = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                 std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                 std::byte{0xff}, std::byte{0x02}};
  EXPECT_EQ(varint::get(too_big, too_big + 10, v), nullptr);
  EXPECT_EQ(varint::get(too_big, too_big + 3, v), nullptr);
}

// The decoder reads fields 8 bytes at a time far from a chunk's end (varint::get8 and
// its pointer and wide forms): the same values and lengths as the byte loop, for every
// length, for non-minimal encodings, and for what the loop rejects.
TEST(Varint, EightByteReadsAgreeWithTheByteLoop) {
  std::mt19937_64 rng(11);
  std::vector<std::vector<uint8_t>> inputs;
  for (int bits = 0; bits <= 64; ++bits) {
    for (int i = 0; i < 20; ++i) {
      const uint64_t v = bits == 0 ? 0 : (rng() >> (64 - bits)) | uint64_t{1} << (bits - 1);
      std::byte buf[16];
      const std::byte* end = varint::put(buf, v);
      inputs.emplace_back(reinterpret_cast<const uint8_t*>(buf),
                          reinterpret_cast<const uint8_t*>(end));
    }
  }
  inputs.push_back({0x80, 0x00});                                                  // 0 in two bytes
  inputs.push_back({0xff, 0x80, 0x80, 0x80, 0x00});                                // 127 in five
  inputs.push_back({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02});  // 2^64
  inputs.push_back({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  inputs.push_back({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  for (int i = 0; i < 2000; ++i) {  // random bytes, stop bits anywhere or nowhere
    std::vector<uint8_t> bytes(1 + rng() % 12);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng() | (rng() % 3 ? 0x80 : 0));
    inputs.push_back(bytes);
  }
  for (const auto& in : inputs) {
    std::byte buf[32] = {};
    for (auto& b : buf) b = std::byte{0xaa};  // what follows the field
    std::memcpy(buf, in.data(), in.size());
    const std::byte* end = buf + sizeof buf;
    uint64_t a = 1, b = 2;
    ASSERT_EQ(varint::get8(buf, end, a), varint::get(buf, end, b));
    if (varint::get(buf, end, b) != nullptr) {
      EXPECT_EQ(a, b);
    }
    bool null_a = false, null_b = true;
    ASSERT_EQ(varint::get_pointer_code8(buf, end, null_a, a),
              varint::get_pointer_code(buf, end, null_b, b));
    if (varint::get_pointer_code(buf, end, null_b, b) != nullptr) {
      EXPECT_EQ(null_a, null_b);
      EXPECT_EQ(a, b);
    }
    varint::Wide wa = 1, wb = 2;
    ASSERT_EQ(varint::get_wide8(buf, end, wa), varint::get_wide(buf, end, wb));
    if (varint::get_wide(buf, end, wb) != nullptr) {
      EXPECT_TRUE(wa == wb);
    }
  }
}

TEST(ChunkEncoder, EveryOpWithEdgeValuesRoundTrips) {
  std::vector<Event> in;
  uint64_t time = 500;
  for (uint8_t op = 1; op < kOpCount; ++op) {
    for (size_t i = 0; i < kEdges.size(); ++i) {
      Event e;
      e.op = static_cast<Op>(op);
      // Times wander both ways, including huge jumps.
      time = (i % 3 == 0) ? time + kEdges[i] : time - kEdges[(i * 5) % kEdges.size()];
      e.time_ns = time;
      e.ptr = kEdges[i];
      e.count = kEdges[(i + 3) % kEdges.size()];
      e.align = kEdges[(i + 5) % kEdges.size()];
      e.size = kEdges[(i + 7) % kEdges.size()];
      e.result = kEdges[(i + 9) % kEdges.size()];
      e.error = (i % 4 == 1) ? 12 : (i % 4 == 2 ? INT32_MIN : (i % 4 == 3 ? INT32_MAX : 0));
      e.thread = 7;
      in.push_back(canonical(e));
    }
  }
  for (const bool modeled : {false, true}) {
    const std::vector<Event> out = round_trip(in, 400, modeled);
    ASSERT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i)
      EXPECT_TRUE(same_event(in[i], out[i]))
          << "event " << i << " op " << op_name(in[i].op) << " modeled " << modeled;
  }
}

TEST(ChunkEncoder, RandomEventsRoundTrip) {
  std::mt19937_64 rng(42);
  std::vector<Event> in;
  uint64_t time = 0;
  for (int i = 0; i < 20000; ++i) {
    Event e;
    e.op = static_cast<Op>(1 + rng() % (kOpCount - 1));
    auto pick = [&]() -> uint64_t {
      switch (rng() % 4) {
        case 0:
          return kEdges[rng() % kEdges.size()];
        case 1:
          return rng();
        case 2:
          return 0x7f00'0000'0000ull + (rng() % 4096) * 16;
        default:
          return rng() % 300;
      }
    };
    time += (rng() % 10 == 0) ? -(rng() % 1000) : rng() % 1000;
    e.time_ns = time;
    e.ptr = pick();
    e.count = pick();
    e.align = pick();
    e.size = pick();
    e.result = pick();
    e.error = (rng() % 8 == 0) ? static_cast<int32_t>(rng()) : 0;
    e.thread = 7;
    in.push_back(canonical(e));
  }
  for (const bool modeled : {false, true}) {
    const std::vector<Event> out = round_trip(in, 0, modeled);
    ASSERT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
  }
}

// Plain mallocs and frees (no error value) take the decoder's own path while 64 bytes
// or more are left, the other events and the chunk's last bytes the general one: a
// chunk of mostly such events, with the flags they can carry (negative time deltas,
// pointers by 16 or not) and an error value now and then, decodes the same either way.
TEST(ChunkDecoder, MallocAndFreeDecodeAsTheOtherEvents) {
  std::mt19937_64 rng(7);
  std::vector<Event> in;
  uint64_t time = 1000;
  std::vector<uint64_t> live;
  for (int i = 0; i < 20000; ++i) {
    Event e;
    time += (rng() % 8 == 0) ? -(rng() % 500) : rng() % 2000;
    e.time_ns = time;
    e.thread = 7;
    const unsigned pick = rng() % 16;
    if (pick < 7 || live.empty()) {
      e.op = pick == 0 ? Op::kCalloc : Op::kMalloc;
      e.size = rng() % 4 == 0 ? rng() : rng() % 5000;
      e.count = e.op == Op::kCalloc ? 1 + rng() % 4 : 0;
      e.result = rng() % 64 == 0  ? 0
                 : rng() % 3 == 0 ? rng()
                                  : 0x7f00'0000'0000ull + (rng() % 65536) * 16;
      if (rng() % 32 == 0) e.error = 12;
      if (e.result) live.push_back(e.result);
    } else {
      e.op = Op::kFree;
      const size_t at = rng() % live.size();
      e.ptr = rng() % 64 == 0 ? 0 : live[at];
      live[at] = live.back();
      live.pop_back();
      if (rng() % 64 == 0) e.error = -1;
    }
    in.push_back(canonical(e));
  }
  for (const bool modeled : {false, true}) {
    const std::vector<Event> out = round_trip(in, 0, modeled);
    ASSERT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
  }
}

// Far from the chunk's end too, a malloc past the declared count is corrupt.
TEST(ChunkDecoder, AMallocPastTheEventCountIsCorruptFarFromTheEnd) {
  std::vector<std::byte> buffer(100 * ChunkEncoder::kMaxEventBytes);
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0);
  for (uint64_t i = 0; i < 100; ++i)
    enc.append({.time_ns = i, .size = 32, .result = 0x10000 + 64 * i, .op = Op::kMalloc});
  ChunkDecoder dec;
  dec.reset(enc.bytes(), 0, 10, 0);
  Event e;
  for (int i = 0; i < 10; ++i) ASSERT_EQ(dec.next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(dec.next(e), ChunkDecoder::Status::kCorrupt);
  EXPECT_STREQ(dec.error(), "bytes after the chunk's last event");
}

TEST(PointerModel, HeapLikeEventsRoundTripAndShrink) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const std::vector<Event> in = heap_like_events(seed, 40000);
    size_t plain_bytes = 0, modeled_bytes = 0;
    const std::vector<Event> plain = round_trip(in, 50, false, &plain_bytes);
    const std::vector<Event> out = round_trip(in, 50, true, &modeled_bytes);
    ASSERT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_TRUE(same_event(in[i], out[i])) << "seed " << seed << " event " << i;
    EXPECT_LT(modeled_bytes, plain_bytes) << seed;
  }
}

TEST(PointerModel, AFifoMallocFreeLoopWritesOneBytePerPointer) {
  // The recorder benchmark's loop: a window of 64 blocks, freed in allocation order,
  // each size's block handed back by the next allocation of that size.
  std::vector<Event> in;
  std::vector<uint64_t> window(64);
  for (size_t i = 0; i < window.size(); ++i) {
    window[i] = 0x5555'0000'0000ull + 4096 * i;
    in.push_back({.size = 100 + 16 * i, .result = window[i], .op = Op::kMalloc});
  }
  for (size_t i = 0; i < 10000; ++i) {
    const size_t slot = i % window.size();
    in.push_back({.ptr = window[slot], .op = Op::kFree});
    in.push_back({.size = 100 + 16 * slot, .result = window[slot], .op = Op::kMalloc});
  }
  for (Event& e : in) e.thread = 7;
  size_t bytes = 0;
  const std::vector<Event> out = round_trip(in, 0, true, &bytes);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
  // Steady state: free = op, time, distance 63 (1 byte each); malloc = op, time, size
  // (2 bytes), result hit (1 byte).
  EXPECT_LE(bytes, 64 * 8 + 20000 * 3 + 10000 * 2);
}

TEST(PointerModel, ChunksFullOfAllocationsRoundTrip) {
  // 4-byte mallocs (no time step, size 1, result 16 bytes on) fill a modeled chunk with
  // as many insertions as the encoder's serials hold; frees reach back near and far.
  std::vector<Event> in;
  std::vector<uint64_t> made;
  for (uint64_t i = 0; i < 40000; ++i) {
    made.push_back(0x5555'0000'0000ull + 16 * i);
    in.push_back({.size = 1, .result = made.back(), .thread = 7, .op = Op::kMalloc});
    if (i % 1000 == 999) {
      for (const uint64_t back : {1ull, 100ull, 4095ull, 4096ull, 9000ull}) {
        if (back <= i) in.push_back({.ptr = made[i - back], .thread = 7, .op = Op::kFree});
      }
    }
  }
  size_t bytes = 0;
  const std::vector<Event> out = round_trip(in, 0, true, &bytes);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
  EXPECT_LT(bytes, 40000 * 4 + 40 * 5 * 6);
}

TEST(PointerModel, MutatedModeledChunksDecodeOrFailCleanly) {
  const std::vector<Event> in = heap_like_events(9, 3000);
  const ModeledChunk chunk = encode_modeled(in);
  const std::vector<std::byte>& good = chunk.bytes;
  auto dec = std::make_unique<ChunkDecoder>();
  std::mt19937_64 rng(5);
  size_t corrupt = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> bad = good;
    for (int k = 0; k < 1 + round % 4; ++k)
      bad[rng() % bad.size()] = static_cast<std::byte>(rng() & 0xff);
    dec->reset(bad, 0, chunk.count, 0, format::kFramePointerModel);
    Event e;
    ChunkDecoder::Status st;
    size_t n = 0;
    while ((st = dec->next(e)) == ChunkDecoder::Status::kEvent) ++n;
    EXPECT_LE(n, in.size());
    corrupt += st == ChunkDecoder::Status::kCorrupt;
  }
  EXPECT_GT(corrupt, 1000u);  // most mutations are caught, none reads out of bounds
}

TEST(PointerModel, ModelCodesThatNameNothingAreCorrupt) {
  std::vector<std::byte> buffer(256);
  ChunkEncoder enc;
  auto model = std::make_unique<PointerModel>();
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0, model.get());
  enc.append({.time_ns = 5, .size = 40, .result = 0x1000, .op = Op::kMalloc});
  enc.append({.time_ns = 6, .ptr = 0x1000, .op = Op::kFree});
  enc.append({.time_ns = 7, .size = 40, .result = 0x1000, .op = Op::kMalloc});
  // malloc: op, time, size, a 2-byte delta; then the free and the result are model hits.
  ASSERT_EQ(enc.bytes().size(), 5u + 3u + 4u);
  std::vector<std::byte> bytes(enc.bytes().begin(), enc.bytes().end());
  auto dec = std::make_unique<ChunkDecoder>();
  Event e;
  // A free of the allocation 5 back, when there was only one.
  std::vector<std::byte> bad = bytes;
  bad[5 + 2] = std::byte{(5 << 1) | 1};
  dec->reset(bad, 0, 3, 0, format::kFramePointerModel);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kCorrupt);
  // The second malloc's result hit, with the free turned into one of NULL: empty stack.
  bad = bytes;
  bad[5 + 2] = std::byte{0};
  dec->reset(bad, 0, 3, 0, format::kFramePointerModel);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kCorrupt);
  // Untouched, they decode.
  dec->reset(bytes, 0, 3, 0, format::kFramePointerModel);
  ASSERT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  ASSERT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(e.ptr, 0x1000u);
  ASSERT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(e.result, 0x1000u);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kEnd);
}

// Op 17, touched, exists only in frames flagged TOUCHED (format version 6): elsewhere
// it is an unknown event kind, as it was before.
TEST(ChunkEncoder, TouchedEventsNeedATouchedFrame) {
  std::vector<std::byte> buffer(64);
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0);
  enc.append({.time_ns = 5, .ptr = 0x10000, .result = 12288, .op = Op::kTouched});
  auto dec = std::make_unique<ChunkDecoder>();
  Event e;
  dec->reset(enc.bytes(), 0, 1, 0, format::kFrameCoarseTime | format::kFramePointerModel);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kCorrupt);
  EXPECT_STREQ(dec->error(), "unknown event kind");
  dec->reset(enc.bytes(), 0, 1, 0, format::kFrameTouched);
  ASSERT_EQ(dec->next(e), ChunkDecoder::Status::kEvent);
  EXPECT_EQ(e.op, Op::kTouched);
  EXPECT_EQ(e.ptr, 0x10000u);
  EXPECT_EQ(e.result, 12288u);
  EXPECT_EQ(dec->next(e), ChunkDecoder::Status::kEnd);
  EXPECT_EQ(format::frame_flags_of(5) & format::kFrameTouched, 0u);
  EXPECT_NE(format::frame_flags_of(6) & format::kFrameTouched, 0u);
}

TEST(ChunkEncoder, TypicalEventsAreSmall) {
  std::vector<std::byte> buffer(1024);
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 1000);
  enc.append({.time_ns = 1040, .size = 32, .result = 0x5555'0000'1000ull, .op = Op::kMalloc});
  const size_t first = enc.bytes().size();
  enc.append({.time_ns = 1090, .size = 32, .result = 0x5555'0000'1030ull, .op = Op::kMalloc});
  EXPECT_EQ(enc.bytes().size() - first, 4u);  // op, time, size, pointer delta of 3 * 16
  const size_t second = enc.bytes().size();
  enc.append({.time_ns = 1120, .ptr = 0x5555'0000'1030ull, .op = Op::kFree});
  EXPECT_EQ(enc.bytes().size() - second, 3u);  // op, time, pointer delta 0
}

TEST(ChunkDecoder, ReportsCorruptionInsteadOfReadingPastTheEnd) {
  std::vector<std::byte> buffer(256);
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0);
  enc.append({.time_ns = 5,
              .ptr = 0x1000,
              .size = 700,
              .count = 3,
              .result = 0x2000,
              .op = Op::kReallocArray});
  const auto bytes = enc.bytes();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    ChunkDecoder dec;
    dec.reset(bytes.first(cut), 0, 1, 0);
    Event e;
    EXPECT_EQ(dec.next(e), ChunkDecoder::Status::kCorrupt) << cut;
  }
  std::vector<std::byte> bad(bytes.begin(), bytes.end());
  bad[0] = std::byte{0x1f};  // op 31 does not exist
  ChunkDecoder dec;
  dec.reset(bad, 0, 1, 0);
  Event e;
  EXPECT_EQ(dec.next(e), ChunkDecoder::Status::kCorrupt);
  dec.reset(bytes, 0, 0, 0);  // fewer events declared than present
  EXPECT_EQ(dec.next(e), ChunkDecoder::Status::kCorrupt);
}

// Columns put every field of a kind together: the loop's op bytes, time deltas, free
// distances and stack hits each become runs, its random sizes a column of their own.
TEST(Columns, GroupFieldsByKind) {
  std::vector<std::byte> buffer(256);
  auto model = std::make_unique<PointerModel>();
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), 0, model.get());
  // A block at 0x10 (its first result is the delta 1 x 16: code 4, one byte).
  enc.append({.size = 300, .result = 0x10, .op = Op::kMalloc});
  enc.append({.ptr = 0x10, .op = Op::kFree});
  enc.append({.size = 310, .result = 0x10, .op = Op::kMalloc});
  enc.append({.ptr = 0x10, .error = 5, .op = Op::kFree});
  const std::vector<std::byte> cols = to_columns(enc.bytes(), enc.count());
  auto u8 = [](std::byte b) { return static_cast<unsigned>(b); };
  // Header: lengths of times 4, ptrs 2, args 4 (two 2-byte sizes), results 2, errors 1.
  const std::vector<unsigned> head = {4, 2, 4, 2, 1};
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(u8(cols[i]), head[i]) << i;
  const std::byte* ops = cols.data() + head.size();
  const uint8_t m = static_cast<uint8_t>(Op::kMalloc), f = static_cast<uint8_t>(Op::kFree);
  EXPECT_EQ(u8(ops[0]) & format::kOpMask, m);
  EXPECT_EQ(u8(ops[1]) & format::kOpMask, f);
  EXPECT_EQ(u8(ops[3]) & format::kFlagError, format::kFlagError);
  const std::byte* ptrs = ops + 4 + 4;
  EXPECT_EQ(u8(ptrs[0]), 1u);  // free: distance 0 in the live table (2d+1)
  EXPECT_EQ(u8(ptrs[1]), 1u);
  const std::byte* results = ptrs + 2 + 4;
  EXPECT_EQ(u8(results[0]), 4u);
  EXPECT_EQ(u8(results[1]), 1u);  // the second malloc: the top of the freed stack
  EXPECT_EQ(cols.size(), head.size() + 4 + 4 + 2 + 4 + 2 + 1);
  EXPECT_EQ(from_columns(cols, enc.count()),
            std::vector<std::byte>(enc.bytes().begin(), enc.bytes().end()));
}

// Bad columns are refused (no reading past them), or give rows of the right count
// that the decoder then judges; rows that are not events do not go into columns.
TEST(Columns, MutatedColumnsFailCleanly) {
  const std::vector<Event> in = heap_like_events(11, 2000);
  const ModeledChunk chunk = encode_modeled(in);
  const std::vector<std::byte> cols = to_columns(chunk.bytes, chunk.count);
  std::mt19937_64 rng(5);
  size_t refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::byte> bad = cols;
    if (i % 3 == 0)
      bad.resize(rng() % bad.size());
    else
      bad[rng() % bad.size()] ^= static_cast<std::byte>(1u << (rng() % 8));
    const char* why = "";
    const std::vector<std::byte> rows = from_columns(bad, chunk.count, &why);
    if (rows.empty()) {
      ++refused;
      EXPECT_NE(std::string(why), "");
      continue;
    }
    // Whatever came back is judged by the decoder as any chunk: events or corruption.
    ChunkDecoder dec;
    dec.reset(rows, 0, chunk.count, 0, format::kFramePointerModel);
    Event e;
    ChunkDecoder::Status s;
    while ((s = dec.next(e)) == ChunkDecoder::Status::kEvent) {
    }
  }
  EXPECT_GT(refused, 1000u);
  std::vector<std::byte> out(chunk.bytes.size() + columns::kMaxHeaderBytes);
  std::vector<std::byte> scratch(columns::scratch_bytes(chunk.bytes.size()));
  EXPECT_EQ(columns::to_columns(chunk.bytes, chunk.count + 1, out.data(), scratch.data()), 0u);
  EXPECT_EQ(columns::to_columns(chunk.bytes, chunk.count - 1, out.data(), scratch.data()), 0u);
  std::vector<std::byte> rows(chunk.bytes.begin(), chunk.bytes.end());
  rows[0] = std::byte{0x1f};  // op 31 does not exist
  EXPECT_EQ(columns::to_columns(rows, chunk.count, out.data(), scratch.data()), 0u);
}

}  // namespace
}  // namespace mtreplay::traces
