#include "suite_environment.hpp"

#include "backend_check.hpp"

namespace mtreplay::alloctest {

void BackendEnvironment::SetUp() {
#ifdef MTREPLAY_SANITIZE
  GTEST_SKIP() << "sanitizer build: the sanitizer owns malloc, no backend can be preloaded";
#else
  const std::string mismatch = backend_mismatch(expected_backend());
  ASSERT_TRUE(mismatch.empty()) << mismatch;
#endif
}

}  // namespace mtreplay::alloctest
