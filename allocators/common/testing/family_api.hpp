#pragma once
// The test kit shared by the allocators' test suites: one table of the malloc family
// (prefixed, e.g. pt_malloc, or the real symbols), and the content patterns the tests
// write into every block and check before freeing it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mtreplay::alloc::testing {

struct FamilyApi {
  const char* name;
  void* (*malloc)(std::size_t);
  void (*free)(void*);
  void* (*calloc)(std::size_t, std::size_t);
  void* (*realloc)(void*, std::size_t);
  void* (*reallocarray)(void*, std::size_t, std::size_t);
  void* (*memalign)(std::size_t, std::size_t);
  int (*posix_memalign)(void**, std::size_t, std::size_t);
  void* (*aligned_alloc)(std::size_t, std::size_t);
  void* (*valloc)(std::size_t);
  void* (*pvalloc)(std::size_t);
  std::size_t (*usable_size)(void*);
  // The allocator's own consistency check (0 = consistent), or nullptr.
  std::size_t (*check)();
  // The real symbols of a preloaded library rather than a prefixed API: such tests
  // cannot run in sanitizer builds.
  bool preloaded = false;
};

// For gtest's parameter names.
inline std::string_view api_name(const FamilyApi* api) {
  return api->name;
}

inline std::uint8_t pattern_byte(std::uint64_t seed, std::size_t i) {
  return static_cast<std::uint8_t>((seed * 0x9E3779B97F4A7C15ull + i * 0x2545F491ull) >> 56) ^
         static_cast<std::uint8_t>(i);
}

inline void fill_pattern(void* p, std::size_t n, std::uint64_t seed) {
  auto* b = static_cast<std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = pattern_byte(seed, i);
}

// Index of the first byte that differs from the pattern, or n.
inline std::size_t first_pattern_mismatch(const void* p, std::size_t n, std::uint64_t seed) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != pattern_byte(seed, i)) return i;
  }
  return n;
}

inline bool aligned_to(const void* p, std::size_t align) {
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

// True in ASan/TSan builds (tests pass -DMTREPLAY_SANITIZE="${MTREPLAY_SANITIZE}").
inline bool sanitized_build() {
#ifdef MTREPLAY_SANITIZE
  return std::string_view(MTREPLAY_SANITIZE) != "";
#else
  return false;
#endif
}

}  // namespace mtreplay::alloc::testing
