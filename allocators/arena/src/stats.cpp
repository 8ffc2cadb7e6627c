// The allocator's report of where its memory is (arena_print_stats, and malloc_stats in
// libarena.so): per arena the pages in use, free and dirty, the free runs by length,
// the medium blocks, and per size class the slabs and their free blocks; then the large
// blocks. Peak RSS says how much; this says which part of the allocator holds it. The
// same walk gives glibc's mallinfo2 figures (arena_mallinfo2, mallinfo2 and mallinfo in
// libarena.so), for programs that report their heap themselves.
//
// Written with write(2) from a buffer on the stack: no allocation, so a program may call
// it anywhere, even from a malloc hook. Each arena is walked under its lock; the free
// counts of slabs that a running thread owns are read as they are at that moment.
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstdarg>
#include <cstdio>

#include "arena.hpp"
#include "arena/arena.h"

namespace arena {
namespace {

class Report {
 public:
  explicit Report(int fd) : fd_(fd) {}
  ~Report() { flush(); }
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;

  [[gnu::format(printf, 2, 3)]] void line(const char* format, ...) {
    if (sizeof buffer_ - used_ < 256) flush();
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(buffer_ + used_, sizeof buffer_ - used_, format, args);
    va_end(args);
    if (n > 0)
      used_ += static_cast<std::size_t>(n) < sizeof buffer_ - used_ ? static_cast<std::size_t>(n)
                                                                    : sizeof buffer_ - used_ - 1;
  }

 private:
  void flush() {
    for (std::size_t done = 0; done < used_;) {
      const ssize_t n = write(fd_, buffer_ + done, used_ - done);
      if (n <= 0) break;  // a closed or full descriptor: the report is lost, nothing else
      done += static_cast<std::size_t>(n);
    }
    used_ = 0;
  }

  int fd_;
  std::size_t used_ = 0;
  char buffer_[4096];
};

// Free runs by length in pages: 1, 2-3, 4-7, 8-15, 16-63, 64 and more.
constexpr std::size_t kRunLengths = 6;
constexpr const char* kRunLengthNames[kRunLengths] = {"1", "2-3", "4-7", "8-15", "16-63", "64+"};
std::size_t run_length_bucket(std::size_t pages) {
  if (pages >= 64) return 5;
  if (pages >= 16) return 4;
  return static_cast<std::size_t>(std::bit_width(pages) - 1);
}

struct ClassCount {
  std::size_t slabs, pages, blocks, free_blocks, full, unowned;
};

// Copied under the arena's lock, reported after it (a write to a full pipe must not
// hold up the arena's threads).
struct ArenaCount {
  std::size_t segments, in_use, dirty, clean;
  ClassCount classes[kNumClasses];
  std::size_t runs, run_pages[kRunLengths], run_dirty[kRunLengths];
  std::size_t medium_blocks, medium_pages;
  // Medium blocks freed into their thread's cache: in use for the arena, free for the program.
  std::size_t cached_medium_blocks, cached_medium_pages;
  // Pages of each kind that are resident (mincore), beside the kind's pages in all: which
  // part of the peak RSS is the program's blocks and which the allocator's free pages.
  bool residency_known;
  std::size_t slab_pages, resident_slab, resident_medium, resident_free;
};

void count_arena(const Arena& arena, ArenaCount& count, bool with_residency) {
  count.segments = arena.segment_count;
  count.in_use = arena.pages_in_use;
  count.dirty = arena.dirty_pages;
  count.clean = arena.clean_pages + arena.purging_pages;
  count.residency_known = with_residency;
  unsigned char resident[kPagesPerSegment];
  for (const Segment* segment = arena.segments; segment != nullptr; segment = segment->next) {
    if (with_residency &&
        mincore(reinterpret_cast<void*>(segment->base), kSegmentSize, resident) != 0)
      count.residency_known = false;
    for (std::size_t page = 0; page < kPagesPerSegment;) {
      const Span* span = span_covering(*segment, page);
      if (span == nullptr || span->page_count == 0) {
        ++page;
        continue;
      }
      std::size_t resident_pages = 0;
      if (count.residency_known)
        for (std::size_t i = 0; i < span->page_count; ++i)
          resident_pages += resident[span->first_page + i] & 1u;
      if (span->kind == SpanKind::kSlab) {
        count.slab_pages += span->page_count;
        count.resident_slab += resident_pages;
        ClassCount& c = count.classes[span->size_class];
        const std::size_t free_blocks = count_free_blocks(*span);
        ++c.slabs;
        c.blocks += span->capacity;
        c.pages += span->page_count;
        c.free_blocks += free_blocks;
        c.full += free_blocks == 0;
        c.unowned += __atomic_load_n(&span->owner, __ATOMIC_RELAXED) == 0;
      } else if (span->kind == SpanKind::kMedium) {
        ++count.medium_blocks;
        count.medium_pages += span->page_count;
        count.resident_medium += resident_pages;
        if (__atomic_load_n(&span->medium.freed, __ATOMIC_RELAXED) != 0) {
          ++count.cached_medium_blocks;
          count.cached_medium_pages += span->page_count;
        }
      } else if (span->kind == SpanKind::kFree) {
        ++count.runs;
        count.resident_free += resident_pages;
        const std::size_t b = run_length_bucket(span->page_count);
        count.run_pages[b] += span->page_count;
        count.run_dirty[b] += span->dirty_pages;
      }
      page = std::size_t{span->first_page} + span->page_count;
    }
  }
}

void report_arena(Report& report, std::size_t index, const ArenaCount& count) {
  report.line("arena %zu: %zu segments, pages in use %zu, free dirty %zu, free clean %zu\n", index,
              count.segments, count.in_use, count.dirty, count.clean);
  report.line("  free runs by length in pages: pages (dirty)");
  for (std::size_t b = 0; b < kRunLengths; ++b)
    report.line("  %s: %zu (%zu)", kRunLengthNames[b], count.run_pages[b], count.run_dirty[b]);
  report.line("\n  medium blocks: %zu, %zu pages (freed into a thread's cache: %zu, %zu pages)\n",
              count.medium_blocks, count.medium_pages, count.cached_medium_blocks,
              count.cached_medium_pages);
  if (count.residency_known)
    report.line(
        "  resident pages: slabs %zu of %zu, medium blocks %zu of %zu, free runs %zu of %zu\n",
        count.resident_slab, count.slab_pages, count.resident_medium, count.medium_pages,
        count.resident_free, count.dirty + count.clean);
  report.line("  class   size  slabs  pages  blocks    free  full  unowned\n");
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const ClassCount& k = count.classes[c];
    if (k.slabs == 0) continue;
    report.line("  %5zu %6u %6zu %6zu %7zu %7zu %5zu %8zu\n", c, kClasses[c].block_size, k.slabs,
                k.pages, k.blocks, k.free_blocks, k.full, k.unowned);
  }
}

// Copies arena `index`'s figures under its lock; false for an arena that never grew.
bool count_arena_at(std::size_t index, ArenaCount& count, bool with_residency) {
  Arena& a = arena_at(static_cast<std::uint8_t>(index));
  ArenaGuard guard(a);
  if (a.segment_count == 0) return false;
  count_arena(a, count, with_residency);
  return true;
}

}  // namespace
}  // namespace arena

using namespace arena;

extern "C" void arena_print_stats(int fd) noexcept {
  Report report(fd);
  arena_stats totals;
  arena_get_stats(&totals);
  report.line(
      "arena: %zu arenas used, %zu segments, pages in use %zu, free dirty %zu, "
      "free clean %zu, metadata %zu KiB\n",
      totals.arenas_used, totals.segments, totals.pages_in_use, totals.pages_free_dirty,
      totals.pages_free_clean, totals.metadata_bytes >> 10);
  // Counted in the arena of the thread that allocated them, which may hold no segment.
  report.line("slab classes' blocks live in page runs:");
  for (std::size_t c = kFirstPageRunClass; c < kNumClasses; ++c) {
    std::size_t live = 0;
    for (std::size_t i = 0; i < arenas_in_use().size(); ++i)
      live += __atomic_load_n(
          &arena_at(static_cast<std::uint8_t>(i)).page_run_blocks[c - kFirstPageRunClass],
          __ATOMIC_RELAXED);
    report.line(" %u B: %zu", kClasses[c].block_size, live);
  }
  report.line("\n");
  for (std::size_t i = 0; i < arenas_in_use().size(); ++i) {
    ArenaCount count{};
    if (count_arena_at(i, count, true)) report_arena(report, i, count);
  }
  report.line("large blocks: %zu live, %zu KiB; %zu cached, %zu KiB\n", totals.large_blocks,
              totals.large_bytes >> 10, totals.large_cached_blocks,
              totals.large_cached_bytes >> 10);
}

// The fields as arena.h gives them. A slab's tail and a block's rounding count as in use
// (`uordblks`), as glibc counts a chunk's header, so that `arena` splits exactly.
extern "C" void arena_mallinfo2(struct mallinfo2* out) noexcept {
  struct mallinfo2 info {};
  std::size_t free_pages = 0, in_use_pages = 0, slab_free_bytes = 0, dirty_pages = 0;
  for (std::size_t i = 0; i < arenas_in_use().size(); ++i) {
    ArenaCount count{};
    if (!count_arena_at(i, count, false)) continue;
    info.arena += count.segments * kSegmentSize;
    info.ordblks += count.runs;
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      info.smblks += count.classes[c].free_blocks;
      slab_free_bytes += count.classes[c].free_blocks * kClasses[c].block_size;
    }
    in_use_pages += count.in_use - count.cached_medium_pages;
    free_pages += count.dirty + count.clean + count.cached_medium_pages;
    dirty_pages += count.dirty;
  }
  arena_stats totals;
  arena_get_stats(&totals);
  info.arena += totals.large_cached_bytes;
  info.hblks = totals.large_blocks;
  info.hblkhd = totals.large_bytes;
  info.fsmblks = slab_free_bytes;
  info.uordblks = (in_use_pages << kPageShift) - slab_free_bytes;
  info.fordblks = (free_pages << kPageShift) + slab_free_bytes + totals.large_cached_bytes;
  info.keepcost = (dirty_pages << kPageShift) + totals.large_cached_bytes;
  *out = info;
}
