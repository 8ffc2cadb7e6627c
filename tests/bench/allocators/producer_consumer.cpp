// The allocator benchmark of our own: two threads, a producer that allocates blocks of
// mixed sizes and a consumer that frees them, so every free is remote; each thread also
// keeps a window of short-lived local blocks, as a real pipeline stage does. Prints one
// JSON object: transfers, seconds, million operations per second.
//
// --one-cpu runs both threads on one CPU, the lowest it may use. The queue's depth then
// no longer depends on the allocator: the producer fills it in each time slice and the
// consumer drains it in the next, under every allocator alike, so their peak RSS compare
// at one depth (with both threads running at once, a slow consumer keeps the queue full
// and a fast one keeps it nearly empty: BENCHMARKS.md, #14, Session 32).
//
// --stats-at-full N has the producer call malloc_stats() when it finds the queue full for
// the Nth time, before it waits: each allocator's own report of its heap with the most
// blocks in flight (with --one-cpu, where the peak RSS is made).
//
// --two-cpus runs the producer on the lowest CPU it may use and the consumer on the next:
// every free is then another core's. Left to the scheduler, a 2-CPU guest put both
// threads on one CPU in some runs of every allocator (8 rounds: 3 of arena's, 4 of
// mimalloc's, 1 of tcmalloc's; a mean depth near the one-CPU run's and half the wall),
// so the medians mixed two workloads (BENCHMARKS.md, #12, Session 41).
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <boost/program_options.hpp>

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "spsc_ring.hpp"

namespace {

namespace po = boost::program_options;

std::size_t block_size(std::mt19937_64& random) {
  // 80% under 256 B, 18% under 4 KiB, 2% up to 64 KiB: message-like payloads.
  const unsigned pick = random() % 100;
  if (pick < 80) return 8 + random() % 248;
  if (pick < 98) return 256 + random() % 3840;
  return 4096 + random() % 61440;
}

// Allocates and frees a ring of local blocks: the thread's own short-lived garbage.
class LocalChurn {
 public:
  explicit LocalChurn(std::uint64_t seed) : random_{seed}, window_(64, nullptr) {}
  ~LocalChurn() {
    for (void* block : window_) std::free(block);
  }
  LocalChurn(const LocalChurn&) = delete;
  LocalChurn& operator=(const LocalChurn&) = delete;
  void step() {
    void*& slot = window_[next_++ % window_.size()];
    std::free(slot);
    const std::size_t size = 16 + random_() % 240;
    slot = std::malloc(size);
    if (slot == nullptr) std::abort();
    std::memset(slot, 1, 16);
  }

 private:
  std::mt19937_64 random_;
  std::vector<void*> window_;
  std::size_t next_ = 0;
};

// The first `count` CPUs the process may run on, fewer if it may not use that many.
std::vector<int> allowed_cpus(std::size_t count) {
  std::vector<int> cpus;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < count; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  return cpus;
}

bool pin_this_thread(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t transfers = 0;
  bool one_cpu = false;
  bool two_cpus = false;
  std::uint64_t stats_at_full = 0;
  po::options_description options{"producer_consumer: a 2-thread cross-thread free benchmark"};
  options.add_options()("help,h", "this help")(
      "transfers,n", po::value(&transfers)->default_value(3'000'000), "blocks handed over")(
      "one-cpu", po::bool_switch(&one_cpu), "run both threads on one CPU: the queue full in turns")(
      "two-cpus", po::bool_switch(&two_cpus),
      "run the producer and the consumer on a CPU each: every free another core's")(
      "stats-at-full", po::value(&stats_at_full)->default_value(0),
      "call malloc_stats() when the queue is found full for the Nth time");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, options), values);
    po::notify(values);
  } catch (const po::error& error) {
    fmt::print(stderr, "producer_consumer: {}\n", error.what());
    return 2;
  }
  if (values.count("help") != 0) {
    fmt::print("{}", fmt::streamed(options));
    return 0;
  }

  if (one_cpu && two_cpus) {
    fmt::print(stderr, "producer_consumer: --one-cpu and --two-cpus exclude each other\n");
    return 2;
  }
  // The lowest CPUs the program may run on, not the one it started on: in a loop that
  // alternated two allocators, the runs of one started on the other CPU more often, and
  // this guest's CPUs are not always equally fast (BENCHMARKS.md, #12, Session 36).
  const std::vector<int> cpus = allowed_cpus(one_cpu ? 1 : two_cpus ? 2 : 0);
  if (two_cpus && cpus.size() < 2) {
    fmt::print(stderr, "producer_consumer: --two-cpus: the process may run on {} CPU(s)\n",
               cpus.size());
    return 1;
  }
  // The producer pins itself before the consumer starts, which inherits the mask (one
  // CPU) or replaces it with the second CPU's.
  if ((one_cpu || two_cpus) && (cpus.empty() || !pin_this_thread(cpus[0]))) {
    fmt::print(stderr, "producer_consumer: cannot pin the producer to CPU {}\n",
               cpus.empty() ? -1 : cpus[0]);
    return 1;
  }

  mtreplay::allocbench::SpscRing<1024> ring;
  const auto start = std::chrono::steady_clock::now();
  std::thread consumer{[&] {
    if (two_cpus && !pin_this_thread(cpus[1])) {
      fmt::print(stderr, "producer_consumer: cannot pin the consumer to CPU {}\n", cpus[1]);
      std::exit(1);
    }
    LocalChurn churn{2};
    std::uint64_t checksum = 0;
    for (std::uint64_t i = 0; i < transfers; ++i) {
      auto* block = static_cast<unsigned char*>(ring.pop());
      checksum += block[0];
      std::free(block);
      churn.step();
    }
    if (checksum != transfers * 0x5a) std::abort();  // a block came back changed
  }};
  {
    LocalChurn churn{1};
    std::mt19937_64 random{1};
    for (std::uint64_t i = 0; i < transfers; ++i) {
      const std::size_t size = block_size(random);
      auto* block = static_cast<unsigned char*>(std::malloc(size));
      if (block == nullptr) std::abort();
      block[0] = 0x5a;
      block[size - 1] = 0xa5;
      ring.push(block, [&](std::size_t full_pushes) {
        if (full_pushes == stats_at_full) malloc_stats();
      });
      churn.step();
    }
  }
  consumer.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Each transfer is a malloc and a free, plus a malloc and a free of churn per thread.
  fmt::print(
      "{{\"transfers\": {}, \"seconds\": {:.4f}, \"mops\": {:.3f}, \"mean_queue_depth\": {:.1f}, "
      "\"full_queue_pushes\": {}}}\n",
      transfers, seconds, static_cast<double>(transfers) * 6 / seconds / 1e6, ring.mean_depth(),
      ring.full_pushes());
  return 0;
}
