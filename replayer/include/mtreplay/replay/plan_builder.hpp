// Turns a trace's events (merged order, as MergedReader yields them) into a Plan:
// recorded addresses are resolved to object ids, so address reuse never aliases two
// objects; touches of an object are chained, and only links that cross threads cost
// a wait at replay time; frees recorded before their allocation (an inversion: the
// allocating thread was preempted between the call and its record) are re-attached to
// the allocation and counted.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/traces/event.hpp"

namespace mtreplay::replay {

class PlanBuilder {
 public:
  // A free recorded up to this long before another thread's allocation of the same
  // address is taken for an inversion rather than an unknown free.
  static constexpr uint64_t kInversionWindowNs = 50'000'000;

  explicit PlanBuilder(uint64_t page_size = 4096);
  void add(const traces::Event& event);
  Plan finish();  // call once

 private:
  struct ObjectState {
    uint32_t last_slot = 0;
    uint32_t last_op = 0;
    uint32_t touches = 0;
    bool last_is_producer = true;
  };
  struct Pending {
    uint32_t slot;
    uint32_t op;
    uint64_t time_ns;
    PlanKind kind;
  };
  struct AddressState {
    uint32_t live = kNoObject;
    bool was_freed = false;
  };
  // Recorded address -> its state: open addressing with linear probing (one probe
  // sequence in one array; std::unordered_map's node per address cost 11 % of
  // planning). Address 0 is never a key: nothing lives there.
  class AddressTable {
   public:
    AddressState* find(uint64_t address);
    AddressState& operator[](uint64_t address);

   private:
    void grow();
    struct Slot {
      uint64_t address = 0;
      AddressState state;
    };
    std::vector<Slot> slots_;
    size_t used_ = 0;
    int shift_ = 64;
    AddressState zero_;
  };
  struct ThreadState {
    bool in_realloc = false;  // between kReallocBegin and its kRealloc
    uint32_t realloc_obj = kNoObject;
    uint64_t realloc_ptr = 0;
    bool realloc_pending = false;  // its pointer was unknown: maybe an inversion
  };

  uint32_t slot_of(uint32_t recorded_thread);
  uint32_t append(uint32_t slot, const PlanOp& op);
  uint32_t produce(uint32_t slot, uint32_t op_index, uint64_t address, uint64_t bytes,
                   uint32_t align, PlanKind kind, uint64_t time_ns);
  void touch(uint32_t slot, uint32_t op_index, uint32_t obj);
  // Releases the live object at `address` for a consumer; kNoObject when unknown.
  uint32_t take(uint64_t address);
  void remember_pending(uint64_t address, uint32_t slot, uint32_t op, uint64_t time, PlanKind kind);
  void settle_pending(uint64_t address, uint32_t producer_slot, uint64_t time, uint32_t obj);
  void count_unmatched(uint64_t address, PlanKind kind);
  void add_allocation(uint32_t slot, const traces::Event& e, PlanKind kind);
  void add_realloc_end(uint32_t slot, const traces::Event& e, PlanKind kind);
  void group_objects_by_producer();

  Plan plan_;
  uint64_t merged_seq_ = 0;
  uint64_t time_ns_ = 0;  // of the event being added
  std::vector<ObjectState> objects_;
  std::vector<uint32_t> producer_slot_;
  std::vector<ThreadState> thread_state_;
  std::unordered_map<uint32_t, uint32_t> slots_;
  AddressTable addresses_;
  std::unordered_map<uint64_t, std::vector<Pending>> pending_;
};

// Orders the plan's ops into one serial order that respects every dependency,
// preferring recorded order; breaks (and counts) cycles that a wrong inversion repair
// could create; computes the serial peak of live requested bytes and its live set.
void schedule_plan(Plan& plan);

}  // namespace mtreplay::replay
