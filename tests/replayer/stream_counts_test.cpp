// A streamed replay counts ops past 2^32: one segment of malloc/free pairs, planned
// once, published again and again as segment 1, 2, ..., N (as the parent publishes a
// trace's segments) and replayed by the real worker under the null allocator. The
// parent's accounting across segments (ops, per kind, per thread, the segments) must
// come out exact. MTREPLAY_STREAM_SEGMENTS sets N: 3 in the quick test; the `long`
// test replays 4097 segments of 2^20 ops, 2^32 + 2^20 ops in all, in a few minutes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/replay/worker_launch.hpp"

namespace mtreplay::replay {
namespace {

uint64_t segments_wanted() {
  const char* env = std::getenv("MTREPLAY_STREAM_SEGMENTS");
  return env ? std::strtoull(env, nullptr, 10) : 3;
}

TEST(StreamCounts, OpsAcrossSegmentsAddUpIn64Bits) {
  constexpr uint64_t kPairs = uint64_t{1} << 19;  // 2^20 ops a segment
  const uint64_t segments = segments_wanted();
  PlanBuilder builder;
  builder.stream(1);
  traces::Event e;
  e.thread = 0;
  for (uint64_t i = 0; i < kPairs; ++i) {
    const uint64_t address = 0x100000 + (i % 64) * 0x40;
    e.time_ns = 2 * i;
    e.op = traces::Op::kMalloc;
    e.size = 16 + i % 48;
    e.ptr = 0;
    e.result = address;
    builder.add(e);
    e.time_ns = 2 * i + 1;
    e.op = traces::Op::kFree;
    e.ptr = address;
    e.result = 0;
    builder.add(e);
  }
  Plan segment = builder.finish_segment(false);
  ASSERT_EQ(segment.op_count, 2 * kPairs);

  uint64_t published = 0;
  auto next = [&]() -> const Plan& {
    ++published;
    segment.segment = static_cast<uint32_t>(published);
    segment.last_segment = published == segments;
    return segment;
  };
  ReplayOptions options;
  options.touch = TouchPolicy::kNone;
  const BackendSpec null{"null", std::string(MTREPLAY_LIB_DIR) + "/libmtreplay_null.so", ""};
  RunResult r = run_streamed_worker(next, /*plan_ahead=*/segments > 3, null, options,
                                    std::string(MTREPLAY_BIN_DIR) + "/mtreplay-worker");
  ASSERT_EQ(r.status, "ok") << r.error;
  EXPECT_EQ(published, segments);
  EXPECT_EQ(r.plan_segments, segments);
  EXPECT_EQ(r.ops, segments * 2 * kPairs);
  EXPECT_EQ(r.ops_by_kind.at("malloc"), segments * kPairs);
  EXPECT_EQ(r.ops_by_kind.at("free"), segments * kPairs);
  ASSERT_EQ(r.ops_by_thread.size(), 1u);
  EXPECT_EQ(r.ops_by_thread[0], segments * 2 * kPairs);
  if (segments > 4096) {
    EXPECT_GT(r.ops, uint64_t{1} << 32);
  }
}

}  // namespace
}  // namespace mtreplay::replay
