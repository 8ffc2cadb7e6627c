// Real programs run under one of our allocators must print exactly what they print on
// glibc: python3, git on a real repository, gcc, sort --parallel=2, xz -T2. Each program
// runs twice in fresh directories (glibc, then the allocator) and the outputs compared.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "child_process.hpp"

namespace mtreplay::alloctest {
namespace {

namespace fs = std::filesystem;

struct Allocator {
  std::string name;
  std::string path;
};

Allocator allocator_under_test() {
  const char* name = std::getenv("MTREPLAY_PROGRAMS_ALLOCATOR");
  const char* path = std::getenv("MTREPLAY_PROGRAMS_ALLOCATOR_PATH");
  return {name == nullptr ? "" : name, path == nullptr ? "" : path};
}

// A directory of its own for each run, removed afterwards.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (fs::temp_directory_path() / "mtreplay-programs-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Lines of pseudo-random words and numbers: enough for sort to spill to temporary files
// and for xz to cut several blocks.
void write_large_text(const fs::path& file, std::size_t lines) {
  std::ofstream out{file, std::ios::binary};
  std::mt19937_64 random{2024};
  for (std::size_t i = 0; i < lines; ++i) {
    const std::uint64_t a = random();
    out << (a % 100000) << ' ' << std::hex << (a >> 20) << std::dec << " line-" << i % 977 << ' '
        << (random() % 3 == 0 ? "alpha" : "omega") << '\n';
  }
}

class RealPrograms : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MTREPLAY_SANITIZE
    GTEST_SKIP() << "sanitizer build: preloaded allocators are tested in the normal build";
#endif
    allocator_ = allocator_under_test();
    ASSERT_FALSE(allocator_.name.empty())
        << "MTREPLAY_PROGRAMS_ALLOCATOR is not set: run this binary through CTest";
    if (!fs::exists(allocator_.path)) {
      GTEST_SKIP() << allocator_.name << " is not built yet (" << allocator_.path
                   << " does not exist)";
    }
  }

  // Runs `script` in a fresh directory prepared by `prepare`, on glibc and then under the
  // allocator, and requires the same exit status and the same standard output.
  void expect_same_as_glibc(const std::string& script,
                            const std::function<void(const fs::path&)>& prepare = {},
                            std::vector<std::string> env = {}) {
    ChildResult reference;
    ChildResult candidate;
    for (const bool preloaded : {false, true}) {
      ScratchDirectory scratch;
      ASSERT_FALSE(scratch.path().empty()) << "mkdtemp failed";
      if (prepare) prepare(scratch.path());
      ChildResult& result = preloaded ? candidate : reference;
      result = run_child({script, scratch.path(), preloaded ? allocator_.path : "", env});
      const char* who = preloaded ? allocator_.name.c_str() : "glibc";
      ASSERT_FALSE(result.timed_out) << who << " run timed out; stderr:\n" << result.err;
      ASSERT_EQ(result.exit_status, 0) << who << " run failed; stderr:\n" << result.err;
    }
    EXPECT_FALSE(reference.out.empty()) << "the workload printed nothing to compare";
    EXPECT_EQ(candidate.out, reference.out)
        << allocator_.name << " changed the output; its stderr:\n"
        << candidate.err;
  }

  Allocator allocator_;
};

TEST_F(RealPrograms, Python) {
  // PYTHONMALLOC=malloc sends every Python object to malloc instead of pymalloc's arenas.
  const std::string script = R"(python3 -c '
import collections, hashlib, json, threading
words = [str(i * 7919 % 100003) for i in range(300000)]
table = {w: len(w) * 3 for w in words}
counts = collections.Counter(w[-1] for w in words)
results = [None] * 4
def work(k):
    parts = ["%d:%s" % (i, "x" * (i % 50)) for i in range(k, 200000, 4)]
    results[k] = hashlib.sha256(",".join(sorted(parts)).encode()).hexdigest()
threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
text = json.dumps(sorted(table.items())[:50000])
print(hashlib.sha256(text.encode()).hexdigest(), len(table), sorted(counts.items()))
print(results)
')";
  expect_same_as_glibc(script, {}, {"PYTHONMALLOC=malloc"});
}

TEST_F(RealPrograms, GitOnARealRepository) {
  // Fixed identities and dates make commit ids reproducible, so they can be compared.
  const std::string script = R"(set -e
git init -q -b main repo && cd repo
for i in 1 2 3 4 5 6; do
  seq 1 $((i * 2000)) | sed "s/^/row $i /" > data$i.txt
  seq $i 3 30000 > shared.txt
  git add -A && git commit -q -m "commit $i"
done
git log --stat
git diff HEAD~4 HEAD | head -c 200000
git gc -q
git fsck --strict 2>&1
git log --oneline
git rev-parse HEAD
git cat-file -p HEAD:shared.txt | sha256sum
)";
  expect_same_as_glibc(
      script, {},
      {"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org", "GIT_COMMITTER_NAME=Test",
       "GIT_COMMITTER_EMAIL=test@example.org", "GIT_AUTHOR_DATE=2024-01-01T00:00:00Z",
       "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM=1",
       "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent"});
}

TEST_F(RealPrograms, GccCompilesAFile) {
  auto prepare = [](const fs::path& dir) {
    std::ofstream source{dir / "program.c"};
    source << "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n";
    for (int f = 0; f < 150; ++f) {
      source << "static int f" << f << "(int x) { int a[" << (f % 13 + 3) << "] = {0};"
             << " for (int i = 0; i < x % " << (f % 7 + 2) << "; ++i) a[i % " << (f % 13 + 3)
             << "] += i * " << f << "; return a[0] + x * " << f << "; }\n";
    }
    source << "int main(void) { long s = 0;";
    for (int f = 0; f < 150; ++f) source << " s += f" << f << "(" << f << ");";
    source << " char* p = malloc(100); strcpy(p, \"done\"); printf(\"%s %ld\\n\", p, s);"
           << " free(p); return 0; }\n";
  };
  expect_same_as_glibc(
      "set -e\ngcc -O2 -S -o - program.c\ngcc -O2 -o program program.c\n./program\n", prepare);
}

TEST_F(RealPrograms, SortInParallel) {
  auto prepare = [](const fs::path& dir) { write_large_text(dir / "input.txt", 200'000); };
  // A small buffer makes sort spill to temporary files and merge them.
  expect_same_as_glibc(
      "set -e\nsort --parallel=2 -S 1M -T . input.txt > sorted.txt\n"
      "wc -l < sorted.txt\nsha256sum < sorted.txt\nhead -3 sorted.txt\n",
      prepare);
}

TEST_F(RealPrograms, XzCompressesAndDecompressesWithTwoThreads) {
  auto prepare = [](const fs::path& dir) { write_large_text(dir / "input.txt", 200'000); };
  // Small blocks so both threads get work; the multithreaded stream is deterministic
  // for a given thread count and block size, so the compressed bytes must match too.
  expect_same_as_glibc(
      "set -e\nxz -T2 --block-size=1MiB -3 -c input.txt > input.txt.xz\n"
      "xz -T2 -d -c input.txt.xz > roundtrip.txt\ncmp input.txt roundtrip.txt\n"
      "sha256sum < input.txt.xz\nxz --list --robot input.txt.xz | grep -c block || true\n",
      prepare);
}

}  // namespace
}  // namespace mtreplay::alloctest
