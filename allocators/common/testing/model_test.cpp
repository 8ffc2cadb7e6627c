// Differential test against a model: random malloc-family traffic, with a model that
// remembers every live block's range and contents. Every block must keep its contents
// until freed, no two live blocks may overlap, and the allocator's own consistency
// check must pass along the way.
#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <vector>

#include "family_api.hpp"
#include "family_test.hpp"

namespace mtreplay::alloc::testing {
namespace {

struct LiveBlock {
  std::size_t size;
  std::uint64_t seed;
};

class Model {
 public:
  explicit Model(const FamilyApi& api) : api_(api) {}

  // Records a new block; fails the test if it overlaps a live one.
  void add(void* p, std::size_t size, std::uint64_t seed) {
    auto start = reinterpret_cast<std::uintptr_t>(p);
    std::size_t extent = size ? size : 1;
    auto after = live_.lower_bound(start);
    if (after != live_.end()) {
      ASSERT_GE(after->first, start + extent) << "new block overlaps a live one";
    }
    if (after != live_.begin()) {
      auto before = std::prev(after);
      std::size_t before_extent = before->second.size ? before->second.size : 1;
      ASSERT_LE(before->first + before_extent, start) << "new block overlaps a live one";
    }
    fill_pattern(p, size, seed);
    live_[start] = {size, seed};
  }

  void verify(void* p) const {
    const LiveBlock& b = live_.at(reinterpret_cast<std::uintptr_t>(p));
    ASSERT_EQ(first_pattern_mismatch(p, b.size, b.seed), b.size) << "block contents changed";
  }

  LiveBlock remove(void* p) {
    verify(p);
    auto it = live_.find(reinterpret_cast<std::uintptr_t>(p));
    LiveBlock b = it->second;
    live_.erase(it);
    return b;
  }

  void* pick(std::mt19937_64& rng) const {
    auto it = live_.lower_bound(rng());
    if (it == live_.end()) it = live_.begin();
    return reinterpret_cast<void*>(it->first);
  }

  std::size_t count() const { return live_.size(); }

  void release_all() {
    for (auto& [start, b] : live_) {
      void* p = reinterpret_cast<void*>(start);
      ASSERT_EQ(first_pattern_mismatch(p, b.size, b.seed), b.size);
      api_.free(p);
    }
    live_.clear();
  }

 private:
  const FamilyApi& api_;
  std::map<std::uintptr_t, LiveBlock> live_;
};

std::size_t random_size(std::mt19937_64& rng) {
  std::uint64_t r = rng() % 1000;
  if (r < 600) return rng() % 128;
  if (r < 900) return rng() % 2048;
  if (r < 985) return rng() % 65536;
  return rng() % (std::size_t{600} << 10);
}

void run_model(const FamilyApi& api, std::uint64_t seed, int operations) {
  std::mt19937_64 rng(seed);
  Model model(api);
  std::uint64_t next_seed = seed << 20;
  for (int op = 0; op < operations; ++op) {
    std::uint64_t kind = rng() % 100;
    bool grow = model.count() < 3000 && (kind < 52 || model.count() == 0);
    if (grow) {
      std::size_t n = random_size(rng);
      void* p;
      std::uint64_t how = rng() % 10;
      if (how < 6) {
        p = api.malloc(n);
      } else if (how < 8) {
        p = api.calloc(1, n);
        ASSERT_NE(p, nullptr);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(static_cast<char*>(p)[i], 0);
      } else {
        std::size_t align = std::size_t{32} << (rng() % 9);
        p = api.memalign(align, n);
        ASSERT_TRUE(aligned_to(p, align));
      }
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(aligned_to(p, 16));
      ASSERT_GE(api.usable_size(p), n);
      ASSERT_NO_FATAL_FAILURE(model.add(p, n, ++next_seed));
    } else if (kind < 80) {
      void* p = model.pick(rng);
      ASSERT_NO_FATAL_FAILURE(model.verify(p));
      model.remove(p);
      api.free(p);
    } else {
      void* p = model.pick(rng);
      std::size_t n = random_size(rng) + 1;
      LiveBlock old = model.remove(p);
      void* q = api.realloc(p, n);
      ASSERT_NE(q, nullptr);
      std::size_t kept = old.size < n ? old.size : n;
      ASSERT_EQ(first_pattern_mismatch(q, kept, old.seed), kept) << "realloc lost contents";
      ASSERT_NO_FATAL_FAILURE(model.add(q, n, ++next_seed));
    }
    if (api.check && op % 2000 == 0) {
      ASSERT_EQ(api.check(), 0u) << "after operation " << op;
    }
  }
  model.release_all();
  if (api.check) {
    ASSERT_EQ(api.check(), 0u);
  }
}

TEST_P(FamilyTest, RandomTrafficMatchesTheModel) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    ASSERT_NO_FATAL_FAILURE(run_model(api(), seed, 30000));
  }
}

}  // namespace
}  // namespace mtreplay::alloc::testing
