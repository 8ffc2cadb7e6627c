// Writes a trace from events given in merged (global) order, as `mtreplay import` and
// the tests do: one ChunkEncoder per thread, TraceWriter underneath. Chunks are cut so
// that MergedReader gives the events back in exactly the order they were added (see
// FORMAT.md "Merged order": a tie in time between two threads flushes the first one).
// Memory: one chunk buffer per thread that has not exited (thread_exit flushes its
// chunk and frees the buffer). Tools only: it allocates and throws.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <vector>

#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "mtreplay/traces/trace_writer.hpp"

namespace mtreplay::traces {

class TraceBuilder {
 public:
  static constexpr size_t kDefaultChunkBytes = 256 * 1024;

  // Creates (truncates) path and writes the header; throws TraceError on failure.
  TraceBuilder(const std::filesystem::path& path, const TraceHeader& header,
               size_t chunk_bytes = kDefaultChunkBytes, int compression_level = 3);
  ~TraceBuilder();  // finishes if finish() was not called (errors then go unreported)

  void set_os_tid(uint32_t thread, uint32_t os_tid);
  void add(const Event& e);  // e.thread says which thread; throws TraceError
  void finish();             // flushes every thread and writes the end record

  uint64_t events() const { return events_; }

 private:
  struct ThreadChunk {
    std::vector<std::byte> buffer;
    ChunkEncoder encoder;
    uint32_t os_tid = 0;
    bool coarse = false;     // the frame being filled has format::kFrameCoarseTime
    uint64_t last_time = 0;  // of its last event
  };
  ThreadChunk& chunk_of(uint32_t thread);
  void flush(uint32_t thread, ThreadChunk& chunk);
  [[noreturn]] void fail(const char* what);

  std::filesystem::path path_;
  size_t chunk_bytes_;
  TraceWriter writer_;
  std::map<uint32_t, ThreadChunk> threads_;
  uint32_t version_ = 2;
  bool have_previous_ = false;
  bool finished_ = false;
  uint32_t previous_thread_ = 0;
  uint64_t previous_time_ = 0;
  uint64_t events_ = 0;
};

}  // namespace mtreplay::traces
