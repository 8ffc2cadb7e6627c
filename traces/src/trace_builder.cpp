#include "mtreplay/traces/trace_builder.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/core.h>

#include "mtreplay/traces/format.hpp"

namespace mtreplay::traces {

TraceBuilder::TraceBuilder(const std::filesystem::path& path, const TraceHeader& header,
                           size_t chunk_bytes, int compression_level)
    : path_(path), chunk_bytes_(std::max(chunk_bytes, ChunkEncoder::kMaxEventBytes)) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create");
  std::vector<std::string_view> argv(header.argv.begin(), header.argv.end());
  HeaderFields fields;
  // A version 1, 3, 4, 5 or 6 text (a dump of such a trace) is imported as that version,
  // so that dump | import | dump is exact; anything else gets the current version. (Its
  // frames are plain rows: version 4's pointer model and version 5's columns are the
  // recorder's choice, not required.)
  fields.version = header.version >= format::kMinVersion && header.version <= format::kMaxVersion
                       ? header.version
                       : format::kVersion;
  version_ = fields.version;
  fields.pid = header.pid;
  fields.ppid = header.ppid;
  fields.parent_trace_pid = header.parent_trace_pid;
  fields.start_realtime_ns = header.start_realtime_ns;
  fields.start_clock_ns = header.start_clock_ns;
  fields.ticks_per_second = header.ticks_per_second;
  fields.page_size = header.page_size;
  fields.exe = header.exe;
  fields.argv = argv;
  if (!writer_.open(fd, fields, compression_level)) fail("cannot write");
}

TraceBuilder::~TraceBuilder() {
  if (!finished_) {
    try {
      finish();
    } catch (const TraceError&) {
      // Destructors must not throw; callers who care call finish() themselves.
    }
  }
}

void TraceBuilder::fail(const char* what) {
  throw TraceError(fmt::format("{} trace {}: {}", what, path_.string(), std::strerror(errno)),
                   writer_.bytes_written());
}

TraceBuilder::ThreadChunk& TraceBuilder::chunk_of(uint32_t thread) {
  auto [it, fresh] = threads_.try_emplace(thread);
  if (it->second.buffer.empty()) it->second.buffer.resize(chunk_bytes_);
  return it->second;
}

void TraceBuilder::set_os_tid(uint32_t thread, uint32_t os_tid) {
  threads_[thread].os_tid = os_tid;  // the buffer comes with the thread's first event
}

void TraceBuilder::flush(uint32_t thread, ThreadChunk& chunk) {
  if (chunk.encoder.count() == 0) return;
  const uint32_t flags =
      (chunk.coarse ? format::kFrameCoarseTime : 0u) | (version_ >= 6 ? format::kFrameTouched : 0u);
  const ChunkInfo info{thread, chunk.os_tid, chunk.encoder.count(), chunk.encoder.base_time_ns(),
                       flags};
  if (!writer_.write_chunk(info, chunk.encoder.bytes())) fail("cannot write");
  chunk.encoder.reset(nullptr, nullptr, 0);
}

void TraceBuilder::add(const Event& e) {
  // A tie with the previous event of another thread: write that thread's chunk first,
  // so the merge's tie-break (file order) keeps the order the events came in.
  if (have_previous_ && e.thread != previous_thread_ && e.time_ns == previous_time_) {
    auto it = threads_.find(previous_thread_);
    if (it != threads_.end()) flush(previous_thread_, it->second);
  }
  ThreadChunk& chunk = chunk_of(e.thread);
  if (e.coarse_time && version_ < 3) {
    errno = EINVAL;
    fail("coarse time stamps need format version 3:");
  }
  if (e.op == Op::kTouched && version_ < 6) {
    errno = EINVAL;
    fail("touched extents need format version 6:");
  }
  if (chunk.encoder.count() > 0) {
    // In a coarse frame a zero time delta means a coarse stamp and any other an exact
    // one (FORMAT.md "Coarse stamps"): an event that the current frame would read back
    // otherwise starts a frame of its own, whose first event has delta 0.
    const bool zero_delta = e.time_ns == chunk.last_time;
    const bool fits = chunk.coarse ? zero_delta == e.coarse_time : !e.coarse_time;
    if (!fits || !chunk.encoder.has_room()) flush(e.thread, chunk);
  }
  if (chunk.encoder.count() == 0) {
    std::byte* begin = chunk.buffer.data();
    chunk.encoder.reset(begin, begin + chunk.buffer.size(), e.time_ns);
    chunk.coarse = e.coarse_time;
  }
  chunk.last_time = e.time_ns;
  chunk.encoder.append(e);
  if (e.op == Op::kThreadExit) {
    // No event of the thread follows (a later one would get a new buffer): its chunk
    // goes out now and its buffer back, so memory follows the threads alive, not all
    // the threads the trace ever had.
    flush(e.thread, chunk);
    std::vector<std::byte>().swap(chunk.buffer);
  }
  have_previous_ = true;
  previous_thread_ = e.thread;
  previous_time_ = e.time_ns;
  ++events_;
}

void TraceBuilder::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& [thread, chunk] : threads_) flush(thread, chunk);
  if (!writer_.close()) fail("cannot finish");
}

}  // namespace mtreplay::traces
