// glibc's threaded malloc benchmark shape (thread_malloc), shared with arena's slab
// census: its options, and its request sizes, drawn once into a table that the threads
// index with random bits, so that drawing costs the timed loop one load. 4 * 2^(13 u^2)
// with u uniform: between 4 B and 32 KiB, skewed small (many tiny blocks, a long tail;
// the mean is about 1.9 KiB).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "workload.hpp"

namespace workload {

struct ThreadMallocShape {
  long threads;
  long iterations;
  long working_set;  // blocks each thread keeps
};

inline ThreadMallocShape thread_malloc_shape(Options& options) {
  ThreadMallocShape shape{};
  shape.threads = options.get("threads", 2);
  shape.iterations = options.get("iterations", 4'000'000);
  shape.working_set = options.get("working-set", 1024);
  return shape;
}

inline constexpr std::size_t kThreadMallocSizes = std::size_t{1} << 16;

inline std::vector<std::uint32_t> thread_malloc_sizes() {
  std::vector<std::uint32_t> sizes(kThreadMallocSizes);
  Random random(3);
  for (auto& s : sizes) {
    const double u = static_cast<double>(random.next() % 1000000) / 1e6;
    s = static_cast<std::uint32_t>(4.0 * std::exp2(13.0 * u * u));
  }
  return sizes;
}

}  // namespace workload
