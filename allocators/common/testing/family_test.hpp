#pragma once
// The value-parameterised fixture behind the kit's tests; each allocator instantiates
// it with its FamilyApi:  INSTANTIATE_TEST_SUITE_P(Ptmalloc, FamilyTest, Values(&api)).
#include <gtest/gtest.h>

#include "family_api.hpp"

namespace mtreplay::alloc::testing {

class FamilyTest : public ::testing::TestWithParam<const FamilyApi*> {
 protected:
  void SetUp() override {
    if (api().preloaded && sanitized_build())
      GTEST_SKIP() << "preload tests skip in sanitizer builds";
  }
  const FamilyApi& api() const { return *GetParam(); }
  void expect_consistent() const {
    if (api().check) {
      EXPECT_EQ(api().check(), 0u) << api().name << " heap check failed";
    }
  }
};

}  // namespace mtreplay::alloc::testing
