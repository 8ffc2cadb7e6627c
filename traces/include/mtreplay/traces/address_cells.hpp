// Each recorded address a small dense number of its own, its cell, given to the events
// that name it. The replayer's plan builder keeps what it knows of an address (which
// object lives there, whether it was freed) at the address's cell, an array index,
// instead of hashing the address itself; the hashing is done here, by whoever reads
// the events: the read-ahead thread (ReadAhead), which has time to spare while the
// builder is the slower of the two (BENCHMARKS.md "Scale", Session 13).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mtreplay/traces/event.hpp"

namespace mtreplay::traces {

inline constexpr uint32_t kNoCell = UINT32_MAX;
// Set on EventCells::out when the cell was given to this address just now: whatever
// the cell held for an address forgotten before is stale.
inline constexpr uint32_t kFreshCell = uint32_t{1} << 31;

struct EventCells {
  uint32_t in = kNoCell;   // the cell of `ptr` (free, realloc, usable_size, touched), if known
  uint32_t out = kNoCell;  // the cell of `result` for an allocation that returned a block
};

class AddressCells {
 public:
  // With `remembered` > 0, the addresses whose block was released are forgotten once more
  // than `remembered` (and twice the others) are held, as forget_released_if_many() is
  // called: a program that keeps using fresh addresses would otherwise grow the table
  // with the trace. 0 remembers every address.
  explicit AddressCells(size_t remembered = 0) : limit_(remembered), remembered_(remembered) {}

  EventCells cells_of(const Event& e);
  void cells_of(const Event* events, size_t count, EventCells* out);
  // Forgets the released addresses if more are held than the limit. Their cells serve
  // again, flagged kFreshCell when they do.
  void forget_released_if_many();
  size_t size() const { return used_; }

 private:
  struct Slot {
    uint64_t address = 0;  // 0: empty (nothing lives at address 0)
    uint32_t cell = 0;
    uint32_t released = 0;  // the last event naming it released its block
  };
  EventCells annotate(const Event& e);
  Slot* find(uint64_t address);
  uint32_t assign(uint64_t address);  // its cell, marked live; kFreshCell if new
  // Neighbouring blocks (16-byte granules) land in neighbouring slots, as allocators
  // hand out neighbouring addresses in a row; each table-sized window of the address
  // space starts at a scrambled offset.
  size_t home(uint64_t address) const {
    const uint64_t granule = address >> 4;
    const int bits = 64 - shift_;
    return static_cast<size_t>(granule + (granule >> bits) * 0x9e3779b97f4a7c15ull) &
           (slots_.size() - 1);
  }
  void rebuild(size_t capacity, bool keep_released);

  std::vector<Slot> slots_;
  size_t used_ = 0;
  int shift_ = 64;
  std::vector<uint32_t> free_cells_;
  uint32_t next_cell_ = 0;
  size_t limit_ = 0;
  size_t remembered_ = 0;  // the limit as given
};

}  // namespace mtreplay::traces
