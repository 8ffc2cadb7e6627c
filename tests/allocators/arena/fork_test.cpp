// fork from a program whose threads are busy in the allocator: the prepare handler
// takes every lock, so the child never inherits a lock held by a thread it lacks, and
// can allocate and free at once.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "arena/arena.h"
#include "config.hpp"

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

}  // namespace
