#include "arena.hpp"

#include <atomic>
#include <bit>
#include <cstring>

#include "large_blocks.hpp"
#include "meta_pool.hpp"
#include "os.hpp"
#include "segment_map.hpp"
#include "span_list.hpp"

namespace arena {

namespace {

// Dirty free pages an arena may keep before it returns them to the kernel: a small
// fixed allowance plus a share of the arena's own recent peak in use, or the pages
// faulted in again after its recent purges if more (maybe_purge).
constexpr std::size_t kPurgeAllowancePages = 128;
constexpr std::size_t kPeakShareDivisor = 5;
constexpr std::size_t kPurgeBoostPages = 1024;  // the most the refaults count for
// The decay allowance's share of the pages in use.
constexpr std::size_t kPurgeShareDivisor = 8;
// Dirty pages beyond a smaller allowance (128 pages plus an eighth of the pages in use)
// go back once they have stayed unused for kDecayNs: the swings of the live set that the
// allowance above is for reuse them sooner. Looked for at most every kDecayScanNs (maybe_purge).
// With 50 ms, thread_malloc's holes (its whole run lasts 150-300 ms) stayed resident to
// its end: peak RSS 1.20x glibc's; with 5 ms and the kept empty slabs of Session 12, about
// 1.14x (a few thousand more page faults; BENCHMARKS.md, #14, Session 12).
constexpr std::size_t kDecayAllowancePages = 128;
constexpr std::uint64_t kDecayNs = 5'000'000;
constexpr std::uint64_t kDecayScanNs = kDecayNs / 4;
// Emptied slabs of classes with slabs of at most this many pages are kept, one per class
// (list_unowned_slab).
constexpr std::size_t kKeptEmptySlabPages = 1;

// A bit per arena that has mapped a segment (set by grow, never cleared).
constinit std::atomic<std::uint64_t> arenas_grown{0};

// Segment descriptors are recycled process-wide and never unmapped.
constinit Lock recycler_lock;
constinit Segment* recycled_segments = nullptr;

Segment* new_segment_descriptor() {
  {
    LockGuard guard(recycler_lock);
    if (Segment* s = recycled_segments) {
      recycled_segments = s->next;
      std::memset(static_cast<void*>(s), 0, sizeof(Segment));
      return s;
    }
  }
  return static_cast<Segment*>(meta_pool().allocate(sizeof(Segment)));
}

void recycle_segment_descriptor(Segment* s) {
  LockGuard guard(recycler_lock);
  s->arena = nullptr;
  s->next = recycled_segments;
  recycled_segments = s;
}

Span* new_span(Arena& arena) {
  Span* span = arena.spare_spans;
  if (span != nullptr) {
    arena.spare_spans = span->next;
  } else {
    if (arena.fresh_spans == arena.fresh_spans_end) {
      constexpr std::size_t kBatch = 256;
      auto* batch = static_cast<Span*>(meta_pool().allocate(kBatch * sizeof(Span)));
      if (batch == nullptr) return nullptr;
      arena.fresh_spans = batch;
      arena.fresh_spans_end = batch + kBatch;
    }
    span = arena.fresh_spans++;  // zero: the pool's pages come straight from mmap
    span->arena_index = arena_index(arena);
  }
  span->next = span->prev = nullptr;
  span->listed = false;
  return span;
}

void drop_span(Arena& arena, Span* span) {
  span->segment = nullptr;  // stale page-map entries to it now fail span_covering()
  span->kind = SpanKind::kFree;
  span->next = arena.spare_spans;
  arena.spare_spans = span;
}

// The arena's lists (free-run buckets, unowned slabs) also mark whether a span is on one.
void push_front(Span*& head, Span* span) {
  span_list_push(head, span);
  span->listed = true;
}

void unlink(Span*& head, Span* span) {
  span_list_remove(head, span);
  span->listed = false;
}

std::size_t bucket_of(std::size_t pages) {
  return pages < Arena::kBuckets ? pages : 0;
}

void account_free(Arena& arena, const Span& run, long sign) {
  const std::size_t n = run.page_count;
  const std::size_t dirty = run.dirty_pages;
  arena.dirty_pages += sign * static_cast<long>(dirty);
  arena.clean_pages += sign * static_cast<long>(n - dirty);
  run.segment->free_pages += sign * static_cast<long>(n);
}

void insert_run(Arena& arena, Span* run) {
  run->kind = SpanKind::kFree;
  Segment& seg = *run->segment;
  set_page_span(seg, run->first_page, run);
  set_page_span(seg, run->first_page + run->page_count - 1, run);
  const std::size_t b = bucket_of(run->page_count);
  push_front(arena.runs[b], run);
  arena.nonempty_runs |= std::uint64_t{1} << b;
  account_free(arena, *run, +1);
}

void remove_run(Arena& arena, Span* run) {
  const std::size_t b = bucket_of(run->page_count);
  unlink(arena.runs[b], run);
  if (arena.runs[b] == nullptr) arena.nonempty_runs &= ~(std::uint64_t{1} << b);
  account_free(arena, *run, -1);
}

void link_segment(Arena& arena, Segment* seg) {
  seg->prev = nullptr;
  seg->next = arena.segments;
  if (arena.segments != nullptr) arena.segments->prev = seg;
  arena.segments = seg;
  ++arena.segment_count;
}

void unlink_segment(Arena& arena, Segment* seg) {
  if (seg->prev != nullptr)
    seg->prev->next = seg->next;
  else
    arena.segments = seg->next;
  if (seg->next != nullptr) seg->next->prev = seg->prev;
  --arena.segment_count;
}

bool grow(Arena& arena) {
  Segment* seg = new_segment_descriptor();
  if (seg == nullptr) return false;
  Span* run = new_span(arena);
  void* memory = run == nullptr ? nullptr : map_aligned(kSegmentSize, kSegmentSize);
  // Under pressure the cached large blocks go back first, then the mapping is retried.
  if (memory == nullptr && run != nullptr && large_blocks().release_cached())
    memory = map_aligned(kSegmentSize, kSegmentSize);
  if (memory == nullptr) {
    if (run != nullptr) drop_span(arena, run);
    recycle_segment_descriptor(seg);
    return false;
  }
  seg->base = reinterpret_cast<std::uintptr_t>(memory);
  seg->arena = &arena;
  if (!segment_map().insert(seg->base, seg)) {
    unmap_pages(memory, kSegmentSize);
    drop_span(arena, run);
    recycle_segment_descriptor(seg);
    return false;
  }
  link_segment(arena, seg);
  arenas_grown.fetch_or(std::uint64_t{1} << arena_index(arena), std::memory_order_relaxed);
  run->segment = seg;
  run->first_page = 0;
  run->page_count = kPagesPerSegment;
  run->dirty_pages = 0;  // fresh mapping: zero and not resident
  insert_run(arena, run);
  ++arena.whole_free_segments;
  return true;
}

void release_segment(Arena& arena, Span* whole_run) {
  Segment* seg = whole_run->segment;
  segment_map().erase(seg->base);
  unmap_pages(reinterpret_cast<void*>(seg->base), kSegmentSize);
  unlink_segment(arena, seg);
  drop_span(arena, whole_run);
  recycle_segment_descriptor(seg);
}

// Where in `run` a request of `pages` pages can start on a page where a block started
// and end on one where a block ended (Segment::start_bits, end_bits), or kNoPage.
std::size_t fit_on_start_and_end(const Span& run, std::size_t pages) {
  return first_fit_on_start_and_end(*run.segment, run.first_page,
                                    std::size_t{run.first_page} + run.page_count - pages, pages);
}

// How well a request of `pages` pages placed in `run` meets pages blocks wrote before:
// 2 when it can start where a block started and end where one ended, 1 when it can
// start where a block started at either end of the run, else 0.
int start_fit(const Span& run, std::size_t pages) {
  if (fit_on_start_and_end(run, pages) != kNoPage) return 2;
  const Segment& seg = *run.segment;
  const bool starts = page_started(seg, run.first_page) ||
                      page_started(seg, std::size_t{run.first_page} + run.page_count - pages);
  return starts ? 1 : 0;
}

// The smallest fitting bucket's run, and among the long runs the best fit of the first
// few; in both, the run where the request fits best on pages blocks wrote before comes
// first (start_fit; of the first 8 of the bucket, of the 32 long runs looked at). A
// block's first page is written by nearly every program, often its last, and often
// nothing more of a big one: a medium block placed where another one started reuses
// that resident page, one placed anywhere else in the freed pages faults a new one in
// (the prodcons sample's 4-256 KiB messages, of which it writes 64 bytes: BENCHMARKS.md,
// #14, Session 11). Where it also ends where a block ended (most often where a block of
// its length was), its last page is resident too: mixed_lifetime, which writes the first
// and last byte of each block, took 70 % of its page faults on the last (#14, Session 31).
Span* find_run(Arena& arena, std::size_t pages) {
  if (pages < Arena::kBuckets) {
    const std::uint64_t fits = arena.nonempty_runs & ~((std::uint64_t{1} << pages) - 1);
    if (fits != 0) {
      Span* best = arena.runs[std::countr_zero(fits)];
      int best_fit = 0;
      int looked = 0;
      for (Span* run = best; run != nullptr && looked < 8 && best_fit < 2;
           run = run->next, ++looked) {
        const int fit = start_fit(*run, pages);
        if (fit > best_fit) {
          best = run;
          best_fit = fit;
        }
      }
      return best;
    }
  }
  // Long runs: the best fit among the first few, to keep long runs long.
  Span* best = nullptr;
  int best_fit = 0;
  int looked = 0;
  for (Span* run = arena.runs[0]; run != nullptr && looked < 32; run = run->next, ++looked) {
    if (run->page_count < pages) continue;
    const int fit = start_fit(*run, pages);
    if (best == nullptr || fit > best_fit ||
        (fit == best_fit && run->page_count < best->page_count)) {
      best = run;
      best_fit = fit;
    }
  }
  return best;
}

// Takes `pages` pages from a free run, returning the rest to the heap. From the front,
// or with `either_end` from the first place where the request starts where a block
// started and ends where one ended (find_run), at an end or inside the run (the rest
// then in two pieces, before and after); failing that, from the end where it starts
// where a block started; if neither end does, from the first page inside the run where
// one started; else from whichever end holds more dirty pages: reusing pages that are
// resident already costs no page faults and no new RSS, while the clean end stays clean.
Span* carve(Arena& arena, Span* run, std::size_t pages, bool either_end = true) {
  remove_run(arena, run);
  if (run->page_count == kPagesPerSegment) --arena.whole_free_segments;
  std::size_t taken_dirty = run->dirty_pages;
  if (run->page_count > pages) {
    Span* rest = new_span(arena);
    if (rest == nullptr) {
      insert_run(arena, run);
      if (run->page_count == kPagesPerSegment) ++arena.whole_free_segments;
      return nullptr;
    }
    Segment& seg = *run->segment;
    const std::size_t rest_pages = run->page_count - pages;
    rest->segment = &seg;
    // The rest's dirty pages: the run's less those taken (counting the rest itself
    // walked the bitmap of up to a whole segment at every slab refill).
    auto dirty_in = [&](std::size_t first) {  // a run all dirty needs no count
      return run->dirty_pages == run->page_count ? pages : count_dirty(seg, first, pages);
    };
    const std::size_t front_dirty = run->dirty_pages != 0 ? dirty_in(run->first_page) : 0;
    const std::size_t back_dirty =
        either_end && run->dirty_pages != 0 ? dirty_in(run->first_page + rest_pages) : 0;
    bool from_back = back_dirty > front_dirty;
    std::size_t middle = 0;  // where inside the run the request goes, when not at an end
    const std::size_t on_ends =
        either_end && run->dirty_pages != 0 ? fit_on_start_and_end(*run, pages) : kNoPage;
    if (on_ends != kNoPage) {
      // It can start where a block started and end where one ended: there first.
      from_back = on_ends == std::size_t{run->first_page} + rest_pages;
      if (on_ends != run->first_page && !from_back) middle = on_ends;
    } else if (either_end) {
      const bool front_start = page_started(seg, run->first_page);
      const bool back_start = page_started(seg, std::size_t{run->first_page} + rest_pages);
      if (front_start != back_start) from_back = back_start;
      if (!front_start && !back_start && run->dirty_pages != 0)
        middle = first_started(seg, std::size_t{run->first_page} + 1,
                               std::size_t{run->first_page} + rest_pages);
    }
    Span* back = middle != 0 ? new_span(arena) : nullptr;
    if (back != nullptr) {
      // Three pieces: the rest before, the request on the started page, the rest after.
      const std::size_t head = middle - run->first_page;
      const std::size_t head_dirty = count_dirty(seg, run->first_page, head);
      taken_dirty = count_dirty(seg, middle, pages);
      rest->first_page = run->first_page;
      rest->page_count = static_cast<std::uint16_t>(head);
      rest->dirty_pages = static_cast<std::uint16_t>(head_dirty);
      rest->dirty_since_ns = run->dirty_since_ns;
      back->segment = &seg;
      back->first_page = static_cast<std::uint16_t>(middle + pages);
      back->page_count = static_cast<std::uint16_t>(rest_pages - head);
      back->dirty_pages = static_cast<std::uint16_t>(run->dirty_pages - head_dirty - taken_dirty);
      back->dirty_since_ns = run->dirty_since_ns;
      run->first_page = static_cast<std::uint16_t>(middle);
      run->page_count = static_cast<std::uint16_t>(pages);
      set_page_span(seg, run->first_page, run);
      insert_run(arena, rest);
      insert_run(arena, back);
    } else if (from_back) {
      rest->first_page = run->first_page;
      run->first_page = static_cast<std::uint16_t>(run->first_page + rest_pages);
      set_page_span(seg, run->first_page, run);
    } else {
      rest->first_page = static_cast<std::uint16_t>(run->first_page + pages);
    }
    if (back == nullptr) {
      rest->page_count = static_cast<std::uint16_t>(rest_pages);
      taken_dirty = from_back ? back_dirty : front_dirty;
      rest->dirty_pages = static_cast<std::uint16_t>(run->dirty_pages - taken_dirty);
      rest->dirty_since_ns = run->dirty_since_ns;
      run->page_count = static_cast<std::uint16_t>(pages);
      insert_run(arena, rest);
    }
  }
  set_page_span(*run->segment, run->first_page + run->page_count - 1, run);
  // Clean pages taken soon after a purge: the purge was wasted (they are faulted in
  // again), so the allowance grows by as many.
  if (arena.purged_recently != 0 && pages > taken_dirty) {
    const std::size_t clean = pages - taken_dirty;
    const std::size_t refault = clean < arena.purged_recently ? clean : arena.purged_recently;
    arena.purged_recently -= refault;
    arena.purge_boost += refault;
  }
  arena.pages_in_use += run->page_count;
  if (arena.pages_in_use > arena.peak_in_use) arena.peak_in_use = arena.pages_in_use;
  return run;
}

// `fit`: find_run's answer for `pages` under this hold of the lock, or nullptr.
Span* take_pages(Arena& arena, std::size_t pages, Span* fit = nullptr) {
  Span* run = fit != nullptr ? fit : find_run(arena, pages);
  if (run == nullptr) {
    if (!grow(arena)) return nullptr;
    run = find_run(arena, pages);
  }
  return carve(arena, run, pages);
}

// Takes a dirty free run out of the heap to return its resident pages to the kernel at
// the next unlock_arena: one call from its first dirty page to its last (the clean pages
// between cost the kernel a page-table walk, not a fault).
void set_aside_for_purge(Arena& arena, Span* run) {
  Segment& seg = *run->segment;
  std::size_t first = kPagesPerSegment;
  std::size_t last = 0;
  for_bit_words(run->first_page, run->page_count, [&](std::size_t w, std::uint64_t mask) {
    const std::uint64_t bits = seg.dirty_bits[w] & mask;
    if (bits == 0) return;
    const std::size_t low = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
    const std::size_t high = w * 64 + 63 - static_cast<std::size_t>(std::countl_zero(bits));
    if (low < first) first = low;
    if (high > last) last = high;
    seg.dirty_bits[w] &= ~mask;
    seg.start_bits[w] &= ~mask;  // the whole run: a started free page is a dirty one
    seg.end_bits[w] &= ~mask;
  });
  arena.purged_recently += run->dirty_pages;
  remove_run(arena, run);
  if (run->page_count == kPagesPerSegment) --arena.whole_free_segments;
  run->kind = SpanKind::kPurging;
  run->dirty_pages = 0;
  run->purge_first = static_cast<std::uint16_t>(first <= last ? first : 0);
  run->purge_count = static_cast<std::uint16_t>(first <= last ? last - first + 1 : 0);
  arena.purging_pages += run->page_count;
  run->next = arena.to_purge;
  arena.to_purge = run;
}

// Over the allowance, dirty pages are returned down to half of it, longest runs first:
// purging all of them at once made a program whose live set swings refault its whole
// free heap after every swing (thousands of madvise calls a second), and a few long
// runs give back as many pages as many short ones for a fraction of the calls.
void purge_down_to(Arena& arena, std::size_t target) {
  for (std::size_t i = 0; i < Arena::kBuckets && arena.dirty_pages > target; ++i) {
    const std::size_t b = i == 0 ? 0 : Arena::kBuckets - i;  // bucket 0: the longest
    for (Span* run = arena.runs[b]; run != nullptr && arena.dirty_pages > target;) {
      Span* next = run->next;
      if (run->dirty_pages != 0) set_aside_for_purge(arena, run);
      run = next;
    }
  }
}

// The arena's recent peak of pages in use: that of this window (1 s) or the one before,
// so it decays within 2 s of the live set shrinking for good. Free pages below it (the
// headroom) cannot raise the peak RSS when kept dirty, since they are reused before any
// new page would be touched.
std::size_t recent_peak(Arena& arena, std::uint64_t now) {
  constexpr std::uint64_t kPeakWindowNs = 1'000'000'000;
  const std::uint64_t elapsed = now - arena.peak_window_start_ns;
  if (elapsed >= kPeakWindowNs) {
    const bool quiet = elapsed >= 2 * kPeakWindowNs;  // no look in a whole window
    arena.previous_peak_in_use = quiet ? arena.pages_in_use : arena.peak_in_use;
    arena.peak_in_use = arena.pages_in_use;
    arena.peak_window_start_ns = now;
    // Refaults count for this window and half for the next; after a quiet one, not at all.
    arena.purge_boost = quiet ? 0 : arena.purge_boost / 2;
    arena.purged_recently = 0;
  }
  return arena.peak_in_use > arena.previous_peak_in_use ? arena.peak_in_use
                                                        : arena.previous_peak_in_use;
}

// Dirty runs given back at least kDecayNs ago (their oldest page) go back to the
// kernel, longest first, until the dirty pages are down to `target`. A live set that
// holds steady leaves holes its requests do not fit; with the allowance alone they
// stayed resident up to it (thread_malloc: 2 MiB of dirty pages beside 6 MiB in use).
// A run goes only if the excess left is at least a quarter of its dirty pages: a live
// set still growing took the decay one page past its target and lost a 256-page run,
// which it faulted in again within milliseconds (the python3 sample's replay: about 200
// such faults a run, 10 us each on the PVM guests; BENCHMARKS.md, #12, Session 42).
void purge_aged(Arena& arena, std::uint64_t now, std::size_t target) {
  for (std::size_t i = 0; i < Arena::kBuckets && arena.dirty_pages > target; ++i) {
    const std::size_t b = i == 0 ? 0 : Arena::kBuckets - i;
    for (Span* run = arena.runs[b]; run != nullptr && arena.dirty_pages > target;) {
      Span* next = run->next;
      if (run->dirty_pages != 0 && now - run->dirty_since_ns >= kDecayNs &&
          run->dirty_pages <= 4 * (arena.dirty_pages - target))
        set_aside_for_purge(arena, run);
      run = next;
    }
  }
}

// Dirty pages that stay whatever their age.
std::size_t decay_allowance(const Arena& arena) {
  return kDecayAllowancePages + arena.pages_in_use / kPurgeShareDivisor;
}

// Dirty pages beyond an allowance and the headroom below the arena's recent peak (at
// most 3/4 of an allowance) go back down to half the allowance plus that headroom. The
// allowance is 128 pages plus a fifth of the recent peak in use, or plus the pages
// faulted in again after this arena's recent purges (up to 1024) if more: it follows the
// arena's own size and, where purges prove wasted, its churn. A fixed 1024 pages (plus
// an eighth of the pages in use) kept 4 MiB resident beside thread_malloc's 6 MiB and
// producer_consumer's 1-2 MiB in use, peak RSS 1.20x and 1.16x glibc's; a fixed 128
// pages cut those but purged and refaulted mixed_lifetime's swings (28 MiB live: CPU
// 1.22x glibc's); a fifth of the peak keeps mixed_lifetime's (about 1500 pages) and
// gives the small heaps 200-450, but the prodcons sample's replay (small arenas whose
// live set swings by more) then took 31 k page faults instead of 11 k: with the
// refaults counted, 8-9 k (BENCHMARKS.md, #14 and #12, Session 7). The headroom is what
// a swinging live set keeps and a steady one has none; at half an allowance
// mixed_lifetime paid 8% more CPU. With the allowance alone, a live set that swings by
// more than it (a producer/consumer queue filling and draining) purged and refaulted
// its pages on every swing. Unbounded, the headroom raised mixed_lifetime's peak RSS by
// a third (each arena keeps its own, and the dirty pages it keeps are not always where
// the next request fits: 38.7 MiB, glibc 29.5). Before all that, past the small decay
// allowance, the runs left unused for kDecayNs go (purge_aged).
void maybe_purge(Arena& arena, std::uint64_t now) {
  const std::size_t kept = decay_allowance(arena);
  if (arena.dirty_pages <= kept) return;
  const std::size_t peak = recent_peak(arena, now);
  const std::size_t share = peak / kPeakShareDivisor;
  const std::size_t boost =
      arena.purge_boost < kPurgeBoostPages ? arena.purge_boost : kPurgeBoostPages;
  const std::size_t allowance = kPurgeAllowancePages + (share > boost ? share : boost);
  const std::size_t peak_headroom = peak > arena.pages_in_use ? peak - arena.pages_in_use : 0;
  const std::size_t cap = allowance * 3 / 4;
  const std::size_t headroom = peak_headroom < cap ? peak_headroom : cap;
  // The decay keeps as many more pages as were faulted in again after recent purges: a
  // live set that swings every few milliseconds (producer_consumer's queue,
  // mixed_lifetime) refaulted what a 5 ms decay took, 2-3x main's page faults and up to
  // 1.2 s of system time a run; a steady one's holes (thread_malloc) stay purged
  // (BENCHMARKS.md, #14, Session 12).
  if (now - arena.last_decay_scan_ns >= kDecayScanNs) {
    arena.last_decay_scan_ns = now;
    purge_aged(arena, now, kept + boost);
  }
  if (arena.dirty_pages <= allowance) return;
  if (arena.dirty_pages > allowance + headroom) purge_down_to(arena, allowance / 2 + headroom);
}

// Puts a free run into the heap, merged with its free neighbours; a whole free segment
// beyond the one each arena keeps is unmapped.
void return_run(Arena& arena, Span* span) {
  Segment& seg = *span->segment;
  auto absorb = [&](Span* other) {
    remove_run(arena, other);
    if (other->dirty_pages != 0 &&
        (span->dirty_pages == 0 || other->dirty_since_ns < span->dirty_since_ns))
      span->dirty_since_ns = other->dirty_since_ns;
    span->page_count = static_cast<std::uint16_t>(span->page_count + other->page_count);
    span->dirty_pages = static_cast<std::uint16_t>(span->dirty_pages + other->dirty_pages);
    drop_span(arena, other);
  };
  if (span->first_page > 0) {
    Span* before = span_covering(seg, span->first_page - 1u);
    if (before != nullptr && before->kind == SpanKind::kFree) {
      span->first_page = before->first_page;
      absorb(before);
    }
  }
  const std::size_t after_page = std::size_t{span->first_page} + span->page_count;
  if (after_page < kPagesPerSegment) {
    Span* after = span_covering(seg, after_page);
    if (after != nullptr && after->kind == SpanKind::kFree) absorb(after);
  }
  if (span->page_count == kPagesPerSegment) {
    // Keep one empty segment per arena for the next growth; unmap the others.
    if (arena.whole_free_segments > 0) {
      release_segment(arena, span);
      return;
    }
    ++arena.whole_free_segments;
  }
  insert_run(arena, span);
}

// Returns a span's pages to the heap, merged with free neighbours.
void give_pages(Arena& arena, Span* span) {
  // Before any other field changes: a free that follows a stale guess to this descriptor
  // no longer finds its block here.
  if (span->kind == SpanKind::kMedium)
    __atomic_store_n(&span->medium.cache_key, 0, __ATOMIC_RELAXED);
  arena.pages_in_use -= span->page_count;
  // The clock is read only when the dirty pages may need purging: below the decay
  // allowance, a run's stamp is the last time read (older than the truth, so such a
  // run can only be purged sooner, and only once the allowance is passed).
  const std::uint64_t now = arena.dirty_pages + span->page_count > decay_allowance(arena)
                                ? coarse_now_ns()
                                : arena.last_clock_ns;
  arena.last_clock_ns = now;
  mark_dirty(*span->segment, span->first_page, span->page_count);
  span->dirty_pages = span->page_count;
  span->dirty_since_ns = now;
  return_run(arena, span);
  maybe_purge(arena, now);
}

void mark_slab_pages(Span* span) {
  for (std::size_t i = 0; i < span->page_count; ++i) {
    set_page_span(*span->segment, span->first_page + i, span);
    slab_map_set(span_start(*span) + (i << kPageShift), span);
  }
}

Span* new_slab(Arena& arena, std::size_t size_class, std::size_t pages, Span* fit) {
  const ClassInfo& info = kClasses[size_class];
  Span* span = take_pages(arena, pages, fit);
  if (span == nullptr) return nullptr;
  const auto blocks = static_cast<std::uint16_t>(pages * kPageSize / info.block_size);
  span->kind = SpanKind::kSlab;
  span->size_class = static_cast<std::uint8_t>(size_class);
  span->start = span_start(*span);
  span->inverse = info.inverse;
  span->block_size = static_cast<std::uint16_t>(info.block_size);
  span->capacity = blocks;
  span->on_list = kOnNoList;  // its byte held the free run's dirty count (adopt_slab marks)
  store_remote_state(*span, kUnowned);
  for (std::size_t w = 0; w < kBitmapWords; ++w) {
    const std::uint64_t bits = block_bits(blocks, w);
    store_word(span->bits[w].free, bits);
    // The bits past the last block stay set (BlockBits), in the last word only.
    store_word(span->bits[w].pending, w + 1 == bitmap_words(blocks) ? ~bits : 0);
  }
  mark_slab_pages(span);
  mark_started(*span->segment, span->first_page, span->page_count);
  mark_ended(*span->segment, span->first_page, span->page_count);
  return span;
}

}  // namespace

// An unowned slab that just gained free blocks: listed, and given back when empty
// unless it is the one empty slab the class keeps. A slab its owner gave up empty is kept
// only if its slabs span at most kKeptEmptySlabPages: that thread keeps its own current
// slab of the class anyway, so a class a program uses rarely (producer_consumer's 4-16
// KiB blocks, one or two live at a time) held two empty slabs of 4-16 pages, and
// thread_malloc's two arenas 100-150 pages of empty slabs. One that other threads'
// frees emptied is kept whatever its size: a consumer empties the slabs a producer
// handed over, and the producer's next refill takes them whole (not keeping those
// raised the prodcons program's peak RSS from 0.98-1.0x glibc's to 1.04-1.13x;
// BENCHMARKS.md, #14, Session 12).
void list_unowned_slab(Arena& arena, Span* span, bool given_up_by_owner) {
  const std::size_t cls = span->size_class;
  if (slab_full(*span)) return;
  if (!span->listed) push_front(arena.partial[cls], span);
  if (slab_empty(*span)) {
    Span*& cached = arena.empty_slab[cls];
    const bool small = kClasses[cls].slab_pages <= kKeptEmptySlabPages;
    if (cached == nullptr && (small || !given_up_by_owner)) {
      cached = span;
    } else if (cached != span) {
      unlink(arena.partial[cls], span);
      give_pages(arena, span);
    }
  }
}

std::size_t collect_remote_frees(Span& span) {
  std::size_t collected = 0;
  const std::size_t words = (span.capacity + 63u) / 64u;
  for (std::size_t w = 0; w < words; ++w) {
    // Sequentially consistent, as the remote_state store before it (drain_inbox): a
    // freer that set a bit here and then read the old state relies on this reading it.
    const std::uint64_t remote =
        __atomic_load_n(&span.bits[w].pending, __ATOMIC_SEQ_CST) & block_bits(span.capacity, w);
    if (remote == 0) continue;
    const std::uint64_t local = load_word(span.bits[w].free);
    if ((local & remote) != 0) {
      const std::size_t index = w * 64 + static_cast<std::size_t>(std::countr_zero(local & remote));
      die_with_pointer(
          "free(): double free",
          reinterpret_cast<void*>(span_start(span) + index * kClasses[span.size_class].block_size));
    }
    store_word(span.bits[w].free, local | remote);
    // Free now: no longer pending (after the free bit, so that no free in between finds
    // the block neither free nor pending). Bits set since the load stay for the next.
    __atomic_fetch_and(&span.bits[w].pending, ~remote, __ATOMIC_RELAXED);
    collected += static_cast<std::size_t>(std::popcount(remote));
  }
  return collected;
}

std::uint64_t arenas_with_segments() {
  return arenas_grown.load(std::memory_order_relaxed);
}

bool has_resident_run(Arena& arena, std::size_t pages, Span*& fit) {
  fit = find_run(arena, pages);
  return fit != nullptr && fit->dirty_pages >= pages;
}

Span* adopt_slab(Arena& arena, std::size_t size_class, std::uint64_t owner, Span** inbox,
                 std::size_t pages, Span* fit) {
  Span* span = arena.partial[size_class];
  if (span != nullptr) {
    unlink(arena.partial[size_class], span);
    if (span == arena.empty_slab[size_class]) arena.empty_slab[size_class] = nullptr;
  } else {
    span = new_slab(arena, size_class, pages, fit);
    if (span == nullptr) return nullptr;
  }
  span->inbox = inbox;
  span->full_at_refill = 0;
  __atomic_store_n(&span->owner, owner, __ATOMIC_RELAXED);
  collect_remote_frees(*span);
  // From now on a remote free pushes the slab onto `inbox` (one that set its bit since
  // the collection and found the state kUnowned waits for the arena lock, then sees this).
  store_remote_state(*span, kOwned);
  return span;
}

void adopt_unowned_slab(Arena& arena, Span* span, std::uint64_t owner, Span** inbox) {
  const std::size_t cls = span->size_class;
  if (span->listed) unlink(arena.partial[cls], span);
  if (arena.empty_slab[cls] == span) arena.empty_slab[cls] = nullptr;
  span->inbox = inbox;
  span->full_at_refill = 0;
  __atomic_store_n(&span->owner, owner, __ATOMIC_RELAXED);
  collect_remote_frees(*span);
  store_remote_state(*span, kOwned);
}

void disown_slab(Arena& arena, Span* span) {
  __atomic_store_n(&span->owner, 0, __ATOMIC_RELAXED);
  span->inbox = nullptr;
  collect_remote_frees(*span);
  list_unowned_slab(arena, span, true);
}

void collect_unowned_slab(Arena& arena, Span& span) {
  // The slab may have been adopted since the bit was set (then its new owner collects
  // it: the caller tells it), or its bits collected by an adopter or another thread's
  // flush and the slab given back (a slab goes back only with every block free): then
  // the descriptor may describe other pages of this arena, or another slab, whose
  // pending bits are no less due.
  if (span.kind != SpanKind::kSlab || load_remote_state(span) != kUnowned) return;
  if (collect_remote_frees(span) != 0) list_unowned_slab(arena, &span);
}

void push_to_inbox(Span& span) {
  // Read after the state change that made this thread the one to push: the slab's owner
  // cannot change until the owner's drain sets kOwned again, after it took the slab.
  Span** inbox = span.inbox;
  widen_race_window();  // the owner's drain, give-back and exit meet a push in flight here
  Span* head = __atomic_load_n(inbox, __ATOMIC_RELAXED);
  do {
    span.remote_next = head;
  } while (
      !__atomic_compare_exchange_n(inbox, &head, &span, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

namespace {

bool has_pending(const Span& span) {
  for (std::size_t w = 0; w < bitmap_words(span.capacity); ++w)
    if ((__atomic_load_n(&span.bits[w].pending, __ATOMIC_RELAXED) & block_bits(span.capacity, w)) !=
        0)
      return true;
  return false;
}

}  // namespace

void disown_orphans(Arena& arena, std::uint64_t survivor, Span** survivor_inbox) {
  // Walked first, changed after: disowning an empty slab may give its pages back, which
  // merges free runs and may unmap a whole segment under the walk (it then skipped
  // slabs, which stayed owned by dead threads: a later remote free pushed one onto the
  // inbox of a new thread whose TLS took a dead one's place; BENCHMARKS.md, #12,
  // Session 10). The slabs to change are chained through remote_next, which only an
  // inbox of a thread the child does not have used.
  Span* orphans = nullptr;
  Span* orphaned_medium = nullptr;
  Span* purging = nullptr;  // set aside by a thread the child does not have
  for (Segment* seg = arena.segments; seg != nullptr; seg = seg->next) {
    for (std::size_t page = 0; page < kPagesPerSegment;) {
      Span* span = span_covering(*seg, page);
      if (span == nullptr) break;  // cannot happen: every first page is current
      page += span->page_count;
      if (span->kind == SpanKind::kPurging) {
        span->remote_next = purging;
        purging = span;
        continue;
      }
      if (span->kind == SpanKind::kMedium) {
        // Freed into the cache of a thread the child does not have (or claimed on the way
        // there): given back below. The survivor's own cache stays its own.
        if (__atomic_load_n(&span->medium.freed, __ATOMIC_RELAXED) != 0 &&
            span->medium.allocated_by != survivor) {
          span->remote_next = orphaned_medium;
          orphaned_medium = span;
        }
        continue;
      }
      if (span->kind != SpanKind::kSlab) continue;
      const std::uint64_t owner = __atomic_load_n(&span->owner, __ATOMIC_RELAXED);
      if (owner == survivor) {
        // Queued: in the inbox as the fork found it, or about to be pushed by a thread the
        // child does not have. Or with blocks pending that a thread the child does not
        // have freed and had not told the owner of yet.
        if (load_remote_state(*span) == kQueued || has_pending(*span)) {
          store_remote_state(*span, kQueued);
          span->remote_next = *survivor_inbox;
          *survivor_inbox = span;
        }
        continue;
      }
      span->remote_next = orphans;
      orphans = span;
    }
  }
  while (purging != nullptr) {
    // Whether the parent's madvise came before the fork is unknown: counted resident.
    Span* run = purging;
    purging = run->remote_next;
    run->remote_next = nullptr;
    arena.purging_pages -= run->page_count;
    mark_dirty(*run->segment, run->first_page, run->page_count);
    run->dirty_pages = run->page_count;
    run->dirty_since_ns = 0;
    return_run(arena, run);
  }
  while (orphaned_medium != nullptr) {
    Span* span = orphaned_medium;
    orphaned_medium = span->remote_next;
    span->remote_next = nullptr;
    give_pages(arena, span);
  }
  while (orphans != nullptr) {
    Span* span = orphans;
    orphans = span->remote_next;
    span->remote_next = nullptr;
    if (__atomic_load_n(&span->owner, __ATOMIC_RELAXED) == 0) {
      // A remote free that set its bit and did not get to collect it (its thread is not
      // in the child): collected here, or the blocks would wait for an adopter.
      if (collect_remote_frees(*span) != 0) list_unowned_slab(arena, span);
      continue;
    }
    store_remote_state(*span, kUnowned);  // its inbox is gone with its thread
    disown_slab(arena, span);
  }
}

void* medium_allocate(Arena& arena, std::size_t pages, std::size_t align_pages,
                      std::uint64_t allocated_by, Span* fit) {
  const std::size_t extra = align_pages > 1 ? align_pages - 1 : 0;
  Span* span = take_pages(arena, pages + extra, fit);
  if (span == nullptr) return nullptr;
  span->kind = SpanKind::kMedium;
  __atomic_store_n(&span->medium.freed, 0, __ATOMIC_RELAXED);
  span->medium.allocated_by = allocated_by;
  span->medium.page_run_class = 0;
  if (extra != 0) {
    // Over-allocated for alignment: give the pages before and after back.
    const std::uintptr_t start = span_start(*span);
    const std::uintptr_t align = align_pages * kPageSize;
    const std::size_t head = (((start + align - 1) & ~(align - 1)) - start) >> kPageShift;
    const std::size_t tail = extra - head;
    Segment* seg = span->segment;
    if (head != 0) {
      Span* front = new_span(arena);
      if (front == nullptr) {
        give_pages(arena, span);
        return nullptr;
      }
      front->segment = seg;
      front->first_page = span->first_page;
      front->page_count = static_cast<std::uint16_t>(head);
      front->kind = SpanKind::kMedium;
      span->first_page = static_cast<std::uint16_t>(span->first_page + head);
      span->page_count = static_cast<std::uint16_t>(span->page_count - head);
      set_page_span(*seg, span->first_page, span);
      set_page_span(*seg, front->first_page + head - 1, front);
      give_pages(arena, front);
    }
    if (tail != 0) medium_resize_in_place(arena, *span, pages);
  }
  set_page_span(*span->segment, span->first_page, span);
  mark_started(*span->segment, span->first_page, 1);
  // A block its thread may cache: that thread's free finds it through the slab map's
  // guess (allocator.cpp, cache_medium_guess), as its slabs' blocks.
  const std::uintptr_t start = span_start(*span);
  const std::uint64_t key = allocated_by != 0 ? medium_cache_key(start, allocated_by) : 0;
  __atomic_store_n(&span->medium.cache_key, key, __ATOMIC_RELAXED);
  if (key != 0) slab_map_set(start, span);
  return reinterpret_cast<void*>(start);
}

BlockRef find_block(const Segment& segment, std::uintptr_t address, bool& double_free) {
  double_free = false;
  const std::size_t page = (address - segment.base) >> kPageShift;
  Span* span = span_covering(segment, page);
  if (span == nullptr) return {};
  const std::uintptr_t start = span_start(*span);
  if (span->kind == SpanKind::kMedium) {
    if (address != start) return {};
    // In the cache of the thread that freed it.
    double_free = __atomic_load_n(&span->medium.freed, __ATOMIC_ACQUIRE) != 0;
    if (double_free) return {};
    return {span, 0};
  }
  if (span->kind != SpanKind::kSlab) return {};
  std::size_t index;
  if (!block_starting_at(address - start, kClasses[span->size_class].inverse, span->capacity,
                         index))
    return {};
  const std::size_t w = index / 64;
  // Neither free nor pending (freed by another thread, not collected yet).
  const std::uint64_t freed =
      load_word(span->bits[w].free) | __atomic_load_n(&span->bits[w].pending, __ATOMIC_RELAXED);
  if ((freed >> (index % 64)) & 1) {
    double_free = true;
    return {};
  }
  return {span, index};
}

void release_block(Arena& arena, BlockRef block) {
  Span* span = block.span;
  if (span->kind == SpanKind::kMedium) {
    mark_ended(*span->segment, std::size_t{span->first_page} + span->page_count - 1, 1);
    give_pages(arena, span);
    return;
  }
  const std::size_t w = block.index / 64;
  const std::uint64_t bit = std::uint64_t{1} << (block.index % 64);
  if (__atomic_load_n(&span->owner, __ATOMIC_RELAXED) != 0) {
    // Another thread owns the slab and changes its free bits without a lock: mark the
    // block pending and tell the owner. (Under the arena lock an owned slab is kOwned or
    // kQueued: it becomes kUnowned under the lock, with its owner 0.)
    __atomic_fetch_or(&span->bits[w].pending, bit, __ATOMIC_SEQ_CST);
    tell_owner(*span);
    return;
  }
  store_word(span->bits[w].free, load_word(span->bits[w].free) | bit);
  list_unowned_slab(arena, span);
}

std::size_t block_usable_size(const BlockRef& block) {
  if (block.span->kind == SpanKind::kMedium)
    return std::size_t{block.span->page_count} << kPageShift;
  return kClasses[block.span->size_class].block_size;
}

bool medium_resize_in_place(Arena& arena, Span& span, std::size_t pages) {
  Segment& seg = *span.segment;
  if (pages == span.page_count) return true;
  if (pages < span.page_count) {
    Span* tail = new_span(arena);
    if (tail == nullptr) return false;
    tail->segment = &seg;
    tail->first_page = static_cast<std::uint16_t>(span.first_page + pages);
    tail->page_count = static_cast<std::uint16_t>(span.page_count - pages);
    tail->kind = SpanKind::kMedium;
    set_page_span(seg, tail->first_page, tail);
    set_page_span(seg, tail->first_page + tail->page_count - 1, tail);
    span.page_count = static_cast<std::uint16_t>(pages);
    set_page_span(seg, span.first_page + pages - 1, &span);
    give_pages(arena, tail);
    return true;
  }
  const std::size_t after_page = std::size_t{span.first_page} + span.page_count;
  if (after_page >= kPagesPerSegment) return false;
  Span* after = span_covering(seg, after_page);
  const std::size_t needed = pages - span.page_count;
  if (after == nullptr || after->kind != SpanKind::kFree || after->page_count < needed)
    return false;
  Span* taken = carve(arena, after, needed, /*either_end=*/false);
  if (taken == nullptr) return false;
  span.page_count = static_cast<std::uint16_t>(pages);
  set_page_span(seg, span.first_page + pages - 1, &span);
  drop_span(arena, taken);
  return true;
}

void purge_set_aside(Arena& arena) {
  do {
    Span* batch = arena.to_purge;
    arena.to_purge = nullptr;
    // Out of the heap, the runs are no one else's; their segments stay mapped, since
    // a segment is unmapped only once all of it is one free run.
    arena.lock.unlock();
    widen_race_window();
    {
      DecommitBatch decommit;
      for (const Span* run = batch; run != nullptr; run = run->next) {
        if (run->purge_count == 0) continue;
        decommit.add(reinterpret_cast<void*>(run->segment->base +
                                             (std::size_t{run->purge_first} << kPageShift)),
                     std::size_t{run->purge_count} << kPageShift);
      }
    }
    arena.lock.lock();
    while (batch != nullptr) {
      Span* run = batch;
      batch = run->next;
      arena.purging_pages -= run->page_count;
      return_run(arena, run);
    }
  } while (arena.to_purge != nullptr);
}

void purge_free_pages(Arena& arena) {
  purge_down_to(arena, 0);
}

void trim(Arena& arena) {
  for (std::size_t cls = 0; cls < kNumClasses; ++cls) {
    Span* empty = arena.empty_slab[cls];
    if (empty == nullptr) continue;
    arena.empty_slab[cls] = nullptr;
    unlink(arena.partial[cls], empty);
    give_pages(arena, empty);
  }
  purge_free_pages(arena);
}

Lock& segment_recycler_lock() {
  return recycler_lock;
}

void add_stats(Arena& arena, arena_stats& stats) {
  if (arena.segment_count != 0) ++stats.arenas_used;
  stats.segments += arena.segment_count;
  stats.pages_in_use += arena.pages_in_use;
  stats.pages_free_dirty += arena.dirty_pages;
  stats.pages_free_clean += arena.clean_pages + arena.purging_pages;
}

}  // namespace arena
