// A two-level logic minimizer in the style of the classic benchmark: the prime
// implicants of random Boolean functions of `variables` inputs by Quine-McCluskey,
// then a greedy cover. Cubes are small heap objects (one per implicant, made and
// dropped by the million), lists of them are growing arrays, and duplicates are found
// with a hash set: the allocation mix of a program that builds and discards covers.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <unordered_set>
#include <vector>

#include "workload.hpp"

namespace {

struct Cube {
  std::uint32_t value;  // bits of the literals that are fixed
  std::uint32_t care;   // 1 = fixed, 0 = don't care
  bool merged;
};

Cube* new_cube(std::uint32_t value, std::uint32_t care) {
  auto* c = static_cast<Cube*>(std::malloc(sizeof(Cube)));
  if (c == nullptr) std::abort();
  *c = {value & care, care, false};
  return c;
}

std::uint64_t minimize(workload::Random& random, unsigned variables, unsigned percent_on) {
  std::vector<Cube*> layer;
  for (std::uint32_t m = 0; m < (1u << variables); ++m)
    if (random.next() % 100 < percent_on) layer.push_back(new_cube(m, (1u << variables) - 1));
  const std::vector<std::uint32_t> minterms = [&] {
    std::vector<std::uint32_t> v;
    for (Cube* c : layer) v.push_back(c->value);
    return v;
  }();
  std::vector<Cube*> primes;
  while (!layer.empty()) {
    std::sort(layer.begin(), layer.end(), [](const Cube* a, const Cube* b) {
      return a->care != b->care ? a->care < b->care : a->value < b->value;
    });
    std::vector<Cube*> next;
    std::unordered_set<std::uint64_t> seen;
    // Two cubes merge when they care about the same literals and differ in one value bit.
    for (std::size_t i = 0; i < layer.size(); ++i) {
      std::size_t j = i + 1;
      for (; j < layer.size() && layer[j]->care == layer[i]->care; ++j) {
        const std::uint32_t diff = layer[i]->value ^ layer[j]->value;
        if ((diff & (diff - 1)) != 0) continue;
        layer[i]->merged = layer[j]->merged = true;
        const std::uint32_t care = layer[i]->care & ~diff;
        const std::uint64_t key = (std::uint64_t{care} << 32) | (layer[i]->value & care);
        if (seen.insert(key).second) next.push_back(new_cube(layer[i]->value, care));
      }
    }
    for (Cube* c : layer) {
      if (c->merged)
        std::free(c);
      else
        primes.push_back(c);
    }
    layer.swap(next);
  }
  // Greedy cover: repeatedly the prime covering most uncovered minterms.
  std::vector<std::uint32_t> uncovered = minterms;
  std::uint64_t chosen = 0;
  while (!uncovered.empty()) {
    Cube* best = nullptr;
    std::size_t best_count = 0;
    for (Cube* p : primes) {
      std::size_t n = 0;
      for (std::uint32_t m : uncovered) n += (m & p->care) == p->value;
      if (n > best_count) {
        best_count = n;
        best = p;
      }
    }
    std::vector<std::uint32_t> rest;
    for (std::uint32_t m : uncovered)
      if ((m & best->care) != best->value) rest.push_back(m);
    uncovered.swap(rest);
    ++chosen;
  }
  for (Cube* p : primes) std::free(p);
  return chosen * 1000 + primes.size();
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_logic_minimize");
  const long functions = options.get("functions", 12);
  const long variables = options.get("variables", 11);
  options.check();
  workload::Random random(1234);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t check = 0;
  for (long f = 0; f < functions; ++f)
    check += minimize(random, static_cast<unsigned>(variables), 35);
  workload::report("logic_minimize", workload::seconds_since(start), check);
  return 0;
}
