// Single-thread malloc/free of small blocks: batches of `batch` blocks of 16-64 bytes
// allocated, touched and freed (half the batches in allocation order, half in reverse),
// `iterations` batches. The pure fast path of malloc and free.
#include <cstdlib>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_small_churn");
  const long iterations = options.get("iterations", 200'000);
  const long batch = options.get("batch", 100);
  options.check();
  workload::Random random(17);
  std::vector<char*> blocks(static_cast<std::size_t>(batch));
  std::vector<std::uint8_t> sizes(4096);
  for (auto& s : sizes) s = static_cast<std::uint8_t>(random.between(16, 64));
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t check = 0;
  std::size_t next_size = 0;
  for (long i = 0; i < iterations; ++i) {
    for (char*& p : blocks) {
      const std::size_t n = sizes[next_size++ & 4095];
      p = static_cast<char*>(std::malloc(n));
      if (p == nullptr) return 3;
      p[0] = static_cast<char>(n);
    }
    if (i % 2 == 0) {
      for (char* p : blocks) {
        check += static_cast<unsigned char>(p[0]);
        std::free(p);
      }
    } else {
      for (std::size_t k = blocks.size(); k-- > 0;) {
        check += static_cast<unsigned char>(blocks[k][0]);
        std::free(blocks[k]);
      }
    }
  }
  workload::report("small_churn", workload::seconds_since(start), check);
  return 0;
}
