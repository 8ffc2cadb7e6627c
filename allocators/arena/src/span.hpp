// Out-of-line descriptions of user memory. A Span describes a run of pages inside a
// segment: free, a slab of one size class, or one medium block. A Segment describes
// a 4 MiB region and maps each of its pages to the span covering it. Nothing here is
// stored next to user memory.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "config.hpp"

namespace arena {

struct Arena;
struct Segment;

// kPurging: a free run out of the heap while its pages go back to the kernel (Arena::to_purge).
enum class SpanKind : std::uint8_t { kFree, kSlab, kMedium, kPurging };

// How a free by another thread reaches a slab's blocks (Span::remote_state). The freer
// sets the block's pending bit (an atomic OR, no lock), then:
// - kUnowned: no thread owns the slab; its free bits change under its arena's lock
//   only, so the freer (its batch's flush) takes that lock and collects the pending bits.
// - kOwned: a thread owns it and is not told yet: the freer that changes the state to
//   kQueued (one compare-and-swap) pushes the slab onto the owner's lock-free inbox.
// - kQueued: the slab is in its owner's inbox (or being pushed): nothing to do, the owner
//   collects the pending bits when it drains the inbox (it sets kOwned, then collects).
// kOwned <-> kUnowned changes only under the arena lock (adoption, give-back,
// hand-over, thread exit), kOwned <-> kQueued without it. An owner cannot give a kQueued
// slab away: the compare-and-swap kOwned -> kUnowned fails, and the slab stays until the
// drain that collects it. So a slab in an inbox always belongs to the inbox's thread,
// and a push never lands in the inbox of a thread that gave the slab up. A zeroed
// descriptor is kUnowned.
enum RemoteState : std::uint8_t { kUnowned = 0, kOwned = 1, kQueued = 2 };

// A block's bits: free, and pending (another thread freed it, but the slab does not show
// it free yet: its owner, or for an unowned slab the holder of its arena lock, has not
// collected it). pending is set atomically by that free (no lock) and is all the free
// leaves in the slab; it is cleared atomically where the block becomes free (the
// collection), always after its free bit is set. Every free checks it, so a second free
// of such a block aborts at once instead of freeing it a second time.
// The pending bits past the last block are set for the slab's life (no block to collect:
// collect_remote_frees masks them), so that the free or pending bits of a word whose
// blocks are all free or pending are all ones: the own free tests that for a slab that
// may be empty in one comparison, with the words it has loaded, and keeps no count.
struct BlockBits {
  std::uint64_t free;  // bit set = block free, so the first free block is one tzcnt
  std::uint64_t pending;
};

// Span::on_list: an owned slab is on its owner's list of slabs with room (kOnPartial), on
// the stack of slabs the owner's frees took off "full" since its last refill of the class
// (kOnUnlistedStack, linked through `next`, which no list uses while a slab is full), or
// on neither (full, or full again since it was stacked).
enum SlabList : std::uint8_t { kOnNoList = 0, kOnPartial = 1, kOnUnlistedStack = 2 };

// Laid out for the fast paths: a free or malloc of a block in one's own slab reads and
// writes the first cache line only, which holds the geometry, the links of
// the owner's list of slabs with room and the bits of the first 64 blocks (every block
// of a slab of 64 or fewer, i.e. every class from 64 bytes up); the second line only for
// the other blocks of the three smallest classes. (With the bits on a line of their own
// a free read two lines of the descriptor, and with the links on the second line a free
// into a full slab wrote two more.) The third line holds a medium block's fields and the
// inbox's and the owner's links. Descriptors come 64-byte aligned from the metadata pool.
struct alignas(64) Span {
  // Slabs only. A slab is either owned by one thread (which allocates from it and frees
  // its own blocks with plain loads and stores, no lock) or unowned (in its arena's
  // lists, changed under the arena lock). Other threads free into a slab by setting
  // pending bits atomically, without a lock (RemoteState says who moves them into the
  // free bits).
  std::uint64_t owner;  // thread heap id, 0 = unowned; written under the arena lock
  union {
    // Slabs: a copy of span_start(), so that the fast paths need not look at the segment.
    std::uintptr_t start;
    // Free runs with dirty pages: when the oldest of them was given back (coarse clock).
    std::uint64_t dirty_since_ns;
    // Runs set aside to be purged: the pages from the first dirty one to the last.
    struct {
      std::uint16_t purge_first;
      std::uint16_t purge_count;
    };
  };
  Span* next;  // in a free-run bucket, or a size class's list of slabs with room
  Span* prev;
  // Copies of the class's inverse and block size.
  std::uint64_t inverse;
  std::uint16_t block_size;
  std::uint16_t capacity;
  union {
    // Free runs: how many of its pages may still be resident (their bits set in the
    // segment's dirty_bits), so that purging and its allowance count only those.
    std::uint16_t dirty_pages;
    struct {
      // Owned slabs: 1 when the last refill of its class found it full (see
      // hand_over_full_slabs).
      std::uint8_t full_at_refill;
      // Owned slabs: which of the owner's lists of its class holds it (SlabList); on
      // none when it has no free block. In the first line: every own free reads it to
      // find a slab it takes off "full".
      std::uint8_t on_list;
    };
  };
  std::uint8_t size_class;
  // Slabs: RemoteState, how other threads' frees reach the blocks they mark pending
  // (see there). Changed with atomic instructions only.
  std::uint8_t remote_state;
  BlockBits bits[kBitmapWords];  // word 0 in the first line, the others in the second
  Segment* segment;
  std::uint16_t first_page;
  std::uint16_t page_count;
  SpanKind kind;
  bool listed;
  // The arena whose pool made this descriptor (index into the arenas): a descriptor
  // goes back to that arena's spares and describes its pages only, whatever it
  // describes now, so a remote free may lock the arena without reading `segment`.
  std::uint8_t arena_index;
  struct {
    // Set (claim_medium_free) by the free that takes the block, cleared when it is
    // handed out again from a thread's cache: a second free finds it set.
    std::uint64_t freed;
    // The heap id of the thread that allocated it (0: none, or not to be cached).
    std::uint64_t allocated_by;
    // A block of a slab class served from a page run (allocator.cpp,
    // count_page_run_block): the class (0: none) and the arena that counts it.
    std::uint8_t page_run_class;
    std::uint8_t page_run_arena;
    // medium_cache_key() of the block and its thread while the block is live or in that
    // thread's cache (0: none), so that the thread's free may trust the slab map's guess
    // for it. Written atomically, under the arena lock.
    std::uint64_t cache_key;
  } medium;      // medium blocks
  Span** inbox;  // the owner's
  Span* remote_next;
  // Owned slabs: the owner's list of its slabs of this class, full or not (walked only
  // at a refill and at thread exit).
  Span* owned_next;
  Span* owned_prev;
};
static_assert(offsetof(Span, bits) == 48 && offsetof(Span, bits[1]) == 64,
              "the first block word shares the first line with the geometry");
static_assert(offsetof(Span, medium) == 128, "a medium block's fields start the third line");
static_assert(sizeof(Span) == 192, "three cache lines");

// A cacheable medium block's key: its address (page-aligned, below 2^47) and the heap id
// of the thread that allocated it, in one word that a free compares in one atomic load
// (allocator.cpp, cache_medium_guess). 0 (no key) for ids of 2^17 and more, whose blocks
// take the exact lookup.
inline constexpr unsigned kCacheKeyIdShift = kAddressBits;
inline std::uint64_t medium_cache_key(std::uintptr_t address, std::uint64_t heap_id) {
  if (heap_id >= (std::uint64_t{1} << (64 - kCacheKeyIdShift))) return 0;
  return address | (heap_id << kCacheKeyIdShift);
}

// Span::remote_state, sequentially consistent: a freer sets a pending bit and then reads
// the state, the owner's drain sets the state and then collects the pending bits, and
// one of the two must see the other's write.
inline std::uint8_t load_remote_state(const Span& span) {
  return __atomic_load_n(&span.remote_state, __ATOMIC_SEQ_CST);
}
inline void store_remote_state(Span& span, std::uint8_t state) {
  __atomic_store_n(&span.remote_state, state, __ATOMIC_SEQ_CST);
}
inline bool change_remote_state(Span& span, std::uint8_t from, std::uint8_t to) {
  return __atomic_compare_exchange_n(&span.remote_state, &from, to, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

// A medium block's free takes it (false: it was freed already). Against two frees at
// once, one of them without a lock (a thread's cache of medium blocks).
inline bool claim_medium_free(Span& span) {
  std::uint64_t expected = 0;
  return __atomic_compare_exchange_n(&span.medium.freed, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED);
}

// Relaxed atomic access to words that one thread writes while others may read them.
inline std::uint64_t load_word(const std::uint64_t& word) {
  return __atomic_load_n(&word, __ATOMIC_RELAXED);
}
inline void store_word(std::uint64_t& word, std::uint64_t value) {
  __atomic_store_n(&word, value, __ATOMIC_RELAXED);
}

// A slab keeps no count of its free blocks: the fast paths would keep it at every call
// (small_churn: 9 of the own free's 50 instructions, 4 of the malloc's). These read the
// free words, relaxed, so that the heap report (stats.cpp) may call them while the
// owner allocates and frees.
inline std::size_t bitmap_words(std::size_t capacity) {
  return (capacity + 63) / 64;
}
// Word w's bits of blocks the slab has: all ones but in the last word.
inline std::uint64_t block_bits(std::size_t capacity, std::size_t w) {
  const std::size_t low = w * 64;
  if (capacity >= low + 64) return ~std::uint64_t{0};
  if (capacity <= low) return 0;
  return (std::uint64_t{1} << (capacity - low)) - 1;
}
inline std::size_t count_free_blocks(const Span& span) {
  std::size_t free_blocks = 0;
  for (std::size_t w = 0; w < bitmap_words(span.capacity); ++w)
    free_blocks += static_cast<std::size_t>(std::popcount(load_word(span.bits[w].free)));
  return free_blocks;
}
inline bool slab_full(const Span& span) {
  for (std::size_t w = 0; w < bitmap_words(span.capacity); ++w)
    if (load_word(span.bits[w].free) != 0) return false;
  return true;
}
inline bool slab_empty(const Span& span) {
  for (std::size_t w = 0; w < bitmap_words(span.capacity); ++w)
    if (load_word(span.bits[w].free) != block_bits(span.capacity, w)) return false;
  return true;
}

struct Segment {
  std::uintptr_t base;
  Arena* arena;
  Segment* next;  // the arena's segments
  Segment* prev;
  std::uint32_t free_pages;
  // Bit set = a free page that may be resident: it was in use since the segment was
  // mapped or last purged. Meaningful for free pages only (set when a span's pages are
  // given back, cleared when they are purged); a fresh segment is all clear.
  std::uint64_t dirty_bits[kPagesPerSegment / 64];
  // Bit set = a page where a block started since the segment was mapped or the page last
  // purged: every page of a slab, the first page of a medium block. A program writes
  // the start of nearly every block it mallocs and often nothing more of a big one, so
  // these pages are resident where a dirty page may never have been touched (cleared
  // with the dirty bits by a purge; a placement hint only, see find_run and carve).
  std::uint64_t start_bits[kPagesPerSegment / 64];
  // The same for the pages where a block ended: every page of a slab, the last page of a
  // medium block once it is freed. Many programs write the end of a block too (a
  // trailer, the last element), and a block of the same length placed on a start and an
  // end finds both pages resident. Apart from start_bits: a block that starts on an end
  // page would run on into pages no block may ever have touched.
  std::uint64_t end_bits[kPagesPerSegment / 64];
  // The span covering each page. Only the first and last page of a free run or medium
  // block are kept current; every page of a slab is. Stale entries are harmless: a
  // span is trusted only if it belongs to this segment and its range covers the page.
  Span* pages[kPagesPerSegment];
};

inline Span* page_span(const Segment& segment, std::size_t page) {
  return __atomic_load_n(&segment.pages[page], __ATOMIC_RELAXED);
}
inline void set_page_span(Segment& segment, std::size_t page, Span* span) {
  __atomic_store_n(&segment.pages[page], span, __ATOMIC_RELAXED);
}

inline Span* span_covering(const Segment& segment, std::size_t page) {
  Span* span = page_span(segment, page);
  if (span == nullptr || span->segment != &segment || page < span->first_page ||
      page >= std::size_t{span->first_page} + span->page_count)
    return nullptr;
  return span;
}

// Page ranges [first, first + count) of a segment's dirty bitmap.
template <typename Fn>
inline void for_bit_words(std::size_t first, std::size_t count, Fn&& fn) {
  const std::size_t first_low = first % 64;
  if (count - 1 < 64 - first_low) {
    // Within one word (not empty): a medium block, a short run, every slab.
    fn(first / 64, (~std::uint64_t{0} >> (64 - count)) << first_low);
    return;
  }
  std::size_t page = first;
  const std::size_t end = first + count;
  while (page < end) {
    const std::size_t w = page / 64;
    const std::size_t low = page % 64;
    const std::size_t n = (end - page) < (64 - low) ? (end - page) : (64 - low);
    const std::uint64_t mask = (n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1)) << low;
    fn(w, mask);
    page += n;
  }
}

inline std::size_t count_dirty(const Segment& segment, std::size_t first, std::size_t count) {
  std::size_t dirty = 0;
  for_bit_words(first, count, [&](std::size_t w, std::uint64_t mask) {
    dirty += static_cast<std::size_t>(std::popcount(segment.dirty_bits[w] & mask));
  });
  return dirty;
}

inline bool page_started(const Segment& segment, std::size_t page) {
  return (segment.start_bits[page / 64] >> (page % 64)) & 1;
}

// The first started page in [first, end), or 0 if none (callers look past page 0).
inline std::size_t first_started(const Segment& segment, std::size_t first, std::size_t end) {
  std::size_t found = 0;
  for_bit_words(first, end - first, [&](std::size_t w, std::uint64_t mask) {
    const std::uint64_t bits = segment.start_bits[w] & mask;
    if (found == 0 && bits != 0) found = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
  });
  return found;
}

inline bool page_ended(const Segment& segment, std::size_t page) {
  return (segment.end_bits[page / 64] >> (page % 64)) & 1;
}

// The first page p in [first, last] where a block of `pages` pages would start on a
// started page and end on an ended one (page_started(p), page_ended(p + pages - 1)), or
// kNoPage. One AND per bitmap word: the end bits `pages` - 1 further on, shifted down.
inline constexpr std::size_t kNoPage = ~std::size_t{0};
inline std::size_t first_fit_on_start_and_end(const Segment& segment, std::size_t first,
                                              std::size_t last, std::size_t pages) {
  constexpr std::size_t kWords = kPagesPerSegment / 64;
  for (std::size_t w = first / 64; w <= last / 64; ++w) {
    std::uint64_t mask = ~std::uint64_t{0};
    if (w == first / 64) mask <<= first % 64;
    if (w == last / 64) mask &= ~std::uint64_t{0} >> (63 - last % 64);
    // The end bits of the blocks that would start on this word's pages.
    const std::size_t end_bit = w * 64 + pages - 1;
    const std::size_t e = end_bit / 64;
    const unsigned shift = end_bit % 64;
    std::uint64_t ends = e < kWords ? segment.end_bits[e] >> shift : 0;
    if (shift != 0 && e + 1 < kWords) ends |= segment.end_bits[e + 1] << (64 - shift);
    const std::uint64_t both = segment.start_bits[w] & ends & mask;
    if (both != 0) return w * 64 + static_cast<std::size_t>(std::countr_zero(both));
  }
  return kNoPage;
}

inline void mark_started(Segment& segment, std::size_t first, std::size_t count) {
  for_bit_words(first, count,
                [&](std::size_t w, std::uint64_t mask) { segment.start_bits[w] |= mask; });
}

inline void mark_ended(Segment& segment, std::size_t first, std::size_t count) {
  for_bit_words(first, count,
                [&](std::size_t w, std::uint64_t mask) { segment.end_bits[w] |= mask; });
}

inline void mark_dirty(Segment& segment, std::size_t first, std::size_t count) {
  for_bit_words(first, count,
                [&](std::size_t w, std::uint64_t mask) { segment.dirty_bits[w] |= mask; });
}

inline std::uintptr_t span_start(const Span& span) {
  return span.segment->base + (std::uintptr_t{span.first_page} << kPageShift);
}

}  // namespace arena
