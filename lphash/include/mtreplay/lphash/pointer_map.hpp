// lphash::PointerMap: the lock-free map from recorded addresses to live values that
// the replayer's threads share.
//
// Shape. One flat table of 16-byte slots {key, word}, open addressing with linear
// probing from a Fibonacci hash of the key. A key, once it has claimed a slot, keeps
// that slot for the life of the table: erase only empties the word, and inserting the
// same key again (an allocator reusing an address) refills it in place. Keys that never
// come back leave dead slots; they are dropped by the next migration, which copies the
// live pairs into a fresh table (same size when the old one was mostly dead, larger
// when it was mostly live). A migration starts when a shard of the table has 3/4 of its
// slots claimed; the thread that starts it copies chunks of 4096 slots. While it runs,
// a key not yet in the old table goes to the new one: the insert first helps copy the
// remaining chunks and waits for chunks other threads are copying, so that the copy
// always has room (it needs at most the old table's size, the new one is never smaller).
//
// Keys: any 64-bit value except 0 and ~0 (recorded addresses are neither).
// Values: any trivially copyable 8-byte type; the bit patterns ~0 and ~1 are reserved
// (no user-space pointer has them). Operations given a reserved key or value fail
// (insert returns false, the others report "absent") and change nothing.
// Memory: mmap only, never malloc; the map can live inside a process whose malloc is
// the allocator being measured. Tables are mapped with MADV_HUGEPAGE.
//
// Guarantees under concurrency (all operations may run concurrently with each other,
// except those marked quiescent):
//   insert, find, erase, update are linearizable. Their linearization point is the
//   successful compare-and-swap on the slot word (insert, erase, update), or the load
//   of the slot word or of the empty key that decided the answer (find, and failing
//   operations).
//   find is wait-free while no migration runs: it never retries, it reads at most one
//   probe sequence per table, and it visits one more table only when a migration
//   moved the key away while it was looking. It never helps, never writes.
//   erase, update, and insert of a key the table already holds (a reused address) are
//   lock-free: a compare-and-swap fails only because another operation on the same
//   slot succeeded. An insert that claims a new slot is lock-free outside migrations;
//   during a migration it helps finish the copy and then waits (sched_yield) for the
//   chunks other threads are still copying, so a thread preempted in the middle of a
//   chunk (at most 4096 slots) can delay new-key inserts; the same holds for an insert
//   that finds a table completely full before its successor is allocated.
//   A value written by insert or update happens-before any operation that reads it
//   (release/acquire on the slot word): the inserting thread's writes to the object
//   are visible to the thread that finds or erases it.
//   wait_find / wait_erase block until the key is present. They spin briefly, then
//   sleep on one of 64 futex words chosen by the key hash. Insert wakes that word only
//   when its waiter count is non-zero, so an insert with nobody waiting makes no system
//   call; the seq_cst order of the waiter's count increment, the waiter's re-check and
//   the inserter's publishing compare-and-swap and count load rules out a lost wake-up.
//   size, for_each, capacity: quiescent only (no concurrent writer), for tests and for
//   the end of a replay.
// Memory reclamation: a table replaced by a migration gives its slot pages back to the
// kernel (MADV_DONTNEED). A thread still holding it reads zero pages, and zero means
// "moved, look in the next table"; only its header page (with `next`) stays until the
// map is destroyed.
#pragma once

#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "mtreplay/lphash/detail/futex.hpp"
#include "mtreplay/lphash/detail/table.hpp"

namespace mtreplay::lphash {

enum class UpdateResult { kUpdated, kMismatch, kAbsent };

template <class Value = std::uint64_t>
class alignas(detail::kCacheLine) PointerMap {
  static_assert(sizeof(Value) == 8 && std::is_trivially_copyable_v<Value>,
                "lphash values are trivially copyable 8-byte words");

 public:
  using Key = std::uint64_t;

  // Sized so that `capacity_hint` live keys fill half the table; grows past it.
  explicit PointerMap(std::size_t capacity_hint = 0)
      : first_(detail::Table::create(detail::capacity_for(capacity_hint), nullptr)) {
    current_.store(first_, std::memory_order_release);
  }
  ~PointerMap() {
    for (detail::Table* t = first_; t != nullptr;) {
      detail::Table* next = t->next.load(std::memory_order_acquire);
      detail::Table::destroy(t);
      t = next;
    }
  }
  PointerMap(const PointerMap&) = delete;
  PointerMap& operator=(const PointerMap&) = delete;

  static constexpr bool valid_key(Key key) {
    return key != detail::kDeadKey && key != detail::kEmptyKey;
  }
  static bool valid_value(Value value) {
    const std::uint64_t word = encode(value);
    return word != detail::kMovedWord && word != detail::kAbsentWord;
  }

  // Adds key -> value if key is absent. Returns false (and changes nothing) if present.
  bool insert(Key key, Value value) {
    if (!valid_key(key) || !valid_value(value)) return false;
    const std::uint64_t word = encode(value);
    detail::Table* t = current_.load(std::memory_order_acquire);
    for (;;) {
      auto [where, slot] = locate<std::memory_order_seq_cst>(*t, key);
      if (where == Where::kRedirect) {
        t = t->next.load(std::memory_order_acquire);
        continue;
      }
      if (where == Where::kFull) {
        t = on_full(t);
        continue;
      }
      if (where == Where::kEmpty) {
        if (detail::Table* next = t->next.load(std::memory_order_acquire)) {
          // A migration is under way: new keys go to the next table. Freezing the
          // empty slot first sends every concurrent insert of this key there too.
          std::uint64_t expected = detail::kEmptyKey;
          if (slot->key.compare_exchange_strong(expected, detail::kDeadKey,
                                                std::memory_order_seq_cst) ||
              expected == detail::kDeadKey) {
            t = next;
          }
          continue;
        }
        if (!claim(*t, slot, key)) continue;  // lost the slot: probe again
      }
      std::uint64_t seen = slot->word.load(std::memory_order_seq_cst);
      for (;;) {
        if (seen == detail::kMovedWord) break;
        if (seen != detail::kAbsentWord) return false;
        // seq_cst: pairs with the waiter's count increment (see wake_waiters).
        if (slot->word.compare_exchange_weak(seen, word, std::memory_order_seq_cst)) {
          wake_waiters(key);
          return true;
        }
      }
      t = t->next.load(std::memory_order_acquire);
    }
  }

  std::optional<Value> find(Key key) const { return find_with<std::memory_order_acquire>(key); }

  // Removes key and returns its value, or nullopt if it was absent.
  std::optional<Value> erase(Key key) {
    if (!valid_key(key)) return std::nullopt;
    detail::Table* t = current_.load(std::memory_order_acquire);
    for (;;) {
      auto [where, slot] = locate<std::memory_order_seq_cst>(*t, key);
      if (where != Where::kRedirect) {
        if (where != Where::kFound) return std::nullopt;
        std::uint64_t seen = slot->word.load(std::memory_order_seq_cst);
        for (;;) {
          if (seen == detail::kMovedWord) break;
          if (seen == detail::kAbsentWord) return std::nullopt;
          if (slot->word.compare_exchange_weak(seen, detail::kAbsentWord,
                                               std::memory_order_seq_cst)) {
            return decode(seen);
          }
        }
      }
      t = t->next.load(std::memory_order_acquire);
    }
  }

  // Compare-and-swap on the value of a present key. On kMismatch, `expected` receives
  // the current value.
  UpdateResult update(Key key, Value& expected, Value desired) {
    if (!valid_key(key) || !valid_value(desired)) return UpdateResult::kAbsent;
    const std::uint64_t want = encode(expected);
    const std::uint64_t word = encode(desired);
    detail::Table* t = current_.load(std::memory_order_acquire);
    for (;;) {
      auto [where, slot] = locate<std::memory_order_seq_cst>(*t, key);
      if (where != Where::kRedirect) {
        if (where != Where::kFound) return UpdateResult::kAbsent;
        std::uint64_t seen = slot->word.load(std::memory_order_seq_cst);
        for (;;) {
          if (seen == detail::kMovedWord) break;
          if (seen == detail::kAbsentWord) return UpdateResult::kAbsent;
          if (seen != want) {
            expected = decode(seen);
            return UpdateResult::kMismatch;
          }
          if (slot->word.compare_exchange_weak(seen, word, std::memory_order_seq_cst)) {
            return UpdateResult::kUpdated;
          }
        }
      }
      t = t->next.load(std::memory_order_acquire);
    }
  }

  // Wait until key is present, then return its value (wait_find) or erase it and return
  // the erased value (wait_erase): the cross-thread free. With a timeout (negative: no
  // limit), nullopt when it expires; without one, nullopt only for a reserved key.
  std::optional<Value> wait_find(Key key, std::chrono::nanoseconds timeout = kForever) {
    return wait_for(key, timeout, [&] { return find_with<std::memory_order_seq_cst>(key); });
  }
  std::optional<Value> wait_erase(Key key, std::chrono::nanoseconds timeout = kForever) {
    return wait_for(key, timeout, [&] { return erase(key); });
  }

  // Quiescent only.
  template <class Fn>
  void for_each(Fn&& fn) const {
    const detail::Table& t = *current_.load(std::memory_order_acquire);
    for (std::uint64_t i = 0; i <= t.mask; ++i) {
      const Key key = t.slots[i].key.load(std::memory_order_acquire);
      const std::uint64_t word = t.slots[i].word.load(std::memory_order_acquire);
      if (valid_key(key) && word != detail::kAbsentWord && word != detail::kMovedWord) {
        fn(key, decode(word));
      }
    }
  }
  std::size_t size() const {
    std::size_t n = 0;
    for_each([&n](Key, Value) { ++n; });
    return n;
  }
  std::size_t capacity() const { return current_.load(std::memory_order_acquire)->capacity(); }
  // Completed migrations (growth and clean-up) since construction.
  std::uint64_t migrations() const { return migrations_.load(std::memory_order_relaxed); }

  static constexpr std::chrono::nanoseconds kForever{-1};

 private:
  enum class Where { kFound, kEmpty, kRedirect, kFull };
  struct Probe {
    Where where;
    detail::Slot* slot;
  };

  // Packed: the counts are read on every successful insert, written only by waiters.
  struct WaitBucket {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint32_t> waiters{0};
  };
  static constexpr int kWaitBucketBits = 6;
  static constexpr int kSpinsBeforeSleep = 128;

  static std::uint64_t encode(Value v) { return ~std::bit_cast<std::uint64_t>(v); }
  static Value decode(std::uint64_t w) { return std::bit_cast<Value>(~w); }

  // Walks key's probe sequence: the slot holding key, the first empty slot (key is
  // absent from this table), a slot frozen by a migration (key is in `next`), or the
  // whole table without either: then the key is in `next` if there is one (a table
  // only fills up completely while it is migrating), else absent.
  template <std::memory_order Load>
  static Probe locate(detail::Table& t, Key key) {
    const std::uint64_t mask = t.mask;
    std::uint64_t i = t.home(key);
    for (std::uint64_t n = 0; n <= mask; ++n, i = (i + 1) & mask) {
      detail::Slot& s = t.slots[i];
      const std::uint64_t k = s.key.load(Load);
      if (k == key) return {Where::kFound, &s};
      if (k == detail::kEmptyKey) return {Where::kEmpty, &s};
      if (k == detail::kDeadKey) return {Where::kRedirect, nullptr};
    }
    if (t.next.load(std::memory_order_acquire) != nullptr) return {Where::kRedirect, nullptr};
    return {Where::kFull, nullptr};
  }

  template <std::memory_order Load>
  std::optional<Value> find_with(Key key) const {
    if (!valid_key(key)) return std::nullopt;
    detail::Table* t = current_.load(std::memory_order_acquire);
    for (;; t = t->next.load(std::memory_order_acquire)) {
      auto [where, slot] = locate<Load>(*t, key);
      if (where == Where::kRedirect) continue;
      if (where != Where::kFound) return std::nullopt;
      const std::uint64_t word = slot->word.load(Load);
      if (word == detail::kMovedWord) continue;
      if (word == detail::kAbsentWord) return std::nullopt;
      return decode(word);
    }
  }

  // Claims an empty slot for key; counts the claim, which may start a migration.
  bool claim(detail::Table& t, detail::Slot* slot, Key key) {
    if (!t.copy_in_done.load(std::memory_order_acquire)) [[unlikely]] {
      // New keys wait for the copy into t to finish (helping it along), so that the
      // copy always finds room: it needs at most the old table's size.
      help_all(*t.prev);
      while (!t.copy_in_done.load(std::memory_order_acquire)) ::sched_yield();
    }
    std::uint64_t expected = detail::kEmptyKey;
    if (!slot->key.compare_exchange_strong(expected, key, std::memory_order_seq_cst)) {
      return false;
    }
    const std::uint64_t claimed = t.shard_of(static_cast<std::uint64_t>(slot - t.slots))
                                      .claimed.fetch_add(1, std::memory_order_relaxed) +
                                  1;
    if (claimed > t.shard_limit) [[unlikely]]
      request_migration(t);
    return true;
  }

  // Starts t's migration if none is under way, and helps copy it.
  void request_migration(detail::Table& t) {
    if (!t.copy_in_done.load(std::memory_order_acquire)) {
      // t is still being filled from its predecessor: finish that first.
      help_all(*t.prev);
      while (!t.copy_in_done.load(std::memory_order_acquire)) ::sched_yield();
    }
    auto state = detail::MigrationState::kIdle;
    if (t.state.compare_exchange_strong(state, detail::MigrationState::kAllocating,
                                        std::memory_order_acq_rel)) {
      start_migration(t);
      state = detail::MigrationState::kMigrating;
    }
    if (state == detail::MigrationState::kMigrating) help_all(t);
  }

  void start_migration(detail::Table& t) {
    const std::uint64_t live = estimate_live(t);
    // 2.5x the live count: a clean-up keeps the size when the table was mostly dead.
    const std::uint64_t capacity = std::max(t.capacity(), detail::capacity_for(live + live / 4));
    detail::Table* next = detail::Table::create(capacity, &t);
    t.next.store(next, std::memory_order_release);
    t.state.store(detail::MigrationState::kMigrating, std::memory_order_release);
  }

  // Live pairs in t, counted on evenly spread runs of slots for big tables.
  static std::uint64_t estimate_live(const detail::Table& t) {
    constexpr std::uint64_t kRuns = 64, kRun = 1024;
    const std::uint64_t cap = t.capacity();
    const std::uint64_t runs = cap <= kRuns * kRun ? 1 : kRuns;
    const std::uint64_t run = cap <= kRuns * kRun ? cap : kRun;
    const std::uint64_t stride = cap / runs;
    std::uint64_t live = 0;
    for (std::uint64_t r = 0; r < runs; ++r) {
      for (std::uint64_t i = r * stride; i < r * stride + run; ++i) {
        const std::uint64_t key = t.slots[i].key.load(std::memory_order_relaxed);
        const std::uint64_t word = t.slots[i].word.load(std::memory_order_relaxed);
        live += valid_key(key) && word != detail::kAbsentWord && word != detail::kMovedWord;
      }
    }
    return live * (cap / (runs * run));
  }

  void help_all(detail::Table& t) {
    while (help_one(t)) {
    }
  }

  bool help_one(detail::Table& t) {
    const std::uint64_t chunk = t.chunk_cursor.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= t.chunks) return false;
    detail::Table& next = *t.next.load(std::memory_order_acquire);
    const std::uint64_t begin = chunk * t.chunk_slots();
    const std::uint64_t end = std::min(begin + t.chunk_slots(), t.capacity());
    for (std::uint64_t i = begin; i < end; ++i) migrate_slot(t.slots[i], next);
    if (t.chunks_done.fetch_add(1, std::memory_order_acq_rel) + 1 == t.chunks) {
      finish_migration(t, next);
    }
    return true;
  }

  // Freezes one slot of the old table, after copying its live pair into `next`. Only
  // this thread touches the copy until the freeze publishes it: every other operation
  // on that key still goes through the old slot until it reads kMovedWord.
  static void migrate_slot(detail::Slot& s, detail::Table& next) {
    std::uint64_t key = s.key.load(std::memory_order_seq_cst);
    while (key == detail::kEmptyKey) {
      if (s.key.compare_exchange_weak(key, detail::kDeadKey, std::memory_order_seq_cst)) return;
    }
    if (key == detail::kDeadKey) return;  // frozen early by an insert
    std::uint64_t word = s.word.load(std::memory_order_seq_cst);
    detail::Slot* copy = nullptr;
    for (;;) {
      if (word != detail::kAbsentWord && copy == nullptr) copy = claim_for_copy(next, key);
      if (copy != nullptr) copy->word.store(word, std::memory_order_relaxed);
      if (s.word.compare_exchange_weak(word, detail::kMovedWord, std::memory_order_seq_cst)) {
        return;
      }
    }
  }

  static detail::Slot* claim_for_copy(detail::Table& t, Key key) {
    for (;;) {
      auto [where, slot] = locate<std::memory_order_acquire>(t, key);
      if (where == Where::kFound) return slot;
      if (where == Where::kEmpty) {
        std::uint64_t expected = detail::kEmptyKey;
        if (slot->key.compare_exchange_strong(expected, key, std::memory_order_seq_cst)) {
          t.shard_of(static_cast<std::uint64_t>(slot - t.slots))
              .claimed.fetch_add(1, std::memory_order_relaxed);
          return slot;
        }
        continue;
      }
      // A table being filled is never migrating, so this is kFull: see the header.
      ::sched_yield();
    }
  }

  void finish_migration(detail::Table& old, detail::Table& next) {
    detail::Table* expected = &old;
    current_.compare_exchange_strong(expected, &next, std::memory_order_acq_rel);
    next.copy_in_done.store(true, std::memory_order_release);
    migrations_.fetch_add(1, std::memory_order_relaxed);
    old.release_slots();
  }

  // The table is full: make sure a migration is running, help it, and go on in the
  // next table once there is one.
  detail::Table* on_full(detail::Table* t) {
    request_migration(*t);
    if (detail::Table* next = t->next.load(std::memory_order_acquire)) return next;
    ::sched_yield();
    return t;
  }

  WaitBucket& bucket(Key key) { return buckets_[detail::mix(key) >> (64 - kWaitBucketBits)]; }

  void wake_waiters(Key key) {
    WaitBucket& b = bucket(key);
    if (b.waiters.load(std::memory_order_seq_cst) != 0) [[unlikely]] {
      b.seq.fetch_add(1, std::memory_order_seq_cst);
      detail::futex_wake_all(b.seq);
    }
  }

  template <class Attempt>
  std::optional<Value> wait_for(Key key, std::chrono::nanoseconds timeout, Attempt attempt) {
    if (!valid_key(key)) return std::nullopt;
    for (int i = 0; i < kSpinsBeforeSleep; ++i) {
      if (auto v = attempt()) return v;
      detail::cpu_relax();
    }
    using Clock = std::chrono::steady_clock;
    const bool bounded = timeout.count() >= 0;
    const Clock::time_point deadline = bounded ? Clock::now() + timeout : Clock::time_point{};
    WaitBucket& b = bucket(key);
    b.waiters.fetch_add(1, std::memory_order_seq_cst);
    std::optional<Value> result;
    for (;;) {
      const std::uint32_t seq = b.seq.load(std::memory_order_seq_cst);
      if ((result = attempt())) break;
      std::chrono::nanoseconds left = kForever;
      if (bounded) {
        left = deadline - Clock::now();
        if (left.count() <= 0) break;
      }
      detail::futex_wait(b.seq, seq, left);
    }
    b.waiters.fetch_sub(1, std::memory_order_relaxed);
    return result;
  }

  alignas(detail::kCacheLine) std::atomic<detail::Table*> current_{nullptr};
  detail::Table* const first_;
  alignas(detail::kCacheLine) std::array<WaitBucket, std::size_t{1} << kWaitBucketBits> buckets_{};
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> migrations_{0};
};

}  // namespace mtreplay::lphash
