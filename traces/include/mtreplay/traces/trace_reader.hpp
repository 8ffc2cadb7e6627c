// Streaming trace reader: frames in file order, or events merged across threads in
// global time order. Never needs the whole trace in memory. Tools only (it may
// allocate); the recorder never links it.
//
// CONTRACT (owned by traces/; info, dump, the replayer and compare use it).
// The traces component may extend it; it should not break these signatures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/trace_writer.hpp"

namespace mtreplay::traces {

// Corrupt or unreadable input. what() is one line that names the file and the byte
// offset: "corrupt trace x.mtr at byte 1234: frame checksum mismatch".
class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& message, uint64_t offset)
      : std::runtime_error(message), offset_(offset) {}
  uint64_t offset() const { return offset_; }

 private:
  uint64_t offset_;
};

struct TraceHeader {
  uint32_t version = 0;
  uint32_t pid = 0, ppid = 0, parent_trace_pid = 0;
  uint64_t start_realtime_ns = 0, start_clock_ns = 0, ticks_per_second = 0;
  uint32_t page_size = 0;
  std::string exe;
  std::vector<std::string> argv;
};

struct Chunk {
  ChunkInfo info;
  uint64_t file_offset = 0;   // where its frame starts
  std::vector<Event> events;  // thread field filled in
};

// What reading found besides events. A truncated file (the program was killed) is not
// an error: reading stops at the last whole frame and this says what was lost.
struct ReadSummary {
  uint64_t frames = 0;
  uint64_t events = 0;
  bool complete = false;         // the end-of-trace record was present
  uint64_t truncated_bytes = 0;  // bytes after the last whole frame
  // From the end-of-trace record (version 2; kNone and 0 otherwise).
  EndReason end_reason = EndReason::kNone;
  uint64_t unrecorded_calls = 0;  // calls the recorder passed through unrecorded
};

// One recorded thread of the trace (from its frames' headers).
struct ThreadInfo {
  uint32_t index = 0;
  uint32_t os_tid = 0;  // of its first frame
  uint64_t events = 0;  // in whole frames
  uint64_t frames = 0;
};

class ChunkReader {
 public:
  explicit ChunkReader(const std::filesystem::path& path);  // throws TraceError
  ~ChunkReader();
  ChunkReader(ChunkReader&&) noexcept;
  ChunkReader& operator=(ChunkReader&&) noexcept;

  const TraceHeader& header() const;
  bool next(Chunk& out);  // false at the end (or at a truncation); throws TraceError
  const ReadSummary& summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Events of all threads in one global order: by time, ties in file order, and a
// thread's own events always in its recorded order. Memory: one decompressed chunk per
// thread plus an index of frame headers (FORMAT.md "Merged order").
class MergedReader {
 public:
  explicit MergedReader(const std::filesystem::path& path);  // throws TraceError
  ~MergedReader();
  const TraceHeader& header() const;
  bool next(Event& out);  // throws TraceError
  // Up to n events into out, as n calls of next() would give them (0: the end), in
  // one call; an error after some events is thrown by the call after them.
  size_t next_batch(Event* out, size_t n);
  // Known at construction (one pass over the frame headers): what next() will yield.
  const ReadSummary& summary() const;
  const std::vector<ThreadInfo>& threads() const;  // ordered by index
  const std::filesystem::path& path() const;       // as given (a second pass opens it again)

  // Long reads: next() calls progress(events read so far, summary().events) about every
  // 64 Ki events and once at the end; an empty function (the default) turns it off.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;
  void set_progress(Progress progress);
  const Progress& progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtreplay::traces
