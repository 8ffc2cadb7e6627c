// The pacer without a worker process: threads run a plan's pace keys the way the
// replay loop does, on a plan built from threads with different rates, bursts, idle
// gaps and an inverted (repaired) free, and check after every admission that no thread
// ran ahead of another unfinished thread by more than the window. Every run must end
// (pacing on the serial order cannot deadlock); also under ThreadSanitizer.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "mtreplay/replay/plan_builder.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "pacer.hpp"

namespace mtreplay::replay {
namespace {

using traces::Event;
using traces::Op;

// Mapped, zeroed memory released at scope end (the tables the worker would map).
class Mapping {
 public:
  explicit Mapping(size_t bytes, int fd = -1) : bytes_(bytes) {
    int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
    int prot = fd < 0 ? PROT_READ | PROT_WRITE : PROT_READ;
    base_ = mmap(nullptr, bytes, prot, flags, fd, 0);
    if (base_ == MAP_FAILED) base_ = nullptr;
  }
  ~Mapping() {
    if (base_) munmap(base_, bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  std::byte* get() const { return static_cast<std::byte*>(base_); }

 private:
  void* base_ = nullptr;
  size_t bytes_;
};

// Threads with their own rates and idle stretches; thread 1 frees some of thread 0's
// objects, once before the matching allocation was recorded (a repaired inversion).
Plan varied_plan(uint32_t threads, uint64_t ops_per_thread, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> events;
  for (uint32_t t = 0; t < threads; ++t) {
    uint64_t time = 1000 + t * 333;
    for (uint64_t i = 0; i < ops_per_thread; ++i) {
      time += (t + 1) * 7 + rng() % 50;
      if (rng() % 500 == 0) time += 200'000;  // the thread blocks for a while
      uint64_t address = (uint64_t{t} + 1) << 32 | (i * 64);
      Event e;
      e.time_ns = time;
      e.thread = t;
      e.op = Op::kMalloc;
      e.size = 16 + rng() % 1000;
      e.result = address;
      events.push_back(e);
      e.op = Op::kFree;
      e.ptr = address;
      e.time_ns = time + 5 + rng() % 3000;
      e.result = 0;
      e.size = 0;
      if (t == 0 && threads > 1 && i % 16 == 0) e.thread = 1;      // freed by another thread
      if (t == 0 && i == 48 && threads > 1) e.time_ns = time - 1;  // recorded before its malloc
      events.push_back(e);
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.time_ns < b.time_ns; });
  PlanBuilder builder;
  for (const Event& e : events) builder.add(e);
  return builder.finish();
}

struct PacedRun {
  uint64_t violations = 0;
  uint64_t waits = 0;
};

PacedRun run_paced(const Plan& plan, uint64_t window_ns) {
  int fd = write_plan_image(plan);
  struct stat st {};
  fstat(fd, &st);
  Mapping image(static_cast<size_t>(st.st_size), fd);
  close(fd);
  PlanView view;
  EXPECT_EQ(view.attach(image.get(), static_cast<size_t>(st.st_size)), "");
  const uint32_t threads = view.header().thread_count;

  Mapping results_memory(ResultsLayout::total(threads));
  ResultsView results(results_memory.get());
  std::construct_at(&results.header());
  results.header().thread_count = threads;
  for (uint32_t slot = 0; slot < threads; ++slot) std::construct_at(&results.stats(slot));
  Mapping slot_memory(sizeof(PaceSlot) * threads);
  auto* slots = reinterpret_cast<PaceSlot*>(slot_memory.get());
  for (uint32_t slot = 0; slot < threads; ++slot) std::construct_at(&slots[slot]);

  PaceSettings settings;
  settings.window_ns = window_ns;
  settings.slots = slots;
  std::vector<uint64_t> violations(threads, 0);
  std::vector<std::thread> runners;
  for (uint32_t slot = 0; slot < threads; ++slot) {
    runners.emplace_back([&, slot] {
      Pacer pacer(view, results, settings, slot);
      ThreadStats& stats = results.stats(slot);
      std::minstd_rand jitter(slot);
      const uint64_t count = view.thread(slot).op_count;
      for (uint64_t i = 0; i < count; ++i) {
        stats.progress.store(i, std::memory_order_relaxed);
        uint64_t key = pacer.key(i);
        if (pacer.awaited(key)) pacer.ring(key);
        if (!pacer.admits(key)) pacer.hold(key, stats);
        // Others only move forward: their positions now are at least those admitted on.
        for (uint32_t other = 0; other < threads; ++other) {
          uint64_t next = results.stats(other).progress.load(std::memory_order_relaxed);
          if (other == slot || next >= view.thread(other).op_count) continue;
          if (key > view.pace(other)[next] + window_ns) ++violations[slot];
        }
        if (jitter() % 4096 == 0) sched_yield();  // a preempted thread
      }
      stats.progress.store(count, std::memory_order_relaxed);
      pacer.ring(UINT64_MAX);
    });
  }
  for (auto& r : runners) r.join();
  PacedRun out;
  for (uint32_t slot = 0; slot < threads; ++slot) {
    out.violations += violations[slot];
    out.waits += results.stats(slot).pace_wait_ticks != 0;
  }
  return out;
}

TEST(Pacer, KeysNeverDecreaseAlongTheSerialOrder) {
  Plan plan = varied_plan(3, 2000, 1);
  EXPECT_EQ(plan.anomalies.inversions_repaired, 1u);
  std::vector<uint64_t> cursor(plan.threads.size(), 0);
  uint64_t last = 0;
  for (uint32_t slot : plan.serial_order) {
    uint64_t key = plan.threads[slot].pace_ns[cursor[slot]++];
    EXPECT_GE(key, last);
    last = key;
  }
}

TEST(Pacer, NoThreadRunsAheadOfTheWindowAndEveryRunEnds) {
  for (uint32_t threads : {2u, 3u, 5u}) {
    for (uint64_t window : {1ull, 500ull, 20'000ull}) {
      SCOPED_TRACE(::testing::Message() << threads << " threads, window " << window);
      Plan plan = varied_plan(threads, 3000, threads * 7 + window);
      PacedRun run = run_paced(plan, window);
      EXPECT_EQ(run.violations, 0u);
      EXPECT_GT(run.waits, 0u);  // the window held someone back: the test tests pacing
    }
  }
}

}  // namespace
}  // namespace mtreplay::replay
