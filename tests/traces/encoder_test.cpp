// ChunkEncoder -> ChunkDecoder round trips: every Op, edge values, negative deltas.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

#include "mtreplay/traces/chunk_decoder.hpp"
#include "mtreplay/traces/chunk_encoder.hpp"
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

std::vector<Event> round_trip(const std::vector<Event>& in, uint64_t base) {
  std::vector<std::byte> buffer(in.size() * ChunkEncoder::kMaxEventBytes + 64);
  ChunkEncoder enc;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), base);
  for (const Event& e : in) {
    EXPECT_TRUE(enc.has_room());
    const size_t before = enc.bytes().size();
    enc.append(e);
    EXPECT_LE(enc.bytes().size() - before, ChunkEncoder::kMaxEventBytes);
  }
  EXPECT_EQ(enc.count(), in.size());
  ChunkDecoder dec;
  dec.reset(enc.bytes(), base, enc.count(), 7);
  std::vector<Event> out;
  Event e;
  ChunkDecoder::Status s;
  while ((s = dec.next(e)) == ChunkDecoder::Status::kEvent) out.push_back(e);
  EXPECT_EQ(s, ChunkDecoder::Status::kEnd) << dec.error();
  return out;
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
  const std::vector<Event> out = round_trip(in, 400);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_TRUE(same_event(in[i], out[i])) << "event " << i << " op " << op_name(in[i].op);
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
  const std::vector<Event> out = round_trip(in, 0);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
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

}  // namespace
}  // namespace mtreplay::traces
