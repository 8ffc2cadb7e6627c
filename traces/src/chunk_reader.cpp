#include "mtreplay/traces/chunk_decoder.hpp"
#include "mtreplay/traces/trace_reader.hpp"
#include "trace_file.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace mtreplay::traces {

struct ChunkReader::Impl {
  explicit Impl(const std::filesystem::path& path) : file(path) {}
  detail::TraceFile file;
  size_t next_frame = 0;
  std::vector<std::byte> raw;
};

ChunkReader::ChunkReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>(path)) {}
ChunkReader::~ChunkReader() = default;
ChunkReader::ChunkReader(ChunkReader&&) noexcept = default;
ChunkReader& ChunkReader::operator=(ChunkReader&&) noexcept = default;

const TraceHeader& ChunkReader::header() const {
  return impl_->file.header();
}
const ReadSummary& ChunkReader::summary() const {
  return impl_->file.summary();
}

bool ChunkReader::next(Chunk& out) {
  const auto& frames = impl_->file.frames();
  if (impl_->next_frame == frames.size()) return false;
  const detail::FrameEntry& frame = frames[impl_->next_frame++];
  impl_->file.read_payload(frame, impl_->raw);
  out.info = frame.info;
  out.file_offset = frame.offset;
  out.events.clear();
  // Capped: a frame's count is only trusted once its events decode.
  out.events.reserve(std::min<uint32_t>(frame.info.event_count, 1u << 16));
  ChunkDecoder decoder;
  decoder.reset(impl_->raw, frame.info.base_time_ns, frame.info.event_count,
                frame.info.thread_index, frame.info.flags);
  for (;;) {
    Event e;
    switch (decoder.next(e)) {
      case ChunkDecoder::Status::kEvent:
        out.events.push_back(e);
        break;
      case ChunkDecoder::Status::kEnd:
        return true;
      case ChunkDecoder::Status::kCorrupt:
        impl_->file.corrupt(frame.offset + format::kRecordBytes,
                            fmt::format("{} (event {} of the frame, raw byte {})", decoder.error(),
                                        out.events.size(), decoder.error_offset()));
    }
  }
}

}  // namespace mtreplay::traces
