// fork from a program whose threads are busy in the allocator: the prepare handler
// takes every lock, so the child never inherits a lock held by a thread it lacks, and
// can allocate and free at once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arena/arena.h"
#include "config.hpp"
#include "size_classes.hpp"

namespace {

// Runs in the child: only async-signal-safe calls besides the allocator itself.
int child_workload() {
  alarm(20);  // a deadlock shows as SIGALRM, not a hung test
  void* blocks[256];
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 256; ++i) {
      const std::size_t size = (i % 3 == 0) ? 20000 + i : 16 + i * 7;
      blocks[i] = arena_malloc(i == 7 ? 2 * arena::kMaxMedium : size);
      if (blocks[i] == nullptr) return 2;
      std::memset(blocks[i], i & 0xff, i == 7 ? 2 * arena::kMaxMedium : size);
    }
    for (int i = 0; i < 256; ++i) {
      if (static_cast<unsigned char*>(blocks[i])[0] != (i & 0xff)) return 3;
      arena_free(blocks[i]);
    }
  }
  return 0;
}

TEST(ArenaFork, ChildOfAThreadedProgramAllocates) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<void*> live;
      while (!stop.load(std::memory_order_relaxed)) {
        if (live.size() < 200 && rng() % 2 == 0) {
          const std::size_t size = rng() % 9 == 0 ? 30000 + rng() % 70000 : rng() % 600;
          live.push_back(arena_malloc(rng() % 97 == 0 ? 2 * arena::kMaxMedium : size));
        } else if (!live.empty()) {
          arena_free(live.back());
          live.pop_back();
        }
      }
      for (void* p : live) arena_free(p);
    });
  }
  for (int i = 0; i < 16; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child_workload());
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }
  stop = true;
  for (auto& w : workers) w.join();
}

// Threads that own many slabs are parked at the fork. Their slabs lie between free runs
// (medium blocks they freed), and the parent freed the blocks of every other slab they
// own, so in the child those slabs come out empty and go back, and their pages merge with
// the free runs after them. The child frees every block the threads still hold: the slabs
// of threads it does not have must all have been disowned, or those frees wait forever in
// a dead thread's inbox and the pages stay in use. (The disowning walk gave pages back
// under itself and lost its way: the rest of the segment was skipped, up to 87 slabs left
// owned by dead threads; BENCHMARKS.md, #12, Session 10.)
TEST(ArenaFork, ChildReclaimsTheBlocksOfThreadsItDoesNotHave) {
  constexpr int kThreads = 4;
  constexpr int kPhases = 64;
  constexpr int kBlocksPerPhase = 200;
  // Per thread: the blocks of odd phases (kept) and of even phases (freed by the parent).
  std::vector<std::vector<void*>> kept(kThreads);
  std::vector<std::vector<void*>> freed_by_parent(kThreads);
  std::mutex mutex;
  std::condition_variable changed;
  int ready = 0;
  bool release = false;
  std::vector<std::thread> owners;
  for (int t = 0; t < kThreads; ++t) {
    owners.emplace_back([&, t] {
      const auto i = static_cast<std::size_t>(t);
      std::vector<void*> medium;
      for (int phase = 0; phase < kPhases; ++phase) {
        // Four classes in turn: each has several slabs to give back, not only the one
        // empty slab an arena keeps per class.
        const std::size_t size = 64 * (1 + static_cast<std::size_t>(phase % 4));
        auto& to = phase % 2 == 0 ? freed_by_parent[i] : kept[i];
        for (int b = 0; b < kBlocksPerPhase; ++b) to.push_back(arena_malloc(size));
        medium.push_back(arena_malloc(48 * 1024));
      }
      for (void* p : medium) arena_free(p);
      std::unique_lock lock(mutex);
      ++ready;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    });
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return ready == kThreads; });
  }
  for (auto& mine : freed_by_parent)
    for (void* p : mine) arena_free(p);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);
    for (auto& mine : kept)
      for (void* p : mine) arena_free(p);
    arena_trim();
    arena_stats stats;
    arena_get_stats(&stats);
    _exit(stats.pages_in_use == 0 ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  for (auto& owner : owners) owner.join();
  for (auto& mine : kept)
    for (void* p : mine) arena_free(p);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child could not reclaim every dead thread's slab";
}

// Another thread frees blocks of the main thread's slab and has not told it yet (its
// batch waits for a flush) when the main thread forks. The child does not have that
// thread, so no one would ever tell the main thread's heap in the child: the blocks
// stayed pending, and the child reused them only once the slab was handed over full.
// The child's heap is rebuilt with the slab in its inbox, and its next refill of any
// class collects them.
TEST(ArenaFork, ChildReusesBlocksADeadThreadFreedAndHadNotHandedBack) {
  constexpr int kBlocks = 8;  // fewer frees than a batch holds (no flush), a slab not full
  constexpr std::size_t kSize = 256;
  std::vector<void*> blocks;
  for (int i = 0; i < kBlocks; ++i) blocks.push_back(arena_malloc(kSize));
  std::mutex mutex;
  std::condition_variable changed;
  bool freed = false;
  bool release = false;
  std::thread freer{[&] {
    for (void* p : blocks) arena_free(p);  // pending, its slabs in this thread's batch
    std::unique_lock lock(mutex);
    freed = true;
    changed.notify_all();
    changed.wait(lock, [&] { return release; });
  }};
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return freed; });
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);
    // Refills of another class (eight blocks a slab: eight refills) drain the inbox.
    for (int i = 0; i < 64; ++i)
      if (arena_malloc(3000) == nullptr) _exit(2);
    // As many as the slab holds: all of its blocks once the pending ones are collected.
    // Else its free ones and then a new slab's (a full slab goes to the arena, where
    // its pending blocks are collected, only at the second refill that finds it full).
    const std::size_t capacity = arena::kClasses[arena::size_class_of(kSize)].blocks;
    int reused = 0;
    for (std::size_t i = 0; i < capacity; ++i) {
      void* p = arena_malloc(kSize);
      for (void* old : blocks) reused += p == old;
    }
    _exit(reused == kBlocks ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  freer.join();
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child did not reuse the blocks the dead thread freed";
}

// The anonymous memory the process has resident, in KiB (RssAnon).
long resident_anonymous_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("RssAnon:")) return std::stol(line.substr(8));
  return -1;
}

// The fork handlers lock every arena a thread may use and every large-block shard, and
// the reports walk them: they must touch nothing else. Locking all 64 arenas, and the
// shards' locks beside their 4 KiB tables, made a program's first fork (and its first
// malloc_stats or mallinfo2) grow it by 330 KiB, in the parent and in the child
// (BENCHMARKS.md, #14, Session 44).
TEST(ArenaFork, TheHandlersAndTheReportsTouchOnlyWhatIsInUse) {
#ifdef MTREPLAY_SANITIZE
  GTEST_SKIP() << "every page the allocator reads has shadow pages of its own";
#endif
  arena_free(arena_malloc(100));
  const long before = resident_anonymous_kib();
  ASSERT_GT(before, 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(resident_anonymous_kib() - before < 64 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child grew by 64 KiB or more";
  const int null = open("/dev/null", O_WRONLY);
  ASSERT_GE(null, 0);
  arena_print_stats(null);
  close(null);
  struct mallinfo2 info {};
  arena_mallinfo2(&info);
  arena_trim();
  EXPECT_LT(resident_anonymous_kib() - before, 64) << "KiB grown by a fork, the reports and trim";
}

}  // namespace
