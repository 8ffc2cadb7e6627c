// The serial schedule: a topological order of all ops that prefers recorded (merged)
// order. The worker's serial mode replays exactly this order; parallel mode uses it
// only through the dependencies. A dependency cycle can only come from a wrong
// inversion repair; it is broken here, so that the worker can never deadlock.
#include <algorithm>
#include <functional>
#include <queue>
#include <unordered_map>

#include "mtreplay/replay/plan_builder.hpp"

namespace mtreplay::replay {
namespace {

struct Head {
  uint32_t merged_rank;
  uint32_t slot;
  bool operator>(const Head& other) const { return merged_rank > other.merged_rank; }
};

// The live set along the serial order (requested bytes, by object), carried from one
// segment of a streamed plan to the next.
struct LiveWalk {
  std::vector<bool>& live;
  uint64_t& live_bytes;
  uint64_t& peak;
  uint64_t peak_index = 0;  // ops in this plan after which `peak` was reached; 0: not here
};

// Orders the ops and, as each is placed, walks the live set and raises its pace key to
// the running maximum: one pass over the ops, not three.
class Scheduler {
 public:
  Scheduler(Plan& plan, LiveWalk& walk, uint64_t& pace_running)
      : plan_(plan), walk_(walk), pace_running_(pace_running), next_(plan.threads.size(), 0) {}

  void run() {
    stage_.assign(plan_.objects.size(), 0);
    for (uint32_t slot = 0; slot < plan_.threads.size(); ++slot) offer(slot);
    uint64_t done = 0;
    while (done < plan_.op_count) {
      if (ready_.empty()) break_cycle();
      Head head = ready_.top();
      ready_.pop();
      execute(head.slot);
      ++done;
      offer(head.slot);
    }
  }

 private:
  const PlanOp& head_op(uint32_t slot) const { return plan_.threads[slot].ops[next_[slot]]; }

  bool runnable(const PlanOp& op) const {
    if (!(op.flags & kWaitIn) || op.in_obj == kNoObject) return true;
    return stage_[op.in_obj] >= op.in_stage;
  }

  // Queues the thread's next op if its dependency is met, else parks the thread.
  void offer(uint32_t slot) {
    const ThreadPlan& thread = plan_.threads[slot];
    if (next_[slot] >= thread.ops.size()) return;
    const PlanOp& op = head_op(slot);
    if (runnable(op)) {
      ready_.push({thread.merged_rank[next_[slot]], slot});
    } else {
      blocked_[op.in_obj].push_back(slot);
    }
  }

  void advance_stage(uint32_t obj, uint32_t value) {
    stage_[obj] = std::max(stage_[obj], value);
    if (blocked_.empty()) return;
    auto it = blocked_.find(obj);
    if (it == blocked_.end()) return;
    std::vector<uint32_t> waiting = std::move(it->second);
    blocked_.erase(it);
    for (uint32_t slot : waiting) offer(slot);
  }

  // The pace key and the live set after op `index` of `thread`, the `placed`-th op of
  // the serial order.
  void walk(ThreadPlan& thread, uint64_t index, uint64_t placed) {
    const PlanOp& op = thread.ops[index];
    uint64_t& key = thread.pace_ns[index];
    pace_running_ = std::max(pace_running_, key);
    key = pace_running_;
    if (op.in_obj != kNoObject && (op.flags & kEndsIn) && walk_.live[op.in_obj]) {
      walk_.live[op.in_obj] = false;
      walk_.live_bytes -= plan_.objects[op.in_obj].bytes;
    }
    if (op.out_obj != kNoObject) {
      walk_.live[op.out_obj] = true;
      walk_.live_bytes += plan_.objects[op.out_obj].bytes;
    }
    if (walk_.live_bytes > walk_.peak) walk_.peak = walk_.live_bytes, walk_.peak_index = placed;
  }

  void execute(uint32_t slot) {
    ThreadPlan& thread = plan_.threads[slot];
    const uint64_t index = next_[slot]++;
    const PlanOp& op = thread.ops[index];
    thread.serial.push_back(static_cast<uint32_t>(plan_.serial_order.size()));
    plan_.serial_order.push_back(slot);
    walk(thread, index, plan_.serial_order.size());
    if (op.in_obj != kNoObject) advance_stage(op.in_obj, op.in_stage + 1);
    if (op.out_obj != kNoObject) advance_stage(op.out_obj, 1);
  }

  // Every unfinished thread waits: drop the wait of the earliest recorded head. An
  // op that ended its object becomes a no-op (the object leaks); a query keeps its
  // place in the object's chain so that later touches are not stranded.
  void break_cycle() {
    uint32_t victim = 0;
    uint64_t best = UINT64_MAX;
    for (auto& [obj, slots] : blocked_) {
      for (uint32_t slot : slots) {
        const uint64_t rank = plan_.threads[slot].merged_rank[next_[slot]];
        if (rank < best) best = rank, victim = slot;
      }
    }
    PlanOp& op = plan_.threads[victim].ops[next_[victim]];
    auto& parked = blocked_[op.in_obj];
    parked.erase(std::find(parked.begin(), parked.end(), victim));
    if (parked.empty()) blocked_.erase(op.in_obj);
    op.flags &= static_cast<uint8_t>(~kWaitIn);
    if (op.flags & kEndsIn) {
      op.flags &= static_cast<uint8_t>(~(kEndsIn | kResetStage));
      if (op.kind == PlanKind::kFree) op.kind = PlanKind::kSkip;
      op.in_obj = kNoObject;  // a realloc degrades to realloc(NULL, n)
    } else {
      op.kind = PlanKind::kSkip;
    }
    ++plan_.anomalies.cycles_broken;
    offer(victim);
  }

  Plan& plan_;
  LiveWalk& walk_;
  uint64_t& pace_running_;
  std::vector<uint32_t> stage_;
  std::vector<uint64_t> next_;
  std::priority_queue<Head, std::vector<Head>, std::greater<>> ready_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> blocked_;
};

// The objects live at the serial peak of a whole plan: the live set after the first
// `peak_index` ops of the serial order.
void collect_peak_objects(Plan& plan, uint64_t peak_index) {
  std::vector<bool> live(plan.objects.size(), false);
  std::vector<uint64_t> cursor(plan.threads.size(), 0);
  for (uint64_t i = 0; i < peak_index; ++i) {
    uint32_t slot = plan.serial_order[i];
    const PlanOp& op = plan.threads[slot].ops[cursor[slot]++];
    if (op.in_obj != kNoObject && (op.flags & kEndsIn)) live[op.in_obj] = false;
    if (op.out_obj != kNoObject) live[op.out_obj] = true;
  }
  plan.peak_objects.clear();
  for (uint32_t obj = 0; obj < live.size(); ++obj) {
    if (live[obj]) plan.peak_objects.push_back(obj);
  }
}

// The op of another thread that was the last one recorded among the first `rank` ops
// of the merged order, or {kNoObject, 0}.
std::pair<uint32_t, uint32_t> last_op_before(const Plan& plan, uint32_t self, uint64_t rank) {
  std::pair<uint32_t, uint32_t> best{kNoObject, 0};
  uint64_t best_rank = 0;
  for (uint32_t slot = 0; slot < plan.threads.size(); ++slot) {
    const std::vector<uint32_t>& merged = plan.threads[slot].merged_ranks();
    if (slot == self) continue;
    auto it = std::lower_bound(merged.begin(), merged.end(), rank,
                               [](uint32_t at, uint64_t r) { return at < r; });
    if (it == merged.begin()) continue;
    uint64_t at = *(it - 1);
    if (best.first == kNoObject || at > best_rank) {
      best = {slot, static_cast<uint32_t>(it - 1 - merged.begin())};
      best_rank = at;
    }
  }
  return best;
}

// Thread start and exit as recorded: a thread begins after the other threads' op that
// preceded its recorded start, and ends after the one that preceded its recorded exit.
// A start gate must come before the thread's first op in the serial order, which every
// dependency respects, so that it can never close a cycle; a repaired inversion can
// contradict it, and then the thread starts at once.
void place_thread_bounds(Plan& plan) {
  for (uint32_t slot = 0; slot < plan.threads.size(); ++slot) {
    ThreadPlan& thread = plan.threads[slot];
    thread.start_slot = thread.exit_slot = kNoObject;
    if (thread.start_rank != kNoSeq) {
      auto [after, op] = last_op_before(plan, slot, thread.start_rank);
      if (after != kNoObject &&
          (thread.serial.empty() || plan.threads[after].serial[op] < thread.serial.front())) {
        thread.start_slot = after, thread.start_op = op;
      }
    }
    if (thread.exit_rank != kNoSeq) {
      auto [after, op] = last_op_before(plan, slot, thread.exit_rank);
      thread.exit_slot = after, thread.exit_op = op;
    }
  }
}

// Pace keys: each op's recorded time raised to the running maximum along the serial
// order. Keys never decrease in that order, so the pending op earliest in it always has
// the smallest key of all pending ops and its thread is inside any window: pacing on
// these keys can delay a thread but never deadlock the replay (replayer/README.md).
void order_serially(Plan& plan, LiveWalk& walk, uint64_t& pace_running) {
  plan.serial_order.clear();
  plan.serial_order.reserve(plan.op_count);
  for (auto& thread : plan.threads) {
    // The ops came in merged order: `serial` holds their ranks in it, the heap's keys.
    if (thread.merged_rank.empty()) thread.merged_rank.swap(thread.serial);
    thread.serial.clear();
    thread.serial.reserve(thread.ops.size());
    thread.pace_ns.resize(thread.ops.size(), 0);
  }
  Scheduler(plan, walk, pace_running).run();
}

}  // namespace

void schedule_plan(Plan& plan) {
  std::vector<bool> live(plan.objects.size(), false);
  uint64_t live_bytes = 0, peak = 0, pace_running = 0;
  LiveWalk walk{live, live_bytes, peak};
  order_serially(plan, walk, pace_running);
  plan.peak_live_bytes = peak;
  collect_peak_objects(plan, walk.peak_index);
  place_thread_bounds(plan);
}

void finish_merged_schedule(Plan& plan, bool whole, uint64_t peak_index) {
  if (whole) {
    collect_peak_objects(plan, peak_index);
  } else {
    plan.peak_objects.clear();
  }
  place_thread_bounds(plan);
}

void schedule_segment(Plan& plan, std::vector<bool>& live, uint64_t& live_bytes, uint64_t& peak,
                      uint64_t& pace_running) {
  LiveWalk walk{live, live_bytes, peak};
  order_serially(plan, walk, pace_running);
  plan.peak_live_bytes = peak;
  plan.peak_objects.clear();
  place_thread_bounds(plan);
}

}  // namespace mtreplay::replay
