// lphash never calls malloc: this executable interposes the malloc family, counts the
// calls made while a window is open, and runs every operation (growth and clean-up
// migrations, futex waits, cross-thread erase, destruction) inside the window.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <thread>

#include "mtreplay/lphash/pointer_map.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> calls{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) calls.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
  count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  count();
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12;  // ENOMEM
}
void free(void* p) {
  count();
  __libc_free(p);
}
}

namespace {

using Map = mtreplay::lphash::PointerMap<std::uint64_t>;
using namespace std::chrono_literals;

TEST(LphashNoMalloc, CounterSeesMalloc) {
  if (std::string_view{MTREPLAY_SANITIZE} != "") GTEST_SKIP() << "a sanitizer owns malloc";
  calls = 0;
  counting = true;
  void* volatile p = malloc(24);
  free(p);
  counting = false;
  EXPECT_EQ(calls.load(), 2);
}

TEST(LphashNoMalloc, NoOperationCallsMalloc) {
  if (std::string_view{MTREPLAY_SANITIZE} != "") GTEST_SKIP() << "a sanitizer owns malloc";
  constexpr std::uint64_t kKeys = 200'000;
  std::atomic<int> phase{0};
  std::atomic<int> failures{0};
  alignas(Map) unsigned char storage[sizeof(Map)];
  Map* map = nullptr;
  // The helper thread is created before the window opens (std::thread allocates).
  std::thread helper([&] {
    while (phase.load() != 1) std::this_thread::yield();
    for (std::uint64_t i = 0; i < kKeys; i += 2) {
      if (map->wait_erase(0x10'0000 + 16 * i, 10s) != std::optional<std::uint64_t>(i)) ++failures;
    }
    phase.store(2);
    // Thread exit frees its state: stay until the window is closed.
    while (phase.load() != 3) std::this_thread::yield();
  });
  calls = 0;
  counting = true;
  map = std::construct_at(reinterpret_cast<Map*>(storage), 1);  // grows many times
  phase.store(1);
  for (std::uint64_t i = 0; i < kKeys; ++i) {
    if (!map->insert(0x10'0000 + 16 * i, i)) ++failures;
  }
  while (phase.load() != 2) std::this_thread::yield();
  for (std::uint64_t round = 0; round < 8; ++round) {  // churn: clean-up migrations
    for (std::uint64_t i = 0; i < kKeys; ++i) {
      const std::uint64_t key = 0x4000'0000 + 16 * (round * kKeys + i);
      if (!map->insert(key, i)) ++failures;
      std::uint64_t expected = i;
      if (map->update(key, expected, i + 1) != mtreplay::lphash::UpdateResult::kUpdated) ++failures;
      if (map->find(key) != std::optional<std::uint64_t>(i + 1)) ++failures;
      if (i % 2 == 0 && !map->erase(key)) ++failures;
    }
    for (std::uint64_t i = 1; i < kKeys; i += 2) map->erase(0x4000'0000 + 16 * (round * kKeys + i));
  }
  if (map->wait_find(0x77770, 5ms).has_value()) ++failures;  // the futex sleep path
  const std::uint64_t migrations = map->migrations();
  std::destroy_at(map);
  counting = false;
  phase.store(3);
  helper.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(migrations, 8u);
  EXPECT_EQ(calls.load(), 0) << "malloc-family calls during lphash operations";
}

}  // namespace
