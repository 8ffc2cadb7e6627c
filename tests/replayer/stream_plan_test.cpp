// A streamed plan (PlanBuilder::stream) against the whole plan of the same trace: the
// same ops per recorded thread, the same anomalies and serial peak, every segment
// self-contained (no wait on an op of another segment), object ids reused in
// ascending order.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::replay {
namespace {

using Counts = std::map<uint32_t, std::vector<uint64_t>>;  // recorded thread -> per kind

void count(const Plan& plan, Counts& counts) {
  for (const ThreadPlan& thread : plan.threads) {
    auto& kinds = counts[thread.recorded_index];
    kinds.resize(static_cast<size_t>(PlanKind::kCount), 0);
    for (const PlanOp& op : thread.ops) ++kinds[static_cast<size_t>(op.kind)];
  }
}

bool same(const PlanAnomalies& a, const PlanAnomalies& b) {
  return a.unknown_free == b.unknown_free && a.double_free == b.double_free &&
         a.unknown_realloc == b.unknown_realloc && a.unknown_usable_size == b.unknown_usable_size &&
         a.failed_alloc_recorded == b.failed_alloc_recorded &&
         a.inversions_repaired == b.inversions_repaired && a.cycles_broken == b.cycles_broken;
}

struct Streamed {
  Counts counts;
  PlanAnomalies anomalies;
  uint64_t peak = 0, ops = 0, segments = 0, slots = 0;
};

// Each segment alone: its serial order covers its ops, and an op waits only on an
// object touched earlier in this segment's serial order. A thread's new objects take
// ascending ids, so that they sweep the worker's tables as a whole plan's do.
void check_segment(const Plan& plan) {
  for (const auto& t : plan.threads) {
    uint32_t previous = 0;
    bool any = false;
    for (const PlanOp& op : t.ops) {
      if (op.out_obj == kNoObject) continue;
      if (any) {
        ASSERT_GT(op.out_obj, previous) << "ids out of order in segment " << plan.segment;
      }
      previous = op.out_obj, any = true;
    }
  }
  uint64_t ops = 0;
  for (const auto& t : plan.threads) ops += t.ops.size();
  ASSERT_EQ(plan.serial_order.size(), ops);
  std::vector<uint64_t> cursor(plan.threads.size(), 0);
  std::vector<bool> touched(plan.objects.size(), false);
  for (uint32_t slot : plan.serial_order) {
    const PlanOp& op = plan.threads[slot].ops[cursor[slot]++];
    if (op.flags & kWaitIn) {
      ASSERT_TRUE(touched.at(op.in_obj)) << "a wait across segments";
    }
    if (op.in_obj != kNoObject) touched.at(op.in_obj) = true;
    if (op.out_obj != kNoObject) touched.at(op.out_obj) = true;
  }
}

Streamed stream(const std::filesystem::path& path, uint64_t segment_events) {
  traces::MergedReader reader(path);
  PlanBuilder builder(reader.header().page_size);
  builder.stream(static_cast<uint32_t>(reader.threads().size()));
  Streamed out;
  auto take = [&](bool last) {
    const Plan& segment = builder.finish_segment(last);
    check_segment(segment);
    count(segment, out.counts);
    out.anomalies = segment.anomalies;
    out.peak = segment.peak_live_bytes;
    out.ops += segment.op_count;
    out.slots = std::max<uint64_t>(out.slots, segment.objects.size());
    ++out.segments;
    EXPECT_EQ(segment.last_segment, last);
  };
  traces::Event event;
  while (reader.next(event)) {
    builder.add(event);
    if (builder.segment_may_end(segment_events)) take(false);
  }
  take(true);
  return out;
}

Plan whole(const std::filesystem::path& path) {
  traces::MergedReader reader(path);
  PlanBuilder builder(reader.header().page_size);
  traces::Event event;
  while (reader.next(event)) builder.add(event);
  return builder.finish();
}

class StreamPlan : public ::testing::TestWithParam<std::string> {};

// ThreadSanitizer finds races, which single-threaded walks cannot have: under it only the
// two-thread encoder runs, with fewer rounds (a race is reported from any one schedule
// whose accesses are unordered, not only from one that goes wrong). The normal and ASan
// builds run everything, 20 rounds.
#ifdef __SANITIZE_THREAD__
constexpr bool kSingleThreadedTestsSkipped = true;
constexpr int kEncoderRounds = 3;
#else
constexpr bool kSingleThreadedTestsSkipped = false;
constexpr int kEncoderRounds = 20;
#endif
#define SKIP_UNDER_TSAN() \
  if (kSingleThreadedTestsSkipped) GTEST_SKIP() << "single-threaded: nothing for TSan to find"

TEST_P(StreamPlan, SegmentsAddUpToTheWholePlan) {
  SKIP_UNDER_TSAN();
  const std::filesystem::path path = std::filesystem::path(MTREPLAY_SAMPLES_DIR) / GetParam();
  Plan plan = whole(path);
  Counts expected;
  count(plan, expected);
  for (uint64_t segment_events : {97u, 5'000u}) {
    Streamed s = stream(path, segment_events);
    SCOPED_TRACE(segment_events);
    if (segment_events < 100) {
      EXPECT_GT(s.segments, 2u);
    }
    EXPECT_EQ(s.counts, expected);
    EXPECT_EQ(s.ops, plan.op_count);
    EXPECT_TRUE(same(s.anomalies, plan.anomalies));
    EXPECT_EQ(s.peak, plan.peak_live_bytes);
    // Ids of ended objects serve again: the slots stay near the live set.
    if (s.segments > 2) {
      EXPECT_LT(s.slots, plan.objects.size());
    }
  }
}

// Whole plan's images bytes: the image writer's own walk of each thread's live bytes and
// count of wide ops, when the plan does not carry them.
std::vector<std::byte> image_bytes(const Plan& plan) {
  const int fd = write_plan_image(plan);
  std::vector<std::byte> bytes(static_cast<size_t>(lseek(fd, 0, SEEK_END)));
  EXPECT_EQ(pread(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  close(fd);
  return bytes;
}

// A recording with no inversion is ordered and walked by the builder as it adds the ops
// (PlanBuilder::in_merged_order_): the heap scheduler, the image writer's walk of the
// live bytes and its count of wide ops must find the very same plan from its ops.
TEST_P(StreamPlan, TheWalkAsAddedIsTheHeapSchedulesWalk) {
  SKIP_UNDER_TSAN();
  const Plan walked = whole(std::filesystem::path(MTREPLAY_SAMPLES_DIR) / GetParam());
  ASSERT_EQ(walked.anomalies.inversions_repaired, 0u);
  Plan heap = walked;
  for (ThreadPlan& thread : heap.threads) {
    thread.live_after.clear();
    thread.wide_ops = ThreadPlan::kNoCount;
  }
  schedule_plan(heap);
  EXPECT_EQ(heap.serial_order, walked.serial_order);
  EXPECT_EQ(heap.peak_live_bytes, walked.peak_live_bytes);
  EXPECT_EQ(heap.peak_objects, walked.peak_objects);
  for (size_t slot = 0; slot < walked.threads.size(); ++slot) {
    EXPECT_EQ(heap.threads[slot].serial, walked.threads[slot].serial);
    EXPECT_EQ(heap.threads[slot].pace_ns, walked.threads[slot].pace_ns);
    EXPECT_EQ(heap.threads[slot].start_slot, walked.threads[slot].start_slot);
    EXPECT_EQ(heap.threads[slot].exit_op, walked.threads[slot].exit_op);
    EXPECT_EQ(walked.threads[slot].live_after.size(), walked.threads[slot].ops.size() + 1);
  }
  EXPECT_TRUE(image_bytes(heap) == image_bytes(walked)) << "the images differ";
}

// A plan's image as a streamed parent writes it, encoded straight into a mapping of a
// memfd, by one thread or (from `parallel_min_ops` ops on) by two.
class MappedImage {
 public:
  static constexpr uint64_t kBytes = uint64_t{1} << 28;
  MappedImage() : fd_(memfd_create("image-test", 0)) {
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(kBytes)), 0);
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<std::byte*>(p);
  }
  ~MappedImage() {
    munmap(base_, kBytes);
    close(fd_);
  }
  MappedImage(const MappedImage&) = delete;
  MappedImage& operator=(const MappedImage&) = delete;
  std::vector<std::byte> write(const Plan& plan, uint64_t parallel_min_ops) {
    // Zeros, as in a fresh memfd: the padding between sections is not written.
    std::memset(base_, 0, bytes_);
    bytes_ = write_plan_image_to(fd_, plan, false, false, 0, base_, kBytes, parallel_min_ops);
    return {base_, base_ + bytes_};
  }

 private:
  int fd_;
  std::byte* base_ = nullptr;
  uint64_t bytes_ = 0;
};

// The image's two encoders (write_plan_image_to, parallel_min_ops) write the bytes one
// writes: whole plans and segments of every sample, again and again (kEncoderRounds),
// and the same as through pwrite.
TEST_P(StreamPlan, ImagesEncodedByTwoThreadsAreTheSame) {
  const std::filesystem::path path = std::filesystem::path(MTREPLAY_SAMPLES_DIR) / GetParam();
  MappedImage image;
  const Plan plan = whole(path);
  const std::vector<std::byte> one = image.write(plan, UINT64_MAX);
  EXPECT_TRUE(one == image_bytes(plan)) << "the mapping and pwrite differ";
  for (int round = 0; round < kEncoderRounds; ++round) {
    ASSERT_TRUE(image.write(plan, 0) == one) << "two encoders differ, round " << round;
  }
  traces::MergedReader reader(path);
  PlanBuilder builder(reader.header().page_size);
  builder.stream(static_cast<uint32_t>(reader.threads().size()));
  uint64_t segments = 0;
  auto compare = [&](bool last) {
    const Plan& segment = builder.finish_segment(last);
    const std::vector<std::byte> serial = image.write(segment, UINT64_MAX);
    ASSERT_TRUE(image.write(segment, 0) == serial) << "segment " << segment.segment;
    ++segments;
  };
  traces::Event event;
  while (reader.next(event)) {
    builder.add(event);
    if (builder.segment_may_end(5'000)) compare(false);
  }
  compare(true);
  EXPECT_GE(segments, 1u);
}

// A program that keeps using fresh addresses: the streamed builder's address table stays
// bounded by what it must remember (here 256) and the live set, not by the trace. A
// double free soon after the free is still one; long after, once its address has been
// forgotten, it counts as an unknown free.
TEST(StreamPlanAddresses, ReleasedAddressesAreForgottenPastTheLimit) {
  PlanBuilder builder;
  builder.stream(1, 256);
  uint64_t time = 0;
  auto add = [&](traces::Op op, uint64_t ptr, uint64_t result) {
    traces::Event e;
    e.op = op, e.ptr = ptr, e.result = result, e.size = 32;
    e.time_ns = time += 10'000;  // 10 us apart: a free's inversion window ends
    builder.add(e);
  };
  size_t most = 0;
  for (uint64_t i = 0; i < 20'000; ++i) {
    const uint64_t address = 0x100000 + i * 0x40;
    add(traces::Op::kMalloc, 0, address);
    add(traces::Op::kFree, address, 0);
    if (i == 10) add(traces::Op::kFree, address, 0);       // remembered: a double free
    if (i == 19'000) add(traces::Op::kFree, 0x100000, 0);  // forgotten: unknown
    if (builder.segment_may_end(500)) {
      builder.finish_segment(false);
      most = std::max(most, builder.address_count());
    }
  }
  const Plan& last = builder.finish_segment(true);
  EXPECT_LE(most, 256u);
  EXPECT_EQ(last.anomalies.double_free, 1u);
  EXPECT_EQ(last.anomalies.unknown_free, 1u);
}

INSTANTIATE_TEST_SUITE_P(Samples, StreamPlan,
                         ::testing::Values("prodcons.mtr", "python3-threads.mtr", "xz-threads.mtr",
                                           "gcc.mtr", "python3.mtr"),
                         [](const auto& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace mtreplay::replay
