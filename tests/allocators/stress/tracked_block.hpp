// A block under stress: made by one of the malloc-family entry points, filled with its
// own pattern, and checked byte for byte before it is freed or resized, whichever thread
// does it. A failed check names the block's size and tag and the byte that changed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace mtreplay::alloctest {

struct TrackedBlock {
  void* block = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;
};

// Makes a block of a random size (mostly small, sometimes page-sized or larger) by a
// random entry point: malloc, calloc, posix_memalign, aligned_alloc or memalign.
// Returns "" or the problem it saw (NULL, misalignment, calloc not zeroed).
std::string make_block(std::mt19937_64& random, std::uint64_t tag, TrackedBlock& out);

// Checks the pattern, then reallocs to a new random size and checks the kept prefix.
std::string resize_block(std::mt19937_64& random, TrackedBlock& block);

// Checks the pattern, then frees. Returns "" or where the contents went wrong.
std::string check_and_free(TrackedBlock& block);

// MTREPLAY_STRESS_SCALE (default 1): the long CTest variants multiply the work by it.
int stress_scale();

}  // namespace mtreplay::alloctest
