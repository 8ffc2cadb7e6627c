// fork from a threaded program: other threads hold allocator locks at random moments;
// the child must still be able to allocate, free and pass the consistency check.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "family_api.hpp"
#include "family_test.hpp"

namespace mtreplay::alloc::testing {
namespace {

int child_body(const FamilyApi& api) {
  std::vector<void*> held;
  for (int i = 0; i < 5000; ++i) {
    std::size_t n = (i * 37) % 3000 + (i % 100 == 0 ? 300000 : 0);
    void* p = api.malloc(n);
    if (!p) return 2;
    fill_pattern(p, n, i);
    if (first_pattern_mismatch(p, n, i) != n) return 3;
    held.push_back(p);
    if (held.size() > 50) {
      for (void* q : held) api.free(q);
      held.clear();
    }
  }
  for (void* q : held) api.free(q);
  if (api.check && api.check() != 0) return 4;
  return 0;
}

TEST_P(FamilyTest, ForkFromAThreadedProgram) {
  if (sanitized_build()) GTEST_SKIP() << "fork with running threads under a sanitizer runtime";
  const FamilyApi& a = api();
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 3; ++t) {
    busy.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      void* slots[64] = {};
      while (!stop.load(std::memory_order_relaxed)) {
        std::size_t i = rng() % 64;
        a.free(slots[i]);
        slots[i] = a.malloc(rng() % 5000 + (rng() % 200 == 0 ? 200000 : 0));
      }
      for (void* p : slots) a.free(p);
    });
  }
  for (int round = 0; round < 8; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(child_body(a));
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed in round " << round;
  }
  stop = true;
  for (auto& t : busy) t.join();
  if (a.check) {
    EXPECT_EQ(a.check(), 0u);
  }
}

}  // namespace
}  // namespace mtreplay::alloc::testing
