// Documented departures of a peer allocator from what the suite requires. Backends.cmake
// lists them per backend (MTREPLAY_KNOWN_DEVIATIONS, comma separated); ours and glibc
// list none, so they are held to every rule. A listed deviation relaxes exactly one
// check, and the run prints a NOTE each time it was needed, so the gap stays visible.
//
//   small-block-alignment        blocks under 16 bytes are aligned to the largest power
//                                of two <= their size, not 16 (ISO C since DR 445 allows
//                                it; glibc and ours promise 16 for every block)
//   errno-on-failure             some failing calls return NULL without setting errno
//   zero-size-alignment          memalign/valloc of 0 bytes ignore the alignment
//   invalid-alignment            memalign/aligned_alloc take a non-power-of-two alignment
//                                and return a block aligned to neither it nor the next
//                                power of two
//   misaligned-after-reuse       aligned blocks of 256 B alignment and up, made where
//                                freed blocks are reused, miss their alignment (a bug)
//   pvalloc-overflow             pvalloc of a size near SIZE_MAX wraps to a small block
//   huge-alignment               a 64 MiB alignment fails with ENOMEM
//   aligned-alloc-size-multiple  aligned_alloc keeps C11's "size is a multiple of the
//                                alignment" rule that C17 dropped
#pragma once

#include <cstddef>
#include <string_view>

namespace mtreplay::alloctest {

bool known_deviation(std::string_view key);

// Prints the NOTE that says a check was relaxed for `key`, naming what it saw.
void note_deviation(std::string_view key, std::string_view what);

// The alignment the backend owes a block of `size` bytes.
std::size_t required_alignment(std::size_t size);

// errno after a failing call must be `wanted` (tolerated under errno-on-failure).
void expect_errno(int actual, int wanted, std::string_view call);

}  // namespace mtreplay::alloctest
