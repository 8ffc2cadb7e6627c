#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader
#include "trace_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include <fmt/core.h>

#include "mtreplay/traces/columns.hpp"
#include "mtreplay/traces/format.hpp"

namespace mtreplay::traces::detail {

using format::load;

TraceFile::TraceFile(const std::filesystem::path& path) : name_(path.string()) {
  fd_ = ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    throw TraceError(fmt::format("cannot open trace {}: {}", name_, std::strerror(errno)), 0);
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw TraceError(fmt::format("cannot read trace {}: not a regular file", name_), 0);
  }
  size_ = static_cast<uint64_t>(st.st_size);
  dctx_ = ZSTD_createDCtx();
  if (dctx_ == nullptr) {
    ::close(fd_);
    throw std::bad_alloc();
  }
  try {
    parse_header();
    scan_frames();
  } catch (...) {
    ZSTD_freeDCtx(dctx_);
    ::close(fd_);
    throw;
  }
}

TraceFile::~TraceFile() {
  ZSTD_freeDCtx(dctx_);
  ::close(fd_);
}

void TraceFile::corrupt(uint64_t offset, std::string_view why) const {
  throw TraceError(fmt::format("corrupt trace {} at byte {}: {}", name_, offset, why), offset);
}

void TraceFile::read_exact(uint64_t offset, void* out, size_t size) const {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw TraceError(
          fmt::format("cannot read trace {} at byte {}: {}", name_, offset, std::strerror(errno)),
          offset);
    if (n == 0) corrupt(offset, "file shrank while being read");
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void TraceFile::parse_header() {
  if (size_ == 0) corrupt(0, "empty file, not a trace");
  std::byte fixed[format::kFixedHeaderBytes];
  const size_t have = size_ < sizeof fixed ? size_ : sizeof fixed;
  read_exact(0, fixed, have);
  if (have < sizeof format::kFileMagic ||
      std::memcmp(fixed, format::kFileMagic, sizeof format::kFileMagic) != 0)
    corrupt(0, "not an mtreplay trace (bad magic)");
  if (have < sizeof fixed) corrupt(have, "file ends inside the header");
  header_.version = load<uint32_t>(fixed + 8);
  if (header_.version < format::kMinVersion || header_.version > format::kMaxVersion)
    corrupt(8, fmt::format("unsupported format version {} (this build reads {} to {})",
                           header_.version, format::kMinVersion, format::kMaxVersion));
  const uint32_t header_size = load<uint32_t>(fixed + 12);
  if (header_size < format::kFixedHeaderBytes + 4 + 8 || header_size > format::kMaxHeaderBytes)
    corrupt(12, fmt::format("impossible header size {}", header_size));
  if (header_size > size_) corrupt(size_, "file ends inside the header");

  std::vector<std::byte> bytes(header_size);
  read_exact(0, bytes.data(), header_size);
  if (load<uint64_t>(bytes.data() + header_size - 8) !=
      format::fnv1a64({bytes.data(), header_size - 8}))
    corrupt(header_size - 8, "header checksum mismatch");

  header_.pid = load<uint32_t>(fixed + 16);
  header_.ppid = load<uint32_t>(fixed + 20);
  header_.parent_trace_pid = load<uint32_t>(fixed + 24);
  header_.page_size = load<uint32_t>(fixed + 28);
  header_.start_realtime_ns = load<uint64_t>(fixed + 32);
  header_.start_clock_ns = load<uint64_t>(fixed + 40);
  header_.ticks_per_second = load<uint64_t>(fixed + 48);

  const uint64_t end = header_size - 8;  // strings end where the checksum starts
  uint64_t pos = 56;
  auto take_string = [&](std::string& out) {
    if (end - pos < 4) corrupt(pos, "header string runs past the header");
    const uint32_t len = load<uint32_t>(bytes.data() + pos);
    if (end - pos - 4 < len) corrupt(pos, "header string runs past the header");
    out.assign(reinterpret_cast<const char*>(bytes.data() + pos + 4), len);
    pos += 4 + len;
  };
  take_string(header_.exe);
  if (end - pos < 4) corrupt(pos, "header argument count runs past the header");
  const uint32_t argc = load<uint32_t>(bytes.data() + pos);
  pos += 4;
  if (argc > (end - pos) / 4) corrupt(pos - 4, "impossible argument count");
  header_.argv.resize(argc);
  for (auto& arg : header_.argv) take_string(arg);
  if (pos != end) corrupt(pos, "unused bytes at the end of the header");
  data_offset_ = header_size;
}

void TraceFile::scan_frames() {
  uint64_t offset = data_offset_;
  uint64_t events = 0;
  std::byte r[format::kRecordBytes];
  while (size_ - offset >= format::kRecordBytes) {
    read_exact(offset, r, sizeof r);
    const uint32_t magic = load<uint32_t>(r);
    if (magic != format::kFrameMagic && magic != format::kEndMagic)
      corrupt(offset, "bad frame magic");
    if (load<uint32_t>(r + 36) != format::record_check(r))
      corrupt(offset, "frame header checksum mismatch");
    if (magic == format::kEndMagic) {
      const uint32_t reason = load<uint32_t>(r + 4);
      const uint32_t unrecorded = load<uint32_t>(r + 32);
      if (header_.version == 1 ? reason != 0 || unrecorded != 0
                               : reason < static_cast<uint32_t>(EndReason::kExit) ||
                                     reason > static_cast<uint32_t>(EndReason::kTool))
        corrupt(offset, header_.version == 1 ? "unknown end-of-trace flags"
                                             : "unknown end-of-trace reason");
      summary_.end_reason = static_cast<EndReason>(reason);
      summary_.unrecorded_calls = unrecorded;
      if (load<uint64_t>(r + 8) != frames_.size() || load<uint64_t>(r + 16) != events ||
          load<uint64_t>(r + 24) != offset)
        corrupt(offset, "end-of-trace totals do not match the frames before it");
      if (size_ - offset != format::kRecordBytes)
        corrupt(offset + format::kRecordBytes, "data after the end-of-trace record");
      summary_.complete = true;
      offset = size_;
      break;
    }
    FrameEntry f;
    f.offset = offset;
    f.info.thread_index = load<uint32_t>(r + 4);
    f.info.os_tid = load<uint32_t>(r + 8);
    f.info.event_count = load<uint32_t>(r + 12);
    f.info.base_time_ns = load<uint64_t>(r + 16);
    f.compressed_size = load<uint32_t>(r + 24);
    f.raw_size = load<uint32_t>(r + 28);
    f.info.flags = load<uint32_t>(r + 32);
    if ((f.info.flags & ~format::frame_flags_of(header_.version)) != 0)
      corrupt(offset, "unknown frame flags");
    if (f.raw_size > format::kMaxRawChunkBytes) corrupt(offset, "frame too large");
    // Every event takes at least two bytes (kind and time delta).
    if (f.info.event_count > f.raw_size / 2) corrupt(offset, "more events than bytes");
    if (f.compressed_size == 0 || f.compressed_size > ZSTD_compressBound(f.raw_size))
      corrupt(offset, "impossible compressed size");
    if (size_ - offset - format::kRecordBytes < f.compressed_size) break;  // truncated
    frames_.push_back(f);
    events += f.info.event_count;
    offset += format::kRecordBytes + f.compressed_size;
  }
  summary_.frames = frames_.size();
  summary_.events = events;
  summary_.truncated_bytes = size_ - offset;
}

void TraceFile::read_payload(const FrameEntry& frame, std::vector<std::byte>& raw) {
  const uint64_t at = frame.offset + format::kRecordBytes;
  compressed_.resize(frame.compressed_size);
  read_exact(at, compressed_.data(), frame.compressed_size);
  if (ZSTD_findFrameCompressedSize(compressed_.data(), compressed_.size()) != frame.compressed_size)
    corrupt(at, "payload is not exactly one zstd frame");
  ZSTD_frameHeader zh{};
  if (ZSTD_getFrameHeader(&zh, compressed_.data(), compressed_.size()) != 0 ||
      zh.frameType != ZSTD_frame || zh.frameContentSize != frame.raw_size)
    corrupt(at, "payload size differs from the frame header");
  if (!zh.checksumFlag) corrupt(at, "payload has no checksum");
  // A column-layout frame decompresses into columns_ and is put back in row order.
  const bool cols = (frame.info.flags & format::kFrameColumns) != 0;
  std::vector<std::byte>& into = cols ? columns_ : raw;
  into.resize(frame.raw_size);
  const size_t n =
      ZSTD_decompressDCtx(dctx_, into.data(), into.size(), compressed_.data(), compressed_.size());
  if (ZSTD_isError(n)) corrupt(at, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  if (n != frame.raw_size) corrupt(at, "payload size differs from the frame header");
  if (!cols) return;
  raw.resize(frame.raw_size + columns::kSlack);
  const char* why = "";
  size_t rows = 0;
  if (!columns::to_rows(columns_, frame.info.event_count, raw.data(), rows, &why))
    corrupt(at, fmt::format("columns: {}", why));
  raw.resize(rows);
}

}  // namespace mtreplay::traces::detail
