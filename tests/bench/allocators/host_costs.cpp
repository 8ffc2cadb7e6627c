// What this host charges for the kernel calls an allocator makes to give memory back, so
// that figures from different machines can be read side by side (BENCHMARKS.md: on the
// PVM guests a fault costs about 10 us, 20 times a bare-metal one). Per page: the fault
// of a page touched again after MADV_DONTNEED. Per range of 2 pages: one madvise call
// each, and 16 ranges in one process_madvise call (the caller's own process: Linux 6.13
// and later), both with the process alone and with a second thread running, which every
// TLB shootdown must then reach. Prints one JSON line of medians over --rounds rounds; a
// call the kernel refuses shows as -1.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "workloads/workload.hpp"

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kRangePages = 2;
constexpr std::size_t kStride = 4;  // pages from one range to the next: ranges never merge
constexpr std::size_t kRangesPerCall = 16;
constexpr int kPidfdSelf = -10000;  // <linux/pidfd.h>'s PIDFD_SELF

void touch(char* memory, std::size_t pages) {
  for (std::size_t i = 0; i < pages; ++i) memory[i * kPage] = 1;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Microseconds per page for touching `pages` pages given back just before.
double fault_us(char* memory, std::size_t pages) {
  madvise(memory, pages * kPage, MADV_DONTNEED);
  const auto start = std::chrono::steady_clock::now();
  touch(memory, pages);
  return workload::seconds_since(start) * 1e6 / static_cast<double>(pages);
}

// Microseconds per range for giving back every kStride-th range of resident pages with
// one madvise each; negative when the kernel refuses.
double madvise_us(char* memory, std::size_t pages) {
  touch(memory, pages);
  const std::size_t ranges = pages / kStride;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < ranges; ++r)
    if (madvise(memory + r * kStride * kPage, kRangePages * kPage, MADV_DONTNEED) != 0) return -1;
  return workload::seconds_since(start) * 1e6 / static_cast<double>(ranges);
}

// The same ranges, kRangesPerCall to a process_madvise call.
double process_madvise_us(char* memory, std::size_t pages) {
  touch(memory, pages);
  const std::size_t ranges = pages / kStride / kRangesPerCall * kRangesPerCall;
  iovec batch[kRangesPerCall];
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < ranges; r += kRangesPerCall) {
    for (std::size_t i = 0; i < kRangesPerCall; ++i)
      batch[i] = {memory + (r + i) * kStride * kPage, kRangePages * kPage};
    if (syscall(SYS_process_madvise, kPidfdSelf, batch, kRangesPerCall, MADV_DONTNEED, 0u) < 0)
      return -1;
  }
  return workload::seconds_since(start) * 1e6 / static_cast<double>(ranges);
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_host_costs");
  const auto pages = static_cast<std::size_t>(options.get("pages", 4096));
  const long rounds = options.get("rounds", 5);
  options.check();
  if (pages < kStride * kRangesPerCall || rounds < 1) {
    std::fprintf(stderr, "alloc_host_costs: --pages must be at least %zu, --rounds at least 1\n",
                 kStride * kRangesPerCall);
    return 2;
  }
  auto* memory = static_cast<char*>(
      mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (memory == MAP_FAILED) {
    std::perror("alloc_host_costs: mmap");
    return 1;
  }
  touch(memory, pages);
  std::vector<double> fault, alone, alone_batched, shared, shared_batched;
  for (long r = 0; r < rounds; ++r) {
    fault.push_back(fault_us(memory, pages));
    alone.push_back(madvise_us(memory, pages));
    alone_batched.push_back(process_madvise_us(memory, pages));
  }
  {
    // A second thread on the other CPU: its TLB may hold the process's entries, so each
    // shootdown waits for it.
    std::atomic<bool> stop{false};
    std::thread spinner([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
    for (long r = 0; r < rounds; ++r) {
      shared.push_back(madvise_us(memory, pages));
      shared_batched.push_back(process_madvise_us(memory, pages));
    }
    stop = true;
    spinner.join();
  }
  munmap(memory, pages * kPage);
  std::printf(
      "{\"fault_us_per_page\": %.2f, \"madvise_us_per_range\": %.2f, "
      "\"process_madvise_us_per_range\": %.2f, \"madvise_us_per_range_2_threads\": %.2f, "
      "\"process_madvise_us_per_range_2_threads\": %.2f}\n",
      median(fault), median(alone), median(alone_batched), median(shared), median(shared_batched));
  return 0;
}
