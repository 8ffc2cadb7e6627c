// AddressCells against a plain map of the addresses held, on random event streams with
// address reuse, failed reallocs and unknown pointers: one cell per address while it is
// held, distinct cells for the addresses held at once, a fresh cell exactly when an
// address is new to the table, and only released addresses forgotten. ReadAhead gives
// the events the same cells as the table would one event at a time.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "mtreplay/traces/address_cells.hpp"
#include "mtreplay/traces/read_ahead.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

// What the table should hold: each address's cell and whether its block was released.
struct Model {
  struct Held {
    uint32_t cell;
    bool released;
  };
  std::unordered_map<uint64_t, Held> held;
  size_t remembered, limit;

  explicit Model(size_t remembered) : remembered(remembered), limit(remembered) {}

  uint32_t cell_of(uint64_t address) const {
    auto it = address ? held.find(address) : held.end();
    return it == held.end() ? kNoCell : it->second.cell;
  }
  // `got` is the table's answer for an allocation of `address`.
  void allocated(uint64_t address, uint32_t got) {
    auto it = held.find(address);
    if (it != held.end()) {
      EXPECT_EQ(got, it->second.cell) << "an address held keeps its cell";
      it->second.released = false;
      return;
    }
    ASSERT_NE(got & kFreshCell, 0u) << "a new address gets a fresh cell";
    const uint32_t cell = got & ~kFreshCell;
    for (const auto& [other, h] : held) ASSERT_NE(h.cell, cell) << "cell shared with " << other;
    held[address] = {cell, false};
  }
  void released(uint64_t address) {
    if (auto it = held.find(address); address && it != held.end()) it->second.released = true;
  }
  void forget_if_many() {
    if (limit == 0 || held.size() <= limit) return;
    std::erase_if(held, [](const auto& entry) { return entry.second.released; });
    limit = std::max(remembered, 2 * held.size());
  }
};

Event event(Op op, uint64_t ptr, uint64_t result, uint64_t size = 32) {
  Event e;
  e.op = op, e.ptr = ptr, e.result = result, e.size = size;
  return e;
}

void run_random_stream(size_t remembered, uint32_t seed) {
  std::mt19937_64 rng(seed);
  AddressCells table(remembered);
  Model model(remembered);
  std::vector<uint64_t> live;
  // A pool of 400 addresses, some used again and again, some fresh from further away.
  auto address = [&] {
    return rng() % 4 == 0 ? 0x7f0000000000 + (rng() % 100'000) * 64 : 0x10000 + (rng() % 400) * 48;
  };
  for (int i = 0; i < 60'000; ++i) {
    const uint64_t roll = rng() % 100;
    Event e;
    if (roll < 35 || live.empty()) {
      e = event(rng() % 3 == 0 ? Op::kCalloc : Op::kMalloc, 0, rng() % 50 ? address() : 0);
    } else if (roll < 70) {
      const size_t k = rng() % live.size();
      // Mostly a live block; now and then one freed already, or never allocated.
      e = event(Op::kFree, rng() % 10 ? live[k] : address(), 0);
    } else if (roll < 85) {
      const size_t k = rng() % live.size();
      const bool fails = rng() % 8 == 0;
      e = event(rng() % 2 ? Op::kRealloc : Op::kReallocArray, live[k], fails ? 0 : address(),
                fails && rng() % 2 ? 0 : 64);
      e.count = 1;
    } else if (roll < 95) {
      e = event(rng() % 2 ? Op::kUsableSize : Op::kTouched, live[rng() % live.size()], 8);
    } else {
      e = event(Op::kReallocBegin, live[rng() % live.size()], 0);
    }

    const EventCells got = table.cells_of(e);
    const bool takes = e.op == Op::kFree || e.op == Op::kRealloc || e.op == Op::kReallocArray ||
                       e.op == Op::kUsableSize || e.op == Op::kTouched || e.op == Op::kReallocBegin;
    ASSERT_EQ(got.in, takes ? model.cell_of(e.ptr) : kNoCell) << "event " << i;
    if (e.op == Op::kFree) model.released(e.ptr);
    if (e.op == Op::kRealloc || e.op == Op::kReallocArray) {
      // A realloc that failed for a size other than 0 leaves the block where it was.
      if (e.result != 0 || e.size * e.count == 0) model.released(e.ptr);
    }
    if (allocates(e.op) && e.result != 0) {
      model.allocated(e.result, got.out);
      live.push_back(e.result);
    } else {
      ASSERT_EQ(got.out, kNoCell) << "event " << i;
    }
    if (i % 97 == 0) {
      table.forget_released_if_many();
      model.forget_if_many();
      ASSERT_EQ(table.size(), model.held.size()) << "event " << i;
    }
    if (live.size() > 300) live.erase(live.begin(), live.begin() + 100);
  }
}

TEST(AddressCells, AgreesWithAMapOfTheAddressesHeld) {
  for (uint32_t seed = 1; seed <= 4; ++seed) run_random_stream(0, seed);
}

TEST(AddressCells, ForgetsOnlyReleasedAddressesPastTheLimit) {
  for (uint32_t seed = 1; seed <= 4; ++seed) run_random_stream(64, seed);
}

TEST(AddressCells, AForgottenCellServesAgainFresh) {
  AddressCells table(2);
  const uint32_t a = table.cells_of(event(Op::kMalloc, 0, 0x1000)).out;
  ASSERT_NE(a & kFreshCell, 0u);
  EXPECT_EQ(table.cells_of(event(Op::kMalloc, 0, 0x1000)).out, a & ~kFreshCell);
  table.cells_of(event(Op::kFree, 0x1000, 0));
  table.cells_of(event(Op::kMalloc, 0, 0x2000));
  table.cells_of(event(Op::kMalloc, 0, 0x3000));
  table.forget_released_if_many();  // 3 held, 0x1000 released
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.cells_of(event(Op::kFree, 0x1000, 0)).in, kNoCell);
  EXPECT_EQ(table.cells_of(event(Op::kMalloc, 0, 0x4000)).out, a);  // its cell, fresh
}

TEST(AddressCells, ReadAheadGivesEachEventTheCellsOfOneAtATime) {
  const std::filesystem::path path =
      std::filesystem::path(MTREPLAY_SAMPLES_DIR) / "python3-threads.mtr";
  MergedReader plain(path), ahead_reader(path);
  AddressCells one_at_a_time, on_the_reading_thread;
  ReadAhead ahead(ahead_reader, &on_the_reading_thread);
  Event e;
  uint64_t events = 0;
  for (std::span<const Event> run; !(run = ahead.run()).empty();) {
    const EventCells* cells = ahead.run_cells();
    // Taken in parts, as the plan builder does at a segment's end.
    const size_t take = std::min<size_t>(run.size(), 1 + events % 1000);
    for (size_t i = 0; i < take; ++i, ++events) {
      ASSERT_TRUE(plain.next(e));
      const EventCells want = one_at_a_time.cells_of(e);
      ASSERT_EQ(cells[i].in, want.in) << "event " << events;
      ASSERT_EQ(cells[i].out, want.out) << "event " << events;
    }
    ahead.consume(take);
  }
  EXPECT_FALSE(plain.next(e));
  EXPECT_GT(events, 100'000u);
}

}  // namespace
}  // namespace mtreplay::traces
