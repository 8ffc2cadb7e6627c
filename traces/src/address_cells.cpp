#include "mtreplay/traces/address_cells.hpp"

#include <algorithm>
#include <stdexcept>

namespace mtreplay::traces {

[[gnu::always_inline]] inline AddressCells::Slot* AddressCells::find(uint64_t address) {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(address);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.address == address) return &slot;
    if (slot.address == 0) return nullptr;
  }
}

[[gnu::always_inline]] inline uint32_t AddressCells::assign(uint64_t address) {
  if ((used_ + 1) * 2 > slots_.size()) rebuild(slots_.empty() ? 1024 : slots_.size() * 2, true);
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(address);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.address == address) {
      slot.released = 0;
      return slot.cell;
    }
    if (slot.address != 0) continue;
    uint32_t cell;
    if (!free_cells_.empty()) {
      cell = free_cells_.back();
      free_cells_.pop_back();
    } else {
      if (next_cell_ >= kFreshCell) throw std::length_error("more than 2^31 addresses held");
      cell = next_cell_++;
    }
    slot = {address, cell, 0};
    ++used_;
    return cell | kFreshCell;
  }
}

// What the plan builder makes of the event decides what is marked released: a block a
// free or a realloc took, unless the realloc failed (for a size other than 0), which
// leaves the block where it was. A block released by mistake would be forgotten while
// the builder still has it live; one left unreleased is only remembered longer.
[[gnu::always_inline]] inline EventCells AddressCells::annotate(const Event& e) {
  EventCells cells;
  switch (e.op) {
    case Op::kFree:
      if (Slot* slot = e.ptr ? find(e.ptr) : nullptr) {
        cells.in = slot->cell;
        slot->released = 1;
      }
      break;
    case Op::kUsableSize:
    case Op::kTouched:
    case Op::kReallocBegin:
      if (const Slot* slot = e.ptr ? find(e.ptr) : nullptr) cells.in = slot->cell;
      break;
    case Op::kRealloc:
    case Op::kReallocArray:
      if (Slot* slot = e.ptr ? find(e.ptr) : nullptr) {
        cells.in = slot->cell;
        const uint64_t bytes = e.op == Op::kReallocArray ? e.size * e.count : e.size;
        if (e.result != 0 || bytes == 0) slot->released = 1;
      }
      if (e.result != 0) cells.out = assign(e.result);  // after: assign may move the slots
      break;
    default:
      if (allocates(e.op) && e.result != 0) cells.out = assign(e.result);
      break;
  }
  return cells;
}

EventCells AddressCells::cells_of(const Event& e) {
  return annotate(e);
}

// Flattened: one call per batch of the reading thread, not three per event.
[[gnu::flatten]] void AddressCells::cells_of(const Event* events, size_t count, EventCells* out) {
  for (size_t i = 0; i < count; ++i) out[i] = annotate(events[i]);
}

void AddressCells::forget_released_if_many() {
  if (limit_ == 0 || used_ <= limit_) return;
  size_t kept = 0;
  for (const Slot& slot : slots_) kept += slot.address != 0 && !slot.released;
  size_t capacity = 1024;
  while (capacity < 4 * kept) capacity *= 2;
  rebuild(capacity, false);
  limit_ = std::max(remembered_, 2 * used_);
}

void AddressCells::rebuild(size_t capacity, bool keep_released) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  shift_ = 64 - __builtin_ctzll(capacity);
  used_ = 0;
  const size_t mask = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.address == 0) continue;
    if (!keep_released && slot.released) {
      free_cells_.push_back(slot.cell);
      continue;
    }
    size_t i = home(slot.address);
    while (slots_[i].address != 0) i = (i + 1) & mask;
    slots_[i] = slot;
    ++used_;
  }
}

}  // namespace mtreplay::traces
