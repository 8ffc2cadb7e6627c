// Where a steady working set's pages go in arena. Runs thread_malloc's shape (each
// thread replaces a random block of its working set, sizes from 4 B to 32 KiB skewed
// small) on arena_core, stops every thread at a barrier with its working set full, and
// walks every arena's segments under its lock: per size class, the slabs, their blocks
// and how many are in use beside how many blocks of the class the program holds; then
// the pages of slabs, medium blocks and free runs, and how many of each are resident
// (mincore). Peak RSS alone says how much; this says which part of the allocator holds
// it (BENCHMARKS.md, #14, Session 20).
//
//   arena_slab_census [--threads 2] [--iterations 4000000] [--working-set 1024]
#include <sys/mman.h>

#include <barrier>
#include <cstdio>
#include <thread>
#include <vector>

#include "arena.hpp"
#include "thread_malloc_shape.hpp"
#include "workload.hpp"

namespace {

using namespace arena;

struct ClassCensus {
  std::size_t slabs = 0;
  std::size_t pages = 0;
  std::size_t capacity = 0;  // blocks
  std::size_t in_use = 0;    // blocks the allocator counts in use
  std::size_t held = 0;      // blocks of this class the program holds
};

struct KindCensus {
  std::size_t pages = 0;
  std::size_t resident = 0;
};

struct Census {
  ClassCensus classes[kNumClasses];
  KindCensus slab, medium, free_dirty, free_clean;
  std::size_t medium_blocks = 0;
  std::size_t dirty_pages = 0;  // as the free runs count them
};

std::size_t resident_pages(std::uintptr_t start, std::size_t pages) {
  std::vector<unsigned char> in_core(pages);
  if (mincore(reinterpret_cast<void*>(start), pages * kPageSize, in_core.data()) != 0) return 0;
  std::size_t resident = 0;
  for (unsigned char c : in_core) resident += c & 1;
  return resident;
}

void count_arena(Arena& arena, Census& census) {
  ArenaGuard guard(arena);
  for (Segment* segment = arena.segments; segment != nullptr; segment = segment->next) {
    for (std::size_t page = 0; page < kPagesPerSegment;) {
      const Span* span = span_covering(*segment, page);
      if (span == nullptr) {
        ++page;
        continue;
      }
      const std::size_t resident = resident_pages(
          segment->base + (std::size_t{span->first_page} << kPageShift), span->page_count);
      if (span->kind == SpanKind::kSlab) {
        ClassCensus& c = census.classes[span->size_class];
        ++c.slabs;
        c.pages += span->page_count;
        c.capacity += span->capacity;
        c.in_use += std::size_t{span->capacity} - count_free_blocks(*span);
        census.slab.pages += span->page_count;
        census.slab.resident += resident;
      } else if (span->kind == SpanKind::kMedium) {
        ++census.medium_blocks;
        census.medium.pages += span->page_count;
        census.medium.resident += resident;
      } else {
        KindCensus& kind = span->dirty_pages != 0 ? census.free_dirty : census.free_clean;
        kind.pages += span->page_count;
        kind.resident += resident;
        census.dirty_pages += span->dirty_pages;
      }
      page = std::size_t{span->first_page} + span->page_count;
    }
  }
}

double kib(std::size_t bytes) {
  return static_cast<double>(bytes) / 1024.0;
}

void print(const Census& census, std::size_t held_bytes, std::size_t medium_held,
           std::size_t medium_held_pages) {
  std::printf(
      "| class | block B | blocks/slab | slabs | pages | blocks | in use | held | slab KiB | held "
      "KiB |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::size_t slab_bytes = 0;
  std::size_t held_in_blocks = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const ClassCensus& k = census.classes[c];
    if (k.slabs == 0 && k.held == 0) continue;
    const std::size_t block = kClasses[c].block_size;
    slab_bytes += k.pages * kPageSize;
    held_in_blocks += k.held * block;
    std::printf("| %zu | %zu | %u | %zu | %zu | %zu | %zu | %zu | %.0f | %.0f |\n", c, block,
                unsigned{kClasses[c].blocks}, k.slabs, k.pages, k.capacity, k.in_use, k.held,
                kib(k.pages * kPageSize), kib(k.held * block));
  }
  std::printf("\nslabs: %.0f KiB for %.0f KiB of the program's blocks (%.2fx)\n", kib(slab_bytes),
              kib(held_in_blocks),
              static_cast<double>(slab_bytes) / static_cast<double>(held_in_blocks));
  std::printf("medium blocks: %zu, %zu pages (the program holds %zu, %zu pages)\n",
              census.medium_blocks, census.medium.pages, medium_held, medium_held_pages);
  std::printf("program holds %.0f KiB in all\n", kib(held_bytes));
  std::printf("\n| pages of | in all | resident |\n|---|---:|---:|\n");
  std::printf("| slabs | %zu | %zu |\n", census.slab.pages, census.slab.resident);
  std::printf("| medium blocks | %zu | %zu |\n", census.medium.pages, census.medium.resident);
  std::printf("| free runs with dirty pages (%zu dirty) | %zu | %zu |\n", census.dirty_pages,
              census.free_dirty.pages, census.free_dirty.resident);
  std::printf("| clean free runs | %zu | %zu |\n", census.free_clean.pages,
              census.free_clean.resident);
  const std::size_t resident = census.slab.resident + census.medium.resident +
                               census.free_dirty.resident + census.free_clean.resident;
  std::printf("| resident in all | | %zu (%.0f KiB) |\n", resident, kib(resident * kPageSize));
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "arena_slab_census");
  const auto [threads, iterations, working_set] = workload::thread_malloc_shape(options);
  options.check();
  if (threads < 1 || working_set < 1) {
    std::fprintf(stderr, "arena_slab_census: --threads and --working-set must be at least 1\n");
    return 2;
  }
  const std::vector<std::uint32_t> sizes = workload::thread_malloc_sizes();
  // Filled in by each thread at the barrier: the sizes it holds.
  std::vector<std::vector<std::size_t>> held(static_cast<std::size_t>(threads));
  std::barrier meet(threads + 1);
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      workload::Random random(static_cast<std::uint64_t>(t) + 5);
      std::vector<void*> set(static_cast<std::size_t>(working_set), nullptr);
      std::vector<std::size_t>& size_of = held[static_cast<std::size_t>(t)];
      size_of.assign(set.size(), 0);
      for (long i = 0; i < iterations; ++i) {
        const std::uint64_t r = random.next();
        const std::size_t slot = r % set.size();
        arena_free(set[slot]);
        const std::size_t n = sizes[(r >> 32) & (sizes.size() - 1)];
        auto* block = static_cast<char*>(arena_malloc(n));
        if (block == nullptr) std::abort();
        block[0] = static_cast<char>(i);
        set[slot] = block;
        size_of[slot] = n;
      }
      meet.arrive_and_wait();  // the census is taken now
      meet.arrive_and_wait();
      for (void* block : set) arena_free(block);
    });
  }
  meet.arrive_and_wait();
  Census census;
  std::size_t held_bytes = 0, medium_held = 0, medium_held_pages = 0;
  for (const auto& thread_sizes : held) {
    for (std::size_t n : thread_sizes) {
      if (n == 0) continue;  // a slot the loop never reached
      held_bytes += n;
      if (n <= kMaxSmall) {
        ++census.classes[size_class_of(n)].held;
      } else {
        ++medium_held;
        medium_held_pages += pages_for(n);
      }
    }
  }
  for (std::size_t a = 0; a < kMaxArenas; ++a)
    count_arena(arena_at(static_cast<std::uint8_t>(a)), census);
  print(census, held_bytes, medium_held, medium_held_pages);
  meet.arrive_and_wait();
  for (auto& w : workers) w.join();
  return 0;
}
