// Executes a mapped plan against the allocator under test: one runner per recorded
// thread (parallel, serial) or one for all (single). Everything it touches besides the
// allocator's blocks lives in the worker's own mmapped tables.
#pragma once

#include <atomic>
#include <cstdint>

#include "allocator_api.hpp"
#include "live_map.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/results_region.hpp"
#include "pacer.hpp"
#include "sync.hpp"

namespace mtreplay::replay {

// Worker exit codes the parent maps to statuses (the results header says more).
enum WorkerExit : int {
  kWorkerOk = 0,
  kWorkerBadSetup = 10,
  kWorkerLoadFailed = 11,
  kWorkerNullReturned = 12,
  kWorkerVerifyFailed = 13,
};

// The revisit and working-set touch models' per-thread state (--touch revisit, wset,
// revisit-wset): one per recorded thread in a worker-mapped table, so that it outlives
// the engine of one segment of a streamed plan. Zero-filled is empty.
struct alignas(64) RevisitState {
  static constexpr uint32_t kEntries = 256;  // a power of two: revisit uses 64 of them
  struct Entry {
    char* block;
    uint32_t obj;
    uint32_t bytes;  // revisited from the block's start; 0: the entry is empty
  };
  Entry entries[kEntries];
  uint64_t next_tick_ns;  // recorded ns of the thread's next revisit
  uint32_t cursor;        // revisit-deep: the first entry of the next slice
  char* wset;             // the working-set buffer (wset models), mapped by the worker
  uint64_t wset_bytes;
  uint64_t wset_at;  // where the next sweep starts
};

struct ReplayTables {
  void** live = nullptr;                     // [object] -> live block (the array live map)
  LivePointerMap* live_hash = nullptr;       // the lphash live map, when chosen instead
  const uint64_t* addresses = nullptr;       // with live_hash: key by recorded address
  std::atomic<uint32_t>* stages = nullptr;   // [object] -> completed touches
  std::atomic<uint32_t>* signals = nullptr;  // [slot] -> ops done, published by kSignal ops
  Doorbell* doorbells = nullptr;             // [slot], serial hand-off
  uint64_t* cursors = nullptr;               // [slot], single mode
  PaceSlot* pace_slots = nullptr;            // [slot], paced parallel mode
  const PlanObject* objects = nullptr;       // a streamed plan's [object]; else the image's
  RevisitState* revisits = nullptr;          // [slot], the revisit and wset touch models
};

class ReplayEngine {
 public:
  ReplayEngine(const PlanView& plan, ResultsView results, const AllocatorApi& api,
               ReplayTables tables);

  // Called just before the runners are released: the origin of --timing.
  void start_clock(uint64_t monotonic_start_ns) { pace_.start_ns = monotonic_start_ns; }
  // A segment of a streamed plan keeps the recorded time origin of the first one.
  uint64_t pace_origin() const { return pace_.origin_ns; }
  void set_pace_origin(uint64_t origin_ns) { pace_.origin_ns = origin_ns; }

  void run_parallel(uint32_t slot);
  void run_serial(uint32_t slot);
  void run_single();

  // Recorded thread start and exit: returns once the op of another thread that the
  // recording saw before this thread's start (exit) has run.
  void await_start(uint32_t slot);
  void await_exit(uint32_t slot);

  // Records the fatal problem in the results header and ends the worker.
  [[noreturn]] void fail(WorkerStatus status, int exit_code, uint32_t slot, uint64_t index,
                         const char* format, ...) __attribute__((format(printf, 6, 7)));

 private:
  struct Runner {
    uint32_t slot = 0;
    uint32_t countdown = kSampleEvery;
    uint32_t period = kSampleEvery;  // mean ops between timed ones
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    ThreadStats* stats = nullptr;
    const ImageWide* wide = nullptr;
    Pacer* pacer = nullptr;  // paced parallel mode
  };
  // An op's full arguments (from the side table for kWide ops).
  struct Args {
    uint64_t size;
    uint64_t aux;
    uint32_t in_stage;
  };

  template <class Live, bool kChecked, bool kPaced>
  void parallel_loop(Runner& runner, Live live);
  template <class Live>
  void run_parallel_with(Runner& runner, Live live);
  template <class Live>
  void serial_loop(Runner& runner, Live live);
  template <class Live>
  void single_loop(Live live);
  // Any op, with every check: the loops' slow path.
  template <class Live>
  [[gnu::noinline]] void execute(Runner& runner, uint64_t index, const ImageOp& op, Live live);

  void await(uint32_t other_slot, uint32_t op);
  void record_sample(ThreadStats& stats, uint32_t slot, size_t kind, uint64_t dt, Runner& runner);
  void check_before_release(uint32_t slot, uint64_t index, const ImageOp& op, const void* block);
  // Checks and touches a new block; returns the ticks of the touches that count as the
  // program's own work (--touch use), the rest being excluded from the figures.
  uint64_t after_allocation(uint32_t slot, uint64_t index, const ImageOp& op, const Args& args,
                            void* in, void* out);
  // The revisit/wset models: a new live block of this thread, one that leaves it (or
  // may move), and the revisit due at recorded time `key`.
  void remember(uint32_t slot, const ImageOp& op, void* block);
  void forget(uint32_t slot, uint32_t obj);
  [[gnu::noinline]] void revisit(uint32_t slot, uint64_t key);
  [[gnu::noinline]] void handle_null(uint32_t slot, uint64_t index, const ImageOp& op);
  Runner make_runner(uint32_t slot) const;

  const PlanView& plan_;
  ResultsView results_;
  const AllocatorApi& api_;
  ReplayTables tables_;
  const PlanObject* objects_;
  size_t page_size_;
  bool verify_;
  TouchPolicy touch_;
  bool time_after_allocation_;
  bool revisits_ = false;         // touch_ is revisit, revisit-wset or revisit-deep
  uint32_t revisit_bits_ = 6;     // the table's entries in use: 1 << bits
  uint32_t revisit_slice_ = 64;   // entries revisited per period
  uint32_t revisit_bytes_ = 256;  // of each block, from its start
  bool wset_ = false;             // touch_ is wset or revisit-wset
  AnomalyPolicy on_anomaly_;
  PaceSettings pace_;
  std::atomic<uint64_t> turn_{0};
};

// The revisit and wset touch models: whether the worker maps a RevisitState per thread,
// and the bytes of each thread's working-set buffer (0: none).
bool uses_revisit_state(TouchPolicy touch);
uint64_t working_set_bytes(TouchPolicy touch, uint64_t peak_live_bytes, uint32_t threads);

// The slot the calling thread is replaying, for the crash handler.
extern thread_local int32_t t_current_slot;

}  // namespace mtreplay::replay
