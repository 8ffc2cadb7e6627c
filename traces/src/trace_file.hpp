// A trace file opened for reading: its header, and an index of its whole frames built
// by one pass over the frame headers (payloads are skipped, not read). Both readers
// stand on it; a payload is read and decompressed only when asked for.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces::detail {

struct FrameEntry {
  uint64_t offset = 0;  // of the frame header
  ChunkInfo info;
  uint32_t compressed_size = 0;
  uint32_t raw_size = 0;
};

class TraceFile {
 public:
  explicit TraceFile(const std::filesystem::path& path);  // throws TraceError
  ~TraceFile();
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;

  const TraceHeader& header() const { return header_; }
  const std::vector<FrameEntry>& frames() const { return frames_; }
  const ReadSummary& summary() const { return summary_; }

  // Reads and decompresses one frame's payload into raw, row-encoded events (a column
  // layout frame is put back in rows); throws TraceError on a checksum, zstd or column
  // failure.
  void read_payload(const FrameEntry& frame, std::vector<std::byte>& raw);

  [[noreturn]] void corrupt(uint64_t offset, std::string_view why) const;

 private:
  void read_exact(uint64_t offset, void* out, size_t size) const;
  void parse_header();
  void scan_frames();

  std::string name_;
  int fd_ = -1;
  uint64_t size_ = 0;
  TraceHeader header_;
  uint64_t data_offset_ = 0;
  std::vector<FrameEntry> frames_;
  ReadSummary summary_;
  std::vector<std::byte> compressed_;
  std::vector<std::byte> columns_;  // a column-layout payload before it is put in rows
  ZSTD_DCtx* dctx_ = nullptr;
};

}  // namespace mtreplay::traces::detail
