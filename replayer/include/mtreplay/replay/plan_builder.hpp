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

// A hint to bring the line at `p` into the cache. GCC 12 dropped __builtin_prefetch
// calls whose address it computed inline (a prefetch of the address table's slot, once
// its hash was inline: no prefetch was left in the binary), so on x86-64 the
// instruction is written out.
inline void prefetch_line(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

class PlanBuilder {
 public:
  // A free recorded up to this long before another thread's allocation of the same
  // address is taken for an inversion rather than an unknown free.
  static constexpr uint64_t kInversionWindowNs = 50'000'000;

  explicit PlanBuilder(uint64_t page_size = 4096);
  // A whole plan: the events the trace holds of a recorded thread (its index), known
  // from its header, so that the thread's arrays are sized once (not grown by
  // doubling, which left up to half of them unused at the peak).
  void expect_events(uint32_t recorded_thread, uint64_t events);
  void add(const traces::Event& event);
  // add() of each of `count` events in turn until the segment may end after one
  // (segment_may_end(min_events)); returns how many were added. One call for a run of
  // events (a read-ahead batch), the event `prefetch_ahead` places on fetched ahead.
  size_t add_until_end(const traces::Event* events, size_t count, uint64_t min_events,
                       uint32_t prefetch_ahead);
  Plan finish();  // call once

  // Streaming (replayer/README.md, "Streaming"): the trace is planned as a sequence of
  // segments, each a plan of its own that the worker runs after the previous one has
  // completed. Only the live objects and the segment's ops are held. Call before the
  // first add(), with the trace's number of recorded threads (every segment has them
  // all, in order of first appearance, as a whole plan does).
  // A streamed plan forgets the addresses nothing lives at once it remembers more than
  // `remembered_addresses` and twice the live ones (a program that keeps using fresh
  // addresses would otherwise grow the table with the trace): a later free of such an
  // address counts as an unknown free rather than a double free.
  static constexpr size_t kRememberedAddresses = size_t{1} << 19;
  void stream(uint32_t thread_count, size_t remembered_addresses = kRememberedAddresses);
  size_t address_count() const { return addresses_.size(); }
  // Whether the current segment may end after the last event added: at least
  // `min_events` in it, and no release waiting for its allocation (an inversion).
  bool segment_may_end(uint64_t min_events) const {
    return segment_events_ >= min_events && pending_.empty();
  }
  // The current segment's plan, `last` at the end of the trace; valid until the next
  // add() or finish_segment().
  const Plan& finish_segment(bool last);

 private:
  // 32 bytes, two to a cache line: a release finds here all it reads of its object
  // (walk_end took the bytes from the plan's objects, a second miss per release).
  // Held for live objects only, at an index of their own (AddressState::state) that
  // serves again as soon as the object ends: the states stay as few as the live
  // objects and in the cache. Indexed by object id, they spanned every id a segment
  // hands out (ids serve again only from the next segment), and the load of a freed
  // object's state missed the cache (9 % of planning's samples, Session 10).
  struct ObjectState {
    uint64_t bytes = 0;  // requested (PlanObject::bytes)
    uint32_t last_slot = 0;
    uint32_t last_op = 0;
    uint32_t touches = 0;
    uint32_t segment = 0;  // of its last touch (streaming)
    bool last_is_producer = true;
    bool published = false;  // a touch waits on its stage word (streaming resets it)
    bool measured = false;   // a kTouched event gave its extent
  };
  struct Pending {
    uint32_t slot;
    uint32_t op;
    uint64_t time_ns;
    PlanKind kind;
  };
  struct AddressState {
    uint32_t live = kNoObject;
    uint32_t state : 31 = 0;  // of the live object: its ObjectState's index
    uint32_t was_freed : 1 = 0;
  };
  // Recorded address -> its state: open addressing with linear probing (one probe
  // sequence in one array; std::unordered_map's node per address cost 11 % of
  // planning). Address 0 is never a key: nothing lives there.
  class AddressTable {
   public:
    AddressState* find(uint64_t address);
    AddressState& operator[](uint64_t address);
    size_t size() const { return used_; }
    // Keeps only the addresses an object lives at.
    void forget_released();

   private:
    // Neighbouring blocks (16-byte granules) land in neighbouring slots, as allocators
    // hand out neighbouring addresses in a row: the table is walked like the heap was.
    // Each table-sized window of the address space starts at a scrambled offset.
    size_t home(uint64_t address) const {
      const uint64_t granule = address >> 4;
      const int bits = 64 - shift_;
      return static_cast<size_t>(granule + (granule >> bits) * 0x9e3779b97f4a7c15ull) &
             (slots_.size() - 1);
    }
    void grow();
    void rebuild(size_t capacity, bool live_only);
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
    uint32_t realloc_state = 0;
    uint64_t realloc_ptr = 0;
    bool realloc_pending = false;  // its pointer was unknown: maybe an inversion
  };

  uint32_t slot_of(uint32_t recorded_thread) {
    if (recorded_thread < slot_by_thread_.size()) {
      const uint32_t slot = slot_by_thread_[recorded_thread];
      if (slot != kNoObject) return slot;
    }
    return new_slot(recorded_thread);
  }
  uint32_t new_slot(uint32_t recorded_thread);  // a thread not seen yet, or beyond the table
  void add_one(const traces::Event& event);
  uint32_t append(uint32_t slot, PlanKind kind, uint8_t flags, uint64_t size, uint64_t aux);
  uint32_t produce(uint32_t slot, uint32_t op_index, uint64_t address, uint64_t bytes,
                   uint32_t align, PlanKind kind, uint64_t time_ns);
  void touch(uint32_t slot, uint32_t op_index, uint32_t obj, uint32_t state);
  // Releases the live object at `address` for a consumer, and its state's index in
  // `state`; kNoObject when unknown.
  uint32_t take(uint64_t address, uint32_t& state);
  uint32_t new_state();
  // Op `op_index` of `slot` ended the object whose state is `state`: a stage word that
  // was published is reset by it (streaming), and the state serves again.
  void end_state(uint32_t slot, uint32_t op_index, uint32_t state);
  void remember_pending(uint64_t address, uint32_t slot, uint32_t op, uint64_t time, PlanKind kind);
  void settle_pending(uint64_t address, uint32_t producer_slot, uint64_t time, uint32_t obj,
                      uint32_t state);
  void count_unmatched(uint64_t address, PlanKind kind);
  void add_allocation(uint32_t slot, const traces::Event& e, PlanKind kind);
  void add_realloc_end(uint32_t slot, const traces::Event& e, PlanKind kind);
  void group_objects_by_producer();
  uint32_t new_object_id(uint32_t slot);
  void expire_pending();
  void settle_remaining();
  void open_segment();
  // The serial walk of the current op, done as it is added (see in_merged_order_).
  void save_walk();
  void walk_end(uint32_t slot, uint32_t obj, uint32_t state);
  void walk_produce(uint32_t slot, uint32_t obj, uint64_t bytes);
  // At the end of a segment or whole plan: its serial order, pace keys, live set.
  void schedule(bool whole);

  Plan plan_;
  uint64_t time_ns_ = 0;               // of the event being added
  std::vector<ObjectState> objects_;   // [AddressState::state]
  std::vector<uint32_t> free_states_;  // indices in objects_ that serve again
  std::vector<uint32_t> producer_slot_;
  std::vector<ThreadState> thread_state_;
  // Recorded thread index -> slot: a table for the dense indices traces have, a map
  // for any beyond it.
  static constexpr uint32_t kDirectThreads = uint32_t{1} << 16;
  std::vector<uint32_t> slot_by_thread_;
  std::vector<uint64_t> expected_events_;  // [recorded thread], from expect_events
  std::unordered_map<uint32_t, uint32_t> slots_;
  uint32_t slot_count_ = 0;
  AddressTable addresses_;
  std::unordered_map<uint64_t, std::vector<Pending>> pending_;

  // Streaming. Ids are handed out in blocks of kIdBlock per producing thread (so that
  // live-table entries of different threads do not share cache lines) and an ended
  // object's id returns to its block's thread for the next segments.
  static constexpr uint32_t kIdBlock = 16;
  bool streaming_ = false;
  size_t address_limit_ = 0;  // forget released addresses past this many
  size_t remembered_addresses_ = kRememberedAddresses;
  bool segment_open_ = true;  // false once finish_segment handed out its plan
  // A large block's kTouched event comes just before its release, often segments after
  // the one that made it, when its allocation (and the touch the replay does there) has
  // been handed out. So the blocks of 16 KiB or more this segment made that are still
  // live and unmeasured at its end get the share of their pages that the blocks of
  // their power-of-two size class measured so far used (none measured yet: whole).
  struct ExtentClass {
    double used = 0;  // sum of used / bytes
    uint64_t blocks = 0;
  };
  std::vector<std::pair<uint32_t, uint64_t>> unmeasured_;  // (object, address)
  ExtentClass extent_classes_[64] = {};
  ExtentClass& extent_class(uint64_t bytes) { return extent_classes_[63 - __builtin_clzll(bytes)]; }
  void predict_unmeasured_extents();
  std::vector<uint32_t> ended_;  // ids the handed-out segment ended
  uint32_t segment_ = 0;
  uint64_t segment_events_ = 0;
  uint32_t next_id_ = 0;
  // A thread's free ids are the set bits of its blocks' masks (ids of its newest block
  // not handed out yet included); the lowest goes first. first_free_[slot] is the rank,
  // in owned_blocks_[slot], below which no block has a free id.
  static_assert(kIdBlock == 16);
  std::vector<uint32_t> block_owner_;                // [id / kIdBlock] -> slot
  std::vector<uint16_t> block_free_;                 // [id / kIdBlock] -> mask of free ids
  std::vector<uint32_t> block_rank_;                 // [id / kIdBlock] -> its rank in its slot's
  std::vector<std::vector<uint32_t>> owned_blocks_;  // [slot] -> its blocks, ascending
  std::vector<uint32_t> first_free_;                 // [slot]
  std::vector<bool> live_;                           // [id]: live along the serial order
  uint64_t live_bytes_ = 0, peak_live_ = 0, pace_running_ = 0;

  // Each op's slot goes into plan_.serial_order and its position there into its
  // thread's serial array as it is added, in merged (recorded) order. No op then waits
  // for one recorded after it unless an inversion was repaired, and while none was,
  // that order is the serial order: the builder walks the live set (and the serial
  // peak) op by op as it adds them, and the scheduler's heap is not needed. The first
  // repaired inversion stops that: the walk's state goes back to the segment's start
  // (saved here) and schedule_plan/schedule_segment order the segment as before.
  bool in_merged_order_ = true;
  bool times_sorted_ = true;  // recorded times non-decreasing so far: they are the keys
  uint64_t last_time_ = 0;
  uint64_t peak_index_ = 0;       // serial positions up to the peak, in this segment
  std::vector<uint32_t> ending_;  // ids this segment's ops end, as they are added
  std::vector<bool> live_saved_;
  uint64_t live_bytes_saved_ = 0, peak_live_saved_ = 0, pace_running_saved_ = 0;
};

// The end of a schedule whose serial order is the merged one, already walked: thread
// start and exit gates and, for a whole plan, the objects live at the serial peak
// (after `peak_index` ops of the serial order).
void finish_merged_schedule(Plan& plan, bool whole, uint64_t peak_index);

// Orders the plan's ops into one serial order that respects every dependency,
// preferring recorded order; breaks (and counts) cycles that a wrong inversion repair
// could create; computes the serial peak of live requested bytes and its live set.
void schedule_plan(Plan& plan);

// The same for a segment of a streamed plan: the serial order of its ops alone (the
// previous segments have completed), the live set and the pace keys carried over from
// them in `live`, `live_bytes`, `peak` and `pace_running`; no peak live set.
void schedule_segment(Plan& plan, std::vector<bool>& live, uint64_t& live_bytes, uint64_t& peak,
                      uint64_t& pace_running);

}  // namespace mtreplay::replay
