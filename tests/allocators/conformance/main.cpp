// Entry point shared by the allocator test binaries (see suite_environment.hpp).
#include <gtest/gtest.h>

#include "suite_environment.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new mtreplay::alloctest::BackendEnvironment);
  return RUN_ALL_TESTS();
}
