// The only ways the allocator talks to the kernel. None of them allocates.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace arena {

// Fresh zeroed read-write memory, or nullptr when the kernel refuses.
void* map_pages(std::size_t bytes);
// `bytes` of fresh memory aligned to `alignment` (a power of two >= kPageSize).
void* map_aligned(std::size_t bytes, std::size_t alignment);
// `bytes` of fresh memory like map_pages, with `room` bytes of address space reserved
// just below it (no access, no memory, no commit charge) for open_room to hand out later.
void* map_pages_with_room(std::size_t bytes, std::size_t room);
// Makes reserved pages fresh zeroed read-write memory; false when the kernel refuses.
bool open_room(void* address, std::size_t bytes);
// Unmaps a block of `bytes` and the `room` reserved below it.
void unmap_with_room(void* address, std::size_t bytes, std::size_t room);
void unmap_pages(void* address, std::size_t bytes);
// Gives the pages back; they read as zero when next touched.
void decommit_pages(void* address, std::size_t bytes);
// Ranges of pages given back together. madvise takes one range a call, and each call
// pays for its own TLB shootdown: with a second thread running, 32 us a call of two pages
// on this project's 2-core guests, against 4 us a range when 16 go in one process_madvise
// (the caller's own process may be given any advice since Linux 6.13, named by PIDFD_SELF
// since 6.15, and its ranges' TLB flushes are batched since 6.16). A purge sets aside
// 2 to 24 runs at once in the classic workloads (BENCHMARKS.md, #14, Session 26). Where the
// kernel refuses the call, or the calling thread runs under a seccomp filter (one that
// kills on an unlisted system call, as OpenSSH's sandbox does, would kill the program),
// each range goes back with its own madvise, as before. The pages read as zero when next
// touched, whichever call gave them back.
class DecommitBatch {
 public:
  DecommitBatch() = default;
  DecommitBatch(const DecommitBatch&) = delete;
  DecommitBatch& operator=(const DecommitBatch&) = delete;
  ~DecommitBatch() { flush(); }

  void add(void* address, std::size_t bytes);
  void flush();

 private:
  static constexpr std::size_t kMostRanges = 64;
  iovec ranges_[kMostRanges];
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

// Resizes a mapping, moving it if needed; nullptr when the kernel refuses.
void* remap_pages(void* address, std::size_t old_bytes, std::size_t new_bytes);

// The coarse monotonic clock, in ns: a vDSO read of a few ns, in 1-4 ms steps (enough
// for the decay of cached memory).
std::uint64_t coarse_now_ns();

// Lets another thread run: sched_yield, called through syscall(), which sits beside mmap
// in libc. libc's own sched_yield is on a page that nothing else the allocator calls
// reaches, and a page fault on a library maps the 64 KiB of it around the page: 64 KiB
// more peak RSS for a program whose threads ever wait long for an arena lock (3 runs of
// thread_malloc in 8; BENCHMARKS.md, #14, Session 49).
void yield_cpu();

// Writes "arena: <what> <pointer>" on stderr and aborts: the heap is corrupt or the
// program freed something it does not own, and continuing would spread the damage.
[[noreturn]] void die_with_pointer(const char* what, const void* pointer);
[[noreturn]] void die(const char* message);

}  // namespace arena
