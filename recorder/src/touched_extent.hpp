// How much of each large block the program really uses (traces/FORMAT.md "Touched
// extents"). A recording of malloc calls cannot tell a 256 KiB buffer the program
// fills from one it writes 64 bytes of, and a replay that writes every block whole
// over-predicts the peak RSS of programs that leave buffers unfilled (message queues,
// compressors) under every allocator that hands out fresh pages.
//
// So, for a block of kMinBytes or more from malloc, calloc or the memalign family, just
// before the block is released, mincore() says which of the pages wholly inside it are
// resident, and the releasing thread records a kTouched event with the bytes used: the
// block's size less its pages that are not. A page the program touched is resident
// (barring swap), so this never says less than the program used; it says more where
// the allocator recycled pages an earlier block had touched.
//
// kExact also drops those pages (MADV_DONTNEED) right after the allocation, so that a
// resident page at the release is one this block's user touched: exact, but every page
// the program then touches faults in again (their contents are indeterminate for
// malloc and read back as zeros for calloc, so the program cannot tell otherwise). It
// zeroes the partial pages at the block's ends too, and at the release the contents
// say the rest: the ends and the last resident page count up to their last non-zero
// byte. A program that writes 64 bytes of a 256 KiB block is recorded as using 64, not
// the 4-8 KiB of the pages they fall in, which a replay would otherwise write from
// wherever another allocator starts the block, into a second page.
// kAuto (the default) drops them only for the size classes whose blocks were seen to
// use under half of their pages, where few fault in again and the resident count
// would overstate most, and for one block in 64 of the others, to keep watching.
// BENCHMARKS.md "Touched extents" has the modes' cost and accuracy.
//
// Cost: one compare on every allocation; on every release a load of a global count
// and, while large blocks are live, of one byte of a 4 KiB filter; a mincore() per
// large block.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mtreplay/traces/event.hpp"

namespace mtreplay::recorder::touched {

inline constexpr size_t kMinBytes = traces::kTouchedMinBytes;

// Live blocks being measured; 0 keeps the release path to one load.
extern std::atomic<uint32_t> tracked_count;
// Counts per hash of the block's address; a release of an address whose count is 0
// is not a measured block.
inline constexpr unsigned kFilterBits = 12;
extern std::atomic<uint8_t> filter[1u << kFilterBits];

inline unsigned filter_slot(uintptr_t p) {
  return static_cast<unsigned>(((p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kFilterBits));
}

// MHOOK_TOUCHED=0, resident, exact, 1 (default)
enum class Mode { kOff, kResident, kExact, kAuto };

// Once the recorder knows whether it records.
void enable(Mode mode);

// After an allocation of `bytes` at p by the program (not the recorder itself).
void on_allocate(void* p, size_t bytes);

// Before a release of p: whether p is a measured block, and then the bytes used.
bool take_slow(void* p, uint64_t& used_bytes);
inline bool take(void* p, uint64_t& used_bytes) {
  if (__builtin_expect(tracked_count.load(std::memory_order_relaxed) == 0, 1)) return false;
  if (filter[filter_slot(reinterpret_cast<uintptr_t>(p))].load(std::memory_order_relaxed) == 0)
    return false;
  return take_slow(p, used_bytes);
}

// Takes any measured block still live, for the end of the process: false when none is.
bool take_any(uintptr_t& p, uint64_t& used_bytes);

// The child of a fork has one thread: a lock another thread held is free there.
void reset_lock_in_child();

}  // namespace mtreplay::recorder::touched
