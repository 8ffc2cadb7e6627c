// The malloc family's contract, checked on a prefixed API: alignment, sizes, zeroing,
// errno and return values on every edge case that POSIX and glibc define.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "family_api.hpp"
#include "family_test.hpp"

namespace mtreplay::alloc::testing {
namespace {

constexpr std::size_t kPage = 4096;

TEST_P(FamilyTest, EveryBlockIsSixteenByteAlignedAndUsable) {
  const FamilyApi& a = api();
  std::vector<void*> blocks;
  for (std::size_t n = 0; n < 5000; n += (n < 300 ? 1 : 97)) {
    void* p = a.malloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned_to(p, 16)) << n;
    EXPECT_GE(a.usable_size(p), n);
    fill_pattern(p, a.usable_size(p), n);
    blocks.push_back(p);
  }
  std::size_t n = 0;
  for (void* p : blocks) {
    EXPECT_EQ(first_pattern_mismatch(p, a.usable_size(p), n), a.usable_size(p)) << n;
    a.free(p);
    n += (n < 300 ? 1 : 97);
  }
  expect_consistent();
}

TEST_P(FamilyTest, LargeBlocksAreAlignedAndKeepTheirContents) {
  const FamilyApi& a = api();
  for (std::size_t n : {std::size_t{100} << 10, std::size_t{128} << 10, std::size_t{1} << 20,
                        std::size_t{5} << 20, std::size_t{40} << 20}) {
    void* p = a.malloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned_to(p, 16));
    EXPECT_GE(a.usable_size(p), n);
    fill_pattern(p, n, n);
    EXPECT_EQ(first_pattern_mismatch(p, n, n), n);
    a.free(p);
  }
  expect_consistent();
}

TEST_P(FamilyTest, MallocZeroReturnsDistinctFreeableBlocks) {
  const FamilyApi& a = api();
  void* p = a.malloc(0);
  void* q = a.malloc(0);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(p, q);
  a.free(p);
  a.free(q);
  a.free(nullptr);
}

TEST_P(FamilyTest, ImpossibleSizesFailWithEnomem) {
  const FamilyApi& a = api();
  for (std::size_t n : {SIZE_MAX, SIZE_MAX - 16, std::size_t{PTRDIFF_MAX} + 1}) {
    errno = 0;
    EXPECT_EQ(a.malloc(n), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST_P(FamilyTest, CallocZeroesRecycledMemory) {
  const FamilyApi& a = api();
  for (std::size_t n :
       {std::size_t{24}, std::size_t{1000}, std::size_t{70000}, std::size_t{300000}}) {
    std::vector<void*> dirty;
    for (int i = 0; i < 8; ++i) {
      void* p = a.malloc(n);
      std::memset(p, 0xAB, n);
      dirty.push_back(p);
    }
    for (void* p : dirty) a.free(p);
    for (int i = 0; i < 8; ++i) {
      auto* p = static_cast<unsigned char*>(a.calloc(n / 8, 8));
      ASSERT_NE(p, nullptr);
      for (std::size_t j = 0; j < n; ++j) ASSERT_EQ(p[j], 0) << n << " at " << j;
      dirty[i] = p;
    }
    for (void* p : dirty) a.free(p);
  }
  expect_consistent();
}

TEST_P(FamilyTest, CallocOverflowIsEnomem) {
  const FamilyApi& a = api();
  errno = 0;
  EXPECT_EQ(a.calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(a.calloc(std::size_t{1} << 33, std::size_t{1} << 32), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* p = a.calloc(0, 0);
  EXPECT_NE(p, nullptr);
  a.free(p);
}

TEST_P(FamilyTest, ReallocFollowsGlibc) {
  const FamilyApi& a = api();
  void* p = a.realloc(nullptr, 40);  // realloc(NULL, n) is malloc(n)
  ASSERT_NE(p, nullptr);
  fill_pattern(p, 40, 7);
  errno = 0;
  EXPECT_EQ(a.realloc(p, 0), nullptr);  // frees p
  void* q = a.realloc(nullptr, 0);
  EXPECT_NE(q, nullptr);
  a.free(q);
  expect_consistent();
}

TEST_P(FamilyTest, ReallocKeepsContentsThroughGrowthAndShrinkage) {
  const FamilyApi& a = api();
  std::size_t sizes[] = {1,      17,   100, 1000, 5000,   70000,   200000, 3 << 20,
                         100000, 4000, 33,  8,    300000, 2 << 20, 24};
  void* p = nullptr;
  std::size_t kept = 0;
  for (std::size_t n : sizes) {
    void* q = a.realloc(p, n);
    ASSERT_NE(q, nullptr) << n;
    EXPECT_TRUE(aligned_to(q, 16));
    std::size_t check = kept < n ? kept : n;
    ASSERT_EQ(first_pattern_mismatch(q, check, 99), check) << "after realloc to " << n;
    fill_pattern(q, n, 99);
    p = q;
    kept = n;
  }
  a.free(p);
  expect_consistent();
}

TEST_P(FamilyTest, ReallocShrinksInPlace) {
  const FamilyApi& a = api();
  for (std::size_t n : {std::size_t{4000}, std::size_t{600000}}) {
    void* p = a.malloc(n);
    std::size_t smaller = n / 4 * 3;
    fill_pattern(p, smaller, 3);
    EXPECT_EQ(a.realloc(p, smaller), p) << n;
    EXPECT_EQ(first_pattern_mismatch(p, smaller, 3), smaller);
    a.free(p);
  }
}

TEST_P(FamilyTest, FailedReallocLeavesTheBlockIntact) {
  const FamilyApi& a = api();
  void* p = a.malloc(100);
  fill_pattern(p, 100, 5);
  errno = 0;
  EXPECT_EQ(a.realloc(p, SIZE_MAX - 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(first_pattern_mismatch(p, 100, 5), 100u);
  errno = 0;
  EXPECT_EQ(a.reallocarray(p, SIZE_MAX / 4, 8), nullptr);  // overflow
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(first_pattern_mismatch(p, 100, 5), 100u);
  void* q = a.reallocarray(p, 50, 4);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(first_pattern_mismatch(q, 100, 5), 100u);
  a.free(q);
}

TEST_P(FamilyTest, MemalignHonoursEveryPowerOfTwo) {
  const FamilyApi& a = api();
  std::vector<void*> blocks;
  for (std::size_t align = 1; align <= (std::size_t{4} << 20); align <<= 1) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, align, align + 3,
                          std::size_t{200000}}) {
      void* p = a.memalign(align, n);
      ASSERT_NE(p, nullptr) << align << " " << n;
      EXPECT_TRUE(aligned_to(p, align < 16 ? 16 : align)) << align;
      EXPECT_GE(a.usable_size(p), n);
      fill_pattern(p, n, align + n);
      blocks.push_back(p);
    }
  }
  for (void* p : blocks) a.free(p);
  expect_consistent();
}

TEST_P(FamilyTest, MemalignRoundsOddAlignmentsUpAndRejectsHugeOnes) {
  const FamilyApi& a = api();
  void* p = a.memalign(48, 10);  // glibc rounds to 64
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned_to(p, 64));
  a.free(p);
  errno = 0;
  EXPECT_EQ(a.memalign(SIZE_MAX / 2 + 2, 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST_P(FamilyTest, PosixMemalignValidatesAndReportsErrorsByValue) {
  const FamilyApi& a = api();
  void* sentinel = reinterpret_cast<void*>(0x1234);
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{24},
                          std::size_t{3}, std::size_t{4097}}) {
    void* out = sentinel;
    EXPECT_EQ(a.posix_memalign(&out, bad, 16), EINVAL) << bad;
    EXPECT_EQ(out, sentinel);
  }
  void* out = sentinel;
  errno = 1234;
  EXPECT_EQ(a.posix_memalign(&out, 64, SIZE_MAX - 1000), ENOMEM);
  EXPECT_EQ(out, sentinel);
  EXPECT_EQ(errno, 1234);
  for (std::size_t align :
       {std::size_t{8}, std::size_t{16}, std::size_t{256}, kPage, std::size_t{1} << 21}) {
    ASSERT_EQ(a.posix_memalign(&out, align, 0), 0);
    EXPECT_TRUE(aligned_to(out, align));
    a.free(out);
  }
}

TEST_P(FamilyTest, AlignedAllocRejectsNonPowersOfTwo) {
  const FamilyApi& a = api();
  errno = 0;
  EXPECT_EQ(a.aligned_alloc(24, 48), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(a.aligned_alloc(0, 48), nullptr);
  EXPECT_EQ(errno, EINVAL);
  void* p = a.aligned_alloc(128, 1000);  // size need not be a multiple
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned_to(p, 128));
  a.free(p);
}

TEST_P(FamilyTest, VallocAndPvallocArePageAligned) {
  const FamilyApi& a = api();
  ASSERT_EQ(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), kPage);
  void* v = a.valloc(10);
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(aligned_to(v, kPage));
  void* pv = a.pvalloc(kPage + 1);
  ASSERT_NE(pv, nullptr);
  EXPECT_TRUE(aligned_to(pv, kPage));
  EXPECT_GE(a.usable_size(pv), 2 * kPage);
  std::memset(pv, 1, 2 * kPage);
  void* pz = a.pvalloc(0);
  ASSERT_NE(pz, nullptr);
  EXPECT_GE(a.usable_size(pz), kPage);
  errno = 0;
  EXPECT_EQ(a.pvalloc(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  a.free(v);
  a.free(pv);
  a.free(pz);
}

TEST_P(FamilyTest, UsableSizeOfNullIsZero) {
  EXPECT_EQ(api().usable_size(nullptr), 0u);
}

TEST_P(FamilyTest, UsableSizeIsReallyUsable) {
  const FamilyApi& a = api();
  std::vector<void*> blocks;
  for (std::size_t n = 1; n < 3000; n += 37) {
    void* p = a.malloc(n);
    std::memset(p, 0x5A, a.usable_size(p));  // ASan builds of the core would see overruns
    blocks.push_back(p);
  }
  for (void* p : blocks) a.free(p);
  expect_consistent();
}

// Exhaustion under an address-space limit: NULL and ENOMEM, never a crash, and the
// allocator works again once memory is freed. In a child, so the limit stays there.
TEST_P(FamilyTest, RunningOutOfMemoryIsEnomemNotACrash) {
  if (sanitized_build()) GTEST_SKIP() << "sanitizer runtimes need the address space";
  const FamilyApi& a = api();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{std::size_t{768} << 20, std::size_t{768} << 20};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(10);
    std::vector<void*> held;
    held.reserve(1 << 16);
    int code = 11;
    for (int round = 0; round < 2; ++round) {
      for (std::size_t i = 0; i < held.capacity(); ++i) {
        std::size_t n = (i % 3 == 0) ? (std::size_t{1} << 20) : (i % 3 == 1 ? 5000 : 64);
        errno = 0;
        void* p = a.malloc(n);
        if (!p) {
          code = errno == ENOMEM ? 0 : 12;
          break;
        }
        std::memset(p, 1, n < 4096 ? n : 4096);
        held.push_back(p);
      }
      if (code != 0) break;
      for (void* p : held) a.free(p);
      held.clear();
    }
    if (code == 0 && a.check && a.check() != 0) code = 13;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace mtreplay::alloc::testing
