// Mixed-lifetime multithreaded stress: `threads` threads share a table of slots. Each
// step a thread allocates an object of a size drawn from a skewed mix (mostly small,
// now and then up to 256 KiB) and either drops it at once (short-lived), keeps it in a
// private window for a while (medium), or swaps it into a random shared slot, freeing
// whatever another thread left there (long-lived, moved between threads). Every
// `phase` steps the threads meet at a barrier and the live set is partly cleared, so
// the heap grows and shrinks in waves. `--stats-at-phase N` has the first thread call
// malloc_stats() at the end of the Nth phase, before the clearing (the live set's high
// point), with the other threads waiting: each allocator's own report of its heap there.
// `barrier_wait_ms` is the threads' time waiting at the barriers, summed: a thread that
// takes more page faults than the others while its heap grows keeps them all waiting
// (BENCHMARKS.md, #12, Session 30). `--cross-thread 0` keeps each thread's long-lived
// objects in its own slots (those it clears), so that every free is its own thread's:
// the same work without cross-thread frees (BENCHMARKS.md, #12, Session 32).
#include <malloc.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "workload.hpp"

namespace {

std::size_t object_size(workload::Random& random) {
  const unsigned pick = random.next() % 1000;
  if (pick < 700) return random.between(8, 128);
  if (pick < 950) return random.between(129, 2048);
  if (pick < 998) return random.between(2049, 32768);
  return random.between(32769, 262144);
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_mixed_lifetime");
  const long threads = options.get("threads", 2);
  const long steps = options.get("steps", 1'500'000);
  const long slots = options.get("slots", 20000);
  const long phase = options.get("phase", 100'000);
  const long stats_at_phase = options.get("stats-at-phase", 0);
  const long cross_thread = options.get("cross-thread", 1);
  options.check();
  std::vector<std::atomic<void*>> shared(static_cast<std::size_t>(slots));
  for (auto& s : shared) s.store(nullptr);
  std::atomic<std::uint64_t> check{0};
  std::barrier meet(threads);
  std::atomic<std::int64_t> waited_ns{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      workload::Random random(static_cast<std::uint64_t>(t) + 1);
      constexpr std::size_t kWindow = 256;
      void* window[kWindow] = {};
      // Where its long-lived objects go: any slot, or only those it clears at the
      // barriers (i % threads == t).
      const std::size_t first_slot = cross_thread != 0 ? 0 : static_cast<std::size_t>(t);
      const std::size_t slot_stride = cross_thread != 0 ? 1 : static_cast<std::size_t>(threads);
      const std::size_t slot_choices =
          shared.size() > first_slot ? (shared.size() - first_slot + slot_stride - 1) / slot_stride
                                     : 0;
      std::uint64_t sum = 0;
      std::chrono::steady_clock::duration waited{};
      auto wait_for_all = [&] {
        const auto arrived = std::chrono::steady_clock::now();
        meet.arrive_and_wait();
        waited += std::chrono::steady_clock::now() - arrived;
      };
      for (long step = 0; step < steps; ++step) {
        const std::size_t bytes = object_size(random);
        auto* p = static_cast<unsigned char*>(std::malloc(bytes));
        if (p == nullptr) std::abort();
        p[0] = static_cast<unsigned char>(step);
        p[bytes - 1] = static_cast<unsigned char>(t);
        sum += p[0];
        const unsigned kind = random.next() % 8;
        if (kind < 4) {
          std::free(p);  // short-lived
        } else if (kind < 7) {
          void*& w = window[random.next() % kWindow];  // medium-lived, stays home
          std::free(w);
          w = p;
        } else {  // long-lived: swapped into the table, where another thread may free it
          void* old = p;
          if (slot_choices != 0) {
            old = shared[first_slot + random.next() % slot_choices * slot_stride].exchange(p);
            if (old != nullptr) sum += *static_cast<unsigned char*>(old);
          }
          std::free(old);
        }
        if ((step + 1) % phase == 0) {
          wait_for_all();
          if ((step + 1) / phase == stats_at_phase) {
            if (t == 0) malloc_stats();
            meet.arrive_and_wait();
          }
          // Each thread clears its share of the table: mostly blocks others allocated,
          // unless --cross-thread 0 kept each thread to its own share.
          for (std::size_t i = static_cast<std::size_t>(t); i < shared.size();
               i += static_cast<std::size_t>(threads))
            if (i % 3 != 0) std::free(shared[i].exchange(nullptr));
          wait_for_all();
        }
      }
      for (void* w : window) std::free(w);
      check += sum;
      waited_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count();
    });
  }
  for (auto& w : workers) w.join();
  for (auto& s : shared) std::free(s.load());
  const double seconds = workload::seconds_since(start);
  char figures[64];
  std::snprintf(figures, sizeof figures, ", \"barrier_wait_ms\": %.1f",
                static_cast<double>(waited_ns.load()) / 1e6);
  workload::report("mixed_lifetime", seconds, check.load(), figures);
  return 0;
}
