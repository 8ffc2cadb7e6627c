// lphash vs ck_ht, oneTBB concurrent_hash_map, libcuckoo and std::unordered_map behind
// a mutex, side by side in one run. Keys are addresses as an allocator hands them out:
// 16-byte aligned, bump-allocated in size-class steps, recently freed ones reused
// first. A live set of 1 M keys is split between the threads; every iteration frees a
// random live key of the thread's own, allocates one in its place, and looks up
// random live keys: 1 lookup (the replay-like mix, equal thirds) or 18 (find-heavy,
// 90 % lookups). See BENCHMARKS.md for the command and the figures.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <typeinfo>
#include <vector>

#include "peers.hpp"

namespace lphash_bench {
namespace {

constexpr std::size_t kLiveKeys = 1'000'000;

struct Rng {  // xorshift64*: cheap enough not to weigh on the maps' figures
  std::uint64_t s;
  std::uint64_t operator()() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
};

// One replay thread's heap as the map sees it.
class Heap {
 public:
  explicit Heap(unsigned thread)
      : rng_{0x9e37 + thread}, bump_(0x7f00'0000'0000ull + (std::uint64_t{thread} << 38)) {}

  std::uint64_t allocate() {
    if (recent_count_ > 0 && (rng_() & 1)) return recent_[--recent_count_ % kRecent];
    bump_ += 16 * (1 + rng_() % 16);
    return bump_;
  }
  void release(std::uint64_t address) {  // LIFO reuse; the oldest frees fall off
    recent_[recent_count_++ % kRecent] = address;
    if (recent_count_ > kRecent) recent_count_ = kRecent;
  }
  std::uint64_t random() { return rng_(); }

 private:
  static constexpr std::size_t kRecent = 4096;
  Rng rng_;
  std::uint64_t bump_;
  std::array<std::uint64_t, kRecent> recent_{};
  std::size_t recent_count_ = 0;
};

struct ThreadState {
  explicit ThreadState(unsigned thread) : heap(thread) {}
  Heap heap;
  std::vector<std::uint64_t> live;
};

struct WorldBase {
  virtual ~WorldBase() = default;
};

template <class Map>
struct World : WorldBase {
  World(unsigned threads) : map(kLiveKeys) {
    for (unsigned t = 0; t < threads; ++t) {
      ThreadState& s = states.emplace_back(t);
      s.live.reserve(kLiveKeys / threads);
      for (std::size_t i = 0; i < kLiveKeys / threads; ++i) {
        const std::uint64_t key = s.heap.allocate();
        map.insert(key, key);
        s.live.push_back(key);
      }
    }
  }
  Map map;
  std::vector<ThreadState> states;
};

// The world survives between runs of the same map and thread count (repetitions,
// both mixes), so the 1 M prefill is paid once per configuration.
std::unique_ptr<WorldBase> g_world;
const std::type_info* g_world_type = nullptr;
unsigned g_world_threads = 0;

template <class Map>
World<Map>& world_for(unsigned threads) {
  if (g_world_type != &typeid(Map) || g_world_threads != threads) {
    g_world.reset();
    g_world = std::make_unique<World<Map>>(threads);
    g_world_type = &typeid(Map);
    g_world_threads = threads;
  }
  return static_cast<World<Map>&>(*g_world);
}

template <class Map, int kFinds>
void BM_Mix(benchmark::State& state) {
  if (state.thread_index() == 0) world_for<Map>(static_cast<unsigned>(state.threads()));
  World<Map>* world = nullptr;
  ThreadState* self = nullptr;
  std::uint64_t failures = 0;
  for (auto _ : state) {
    if (world == nullptr) [[unlikely]] {  // after the start barrier: thread 0 set it up
      world = &static_cast<World<Map>&>(*g_world);
      self = &world->states[static_cast<std::size_t>(state.thread_index())];
    }
    std::vector<std::uint64_t>& live = self->live;
    const std::size_t slot = self->heap.random() % live.size();
    failures += !world->map.erase(live[slot]);
    self->heap.release(live[slot]);
    const std::uint64_t key = self->heap.allocate();
    failures += !world->map.insert(key, key);
    live[slot] = key;
    for (int f = 0; f < kFinds; ++f) {
      std::uint64_t value = 0;
      const std::uint64_t probe = live[self->heap.random() % live.size()];
      failures += !world->map.find(probe, value) || value != probe;
      benchmark::DoNotOptimize(value);
    }
  }
  state.SetItemsProcessed(state.iterations() * (2 + kFinds));
  if (failures != 0) state.SkipWithError("the map lost, kept or corrupted a key");
}

constexpr int kReplayFinds = 1;  // insert, find, erase in equal parts
constexpr int kHeavyFinds = 18;  // 90 % finds

template <class Map>
void register_map() {
  const std::string name = Map::kName;
  benchmark::RegisterBenchmark(("replay_mix/" + name).c_str(), BM_Mix<Map, kReplayFinds>)
      ->Iterations(1'000'000)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("find_heavy/" + name).c_str(), BM_Mix<Map, kHeavyFinds>)
      ->Iterations(150'000)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace lphash_bench

int main(int argc, char** argv) {
  using namespace lphash_bench;
  register_map<Lphash>();
  register_map<CkHt>();
  register_map<Tbb>();
  register_map<Cuckoo>();
  register_map<MutexMap>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
