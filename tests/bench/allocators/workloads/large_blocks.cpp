// Large blocks: `live` buffers of 5-25 MiB, one replaced at random `replacements` times,
// every new buffer zero-filled, then one byte in its middle written and its last read.
// `--touch 0` (the default) asks for zeroed memory with calloc, which is also what GCC
// makes of malloc followed by memset(0): an allocator that hands out fresh or
// lazily zeroed pages never touches most of them. `--touch 1` writes every byte with
// a loop the compiler cannot turn into calloc, so each block is faulted in or reused
// over its whole length: an allocator that maps and unmaps every block pays a page
// fault per page, one that keeps freed blocks reuses resident pages.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "workload.hpp"

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_large_blocks");
  const long live = options.get("live", 20);
  const long replacements = options.get("replacements", 400);
  const long min_mib = options.get("min-mib", 5);
  const long max_mib = options.get("max-mib", 25);
  const long touch = options.get("touch", 0);
  options.check();
  workload::Random random(42);
  const auto start = std::chrono::steady_clock::now();
  std::vector<char*> buffers(static_cast<std::size_t>(live), nullptr);
  std::uint64_t check = 0;
  for (long i = 0; i < live + replacements; ++i) {
    const std::size_t slot =
        i < live ? static_cast<std::size_t>(i) : random.next() % buffers.size();
    const std::size_t bytes =
        random.between(std::size_t(min_mib) << 20, std::size_t(max_mib) << 20);
    std::free(buffers[slot]);
    if (touch == 0) {
      buffers[slot] = static_cast<char*>(std::calloc(1, bytes));
      if (buffers[slot] == nullptr) return 3;
    } else {
      buffers[slot] = static_cast<char*>(std::malloc(bytes));
      if (buffers[slot] == nullptr) return 3;
      char* volatile target = buffers[slot];  // not a memset the compiler could fuse
      std::memset(target, 0, bytes);
    }
    buffers[slot][bytes / 2] = static_cast<char>(i);
    check += static_cast<unsigned char>(buffers[slot][bytes / 2]) + buffers[slot][bytes - 1];
  }
  for (char* b : buffers) std::free(b);
  workload::report("large_blocks", workload::seconds_since(start), check);
  return 0;
}
