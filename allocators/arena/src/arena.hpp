// One arena: a lock, the slabs of each size class, and a page heap of free runs over
// the arena's segments. Threads are bound to an arena; a block is always returned to
// the arena whose segment holds it. Every function here expects `arena.lock` held;
// unlock_arena releases it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "arena/arena.h"
#include "lock.hpp"
#include "size_classes.hpp"
#include "span.hpp"

namespace arena {

// Only in arena_core_widened, for the race tests: between two steps of a lock-free
// protocol that other threads may interleave with, a thread waits a few microseconds,
// so that a thread running meanwhile on another CPU meets in seconds an interleaving
// that preemption under load brings about once in hundreds of runs.
inline void widen_race_window() {
#ifdef ARENA_WIDEN_RACE_WINDOWS
  for (int i = 0; i < 1024; ++i) __builtin_ia32_pause();
#endif
}

struct alignas(64) Arena {
  Lock lock;
  // Dirty runs maybe_purge took out of the heap (kPurging), linked through `next`: their
  // pages go back to the kernel at the next unlock_arena, with the lock dropped. madvise
  // sends every other CPU that runs the process a TLB shootdown and waits for it; under
  // the lock, the other threads spun and yielded meanwhile (BENCHMARKS.md, #12, Session 19).
  // Beside the lock: every unlock reads it.
  Span* to_purge;
  Span* partial[kNumClasses];     // slabs with at least one free block
  Span* empty_slab[kNumClasses];  // one empty slab kept per class against churn
  // Free runs: bucket n < 64 holds runs of exactly n pages, bucket 0 the longer ones.
  static constexpr std::size_t kBuckets = 64;
  Span* runs[kBuckets];
  std::uint64_t nonempty_runs;  // bit n set when runs[n] is not empty
  Segment* segments;
  Span* spare_spans;  // recycled descriptors
  // Descriptors of the pool's last batch not handed out yet, touched only once used (an
  // arena that describes a few spans keeps a few pages of them resident, not 64 KiB).
  Span* fresh_spans;
  Span* fresh_spans_end;
  std::size_t segment_count;
  std::size_t whole_free_segments;
  std::size_t pages_in_use;
  std::size_t dirty_pages;
  std::size_t clean_pages;
  // The most pages in use in this peak window and the one before (see maybe_purge).
  std::size_t peak_in_use;
  std::size_t previous_peak_in_use;
  // Purges that proved wasted raise the purge allowance (maybe_purge): pages purged by
  // the allowance or the decay in this peak window and not faulted in again yet, and
  // the pages faulted in again after such a purge (halved at each new window).
  std::size_t purged_recently;
  std::size_t purge_boost;
  std::uint64_t peak_window_start_ns;
  std::uint64_t last_decay_scan_ns;  // the last look for dirty runs left unused (maybe_purge)
  std::uint64_t last_clock_ns;       // the coarse clock when give_pages last read it
  std::size_t purging_pages;         // in runs set aside and not back in the heap yet
  // Live blocks of the classes from kFirstPageRunClass that are page runs, allocated by
  // the threads of this arena (allocator.cpp, few_page_run_blocks). Changed with atomic
  // instructions, lock or not: a thread's cache of medium blocks frees them without one.
  // On a line of its own, away from the lock.
  alignas(64) std::size_t page_run_blocks[kPageRunClasses];
};

// Runs set aside for purging: their pages go back to the kernel, the lock dropped, and
// they return to the heap clean (the lock taken again). Then, or at once, unlocks.
void purge_set_aside(Arena& arena);
inline void unlock_arena(Arena& arena) {
  if (arena.to_purge != nullptr) [[unlikely]]
    purge_set_aside(arena);
  arena.lock.unlock();
}
// An arena lock held for a scope; released by unlock_arena.
class ArenaGuard {
 public:
  explicit ArenaGuard(Arena& arena) : arena_(arena) { arena_.lock.lock(); }
  ~ArenaGuard() { unlock_arena(arena_); }
  ArenaGuard(const ArenaGuard&) = delete;
  ArenaGuard& operator=(const ArenaGuard&) = delete;

 private:
  Arena& arena_;
};

// The arena's index in the process's arenas (allocator.cpp).
std::uint8_t arena_index(const Arena& arena);
Arena& arena_at(std::uint8_t index);
// The arenas a thread has been bound to or may have moved to (at most 4 per CPU); no
// thread has touched the others. The fork handlers, the stats and trim walk only these:
// locking all 64 wrote to 20 pages of .bss, so that a program's first fork or
// malloc_stats grew it by 80 KiB on a 2-CPU machine (BENCHMARKS.md, #14, Session 44).
std::span<Arena> arenas_in_use();
// The arena the calling thread allocates in; nullptr before its first refill (tests).
Arena* thread_arena();

// The arenas that have ever mapped a segment, a bit each (index into the arenas).
std::uint64_t arenas_with_segments();
// Whether the arena's best-fitting free run for `pages` pages holds as many resident
// (dirty) pages: a request served there faults in few pages or none, where a clean
// run or a new segment faults in all. (Some resident pages were not enough: a run of
// 64 with one dirty page kept a thread in its own arena, faulting in clean pages.)
// `fit` is set to that run (nullptr: none that long), which the caller may pass on to
// adopt_slab or medium_allocate under the same hold of the lock: the heap is then as
// it was, and the run the one they would look for again.
bool has_resident_run(Arena& arena, std::size_t pages, Span*& fit);

// Slab ownership. adopt_slab hands the calling thread a slab of the class with at
// least one free block (nullptr when memory runs out); disown_slab gives it back.
// A listed slab of the class if there is one, whatever its size, else a new one of
// `pages` pages. `fit`: has_resident_run's run for `pages`, or nullptr to look for one.
Span* adopt_slab(Arena& arena, std::size_t size_class, std::uint64_t owner, Span** inbox,
                 std::size_t pages, Span* fit = nullptr);
// disown_slab gives it back (after give_up_ownership).
void disown_slab(Arena& arena, Span* span);
// The first step of giving an owned slab up, under its arena lock: false when the slab
// is kQueued (in its owner's inbox or about to be pushed there; the owner keeps it until
// its drain has collected it).
inline bool give_up_ownership(Span& span) {
  return change_remote_state(span, kOwned, kUnowned);
}
// A thread that frees into an unowned slab (one its last owner gave back at exit, say)
// takes it over, so its next frees and allocations there need no lock. `span` is an
// unowned slab of this arena with at least one block in use.
void adopt_unowned_slab(Arena& arena, Span* span, std::uint64_t owner, Span** inbox);
// In a forked child: slabs owned by threads that did not survive become unowned, the
// medium blocks in their caches go back to the page heap, and the survivor's slabs with
// remote frees pending go on `survivor_inbox` (emptied by the caller first): the inbox
// is rebuilt from the slabs themselves, not trusted as the fork found it.
void disown_orphans(Arena& arena, std::uint64_t survivor, Span** survivor_inbox);
// Owner only (or, for an unowned slab, the arena lock's holder): moves blocks other
// threads freed (their pending bits) into the free bits; returns how many.
std::size_t collect_remote_frees(Span& span);
// Remote frees into an unowned slab (its pending bits): the same, under the arena lock,
// and the slab listed for the next refill (or given back if empty). Does nothing when
// the slab is no longer unowned, or no longer a slab (its pending bits were collected
// by another thread's flush or an adopter, and it went back).
void collect_unowned_slab(Arena& arena, Span& span);
// Under the arena lock: an unowned slab that just gained free blocks is listed for the
// next refill of its class, or given back when empty (unless it is the one empty slab
// the class keeps; of a slab its owner gave up empty, only one of a one-page class).
void list_unowned_slab(Arena& arena, Span* span, bool given_up_by_owner = false);
// Pushes `span` onto its owner's inbox, lock-free; the caller changed its state from
// kOwned to kQueued.
void push_to_inbox(Span& span);
// After a remote free marked a block of `span` pending: tells its owner, once, that
// there is something to collect (RemoteState), without a lock. False when the slab has
// no owner: its pending bits wait for its arena lock's holder (flush_remote_frees). Once
// another thread has collected the bits, the slab may have gone back and the descriptor
// describe other pages of the same arena (a descriptor never changes arenas): telling
// it is harmless then, as a push happens only for a slab kOwned at that moment.
inline bool tell_owner(Span& span) {
  for (;;) {
    const std::uint8_t state = load_remote_state(span);
    if (state == kQueued) return true;
    if (state == kUnowned) return false;
    if (change_remote_state(span, kOwned, kQueued)) {
      push_to_inbox(span);
      return true;
    }
  }
}

// The bits of `span` at byte offset `offset` into `bits` (a word hint), and their free word.
inline BlockBits& bits_at(Span& span, std::size_t offset) {
  static_assert(sizeof(BlockBits) == 16);
  return *reinterpret_cast<BlockBits*>(reinterpret_cast<char*>(span.bits) + offset);
}
inline std::uint64_t& free_word_at(Span& span, std::size_t offset) {
  return bits_at(span, offset).free;
}
inline const std::uint64_t& free_word_at(const Span& span, std::size_t offset) {
  return free_word_at(const_cast<Span&>(span), offset);
}

// The offset in `bits` of the first word after the one at `offset` that has a free
// block, round the bitmap; `offset` itself when no other word has one.
inline std::size_t next_word_with_free(const Span& span, std::size_t offset) {
  for (std::size_t next = (offset + sizeof(BlockBits)) % sizeof(span.bits); next != offset;
       next = (next + sizeof(BlockBits)) % sizeof(span.bits))
    if (load_word(free_word_at(span, next)) != 0) return next;
  return offset;
}

// The block's address from its word's offset and its bit in the word.
inline void* block_address(const Span& span, std::size_t offset, std::uint64_t bits) {
  const std::size_t index =
      offset * (64 / sizeof(BlockBits)) + static_cast<std::uint32_t>(std::countr_zero(bits));
  return reinterpret_cast<void*>(span.start + index * span.block_size);
}

// Owner only: a free block of an owned slab that has one: the first of the bitmap word
// the class's last block came from, or else of the next word with one, round the bitmap
// (`hint` follows). Only the three smallest classes have more than one word. Starting
// from word 0 each time, the test for an empty first word was mispredicted at nearly
// every other malloc when frees land at random (thread_malloc: 45 % of the process's
// mispredicted branches). The hint is the thread's, per class, not the slab's: read with
// the slab pointer, the bitmap load waits for no other load. It is the word's offset in
// `bits`, in bytes, so that it indexes the load as it is. `last`: the slab has no free
// block left, looked at only when the word taken from is left empty.
inline void* take_block(Span& span, std::uint8_t& hint, bool& last) {
  std::size_t offset = hint;
  std::uint64_t bits = load_word(free_word_at(span, offset));
  if (bits == 0) [[unlikely]] {  // another slab's hint: this one has room elsewhere
    offset = next_word_with_free(span, offset);
    bits = load_word(free_word_at(span, offset));
    hint = static_cast<std::uint8_t>(offset);
  }
  const std::uint64_t rest = bits & (bits - 1);
  store_word(free_word_at(span, offset), rest);
  last = false;
  if (rest == 0) [[unlikely]] {
    // The word is empty: the slab is full, or the hint moves on to the next word with a
    // free block now, so that the next malloc finds it at once. (With the search left
    // to the next malloc, as when a count said whether the slab was full, the two
    // mallocs each mispredicted a branch: the python3 sample's malloc p99 48-52 ns
    // against 39-42.)
    const std::size_t next = span.capacity <= 64 ? offset : next_word_with_free(span, offset);
    last = next == offset;
    hint = static_cast<std::uint8_t>(next);
  }
  return block_address(span, offset, bits);
}

// nullptr when memory runs out. `allocated_by`: the heap id of a thread that may keep the
// block in its cache once it frees it (0: none). `fit`: has_resident_run's run for the
// pages with the alignment's extra, or nullptr to look for one.
void* medium_allocate(Arena& arena, std::size_t pages, std::size_t align_pages,
                      std::uint64_t allocated_by = 0, Span* fit = nullptr);

// The span of a block this segment handed out, or nullptr when `address` is not the
// start of a live block here; `double_free` tells a freed block from a foreign one.
struct BlockRef {
  Span* span;
  std::size_t index;  // block within a slab
};
BlockRef find_block(const Segment& segment, std::uintptr_t address, bool& double_free);

// Frees a block find_block found (a medium block claimed by claim_medium_free first).
void release_block(Arena& arena, BlockRef block);
std::size_t block_usable_size(const BlockRef& block);
// Grows or shrinks a medium block without moving it; false when the next pages are taken.
bool medium_resize_in_place(Arena& arena, Span& span, std::size_t pages);

// Returns every dirty free page, and the cached empty slabs, to the kernel.
void purge_free_pages(Arena& arena);
void trim(Arena& arena);
void add_stats(Arena& arena, arena_stats& stats);

// Guards the process-wide list of recycled segment descriptors (taken around fork).
Lock& segment_recycler_lock();

}  // namespace arena
