// arena_print_stats: the report counts what the program holds, by kind and class, and its
// page counts add up. Compared before and after, so other tests' blocks do not matter.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "arena/arena.h"

namespace {

std::string report() {
  const int fd = memfd_create("arena-stats", 0);
  if (fd < 0) return {};
  arena_print_stats(fd);
  std::string text;
  char buffer[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  close(fd);
  return text;
}

struct Totals {
  std::size_t class_blocks = 0, class_free = 0;  // of the class asked for, every arena
  std::size_t medium_blocks = 0, medium_pages = 0;
  std::size_t page_run_blocks = 0;  // of the class asked for
  std::size_t large_live = 0, large_kib = 0;
  std::size_t arenas = 0;
  std::size_t resident_medium = 0;
  bool resident_within_pages = true;  // per arena: resident pages of a kind <= its pages
  bool runs_add_up = true;            // per arena: free runs' pages and dirty pages as counted
};

Totals parse(const std::string& text, unsigned class_size) {
  Totals t;
  std::istringstream lines(text);
  std::string line;
  std::size_t dirty = 0, clean = 0;
  while (std::getline(lines, line)) {
    std::size_t index, segments, in_use, a, b;
    unsigned cls, size;
    std::size_t slabs, pages, blocks, free_blocks, full, unowned;
    if (std::sscanf(line.c_str(),
                    "arena %zu: %zu segments, pages in use %zu, free dirty %zu, free clean %zu",
                    &index, &segments, &in_use, &dirty, &clean) == 5) {
      ++t.arenas;
    } else if (line.starts_with("  free runs")) {
      std::size_t run_pages = 0, run_dirty = 0;
      for (std::size_t at = line.find(": ", 20); at != std::string::npos;
           at = line.find(": ", at + 2)) {
        if (std::sscanf(line.c_str() + at, ": %zu (%zu)", &a, &b) == 2) {
          run_pages += a;
          run_dirty += b;
        }
      }
      if (run_pages != dirty + clean || run_dirty != dirty) t.runs_add_up = false;
    } else if (std::size_t rs, s, rm, m, rf, f;
               std::sscanf(line.c_str(),
                           "  resident pages: slabs %zu of %zu, medium blocks %zu of %zu, free "
                           "runs %zu of %zu",
                           &rs, &s, &rm, &m, &rf, &f) == 6) {
      t.resident_medium += rm;
      if (rs > s || rm > m || rf > f) t.resident_within_pages = false;
    } else if (line.starts_with("slab classes' blocks live in page runs:")) {
      const std::string key = " " + std::to_string(class_size) + " B: ";
      if (const std::size_t at = line.find(key); at != std::string::npos)
        t.page_run_blocks += std::stoul(line.substr(at + key.size()));
    } else if (std::sscanf(line.c_str(), "  medium blocks: %zu, %zu pages", &a, &b) == 2) {
      t.medium_blocks += a;
      t.medium_pages += b;
    } else if (std::sscanf(line.c_str(), " %u %u %zu %zu %zu %zu %zu %zu", &cls, &size, &slabs,
                           &pages, &blocks, &free_blocks, &full, &unowned) == 8) {
      if (size == class_size) {
        t.class_blocks += blocks;
        t.class_free += free_blocks;
      }
    } else {
      std::sscanf(line.c_str(), "large blocks: %zu live, %zu KiB", &t.large_live, &t.large_kib);
    }
  }
  return t;
}

TEST(ArenaStats, CountsTheBlocksTheProgramHoldsByKindAndClass) {
  const Totals before = parse(report(), 224);
  std::vector<void*> small, medium;
  for (int i = 0; i < 100; ++i) small.push_back(arena_malloc(200));       // the 224-byte class
  for (int i = 0; i < 3; ++i) medium.push_back(arena_malloc(40 * 1024));  // 10 pages each
  for (void* p : medium) std::memset(p, 1, 40 * 1024);
  void* large = arena_malloc(3 << 20);
  const Totals during = parse(report(), 224);
  EXPECT_GE(during.resident_medium - before.resident_medium, 30u) << "mincore: written pages";
  EXPECT_TRUE(during.resident_within_pages);
  EXPECT_EQ((during.class_blocks - during.class_free) - (before.class_blocks - before.class_free),
            100u);
  EXPECT_EQ(during.medium_blocks - before.medium_blocks, 3u);
  EXPECT_EQ(during.medium_pages - before.medium_pages, 30u);
  EXPECT_EQ(during.large_live - before.large_live, 1u);
  EXPECT_EQ(during.large_kib - before.large_kib, 3072u);

  for (void* p : small) arena_free(p);
  for (void* p : medium) arena_free(p);
  arena_free(large);
  arena_trim();  // the thread's cached medium blocks go back too
  const Totals after = parse(report(), 224);
  EXPECT_EQ(after.class_blocks - after.class_free, before.class_blocks - before.class_free);
  EXPECT_EQ(after.medium_blocks, before.medium_blocks);
  EXPECT_EQ(after.large_live, before.large_live);
}

// Blocks of the slab classes above 4 KiB served from page runs (few of them live) are
// counted among the medium blocks and, over every arena, by their class.
TEST(ArenaStats, NamesTheSlabClassesBlocksServedFromPageRuns) {
  const Totals before = parse(report(), 5120);
  void* blocks[2] = {arena_malloc(5000), arena_malloc(5000)};
  const Totals during = parse(report(), 5120);
  EXPECT_EQ(during.page_run_blocks - before.page_run_blocks, 2u) << report();
  EXPECT_EQ(during.medium_blocks - before.medium_blocks, 2u);
  for (void* p : blocks) arena_free(p);
  arena_trim();
  const Totals after = parse(report(), 5120);
  EXPECT_EQ(after.page_run_blocks, before.page_run_blocks);
}

TEST(ArenaStats, EachArenasFreeRunsAddUpToItsFreePages) {
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i)
    blocks.push_back(arena_malloc(static_cast<std::size_t>(i) * 37 % 70000));
  for (std::size_t i = 0; i < blocks.size(); i += 3) arena_free(blocks[i]);
  const Totals t = parse(report(), 224);
  EXPECT_GE(t.arenas, 1u);
  EXPECT_TRUE(t.runs_add_up) << report();
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i % 3 != 0) arena_free(blocks[i]);
}

struct mallinfo2 heap_info() {
  struct mallinfo2 info;
  arena_mallinfo2(&info);
  return info;
}

void expect_split(const struct mallinfo2& info) {
  EXPECT_EQ(info.arena, info.uordblks + info.fordblks);
  EXPECT_LE(info.fsmblks, info.fordblks);
  EXPECT_LE(info.keepcost, info.fordblks);
  EXPECT_EQ(info.usmblks, 0u);
}

TEST(ArenaStats, MallinfoSplitsTheHeapIntoWhatTheProgramHoldsAndWhatIsFree) {
  arena_trim();
  const struct mallinfo2 before = heap_info();
  expect_split(before);
  std::vector<void*> small, medium;
  for (int i = 0; i < 100; ++i) small.push_back(arena_malloc(200));
  for (int i = 0; i < 3; ++i) medium.push_back(arena_malloc(40 * 1024));  // 10 pages each
  void* large = arena_malloc(3 << 20);
  const struct mallinfo2 during = heap_info();
  expect_split(during);
  EXPECT_GE(during.uordblks - before.uordblks, 100u * 224 + 3u * 40960);
  EXPECT_LE(during.uordblks - before.uordblks, 100u * 224 + 3u * 40960 + 4 * 4096)
      << "at most the new slabs' tails besides";
  EXPECT_EQ(during.hblks - before.hblks, 1u);
  EXPECT_EQ(during.hblkhd - before.hblkhd, std::size_t{3} << 20);
  EXPECT_GT(during.ordblks, 0u) << "the segment's pages beyond the blocks are a free run";

  for (void* p : medium) arena_free(p);  // into this thread's cache: free for the program
  const struct mallinfo2 cached = heap_info();
  expect_split(cached);
  EXPECT_EQ(during.uordblks - cached.uordblks, 3u * 40960);
  for (void* p : small) arena_free(p);
  arena_free(large);
  arena_trim();
  const struct mallinfo2 after = heap_info();
  expect_split(after);
  EXPECT_LE(after.uordblks, before.uordblks + 4096) << "a kept empty slab's tail at most";
  EXPECT_EQ(after.hblks, before.hblks);
  EXPECT_EQ(after.keepcost, 0u) << "arena_trim gave back every dirty page";
}

// The figures are taken while other threads allocate, free each other's blocks and
// cache medium blocks: each arena's are read under its lock, so the split still adds
// up, and the sanitizer builds see no race in the walk.
TEST(ArenaStats, MallinfoAndTheReportWhileThreadsAllocateAndFreeEachOthersBlocks) {
  constexpr int kThreads = 3;
  std::atomic<bool> stop{false};
  std::atomic<void*> exchange[64] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t x = 0x9e3779b97f4a7c15u * static_cast<unsigned>(t + 1);
      std::vector<void*> own;
      while (!stop.load(std::memory_order_relaxed)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        void* p = arena_malloc(x % 8 == 0 ? 20000 + x % 40000 : x % 600);
        if (x % 3 == 0) {
          arena_free(exchange[x % 64].exchange(p));
        } else {
          own.push_back(p);
          if (own.size() > 500) {
            for (void* q : own) arena_free(q);
            own.clear();
          }
        }
      }
      for (void* q : own) arena_free(q);
    });
  }
  const int null_fd = open("/dev/null", O_WRONLY);
  for (int i = 0; i < 300; ++i) {
    const struct mallinfo2 info = heap_info();
    ASSERT_EQ(info.arena, info.uordblks + info.fordblks);
    if (i % 10 == 0) arena_print_stats(null_fd);
  }
  close(null_fd);
  stop = true;
  for (auto& t : threads) t.join();
  for (auto& slot : exchange) arena_free(slot.exchange(nullptr));
}

TEST(ArenaStats, ABadDescriptorLosesTheReportAndNothingElse) {
  void* p = arena_malloc(100);
  arena_print_stats(-1);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  close(pipe_fds[0]);  // a write to a pipe no one reads fails (SIGPIPE ignored below)
  signal(SIGPIPE, SIG_IGN);
  arena_print_stats(pipe_fds[1]);
  close(pipe_fds[1]);
  arena_free(p);
  EXPECT_NE(report().find("arena 0:"), std::string::npos);
}

}  // namespace
