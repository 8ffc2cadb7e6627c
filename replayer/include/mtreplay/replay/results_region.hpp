// The shared mapping through which the parent configures the worker and the worker
// reports back: configuration, status, timings, per-thread counters and latency
// samples. Lives in a memfd both processes map; the worker never allocates for it, and
// the parent can still read it after the worker died of a signal.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mtreplay/replay/plan_format.hpp"

namespace mtreplay::replay {

inline constexpr uint32_t kMaxTimelinePoints = 512;
inline constexpr uint32_t kSampleCap = 8192;  // per thread and op kind (reservoir)
inline constexpr uint32_t kSampleEvery = 64;  // one op in this many, at most, is timed
inline constexpr size_t kKinds = static_cast<size_t>(PlanKind::kCount);

enum class ReplayMode : uint32_t { kParallel, kSerial, kSingle };
// What the replay does to the blocks, as the program would: nothing; one byte per page
// (so the pages count in RSS); the whole block written; or `use`: every cache line
// written at allocation and read back before the release, with that time counted
// (the program's own accesses, which an allocator's placement makes cheap or dear);
// `headN`/`endsN`: as `use`, but of a block of N KiB or more only the first page
// (`head`), or the first and the last page (`ends`), since programs often fill little
// of a large buffer, and pages never written are never faulted in. `grown16k`: as
// `head16k` for blocks made by malloc, calloc or memalign, but a block made by realloc
// is used whole (a buffer is grown because it filled up). `revisit`: as `use`, and
// while a block lives its thread comes back to it, so that a long-lived block is
// revisited in proportion to its recorded lifetime: a small per-thread table of the
// thread's recently made live blocks is re-read (its first line rewritten) once per
// period of recorded time. `wset`: as `use`, and once per period the thread sweeps on
// through a working-set buffer of its own (cache pressure between ops); `revisit-wset`:
// both; `revisit-deep`: as revisit, with a table of 256 blocks, 32 of them revisited a
// period (round robin), up to 4 KiB of each. replay_engine.cpp says how. Every model
// that writes what the program uses (use, revisit, wset, revisit-wset, revisit-deep)
// leaves alone the pages the recording saw the program never touch (traces kTouched,
// PlanObject::untouched); `whole`: as `use`, every block whole, measured or not.
enum class TouchPolicy : uint32_t {
  kNone,
  kPage,
  kFill,
  kUse,
  kHead8k,
  kHead16k,
  kHead64k,
  kEnds64k,
  kGrown16k,
  kRevisit,
  kWorkingSet,
  kRevisitWorkingSet,
  kRevisitDeep,
  kWhole,
};
enum class AnomalyPolicy : uint32_t { kSkip, kFail };
// --timing: none runs each op as soon as it may; recorded (scaled by a factor) keeps
// each op no earlier than its recorded time since the start, times the factor.
enum class TimingMode : uint32_t { kNone, kRecorded };
// The worker's recorded-to-live map (a benchmark switch): the array indexed by object
// id; lphash::PointerMap keyed by object id, sized for the peak live set or for all
// objects; or keyed by recorded address (only for traces that never reuse an address
// on another thread: the plan orders objects, not addresses).
enum class LiveMapKind : uint32_t {
  kArray,
  kPointerMap,
  kPointerMapPresized,
  kPointerMapByAddress
};

enum class WorkerStatus : uint32_t {
  kStarting = 0,
  kRunning,
  kDone,
  kLoadFailed,    // the allocator is not loaded or is not a malloc replacement
  kNullReturned,  // the allocator returned NULL where the recording did not (fail policy)
  kVerifyFailed,  // --verify caught a bad block
  kInternal,
};

// Calls a backend may lack; bit i of emulated_mask.
enum EmulatedCall : uint32_t {
  kEmuCalloc,
  kEmuReallocArray,
  kEmuMemalign,
  kEmuPosixMemalign,
  kEmuAlignedAlloc,
  kEmuValloc,
  kEmuPvalloc,
  kEmuUsableSize,  // not emulable: usable-size checks and slop are skipped
  kEmuCount,
};
const char* emulated_call_name(uint32_t bit);

struct WorkerConfig {
  ReplayMode mode = ReplayMode::kParallel;
  TouchPolicy touch = TouchPolicy::kNone;
  AnomalyPolicy on_anomaly = AnomalyPolicy::kSkip;
  uint32_t verify = 0;
  uint32_t measure_slop = 1;
  LiveMapKind live_map = LiveMapKind::kArray;
  TimingMode timing = TimingMode::kNone;
  // Parallel mode: no thread runs an op whose pace key is more than this many recorded
  // ns ahead of another unfinished thread's next op; 0: free-running (--pace none).
  uint64_t pace_window_ns = 0;
  double timing_scale = 1.0;  // with kRecorded: replay ns per recorded ns
  char allocator_name[64] = {};
  char expected_object[1024] = {};  // the preloaded .so that must define malloc; empty: libc
};

struct alignas(64) ThreadStats {
  // Ops this thread completed (its next op index); per-kind counts derive from it.
  std::atomic<uint64_t> progress{0};
  std::atomic<uint32_t> finished{0};
  uint64_t sync_wait_ticks = 0;
  uint64_t pace_wait_ticks = 0;    // held back by the pacing window
  uint64_t timing_wait_ticks = 0;  // waiting for an op's recorded time (--timing)
  uint64_t wait_cpu_ns = 0;        // CPU time both waits took, kept out of the CPU figures
  uint64_t excluded_ticks = 0;     // touch and verify work, kept out of the figures
  uint64_t failed_alloc_replay = 0;
  uint64_t samples_seen[kKinds] = {};
  uint32_t sample_count[kKinds] = {};
};

struct ResultsHeader {
  WorkerConfig config;
  uint32_t thread_count = 0;
  std::atomic<uint32_t> status{0};
  int32_t crashed_slot = -1;
  int32_t crash_signal = 0;
  uint64_t failed_slot_op = 0;  // with failed_slot: the op index within that thread
  int32_t failed_slot = -1;
  char message[512] = {};

  uint64_t wall_ns = 0, cpu_user_ns = 0, cpu_sys_ns = 0;
  uint64_t page_faults = 0;  // minor and major, in the timed run (the streamed plan's swaps out)
  uint64_t tsc_start = 0, tsc_end = 0;  // with wall_ns: converts sample ticks to ns
  uint64_t rss_at_entry = 0, baseline_rss = 0, peak_rss = 0, sampled_peak_rss = 0;
  uint64_t sampled_peak_live = 0;  // requested bytes live, summed from the threads' progress
  uint32_t hwm_reset = 0;          // 1: VmHWM was reset through clear_refs
  uint32_t emulated_mask = 0;
  uint64_t usable_slop_bytes = 0;
  uint32_t slop_measured = 0;
  uint32_t timeline_count = 0;
  uint64_t timeline[kMaxTimelinePoints][2] = {};
  char malloc_owner[512] = {};  // the object that defines malloc in the worker

  // A streamed plan (replayer/README.md, "Streaming"): the parent writes segment k into
  // the plan buffer (half k % 2 of it when it plans ahead) and sets segments_published
  // to k + 1; the worker replays it and sets segments_done to k + 1, after which that
  // space is the parent's again. Both are futex words shared between the processes.
  std::atomic<uint32_t> segments_published{0};
  std::atomic<uint32_t> segments_done{0};
  uint32_t stream = 0;                       // 1: the plan comes as segments
  uint32_t stream_halves = 1;                // 2: segments take turns in the buffer's halves
  std::atomic<uint32_t> current_segment{0};  // being replayed (progress, crash report)
  uint64_t stream_stall_ns = 0;     // between segments, waiting for the parent: not in wall_ns
  uint64_t stream_table_bytes = 0;  // the worker's own tables and buffer pages, grown since
                                    // the baseline (taken out of program_peak_rss_bytes)
};

// The address space the parent and the worker keep for a streamed plan's buffer, in
// two halves that segments take turns in: only the pages of the largest segments are
// ever backed.
inline constexpr uint64_t kStreamBufferBytes = uint64_t{1} << 36;
inline constexpr uint64_t kStreamHalfBytes = kStreamBufferBytes / 2;
// The half of the buffer segment `index` lies in: always the first, or the two taking
// turns (`halves` 2: the parent planning the next segment while the worker replays one).
inline constexpr uint32_t stream_half(uint32_t index, uint32_t halves) {
  return halves == 2 ? index % 2 : 0;
}
inline constexpr uint64_t stream_segment_offset(uint32_t index, uint32_t halves) {
  return stream_half(index, halves) * kStreamHalfBytes;
}

// Futex on a word in the shared results region (not private: two processes use it).
void shared_futex_wait(std::atomic<uint32_t>& word, uint32_t expected, uint64_t timeout_ns);
void shared_futex_wake(std::atomic<uint32_t>& word);

// Layout: header | ThreadStats[threads] | uint32 samples[threads][kKinds][kSampleCap]
struct ResultsLayout {
  static size_t stats_offset() { return (sizeof(ResultsHeader) + 63) & ~size_t{63}; }
  static size_t samples_offset(uint32_t threads) {
    return stats_offset() + sizeof(ThreadStats) * threads;
  }
  static size_t total(uint32_t threads) {
    size_t bytes = samples_offset(threads) + sizeof(uint32_t) * kKinds * kSampleCap * threads;
    return (bytes + 4095) & ~size_t{4095};
  }
};

class ResultsView {
 public:
  explicit ResultsView(std::byte* base) : base_(base) {}
  ResultsHeader& header() const { return *reinterpret_cast<ResultsHeader*>(base_); }
  ThreadStats& stats(uint32_t slot) const {
    return reinterpret_cast<ThreadStats*>(base_ + ResultsLayout::stats_offset())[slot];
  }
  uint32_t* samples(uint32_t slot, size_t kind) const {
    auto* all =
        reinterpret_cast<uint32_t*>(base_ + ResultsLayout::samples_offset(header().thread_count));
    return all + (slot * kKinds + kind) * kSampleCap;
  }

 private:
  std::byte* base_;
};

}  // namespace mtreplay::replay
