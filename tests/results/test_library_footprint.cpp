// The libraries an allocator brings into a program: read with the real ldd, measured
// with the real launcher on a real C program.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mtreplay/results/library_footprint.hpp"

namespace mr = mtreplay::results;
namespace fs = std::filesystem;

namespace {

const fs::path kLauncher = MTREPLAY_BIN_DIR "/mtreplay-launch";
const fs::path kWorker = MTREPLAY_BIN_DIR "/mtreplay-worker";

struct WorkDir {
  fs::path path = fs::temp_directory_path() / ("mtreplay_footprint_" + std::to_string(getpid()));
  WorkDir() { fs::create_directories(path); }
  ~WorkDir() { fs::remove_all(path); }
};

}  // namespace

TEST(LibraryFootprint, ACProgramLacksTheLibstdcxxTheWorkerHas) {
  WorkDir dir;
  const auto c_program = mr::shared_libraries(kLauncher, "/usr/bin/true", dir.path);
  ASSERT_TRUE(c_program.has_value());
  EXPECT_TRUE(c_program->contains("libc.so.6"));
  EXPECT_FALSE(c_program->contains("libstdc++.so.6"));
  const auto worker = mr::shared_libraries(kLauncher, kWorker, dir.path);
  ASSERT_TRUE(worker.has_value());
  ASSERT_TRUE(worker->contains("libstdc++.so.6"));
  EXPECT_EQ(worker->at("libstdc++.so.6").front(), '/');

  const mr::LibrarySet lacking = mr::missing_from(*worker, *c_program);
  EXPECT_TRUE(lacking.contains("libstdc++.so.6"));
  EXPECT_FALSE(lacking.contains("libc.so.6"));
  EXPECT_TRUE(mr::missing_from(*c_program, *worker).empty());

  // libstdc++'s pages in a C program: about 1 MiB on Debian 12.
  const uint64_t bytes = mr::preload_footprint(
      kLauncher, {{"libstdc++.so.6", worker->at("libstdc++.so.6")}}, dir.path);
  EXPECT_GT(bytes, 256u << 10);
  EXPECT_LT(bytes, 16u << 20);
  EXPECT_EQ(mr::preload_footprint(kLauncher, {}, dir.path), 0u);
}

TEST(LibraryFootprint, WhatLddCannotReadIsUnknownNotEmpty) {
  WorkDir dir;
  EXPECT_FALSE(mr::shared_libraries(kLauncher, dir.path / "no-such-file", dir.path).has_value());
  const fs::path text = dir.path / "text";
  std::ofstream(text) << "not an ELF file\n";
  EXPECT_FALSE(mr::shared_libraries(kLauncher, text, dir.path).has_value());
  // Nothing of ldd's is left behind in the work directory.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}
