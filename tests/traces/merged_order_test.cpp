// MergedReader's order: by time, ties by file order, each thread in recorded order.
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

Event ev(uint32_t thread, uint64_t time, uint64_t size) {
  return {.time_ns = time,
          .size = size,
          .result = 0x1000 + size * 16,
          .thread = thread,
          .op = Op::kMalloc};
}

TEST(MergedOrder, TiesAcrossThreadsKeepTheOrderTheyWereAdded) {
  const auto path = scratch("ties.mtr");
  // Every event at one of two times, threads interleaved: only file order decides.
  std::vector<Event> in;
  for (uint64_t i = 0; i < 300; ++i)
    in.push_back(ev(static_cast<uint32_t>((i * 7) % 5), i < 150 ? 10 : 20, i));
  write_trace(path, in);
  const auto out = read_merged(path);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i].size, in[i].size) << i;
}

TEST(MergedOrder, ChunksWrittenOutOfTimeOrderAreMergedByTime) {
  // Thread 1's chunk is written first but holds later events than thread 0's, as when
  // a thread's chunk fills up while another thread's partial chunk waits.
  const auto path = scratch("late.mtr");
  {
    TraceBuilder b(path, sample_header(), 64 * 4);
    for (uint64_t t = 0; t < 100; ++t) b.add(ev(t % 10 == 0 ? 0 : 1, 1000 + t * 10, t));
    b.finish();
  }
  ChunkReader chunks(path);
  EXPECT_GE(chunks.summary().frames, 3u);
  const auto out = read_merged(path);
  ASSERT_EQ(out.size(), 100u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].size, i);
}

TEST(MergedOrder, AThreadsOwnOrderWinsOverTime) {
  // Thread 0's clock goes backwards: its events still come in its recorded order.
  const auto path = scratch("back.mtr");
  std::vector<Event> in = {ev(0, 100, 1), ev(0, 50, 2), ev(1, 60, 3), ev(0, 40, 4)};
  write_trace(path, in);
  const auto out = read_merged(path);
  ASSERT_EQ(out.size(), 4u);
  std::vector<uint64_t> thread0;
  for (const Event& e : out)
    if (e.thread == 0) thread0.push_back(e.size);
  EXPECT_EQ(thread0, (std::vector<uint64_t>{1, 2, 4}));
}

TEST(MergedOrder, ManyThreadsManySmallChunks) {
  const auto path = scratch("many.mtr");
  const auto in = synthetic_stream(40000, 64, 9);
  write_trace(path, in, 256);
  MergedReader r(path);
  EXPECT_EQ(r.threads().size(), 64u);
  for (size_t i = 1; i < r.threads().size(); ++i)
    EXPECT_LT(r.threads()[i - 1].index, r.threads()[i].index);
  std::vector<Event> out;
  Event e;
  while (r.next(e)) out.push_back(e);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(in[i], out[i])) << i;
}

}  // namespace
}  // namespace mtreplay::traces
