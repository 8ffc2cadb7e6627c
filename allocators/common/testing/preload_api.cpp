// The kit run on the real malloc-family symbols, for a binary run with an allocator
// preloaded (ctest sets LD_PRELOAD). MTREPLAY_EXPECT_SYMBOL names a symbol only that
// allocator exports (e.g. pt_check_heaps): it proves the preload took effect and, being
// the allocator's consistency check, is used as one.
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstdlib>

#include "family_api.hpp"
#include "family_test.hpp"

namespace mtreplay::alloc::testing {
namespace {

using CheckFn = std::size_t (*)();

CheckFn preloaded_check() {
  const char* symbol = std::getenv("MTREPLAY_EXPECT_SYMBOL");
  return symbol ? reinterpret_cast<CheckFn>(dlsym(RTLD_DEFAULT, symbol)) : nullptr;
}

const FamilyApi kPreloaded{"preloaded",
                           ::malloc,
                           ::free,
                           ::calloc,
                           ::realloc,
                           ::reallocarray,
                           ::memalign,
                           ::posix_memalign,
                           ::aligned_alloc,
                           ::valloc,
                           ::pvalloc,
                           ::malloc_usable_size,
                           preloaded_check(),
                           true};

INSTANTIATE_TEST_SUITE_P(Preloaded, FamilyTest, ::testing::Values(&kPreloaded),
                         [](const auto&) { return std::string("symbols"); });

TEST(Preload, TheAllocatorUnderTestIsLoaded) {
  if (sanitized_build()) GTEST_SKIP() << "preload tests skip in sanitizer builds";
  const char* symbol = std::getenv("MTREPLAY_EXPECT_SYMBOL");
  ASSERT_NE(symbol, nullptr) << "run me with MTREPLAY_EXPECT_SYMBOL and LD_PRELOAD set";
  EXPECT_NE(dlsym(RTLD_DEFAULT, symbol), nullptr) << symbol << " not found: preload missing";
}

}  // namespace
}  // namespace mtreplay::alloc::testing
