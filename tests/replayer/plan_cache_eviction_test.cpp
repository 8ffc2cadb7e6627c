// The plan cache's bound (plan_cache_eviction.hpp): sizes as users write them, and
// which files go: the least recently used entries, never the one just stored, and
// temporary files only when their writer is long gone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "mtreplay/replay/plan_cache_eviction.hpp"

namespace mtreplay::replay {
namespace {

namespace fs = std::filesystem;

TEST(PlanCacheLimit, ReadsSizesWithUnitsAndRefusesTheRest) {
  EXPECT_EQ(parse_cache_limit("0"), 0u);
  EXPECT_EQ(parse_cache_limit("123"), 123u);
  EXPECT_EQ(parse_cache_limit("512K"), 512u << 10);
  EXPECT_EQ(parse_cache_limit("800m"), uint64_t{800} << 20);
  EXPECT_EQ(parse_cache_limit("4G"), uint64_t{4} << 30);
  EXPECT_EQ(parse_cache_limit("2T"), uint64_t{2} << 40);
  EXPECT_EQ(parse_cache_limit("none"), UINT64_MAX);
  EXPECT_EQ(parse_cache_limit("99999999999T"), UINT64_MAX);  // saturates
  for (const char* bad : {"", "G", "-1", "4GB", "4 G", "four", "1.5G", "12Q"})
    EXPECT_EQ(parse_cache_limit(bad), std::nullopt) << bad;
}

class Eviction : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("eviction-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file of `bytes` last used `age` seconds ago (and written as long ago).
  fs::path file(const std::string& name, size_t bytes, time_t age) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << std::string(bytes, 'x');
    timespec when{time(nullptr) - age, 0};
    const timespec times[2] = {when, when};
    utimensat(AT_FDCWD, p.c_str(), times, 0);
    return p;
  }
  fs::path dir_;
};

TEST_F(Eviction, TheLeastRecentlyUsedGoFirstAndTheNewEntryStays) {
  fs::path oldest = file("a-plain-v6.plan", 1000, 300);
  fs::path middle = file("b-plain-v6.plan", 1000, 200);
  fs::path recent = file("c-plain-v6.plan", 1000, 100);
  fs::path stored = file("d-plain-v6.plan", 1000, 400);  // just stored, though old-stamped
  fs::path profile = file("a-profile-v1.json", 5000, 999);
  auto out = evict_plan_cache(dir_, 2500, stored);
  EXPECT_EQ(out.removed, (std::vector<fs::path>{oldest, middle}));
  EXPECT_EQ(out.removed_bytes, 2000u);
  EXPECT_TRUE(fs::exists(recent) && fs::exists(stored));
  EXPECT_TRUE(fs::exists(profile)) << "only plans count";
  // Marking an entry used moves it to the back of the queue.
  int fd = ::open(recent.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  fs::path newer = file("e-plain-v6.plan", 1000, 50);
  const auto written = fs::last_write_time(recent);
  mark_plan_used(fd);
  ::close(fd);
  EXPECT_EQ(fs::last_write_time(recent), written) << "use is not a write";
  out = evict_plan_cache(dir_, 2000, stored);
  EXPECT_EQ(out.removed, (std::vector<fs::path>{newer}));
}

TEST_F(Eviction, AnEntryLargerThanTheLimitIsKeptWhileItIsTheNewOne) {
  fs::path big = file("big-plain-v6.plan", 4000, 0);
  fs::path other = file("other-plain-v6.plan", 10, 10);
  auto out = evict_plan_cache(dir_, 1000, big);
  EXPECT_EQ(out.removed, (std::vector<fs::path>{other}));
  EXPECT_TRUE(fs::exists(big));
  EXPECT_TRUE(evict_plan_cache(dir_, UINT64_MAX, {}).removed.empty());
}

TEST_F(Eviction, TemporaryFilesGoOnlyWhenTheirWriterIsLongGone) {
  fs::path stale = file(".x-plain-v6.plan.Ab12Cd", 100, 2 * 3600);
  fs::path writing = file(".y-plain-v6.plan.Ef34Gh", 100, 5);
  fs::path unrelated = file(".hidden", 100, 5 * 3600);
  auto out = evict_plan_cache(dir_, UINT64_MAX, {});
  EXPECT_EQ(out.removed, (std::vector<fs::path>{stale}));
  EXPECT_TRUE(fs::exists(writing) && fs::exists(unrelated));
}

TEST_F(Eviction, AMissingDirectoryRemovesNothing) {
  EXPECT_TRUE(evict_plan_cache(dir_ / "none", 0, {}).removed.empty());
}

}  // namespace
}  // namespace mtreplay::replay
