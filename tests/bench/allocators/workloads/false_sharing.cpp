// False-sharing probes. Each of `threads` threads, `objects` times, allocates a small
// object, writes it `writes` times and frees it. "thrash" (active): the threads
// allocate side by side, so an allocator that hands neighbouring bytes of one cache
// line to different threads makes the writes bounce that line between cores.
// "scratch" (passive): the main thread allocates one object per thread first (they
// are neighbours), each thread frees the one it was given before starting, and an
// allocator that gives that freed block back to the freeing thread places the threads'
// objects on one cache line again.
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_false_sharing");
  const long passive = options.get("passive", 0);
  const long threads = options.get("threads", 2);
  const long objects = options.get("objects", 60'000);
  const long writes = options.get("writes", 1'000);
  const long size = options.get("size", 8);
  options.check();
  const auto start = std::chrono::steady_clock::now();
  std::vector<char*> given(static_cast<std::size_t>(threads));
  for (auto& g : given) g = static_cast<char*>(std::malloc(static_cast<std::size_t>(size)));
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads), 0);
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      if (passive != 0) std::free(given[static_cast<std::size_t>(t)]);
      std::uint64_t sum = 0;
      for (long o = 0; o < objects; ++o) {
        auto* p = static_cast<volatile char*>(std::malloc(static_cast<std::size_t>(size)));
        if (p == nullptr) std::abort();
        for (long w = 0; w < writes; ++w) p[w % size] = static_cast<char>(p[w % size] + 1);
        sum += static_cast<unsigned char>(p[0]);
        std::free(const_cast<char*>(p));
      }
      sums[static_cast<std::size_t>(t)] = sum;
    });
  }
  for (auto& w : workers) w.join();
  if (passive == 0)
    for (char* g : given) std::free(g);
  std::uint64_t check = 0;
  for (auto s : sums) check += s;
  workload::report(passive != 0 ? "false_sharing_scratch" : "false_sharing_thrash",
                   workload::seconds_since(start), check);
  return 0;
}
