// Marker sizes shared by the recorder's test workload and the tests that read its
// traces: every call the workload makes on purpose has a size no other allocation in
// the process uses, so the trace can be checked call by call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::recorder_test {

inline constexpr int kWorkerThreads = 4;
inline constexpr int kIterations = 50;

// The kinds of calls each worker makes, kIterations times each (see workload.cpp).
enum Marker : size_t {
  kMallocCrossFreed = 1,  // malloc, freed by the next worker
  kCalloc = 2,            // calloc(3, size), freed here
  kReallocFrom = 3,       // malloc(size) then realloc to kReallocTo
  kReallocTo = 4,
  kReallocArray = 5,   // reallocarray(p, 2, size)
  kMemalign = 6,       // memalign(64, size)
  kPosixMemalign = 7,  // posix_memalign(&p, 128, size)
  kAlignedAlloc = 8,   // aligned_alloc(256, size)
  kValloc = 9,
  kPvalloc = 10,
  kUsableSize = 11,  // malloc(size), malloc_usable_size(p), free(p)
  // Once per worker: failures.
  kBadAlignment = 12,    // posix_memalign(&p, 24, size) -> EINVAL
  kReallocToZero = 13,   // malloc(size), realloc(p, 0) -> NULL
  kCallocOverflow = 14,  // calloc(SIZE_MAX / 8, size) -> NULL, ENOMEM
  // Process-level scenarios.
  kBeforeFork = 20,
  kInChild = 21,
  kBeforeExec = 22,
  kAfterExec = 23,
  kAfterFailedExec = 24,
  kBeforeExitNow = 25,
  kIdleThread = 26,
  kInTlsDestructor = 27,
  kInKeyDestructor = 28,
  kAfterMainExited = 29,
  kBeforeKill = 30,
  kShortLivedThread = 31,
  kIdleBeforeKill = 32,  // a few calls, then the thread blocks until SIGKILL
  kBeforePause = 33,     // a few calls, a pause long enough for the writer to save them,
  kAfterPause = 34,      // then more calls into the same chunk
  kThreadAtExec = 35,    // a thread that allocates, then blocks while main execs
  kAloneBefore = 36,     // main alone (coarse stamps), before it creates a thread
  kMainWhileTwo = 37,    // main while a second thread lives
  kWorkerWhileTwo = 38,  // that thread
  kHandedOver = 39,      // allocated by main, freed by the thread
  kAloneAfter = 40,      // main alone again, after the thread was joined
  kWorkerAlone = 41,     // the second thread while main waits in pthread_join
  // Large blocks the program uses in part (touched extents); sizes from kTouchedBytes.
  kTouchedSparse = 42,   // malloc, 100 bytes written
  kTouchedFull = 43,     // malloc, written whole
  kTouchedCalloc = 44,   // calloc: zero on every page, then its second half written
  kTouchedRealloc = 45,  // malloc, 100 bytes written, realloc'd twice its size
  kTouchedAligned = 46,  // posix_memalign, written whole
  kTouchedLeaked = 47,   // malloc, 100 bytes written, never freed: measured at the exit
  // The C++ operators (`cxx`), kIterations times each, from main.
  kCxxNew = 48,              // operator new, sized operator delete
  kCxxNewArray = 49,         // operator new[], operator delete[]
  kCxxNewAligned = 50,       // operator new(size, align_val_t{kCxxAlignment}), aligned delete
  kCxxNewNothrow = 51,       // operator new(size, nothrow), nothrow delete
  kCxxNewArrayAligned = 52,  // operator new[](size, align_val_t, nothrow), sized aligned delete[]
};
inline constexpr size_t kCxxAlignment = 256;
// The `cxx-oom` scenario's operator new that cannot be served: std::bad_alloc, and
// nullptr from the nothrow form.
inline constexpr size_t kCxxHugeNew = SIZE_MAX - 8192;

// A large block of the touched scenario: a multiple of 4 KiB (the pages the recorder
// drops and counts) plus m bytes, so that each marker has its own size.
inline size_t touched_bytes(Marker m) {
  return (size_t{1} << 20) + m;
}

inline size_t marker_size(int worker, Marker m) {
  return 100'000 + static_cast<size_t>(worker) * 100 + m;
}
// The `race` scenario's sizes: small, for a fast loop, and used by nothing else the
// workload does (thread k's loop; blocks the first thread hands to the second).
inline size_t race_loop_size(int k) {
  return 1001 + static_cast<size_t>(k);
}
inline constexpr size_t kRaceHandedSize = 1003;
inline constexpr int kRacePairs = 1'000'000;
inline constexpr int kRaceHandEvery = 20;

inline constexpr size_t kHugeMallocBase =
    SIZE_MAX - 4096;                              // malloc(kHugeMallocBase - worker) fails
inline constexpr size_t kAlignedAllocUnit = 256;  // aligned_alloc sizes are multiples

}  // namespace mtreplay::recorder_test
