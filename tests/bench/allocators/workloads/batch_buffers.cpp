// Batch buffers: `rounds` times, one thread allocates `batch` buffers of `min-kib` to
// `max-kib` KiB (uniform), writes the first and the last byte of each, and frees them
// all. A buffer sized for the largest message or read, of which the program fills only
// the ends: its middle pages are never written, so they stay out of RSS unless the
// allocator has placed the buffer on pages something else wrote before. An allocator
// that gives the freed pages back at every batch keeps RSS at what the ends touch, and
// pays a page fault for each end it touches again.
#include <cstdlib>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_batch_buffers");
  const long rounds = options.get("rounds", 3000);
  const long batch = options.get("batch", 64);
  const long min_kib = options.get("min-kib", 4);
  const long max_kib = options.get("max-kib", 64);
  options.check();
  if (batch == 0 || min_kib == 0 || max_kib < min_kib) {
    std::fprintf(stderr, "alloc_batch_buffers: need --batch > 0 and 0 < --min-kib <= --max-kib\n");
    return 2;
  }
  workload::Random random(3);
  std::vector<unsigned char*> buffers(static_cast<std::size_t>(batch), nullptr);
  std::vector<std::size_t> lengths(buffers.size(), 0);
  std::uint64_t sum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      const std::size_t n = random.between(static_cast<std::size_t>(min_kib) << 10,
                                           static_cast<std::size_t>(max_kib) << 10);
      auto* b = static_cast<unsigned char*>(std::malloc(n));
      if (b == nullptr) std::abort();
      b[0] = static_cast<unsigned char>(r);
      b[n - 1] = static_cast<unsigned char>(i + 1);
      buffers[i] = b;
      lengths[i] = n;
    }
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      sum += buffers[i][lengths[i] - 1];
      std::free(buffers[i]);
    }
  }
  workload::report("batch_buffers", workload::seconds_since(start), sum);
  return 0;
}
