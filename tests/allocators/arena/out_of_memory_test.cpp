// When mmap itself fails (address-space limit reached), every entry point returns NULL
// with ENOMEM and the allocator keeps working once memory is freed. Runs in a forked
// child under RLIMIT_AS, which sanitizer runtimes cannot live with.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arena/arena.h"
#include "config.hpp"

namespace {

// Exit codes of the child say which step failed.
int exhaust_and_recover() {
  alarm(60);
  const rlim_t limit = rlim_t{384} << 20;
  const rlimit as{limit, limit};
  if (setrlimit(RLIMIT_AS, &as) != 0) return 10;
  const std::size_t sizes[] = {1000, 3000, 200000, 3 * arena::kMaxMedium};
  constexpr std::size_t kMaxBlocks = 1 << 20;
  static void* blocks[kMaxBlocks];
  for (std::size_t size : sizes) {
    std::size_t count = 0;
    for (;;) {
      if (count == kMaxBlocks) return 11;
      errno = 0;
      void* p = arena_malloc(size);
      if (p == nullptr) {
        if (errno != ENOMEM) return 12;
        break;
      }
      if (count == 0) std::memset(p, 0x3c, size);  // the rest stay untouched: no RSS
      blocks[count++] = p;
    }
    // Exhausted: the other entry points fail cleanly too.
    errno = 0;
    if (arena_calloc(1, size) != nullptr || errno != ENOMEM) return 13;
    void* aligned = nullptr;
    if (arena_posix_memalign(&aligned, 1 << 16, size) != ENOMEM) return 14;
    errno = 0;
    if (count > 0 &&
        (arena_realloc(blocks[0], 64 * arena::kMaxMedium) != nullptr || errno != ENOMEM))
      return 15;
    if (count > 0 && static_cast<unsigned char*>(blocks[0])[0] != 0x3c) return 16;
    for (std::size_t i = 0; i < count; ++i) arena_free(blocks[i]);
    arena_trim();
    // And it works again.
    void* again = arena_malloc(size);
    if (again == nullptr) return 17;
    arena_free(again);
  }
  return 0;
}

TEST(ArenaOutOfMemory, EveryKindFailsWithENOMEMAndRecovers) {
#ifdef MTREPLAY_SANITIZE
  GTEST_SKIP() << "RLIMIT_AS is incompatible with sanitizer shadow memory";
#endif
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(exhaust_and_recover());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed step " << WEXITSTATUS(status);
}

}  // namespace
