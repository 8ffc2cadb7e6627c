// Whole-program allocator benchmark, run under LD_PRELOAD by compare.py:
//   alloc_bench churn N      one thread: N malloc/free with a sliding window of live
//                            blocks, sizes skewed small like an interpreter's objects
//   alloc_bench prodcons N   two threads: a producer allocates N blocks, a consumer
//                            checks and frees them (every free crosses threads)
// It prints a checksum so that the work cannot be optimised away.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::size_t next_size(unsigned& x) {
  x = x * 1664525u + 1013904223u;
  const unsigned r = x >> 8;
  if (r % 16 != 0) return 16 + r % 112;  // most objects are small
  if (r % 256 != 0) return 128 + r % 4000;
  return 4096 + r % 200000;
}

unsigned long churn(long operations) {
  constexpr std::size_t kWindow = 4096;
  std::vector<void*> window(kWindow, nullptr);
  unsigned x = 1;
  unsigned long sum = 0;
  for (long i = 0; i < operations; ++i) {
    const std::size_t slot = (x >> 4) % kWindow;
    std::free(window[slot]);
    const std::size_t size = next_size(x);
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    p[0] = static_cast<unsigned char>(i);
    p[size - 1] = 1;
    sum += p[0];
    window[slot] = p;
  }
  for (void* p : window) std::free(p);
  return sum;
}

// A single-producer single-consumer ring of pointers (the ring itself is not malloc'd
// per item, so the benchmark measures the allocator, not a queue).
unsigned long prodcons(long items) {
  constexpr std::size_t kRing = 1 << 14;
  std::vector<std::atomic<void*>> ring(kRing);
  for (auto& slot : ring) slot.store(nullptr);
  std::atomic<unsigned long> consumed_sum{0};
  std::thread consumer([&] {
    unsigned long sum = 0;
    for (long i = 0; i < items; ++i) {
      auto& slot = ring[static_cast<std::size_t>(i) % kRing];
      void* p;
      while ((p = slot.exchange(nullptr, std::memory_order_acquire)) == nullptr)
        std::this_thread::yield();
      sum += *static_cast<unsigned char*>(p);
      std::free(p);
    }
    consumed_sum = sum;
  });
  unsigned x = 7;
  for (long i = 0; i < items; ++i) {
    const std::size_t size = next_size(x);
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    std::memset(p, static_cast<int>(i & 0xff), size < 64 ? size : 64);
    auto& slot = ring[static_cast<std::size_t>(i) % kRing];
    while (slot.load(std::memory_order_relaxed) != nullptr) std::this_thread::yield();
    slot.store(p, std::memory_order_release);
  }
  consumer.join();
  return consumed_sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: alloc_bench churn|prodcons COUNT\n");
    return 2;
  }
  const std::string mode = argv[1];
  const long count = std::atol(argv[2]);
  if (count <= 0) {
    std::fprintf(stderr, "alloc_bench: COUNT must be a positive number, got '%s'\n", argv[2]);
    return 2;
  }
  unsigned long sum;
  if (mode == "churn")
    sum = churn(count);
  else if (mode == "prodcons")
    sum = prodcons(count);
  else {
    std::fprintf(stderr, "alloc_bench: unknown mode '%s'\n", mode.c_str());
    return 2;
  }
  std::printf("%lu\n", sum);
  return 0;
}
