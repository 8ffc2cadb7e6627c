// The replay plan in the parent's memory, built from a trace's merged events, before
// it is laid out into the image the worker maps (plan_image.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "mtreplay/replay/plan_format.hpp"

namespace mtreplay::replay {

inline constexpr uint64_t kNoSeq = ~uint64_t{0};

struct ThreadPlan {
  uint32_t recorded_index = 0;
  uint32_t os_tid = 0;
  // The ops of every thread recorded before this thread's recorded start (its rank in
  // merged order among the plan's ops), if it has one; and before its exit.
  uint64_t start_rank = kNoSeq;
  uint64_t exit_rank = kNoSeq;
  // From schedule_plan: the op of another thread after which this one starts (exits);
  // kNoObject: at once (when its work is done).
  uint32_t start_slot = kNoObject, start_op = 0;
  uint32_t exit_slot = kNoObject, exit_op = 0;
  std::vector<PlanOp> ops;
  // Position of each op in the repaired serial order. The builder adds ops in merged
  // (recorded) order, so before schedule_plan/schedule_segment reorder them it holds
  // each op's rank in merged order: the scheduler's heap keys, which it then keeps in
  // `merged_rank`. Left empty when the serial order is the merged one (no inversion
  // repaired): `serial` is then both. merged_ranks() gives whichever holds them.
  std::vector<uint32_t> serial;
  std::vector<uint32_t> merged_rank;
  const std::vector<uint32_t>& merged_ranks() const {
    return merged_rank.empty() ? serial : merged_rank;
  }
  // Recorded time of each op (ns since the trace's start); schedule_plan raises each to
  // the running maximum along the serial order, so that it is non-decreasing in that
  // order: the pace key parallel replay keeps threads in step by.
  std::vector<uint64_t> pace_ns;
  // When it has op_count + 1 entries: the requested bytes live after each of this
  // thread's ops (PlanThread::live_offset), walked by the builder as it added them;
  // else the image writer computes them.
  std::vector<int64_t> live_after;
  // The ops that keep their fields in the image's side table (ImageWide), when the
  // builder counted them; kNoCount: the image writer counts them.
  static constexpr uint64_t kNoCount = ~uint64_t{0};
  uint64_t wide_ops = kNoCount;
  uint32_t flags = 0;  // PlanThreadFlags (a segment of a streamed plan)
};

struct Plan {
  uint64_t page_size = 4096;
  std::vector<ThreadPlan> threads;
  std::vector<PlanObject> objects;
  std::vector<uint64_t> object_addresses;  // recorded address of each object
  std::vector<uint32_t> serial_order;      // thread slot of each op, in serial order
  std::vector<uint32_t> peak_objects;      // objects live at the serial peak
  uint64_t peak_live_bytes = 0;
  uint64_t op_count = 0;
  PlanAnomalies anomalies;  // of a streamed plan's segment: of the trace so far
  // A segment of a streamed plan (PlanHeader): its index + 1, the live bytes it
  // carries over, whether it is the last; 0, 0, false for a whole plan.
  uint64_t segment = 0;
  uint64_t live_base_bytes = 0;
  bool last_segment = false;
  // A segment: the ids (slots) of the objects it creates; `objects` is then indexed by
  // slot and holds every slot.
  std::vector<uint32_t> created;
};

}  // namespace mtreplay::replay
