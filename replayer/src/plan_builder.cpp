#include "mtreplay/replay/plan_builder.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace mtreplay::replay {
namespace {

using traces::Op;

PlanKind allocation_kind(Op op) {
  switch (op) {
    case Op::kMalloc:
      return PlanKind::kMalloc;
    case Op::kCalloc:
      return PlanKind::kCalloc;
    case Op::kMemalign:
      return PlanKind::kMemalign;
    case Op::kPosixMemalign:
      return PlanKind::kPosixMemalign;
    case Op::kAlignedAlloc:
      return PlanKind::kAlignedAlloc;
    case Op::kValloc:
      return PlanKind::kValloc;
    case Op::kPvalloc:
      return PlanKind::kPvalloc;
    default:
      return PlanKind::kSkip;
  }
}

bool is_realloc_kind(PlanKind kind) {
  return kind == PlanKind::kRealloc || kind == PlanKind::kReallocArray;
}

}  // namespace

// Inlined into the builder's loop, which makes one of these lookups an event: as calls
// (flatten left them so), their entries and the reloads of the table's base and mask
// were 2.6 % of the builder thread's instructions.
[[gnu::always_inline]] inline PlanBuilder::AddressState* PlanBuilder::AddressTable::find(
    uint64_t address) {
  if (address == 0) return &zero_;
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(address);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.address == address) return &slot.state;
    if (slot.address == 0) return nullptr;
  }
}

[[gnu::always_inline]] inline PlanBuilder::AddressState& PlanBuilder::AddressTable::operator[](
    uint64_t address) {
  if (address == 0) return zero_;
  if ((used_ + 1) * 2 > slots_.size()) grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(address);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.address == address) return slot.state;
    if (slot.address == 0) {
      slot.address = address;
      ++used_;
      return slot.state;
    }
  }
}

void PlanBuilder::AddressTable::rebuild(size_t capacity, bool live_only) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  shift_ = 64 - __builtin_ctzll(capacity);
  used_ = 0;
  const size_t mask = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.address == 0 || (live_only && slot.state.live == kNoObject)) continue;
    size_t i = home(slot.address);
    while (slots_[i].address != 0) i = (i + 1) & mask;
    slots_[i] = slot;
    ++used_;
  }
}

void PlanBuilder::AddressTable::grow() {
  rebuild(slots_.empty() ? 1024 : slots_.size() * 2, false);
}

void PlanBuilder::AddressTable::forget_released() {
  size_t live = 0;
  for (const Slot& slot : slots_) live += slot.address != 0 && slot.state.live != kNoObject;
  size_t capacity = 1024;
  while (capacity < 4 * live) capacity *= 2;
  rebuild(capacity, true);
}

PlanBuilder::PlanBuilder(uint64_t page_size) {
  plan_.page_size = page_size ? page_size : 4096;
}

uint32_t PlanBuilder::new_slot(uint32_t recorded_thread) {
  uint32_t slot;
  if (recorded_thread < kDirectThreads) {
    if (recorded_thread >= slot_by_thread_.size())
      slot_by_thread_.resize(std::max<size_t>(recorded_thread + 1, 2 * slot_by_thread_.size()),
                             kNoObject);
    slot = slot_by_thread_[recorded_thread] = slot_count_++;
  } else {
    auto [it, inserted] = slots_.try_emplace(recorded_thread, slot_count_);
    if (!inserted) return it->second;
    slot = slot_count_++;
  }
  // A streamed plan has every thread from its first segment on, in order of first
  // appearance like a whole plan; one more than the trace declared still gets a slot.
  if (slot >= plan_.threads.size()) {
    plan_.threads.emplace_back().wide_ops = 0;
    thread_state_.emplace_back();
    owned_blocks_.emplace_back();
    first_free_.push_back(0);
  }
  ThreadPlan& thread = plan_.threads[slot];
  thread.recorded_index = recorded_thread;
  if (recorded_thread < expected_events_.size()) {
    const uint64_t events = expected_events_[recorded_thread];
    thread.ops.reserve(events);
    thread.pace_ns.reserve(events);
    thread.serial.reserve(events);
    thread.live_after.reserve(events + 1);
  }
  return slot;
}

void PlanBuilder::expect_events(uint32_t recorded_thread, uint64_t events) {
  if (recorded_thread >= kDirectThreads) return;
  if (recorded_thread >= expected_events_.size()) expected_events_.resize(recorded_thread + 1, 0);
  expected_events_[recorded_thread] = events;
  uint64_t total = 0;
  for (uint64_t n : expected_events_) total += n;
  plan_.serial_order.reserve(total);
}

[[gnu::always_inline]] inline uint32_t PlanBuilder::append(uint32_t slot, PlanKind kind,
                                                           uint8_t flags, uint64_t size,
                                                           uint64_t aux) {
  auto& thread = plan_.threads[slot];
  // Made in place from values in registers: a PlanOp put together on the stack and
  // copied in stalled on the partial stores it was made of.
  PlanOp& op = thread.ops.emplace_back();
  op.kind = kind;
  op.flags = flags;
  op.size = size;
  op.aux = aux;
  thread.wide_ops += image_op_is_wide(flags, aux, size);
  thread.pace_ns.push_back(time_ns_);
  if (thread.live_after.empty()) thread.live_after.push_back(0);
  thread.live_after.push_back(thread.live_after.back());
  thread.serial.push_back(static_cast<uint32_t>(plan_.serial_order.size()));
  plan_.serial_order.push_back(slot);
  if (time_ns_ < last_time_) times_sorted_ = false;
  last_time_ = time_ns_;
  return static_cast<uint32_t>(thread.ops.size() - 1);
}

[[gnu::always_inline]] inline void PlanBuilder::touch(uint32_t slot, uint32_t op_index,
                                                      uint32_t obj, uint32_t state_index) {
  ObjectState& state = objects_[state_index];
  PlanOp& op = plan_.threads[slot].ops[op_index];
  op.in_obj = obj;
  op.in_stage = state.touches;
  // A touch in an earlier segment of a streamed plan has completed before this one
  // begins: only links inside a segment wait.
  if (state.last_slot != slot && state.segment == segment_) {
    // Each op that becomes wide here is counted once (ThreadPlan::wide_ops).
    plan_.threads[slot].wide_ops += !image_op_is_wide(op.flags, op.aux, op.size);
    op.flags |= kWaitIn;
    ThreadPlan& last = plan_.threads[state.last_slot];
    PlanOp& previous = last.ops[state.last_op];
    if (!state.last_is_producer)
      last.wide_ops += !image_op_is_wide(previous.flags, previous.aux, previous.size);
    previous.flags |= state.last_is_producer ? kPublishOut : kPublishIn;
    state.published = true;
  }
  state.segment = segment_;
  ++state.touches;
  state.last_slot = slot;
  state.last_op = op_index;
  state.last_is_producer = false;
}

[[gnu::always_inline]] inline uint32_t PlanBuilder::take(uint64_t address, uint32_t& state_index) {
  AddressState* state = addresses_.find(address);
  if (!state || state->live == kNoObject) return kNoObject;
  uint32_t obj = state->live;
  state_index = state->state;
  state->live = kNoObject;
  state->was_freed = true;
  return obj;
}

[[gnu::always_inline]] inline uint32_t PlanBuilder::new_state() {
  if (!free_states_.empty()) {
    const uint32_t index = free_states_.back();
    free_states_.pop_back();
    return index;
  }
  if (objects_.size() >= (size_t{1} << 31))
    throw std::length_error("more than 2 billion objects live at once");
  objects_.emplace_back();
  return static_cast<uint32_t>(objects_.size() - 1);
}

[[gnu::always_inline]] inline void PlanBuilder::end_state(uint32_t slot, uint32_t op_index,
                                                          uint32_t state_index) {
  if (streaming_ && objects_[state_index].published)
    plan_.threads[slot].ops[op_index].flags |= kResetStage;
  free_states_.push_back(state_index);
}

void PlanBuilder::remember_pending(uint64_t address, uint32_t slot, uint32_t op, uint64_t time,
                                   PlanKind kind) {
  pending_[address].push_back({slot, op, time, kind});
}

void PlanBuilder::count_unmatched(uint64_t address, PlanKind kind) {
  const AddressState* state = addresses_.find(address);
  bool was_freed = state && state->was_freed;
  if (is_realloc_kind(kind)) {
    ++plan_.anomalies.unknown_realloc;
  } else if (was_freed) {
    ++plan_.anomalies.double_free;
  } else {
    ++plan_.anomalies.unknown_free;
  }
}

// A consumer of `address` was recorded before this allocation of it on another
// thread, within the window: the consumer belongs to this object.
[[gnu::always_inline]] inline void PlanBuilder::settle_pending(uint64_t address,
                                                               uint32_t producer_slot,
                                                               uint64_t time, uint32_t obj,
                                                               uint32_t state_index) {
  auto it = pending_.empty() ? pending_.end() : pending_.find(address);
  if (it == pending_.end()) {
    AddressState& state = addresses_[address];
    state.live = obj;
    state.state = state_index;
    return;
  }
  bool ended = false;
  for (const Pending& p : it->second) {
    // The release can carry a later stamp than this allocation only if a thread's clock
    // went backwards; the window bounds that case too, or one bad stamp could tie a
    // consumer to an allocation seconds away and stall it for the whole replay.
    const uint64_t distance = time >= p.time_ns ? time - p.time_ns : p.time_ns - time;
    const bool in_window = distance <= kInversionWindowNs;
    if (!ended && p.slot != producer_slot && in_window) {
      PlanOp& op = plan_.threads[p.slot].ops[p.op];
      op.kind = p.kind;
      op.flags |= kEndsIn;
      touch(p.slot, p.op, obj, state_index);
      end_state(p.slot, p.op, state_index);
      ++plan_.anomalies.inversions_repaired;
      in_merged_order_ = false;  // this op waits for a later one
      ended = true;
    } else {
      count_unmatched(address, p.kind);
    }
  }
  pending_.erase(it);
  AddressState& state = addresses_[address];
  state.live = ended ? kNoObject : obj;
  state.state = state_index;
  if (ended) state.was_freed = true;
}

[[gnu::always_inline]] inline uint32_t PlanBuilder::produce(uint32_t slot, uint32_t op_index,
                                                            uint64_t address, uint64_t bytes,
                                                            uint32_t align, PlanKind kind,
                                                            uint64_t time_ns) {
  uint32_t obj;
  const uint32_t state = new_state();
  if (streaming_) {
    obj = new_object_id(slot);
    plan_.objects[obj] = {bytes, align, kind, {}};
    plan_.created.push_back(obj);
    objects_[state] = {bytes, slot, op_index, 1, segment_, true, false};
  } else {
    obj = static_cast<uint32_t>(plan_.objects.size());
    plan_.objects.push_back({bytes, align, kind, {}});
    plan_.object_addresses.push_back(address);
    objects_[state] = {bytes, slot, op_index, 1, 0, true, false};
    producer_slot_.push_back(slot);
  }
  plan_.threads[slot].ops[op_index].out_obj = obj;
  walk_produce(slot, obj, bytes);
  settle_pending(address, slot, time_ns, obj, state);
  return obj;
}

[[gnu::always_inline]] inline void PlanBuilder::add_allocation(uint32_t slot,
                                                               const traces::Event& e,
                                                               PlanKind kind) {
  const bool failed = e.result == 0 || (kind == PlanKind::kPosixMemalign && e.error != 0);
  const uint32_t index = append(slot, kind, failed ? kRecordedFailed : 0, e.size,
                                kind == PlanKind::kCalloc ? e.count : e.align);
  if (failed) {
    ++plan_.anomalies.failed_alloc_recorded;
    return;
  }
  uint64_t bytes = kind == PlanKind::kCalloc ? e.size * e.count : e.size;
  const uint32_t obj =
      produce(slot, index, e.result, bytes, static_cast<uint32_t>(e.align), kind, e.time_ns);
  if (streaming_ && bytes >= traces::kTouchedMinBytes) unmeasured_.emplace_back(obj, e.result);
}

void PlanBuilder::add_realloc_end(uint32_t slot, const traces::Event& e, PlanKind kind) {
  ThreadState& ts = thread_state_[slot];
  uint32_t in_obj = kNoObject, in_state = 0;
  bool unknown = false;
  if (ts.in_realloc && ts.realloc_ptr == e.ptr) {
    in_obj = ts.realloc_obj;
    in_state = ts.realloc_state;
    unknown = ts.realloc_pending;
  } else if (e.ptr != 0) {
    in_obj = take(e.ptr, in_state);
    unknown = in_obj == kNoObject;
  }
  ts = ThreadState{};

  uint64_t bytes = kind == PlanKind::kReallocArray ? e.size * e.count : e.size;
  bool failed = e.result == 0;
  uint32_t index = append(slot, kind, 0, e.size, kind == PlanKind::kReallocArray ? e.count : 0);
  PlanOp& placed = plan_.threads[slot].ops[index];

  if (in_obj != kNoObject) {
    touch(slot, index, in_obj, in_state);
    if (failed && bytes != 0) {
      // A failed realloc leaves the block where it was: the object lives on.
      placed.flags |= kRecordedFailed;
      ++plan_.anomalies.failed_alloc_recorded;
      AddressState& state = addresses_[e.ptr];
      state.live = in_obj;
      state.state = in_state;
      return;
    }
    placed.flags |= kEndsIn;
    walk_end(slot, in_obj, in_state);
    end_state(slot, index, in_state);
    if (failed) {  // realloc(p, 0) that freed p
      placed.flags |= kRecordedFailed;
      return;
    }
  } else if (unknown) {
    if (failed) {
      ++plan_.anomalies.unknown_realloc;
      placed.flags |= kRecordedFailed;
      return;
    }
    remember_pending(e.ptr, slot, index, e.time_ns, kind);
  } else if (failed) {
    placed.flags |= kRecordedFailed;
    ++plan_.anomalies.failed_alloc_recorded;
    return;
  }
  produce(slot, index, e.result, bytes, 0, kind, e.time_ns);
}

[[gnu::always_inline]] inline void PlanBuilder::add_one(const traces::Event& e) {
  if (!segment_open_) open_segment();
  uint32_t slot = slot_of(e.thread);
  time_ns_ = e.time_ns;
  if (streaming_) {
    ++segment_events_;
    if (!pending_.empty() && (segment_events_ & 1023) == 0) expire_pending();
  }
  switch (e.op) {
    case Op::kThreadStart:
      plan_.threads[slot].os_tid = static_cast<uint32_t>(e.result);
      plan_.threads[slot].start_rank = plan_.serial_order.size();
      break;
    case Op::kThreadExit:
      plan_.threads[slot].exit_rank = plan_.serial_order.size();
      break;
    case Op::kFork:
    case Op::kExec:
      break;
    case Op::kFree: {
      uint32_t state = 0;
      uint32_t obj = e.ptr ? take(e.ptr, state) : kNoObject;
      uint32_t index = append(slot, PlanKind::kFree, 0, 0, 0);
      if (obj != kNoObject) {
        plan_.threads[slot].ops[index].flags |= kEndsIn;
        touch(slot, index, obj, state);
        walk_end(slot, obj, state);
        end_state(slot, index, state);
      } else if (e.ptr != 0) {
        plan_.threads[slot].ops[index].kind = PlanKind::kSkip;
        remember_pending(e.ptr, slot, index, e.time_ns, PlanKind::kFree);
      }
      break;
    }
    case Op::kUsableSize: {
      const AddressState* state = addresses_.find(e.ptr);
      uint32_t obj = state ? state->live : kNoObject;
      uint32_t index = append(slot, PlanKind::kUsableSize, 0, 0, 0);
      if (obj != kNoObject) {
        touch(slot, index, obj, state->state);
      } else {
        plan_.threads[slot].ops[index].kind = PlanKind::kSkip;
        ++plan_.anomalies.unknown_usable_size;
      }
      break;
    }
    case Op::kTouched: {
      // Not a call: how much of a live block the program used. In a streamed plan a
      // block made in a segment already handed over keeps its predicted extent
      // (predict_unmeasured_extents) for the touch at its allocation; this one counts
      // for its read-back and for the predictions of its size class.
      const AddressState* state = addresses_.find(e.ptr);
      if (!state || state->live == kNoObject) break;
      PlanObject& object = plan_.objects[state->live];
      set_used_bytes(object, e.result);
      if (object.bytes > 0) {
        ExtentClass& c = extent_class(object.bytes);
        c.used += std::min(1.0, static_cast<double>(e.result) / static_cast<double>(object.bytes));
        ++c.blocks;
      }
      objects_[state->state].measured = true;
      break;
    }
    case Op::kReallocBegin: {
      ThreadState& ts = thread_state_[slot];
      ts.in_realloc = true;
      ts.realloc_ptr = e.ptr;
      ts.realloc_obj = e.ptr ? take(e.ptr, ts.realloc_state) : kNoObject;
      ts.realloc_pending = e.ptr != 0 && ts.realloc_obj == kNoObject;
      break;
    }
    case Op::kRealloc:
      add_realloc_end(slot, e, PlanKind::kRealloc);
      break;
    case Op::kReallocArray:
      add_realloc_end(slot, e, PlanKind::kReallocArray);
      break;
    default: {
      PlanKind kind = allocation_kind(e.op);
      if (kind != PlanKind::kSkip) add_allocation(slot, e, kind);
      break;
    }
  }
  if (live_bytes_ > peak_live_ && in_merged_order_)
    peak_live_ = live_bytes_, peak_index_ = plan_.serial_order.size();
}

void PlanBuilder::add(const traces::Event& e) {
  add_one(e);
}

// Flattened: GCC left the per-op vector appends (PlanOp's emplace_back, the uint32_t
// push_backs) and the address table's lookups out of line, a call each per event; with
// them inlined the builder's thread takes 7 % fewer instructions (BENCHMARKS.md "Scale",
// Session 12).
[[gnu::flatten]] size_t PlanBuilder::add_until_end(const traces::Event* events, size_t count,
                                                   uint64_t min_events, uint32_t prefetch_ahead) {
  for (size_t i = 0; i < count; ++i) {
    if (i + prefetch_ahead < count) prefetch_line(events + i + prefetch_ahead);
    add_one(events[i]);
    if (segment_may_end(min_events)) return i + 1;
  }
  return count;
}

void PlanBuilder::save_walk() {
  in_merged_order_ = true;
  ending_.clear();
  times_sorted_ = true;
  last_time_ = pace_running_;
  peak_index_ = 0;
  live_saved_ = live_;
  live_bytes_saved_ = live_bytes_, peak_live_saved_ = peak_live_;
  pace_running_saved_ = pace_running_;
}

// The op `op_index` of `slot`, just added, ends `obj` (its last touch: nothing touches
// it after, so whether its stage word was published is known now).
[[gnu::always_inline]] inline void PlanBuilder::walk_end(uint32_t slot, uint32_t obj,
                                                         uint32_t state_index) {
  if (!in_merged_order_) return;
  const uint64_t bytes = objects_[state_index].bytes;
  ThreadPlan& thread = plan_.threads[slot];
  thread.live_after.back() -= static_cast<int64_t>(bytes);
  if (live_[obj]) {
    live_[obj] = false;
    live_bytes_ -= bytes;
  }
  if (streaming_) ending_.push_back(obj);
}

[[gnu::always_inline]] inline void PlanBuilder::walk_produce(uint32_t slot, uint32_t obj,
                                                             uint64_t bytes) {
  if (!in_merged_order_) return;
  plan_.threads[slot].live_after.back() += static_cast<int64_t>(bytes);
  if (obj >= live_.size()) live_.resize(std::max<size_t>(obj + 1, plan_.objects.size()), false);
  live_[obj] = true;
  live_bytes_ += bytes;
}

void PlanBuilder::schedule(bool whole) {
  if (in_merged_order_) {
    // Keys are the recorded times raised to the running maximum along the serial
    // order: already so when the times never went back.
    if (times_sorted_) {
      pace_running_ = std::max(pace_running_, last_time_);
    } else {
      std::vector<uint64_t> cursor(plan_.threads.size(), 0);
      for (uint32_t slot : plan_.serial_order) {
        uint64_t& key = plan_.threads[slot].pace_ns[cursor[slot]++];
        pace_running_ = std::max(pace_running_, key);
        key = pace_running_;
      }
    }
    finish_merged_schedule(plan_, whole, peak_index_);
    plan_.peak_live_bytes = peak_live_;
    return;
  }
  for (ThreadPlan& thread : plan_.threads) {
    thread.live_after.clear();
    thread.wide_ops = ThreadPlan::kNoCount;  // cycles broken may make ops narrow again
  }
  live_.swap(live_saved_);
  live_.resize(plan_.objects.size(), false);
  live_bytes_ = live_bytes_saved_, peak_live_ = peak_live_saved_;
  pace_running_ = pace_running_saved_;
  if (whole) {
    schedule_plan(plan_);
  } else {
    schedule_segment(plan_, live_, live_bytes_, peak_live_, pace_running_);
  }
}

// Object ids in creation order interleave the threads, so neighbouring live-table
// entries would belong to different threads and every write would bounce a cache line
// between cores. Renumbered so that each producing thread's objects are contiguous.
void PlanBuilder::group_objects_by_producer() {
  std::vector<uint64_t> per_slot(plan_.threads.size(), 0);
  for (uint32_t producer : producer_slot_) ++per_slot[producer];
  std::vector<uint64_t> next(plan_.threads.size(), 0);
  for (size_t slot = 1; slot < per_slot.size(); ++slot)
    next[slot] = next[slot - 1] + per_slot[slot - 1];
  std::vector<uint32_t> renamed(plan_.objects.size());
  std::vector<PlanObject> objects(plan_.objects.size());
  std::vector<uint64_t> addresses(plan_.objects.size());
  for (size_t obj = 0; obj < plan_.objects.size(); ++obj) {
    renamed[obj] = static_cast<uint32_t>(next[producer_slot_[obj]]++);
    objects[renamed[obj]] = plan_.objects[obj];
    addresses[renamed[obj]] = plan_.object_addresses[obj];
  }
  plan_.objects = std::move(objects);
  plan_.object_addresses = std::move(addresses);
  for (auto& thread : plan_.threads) {
    for (auto& op : thread.ops) {
      if (op.in_obj != kNoObject) op.in_obj = renamed[op.in_obj];
      if (op.out_obj != kNoObject) op.out_obj = renamed[op.out_obj];
    }
  }
}

// Releases still waiting for their allocation at the end of the trace: unmatched.
void PlanBuilder::settle_remaining() {
  for (auto& [address, waiting] : pending_) {
    for (const Pending& p : waiting) count_unmatched(address, p.kind);
  }
  pending_.clear();
}

Plan PlanBuilder::finish() {
  settle_remaining();
  uint64_t ops = 0;
  for (const auto& t : plan_.threads) ops += t.ops.size();
  plan_.op_count = ops;
  group_objects_by_producer();
  schedule(true);
  return std::move(plan_);
}

void PlanBuilder::stream(uint32_t thread_count, size_t remembered_addresses) {
  streaming_ = true;
  remembered_addresses_ = address_limit_ = remembered_addresses;
  plan_.threads.resize(thread_count);
  for (ThreadPlan& thread : plan_.threads) thread.wide_ops = 0;
  thread_state_.resize(thread_count);
  owned_blocks_.resize(thread_count);
  first_free_.assign(thread_count, 0);
}

[[gnu::always_inline]] inline uint32_t PlanBuilder::new_object_id(uint32_t slot) {
  const std::vector<uint32_t>& blocks = owned_blocks_[slot];
  uint32_t& rank = first_free_[slot];
  while (rank < blocks.size() && block_free_[blocks[rank]] == 0) ++rank;
  if (rank == blocks.size()) {
    if (next_id_ > kNoObject - kIdBlock)
      throw std::length_error("more than 4 billion objects live at once");
    const uint32_t block = next_id_ / kIdBlock;
    next_id_ += kIdBlock;
    block_owner_.push_back(slot);
    block_free_.push_back(0xffff);
    block_rank_.push_back(static_cast<uint32_t>(blocks.size()));
    owned_blocks_[slot].push_back(block);
    plan_.objects.resize(next_id_);
  }
  const uint32_t block = blocks[rank];
  const int bit = __builtin_ctz(block_free_[block]);
  block_free_[block] = static_cast<uint16_t>(block_free_[block] & ~(1u << bit));
  return block * kIdBlock + static_cast<uint32_t>(bit);
}

// A release waits for its allocation (an inversion) at most kInversionWindowNs of
// recorded time; past that it is unmatched whatever comes. Settled here when streaming,
// so that a segment can end (a whole plan settles them when the address comes back).
void PlanBuilder::expire_pending() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& waiting = it->second;
    std::erase_if(waiting, [&](const Pending& p) {
      if (p.time_ns + kInversionWindowNs >= time_ns_) return false;
      count_unmatched(it->first, p.kind);
      return true;
    });
    it = waiting.empty() ? pending_.erase(it) : std::next(it);
  }
}

void PlanBuilder::predict_unmeasured_extents() {
  for (const auto& [obj, address] : unmeasured_) {
    const AddressState* state = addresses_.find(address);
    if (!state || state->live != obj || objects_[state->state].measured)
      continue;  // ended, or known
    PlanObject& object = plan_.objects[obj];
    const ExtentClass& c = extent_class(object.bytes);
    if (c.blocks == 0) continue;
    const double share = c.used / static_cast<double>(c.blocks);
    set_used_bytes(object,
                   static_cast<uint64_t>(std::ceil(share * static_cast<double>(object.bytes))));
  }
  unmeasured_.clear();
}

const Plan& PlanBuilder::finish_segment(bool last) {
  if (!segment_open_) open_segment();
  if (last) settle_remaining();
  predict_unmeasured_extents();
  uint64_t ops = 0;
  for (const auto& t : plan_.threads) ops += t.ops.size();
  plan_.op_count = ops;
  plan_.segment = segment_ + 1;
  plan_.last_segment = last;
  plan_.live_base_bytes = live_bytes_saved_;
  schedule(false);

  // An ended object's id serves again from the next segment on, when this one has
  // completed; a stage word that was published is reset by the op that ends it. In
  // merged order both were noted as the ops were added.
  std::vector<uint32_t> ended = std::move(ended_);
  ended.clear();
  if (in_merged_order_) ended.swap(ending_);
  for (ThreadPlan& thread : plan_.threads) {
    if (!in_merged_order_) {
      // Their ops' kResetStage were set as they ended them (end_state).
      for (const PlanOp& op : thread.ops) {
        if (!(op.flags & kEndsIn) || op.in_obj == kNoObject) continue;
        ended.push_back(op.in_obj);
      }
    }
    if (thread.exit_rank != kNoSeq) thread.flags |= kThreadExits;
  }

  plan_.peak_live_bytes = peak_live_;
  ended_ = std::move(ended);
  if (addresses_.size() > address_limit_) {
    addresses_.forget_released();
    address_limit_ = std::max(remembered_addresses_, 2 * addresses_.size());
  }
  segment_open_ = false;
  return plan_;
}

// The previous segment's plan was handed out: its ops go (the vectors keep their
// capacity, so later segments do not fault their pages in again) and the ids of the
// objects it ended serve again.
void PlanBuilder::open_segment() {
  for (ThreadPlan& thread : plan_.threads) {
    thread.ops.clear();
    thread.serial.clear();
    thread.merged_rank.clear();
    thread.pace_ns.clear();
    thread.live_after.clear();
    thread.wide_ops = 0;
    thread.start_rank = thread.exit_rank = kNoSeq;
    thread.start_slot = thread.exit_slot = kNoObject;
    thread.start_op = thread.exit_op = 0;
    thread.flags = 0;
  }
  plan_.serial_order.clear();
  plan_.created.clear();
  // Each thread's free ids are handed out lowest first: a segment's new objects then
  // sweep the tables (the builder's and the worker's) upwards as a whole plan's do.
  // Reused in the order they ended, they would scatter over every slot after a few
  // segments, and the streamed replay paid a cache miss per op in its tables that the
  // whole plan does not (single mode: +25 % CPU).
  for (uint32_t id : ended_) {
    const uint32_t block = id / kIdBlock;
    block_free_[block] = static_cast<uint16_t>(block_free_[block] | 1u << (id % kIdBlock));
    uint32_t& rank = first_free_[block_owner_[block]];
    rank = std::min(rank, block_rank_[block]);
  }
  ended_.clear();
  ++segment_;
  segment_events_ = 0;
  segment_open_ = true;
  save_walk();
}

}  // namespace mtreplay::replay
