// The recorder against its own workload: every kind of call, counted exactly, with
// exact arguments and results; fork, exec, _exit and thread exit losing nothing.
#include <gtest/gtest.h>

#include <signal.h>
#include <algorithm>

#include <cerrno>
#include <set>

#include "mtreplay/allocators/registry.hpp"
#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/format.hpp"
#include "recorder_test_support.hpp"
#include "workload_markers.hpp"

namespace mtreplay::recorder_test {
namespace {

using traces::Event;
using traces::Op;

#define SKIP_IF_SANITIZED()                           \
  if (std::string_view(MTREPLAY_SANITIZE_MODE) != "") \
  GTEST_SKIP() << "preloading libmhook.so into a sanitized build is meaningless"

RunResult run_workload(const TempDir& dir, const std::string& mode,
                       std::vector<std::string> extra_env = {}, const std::string& arg = "") {
  extra_env.push_back("LD_PRELOAD=" + mhook_library().string());
  extra_env.push_back("MHOOK_OUTPUT=" + (dir.path() / "w.%p.mtr").string());
  std::vector<std::string> argv{workload_program().string(), mode};
  if (!arg.empty()) argv.push_back(arg);
  return run({argv, extra_env, dir.path(), ""});
}

size_t count_if_size(const std::vector<Event>& events, Op op, size_t size) {
  return std::count_if(events.begin(), events.end(),
                       [&](const Event& e) { return e.op == op && e.size == size; });
}

const Event* find_size(const std::vector<Event>& events, Op op, size_t size) {
  for (const auto& e : events)
    if (e.op == op && e.size == size) return &e;
  return nullptr;
}

// Which thread index ran worker k: the one whose first marker malloc has its size.
std::map<int, uint32_t> worker_threads(const ReadTrace& t) {
  std::map<int, uint32_t> out;
  for (const auto& [index, events] : t.threads)
    for (int k = 0; k < kWorkerThreads; ++k)
      if (find_size(events, Op::kMalloc, marker_size(k, kMallocCrossFreed))) out[k] = index;
  return out;
}

void expect_thread_bracketed(const ReadTrace& t) {
  for (const auto& [index, events] : t.threads) {
    ASSERT_FALSE(events.empty());
    // Times are ns since the trace started (a test run is far below 100 s) and a
    // thread's own events are in time order.
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_LT(events[i].time_ns, 100'000'000'000u) << "thread " << index << " event " << i;
      if (i) {
        EXPECT_LE(events[i - 1].time_ns, events[i].time_ns) << "thread " << index << " event " << i;
      }
    }
    EXPECT_EQ(events.front().op, Op::kThreadStart) << "thread " << index;
    EXPECT_EQ(events.front().result, t.os_tid.at(index)) << "thread " << index;
    EXPECT_EQ(events.back().op, Op::kThreadExit) << "thread " << index;
    EXPECT_EQ(of_op(events, Op::kThreadExit).size(), 1u) << "thread " << index;
  }
}

TEST(RecorderWorkload, EveryKindCountedExactlyPerThread) {
  SKIP_IF_SANITIZED();
  TempDir dir("kinds");
  const RunResult r = run_workload(dir, "kinds");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "kinds done\n");
  EXPECT_EQ(r.err, "");
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const ReadTrace t = read_trace(files[0]);
  EXPECT_TRUE(t.summary.complete);
  EXPECT_EQ(t.summary.truncated_bytes, 0u);
  expect_thread_bracketed(t);
  // main + kWorkerThreads; the recorder's writer thread never records.
  EXPECT_EQ(t.threads.size(), static_cast<size_t>(kWorkerThreads) + 1);

  const auto workers = worker_threads(t);
  ASSERT_EQ(workers.size(), static_cast<size_t>(kWorkerThreads));
  std::set<uint32_t> distinct;
  for (auto [k, index] : workers) distinct.insert(index);
  EXPECT_EQ(distinct.size(), workers.size());

  const size_t n = kIterations;
  for (auto [k, index] : workers) {
    SCOPED_TRACE("worker " + std::to_string(k));
    const auto& ev = t.threads.at(index);
    auto sz = [&](Marker m) { return marker_size(k, m); };

    // Cross-thread frees: every pointer this worker got is freed, exactly once, by
    // the next worker, after it was allocated.
    const auto& next = t.threads.at(workers.at((k + 1) % kWorkerThreads));
    std::multiset<uint64_t> freed_by_next;
    for (const auto& e : of_op(next, Op::kFree)) freed_by_next.insert(e.ptr);
    EXPECT_EQ(count_if_size(ev, Op::kMalloc, sz(kMallocCrossFreed)), n);
    for (const auto& e : ev) {
      if (e.op != Op::kMalloc || e.size != sz(kMallocCrossFreed)) continue;
      EXPECT_NE(e.result, 0u);
      EXPECT_EQ(freed_by_next.count(e.result), 1u);
    }

    EXPECT_EQ(count_if_size(ev, Op::kCalloc, sz(kCalloc)), n);
    for (const auto& e : ev)
      if (e.op == Op::kCalloc && e.size == sz(kCalloc)) {
        EXPECT_EQ(e.count, 3u);
      }

    // realloc: begin (ptr) right before the realloc itself, with the same ptr.
    EXPECT_EQ(count_if_size(ev, Op::kRealloc, sz(kReallocTo)), n);
    EXPECT_EQ(count_if_size(ev, Op::kReallocArray, sz(kReallocArray)), n);
    size_t begins_checked = 0;
    for (size_t i = 1; i < ev.size(); ++i) {
      const Event& e = ev[i];
      if ((e.op == Op::kRealloc && e.size == sz(kReallocTo)) ||
          (e.op == Op::kReallocArray && e.size == sz(kReallocArray))) {
        EXPECT_EQ(ev[i - 1].op, Op::kReallocBegin);
        EXPECT_EQ(ev[i - 1].ptr, e.ptr);
        EXPECT_NE(e.result, 0u);
        if (e.op == Op::kReallocArray) {
          EXPECT_EQ(e.count, 2u);
        }
        ++begins_checked;
      }
    }
    EXPECT_EQ(begins_checked, 2 * n);

    for (const auto& e : ev) {
      if (e.op == Op::kMemalign && e.size == sz(kMemalign)) {
        EXPECT_EQ(e.align, 64u);
        EXPECT_EQ(e.result % 64, 0u);
      }
      if (e.op == Op::kPosixMemalign && e.size == sz(kPosixMemalign)) {
        EXPECT_EQ(e.align, 128u);
        EXPECT_EQ(e.error, 0);
        EXPECT_EQ(e.result % 128, 0u);
      }
      if (e.op == Op::kAlignedAlloc && e.size == kAlignedAllocUnit * sz(kAlignedAlloc)) {
        EXPECT_EQ(e.align, kAlignedAllocUnit);
      }
      if ((e.op == Op::kValloc && e.size == sz(kValloc)) ||
          (e.op == Op::kPvalloc && e.size == sz(kPvalloc))) {
        EXPECT_EQ(e.result % 4096, 0u);
      }
    }
    EXPECT_EQ(count_if_size(ev, Op::kMemalign, sz(kMemalign)), n);
    EXPECT_EQ(count_if_size(ev, Op::kPosixMemalign, sz(kPosixMemalign)), n);
    EXPECT_EQ(count_if_size(ev, Op::kAlignedAlloc, kAlignedAllocUnit * sz(kAlignedAlloc)), n);
    EXPECT_EQ(count_if_size(ev, Op::kValloc, sz(kValloc)), n);
    EXPECT_EQ(count_if_size(ev, Op::kPvalloc, sz(kPvalloc)), n);

    // malloc_usable_size: recorded with the pointer of the malloc before it.
    size_t usable = 0;
    for (size_t i = 1; i < ev.size(); ++i) {
      if (ev[i].op != Op::kUsableSize || ev[i - 1].size != sz(kUsableSize)) continue;
      EXPECT_EQ(ev[i].ptr, ev[i - 1].result);
      EXPECT_GE(ev[i].result, sz(kUsableSize));
      ++usable;
    }
    EXPECT_EQ(usable, n);

    // Failures, recorded with their error.
    const Event* huge = nullptr;
    for (const auto& e : ev)
      if (e.op == Op::kMalloc && e.size == kHugeMallocBase - static_cast<size_t>(k)) huge = &e;
    ASSERT_NE(huge, nullptr);
    EXPECT_EQ(huge->result, 0u);
    EXPECT_EQ(huge->error, ENOMEM);
    const Event* bad = find_size(ev, Op::kPosixMemalign, sz(kBadAlignment));
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->align, 24u);
    EXPECT_EQ(bad->error, EINVAL);
    EXPECT_EQ(bad->result, 0u);
    const Event* zero_from = find_size(ev, Op::kMalloc, sz(kReallocToZero));
    ASSERT_NE(zero_from, nullptr);
    bool found_zero = false;
    for (const auto& e : ev) {
      if (e.op == Op::kRealloc && e.ptr == zero_from->result && e.size == 0) {
        EXPECT_EQ(e.result, 0u);
        found_zero = true;
      }
    }
    EXPECT_TRUE(found_zero);
    const Event* overflow = find_size(ev, Op::kCalloc, sz(kCallocOverflow));
    ASSERT_NE(overflow, nullptr);
    EXPECT_EQ(overflow->count, SIZE_MAX / 8);
    EXPECT_EQ(overflow->result, 0u);
    EXPECT_EQ(overflow->error, ENOMEM);

    // A thread's own events are in time order.
    for (size_t i = 1; i < ev.size(); ++i) EXPECT_LE(ev[i - 1].time_ns, ev[i].time_ns);
  }
}

TEST(RecorderWorkload, ForkedChildWritesItsOwnLinkedTrace) {
  SKIP_IF_SANITIZED();
  TempDir dir("fork");
  const RunResult r = run_workload(dir, "fork");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 2u);
  ReadTrace a = read_trace(files[0]), b = read_trace(files[1]);
  ReadTrace& parent = a.header.parent_trace_pid == 0 ? a : b;
  ReadTrace& child = a.header.parent_trace_pid == 0 ? b : a;
  EXPECT_TRUE(parent.summary.complete);
  EXPECT_TRUE(child.summary.complete);
  EXPECT_EQ(child.header.parent_trace_pid, parent.header.pid);
  EXPECT_EQ(child.header.ppid, parent.header.pid);
  EXPECT_EQ(r.out, "child " + std::to_string(child.header.pid) + "\n");

  ASSERT_EQ(parent.threads.size(), 1u);
  const auto& pe = parent.threads.begin()->second;
  const auto forks = of_op(pe, Op::kFork);
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0].result, child.header.pid);
  const Event* before = find_size(pe, Op::kMalloc, marker_size(0, kBeforeFork));
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(count_if_size(pe, Op::kMalloc, marker_size(0, kInChild)), 0u);

  ASSERT_EQ(child.threads.size(), 1u);
  EXPECT_EQ(child.threads.begin()->first, 0u);
  const auto& ce = child.threads.begin()->second;
  EXPECT_EQ(ce.front().op, Op::kThreadStart);
  EXPECT_EQ(ce.front().result, child.header.pid);
  EXPECT_EQ(count_if_size(ce, Op::kMalloc, marker_size(0, kInChild)), 1u);
  EXPECT_EQ(count_if_size(ce, Op::kMalloc, marker_size(0, kBeforeFork)), 0u);
  // The child frees the parent's pre-fork pointer: recorded in the child's trace.
  EXPECT_EQ(of_op(ce, Op::kFree).size() >= 2, true);
  bool freed_inherited = false;
  for (const auto& e : of_op(ce, Op::kFree)) freed_inherited |= e.ptr == before->result;
  EXPECT_TRUE(freed_inherited);
}

TEST(RecorderWorkload, NoForkFollowingLeavesOneTrace) {
  SKIP_IF_SANITIZED();
  TempDir dir("nofork");
  const RunResult r = run_workload(dir, "fork", {"MHOOK_FOLLOW_FORK=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(traces_in(dir.path()).size(), 1u);
  const ReadTrace t = read_trace(traces_in(dir.path())[0]);
  EXPECT_EQ(of_op(t.threads.begin()->second, Op::kFork).size(), 1u);
}

TEST(RecorderWorkload, ExecKeepsEventsBeforeAndTracesTheNewImage) {
  SKIP_IF_SANITIZED();
  TempDir dir("exec");
  const RunResult r = run_workload(dir, "exec");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "exec target done\n");
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 2u);
  // w.<pid>.mtr is the first image, w.<pid>.1.mtr the image after exec.
  const ReadTrace first =
      read_trace(files[0].string().size() < files[1].string().size() ? files[0] : files[1]);
  const ReadTrace second =
      read_trace(files[0].string().size() < files[1].string().size() ? files[1] : files[0]);
  EXPECT_EQ(first.header.pid, second.header.pid);
  EXPECT_EQ(second.header.parent_trace_pid, first.header.pid);
  // The first image ends with an end record written just before the exec; the failed
  // exec before it had written one too, removed again when recording went on.
  EXPECT_TRUE(first.summary.complete);
  EXPECT_EQ(first.summary.end_reason, traces::EndReason::kExec);
  EXPECT_GE(first.summary.unrecorded_calls, 1u) << "dlsym's calloc at least";
  const auto& fe = first.threads.at(0);
  EXPECT_EQ(count_if_size(fe, Op::kMalloc, marker_size(0, kBeforeExec)), 1u);
  EXPECT_EQ(count_if_size(fe, Op::kMalloc, marker_size(0, kAfterFailedExec)), 1u);
  EXPECT_EQ(of_op(fe, Op::kExec).size(), 2u);  // the failed one and the real one
  EXPECT_EQ(fe.back().op, Op::kExec);
  // The other thread never filled its chunk: its events were saved at the failed exec,
  // and not again at the real one.
  size_t idle_marker = 0;
  for (const auto& [index, ev] : first.threads)
    idle_marker += count_if_size(ev, Op::kMalloc, marker_size(1, kThreadAtExec));
  EXPECT_EQ(idle_marker, 1u);
  EXPECT_TRUE(second.summary.complete);
  EXPECT_EQ(second.summary.end_reason, traces::EndReason::kExit);
  EXPECT_EQ(count_if_size(second.threads.at(0), Op::kMalloc, marker_size(0, kAfterExec)), 1u);
  EXPECT_EQ(second.header.argv.size(), 2u);
}

// Large blocks: the releasing call is preceded by a kTouched event saying how much of
// the block the program used, measured as its resident pages (fresh pages here: the
// workload's blocks are new mappings, so every mode counts them right), and to the byte
// where the pages were dropped and the ends zeroed at the allocation; with MHOOK_TOUCHED=exact
// the program's data survives the pages dropped under it (the workload checks what it
// wrote and calloc's zeros itself). A realloc'd block is measured before it moves and
// its successor, whose contents realloc kept, is not; a block never freed is measured at
// the exit. MHOOK_TOUCHED=0 records none.
TEST(RecorderWorkload, LargeBlocksRecordTheBytesTheProgramTouched) {
  SKIP_IF_SANITIZED();
  for (const char* mode : {"1", "resident", "exact"}) {
    SCOPED_TRACE(mode);
    TempDir dir(std::string("touched-") + mode);
    const RunResult r = run_workload(dir, "touched", {std::string("MHOOK_TOUCHED=") + mode});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
    const auto& ev = t.threads.at(0);
    // The used bytes recorded just before the event releasing the block of `marker`.
    auto used = [&](Marker marker, Op op) -> int64_t {
      const Event* made = find_size(ev, op, touched_bytes(marker));
      if (!made) return -1;
      for (size_t i = 1; i < ev.size(); ++i)
        if ((ev[i].op == Op::kFree || ev[i].op == Op::kReallocBegin) && ev[i].ptr == made->result)
          return ev[i - 1].op == Op::kTouched && ev[i - 1].ptr == made->result
                     ? static_cast<int64_t>(ev[i - 1].result)
                     : -2;
      return -3;
    };
    const auto size = [](Marker m) { return static_cast<int64_t>(touched_bytes(m)); };
    EXPECT_LT(used(kTouchedSparse, Op::kMalloc), 12 * 1024);
    EXPECT_GE(used(kTouchedSparse, Op::kMalloc), 0);
    // Where the pages were dropped (exact, and auto for a class not yet seen to fill
    // its blocks), the contents say it to the byte: the program wrote 100.
    const bool dropped = std::string(mode) != "resident";
    if (dropped) {
      EXPECT_EQ(used(kTouchedSparse, Op::kMalloc), 100);
    }
    EXPECT_EQ(used(kTouchedFull, Op::kMalloc), size(kTouchedFull));
    EXPECT_EQ(used(kTouchedAligned, Op::kPosixMemalign), size(kTouchedAligned));
    EXPECT_GE(used(kTouchedCalloc, Op::kCalloc), size(kTouchedCalloc) / 2);
    EXPECT_LE(used(kTouchedCalloc, Op::kCalloc), size(kTouchedCalloc));
    const int64_t before_realloc = used(kTouchedRealloc, Op::kMalloc);
    EXPECT_GE(before_realloc, 0);
    EXPECT_LT(before_realloc, 12 * 1024);
    if (dropped) {
      EXPECT_EQ(before_realloc, 100);
    }
    // The block never freed is measured as the process exits.
    const Event* leaked = find_size(ev, Op::kMalloc, touched_bytes(kTouchedLeaked));
    ASSERT_NE(leaked, nullptr);
    const auto at_exit = std::find_if(ev.begin(), ev.end(), [&](const Event& e) {
      return e.op == Op::kTouched && e.ptr == leaked->result;
    });
    ASSERT_NE(at_exit, ev.end());
    EXPECT_LT(at_exit->result, 12u * 1024);
    if (dropped) {
      EXPECT_EQ(at_exit->result, 100u);
    }
    const size_t touched = count_if_size(ev, Op::kTouched, 0);
    EXPECT_EQ(touched, 6u) << "the realloc'd block's successor is not measured";
  }

  TempDir off("touched-off");
  const RunResult r_off = run_workload(off, "touched", {"MHOOK_TOUCHED=0"});
  ASSERT_EQ(r_off.exit_code, 0) << r_off.err;
  EXPECT_EQ(count_if_size(read_trace(traces_in(off.path()).at(0)).threads.at(0), Op::kTouched, 0),
            0u);
}

// Coarse stamps while main records alone, before and after a second thread; the merged
// order keeps every event of main from before the create ahead of the new thread, no
// reuse of an address is inverted, and a thread's own times never go back.
TEST(RecorderWorkload, CoarseStampsOnlyWhileAlone) {
  SKIP_IF_SANITIZED();
  TempDir dir("alone");
  const RunResult r = run_workload(dir, "alone");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const ReadTrace t = read_trace(files[0]);
  EXPECT_EQ(t.header.version, 6u);
  ASSERT_EQ(t.threads.size(), 2u);
  const auto& main_events = t.threads.at(0);
  const auto& worker_events = t.threads.at(1);
  auto coarse_of = [](const std::vector<Event>& ev, size_t size) {
    size_t n = 0, coarse = 0;
    for (const auto& e : ev) {
      if (e.op != Op::kMalloc || e.size != size) continue;
      ++n;
      coarse += e.coarse_time;
    }
    EXPECT_EQ(n, size == marker_size(0, kHandedOver) ? 100u : 1000u) << size;
    return coarse;
  };
  // Runs of 64 events, cut short by the writer's ticks: most events repeat a reading.
  EXPECT_GE(coarse_of(main_events, marker_size(0, kAloneBefore)), 500u);
  EXPECT_GE(coarse_of(main_events, marker_size(0, kAloneAfter)), 500u);
  coarse_of(main_events, marker_size(0, kMainWhileTwo));  // either, by timing
  coarse_of(worker_events, marker_size(0, kWorkerWhileTwo));
  // A thread waiting in pthread_join records nothing: the other one runs coarsely.
  EXPECT_GE(coarse_of(worker_events, marker_size(0, kWorkerAlone)), 500u);
  // Every event of main before the create is stamped before the new thread's first.
  ASSERT_FALSE(worker_events.empty());
  const uint64_t worker_start = worker_events.front().time_ns;
  for (const auto& e : main_events) {
    if (e.size == marker_size(0, kAloneBefore) || e.size == marker_size(0, kHandedOver)) {
      EXPECT_LE(e.time_ns, worker_start);
    }
  }
  traces::MergedReader merged(files[0]);
  const traces::TraceAnalysis a = traces::analyze(merged);
  EXPECT_EQ(a.anomalies.inversions, 0u);
  EXPECT_EQ(a.anomalies.clock_regressions, 0u);
  EXPECT_EQ(a.anomalies.unknown_frees + a.anomalies.double_frees, 0u);
  EXPECT_GE(a.cross_thread_releases, 100u);  // and std::thread's own state
  EXPECT_GE(a.coarse.events, 1000u);
  EXPECT_GT(a.lifetimes.unresolved, 0u);
}

// Two threads recording flat out on one CPU: the writer has no core of its own and
// stores chunks (zstd's fastest level) instead of compressing them. Nothing is lost and
// the order holds: exact counts, no inversions, no double or unknown frees.
TEST(RecorderWorkload, StoredChunksWhenTheWriterHasNoCoreLoseNothing) {
  SKIP_IF_SANITIZED();
  TempDir dir("race");
  const RunResult r = run_workload(dir, "race");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 2u);  // the image that pinned itself, then the pinned one
  const auto pinned = files[0].string().ends_with(".1.mtr") ? files[0] : files[1];
  const ReadTrace t = read_trace(pinned);
  size_t loops[2] = {}, handed = 0;
  for (const auto& [index, events] : t.threads) {
    for (const auto& e : events) {
      for (int k = 0; k < 2; ++k) loops[k] += e.op == Op::kMalloc && e.size == race_loop_size(k);
      handed += e.op == Op::kMalloc && e.size == kRaceHandedSize;
    }
  }
  EXPECT_EQ(loops[0], size_t{kRacePairs});
  EXPECT_EQ(loops[1], size_t{kRacePairs});
  EXPECT_EQ(handed, size_t{kRacePairs / kRaceHandEvery});
  traces::MergedReader merged(pinned);
  const traces::TraceAnalysis a = traces::analyze(merged);
  EXPECT_EQ(a.anomalies.inversions, 0u);
  EXPECT_EQ(a.anomalies.clock_regressions, 0u);
  EXPECT_EQ(a.anomalies.unknown_frees + a.anomalies.double_frees, 0u);
  // Some frames were stored: at least 2 bytes per event on disk, where the same rows
  // compressed take well under one (a constant size in every malloc).
  traces::ChunkReader chunks(pinned);
  traces::Chunk c;
  std::vector<std::pair<uint64_t, uint32_t>> frames;  // offset, events
  while (chunks.next(c)) frames.emplace_back(c.file_offset, c.info.event_count);
  size_t stored = 0, compressed = 0;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    if (frames[i].second < 1000) continue;
    const double per_event =
        static_cast<double>(frames[i + 1].first - frames[i].first) / frames[i].second;
    (per_event >= 2.0 ? stored : compressed) += 1;
  }
  EXPECT_GT(stored, 0u) << compressed << " compressed";
}

TEST(RecorderWorkload, ExitNowLosesNothingIncludingIdleThreads) {
  SKIP_IF_SANITIZED();
  TempDir dir("exitnow");
  const RunResult r = run_workload(dir, "exit-now");
  ASSERT_EQ(r.exit_code, 3) << r.err;
  const auto files = traces_in(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const ReadTrace t = read_trace(files[0]);
  EXPECT_TRUE(t.summary.complete);
  size_t main_marker = 0, idle_marker = 0;
  for (const auto& [index, ev] : t.threads) {
    main_marker += count_if_size(ev, Op::kMalloc, marker_size(0, kBeforeExitNow));
    idle_marker += count_if_size(ev, Op::kMalloc, marker_size(1, kIdleThread));
  }
  EXPECT_EQ(main_marker, 1u);
  EXPECT_EQ(idle_marker, 1u);
  expect_thread_bracketed(t);
}

TEST(RecorderWorkload, AllocationsInLateTlsDestructorsAreKept) {
  SKIP_IF_SANITIZED();
  TempDir dir("tlsexit");
  const RunResult r = run_workload(dir, "tls-exit");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  size_t tls_marker = 0, key_marker = 0;
  for (const auto& [index, ev] : t.threads) {
    tls_marker += count_if_size(ev, Op::kMalloc, marker_size(0, kInTlsDestructor));
    key_marker += count_if_size(ev, Op::kMalloc, marker_size(0, kInKeyDestructor));
  }
  EXPECT_EQ(tls_marker, 3u);
  EXPECT_EQ(key_marker, 3u);
  expect_thread_bracketed(t);
}

// jemalloc, tcmalloc, mimalloc and scudo define the C++ operators themselves: preloaded
// after libmhook.so (or linked into the program), they took every new and delete past
// the recorder. Each operator is now recorded as the call it is made of, once, whatever
// allocator sits behind.
TEST(RecorderWorkload, CxxOperatorsRecordedWhateverAllocatorIsBehind) {
  SKIP_IF_SANITIZED();
  const std::map<Marker, Op> kinds{{kCxxNew, Op::kMalloc},
                                   {kCxxNewArray, Op::kMalloc},
                                   {kCxxNewAligned, Op::kMemalign},
                                   {kCxxNewNothrow, Op::kMalloc},
                                   {kCxxNewArrayAligned, Op::kMemalign}};
  int behind = 0;
  for (const auto& backend : allocators::known_backends(MTREPLAY_LIB_DIR)) {
    if (!backend.available || backend.package.empty()) continue;  // glibc and Debian's peers
    SCOPED_TRACE(backend.name);
    ++behind;
    TempDir dir("cxx");
    std::string preload = mhook_library().string();
    if (!backend.path.empty()) preload += " " + backend.path.string();
    const RunResult r =
        run({{workload_program().string(), "cxx"},
             {"LD_PRELOAD=" + preload, "MHOOK_OUTPUT=" + (dir.path() / "w.%p.mtr").string()},
             dir.path(),
             ""});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
    const std::vector<Event>& main_events = t.threads.at(0);
    for (const auto& [marker, op] : kinds) {
      std::set<uint64_t> freed;
      size_t made = 0;
      for (size_t i = 0; i < main_events.size(); ++i) {
        const Event& e = main_events[i];
        if (e.op != op || e.size != marker_size(0, marker)) continue;
        ++made;
        if (op == Op::kMemalign) {
          EXPECT_EQ(e.align, kCxxAlignment);
        }
        for (size_t j = i + 1; j < main_events.size(); ++j) {
          if (main_events[j].op == Op::kFree && main_events[j].ptr == e.result) {
            freed.insert(j);
            break;
          }
        }
      }
      EXPECT_EQ(made, static_cast<size_t>(kIterations)) << "marker " << marker;
      EXPECT_EQ(freed.size(), static_cast<size_t>(kIterations)) << "marker " << marker;
    }
  }
  EXPECT_GE(behind, 1);
}

// An operator new that cannot be served: the failed malloc is recorded, and the next
// operator (libstdc++'s) throws std::bad_alloc through the recorder, or returns nullptr.
TEST(RecorderWorkload, CxxOperatorNewOutOfMemoryThrowsThroughTheRecorder) {
  SKIP_IF_SANITIZED();
  TempDir dir("cxxoom");
  const RunResult r = run_workload(dir, "cxx-oom");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  const std::vector<Event>& main_events = t.threads.at(0);
  // Ours for each request, and libstdc++'s retries through our malloc (how many is its
  // business: its nothrow form calls the throwing one, which is ours again).
  EXPECT_GE(std::count_if(main_events.begin(), main_events.end(),
                          [](const Event& e) {
                            return e.op == Op::kMalloc && e.size == kCxxHugeNew && e.result == 0;
                          }),
            2);
}

TEST(RecorderWorkload, MainThreadExitingFirstStillEndsTheProcess) {
  SKIP_IF_SANITIZED();
  TempDir dir("mainexits");
  const RunResult r = run_workload(dir, "main-exits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "last thread done\n");
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  EXPECT_TRUE(t.summary.complete);
  size_t marker = 0;
  for (const auto& [index, ev] : t.threads)
    marker += count_if_size(ev, Op::kMalloc, marker_size(0, kAfterMainExited));
  EXPECT_EQ(marker, 1u);
}

TEST(RecorderWorkload, KilledProcessLeavesAReadableTrace) {
  SKIP_IF_SANITIZED();
  TempDir dir("killed");
  const RunResult r = run_workload(dir, "killed");
  ASSERT_EQ(r.signal, SIGKILL);
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  EXPECT_FALSE(t.summary.complete);
  // Chunks are handed over when 100 ms old, so normally only the last ~100 ms is lost.
  const auto& ev = t.threads.at(0);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_GT(count_if_size(ev, Op::kMalloc, marker_size(0, kBeforeKill)), 0u);
  // Loose bound: on a loaded machine the writer thread may not be scheduled in time.
  EXPECT_GE(ev.back().time_ns - ev.front().time_ns, 100'000'000u)
      << "events of at least the first 100 ms of a 400 ms run are on disk";
}

// The writer saves the committed events of threads that went idle: after a SIGKILL,
// the few calls two blocked threads made 400 ms earlier are on disk.
TEST(RecorderWorkload, KilledProcessKeepsEventsOfIdleThreads) {
  SKIP_IF_SANITIZED();
  TempDir dir("idlekilled");
  const RunResult r = run_workload(dir, "idle-killed");
  ASSERT_EQ(r.signal, SIGKILL);
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  EXPECT_FALSE(t.summary.complete);
  size_t main_marker = 0, idle_marker = 0;
  for (const auto& [index, ev] : t.threads) {
    main_marker += count_if_size(ev, Op::kMalloc, marker_size(0, kIdleBeforeKill));
    idle_marker += count_if_size(ev, Op::kMalloc, marker_size(1, kIdleBeforeKill));
  }
  EXPECT_EQ(main_marker, 3u);
  EXPECT_EQ(idle_marker, 3u);
}

// A chunk saved in part while its thread was idle, then filled further: every event
// exactly once, in order, and the later part a frame that decodes on its own.
TEST(RecorderWorkload, ChunkSavedWhileIdleIsCompletedWithoutDuplicates) {
  SKIP_IF_SANITIZED();
  TempDir dir("idleresume");
  const RunResult r = run_workload(dir, "idle-resume");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  EXPECT_TRUE(t.summary.complete);
  const auto& ev = t.threads.at(0);
  EXPECT_EQ(count_if_size(ev, Op::kMalloc, marker_size(0, kBeforePause)), 3u);
  EXPECT_EQ(count_if_size(ev, Op::kMalloc, marker_size(0, kAfterPause)), 3u);
  const Event* before = find_size(ev, Op::kMalloc, marker_size(0, kBeforePause));
  const Event* after = find_size(ev, Op::kMalloc, marker_size(0, kAfterPause));
  ASSERT_TRUE(before && after);
  EXPECT_LT(before, after);
  EXPECT_GE(after->time_ns - before->time_ns, 250'000'000u);
  for (size_t i = 1; i < ev.size(); ++i) EXPECT_LE(ev[i - 1].time_ns, ev[i].time_ns) << i;
  EXPECT_GE(t.summary.frames, 2u) << "the head was written while the thread slept";
  expect_thread_bracketed(t);
}

// Threads come and go; their records are recycled. Every thread's events are there,
// bracketed by its start and exit, with nothing from another thread mixed in.
void check_many_threads(int count) {
  TempDir dir("threads" + std::to_string(count));
  const RunResult r = run_workload(dir, "threads", {}, std::to_string(count));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ReadTrace t = read_trace(traces_in(dir.path()).at(0));
  EXPECT_TRUE(t.summary.complete);
  EXPECT_EQ(t.threads.size(), static_cast<size_t>(count) + 1);
  expect_thread_bracketed(t);
  size_t workers = 0;
  for (const auto& [index, ev] : t.threads) {
    if (index == 0) continue;
    ++workers;
    EXPECT_EQ(count_if_size(ev, Op::kMalloc, marker_size(0, kShortLivedThread)), 1000u) << index;
    // Each marker block is freed right after its malloc (the thread's other frees
    // belong to std::thread and glibc); a large block's kTouched comes between.
    size_t paired = 0;
    for (size_t i = 2; i < ev.size(); ++i)
      paired += ev[i].op == Op::kFree && ev[i - 1].op == Op::kTouched &&
                ev[i - 1].ptr == ev[i].ptr && ev[i - 2].op == Op::kMalloc &&
                ev[i - 2].size == marker_size(0, kShortLivedThread) &&
                ev[i].ptr == ev[i - 2].result;
    EXPECT_EQ(paired, 1000u) << index;
  }
  EXPECT_EQ(workers, static_cast<size_t>(count));
  // The recorder writes every chunk against the pointer model (format version 4, in
  // rows or columns since version 5), threads recycling records and their models
  // included; only the writer's own one-event frames (a thread's exit it notices) are
  // plain.
  EXPECT_EQ(t.header.version, 6u);
  traces::ChunkReader reader(traces_in(dir.path()).at(0));
  traces::Chunk chunk;
  size_t modeled = 0;
  while (reader.next(chunk)) {
    if ((chunk.info.flags & ~(traces::format::kFrameColumns | traces::format::kFrameTouched)) ==
        (traces::format::kFrameCoarseTime | traces::format::kFramePointerModel))
      ++modeled;
    else
      EXPECT_EQ(chunk.events.size(), 1u) << "flags " << chunk.info.flags;
  }
  EXPECT_GE(modeled, static_cast<size_t>(count));
}

TEST(RecorderWorkload, ShortLivedThreadsAllRecorded) {
  SKIP_IF_SANITIZED();
  check_many_threads(64);
}

TEST(RecorderWorkloadLong, ThousandsOfShortLivedThreads) {
  SKIP_IF_SANITIZED();
  check_many_threads(10000);
}

TEST(RecorderWorkload, UnwritableOutputRunsTheProgramAndSaysSo) {
  SKIP_IF_SANITIZED();
  TempDir dir("unwritable");
  const RunResult r = run({{workload_program().string(), "kinds"},
                           {"LD_PRELOAD=" + mhook_library().string(),
                            "MHOOK_OUTPUT=" + (dir.path() / "missing-dir" / "t.%p.mtr").string()},
                           dir.path(),
                           ""});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "kinds done\n");
  EXPECT_NE(r.err.find("mhook: cannot write trace"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing-dir"), std::string::npos) << r.err;
  EXPECT_TRUE(traces_in(dir.path()).empty());
}

}  // namespace
}  // namespace mtreplay::recorder_test
