// The shape of glibc's threaded malloc benchmark: each of `threads` threads, on its own,
// keeps a working set of `working_set` blocks and replaces a random one per iteration
// with a new block whose size follows a 1/size-like distribution between 4 B and 32 KiB
// (many tiny blocks, a long tail), for `iterations` iterations. No sharing between
// threads: it measures the per-thread fast paths and how well threads stay apart.
//
// --size N makes every block N bytes, replaced at random as before: a pool of one kind
// of object (a cache's entries, a hash table's nodes). Every free then lands in a random
// one of the class's slabs or pages, most of them full, and a malloc finds the free
// blocks spread one or two to a slab (harness workload fixed_size_churn).
//
// --max-size N makes every block of more than N bytes N bytes, the rest of the
// distribution as it was: with N = 6144, arena's largest slab class, every block comes
// from slabs, so that the medium blocks' share of the time is the difference
// (BENCHMARKS.md, #12, Session 55).
//
// --access says what the loop does with the blocks: 1 (the default) writes and reads the
// first byte of each new block; 0 touches no block, so that only the calls are timed;
// 2 also reads the first byte of a block before freeing it, as a program that inspects
// an object before dropping it (what the program's own first store into a block costs
// under each allocator: BENCHMARKS.md, #14, Session 48).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "thread_malloc_shape.hpp"
#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_thread_malloc");
  const auto [threads, iterations, working_set] = workload::thread_malloc_shape(options);
  constexpr long kMaxFixedSize = 1 << 20;
  const long fixed_size = options.get("size", 0);    // 0: the distribution
  const long max_size = options.get("max-size", 0);  // 0: no cap
  const long access = options.get("access", 1);
  options.check();
  if (fixed_size > kMaxFixedSize) {
    std::fprintf(stderr, "alloc_thread_malloc: --size must be at most %ld\n", kMaxFixedSize);
    return 2;
  }
  if (access < 0 || access > 2) {
    std::fprintf(stderr, "alloc_thread_malloc: --access must be 0, 1 or 2\n");
    return 2;
  }
  std::vector<std::uint32_t> sizes = workload::thread_malloc_sizes();
  if (fixed_size != 0)
    std::fill(sizes.begin(), sizes.end(), static_cast<std::uint32_t>(fixed_size));
  if (max_size != 0)
    for (std::uint32_t& size : sizes)
      size = std::min(size, static_cast<std::uint32_t>(std::min(max_size, kMaxFixedSize)));
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads), 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      workload::Random random(static_cast<std::uint64_t>(t) + 5);
      std::vector<char*> set(static_cast<std::size_t>(working_set), nullptr);
      std::uint64_t sum = 0;
      for (long i = 0; i < iterations; ++i) {
        const std::uint64_t r = random.next();
        char*& slot = set[r % set.size()];
        if (access == 2 && slot != nullptr) sum += static_cast<unsigned char>(slot[0]);
        std::free(slot);
        const std::size_t n = sizes[(r >> 32) & (sizes.size() - 1)];
        slot = static_cast<char*>(std::malloc(n));
        if (slot == nullptr) std::abort();
        if (access == 0) {
          sum += static_cast<unsigned char>(reinterpret_cast<std::uintptr_t>(slot) >> 4);
          continue;
        }
        slot[0] = static_cast<char>(i);
        sum += static_cast<unsigned char>(slot[0]);
      }
      for (char* p : set) std::free(p);
      sums[static_cast<std::size_t>(t)] = sum;
    });
  }
  for (auto& w : workers) w.join();
  std::uint64_t check = 0;
  for (auto s : sums) check += s;
  workload::report("thread_malloc", workload::seconds_since(start), check);
  return 0;
}
