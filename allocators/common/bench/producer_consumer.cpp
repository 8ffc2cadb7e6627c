// Two-thread producer/consumer benchmark on the plain malloc symbols (run it under
// LD_PRELOAD to measure an allocator): the producer allocates blocks of random small
// sizes and passes them through a single-producer/single-consumer ring to the
// consumer, which frees them: every free is a cross-thread free. Both threads also
// churn thread-local blocks. Prints the wall time in seconds.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kRing = 4096;

struct Ring {
  void* slots[kRing];
  alignas(64) std::atomic<std::size_t> head{0};
  alignas(64) std::atomic<std::size_t> tail{0};
};

void churn(std::mt19937_64& rng, std::vector<void*>& local) {
  std::size_t i = rng() % local.size();
  std::free(local[i]);
  local[i] = std::malloc(16 + rng() % 1000);
}

}  // namespace

int main(int argc, char** argv) {
  long blocks = argc > 1 ? std::atol(argv[1]) : 4000000;
  auto ring = std::make_unique<Ring>();
  auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    std::mt19937_64 rng(1);
    std::vector<void*> local(256, nullptr);
    for (long i = 0; i < blocks; ++i) {
      void* p = std::malloc(16 + rng() % 512);
      static_cast<char*>(p)[0] = 1;
      std::size_t h = ring->head.load(std::memory_order_relaxed);
      while (h - ring->tail.load(std::memory_order_acquire) == kRing) std::this_thread::yield();
      ring->slots[h % kRing] = p;
      ring->head.store(h + 1, std::memory_order_release);
      if (i % 4 == 0) churn(rng, local);
    }
    for (void* p : local) std::free(p);
  });
  std::thread consumer([&] {
    std::mt19937_64 rng(2);
    std::vector<void*> local(256, nullptr);
    for (long i = 0; i < blocks; ++i) {
      std::size_t t = ring->tail.load(std::memory_order_relaxed);
      while (ring->head.load(std::memory_order_acquire) == t) std::this_thread::yield();
      std::free(ring->slots[t % kRing]);
      ring->tail.store(t + 1, std::memory_order_release);
      if (i % 4 == 0) churn(rng, local);
    }
    for (void* p : local) std::free(p);
  });
  producer.join();
  consumer.join();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::printf("%.3f\n", took.count());
}
