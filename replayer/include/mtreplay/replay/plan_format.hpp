// The replay plan: what the parent `mtreplay replay` builds from a trace and the
// worker process maps read-only and executes. Plain, fixed-layout structs only: the
// worker must not allocate from the allocator under test to use them.
//
// Every recorded allocation becomes an object with a dense id. An operation that
// consumes a pointer names the object (never the recorded address), so address reuse
// cannot confuse the replay. Touches of one object (producer, usable-size queries,
// the final free/realloc) form a chain; an op whose predecessor in the chain ran on
// another thread waits until the object's stage word reaches `in_stage`.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mtreplay::replay {

inline constexpr uint32_t kNoObject = 0xffffffffu;

enum class PlanKind : uint8_t {
  kSkip = 0,  // an anomaly under the skip policy: no call, but its touch still counts
  kMalloc,
  kCalloc,
  kRealloc,
  kReallocArray,
  kFree,
  kMemalign,
  kPosixMemalign,
  kAlignedAlloc,
  kValloc,
  kPvalloc,
  kUsableSize,
  kCount,
};

const char* plan_kind_name(PlanKind kind);

enum PlanFlags : uint8_t {
  kWaitIn = 1,          // in_obj was last touched on another thread: wait for in_stage
  kPublishIn = 2,       // the next touch of in_obj is on another thread: publish stage
  kPublishOut = 4,      // out_obj's next touch is on another thread: publish stage 1
  kRecordedFailed = 8,  // the recording got NULL/error here; a replay success is undone
  kEndsIn = 16,         // this op ends in_obj's life (free, realloc that released it)
  // Image only (ImageOp):
  kWide = 32,    // the size, aux and in_stage are in the thread's ImageWide[arg]
  kSignal = 64,  // another thread starts or exits after this op: publish progress
  // A streamed plan reuses the ids of ended objects: this op ends an object whose stage
  // word was published, so it sets the word back to 0 for the id's next object.
  kResetStage = 128,
};

struct PlanOp {
  PlanKind kind = PlanKind::kSkip;
  uint8_t flags = 0;
  uint16_t reserved = 0;
  uint32_t in_obj = kNoObject;   // object consumed or queried
  uint32_t in_stage = 0;         // touches of in_obj that must be complete before this
  uint32_t out_obj = kNoObject;  // object produced
  uint64_t size = 0;             // requested size (per element for calloc/reallocarray)
  uint64_t aux = 0;              // count (calloc, reallocarray) or alignment
};
static_assert(sizeof(PlanOp) == 32);

// An op as the worker reads it from the image: half a PlanOp, so that the replay
// loop streams 16 bytes per op. The common case (no cross-thread wait, no aux, size
// below 4 GiB) fits; any other op keeps its full fields in a side table.
struct ImageOp {
  PlanKind kind = PlanKind::kSkip;
  uint8_t flags = 0;  // PlanFlags
  uint8_t fast = 0;   // ImageFast: the loop's shortcut, decided when the image is written
  uint8_t reserved = 0;
  uint32_t in_obj = kNoObject;
  uint32_t out_obj = kNoObject;
  uint32_t arg = 0;  // the requested size, or with kWide the index of its ImageWide
};
static_assert(sizeof(ImageOp) == 16);

// Ops the replay loop runs without looking at flags: a successful malloc whose object
// stays on this thread, a free of an object last touched on this thread.
enum ImageFast : uint8_t { kFastNone = 0, kFastMalloc = 1, kFastFree = 2 };

// Whether an op keeps its full fields in the side table: a cross-thread wait or
// publication of in_obj (in_stage), an aux, or a size beyond 32 bits.
inline bool image_op_is_wide(uint8_t flags, uint64_t aux, uint64_t size) {
  return (flags & (kWaitIn | kPublishIn)) || aux != 0 || size > UINT32_MAX;
}

struct ImageWide {
  uint64_t size = 0;
  uint64_t aux = 0;
  uint32_t in_stage = 0;
  uint32_t reserved = 0;
};
static_assert(sizeof(ImageWide) == 24);

struct PlanObject {
  uint64_t bytes = 0;  // requested bytes (count*size for calloc)
  uint32_t align = 0;  // requested alignment, 0 for malloc-like
  PlanKind kind = PlanKind::kMalloc;
  // Units of kUntouchedUnit bytes at the block's end that the program never touched,
  // as its recording measured them (traces kTouched), little-endian, saturating at
  // 4 GiB; 0: not measured, or used whole. Finer than a page: a block the program
  // wrote 64 bytes of must not reach into a second page where another allocator
  // starts it mid-page (jemalloc offsets large blocks by up to a page).
  uint8_t untouched[3] = {};
};
static_assert(sizeof(PlanObject) == 16);

inline constexpr uint64_t kUntouchedUnit = 256;
inline uint64_t untouched_bytes(const PlanObject& o) {
  const uint64_t units =
      o.untouched[0] | uint64_t{o.untouched[1]} << 8 | uint64_t{o.untouched[2]} << 16;
  return units * kUntouchedUnit;
}
// From the bytes the recording says the program used of the block.
inline void set_used_bytes(PlanObject& o, uint64_t used) {
  const uint64_t units = std::min<uint64_t>(used < o.bytes ? (o.bytes - used) / kUntouchedUnit : 0,
                                            (uint64_t{1} << 24) - 1);
  for (int i = 0; i < 3; ++i) o.untouched[i] = static_cast<uint8_t>(units >> (8 * i));
}

struct PlanThread {
  uint64_t ops_offset = 0;     // byte offset of ImageOp[op_count]
  uint64_t serial_offset = 0;  // byte offset of uint32 serial index per op
  uint64_t wide_offset = 0;    // byte offset of ImageWide[wide_count]
  // Byte offset of int64[op_count + 1]: requested bytes this thread's first i ops made
  // live minus those they ended. With every thread's progress, the sampler sums the
  // live set of the replay as it runs (threads run ahead of the recorded order).
  uint64_t live_offset = 0;
  // Byte offset of uint64[op_count]: each op's pace key (ThreadPlan::pace_ns), recorded
  // ns non-decreasing along the serial order.
  uint64_t pace_offset = 0;
  uint64_t op_count = 0;
  uint64_t wide_count = 0;
  uint32_t recorded_index = 0;
  uint32_t os_tid = 0;
  // The recorded thread started (exited) after op start_op (exit_op) of thread
  // start_slot (exit_slot): kNoObject when it has no such predecessor.
  uint32_t start_slot = kNoObject, start_op = 0;
  uint32_t exit_slot = kNoObject, exit_op = 0;
  // Byte offset of uint64[PlanKind::kCount]: this thread's ops of each kind (kSkip
  // included), so that a parent holding only the image reports a complete run's
  // counts without scanning its ops.
  uint64_t kind_counts_offset = 0;
  uint32_t flags = 0;  // PlanThreadFlags
  uint32_t reserved = 0;
};

enum PlanThreadFlags : uint32_t {
  // A segment of a streamed plan: the recorded thread exits in this segment (after its
  // ops and its exit gate), so its replay thread ends here, as the recorded one did.
  kThreadExits = 1,
};

// Trace anomalies found while building; the replay result reports them.
struct PlanAnomalies {
  uint64_t unknown_free = 0;
  uint64_t double_free = 0;
  uint64_t unknown_realloc = 0;
  uint64_t unknown_usable_size = 0;
  uint64_t failed_alloc_recorded = 0;
  uint64_t inversions_repaired = 0;
  uint64_t cycles_broken = 0;  // dependencies dropped because they formed a cycle
};
static_assert(sizeof(PlanAnomalies) == 56);

// Bumped whenever the image layout or what the plan builder puts into it changes: a
// cached image of another version is never used (plan_cache.hpp).
inline constexpr uint32_t kPlanImageVersion = 8;  // 8: PlanObject::untouched in 256 B units

inline constexpr char kPlanMagic[8] = {'M', 'T', 'R', 'P', 'L', 'A', 'N', '1'};

struct PlanHeader {
  char magic[8] = {};
  uint32_t version = kPlanImageVersion;
  uint32_t thread_count = 0;
  uint64_t object_count = 0;
  uint64_t op_count = 0;
  uint64_t page_size = 4096;
  uint64_t threads_offset = 0;       // PlanThread[thread_count]
  uint64_t objects_offset = 0;       // PlanObject[object_count]
  uint64_t serial_order_offset = 0;  // uint32 thread slot per serial index [op_count]
  uint64_t peak_objects_offset = 0;  // uint32 object ids live at the serial peak
  uint64_t peak_object_count = 0;
  uint64_t peak_live_bytes = 0;
  uint64_t addresses_offset = 0;  // uint64 recorded address per object, when written
  uint64_t address_count = 0;     // 0 or object_count
  uint64_t total_bytes = 0;       // size of the whole plan image
  // Version 4: what the parent reports without the in-memory plan.
  PlanAnomalies anomalies;
  // Version 6, a segment of a streamed plan (replayer/README.md, "Streaming"): its
  // index + 1 (0: a whole plan), the requested bytes live when it begins (the live
  // set it carries over), and whether it is the last one. Object ids are then slots,
  // reused after their object ended: slot_count of them so far. The objects table
  // holds only the objects the segment creates (object_count of them), the slot of
  // each in uint32 object_slots_offset[object_count]; the worker keeps the table of
  // every slot.
  uint64_t segment = 0;
  uint64_t live_base_bytes = 0;
  uint32_t last_segment = 0;
  uint32_t reserved = 0;
  uint64_t slot_count = 0;
  uint64_t object_slots_offset = 0;
};

}  // namespace mtreplay::replay
