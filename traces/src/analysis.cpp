// The liveness model (FORMAT.md "Analysis"): an allocation makes its result live with
// its requested size; free, and realloc/reallocarray that return a new block or free
// (size 0), release their ptr; realloc_begin releases ptr provisionally and a failed
// realloc gives it back. A release of an address that is not live is held as pending:
// an allocation that later returns that address turns it into an inversion (the
// recorder stamps a free before the real free and an allocation after it returns, so
// a preempted allocating thread can be stamped after the free of its result);
// otherwise, at the end, it is a double free (the address was live before) or an
// unknown free.
//
// "Was live before" is remembered in a set of the addresses that left the live set (or
// were returned by an inverted allocation) while that set is small. An address is in
// it exactly when an allocation returned it before, so the status of a release that is
// still pending at the end is "some allocation returned the address before its last
// pending release"; when the set overflowed (AnalysisOptions) that is what a second
// pass finds out, for the pending addresses only.
#include <algorithm>
#include <bit>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "mtreplay/traces/analysis.hpp"

namespace mtreplay::traces {
namespace {

struct Live {
  uint64_t size;
  uint64_t time_ns;
  uint32_t thread;
  bool coarse;  // time_ns is a coarse stamp
};

// A thread's runs of coarse stamps: its last reading, and whether events repeated it.
struct Run {
  uint64_t reading_ns = 0;
  bool repeated = false;
};

uint64_t requested(const Event& e) {
  if (e.op == Op::kCalloc || e.op == Op::kReallocArray) {
    unsigned __int128 total = static_cast<unsigned __int128>(e.count) * e.size;
    return total > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(total);
  }
  return e.size;
}

class Analyzer {
 public:
  Analyzer(TraceAnalysis& a, uint64_t released_cap) : a_(a), released_cap_(released_cap) {}

  void on_event(const Event& e) {
    if (a_.events == 0) a_.first_ns = e.time_ns;
    a_.last_ns = e.time_ns;
    ++a_.events;
    ++a_.events_by_op[static_cast<uint8_t>(e.op)];
    ThreadSummary& t = thread(e);
    if (t.events != 0 && e.time_ns < t.last_ns) ++a_.anomalies.clock_regressions;
    Run& run = runs_[e.thread];
    if (e.coarse_time) {
      ++a_.coarse.events;
      run.repeated = true;
    } else {
      if (run.repeated && e.time_ns >= run.reading_ns) {
        const uint64_t span = e.time_ns - run.reading_ns;
        ++a_.coarse.runs;
        a_.coarse.span_sum_ns += span;
        a_.coarse.span_max_ns = std::max(a_.coarse.span_max_ns, span);
      }
      run = {e.time_ns, false};
    }
    if (t.events++ == 0) t.first_ns = e.time_ns;
    t.last_ns = e.time_ns;

    switch (e.op) {
      case Op::kFree:
        if (e.ptr == 0)
          ++a_.free_null;
        else
          release(e.ptr, e);
        break;
      case Op::kReallocBegin:
        if (e.ptr != 0) {
          auto it = live_.find(e.ptr);
          if (it != live_.end()) {
            in_flight_[e.thread] = {e.ptr, it->second};
            remove_live(it);
          } else {
            in_flight_[e.thread] = {e.ptr, std::nullopt};
            release(e.ptr, e);  // not live: counted now, as a free would be
          }
        }
        break;
      case Op::kRealloc:
      case Op::kReallocArray:
        on_realloc(e);
        break;
      case Op::kTouched:
        if (auto it = live_.find(e.ptr); it != live_.end()) {
          ++a_.touched.blocks;
          a_.touched.requested_bytes += it->second.size;
          a_.touched.used_bytes += std::min(e.result, it->second.size);
        }
        break;
      case Op::kThreadExit:
        t.exited = true;
        break;
      case Op::kFork:
        if (e.error != 0)
          ++a_.failed_forks;
        else
          a_.fork_children.push_back(static_cast<uint32_t>(e.result));
        break;
      case Op::kExec:
        ++a_.execs;
        break;
      default:
        if (allocates(e.op)) allocate(e, requested(e));
        break;
    }
  }

  // Whether finish() needs second_pass() first: pending releases whose history the
  // dropped set can no longer tell.
  bool needs_second_pass() const { return released_overflowed_ && !pending_.empty(); }

  // Over the same events again: was_live of every pending address becomes "an
  // allocation returned it before its last pending release".
  void second_pass(MergedReader& again) {
    uint64_t last = 0;
    for (auto& [ptr, p] : pending_) {
      p.was_live = false;
      last = std::max(last, p.last_release);
    }
    Event e;
    for (uint64_t index = 0; index < last && again.next(e); ++index) {
      if (!allocates(e.op) || e.result == 0) continue;
      auto it = pending_.find(e.result);
      if (it != pending_.end() && index < it->second.last_release) it->second.was_live = true;
    }
  }

  void finish() {
    a_.lifetimes.never_freed = live_.size();
    a_.live_objects_at_end = live_.size();
    a_.live_bytes_at_end = live_bytes_;
    for (auto& [ptr, p] : pending_) {
      if (p.was_live)
        a_.anomalies.double_frees += p.count;
      else
        a_.anomalies.unknown_frees += p.count;
    }
  }

 private:
  struct Pending {
    uint64_t count = 0;
    uint64_t last_release = 0;  // index of the last release counted, in merged order
    bool was_live = false;
  };
  struct InFlight {
    uint64_t ptr = 0;
    std::optional<Live> object;  // the block realloc_begin released, if it was live
  };

  ThreadSummary& thread(const Event& e) {
    auto [it, fresh] = thread_slot_.try_emplace(e.thread, a_.threads.size());
    if (fresh) a_.threads.push_back({.index = e.thread});
    return a_.threads[it->second];
  }

  void remove_live(std::unordered_map<uint64_t, Live>::iterator it) {
    live_bytes_ -= it->second.size;
    remember_released(it->first);
    live_.erase(it);
  }

  void remember_released(uint64_t ptr) {
    if (released_overflowed_) return;
    ever_live_.insert(ptr);
    if (ever_live_.size() > released_cap_) {
      released_overflowed_ = true;
      std::unordered_set<uint64_t>().swap(ever_live_);  // its memory goes back now
    }
  }

  // ptr leaves the heap by e (a free, or a realloc that moved or freed it).
  void release(uint64_t ptr, const Event& e) {
    ++a_.releases;
    ++thread(e).releases;
    auto it = live_.find(ptr);
    if (it == live_.end()) {
      Pending& p = pending_[ptr];
      ++p.count;
      p.last_release = a_.events - 1;
      p.was_live = p.was_live || ever_live_.count(ptr) > 0;
      return;
    }
    retire(it->second, e);
    remove_live(it);
  }

  void retire(const Live& obj, const Event& e) {
    if (obj.coarse || e.coarse_time) ++a_.coarse.lifetimes;
    if (e.coarse_time && obj.thread == e.thread && obj.time_ns == e.time_ns)
      ++a_.lifetimes.unresolved;  // allocated and released within one coarse run
    else
      a_.lifetimes.add(e.time_ns >= obj.time_ns ? e.time_ns - obj.time_ns : 0);
    if (obj.thread != e.thread) ++a_.cross_thread_releases;
  }

  void allocate(const Event& e, uint64_t size) {
    a_.sizes.add(size);
    if (e.result == 0) {
      ++a_.failed_allocations;
      return;
    }
    ++a_.allocations;
    ++thread(e).allocations;
    a_.requested_bytes += size;
    auto pending = pending_.find(e.result);
    if (pending != pending_.end()) {
      // Its free was stamped first: the object lived and died around this point.
      ++a_.anomalies.inversions;
      if (--pending->second.count == 0) pending_.erase(pending);
      remember_released(e.result);
      return;
    }
    auto [it, fresh] = live_.try_emplace(e.result, Live{size, e.time_ns, e.thread, e.coarse_time});
    if (!fresh) {
      // Allocated twice without a release in between: the missing release is unknown.
      live_bytes_ -= it->second.size;
      it->second = Live{size, e.time_ns, e.thread, e.coarse_time};
    }
    live_bytes_ += size;
    if (live_bytes_ > a_.peak_live_bytes) {
      a_.peak_live_bytes = live_bytes_;
      a_.peak_live_bytes_ns = e.time_ns;
    }
    if (live_.size() > a_.peak_live_objects) {
      a_.peak_live_objects = live_.size();
      a_.peak_live_objects_ns = e.time_ns;
    }
  }

  void on_realloc(const Event& e) {
    std::optional<InFlight> begun;
    if (auto it = in_flight_.find(e.thread); it != in_flight_.end()) {
      if (it->second.ptr == e.ptr) begun = it->second;
      in_flight_.erase(it);
    }
    const bool failed = e.result == 0 && requested(e) != 0;
    const bool frees_only = e.result == 0 && requested(e) == 0;
    if (begun) {
      // realloc_begin already took ptr out; a failed call gives it back.
      if (begun->object) {
        if (failed) {
          live_.emplace(e.ptr, *begun->object);
          live_bytes_ += begun->object->size;
        } else {
          ++a_.releases;
          ++thread(e).releases;
          retire(*begun->object, e);
        }
      }
    } else if (e.ptr != 0 && !failed) {
      release(e.ptr, e);
    }
    if (frees_only) return;
    if (e.ptr == 0 || !failed) {
      allocate(e, requested(e));
    } else {
      a_.sizes.add(requested(e));
      ++a_.failed_allocations;
    }
  }

  TraceAnalysis& a_;
  std::unordered_map<uint64_t, Live> live_;
  uint64_t live_bytes_ = 0;
  const uint64_t released_cap_;
  std::unordered_set<uint64_t> ever_live_;  // addresses once live, up to released_cap_
  bool released_overflowed_ = false;        // ever_live_ was dropped
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<uint32_t, InFlight> in_flight_;
  std::unordered_map<uint32_t, size_t> thread_slot_;
  std::unordered_map<uint32_t, Run> runs_;
};

}  // namespace

void SizeHistogram::add(uint64_t size) {
  ++counts[size == 0 ? 0 : (size == 1 ? 1 : std::bit_width(size - 1))];
}

uint64_t SizeHistogram::upper_bound(size_t bucket) {
  if (bucket == 0) return 0;
  return bucket >= 64 ? UINT64_MAX : uint64_t{1} << bucket;
}

void LifetimeHistogram::add(uint64_t age_ns) {
  size_t bucket = 0;
  for (uint64_t limit = 100; bucket + 1 < kBuckets && age_ns >= limit; limit *= 10) ++bucket;
  ++counts[bucket];
}

std::string LifetimeHistogram::label(size_t bucket) {
  static const char* const kLabels[kBuckets] = {"<100ns", "<1us",   "<10us", "<100us", "<1ms",
                                                "<10ms",  "<100ms", "<1s",   "<10s",   ">=10s"};
  return kLabels[bucket];
}

TraceAnalysis analyze(MergedReader& reader, const AnalysisOptions& options) {
  TraceAnalysis a;
  a.header = reader.header();
  a.summary = reader.summary();
  Analyzer analyzer(a, options.released_addresses_cap);
  Event e;
  while (reader.next(e)) analyzer.on_event(e);
  if (analyzer.needs_second_pass()) {
    MergedReader again(reader.path());
    again.set_progress(reader.progress());
    analyzer.second_pass(again);
  }
  analyzer.finish();
  // Thread ids come from the frame headers; order threads by index.
  for (ThreadSummary& t : a.threads)
    for (const ThreadInfo& info : reader.threads())
      if (info.index == t.index) t.os_tid = info.os_tid;
  std::sort(a.threads.begin(), a.threads.end(),
            [](const ThreadSummary& x, const ThreadSummary& y) { return x.index < y.index; });
  return a;
}

}  // namespace mtreplay::traces
