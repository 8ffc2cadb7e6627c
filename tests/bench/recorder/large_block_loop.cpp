// The touched-extent benchmark's load (touched_cost.py): one thread that makes a block
// of SIZE bytes, writes FILL bytes of it, and frees it, N times. Large blocks recycled
// by the allocator are what measuring touched extents costs most on: a program that
// keeps replacing a buffer it fills.
//   large_block_loop SIZE FILL N
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: large_block_loop SIZE FILL N\n");
    return 2;
  }
  const size_t size = std::strtoull(argv[1], nullptr, 0);
  const size_t fill = std::strtoull(argv[2], nullptr, 0);
  const long n = std::atol(argv[3]);
  if (fill > size || size == 0) return 2;
  unsigned long sum = 0;
  for (long i = 0; i < n; ++i) {
    auto* p = static_cast<char*>(std::malloc(size));
    if (!p) return 1;
    std::memset(p, static_cast<int>(i), fill);
    sum += static_cast<unsigned char>(p[fill / 2]);
    std::free(p);
  }
  std::printf("%lu\n", sum);
  return 0;
}
