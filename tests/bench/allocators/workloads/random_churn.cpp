// Random-size churn: each of `threads` threads keeps `window` blocks whose sizes are
// log-uniform between 16 B and `max-kib` KiB, and `steps` times either replaces a
// random one (free + malloc, 7 in 8) or grows it with realloc (1 in 8), writing the
// first and last byte of every block it makes. Fragmentation and size-class traffic
// over the whole small and medium range.
#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_random_churn");
  const long threads = options.get("threads", 2);
  const long steps = options.get("steps", 1'000'000);
  const long window = options.get("window", 4096);
  const long max_kib = options.get("max-kib", 64);
  options.check();
  std::vector<std::uint32_t> sizes(1 << 14);
  workload::Random table_random(8);
  const double span = std::log2(static_cast<double>(max_kib) * 1024.0 / 16.0);
  for (auto& s : sizes)
    s = static_cast<std::uint32_t>(
        16.0 * std::exp2(span * static_cast<double>(table_random.next() % 100000) / 1e5));
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads), 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      workload::Random random(static_cast<std::uint64_t>(t) + 77);
      std::vector<char*> set(static_cast<std::size_t>(window), nullptr);
      std::vector<std::uint32_t> lengths(set.size(), 0);
      std::uint64_t sum = 0;
      for (long s = 0; s < steps; ++s) {
        const std::uint64_t r = random.next();
        const std::size_t i = r % set.size();
        std::size_t n = sizes[(r >> 40) & (sizes.size() - 1)];
        if ((r >> 32) % 8 == 0 && set[i] != nullptr) {
          n = lengths[i] + lengths[i] / 2 + 16;
          set[i] = static_cast<char*>(std::realloc(set[i], n));
        } else {
          if (set[i] != nullptr) sum += static_cast<unsigned char>(set[i][lengths[i] - 1]);
          std::free(set[i]);
          set[i] = static_cast<char*>(std::malloc(n));
        }
        if (set[i] == nullptr) std::abort();
        lengths[i] = static_cast<std::uint32_t>(n);
        set[i][0] = static_cast<char>(s);
        set[i][n - 1] = static_cast<char>(n);
        if (n > (std::size_t(max_kib) << 10)) {  // grown past the range: start it over
          std::free(set[i]);
          set[i] = nullptr;
        }
      }
      for (char* p : set) std::free(p);
      sums[static_cast<std::size_t>(t)] = sum;
    });
  }
  for (auto& w : workers) w.join();
  std::uint64_t check = 0;
  for (auto s : sums) check += s;
  workload::report("random_churn", workload::seconds_since(start), check);
  return 0;
}
