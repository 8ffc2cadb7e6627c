// libreuse_age.so: how soon an allocator hands freed memory out again. Preloaded in
// front of any allocator (LD_PRELOAD="libreuse_age.so ALLOCATOR.so"), it passes every
// malloc and free through and, for each malloc that returns an address freed before,
// counts its age: the mallocs the whole process made since that free, in decades (1, 10,
// ..., 100 k, older), apart for blocks the same thread freed and blocks another thread
// freed. At exit it prints one JSON line to the file named by REUSE_AGE_OUT ("%p" in it
// becomes the process id), else to stderr. A block reused young is likely still in the
// cache of the core that freed it, one reused old is not; BENCHMARKS.md (#12, Session 32)
// has the figures of every allocator here, and why they do not order them by speed.
//
// Frees are remembered in a fixed table indexed by the address's hash, one address a
// slot: a slot taken over by another address makes a later reuse count as
// "not_seen_freed", beside the addresses no free returned before. calloc, realloc and the
// aligned functions are not counted, but their blocks' frees are remembered. The table
// is written by frees and read by mallocs of every thread without a lock: a slot read
// while another thread writes it counts as not seen, never as a wrong age.
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "preload_shim.hpp"

namespace {

constexpr int kDecades = 7;  // ages <= 1, <= 10, ..., <= 100 k mallocs, and older
constexpr std::size_t kSlotBits = 22;

struct Slot {
  std::atomic<std::uintptr_t> address;
  std::atomic<std::uint64_t> freed_at;  // the malloc count then, with the thread in the top bits
};

constexpr unsigned kThreadShift = 48;

struct Counts {
  std::atomic<std::uint64_t> mallocs{0};
  std::atomic<std::uint64_t> not_seen_freed{0};
  std::array<std::atomic<std::uint64_t>, kDecades> same_thread{};
  std::array<std::atomic<std::uint64_t>, kDecades> other_thread{};
};

constinit preload_shim::NextAllocator next("libreuse_age.so");
Slot slots[std::size_t{1} << kSlotBits];
Counts counts;
std::atomic<std::uint64_t> threads_seen{0};
thread_local std::uint64_t thread_number __attribute__((tls_model("initial-exec"))) = 0;

std::uint64_t this_thread() {
  if (thread_number == 0) thread_number = threads_seen.fetch_add(1, std::memory_order_relaxed) + 1;
  return thread_number;
}

std::size_t slot_of(std::uintptr_t address) {
  return static_cast<std::size_t>(((address >> 4) * 0x9e3779b97f4a7c15u) >> (64 - kSlotBits));
}

int decade(std::uint64_t age) {
  int d = 0;
  for (std::uint64_t limit = 1; d < kDecades - 1 && age > limit; limit *= 10) ++d;
  return d;
}

void count_reuse(std::uintptr_t address, std::uint64_t now) {
  Slot& slot = slots[slot_of(address)];
  const std::uint64_t freed = slot.freed_at.load(std::memory_order_acquire);
  if (slot.address.load(std::memory_order_relaxed) != address || freed == 0) {
    counts.not_seen_freed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t at = freed & ((std::uint64_t{1} << kThreadShift) - 1);
  const int d = decade(now > at ? now - at : 0);
  auto& by = (freed >> kThreadShift) == this_thread() ? counts.same_thread : counts.other_thread;
  by[static_cast<std::size_t>(d)].fetch_add(1, std::memory_order_relaxed);
}

// A child forked without exec reports what it counted since the fork: the counts at the
// fork are taken out (the malloc count itself goes on, so that ages across it stay right).
struct CountsAtFork {
  std::uint64_t mallocs;
  std::uint64_t not_seen_freed;
  std::array<std::uint64_t, kDecades> same_thread;
  std::array<std::uint64_t, kDecades> other_thread;
};
CountsAtFork at_fork{};

void remember_counts_at_fork() {
  at_fork.mallocs = counts.mallocs.load(std::memory_order_relaxed);
  at_fork.not_seen_freed = counts.not_seen_freed.load(std::memory_order_relaxed);
  for (int d = 0; d < kDecades; ++d) {
    const auto i = static_cast<std::size_t>(d);
    at_fork.same_thread[i] = counts.same_thread[i].load(std::memory_order_relaxed);
    at_fork.other_thread[i] = counts.other_thread[i].load(std::memory_order_relaxed);
  }
}

__attribute__((constructor)) void watch_forks() {
  pthread_atfork(nullptr, nullptr, remember_counts_at_fork);
}

void print_counts() {
  char line[1024];
  int n = std::snprintf(
      line, sizeof line, "{\"mallocs\": %llu, \"not_seen_freed\": %llu",
      static_cast<unsigned long long>(counts.mallocs.load() - at_fork.mallocs),
      static_cast<unsigned long long>(counts.not_seen_freed.load() - at_fork.not_seen_freed));
  static const char* const kNames[kDecades] = {"1", "10", "100", "1k", "10k", "100k", "older"};
  for (const bool same : {true, false}) {
    const auto& by = same ? counts.same_thread : counts.other_thread;
    const auto& before = same ? at_fork.same_thread : at_fork.other_thread;
    n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), ", \"%s\": {",
                       same ? "same_thread" : "other_thread");
    for (int d = 0; d < kDecades; ++d)
      n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), "%s\"%s\": %llu",
                         d == 0 ? "" : ", ", kNames[d],
                         static_cast<unsigned long long>(by[static_cast<std::size_t>(d)].load() -
                                                         before[static_cast<std::size_t>(d)]));
    n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), "}");
  }
  n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), "}\n");
  preload_shim::write_report("libreuse_age.so", "REUSE_AGE_OUT", line, static_cast<std::size_t>(n));
}

struct PrintAtExit {
  ~PrintAtExit() { print_counts(); }
} print_at_exit;

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  void* p = next.next_malloc()(size);
  const std::uint64_t now = counts.mallocs.fetch_add(1, std::memory_order_relaxed) + 1;
  if (p != nullptr) count_reuse(reinterpret_cast<std::uintptr_t>(p), now);
  return p;
}

void free(void* p) noexcept {
  const preload_shim::FreeFn next_free = next.free_for(p);
  if (next_free == nullptr) return;
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  Slot& slot = slots[slot_of(address)];
  // Address first, then the time that makes the slot valid for it (count_reuse reads in
  // the other order): a reader that sees the new time sees the new address.
  slot.freed_at.store(0, std::memory_order_relaxed);
  slot.address.store(address, std::memory_order_relaxed);
  slot.freed_at.store(
      counts.mallocs.load(std::memory_order_relaxed) | (this_thread() << kThreadShift),
      std::memory_order_release);
  next_free(p);
}

}  // extern "C"
