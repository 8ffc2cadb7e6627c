// The recorder benchmark's synthetic load: T threads, each making N malloc-family
// calls (a malloc/free pair is two calls) over a small sliding window of live blocks,
// so the allocator's own cost stays low and the recorder's added cost shows.
// Prints one JSON line: threads, calls, wall seconds, calls per second, and the CPU
// time of the calling threads alone (thread_cpu_ns_per_call) and of the whole process
// (process_cpu_seconds): on a loaded machine wall time is noise, while the thread's
// CPU time per call still measures what the recorder adds on the hot path; the
// difference to the process's CPU time is the recorder's writer thread.
//
// With CLOCK = rdtsc (run untraced) each call is followed by what the recorder's event
// clock does per event (an rdtsc, a 64x64 multiply and a shift) and nothing else: the
// difference to the plain loop is the clock's share of the recorder's added cost, a
// floor that no encoding work can go below.
//   malloc_loop THREADS CALLS_PER_THREAD [plain|rdtsc]
#include <fmt/core.h>
#include <time.h>
#include <x86intrin.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

namespace {

std::atomic<uint64_t> thread_cpu_ns{0};

// The recorder's per-event clock read, without anything else the recorder does.
inline void stamp(uint64_t& sink) {
  const uint64_t ticks = __rdtsc() - 12345;
  sink += static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * 0x8000'0000u) >> 32);
}

uint64_t cpu_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

template <bool kClock>
void churn(size_t calls) {
  const uint64_t cpu_start = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  constexpr size_t kWindow = 64;
  void* live[kWindow] = {};
  uint32_t x = 12345;
  uint64_t sink = 0;
  for (size_t i = 0; i < calls / 2; ++i) {
    x = x * 1103515245u + 12345u;  // sizes 16..1039, a realistic small-object spread
    const size_t slot = i % kWindow;
    if constexpr (kClock) stamp(sink);
    std::free(live[slot]);
    live[slot] = std::malloc(16 + (x >> 22));
    if constexpr (kClock) stamp(sink);
  }
  for (void* p : live) std::free(p);
  thread_cpu_ns.fetch_add(cpu_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
  if (sink == 1) fmt::print(stderr, " ");  // keeps the clock reads alive
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fmt::print(stderr, "usage: malloc_loop THREADS CALLS_PER_THREAD [plain|rdtsc]\n");
    return 2;
  }
  const std::string_view mode = argc == 4 ? argv[3] : "plain";
  if (mode != "plain" && mode != "rdtsc") {
    fmt::print(stderr, "malloc_loop: mode must be plain or rdtsc, not {}\n", mode);
    return 2;
  }
  const bool with_clock = mode == "rdtsc";
  const int threads = std::atoi(argv[1]);
  const size_t calls = std::strtoull(argv[2], nullptr, 10);
  if (threads < 1 || calls < 2) {
    fmt::print(stderr, "malloc_loop: THREADS >= 1 and CALLS_PER_THREAD >= 2\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(with_clock ? churn<true> : churn<false>, calls);
  for (auto& t : pool) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double total = static_cast<double>(calls) * threads;
  fmt::print(
      "{{\"threads\":{},\"calls\":{},\"seconds\":{:.6f},\"calls_per_second\":{:.0f},"
      "\"thread_cpu_ns_per_call\":{:.2f},\"process_cpu_seconds\":{:.6f}}}\n",
      threads, static_cast<size_t>(total), seconds, total / seconds,
      static_cast<double>(thread_cpu_ns.load()) / total,
      static_cast<double>(cpu_ns(CLOCK_PROCESS_CPUTIME_ID)) / 1e9);
  return 0;
}
