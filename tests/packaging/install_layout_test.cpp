// mtreplay/install_layout.hpp: the parts of a tree found from an executable's path, in
// an installed tree (prefix/bin, libexec/mtreplay, lib, share/mtreplay) and in a build
// tree (build/bin holding the worker too, build/lib, ../traces/samples).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "mtreplay/install_layout.hpp"

namespace fs = std::filesystem;
namespace layout = mtreplay::layout;

namespace {

class InstallLayoutTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "mtreplay-layout.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path touch(const fs::path& relative) {
    fs::path p = root_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
    return p;
  }
  fs::path root_;
};

TEST_F(InstallLayoutTree, InstalledTreeFindsItsPartsUnderThePrefix) {
  fs::path exe = touch("opt/mt/bin/mtreplay");
  fs::path worker = touch("opt/mt/libexec/mtreplay/mtreplay-worker");
  touch("opt/mt/lib/libmhook.so");
  EXPECT_EQ(layout::prefix_of(exe), root_ / "opt/mt");
  EXPECT_EQ(layout::worker_path(exe), worker);
  EXPECT_EQ(layout::library_dir(exe), root_ / "opt/mt/lib");
  auto samples = layout::sample_dirs(exe);
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.front(), root_ / "opt/mt/share/mtreplay/samples");
}

TEST_F(InstallLayoutTree, MovedPrefixIsFoundAtItsNewPlace) {
  touch("a/bin/mtreplay");
  touch("a/libexec/mtreplay/mtreplay-worker");
  touch("a/lib/libmhook.so");
  fs::rename(root_ / "a", root_ / "b");
  fs::path exe = root_ / "b/bin/mtreplay";
  EXPECT_EQ(layout::worker_path(exe), root_ / "b/libexec/mtreplay/mtreplay-worker");
  EXPECT_EQ(layout::library_dir(exe), root_ / "b/lib");
}

TEST_F(InstallLayoutTree, BuildTreeKeepsTheWorkerBesideTheCliAndTheSamplesInTheSource) {
  fs::path exe = touch("src/build/bin/mtreplay");
  fs::path worker = touch("src/build/bin/mtreplay-worker");
  touch("src/build/lib/libmhook.so");
  EXPECT_EQ(layout::worker_path(exe), worker);
  EXPECT_EQ(layout::library_dir(exe), root_ / "src/build/lib");
  auto samples = layout::sample_dirs(exe);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[1], root_ / "src/traces/samples");
}

TEST(InstallLayout, SelfIsThisTestBinary) {
  EXPECT_EQ(layout::self_exe().filename(), "packaging_layout_test");
}

}  // namespace
