// fork from a program whose other threads are allocating: the child must be able to
// allocate at once, from its main thread and from new threads. An allocator that forks
// with a lock held deadlocks the child; alarm() turns that hang into a failure.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "problem_log.hpp"
#include "tracked_block.hpp"

namespace mtreplay::alloctest {
namespace {

constexpr unsigned kChildSeconds = 20;

// What the child does: allocate, check, free, from two threads. Exit status 0 = fine.
int child_allocates() {
  ::alarm(kChildSeconds);
  ProblemLog problems;
  auto churn = [&problems](std::uint64_t seed) {
    std::mt19937_64 random{seed};
    std::vector<TrackedBlock> blocks(64);
    for (int op = 0; op < 2000; ++op) {
      TrackedBlock& block = blocks[random() % blocks.size()];
      if (block.block == nullptr) {
        problems.add(make_block(random, op, block));
      } else if (op % 3 == 0) {
        problems.add(resize_block(random, block));
      } else {
        problems.add(check_and_free(block));
      }
    }
    for (TrackedBlock& block : blocks) {
      if (block.block != nullptr) problems.add(check_and_free(block));
    }
  };
  std::thread helper{churn, 11};
  churn(12);
  helper.join();
  return problems.count() == 0 ? 0 : 1;
}

TEST(StressFork, ChildAllocatesWhileParentThreadsAllocate) {
  std::atomic<bool> stop{false};
  ProblemLog problems;
  std::vector<std::jthread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 random{static_cast<std::uint64_t>(t) + 77};
      std::vector<TrackedBlock> blocks(128);
      for (std::uint64_t op = 0; !stop.load(std::memory_order_relaxed); ++op) {
        TrackedBlock& block = blocks[random() % blocks.size()];
        if (block.block == nullptr) {
          problems.add(make_block(random, op, block));
        } else if (op % 4 == 0) {
          problems.add(resize_block(random, block));
        } else {
          problems.add(check_and_free(block));
        }
      }
      for (TrackedBlock& block : blocks) {
        if (block.block != nullptr) problems.add(check_and_free(block));
      }
    });
  }

  const int forks = 10 * stress_scale();
  for (int i = 0; i < forks; ++i) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0) << "fork failed";
    if (child == 0) ::_exit(child_allocates());
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    if (WIFSIGNALED(status)) {
      ADD_FAILURE() << "child " << i << " killed by signal " << WTERMSIG(status)
                    << (WTERMSIG(status) == SIGALRM ? " (hung: a lock held across fork?)" : "");
      break;
    }
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i << " saw corrupted blocks";
  }
  stop = true;
  workers.clear();
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
}

}  // namespace
}  // namespace mtreplay::alloctest
