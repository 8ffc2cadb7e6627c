// libfirst_use.so: how long a program waits from calling malloc until it can use the
// block, and how long free takes, on the machine itself. Preloaded in front of any
// allocator (LD_PRELOAD="libfirst_use.so ALLOCATOR.so"), it times each malloc together
// with one load of the block's first byte, and each free, with the time-stamp counter
// between fences, and keeps a histogram per band of request size (up to 128 B, 1 KiB,
// 8 KiB, 64 KiB, larger) and one for free. At exit it writes one JSON line (preload_shim.hpp:
// FIRST_USE_OUT, else stderr): per band the calls, the mean and the 50th, 90th and 99th
// percentiles in ns, the cost of an empty timed window taken out.
//
// Why the load: an allocator that reads or writes the block it hands out (a free list's
// link, a chunk header) takes a cold block's cache and TLB misses inside malloc; one whose
// metadata lives apart (arena) hands the miss to the program's first access. Timing malloc
// alone would charge the first kind and not the second; the load makes the two comparable
// (BENCHMARKS.md, #12, Session 40). The fences keep the work of the calls from overlapping
// the timed windows: the figures are latencies as if nothing else ran beside them, not
// the program's throughput, which the wall time of a run without the shim gives.
//
// Each thread counts into a histogram of its own (64 of them; later threads are counted
// in `threads_not_counted` only). A thread that exits leaves its counts behind for the
// report. operator new and delete (plain and array, sized deletes too) are timed as malloc
// and free; calloc, realloc, the aligned functions and the other forms of operator new
// pass through untimed.
#include <x86intrin.h>

#include <pthread.h>
#include <time.h>

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "preload_shim.hpp"

namespace {

constexpr const char* kShim = "libfirst_use.so";

// Buckets of cycles: 4 to a doubling (each 12-25 % of its floor wide).
constexpr int kBucketsPerOctave = 4;
constexpr int kBuckets = 40 * kBucketsPerOctave;

constexpr int kBands = 6;  // five malloc bands, then free
constexpr int kFreeBand = kBands - 1;
constexpr std::size_t kBandLimits[kBands - 1] = {128, 1024, 8192, 65536, ~std::size_t{0}};
constexpr const char* kBandNames[kBands] = {"malloc_128", "malloc_1k",        "malloc_8k",
                                            "malloc_64k", "malloc_above_64k", "free"};

int band_of(std::size_t size) {
  int band = 0;
  while (size > kBandLimits[band]) ++band;
  return band;
}

int bucket_of(std::uint64_t cycles) {
  if (cycles < 4) return static_cast<int>(cycles);
  const int octave = 63 - std::countl_zero(cycles);
  const int quarter = static_cast<int>((cycles >> (octave - 2)) & 3);
  const int bucket = octave * kBucketsPerOctave + quarter;
  return bucket < kBuckets ? bucket : kBuckets - 1;
}

// The smallest cycle count of a bucket, and its middle.
double bucket_floor(int bucket) {
  if (bucket < 4) return bucket;
  const int octave = bucket / kBucketsPerOctave;
  return static_cast<double>(std::uint64_t{1} << octave) *
         (1.0 + (bucket % kBucketsPerOctave) / static_cast<double>(kBucketsPerOctave));
}
double bucket_middle(int bucket) {
  if (bucket < 4) return bucket;
  return bucket_floor(bucket) +
         static_cast<double>(std::uint64_t{1} << (bucket / kBucketsPerOctave)) / 8;
}

// The middle of the bucket that holds the `share` percentile of `calls` counts.
double percentile_cycles(const std::array<std::uint64_t, kBuckets>& buckets, std::uint64_t calls,
                         double share) {
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets[static_cast<std::size_t>(b)];
    if (static_cast<double>(seen) >= share * static_cast<double>(calls)) return bucket_middle(b);
  }
  return 0.0;
}

// Written by its one thread (relaxed stores, no read-modify-write), read at exit.
struct Histogram {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> cycles{0};
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
  void add(std::uint64_t elapsed) {
    auto bump = [](std::atomic<std::uint64_t>& counter, std::uint64_t by) {
      counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    };
    bump(calls, 1);
    bump(cycles, elapsed);
    bump(buckets[static_cast<std::size_t>(bucket_of(elapsed))], 1);
  }
};

constexpr int kThreadSlots = 64;
struct ThreadCounts {
  std::array<Histogram, kBands> bands;
};
ThreadCounts thread_counts[kThreadSlots];
std::atomic<int> threads_seen{0};
std::atomic<std::uint64_t> threads_not_counted{0};
thread_local int thread_slot __attribute__((tls_model("initial-exec"))) = -1;

constinit preload_shim::NextAllocator next(kShim);

ThreadCounts* this_thread() {
  if (thread_slot == -1) {
    thread_slot = threads_seen.fetch_add(1, std::memory_order_relaxed);
    if (thread_slot >= kThreadSlots) threads_not_counted.fetch_add(1, std::memory_order_relaxed);
  }
  return thread_slot < kThreadSlots ? &thread_counts[thread_slot] : nullptr;
}

inline std::uint64_t stamp() {
  _mm_lfence();
  const std::uint64_t now = __rdtsc();
  _mm_lfence();
  return now;
}

std::uint64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec);
}

// The counter's rate, from the process's whole run (a run shorter than 20 ms waits out
// the rest at exit), and the median cost of an empty timed window, taken out of every
// figure.
struct Clock {
  std::uint64_t start_tsc = 0;
  std::uint64_t start_ns = 0;
  double cycles_per_ns = 0;
  double empty_cycles = 0;
};
Clock the_clock;

void start_clock() {
  the_clock.start_tsc = __rdtsc();
  the_clock.start_ns = monotonic_ns();
}

// A child forked without exec reports its own calls, not its parent's as well.
void start_afresh_in_child() {
  const int used = threads_seen.load(std::memory_order_relaxed);
  for (int t = 0; t < (used < kThreadSlots ? used : kThreadSlots); ++t)
    for (Histogram& h : thread_counts[t].bands) {
      h.calls.store(0, std::memory_order_relaxed);
      h.cycles.store(0, std::memory_order_relaxed);
      for (auto& bucket : h.buckets) bucket.store(0, std::memory_order_relaxed);
    }
  threads_seen.store(0, std::memory_order_relaxed);
  threads_not_counted.store(0, std::memory_order_relaxed);
  thread_slot = -1;
  start_clock();
}

__attribute__((constructor)) void start() {
  start_clock();
  pthread_atfork(nullptr, nullptr, start_afresh_in_child);
}

void finish_clock() {
  while (monotonic_ns() - the_clock.start_ns < 20'000'000) {
  }
  the_clock.cycles_per_ns = static_cast<double>(__rdtsc() - the_clock.start_tsc) /
                            static_cast<double>(monotonic_ns() - the_clock.start_ns);
  constexpr int kEmptyWindows = 4096;
  std::array<std::uint64_t, kBuckets> empty{};
  for (int i = 0; i < kEmptyWindows; ++i) {
    const std::uint64_t before = stamp();
    ++empty[static_cast<std::size_t>(bucket_of(stamp() - before))];
  }
  the_clock.empty_cycles = percentile_cycles(empty, kEmptyWindows, 0.5);
}

double net_ns(double cycles) {
  const double net = cycles - the_clock.empty_cycles;
  return (net > 0 ? net : 0) / the_clock.cycles_per_ns;
}

void print_report() {
  finish_clock();
  char line[4096];
  int n = std::snprintf(line, sizeof line,
                        "{\"shim\": \"first_use\", \"tsc_per_ns\": %.3f, \"empty_window_ns\": "
                        "%.1f, \"threads\": %d, \"threads_not_counted\": %llu",
                        the_clock.cycles_per_ns, the_clock.empty_cycles / the_clock.cycles_per_ns,
                        threads_seen.load(),
                        static_cast<unsigned long long>(threads_not_counted.load()));
  const int threads = threads_seen.load() < kThreadSlots ? threads_seen.load() : kThreadSlots;
  for (int band = 0; band < kBands; ++band) {
    std::uint64_t calls = 0;
    std::uint64_t cycles = 0;
    std::array<std::uint64_t, kBuckets> buckets{};
    for (int t = 0; t < threads; ++t) {
      const Histogram& h = thread_counts[t].bands[static_cast<std::size_t>(band)];
      calls += h.calls.load(std::memory_order_relaxed);
      cycles += h.cycles.load(std::memory_order_relaxed);
      for (int b = 0; b < kBuckets; ++b)
        buckets[static_cast<std::size_t>(b)] +=
            h.buckets[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
    }
    auto percentile = [&](double share) {
      return net_ns(percentile_cycles(buckets, calls, share));
    };
    n += std::snprintf(
        line + n, sizeof line - static_cast<std::size_t>(n),
        ", \"%s\": {\"calls\": %llu, \"mean_ns\": %.1f, \"p50_ns\": %.1f, \"p90_ns\": %.1f, "
        "\"p99_ns\": %.1f}",
        kBandNames[band], static_cast<unsigned long long>(calls),
        calls != 0 ? net_ns(static_cast<double>(cycles) / static_cast<double>(calls)) : 0.0,
        percentile(0.5), percentile(0.9), percentile(0.99));
  }
  n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), "}\n");
  preload_shim::write_report(kShim, "FIRST_USE_OUT", line, static_cast<std::size_t>(n));
}

struct PrintAtExit {
  ~PrintAtExit() { print_report(); }
} print_at_exit;

// Times `allocate` with the load of the block's first byte: the malloc band of `size`.
template <typename Allocate>
void* timed_allocation(std::size_t size, Allocate&& allocate) {
  const std::uint64_t before = stamp();
  void* p = allocate();
  if (p != nullptr) {
    const unsigned char first = *static_cast<volatile const unsigned char*>(p);
    __asm__ volatile("" : : "r"(first));
  }
  const std::uint64_t after = stamp();
  if (ThreadCounts* counts = this_thread())
    counts->bands[static_cast<std::size_t>(band_of(size))].add(after - before);
  return p;
}

template <typename Release>
void timed_release(Release&& release) {
  const std::uint64_t before = stamp();
  release();
  const std::uint64_t after = stamp();
  if (ThreadCounts* counts = this_thread()) counts->bands[kFreeBand].add(after - before);
}

// operator new and delete, timed as malloc and free: tcmalloc, jemalloc and mimalloc
// define their own, which never call malloc, so a C++ program's blocks would go untimed
// under them and timed under glibc (libstdc++'s operator new calls malloc). Here the next
// definition is called, the backend's or libstdc++'s; a malloc or free it makes meanwhile
// is not timed again.
thread_local bool in_operator __attribute__((tls_model("initial-exec"))) = false;
struct InOperator {
  InOperator() { in_operator = true; }
  ~InOperator() { in_operator = false; }
  InOperator(const InOperator&) = delete;
  InOperator& operator=(const InOperator&) = delete;
};

// The definition of `name` after the shim's, looked up once into `next`.
template <typename Fn>
Fn next_operator(const char* name, std::atomic<Fn>& next) {
  Fn fn = next.load(std::memory_order_relaxed);
  if (fn == nullptr) {
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    if (fn == nullptr) {
      std::fprintf(stderr, "%s: no %s after it in the process\n", kShim, name);
      _exit(2);
    }
    next.store(fn, std::memory_order_relaxed);
  }
  return fn;
}

using NewFn = void* (*)(std::size_t);
using DeleteFn = void (*)(void*);
using SizedDeleteFn = void (*)(void*, std::size_t);

void* timed_new(const char* name, std::atomic<NewFn>& next_new, std::size_t size) {
  const NewFn fn = next_operator(name, next_new);
  InOperator inside;
  return timed_allocation(size, [&] { return fn(size); });
}

template <typename Fn, typename... Size>
void timed_delete(const char* name, std::atomic<Fn>& next_delete, void* p, Size... size) {
  if (p == nullptr) return;
  const Fn fn = next_operator(name, next_delete);
  InOperator inside;
  timed_release([&] { fn(p, size...); });
}

std::atomic<NewFn> next_new{nullptr}, next_new_array{nullptr};
std::atomic<DeleteFn> next_delete{nullptr}, next_delete_array{nullptr};
std::atomic<SizedDeleteFn> next_sized_delete{nullptr}, next_sized_delete_array{nullptr};

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  const preload_shim::MallocFn next_malloc = next.next_malloc();
  if (in_operator) return next_malloc(size);
  return timed_allocation(size, [&] { return next_malloc(size); });
}

void free(void* p) noexcept {
  const preload_shim::FreeFn next_free = next.free_for(p);
  if (next_free == nullptr) return;
  if (in_operator) return next_free(p);
  timed_release([&] { next_free(p); });
}

}  // extern "C"

void* operator new(std::size_t size) {
  return timed_new("_Znwm", next_new, size);
}
void* operator new[](std::size_t size) {
  return timed_new("_Znam", next_new_array, size);
}
void operator delete(void* p) noexcept {
  timed_delete("_ZdlPv", next_delete, p);
}
void operator delete[](void* p) noexcept {
  timed_delete("_ZdaPv", next_delete_array, p);
}
void operator delete(void* p, std::size_t size) noexcept {
  timed_delete("_ZdlPvm", next_sized_delete, p, size);
}
void operator delete[](void* p, std::size_t size) noexcept {
  timed_delete("_ZdaPvm", next_sized_delete_array, p, size);
}
