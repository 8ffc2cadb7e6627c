// trace_gen: writes synthetic multithreaded traces for tests and benchmarks
// (tests/tools/README.md). In constant memory whatever the event count: the trace is
// written chunk by chunk through TraceBuilder, and the generator keeps only its live
// objects and its free lists.
//
// The model:
//  - T threads, each with a recorded clock; events are merged in time as a recording
//    would merge them (every event of the trace has a distinct, growing stamp), each
//    thread starting with thread_start and ending with thread_exit;
//  - short-lived churn: every object gets a lifetime, in events of the whole trace,
//    drawn from a distribution whose mean keeps about --live objects live per thread
//    (a thread frees its due objects and allocates otherwise);
//  - long-lived objects: a fraction of the live set lives across a large part of the
//    trace (--long-span), so that a replay that streams the trace in windows has
//    objects crossing windows; a dead one is replaced by the next allocation;
//  - cross-thread frees: a fraction of objects is freed by another thread, always
//    after its allocation in time;
//  - a mix of realloc (realloc_begin + realloc, in place when the size class stays),
//    calloc, memalign/posix_memalign/aligned_alloc and malloc_usable_size;
//  - addresses as an allocator hands them out (AddressSpace): size classes, an arena
//    per thread and a bounded cache per thread and class, all LIFO; a new slot is
//    carved only when the lists are empty.
//    So the same address carries many objects over the trace.
// Same arguments, same bytes (the RNG is our own; no clock or pid is written).
#include <fmt/core.h>

#include <algorithm>
#include <bit>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "mtreplay/traces/trace_builder.hpp"

namespace po = boost::program_options;
using mtreplay::traces::Event;
using mtreplay::traces::Op;

namespace {

// xoshiro256** seeded by splitmix64: fixed output for a seed on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return p > 0 && uniform() < p; }
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  double normal() {  // Box-Muller, one of the pair
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

struct Options {
  uint32_t threads = 4;
  uint64_t events = 1'000'000;
  uint64_t live = 1024;  // short-lived objects live per thread (target)
  std::string lifetime = "exp";
  double long_fraction = 0.01, long_span = 0.9;
  double cross = 0.05;
  double fresh = 0;  // fraction of allocations at an address never used again
  double realloc = 0.05, calloc = 0.03, memalign = 0.01, usable = 0.01;
  uint64_t min_size = 8, max_size = 4096;
  double gap_ns = 100;
  uint64_t seed = 1;
  bool drain = false;
  int zstd_level = 3;
};

struct Object {
  uint64_t death;    // event index (of the whole trace) from which it is due
  uint64_t address;  // recorded address
  uint64_t size;     // requested bytes (count * size for calloc)
  uint64_t slot;     // slot size of its class (what malloc_usable_size says)
  uint32_t owner;    // the thread that allocated it (the one that frees it may differ)
  bool long_lived;
  bool fresh;  // at an address that is never reused (mapped for it, unmapped at its free)
};
struct LaterDeath {
  bool operator()(const Object& a, const Object& b) const { return a.death > b.death; }
};

// Size classes: 16-byte steps up to 1 KiB, then four per power of two; an aligned
// request gets a slot that is a multiple of its alignment. As in glibc, every thread
// has an arena (a heap of 4 GiB from 2^44 + thread * 2^32, new slots of every class
// carved from its top, each aligned to the lowest set bit of its slot size, at most
// 4096, so that an aligned class's slots are all aligned) and a cache per class (a
// tcache): a freed slot goes to the freeing thread's cache, or when that is full to its
// own arena's list for its class. Allocation takes from the thread's cache, then its
// arena's list, then the arena's top. All lists are LIFO. Without cross-thread frees an
// address therefore never moves to another thread.
class AddressSpace {
 public:
  static constexpr size_t kCacheSlots = 32;  // per thread and class
  static constexpr uint64_t kHeapBase = uint64_t{1} << 44, kArenaBytes = uint64_t{1} << 32;

  explicit AddressSpace(uint32_t threads) : threads_(threads) {
    for (uint32_t i = 0; i < threads; ++i) threads_[i].top = kHeapBase + kArenaBytes * i;
  }

  static uint64_t slot_of(uint64_t size, uint64_t align) {
    uint64_t s = std::max<uint64_t>(size, 1), slot;
    if (s <= 1024) {
      slot = (s + 15) / 16 * 16;
    } else {
      const uint64_t step = std::bit_floor(s - 1) / 4;
      slot = (s + step - 1) / step * step;
    }
    if (align > 16) slot = (slot + align - 1) / align * align;
    return slot;
  }

  uint64_t take(uint32_t thread, uint64_t slot) {
    PerThread& t = threads_[thread];
    for (auto* list : {&t.cache[slot], &t.arena[slot]}) {
      if (!list->empty()) {
        const uint64_t address = list->back();
        list->pop_back();
        return address;
      }
    }
    const uint64_t align = std::min<uint64_t>(slot & -slot, 4096);
    const uint64_t address = (t.top + align - 1) / align * align;
    if (address + slot > kHeapBase + kArenaBytes * (uint64_t{thread} + 1))
      throw std::runtime_error(fmt::format("the arena of thread {} is full (4 GiB)", thread));
    t.top = address + slot;
    ++carved_;
    return address;
  }

  void give(uint32_t thread, uint64_t slot, uint64_t address) {
    std::vector<uint64_t>& cache = threads_[thread].cache[slot];
    if (cache.size() < kCacheSlots)
      cache.push_back(address);
    else
      threads_[(address - kHeapBase) / kArenaBytes].arena[slot].push_back(address);
  }

  // A slot at an address never handed out before and never again (as an allocator's
  // mmap for one block, unmapped at its free): page-aligned, from 2^46 up.
  uint64_t fresh(uint64_t slot) {
    const uint64_t address = fresh_top_;
    fresh_top_ += (slot + 4095) / 4096 * 4096;
    if (fresh_top_ > (uint64_t{1} << 47)) throw std::runtime_error("out of fresh addresses");
    ++carved_;
    return address;
  }

  uint64_t addresses() const { return carved_; }  // distinct addresses handed out

 private:
  struct PerThread {
    uint64_t top = 0;                                                  // of its arena
    std::unordered_map<uint64_t, std::vector<uint64_t>> cache, arena;  // by slot size
  };
  std::vector<PerThread> threads_;
  uint64_t carved_ = 0, fresh_top_ = uint64_t{1} << 46;
};

// What the generator wrote, in the terms of `mtreplay info --json` (tests compare).
struct Counts {
  uint64_t events = 0, allocations = 0, releases = 0, cross_thread_releases = 0;
  uint64_t free_null = 0, requested_bytes = 0;
  uint64_t live_objects = 0, live_bytes = 0, peak_live_objects = 0, peak_live_bytes = 0;
  uint64_t by_op[mtreplay::traces::kOpCount] = {};
};

class Generator {
 public:
  Generator(const Options& o, mtreplay::traces::TraceBuilder& out)
      : o_(o), out_(out), rng_(o.seed), space_(o.threads), threads_(o.threads) {
    const double t = o.threads;
    short_mean_ = 2.0 * static_cast<double>(std::max<uint64_t>(o.live, 1)) * t;
    long_target_ = static_cast<uint64_t>(std::llround(o.long_fraction * o.live * t));
    cap_ = 4 * o.live + long_target_ + 1;
    log_min_ = std::log(static_cast<double>(o.min_size));
    log_max_ = std::log(static_cast<double>(o.max_size) + 1);
    for (uint32_t i = 0; i < o.threads; ++i) {
      threads_[i].next_time = 1000 + 5000 * uint64_t{i};
      out_.set_os_tid(i, 1000 + i);
      put_back(i);
    }
  }

  const Counts& run() {
    const uint64_t n = o_.events, t = o_.threads;
    uint32_t unstarted = o_.threads;
    // Main phase: the budget keeps room for the thread_starts not yet written, every
    // thread_exit and, with --drain, one free per live object.
    for (;;) {
      const uint32_t i = take_next();
      Thread& th = threads_[i];
      if (!th.started) {
        emit_thread(i, Op::kThreadStart);
        th.started = true;
        --unstarted;
      } else {
        const uint64_t reserved = unstarted + t + (o_.drain ? c_.live_objects : 0);
        if (c_.events + reserved >= n) {
          put_back(i);
          break;
        }
        step(i, n - c_.events - reserved);
      }
      put_back(i);
    }
    // End phase: threads start if they have not, free what they hold (--drain), exit.
    while (!next_.empty()) {
      const uint32_t i = take_next();
      Thread& th = threads_[i];
      if (!th.started) {
        emit_thread(i, Op::kThreadStart);
        th.started = true;
      } else if (o_.drain && !th.heap.empty()) {
        free_object(i, pop(th));
      } else {
        emit_thread(i, Op::kThreadExit);
        continue;  // gone from the schedule
      }
      put_back(i);
    }
    if (c_.events != n)
      throw std::logic_error(fmt::format("wrote {} events instead of {}", c_.events, n));
    return c_;
  }

  uint64_t addresses() const { return space_.addresses(); }

 private:
  struct Thread {
    std::vector<Object> heap;  // the live objects this thread will release, by death
    uint64_t next_time = 0;
    bool started = false;
  };

  // The schedule: the thread whose next event comes first (ties: the lowest index)
  // is taken out, makes its step, and is put back with its new time.
  uint32_t take_next() {
    const uint32_t i = next_.top().second;
    next_.pop();
    return i;
  }
  void put_back(uint32_t i) { next_.emplace(threads_[i].next_time, i); }

  // One event of thread i, given `budget` events left before the reserve (>= 1).
  void step(uint32_t i, uint64_t budget) {
    Thread& th = threads_[i];
    if (!th.heap.empty() && (th.heap.front().death <= c_.events || th.heap.size() >= cap_)) {
      free_object(i, pop(th));
      return;
    }
    const double r = rng_.uniform();
    const uint64_t alloc_cost = o_.drain ? 2 : 1;  // with --drain, a new object needs its free
    if (r < o_.realloc && !th.heap.empty() && budget >= 2) {
      realloc_object(i);
    } else if (r < o_.realloc + o_.usable && !th.heap.empty()) {
      const Object& obj = th.heap[rng_.below(th.heap.size())];
      Event e = event(i, Op::kUsableSize);
      e.ptr = obj.address;
      e.result = obj.slot;
      emit(e);
    } else if (budget >= alloc_cost) {
      allocate(i);
    } else if (!th.heap.empty()) {
      free_object(i, pop(th));  // the last unit of budget under --drain
    } else {
      Event e = event(i, Op::kFree);  // free(NULL): nothing else fits
      emit(e);
      ++c_.free_null;
    }
  }

  uint64_t draw_size() {
    const double x = std::exp(log_min_ + (log_max_ - log_min_) * rng_.uniform());
    return std::clamp<uint64_t>(static_cast<uint64_t>(x), o_.min_size, o_.max_size);
  }

  uint64_t short_lifetime() {
    double life = short_mean_;
    if (o_.lifetime == "exp") {
      life = rng_.exponential(short_mean_);
    } else if (o_.lifetime == "lognormal") {
      constexpr double kSigma = 1.5;
      life = std::exp(std::log(short_mean_) - kSigma * kSigma / 2 + kSigma * rng_.normal());
    }
    // Until the churn reaches its steady state (one mean lifetime into the trace) an
    // object lives at most as long as the trace so far: every step allocates at first,
    // and without this the live set would overshoot to twice its target.
    const double so_far = static_cast<double>(c_.events);
    if (so_far < short_mean_) life = std::min(life, so_far);
    return 1 + static_cast<uint64_t>(std::min(life, 1e18));
  }

  void allocate(uint32_t i) {
    Event e = event(i, Op::kMalloc);
    uint64_t size = draw_size(), align = 0, requested = size;
    const double r = rng_.uniform() * (1.0 - o_.realloc - o_.usable);
    if (r < o_.calloc) {
      e.op = Op::kCalloc;
      e.count = 1 + rng_.below(16);
      e.size = std::max<uint64_t>(size / e.count, 1);
      requested = e.count * e.size;
    } else if (r < o_.calloc + o_.memalign) {
      static constexpr Op kAligned[] = {Op::kMemalign, Op::kPosixMemalign, Op::kAlignedAlloc};
      e.op = kAligned[rng_.below(3)];
      align = e.align = uint64_t{32} << rng_.below(8);  // 32 .. 4096
      if (e.op == Op::kAlignedAlloc) size = (size + align - 1) / align * align;
      e.size = requested = size;
    } else {
      e.size = size;
    }
    Object obj;
    obj.size = requested;
    obj.slot = AddressSpace::slot_of(requested, align);
    obj.fresh = rng_.chance(o_.fresh);
    obj.address = e.result = obj.fresh ? space_.fresh(obj.slot) : space_.take(i, obj.slot);
    obj.owner = i;
    obj.long_lived = long_live_ < long_target_;
    if (obj.long_lived) {
      ++long_live_;
      const double span = o_.long_span * static_cast<double>(o_.events);
      obj.death = c_.events + static_cast<uint64_t>(span * (0.5 + 0.5 * rng_.uniform()));
    } else {
      obj.death = c_.events + short_lifetime();
    }
    emit(e);
    ++c_.allocations;
    c_.requested_bytes += requested;
    add_live(requested);
    // Who releases it: the allocating thread, or for --cross of them another one.
    uint32_t freer = i;
    if (o_.threads > 1 && rng_.chance(o_.cross))
      freer = (i + 1 + static_cast<uint32_t>(rng_.below(o_.threads - 1))) % o_.threads;
    push(threads_[freer], obj);
  }

  // realloc of a random object this thread holds: in place when the class stays.
  void realloc_object(uint32_t i) {
    Thread& th = threads_[i];
    Object& obj = th.heap[rng_.below(th.heap.size())];
    Event begin = event(i, Op::kReallocBegin);
    begin.ptr = obj.address;
    emit(begin);
    Event e = event(i, Op::kRealloc);
    e.ptr = obj.address;
    e.size = draw_size();
    const uint64_t slot = AddressSpace::slot_of(e.size, 0);
    if (slot == obj.slot) {
      e.result = obj.address;
    } else {
      e.result = space_.take(i, slot);  // the new block first, then the old one goes
      if (!obj.fresh) space_.give(i, obj.slot, obj.address);
      obj.fresh = false;
    }
    emit(e);
    ++c_.releases;
    ++c_.allocations;
    if (obj.owner != i) ++c_.cross_thread_releases;
    c_.requested_bytes += e.size;
    c_.live_bytes -= obj.size;
    --c_.live_objects;
    add_live(e.size);
    obj.address = e.result;
    obj.size = e.size;
    obj.slot = slot;
    obj.owner = i;
  }

  void free_object(uint32_t i, const Object& obj) {
    Event e = event(i, Op::kFree);
    e.ptr = obj.address;
    emit(e);
    if (!obj.fresh) space_.give(i, obj.slot, obj.address);
    ++c_.releases;
    if (obj.owner != i) ++c_.cross_thread_releases;
    --c_.live_objects;
    c_.live_bytes -= obj.size;
    if (obj.long_lived) --long_live_;
  }

  void add_live(uint64_t size) {
    ++c_.live_objects;
    c_.live_bytes += size;
    c_.peak_live_objects = std::max(c_.peak_live_objects, c_.live_objects);
    c_.peak_live_bytes = std::max(c_.peak_live_bytes, c_.live_bytes);
  }

  static void push(Thread& th, const Object& obj) {
    th.heap.push_back(obj);
    std::push_heap(th.heap.begin(), th.heap.end(), LaterDeath{});
  }
  static Object pop(Thread& th) {
    std::pop_heap(th.heap.begin(), th.heap.end(), LaterDeath{});
    Object obj = th.heap.back();
    th.heap.pop_back();
    return obj;
  }

  Event event(uint32_t i, Op op) const {
    Event e;
    e.thread = i;
    e.op = op;
    return e;
  }
  void emit_thread(uint32_t i, Op op) {
    Event e = event(i, op);
    if (op == Op::kThreadStart) e.result = 1000 + i;
    emit(e);
  }
  // Stamps e with its thread's clock, kept above every earlier stamp of the trace
  // (so the merged order is this order), and draws the thread's next gap.
  void emit(Event& e) {
    Thread& th = threads_[e.thread];
    e.time_ns = std::max(th.next_time, last_time_ + 1);
    last_time_ = e.time_ns;
    th.next_time = e.time_ns + 1 + static_cast<uint64_t>(rng_.exponential(o_.gap_ns - 1));
    out_.add(e);
    ++c_.events;
    ++c_.by_op[static_cast<uint8_t>(e.op)];
  }

  const Options& o_;
  mtreplay::traces::TraceBuilder& out_;
  Rng rng_;
  AddressSpace space_;
  std::vector<Thread> threads_;
  std::priority_queue<std::pair<uint64_t, uint32_t>, std::vector<std::pair<uint64_t, uint32_t>>,
                      std::greater<>>
      next_;
  Counts c_;
  double short_mean_ = 0, log_min_ = 0, log_max_ = 0;
  uint64_t long_target_ = 0, long_live_ = 0, cap_ = 0, last_time_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description options("options");
  // clang-format off
  options.add_options()
    ("help,h", "show this help")
    ("threads", po::value(&o.threads)->default_value(o.threads), "recorded threads")
    ("events", po::value(&o.events)->default_value(o.events),
     "events in the trace, exactly (thread_start/exit included; at least 2 per thread)")
    ("live", po::value(&o.live)->default_value(o.live),
     "short-lived objects live per thread (the churn's target)")
    ("lifetime", po::value(&o.lifetime)->default_value(o.lifetime),
     "short lifetimes: exp (exponential), lognormal (sigma 1.5: many very short, a long "
     "tail) or fifo (all the same: a window of --live objects); mean 2*live*threads events")
    ("long", po::value(&o.long_fraction)->default_value(o.long_fraction),
     "long-lived objects, as a fraction of the live set (live*threads)")
    ("long-span", po::value(&o.long_span)->default_value(o.long_span),
     "a long-lived object lives between span/2 and span of the trace's events")
    ("cross", po::value(&o.cross)->default_value(o.cross),
     "fraction of objects freed by another thread than the allocating one")
    ("fresh", po::value(&o.fresh)->default_value(o.fresh),
     "fraction of allocations at an address that is never reused (as mmap'd blocks): "
     "the distinct addresses then grow with the trace")
    ("realloc", po::value(&o.realloc)->default_value(o.realloc),
     "fraction of steps that realloc a live object (realloc_begin + realloc)")
    ("calloc", po::value(&o.calloc)->default_value(o.calloc), "fraction of steps that calloc")
    ("memalign", po::value(&o.memalign)->default_value(o.memalign),
     "fraction of steps that memalign, posix_memalign or aligned_alloc (32..4096)")
    ("usable-size", po::value(&o.usable)->default_value(o.usable),
     "fraction of steps that call malloc_usable_size on a live object")
    ("min-size", po::value(&o.min_size)->default_value(o.min_size), "smallest request")
    ("max-size", po::value(&o.max_size)->default_value(o.max_size),
     "largest request (sizes are log-uniform in between)")
    ("gap-ns", po::value(&o.gap_ns)->default_value(o.gap_ns),
     "mean recorded time between two events of a thread (exponential, >= 1 ns)")
    ("seed", po::value(&o.seed)->default_value(o.seed), "same arguments, same trace")
    ("drain", po::bool_switch(&o.drain), "free every object before the threads exit")
    ("zstd-level", po::value(&o.zstd_level)->default_value(o.zstd_level), "compression level")
    ("json", po::bool_switch(), "print what was written as JSON on stdout (info's terms)")
    ("out", po::value<std::string>(), "output");
  // clang-format on
  po::positional_options_description positional;
  positional.add("out", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "trace_gen: {}\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::ostringstream text;
    text << options;
    fmt::print("usage: trace_gen OUT.mtr [options]\n{}", text.str());
    return 0;
  }
  auto bad = [](const std::string& what) {
    fmt::print(stderr, "trace_gen: {}\n", what);
    return 2;
  };
  if (!vm.count("out")) return bad("no output file (usage: trace_gen OUT.mtr [options])");
  if (o.threads == 0 || o.threads > 4096) return bad("--threads must be 1..4096");
  if (o.events < 2 * uint64_t{o.threads})
    return bad("--events must be at least 2 per thread (thread_start and thread_exit)");
  if (o.lifetime != "exp" && o.lifetime != "lognormal" && o.lifetime != "fifo")
    return bad("--lifetime must be exp, lognormal or fifo");
  for (double f :
       {o.long_fraction, o.long_span, o.cross, o.fresh, o.realloc, o.calloc, o.memalign, o.usable})
    if (!(f >= 0 && f <= 1)) return bad("fractions must be in [0, 1]");
  if (o.realloc + o.usable + o.calloc + o.memalign > 1)
    return bad("--realloc + --usable-size + --calloc + --memalign must not exceed 1");
  if (o.min_size == 0 || o.min_size > o.max_size || o.max_size > (uint64_t{1} << 30))
    return bad("sizes must satisfy 1 <= --min-size <= --max-size <= 1 GiB");
  if (!(o.gap_ns >= 1)) return bad("--gap-ns must be at least 1");

  mtreplay::traces::TraceHeader header;
  header.argv = {"trace_gen",  // every setting, so the trace says how it was made
                 fmt::format("--threads={}", o.threads),
                 fmt::format("--events={}", o.events),
                 fmt::format("--live={}", o.live),
                 fmt::format("--lifetime={}", o.lifetime),
                 fmt::format("--long={}", o.long_fraction),
                 fmt::format("--long-span={}", o.long_span),
                 fmt::format("--cross={}", o.cross),
                 fmt::format("--fresh={}", o.fresh),
                 fmt::format("--realloc={}", o.realloc),
                 fmt::format("--calloc={}", o.calloc),
                 fmt::format("--memalign={}", o.memalign),
                 fmt::format("--usable-size={}", o.usable),
                 fmt::format("--min-size={}", o.min_size),
                 fmt::format("--max-size={}", o.max_size),
                 fmt::format("--gap-ns={}", o.gap_ns),
                 fmt::format("--seed={}", o.seed)};
  if (o.drain) header.argv.push_back("--drain");
  header.argv.push_back(fmt::format("--zstd-level={}", o.zstd_level));
  header.pid = 1000;
  header.ppid = 1;
  header.page_size = 4096;
  header.ticks_per_second = 1'000'000'000;
  header.exe = "trace_gen";
  // One chunk buffer per thread: 256 KiB each up to 256 threads, then 64 MiB shared out
  // (at least 16 KiB each), so that memory stays bounded with many threads too.
  const size_t chunk_bytes = std::clamp<size_t>((size_t{64} << 20) / o.threads, size_t{16} << 10,
                                                mtreplay::traces::TraceBuilder::kDefaultChunkBytes);
  const auto start = std::chrono::steady_clock::now();
  try {
    mtreplay::traces::TraceBuilder builder(vm["out"].as<std::string>(), header, chunk_bytes,
                                           o.zstd_level);
    Generator generator(o, builder);
    const Counts& c = generator.run();
    builder.finish();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (vm["json"].as<bool>()) {
      std::string by_op;
      for (uint8_t op = 1; op < mtreplay::traces::kOpCount; ++op)
        if (c.by_op[op] != 0)
          by_op += fmt::format("{}\"{}\":{}", by_op.empty() ? "" : ",",
                               mtreplay::traces::op_name(static_cast<Op>(op)), c.by_op[op]);
      fmt::print(
          "{{\"events\":{},\"events_by_op\":{{{}}},\"allocations\":{},\"releases\":{},"
          "\"free_null\":{},\"requested_bytes\":{},\"cross_thread_releases\":{},"
          "\"peak_live_objects\":{},\"peak_live_bytes\":{},\"live_objects_at_end\":{},"
          "\"live_bytes_at_end\":{},\"addresses\":{},\"seconds\":{:.3f}}}\n",
          c.events, by_op, c.allocations, c.releases, c.free_null, c.requested_bytes,
          c.cross_thread_releases, c.peak_live_objects, c.peak_live_bytes, c.live_objects,
          c.live_bytes, generator.addresses(), seconds);
    }
    fmt::print(stderr,
               "trace_gen: {} events, {} allocations over {} addresses, peak {} live objects; "
               "{:.1f} s, {:.2f} M events/s\n",
               c.events, c.allocations, generator.addresses(), c.peak_live_objects, seconds,
               static_cast<double>(c.events) / seconds / 1e6);
  } catch (const mtreplay::traces::TraceError& e) {
    fmt::print(stderr, "trace_gen: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "trace_gen: {}\n", e.what());
    return 4;
  }
  return 0;
}
