// A quick smoke of real programs under LD_PRELOAD=libarena.so: their output must be
// identical to the output under glibc malloc. The full real-program suite lives with
// the conformance tests; this one guards the preload library itself.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

const std::string kLibrary = std::string(MTREPLAY_LIB_DIR) + "/libarena.so";

struct ProgramRun {
  std::string output;
  int status;
};

ProgramRun run(const std::string& command, bool preload) {
  const std::string line =
      (preload ? "LD_PRELOAD=" + kLibrary + " " : std::string("")) + command + " 2>&1";
  ProgramRun result{{}, -1};
  FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[65536];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  result.status = pclose(pipe);
  return result;
}

class ArenaPreload : public testing::Test {
 protected:
  void SetUp() override {
#ifdef MTREPLAY_SANITIZE
    GTEST_SKIP() << "preloading is not possible under a sanitizer runtime";
#endif
    if (!std::filesystem::exists(kLibrary)) GTEST_SKIP() << kLibrary << " not built";
  }
  void expect_same_as_glibc(const std::string& command) {
    const ProgramRun glibc = run(command, false);
    const ProgramRun ours = run(command, true);
    ASSERT_EQ(glibc.status, 0) << command << "\n" << glibc.output;
    EXPECT_EQ(ours.status, 0) << command << "\n" << ours.output.substr(0, 2000);
    EXPECT_EQ(ours.output, glibc.output) << command;
  }
};

TEST_F(ArenaPreload, Python3WithThreads) {
  expect_same_as_glibc(
      "PYTHONMALLOC=malloc python3 -c '"
      "import threading, json, hashlib\n"
      "def work(k):\n"
      "  d = {i: str(i) * (i % 13) for i in range(60000)}\n"
      "  s = json.dumps(d)\n"
      "  out[k] = hashlib.sha256(s.encode()).hexdigest()\n"
      "out = {}\n"
      "ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]\n"
      "[t.start() for t in ts]; [t.join() for t in ts]\n"
      "print(sorted(out.items()))'");
}

TEST_F(ArenaPreload, GitLogOnThisRepository) {
  if (std::system("git -C " MTREPLAY_SOURCE_DIR " rev-parse --git-dir >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "the source tree is not a git repository";
  expect_same_as_glibc("git -C " MTREPLAY_SOURCE_DIR " log --stat -n 20 --format=%H%n%an%n%s");
}

TEST_F(ArenaPreload, ParallelSort) {
  const auto input = std::filesystem::temp_directory_path() / "arena_preload_sort.txt";
  {
    std::ofstream out(input);
    unsigned x = 12345;
    for (int i = 0; i < 200000; ++i) {
      x = x * 1103515245u + 12345u;
      out << (x >> 8) << ' ' << std::string(x % 40, 'a' + static_cast<char>(x % 26)) << '\n';
    }
  }
  expect_same_as_glibc("sort --parallel=2 -S 4M " + input.string() + " | md5sum");
  std::filesystem::remove(input);
}

// A program's malloc_stats() is arena's report of its own heap, not glibc's of arenas
// that hold nothing: python3's strings show up as slabs, its 50 KB buffers as medium blocks.
TEST_F(ArenaPreload, MallocStatsReportsArenasOwnHeap) {
  const ProgramRun ours =
      run("PYTHONMALLOC=malloc python3 -c '"
          "import ctypes\n"
          "keep = [str(i) * 3 for i in range(20000)] + [bytearray(50000) for i in range(8)]\n"
          "ctypes.CDLL(None).malloc_stats()'",
          true);
  ASSERT_EQ(ours.status, 0) << ours.output;
  EXPECT_NE(ours.output.find("arena: "), std::string::npos) << ours.output;
  EXPECT_NE(ours.output.find("  class   size  slabs"), std::string::npos) << ours.output;
  std::size_t medium = 0;
  const std::size_t at = ours.output.find("medium blocks: ");
  ASSERT_NE(at, std::string::npos) << ours.output;
  std::sscanf(ours.output.c_str() + at, "medium blocks: %zu", &medium);
  EXPECT_GE(medium, 8u) << ours.output;
  EXPECT_EQ(ours.output.find("Arena 0:"), std::string::npos) << "glibc's report";
}

// ARENA_SHOW_STATS=1: a program that never calls malloc_stats() reports at exit, under
// a line naming its process; unset or "0", nothing is added to its output.
TEST_F(ArenaPreload, ShowStatsReportsAtExitWhenAsked) {
  // The interpreter itself: a version manager's python3 is a shell script whose every
  // child process would report too.
  const std::string python =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string program = "PYTHONMALLOC=malloc " + python +
                              " -c 'keep = [bytearray(50000) for i in range(8)]; "
                              "print(len(keep))'";
  const ProgramRun asked = run("ARENA_SHOW_STATS=1 " + program, true);
  ASSERT_EQ(asked.status, 0) << asked.output;
  EXPECT_EQ(asked.output.rfind("8\n", 0), 0u) << "the program's own output comes first\n"
                                              << asked.output;
  EXPECT_NE(asked.output.find("arena: at exit of process "), std::string::npos) << asked.output;
  EXPECT_NE(asked.output.find("  class   size  slabs"), std::string::npos) << asked.output;
  EXPECT_NE(asked.output.find("large blocks: "), std::string::npos) << asked.output;
  for (const char* quiet : {"", "ARENA_SHOW_STATS=0 "}) {
    const ProgramRun run_quiet = run(quiet + program, true);
    EXPECT_EQ(run_quiet.status, 0);
    EXPECT_EQ(run_quiet.output, "8\n") << quiet;
  }
}

// ARENA_SHOW_STATS=/path: the report goes to that file, "%p" the process id, for a
// program that closes stderr before it exits (coreutils' ls: on stderr its report was
// lost) or writes its own output there. A file that cannot be opened is named in one
// line on stderr, and the program runs on as before.
TEST_F(ArenaPreload, ShowStatsGoesToTheFileNamed) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("arena_show_stats_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const ProgramRun plain = run("ls /", false);
  const ProgramRun asked = run("ARENA_SHOW_STATS=" + (dir / "stats.%p").string() + " ls /", true);
  ASSERT_EQ(asked.status, 0) << asked.output;
  EXPECT_EQ(asked.output, plain.output);
  std::vector<std::filesystem::path> reports;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    reports.push_back(entry.path());
  ASSERT_EQ(reports.size(), 1u);
  const std::string name = reports[0].filename().string();
  EXPECT_EQ(name.rfind("stats.", 0), 0u) << name;
  EXPECT_EQ(name.find_first_not_of("0123456789", 6), std::string::npos) << name;
  std::ifstream in(reports[0]);
  const std::string report{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(report.rfind("arena: at exit of process " + name.substr(6) + "\n", 0), 0u) << report;
  EXPECT_NE(report.find("  class   size  slabs"), std::string::npos) << report;
  std::filesystem::remove_all(dir);

  const std::string python =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const ProgramRun unopened =
      run("ARENA_SHOW_STATS=/nonexistent/arena/stats " + python + " -c 'print(8)'", true);
  EXPECT_EQ(unopened.status, 0) << unopened.output;
  EXPECT_EQ(unopened.output.rfind("8\narena: process ", 0), 0u) << unopened.output;
  EXPECT_NE(unopened.output.find(": ARENA_SHOW_STATS: cannot open /nonexistent/arena/stats\n"),
            std::string::npos)
      << unopened.output;
}

// A program's mallinfo2() and mallinfo() describe arena's heap: python3's 8 MB of
// bytearrays are in use there (glibc's figures of its own unused heap would be near 0).
TEST_F(ArenaPreload, MallinfoDescribesArenasOwnHeap) {
  const ProgramRun ours =
      run("PYTHONMALLOC=malloc python3 -c '"
          "import ctypes\n"
          "class Info(ctypes.Structure):\n"
          "    _fields_ = [(n, ctypes.c_size_t) for n in \"arena ordblks smblks hblks hblkhd "
          "usmblks fsmblks uordblks fordblks keepcost\".split()]\n"
          "class Old(ctypes.Structure):\n"
          "    _fields_ = [(n, ctypes.c_int) for n, _ in Info._fields_]\n"
          "libc = ctypes.CDLL(None)\n"
          "libc.mallinfo2.restype = Info\n"
          "libc.mallinfo.restype = Old\n"
          "keep = [bytearray(100000) for i in range(80)]\n"
          "i, o = libc.mallinfo2(), libc.mallinfo()\n"
          "print(i.arena, i.uordblks, i.fordblks, o.uordblks)'",
          true);
  ASSERT_EQ(ours.status, 0) << ours.output;
  std::size_t total = 0, in_use = 0, free_bytes = 0, old_in_use = 0;
  ASSERT_EQ(std::sscanf(ours.output.c_str(), "%zu %zu %zu %zu", &total, &in_use, &free_bytes,
                        &old_in_use),
            4)
      << ours.output;
  EXPECT_GE(in_use, std::size_t{8'000'000}) << ours.output;
  EXPECT_EQ(total, in_use + free_bytes) << ours.output;
  EXPECT_NEAR(static_cast<double>(old_in_use), static_cast<double>(in_use), 65536.0)
      << "the same figures, but for the blocks python allocated between the calls";
}

TEST_F(ArenaPreload, ForkAndExecFromAPreloadedShell) {
  expect_same_as_glibc("sh -c 'for i in 1 2 3; do echo $i | cat | sort -r; done; ls / | wc -l'");
}

}  // namespace
