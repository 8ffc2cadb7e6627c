// A producer hands blocks of one size to a consumer through a ring of a few slots, and the
// consumer frees them: every free is another thread's, and few blocks are live at once (a
// server passing its network buffers to a worker). With --size in 4-6 KiB, the path where
// arena serves a class from page runs while few of its blocks are live, and its locked
// trips through the page heap (BENCHMARKS.md, #14, Session 34).
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "workload.hpp"

namespace {

// Spins briefly, then yields: on a single CPU the other thread must get to run.
template <typename Ready>
void wait_until(Ready ready) {
  for (int spins = 0; !ready(); ++spins)
    if (spins > 64) std::this_thread::yield();
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_handoff");
  const long transfers = options.get("transfers", 1'000'000);
  const long size = options.get("size", 5000);
  const long depth = options.get("depth", 4);
  options.check();
  if (size < 1 || depth < 1) {
    std::fprintf(stderr, "alloc_handoff: --size and --depth must be at least 1\n");
    return 2;
  }
  std::vector<std::atomic<char*>> ring(static_cast<std::size_t>(depth));
  std::uint64_t consumed = 0;
  const auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    std::size_t at = 0;
    for (long i = 0; i < transfers; ++i) {
      char* p = nullptr;
      wait_until([&] { return (p = ring[at].exchange(nullptr, std::memory_order_acquire)); });
      consumed += static_cast<unsigned char>(p[0]) + static_cast<unsigned char>(p[size - 1]);
      std::free(p);
      at = (at + 1) % ring.size();
    }
  });
  std::size_t at = 0;
  for (long i = 0; i < transfers; ++i) {
    auto* p = static_cast<char*>(std::malloc(static_cast<std::size_t>(size)));
    if (p == nullptr) {
      // Not a return: the consumer thread is still joinable, and main's end would abort.
      std::fprintf(stderr, "alloc_handoff: malloc(%ld) failed\n", size);
      std::exit(3);
    }
    p[0] = 1;
    p[size - 1] = 1;
    wait_until([&] { return ring[at].load(std::memory_order_relaxed) == nullptr; });
    ring[at].store(p, std::memory_order_release);
    at = (at + 1) % ring.size();
  }
  consumer.join();
  workload::report("handoff", workload::seconds_since(start), consumed);
  return 0;
}
