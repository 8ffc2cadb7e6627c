// The suite runs under the allocator it was registered for, and that allocator serves
// the core of the malloc family itself.
#include <gtest/gtest.h>

#include "backend_check.hpp"

namespace mtreplay::alloctest {
namespace {

TEST(Backend, MallocResolvesIntoTheIntendedAllocator) {
  const ExpectedBackend expected = expected_backend();
  const std::string mismatch = backend_mismatch(expected);
  EXPECT_TRUE(mismatch.empty()) << mismatch;
  RecordProperty("allocator", expected.name);
  RecordProperty("malloc_from", object_defining("malloc"));
}

TEST(Backend, ServesTheCoreFamilyItself) {
  // Blocks cross freely between these four; a backend that left one to glibc would
  // corrupt both heaps at the first crossing.
  for (const char* symbol : {"free", "calloc", "realloc", "malloc_usable_size"}) {
    EXPECT_TRUE(served_with_malloc(symbol))
        << symbol << " resolves into " << object_defining(symbol) << ", malloc into "
        << object_defining("malloc");
  }
}

}  // namespace
}  // namespace mtreplay::alloctest
