// The plan builder and scheduler without processes: object ids, touch chains across
// threads, address reuse, inversion repair, anomalies, cycles, serial peak.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/replay/plan_image.hpp"

namespace mtreplay::replay {
namespace {

using traces::Event;
using traces::Op;

struct Script {
  std::vector<Event> events;
  uint64_t clock = 0;
  Script& add(uint32_t thread, Op op, uint64_t ptr, uint64_t size, uint64_t result) {
    Event e;
    e.time_ns = clock += 10;
    e.thread = thread;
    e.op = op;
    e.ptr = ptr;
    e.size = size;
    e.result = result;
    events.push_back(e);
    return *this;
  }
  Script& malloc(uint32_t t, uint64_t size, uint64_t result) {
    return add(t, Op::kMalloc, 0, size, result);
  }
  Script& free(uint32_t t, uint64_t ptr) { return add(t, Op::kFree, ptr, 0, 0); }
  Script& realloc(uint32_t t, uint64_t ptr, uint64_t size, uint64_t result) {
    add(t, Op::kReallocBegin, ptr, 0, 0);
    return add(t, Op::kRealloc, ptr, size, result);
  }
  Plan build() {
    PlanBuilder builder;
    for (const auto& e : events) builder.add(e);
    return builder.finish();
  }
};

const PlanOp& op(const Plan& plan, uint32_t slot, size_t index) {
  return plan.threads.at(slot).ops.at(index);
}

TEST(PlanBuilder, SameThreadPairNeedsNoSynchronisation) {
  Plan plan = Script().malloc(0, 32, 0x1000).free(0, 0x1000).build();
  ASSERT_EQ(plan.objects.size(), 1u);
  EXPECT_EQ(op(plan, 0, 0).out_obj, 0u);
  EXPECT_EQ(op(plan, 0, 1).in_obj, 0u);
  EXPECT_EQ(op(plan, 0, 1).flags & (kWaitIn | kPublishIn), 0);
  EXPECT_EQ(op(plan, 0, 0).flags & kPublishOut, 0);
  EXPECT_TRUE(op(plan, 0, 1).flags & kEndsIn);
}

TEST(PlanBuilder, CrossThreadFreeWaitsForTheProducer) {
  Plan plan = Script().malloc(0, 32, 0x1000).free(1, 0x1000).build();
  EXPECT_TRUE(op(plan, 0, 0).flags & kPublishOut);
  EXPECT_TRUE(op(plan, 1, 0).flags & kWaitIn);
  EXPECT_EQ(op(plan, 1, 0).in_stage, 1u);
  EXPECT_EQ(op(plan, 1, 0).in_obj, 0u);
}

TEST(PlanBuilder, AddressReusedByAnotherThreadIsANewObject) {
  Plan plan =
      Script().malloc(0, 32, 0x1000).free(1, 0x1000).malloc(2, 48, 0x1000).free(2, 0x1000).build();
  ASSERT_EQ(plan.objects.size(), 2u);
  EXPECT_EQ(op(plan, 1, 0).in_obj, 0u);
  EXPECT_EQ(op(plan, 2, 0).out_obj, 1u);
  EXPECT_EQ(op(plan, 2, 1).in_obj, 1u);
  EXPECT_EQ(op(plan, 2, 1).flags & kWaitIn, 0) << "thread 2 frees its own object: no wait";
  EXPECT_EQ(plan.anomalies.inversions_repaired, 0u);
}

TEST(PlanBuilder, ReallocMovingAcrossThreadsChainsBothObjects) {
  Plan plan =
      Script().malloc(0, 32, 0x1000).realloc(1, 0x1000, 4096, 0x8000).free(0, 0x8000).build();
  ASSERT_EQ(plan.objects.size(), 2u);
  const PlanOp& r = op(plan, 1, 0);
  EXPECT_EQ(r.kind, PlanKind::kRealloc);
  EXPECT_EQ(r.in_obj, 0u);
  EXPECT_EQ(r.out_obj, 1u);
  EXPECT_TRUE(r.flags & kWaitIn);
  EXPECT_TRUE(r.flags & kPublishOut);
  EXPECT_TRUE(r.flags & kEndsIn);
  EXPECT_TRUE(op(plan, 0, 1).flags & kWaitIn);
  EXPECT_EQ(op(plan, 0, 1).in_obj, 1u);
}

TEST(PlanBuilder, AddressFreedInsideAReallocCanBeReusedByAnotherThread) {
  // realloc on thread 1 releases 0x1000 at its begin record; thread 2's malloc gets it
  // before thread 1's realloc returns. The malloc is a new object, not the old one.
  Script s;
  s.malloc(0, 32, 0x1000);
  s.add(1, Op::kReallocBegin, 0x1000, 0, 0);
  s.malloc(2, 16, 0x1000);
  s.add(1, Op::kRealloc, 0x1000, 64, 0x2000);
  s.free(2, 0x1000).free(1, 0x2000);
  Plan plan = s.build();
  EXPECT_EQ(op(plan, 1, 0).in_obj, op(plan, 0, 0).out_obj);
  EXPECT_EQ(op(plan, 2, 1).in_obj, op(plan, 2, 0).out_obj);
  EXPECT_EQ(op(plan, 1, 1).in_obj, op(plan, 1, 0).out_obj);
  EXPECT_NE(op(plan, 2, 0).out_obj, op(plan, 0, 0).out_obj);
  EXPECT_EQ(plan.anomalies.unknown_free + plan.anomalies.double_free, 0u);
}

// The builder's per-object states serve again once their object ended: a new object
// in a reused state starts its chain afresh, and the objects still live keep theirs,
// also past a realloc whose end names another pointer than its beginning.
TEST(PlanBuilder, ObjectStatesServeAgainWithoutMixingChains) {
  Script s;
  s.malloc(0, 32, 0x1000).malloc(0, 48, 0x2000);  // A, B on thread 0
  s.add(1, Op::kReallocBegin, 0x1000, 0, 0);      // takes A ...
  s.add(1, Op::kRealloc, 0x3000, 64, 0x4000);     // ... and ends on an unknown pointer
  s.malloc(1, 16, 0x5000).free(1, 0x5000);        // D lives and ends on thread 1
  s.malloc(1, 24, 0x6000);                        // E (1, 6) on thread 1, in a reused state
  s.free(0, 0x6000).free(1, 0x2000);              // E and B freed by the other thread
  s.malloc(0, 8, 0x7000).free(0, 0x7000);         // F: same thread
  Plan plan = s.build();
  const PlanOp& e_made = op(plan, 1, 3);
  const PlanOp& e_freed = op(plan, 0, 2);
  EXPECT_EQ(e_freed.in_obj, e_made.out_obj);
  EXPECT_TRUE(e_freed.flags & kWaitIn);
  EXPECT_EQ(e_freed.in_stage, 1u);
  EXPECT_TRUE(e_made.flags & kPublishOut);
  const PlanOp& b_freed = op(plan, 1, 4);
  EXPECT_EQ(b_freed.in_obj, op(plan, 0, 1).out_obj);
  EXPECT_TRUE(b_freed.flags & kWaitIn);
  EXPECT_EQ(b_freed.in_stage, 1u);
  EXPECT_TRUE(op(plan, 0, 1).flags & kPublishOut);
  EXPECT_EQ(op(plan, 0, 4).in_obj, op(plan, 0, 3).out_obj);
  EXPECT_EQ(op(plan, 0, 4).flags & kWaitIn, 0);
  EXPECT_EQ(op(plan, 0, 3).flags & kPublishOut, 0);
  EXPECT_EQ(op(plan, 1, 2).flags & (kWaitIn | kPublishIn), 0);  // D's free
  EXPECT_EQ(plan.anomalies.unknown_realloc + plan.anomalies.double_free, 1u);
}

TEST(PlanBuilder, InversionIsRepairedAndCounted) {
  // Thread 0 was preempted between malloc returning 0x1000 and recording it; thread 1
  // got the pointer and freed it, so the free is recorded first.
  Plan plan = Script().free(1, 0x1000).malloc(0, 32, 0x1000).build();
  EXPECT_EQ(plan.anomalies.inversions_repaired, 1u);
  EXPECT_EQ(plan.anomalies.unknown_free, 0u);
  // Slots follow first appearance: slot 0 is recorded thread 1 (the free).
  ASSERT_EQ(plan.threads[0].recorded_index, 1u);
  const PlanOp& f = op(plan, 0, 0);
  EXPECT_EQ(f.kind, PlanKind::kFree);
  EXPECT_EQ(f.in_obj, 0u);
  EXPECT_TRUE(f.flags & kWaitIn);
  ASSERT_EQ(plan.serial_order.size(), 2u);
  EXPECT_EQ(plan.serial_order[0], 1u) << "the malloc runs first in the repaired order";
}

TEST(PlanBuilder, AFreeStampedFarAfterTheAllocationIsNotTiedToIt) {
  // Thread 0's clock went backwards (a faulty recorder stamped its early events with
  // another clock), so its malloc comes after thread 1's free in merged order but is
  // stamped 1 s before it. Tying the free to it would stall thread 1 until thread 0's
  // events, however far away in the merge; outside the window it is an unknown free.
  Script s;
  s.clock = 1'000'000'000;
  s.free(1, 0x1000);
  s.clock = 0;
  Plan plan = s.malloc(0, 32, 0x1000).build();
  EXPECT_EQ(plan.anomalies.inversions_repaired, 0u);
  EXPECT_EQ(plan.anomalies.unknown_free, 1u);
  EXPECT_EQ(op(plan, 0, 0).kind, PlanKind::kSkip);
}

TEST(PlanBuilder, UnknownAndDoubleFreesAreSkippedAndCounted) {
  Plan plan = Script().free(0, 0x5000).malloc(0, 8, 0x1000).free(0, 0x1000).free(0, 0x1000).build();
  EXPECT_EQ(plan.anomalies.unknown_free, 1u);
  EXPECT_EQ(plan.anomalies.double_free, 1u);
  EXPECT_EQ(op(plan, 0, 0).kind, PlanKind::kSkip);
  EXPECT_EQ(op(plan, 0, 3).kind, PlanKind::kSkip);
}

TEST(PlanBuilder, UsableSizeQueriesJoinTheChain) {
  Plan plan = Script()
                  .malloc(0, 100, 0x1000)
                  .add(1, Op::kUsableSize, 0x1000, 0, 112)
                  .free(2, 0x1000)
                  .build();
  const PlanOp& query = op(plan, 1, 0);
  EXPECT_TRUE(query.flags & kWaitIn);
  EXPECT_TRUE(query.flags & kPublishIn);
  EXPECT_EQ(query.in_stage, 1u);
  EXPECT_EQ(op(plan, 2, 0).in_stage, 2u);
  EXPECT_TRUE(op(plan, 2, 0).flags & kWaitIn);
}

TEST(PlanBuilder, FailedReallocKeepsTheObjectAlive) {
  Plan plan =
      Script().malloc(0, 32, 0x1000).realloc(0, 0x1000, 1ull << 50, 0).free(0, 0x1000).build();
  EXPECT_EQ(plan.anomalies.failed_alloc_recorded, 1u);
  EXPECT_TRUE(op(plan, 0, 1).flags & kRecordedFailed);
  EXPECT_FALSE(op(plan, 0, 1).flags & kEndsIn);
  EXPECT_EQ(op(plan, 0, 2).in_obj, 0u);
  EXPECT_EQ(plan.anomalies.unknown_free, 0u);
}

TEST(PlanBuilder, ReallocToZeroEndsTheObject) {
  Plan plan = Script().malloc(0, 32, 0x1000).realloc(0, 0x1000, 0, 0).build();
  EXPECT_TRUE(op(plan, 0, 1).flags & kEndsIn);
  EXPECT_EQ(plan.peak_live_bytes, 32u);
}

TEST(PlanBuilder, SerialPeakOfLiveRequestedBytes) {
  Plan plan = Script()
                  .malloc(0, 100, 0x1000)
                  .malloc(1, 200, 0x2000)
                  .free(0, 0x1000)
                  .malloc(0, 50, 0x3000)
                  .realloc(1, 0x2000, 400, 0x4000)
                  .free(1, 0x4000)
                  .free(0, 0x3000)
                  .build();
  EXPECT_EQ(plan.peak_live_bytes, 450u);
  EXPECT_EQ(plan.peak_objects.size(), 2u);
}

// A touched event says how much of its block the program used; the replay then touches
// that much, rounded up to kUntouchedUnit, not to a page: 64 bytes of a 256 KiB block
// must not reach into a second page of an allocator that starts the block mid-page.
TEST(PlanBuilder, TouchedExtentsAreKeptFinerThanAPage) {
  Script s;
  s.malloc(0, 256 << 10, 0x100000).malloc(0, 256 << 10, 0x200000).malloc(0, 64 << 10, 0x300000);
  s.malloc(0, 4ull << 40, 0x10000000000);  // 4 TiB: the untouched bytes saturate
  s.add(0, Op::kTouched, 0x100000, 0, 64).add(0, Op::kTouched, 0x200000, 0, 5000);
  s.add(0, Op::kTouched, 0x10000000000, 0, 100);
  Plan plan = s.free(0, 0x100000).free(0, 0x200000).free(0, 0x300000).build();
  ASSERT_EQ(plan.objects.size(), 4u);
  auto used = [&](uint32_t i) { return plan.objects[i].bytes - untouched_bytes(plan.objects[i]); };
  EXPECT_EQ(used(0), kUntouchedUnit);
  EXPECT_GE(used(1), 5000u);
  EXPECT_LT(used(1), 5000u + kUntouchedUnit);
  EXPECT_EQ(used(2), 64u << 10) << "not measured: used whole";
  EXPECT_EQ(untouched_bytes(plan.objects[3]), ((uint64_t{1} << 24) - 1) * kUntouchedUnit);
}

TEST(PlanBuilder, WrongRepairCycleIsBrokenNotDeadlocked) {
  Script s;
  s.free(1, 0x1000);  // pending: taken for an inversion of thread 0's malloc below
  s.malloc(1, 16, 0x2000);
  s.free(0, 0x2000);        // thread 0 waits for thread 1's malloc
  s.malloc(0, 16, 0x1000);  // repair makes thread 1's first op wait for this
  Plan plan = s.build();
  EXPECT_EQ(plan.anomalies.inversions_repaired, 1u);
  EXPECT_EQ(plan.anomalies.cycles_broken, 1u);
  EXPECT_EQ(plan.serial_order.size(), plan.op_count);
}

TEST(PlanBuilder, SerialOrderRespectsEveryDependency) {
  Script s;
  for (uint64_t i = 0; i < 200; ++i) {
    uint64_t p = 0x1000 + (i % 7) * 0x100;
    s.malloc(static_cast<uint32_t>(i % 3), 16 + i, p);
    s.free(static_cast<uint32_t>((i + 1) % 3), p);
  }
  Plan plan = s.build();
  ASSERT_EQ(plan.serial_order.size(), plan.op_count);
  std::vector<uint64_t> produced_at(plan.objects.size(), UINT64_MAX);
  std::vector<size_t> cursor(plan.threads.size(), 0);
  for (uint64_t i = 0; i < plan.serial_order.size(); ++i) {
    uint32_t slot = plan.serial_order[i];
    const PlanOp& o = plan.threads[slot].ops[cursor[slot]];
    EXPECT_EQ(plan.threads[slot].serial[cursor[slot]], i);
    ++cursor[slot];
    if (o.in_obj != kNoObject) {
      EXPECT_LT(produced_at[o.in_obj], i);
    }
    if (o.out_obj != kNoObject) produced_at[o.out_obj] = i;
  }
  EXPECT_EQ(plan.objects.size(), 200u);
}

TEST(PlanBuilder, ThreadStartsAndExitsAfterTheOpsRecordedBeforeThem) {
  Plan plan = Script()
                  .malloc(0, 16, 0x1000)  // 0/0
                  .add(1, Op::kThreadStart, 0, 0, 77)
                  .malloc(1, 16, 0x2000)  // 1/0
                  .malloc(0, 16, 0x3000)  // 0/1
                  .free(1, 0x2000)        // 1/1
                  .malloc(0, 16, 0x4000)  // 0/2
                  .add(1, Op::kThreadExit, 0, 0, 0)
                  .malloc(0, 16, 0x5000)  // 0/3
                  .build();
  ASSERT_EQ(plan.threads.size(), 2u);
  EXPECT_EQ(plan.threads[0].start_slot, kNoObject);  // no recorded start: at once
  EXPECT_EQ(plan.threads[0].exit_slot, kNoObject);
  EXPECT_EQ(plan.threads[1].os_tid, 77u);
  EXPECT_EQ(plan.threads[1].start_slot, 0u);
  EXPECT_EQ(plan.threads[1].start_op, 0u);
  EXPECT_EQ(plan.threads[1].exit_slot, 0u);
  EXPECT_EQ(plan.threads[1].exit_op, 2u);
}

TEST(PlanBuilder, ThreadStartedBeforeAnyOtherOpStartsAtOnce) {
  Plan plan = Script()
                  .add(1, Op::kThreadStart, 0, 0, 77)
                  .malloc(1, 16, 0x2000)
                  .malloc(0, 16, 0x1000)
                  .build();
  EXPECT_EQ(plan.threads[0].start_slot, kNoObject);
  EXPECT_EQ(plan.threads[1].start_slot, kNoObject);
}

// Threads' clocks disagree (one stamps 25 ns behind the others), so recorded times go
// back and forth in merged order: the builder, which walks the plan as it adds the ops,
// raises the pace keys to their running maximum as the heap scheduler does, and finds
// the same serial order and peak.
TEST(PlanBuilder, WalkAsAddedRaisesKeysWhenTimesGoBack) {
  Script s;
  for (uint64_t i = 0; i < 60; ++i) {
    const uint64_t p = 0x1000 + (i % 5) * 0x100;
    s.malloc(static_cast<uint32_t>(i % 3), 16 + i, p);
    if (i % 3 == 2) s.events.back().time_ns -= 25;
    s.free(static_cast<uint32_t>((i + 1) % 3), p);
  }
  const Plan walked = s.build();
  std::vector<std::vector<uint64_t>> recorded(walked.threads.size());
  for (const Event& e : s.events) recorded.at(e.thread).push_back(e.time_ns);
  Plan heap = walked;
  for (size_t slot = 0; slot < heap.threads.size(); ++slot) {
    heap.threads[slot].live_after.clear();
    heap.threads[slot].pace_ns = recorded[slot];  // the heap starts from the times
  }
  schedule_plan(heap);
  EXPECT_EQ(heap.serial_order, walked.serial_order);
  EXPECT_EQ(heap.peak_live_bytes, walked.peak_live_bytes);
  size_t raised = 0;  // keys above their op's recorded time
  for (size_t slot = 0; slot < walked.threads.size(); ++slot) {
    EXPECT_EQ(heap.threads[slot].pace_ns, walked.threads[slot].pace_ns);
    for (size_t i = 0; i < recorded[slot].size(); ++i)
      raised += walked.threads[slot].pace_ns[i] != recorded[slot][i];
  }
  EXPECT_GT(raised, 0u) << "the times did go back";
  uint64_t previous = 0;
  std::vector<size_t> at(walked.threads.size(), 0);
  for (uint32_t slot : walked.serial_order) {
    const uint64_t key = walked.threads[slot].pace_ns[at[slot]++];
    EXPECT_GE(key, previous) << "keys never decrease along the serial order";
    previous = key;
  }
}

TEST(PlanImage, CarriesEachThreadsLiveBytesAfterEveryOp) {
  // Thread 0 allocates 100 and 200 bytes, thread 1 frees the first and reallocs the
  // second to 50: the sampler sums these per-thread running totals by progress.
  Script s;
  s.malloc(0, 100, 0x1000).malloc(0, 200, 0x2000).free(1, 0x1000).realloc(1, 0x2000, 50, 0x3000);
  const Plan plan = s.build();
  const int fd = write_plan_image(plan);
  ASSERT_GE(fd, 0);
  const auto size = static_cast<size_t>(lseek(fd, 0, SEEK_END));
  void* base = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  ASSERT_NE(base, MAP_FAILED);
  PlanView view;
  ASSERT_EQ(view.attach(static_cast<const std::byte*>(base), size), "");
  const int64_t* producer = view.live_after(0);
  EXPECT_EQ(std::vector<int64_t>(producer, producer + 3), (std::vector<int64_t>{0, 100, 300}));
  const int64_t* consumer = view.live_after(1);
  EXPECT_EQ(std::vector<int64_t>(consumer, consumer + 3), (std::vector<int64_t>{0, -100, -250}));
  EXPECT_EQ(producer[2] + consumer[2], 50) << "what is live at the end";
  munmap(base, size);
}

}  // namespace
}  // namespace mtreplay::replay
