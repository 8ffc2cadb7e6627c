// arena_unit_test's main: run by hand, it runs each test in a process of its own, as
// CTest does. Many of these tests measure the process-wide allocator (its dirty pages,
// its recent peak, its large-block cache, which arena a thread is on) and need it fresh:
// all in one process, six of them failed on what earlier tests had left behind. With any
// argument (CTest passes --gtest_filter; --help, --gtest_list_tests...) it is
// GoogleTest's own main.
// Exit status: 0 when every test passed or skipped itself, 1 otherwise.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// The test's process: 0 when it passed or skipped itself.
int run_alone(const char* self, const std::string& name) {
  const std::string filter = "--gtest_filter=" + name;
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl("/proc/self/exe", self, filter.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  const bool bare = argc == 1;
  testing::InitGoogleTest(&argc, argv);
  if (!bare) return RUN_ALL_TESTS();

  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  std::vector<std::string> failed;
  int count = 0;
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const std::string name = std::string(suite.name()) + "." + suite.GetTestInfo(t)->name();
      if (name.find("DISABLED_") != std::string::npos) continue;
      ++count;
      if (run_alone(argv[0], name) != 0) failed.push_back(name);
    }
  }
  std::printf("\n%d tests, each in its own process: %d passed or skipped, %zu failed\n", count,
              count - static_cast<int>(failed.size()), failed.size());
  for (const std::string& name : failed) std::printf("  FAILED %s\n", name.c_str());
  return failed.empty() ? 0 : 1;
}
