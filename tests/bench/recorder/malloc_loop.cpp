// The recorder benchmark's synthetic load: T threads, each making N malloc-family
// calls (a malloc/free pair is two calls) over a small sliding window of live blocks,
// so the allocator's own cost stays low and the recorder's added cost shows.
// Prints one JSON line: threads, calls, wall seconds, calls per second, and the CPU
// time of the calling threads alone (thread_cpu_ns_per_call) and of the whole process
// (process_cpu_seconds): on a loaded machine wall time is noise, while the thread's
// CPU time per call still measures what the recorder adds on the hot path; the
// difference to the process's CPU time is the recorder's writer thread.
//   malloc_loop THREADS CALLS_PER_THREAD
#include <fmt/core.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

std::atomic<uint64_t> thread_cpu_ns{0};

uint64_t cpu_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void churn(size_t calls) {
  const uint64_t cpu_start = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  constexpr size_t kWindow = 64;
  void* live[kWindow] = {};
  uint32_t x = 12345;
  for (size_t i = 0; i < calls / 2; ++i) {
    x = x * 1103515245u + 12345u;  // sizes 16..1039, a realistic small-object spread
    const size_t slot = i % kWindow;
    std::free(live[slot]);
    live[slot] = std::malloc(16 + (x >> 22));
  }
  for (void* p : live) std::free(p);
  thread_cpu_ns.fetch_add(cpu_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fmt::print(stderr, "usage: malloc_loop THREADS CALLS_PER_THREAD\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const size_t calls = std::strtoull(argv[2], nullptr, 10);
  if (threads < 1 || calls < 2) {
    fmt::print(stderr, "malloc_loop: THREADS >= 1 and CALLS_PER_THREAD >= 2\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(churn, calls);
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
