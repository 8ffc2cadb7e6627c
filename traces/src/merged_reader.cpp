// k-way merge of the threads' event streams. Each thread's frames are known from the
// header index, so a thread's next frame enters the merge as a placeholder keyed by
// its base time and is decompressed only when the merge reaches it: memory is one
// chunk per thread whose chunk spans the merge point, plus one spare (FORMAT.md
// "Merged order").
#include <fmt/core.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <map>
#include <utility>

#include "mtreplay/traces/chunk_decoder.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "trace_file.hpp"

namespace mtreplay::traces {
namespace {

struct ThreadStream {
  std::vector<uint32_t> frames;  // indices into TraceFile::frames(), file order
  size_t next_frame = 0;
  const detail::FrameEntry* current = nullptr;  // being decoded
  const detail::FrameEntry* pending = nullptr;  // scheduled, not yet decompressed
  std::vector<std::byte> raw;
  ChunkDecoder decoder;
  uint32_t decoded = 0;  // events taken from the current frame
  Event head;            // the decoded event its merge entry stands for
};

// Merge key: time, then file order (frame offset, event index in the frame). The heap
// holds one entry per stream, and a stream's frames are its own, so two entries never
// share a frame: time and frame offset alone order them (one 128-bit comparison). A
// frame not yet decompressed enters with its base time, `pending`. The event itself
// stays in its stream.
struct Head {
  uint64_t time_ns;
  uint64_t frame_offset;
  uint32_t stream;
  bool pending;
  unsigned __int128 key() const {
    return static_cast<unsigned __int128>(time_ns) << 64 | frame_offset;
  }
  bool operator>(const Head& o) const { return key() > o.key(); }
};

}  // namespace

struct MergedReader::Impl {
  explicit Impl(const std::filesystem::path& path) : path(path), file(path) {
    std::map<uint32_t, size_t> slot_of;
    const auto& frames = file.frames();
    for (uint32_t i = 0; i < frames.size(); ++i) {
      const ChunkInfo& info = frames[i].info;
      auto [it, fresh] = slot_of.try_emplace(info.thread_index, streams.size());
      if (fresh) {
        streams.emplace_back();
        threads.push_back({info.thread_index, info.os_tid, 0, 0});
      }
      streams[it->second].frames.push_back(i);
      threads[it->second].events += info.event_count;
      threads[it->second].frames += 1;
    }
    for (size_t s = 0; s < streams.size(); ++s) schedule_next_frame(s);
    // Streams were created in order of first frame; expose threads ordered by index.
    sorted_threads = threads;
    std::sort(sorted_threads.begin(), sorted_threads.end(),
              [](const ThreadInfo& a, const ThreadInfo& b) { return a.index < b.index; });
  }

  void schedule_next_frame(size_t s) {
    ThreadStream& st = streams[s];
    // A finished chunk's memory goes back now; the largest is kept for the next frame
    // opened, which then decompresses into pages already mapped and sized.
    if (st.raw.capacity() > spare.capacity()) spare.swap(st.raw);
    std::vector<std::byte>().swap(st.raw);
    st.current = nullptr;
    if (st.next_frame == st.frames.size()) return;
    const detail::FrameEntry& f = file.frames()[st.frames[st.next_frame++]];
    push({f.info.base_time_ns, f.offset, static_cast<uint32_t>(s), true});
    st.pending = &f;
  }

  // The heap (a min-heap on Head): the stream just taken from the top usually has the
  // next entry too, so its entry replaces the top and sinks, one pass instead of two.
  void push(const Head& h) {
    heap.push_back(h);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  }
  void pop() {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    heap.pop_back();
  }
  [[gnu::always_inline]] void replace_top(const Head& h) {
    const size_t n = heap.size();
    size_t at = 0;
    for (;;) {
      size_t child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child] > heap[child + 1]) ++child;
      if (!(h > heap[child])) break;
      heap[at] = heap[child];
      at = child;
    }
    heap[at] = h;
  }

  // Decodes the stream's next event into the heap, or moves it to its next frame. The
  // stream's entry is at the top of the heap (being taken): it is replaced or removed.
  [[gnu::always_inline]] void advance(size_t s) {
    ThreadStream& st = streams[s];
    switch (st.decoder.next(st.head)) {
      case ChunkDecoder::Status::kEvent:
        ++st.decoded;
        replace_top({st.head.time_ns, st.current->offset, static_cast<uint32_t>(s), false});
        return;
      case ChunkDecoder::Status::kEnd:
        pop();
        schedule_next_frame(s);
        return;
      case ChunkDecoder::Status::kCorrupt:
        file.corrupt(st.current->offset + format::kRecordBytes,
                     fmt::format("{} (event {} of the frame, raw byte {})", st.decoder.error(),
                                 st.decoded, st.decoder.error_offset()));
    }
  }

  void open_frame(size_t s) {
    ThreadStream& st = streams[s];
    const detail::FrameEntry& f = *st.pending;
    st.raw.swap(spare);  // st.raw is empty here: its last frame's memory was let go
    file.read_payload(f, st.raw);
    st.current = &f;
    st.decoded = 0;
    st.decoder.reset(st.raw, f.info.base_time_ns, f.info.event_count, f.info.thread_index,
                     f.info.flags);
    advance(s);
  }

  bool next(Event& out) {
    if (deferred) std::rethrow_exception(std::exchange(deferred, nullptr));
    while (!heap.empty()) {
      const Head h = heap.front();
      if (h.pending) {
        open_frame(h.stream);
        continue;
      }
      out = streams[h.stream].head;
      advance(h.stream);
      if ((++read & kProgressEvery) == 0 && progress) progress(read, file.summary().events);
      return true;
    }
    report_end();
    return false;
  }

  // next() up to n times in one call. An event counts once the event after it in its
  // stream has decoded, as in next(); an error after some events is thrown by the
  // next call, so that the caller sees the same events before it as with next().
  size_t next_batch(Event* out, size_t n) {
    if (deferred) std::rethrow_exception(std::exchange(deferred, nullptr));
    size_t k = 0;
    try {
      while (k < n && !heap.empty()) {
        const Head& h = heap.front();
        const uint32_t s = h.stream;
        if (h.pending) {
          open_frame(s);
          continue;
        }
        out[k] = streams[s].head;
        advance(s);
        ++k;
      }
    } catch (...) {
      if (k == 0) throw;
      deferred = std::current_exception();
    }
    const uint64_t before = read;
    read += k;
    if (progress) {
      if ((before >> kProgressShift) != (read >> kProgressShift))
        progress(read, file.summary().events);
      if (k == 0) report_end();
    }
    return k;
  }

  void report_end() {
    if (progress && !reported_end) {
      reported_end = true;
      progress(read, file.summary().events);
    }
  }

  static constexpr unsigned kProgressShift = 16;
  static constexpr uint64_t kProgressEvery = (uint64_t{1} << kProgressShift) - 1;
  std::filesystem::path path;
  detail::TraceFile file;
  uint64_t read = 0;  // events returned
  Progress progress;
  bool reported_end = false;
  std::exception_ptr deferred;  // next_batch's error after the events it returned
  std::vector<ThreadStream> streams;
  std::vector<ThreadInfo> threads, sorted_threads;
  std::vector<Head> heap;
  std::vector<std::byte> spare;  // a finished frame's bytes, for the next frame opened
};

MergedReader::MergedReader(const std::filesystem::path& path)
    : impl_(std::make_unique<Impl>(path)) {}
MergedReader::~MergedReader() = default;
const TraceHeader& MergedReader::header() const {
  return impl_->file.header();
}
const ReadSummary& MergedReader::summary() const {
  return impl_->file.summary();
}
const std::vector<ThreadInfo>& MergedReader::threads() const {
  return impl_->sorted_threads;
}
const std::filesystem::path& MergedReader::path() const {
  return impl_->path;
}
void MergedReader::set_progress(Progress progress) {
  impl_->progress = std::move(progress);
}
const MergedReader::Progress& MergedReader::progress() const {
  return impl_->progress;
}
bool MergedReader::next(Event& out) {
  return impl_->next(out);
}
size_t MergedReader::next_batch(Event* out, size_t n) {
  return impl_->next_batch(out, n);
}

}  // namespace mtreplay::traces
