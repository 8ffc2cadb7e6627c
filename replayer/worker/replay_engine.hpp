// Executes a mapped plan against the allocator under test: one runner per recorded
// thread (parallel, serial) or one for all (single). Everything it touches besides the
// allocator's blocks lives in the worker's own mmapped tables.
#pragma once

#include <atomic>
#include <cstdint>

#include "allocator_api.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/results_region.hpp"
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

struct ReplayTables {
  void** live = nullptr;                    // [object] -> live block
  std::atomic<uint32_t>* stages = nullptr;  // [object] -> completed touches
  Doorbell* doorbells = nullptr;            // [slot], serial hand-off
  uint64_t* cursors = nullptr;              // [slot], single mode
};

class ReplayEngine {
 public:
  ReplayEngine(const PlanView& plan, ResultsView results, const AllocatorApi& api,
               ReplayTables tables);

  void run_parallel(uint32_t slot);
  void run_serial(uint32_t slot);
  void run_single();

  // Records the fatal problem in the results header and ends the worker.
  [[noreturn]] void fail(WorkerStatus status, int exit_code, uint32_t slot, uint64_t index,
                         const char* format, ...) __attribute__((format(printf, 6, 7)));

 private:
  struct Runner {
    uint32_t countdown = kSampleEvery;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
  };

  void execute(uint32_t slot, uint64_t index, const PlanOp& op, Runner& runner);
  void record_sample(ThreadStats& stats, uint32_t slot, size_t kind, uint64_t dt, Runner& runner);
  void check_before_release(uint32_t slot, uint64_t index, const PlanOp& op, const void* block);
  void after_allocation(uint32_t slot, uint64_t index, const PlanOp& op, void* in, void* out);
  void handle_null(uint32_t slot, uint64_t index, const PlanOp& op);

  const PlanView& plan_;
  ResultsView results_;
  const AllocatorApi& api_;
  ReplayTables tables_;
  const PlanObject* objects_;
  size_t page_size_;
  bool verify_;
  TouchPolicy touch_;
  AnomalyPolicy on_anomaly_;
  std::atomic<uint64_t> turn_{0};
};

// The slot the calling thread is replaying, for the crash handler.
extern thread_local int32_t t_current_slot;

}  // namespace mtreplay::replay
