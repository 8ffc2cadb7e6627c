// Writes a trace file: the header once, then one independent zstd frame per chunk.
// Used inside the traced process by the recorder's writer thread, so it never calls
// malloc: zstd's workspace and all buffers come from mmap.
//
// Never throws; every failure is a false return with errno set. After a failed write
// the writer stays failed (later writes return false) so a trace never has a hole.
//
// CONTRACT (owned by traces/; the recorder relies on this interface).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mtreplay::traces {

// Why a trace ended (end-of-trace record, FORMAT.md). Version 1 traces have kNone.
enum class EndReason : uint32_t {
  kNone = 0,
  kExit = 1,  // the process ended: exit, _exit, its last thread
  kExec = 2,  // the process image was replaced by an exec
  kTool = 3,  // written by a tool (import, a test), not by a recorded process
};
std::string_view end_reason_name(EndReason r);  // "exit", "exec", "tool", "" for kNone

struct TraceEnd {
  EndReason reason = EndReason::kTool;
  uint64_t unrecorded_calls = 0;  // stored saturated to 32 bits
};

struct HeaderFields {
  // format::kVersion; 1 writes a version 1 file (text round trips); 3 allows frame
  // flags (the recorder's coarse stamps); 4 also the pointer model's frames; 5 also the
  // column layout.
  uint32_t version = 2;
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t parent_trace_pid = 0;              // pid whose trace this process forked from (0: none)
  uint64_t start_realtime_ns = 0;             // CLOCK_REALTIME at start, for humans
  uint64_t start_clock_ns = 0;                // the event clock (CLOCK_MONOTONIC) at start
  uint64_t ticks_per_second = 1'000'000'000;  // calibration if events use another clock
  uint32_t page_size = 4096;
  std::string_view exe;  // /proc/self/exe target
  std::span<const std::string_view> argv;
};

struct ChunkInfo {
  uint32_t thread_index = 0;  // dense per trace, in order of first appearance
  uint32_t os_tid = 0;
  uint32_t event_count = 0;
  uint64_t base_time_ns = 0;  // ChunkEncoder::base_time_ns()
  uint32_t flags = 0;         // format::kFrameCoarseTime (version 3+), kFramePointerModel (4+),
                              // kFrameColumns (5: write_chunk rearranges the events itself)
};

class TraceWriter {
 public:
  TraceWriter() = default;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  ~TraceWriter();

  // Takes ownership of fd and writes the header. False (with errno set) on failure.
  bool open(int fd, const HeaderFields& header, int compression_level = 3);
  // Compresses one chunk as one zstd frame and appends it. False on write failure. With
  // format::kFrameColumns in info.flags, `encoded` is still row-encoded events (as
  // ChunkEncoder writes them): the writer puts them in columns before compressing, as
  // the column policy says (false with EINVAL if they are not info.event_count
  // well-formed events); the frame header has the flag only if it did.
  //
  // Effort::kStore: for a writer that cannot keep up (the recorder's, when the threads
  // it serves leave it no core): the chunk goes out in rows (kFrameColumns dropped),
  // compressed at zstd's fastest level, which stores it nearly as it is (~0.7 ns per
  // event instead of ~10 for rearranging and level 1 on a malloc/free loop; ~4 bytes
  // per event instead of ~1.3). The frame is an ordinary one: readers cannot tell.
  enum class Effort : uint8_t { kNormal, kStore };
  bool write_chunk(const ChunkInfo& info, std::span<const std::byte> encoded,
                   Effort effort = Effort::kNormal);

  // What kFrameColumns asks for. kAlways: the column layout. kAdaptive (the
  // recorder's): per thread, whichever layout cost this writer less CPU time per event
  // (rearranging and compressing; a moving average over that thread's chunks of at
  // least kMeasuredEvents events in that layout); both are measured on its first
  // chunks, and the other one is tried again every kRetryEvery-th chunk. Columns pay
  // on chunks that zstd finds many short matches in (random sizes between repeated
  // codes), rows where runs of repeated bytes already compress fast.
  enum class ColumnPolicy : uint8_t { kAlways, kAdaptive };
  void set_column_policy(ColumnPolicy policy) { column_policy_ = policy; }
  static constexpr uint32_t kMeasuredEvents = 1024;
  static constexpr uint32_t kRetryEvery = 32;
  // Writes the end-of-trace record unless end_trace() did, and closes the fd (see
  // FORMAT.md); idempotent.
  bool close(const TraceEnd& end = {});
  // Writes the end-of-trace record but keeps the file open: the recorder does this
  // just before an exec. If the exec fails, resume() removes the record again
  // (truncating the file to where it started) so that frames can follow.
  bool end_trace(const TraceEnd& end);
  bool resume();

  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t frames_written() const { return frames_; }
  uint64_t stored_frames() const { return stored_frames_; }  // written with Effort::kStore
  // The CPU time the last write_chunk spent rearranging and compressing, if it measured
  // it (ColumnPolicy::kAdaptive, kFrameColumns asked for, kMeasuredEvents or more
  // events); else 0.
  uint64_t last_chunk_cpu_ns() const { return last_chunk_cpu_ns_; }
  uint64_t events_written() const { return events_; }
  bool is_open() const { return fd_ >= 0; }

 private:
  bool write_all(const std::byte* data, size_t size);
  bool ensure_out_capacity(size_t bytes);
  bool make_store_context();
  void release();

  int fd_ = -1;
  uint32_t version_ = 2;
  bool failed_ = false;
  bool ended_ = false;  // the end record is written; only resume() or close() follow
  uint64_t end_offset_ = 0;
  uint64_t frames_ = 0;
  uint64_t events_ = 0;
  void* zstd_ctx_ = nullptr;  // ZSTD_CCtx in an mmapped static workspace
  // The level rows are compressed at, the level columns are, and the one zstd_ctx_ has.
  int level_ = 3, columns_level_ = 3, ctx_level_ = 3;
  std::byte* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  // Effort::kStore's context (zstd's fastest level), made at its first use: switching
  // one context between levels would reset its tables at every switch.
  void* store_ctx_ = nullptr;
  std::byte* store_workspace_ = nullptr;
  size_t store_workspace_bytes_ = 0;
  uint64_t stored_frames_ = 0;
  uint64_t last_chunk_cpu_ns_ = 0;
  std::byte* out_buffer_ = nullptr;  // mmapped
  size_t out_capacity_ = 0;
  std::byte* columns_buffer_ = nullptr;  // mmapped: a chunk in column layout, then scratch
  size_t columns_capacity_ = 0;
  ColumnPolicy column_policy_ = ColumnPolicy::kAlways;
  // kAdaptive's measurements, by thread index modulo kCostSlots: CPU ns per 1024
  // events in rows [0] and in columns [1], moving averages (0: none yet).
  struct LayoutCost {
    uint32_t per_kilo_event[2] = {0, 0};
    uint32_t measured = 0;
  };
  static constexpr uint32_t kCostSlots = 64;
  LayoutCost costs_[kCostSlots];
  uint64_t bytes_written_ = 0;
};

}  // namespace mtreplay::traces
