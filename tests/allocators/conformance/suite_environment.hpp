// Shared by every allocator test binary: refuses to run tests under the wrong allocator
// (fatal failure in the global set-up), and skips them all in sanitizer builds, where a
// preloaded allocator cannot coexist with the sanitizer's own malloc.
#pragma once

#include <gtest/gtest.h>

namespace mtreplay::alloctest {

class BackendEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
};

}  // namespace mtreplay::alloctest
