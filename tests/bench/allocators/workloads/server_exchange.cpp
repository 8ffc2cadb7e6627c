// Server-like exchange: `threads` worker threads each hold `blocks` objects of 10-1000
// bytes and replace a random one `steps` times per round (free, then malloc a new size:
// a request's buffers). At the end of a round each worker exits and a new thread takes
// over its table, so every object it inherited is freed by a thread that did not
// allocate it, as connections migrate between the threads of a server.
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_server_exchange");
  const long threads = options.get("threads", 2);
  const long blocks = options.get("blocks", 2000);
  const long rounds = options.get("rounds", 30);
  const long steps = options.get("steps", 100'000);
  options.check();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<char*>> tables(static_cast<std::size_t>(threads));
  workload::Random seeder(7);
  for (auto& table : tables) {
    for (long i = 0; i < blocks; ++i) {
      const std::size_t n = seeder.between(10, 1000);
      table.push_back(static_cast<char*>(std::malloc(n)));
      table.back()[0] = static_cast<char>(n);
    }
  }
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads), 0);
  for (long round = 0; round < rounds; ++round) {
    std::vector<std::thread> workers;
    for (long t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        auto& table = tables[static_cast<std::size_t>((t + round) % threads)];
        workload::Random random(static_cast<std::uint64_t>(round * threads + t) + 11);
        std::uint64_t sum = 0;
        for (long s = 0; s < steps; ++s) {
          char*& slot = table[random.next() % table.size()];
          sum += static_cast<unsigned char>(slot[0]);
          std::free(slot);
          const std::size_t n = random.between(10, 1000);
          slot = static_cast<char*>(std::malloc(n));
          if (slot == nullptr) std::abort();
          slot[0] = static_cast<char>(n);
          slot[n - 1] = 1;
        }
        sums[static_cast<std::size_t>(t)] += sum;
      });
    }
    for (auto& w : workers) w.join();
  }
  std::uint64_t check = 0;
  for (auto& table : tables)
    for (char* p : table) std::free(p);
  for (auto s : sums) check += s;
  workload::report("server_exchange", workload::seconds_since(start), check);
  return 0;
}
