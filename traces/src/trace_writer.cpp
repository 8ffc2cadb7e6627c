// TraceWriter runs on the recorder's writer thread inside the traced process: every
// byte of memory it uses comes from mmap, and it never throws.
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_initStaticCCtx, ZSTD_estimateCCtxSize
#include "mtreplay/traces/trace_writer.hpp"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "mtreplay/traces/columns.hpp"
#include "mtreplay/traces/format.hpp"

namespace mtreplay::traces {
namespace {

std::byte* map_bytes(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

size_t round_to_pages(size_t bytes) {
  constexpr size_t kPage = 4096;
  return (bytes + kPage - 1) / kPage * kPage;
}

// Lays out the file header (FORMAT.md "File header") into out; returns its size.
size_t header_size(const HeaderFields& h, size_t& exe_bytes, size_t& argc) {
  exe_bytes = h.exe.size() < format::kMaxExeBytes ? h.exe.size() : format::kMaxExeBytes;
  size_t size = format::kFixedHeaderBytes + exe_bytes + 4;
  argc = 0;
  for (std::string_view arg : h.argv) {
    // Arguments that would push the header past its limit are dropped, not cut.
    if (size + 4 + arg.size() + 8 > format::kMaxHeaderBytes) break;
    size += 4 + arg.size();
    ++argc;
  }
  return size + 8;
}

// memcpy's pointers must not be null even for 0 bytes (an empty string_view's may be).
void copy_bytes(std::byte* to, std::string_view from, size_t n) {
  if (n != 0) std::memcpy(to, from.data(), n);
}

void fill_header(std::byte* out, size_t size, const HeaderFields& h, size_t exe_bytes,
                 size_t argc) {
  using format::store;
  std::memcpy(out, format::kFileMagic, sizeof format::kFileMagic);
  store<uint32_t>(out + 8, h.version);
  store<uint32_t>(out + 12, static_cast<uint32_t>(size));
  store<uint32_t>(out + 16, h.pid);
  store<uint32_t>(out + 20, h.ppid);
  store<uint32_t>(out + 24, h.parent_trace_pid);
  store<uint32_t>(out + 28, h.page_size);
  store<uint64_t>(out + 32, h.start_realtime_ns);
  store<uint64_t>(out + 40, h.start_clock_ns);
  store<uint64_t>(out + 48, h.ticks_per_second);
  store<uint32_t>(out + 56, static_cast<uint32_t>(exe_bytes));
  std::byte* p = out + format::kFixedHeaderBytes;
  copy_bytes(p, h.exe, exe_bytes);
  p += exe_bytes;
  store<uint32_t>(p, static_cast<uint32_t>(argc));
  p += 4;
  for (size_t i = 0; i < argc; ++i) {
    store<uint32_t>(p, static_cast<uint32_t>(h.argv[i].size()));
    copy_bytes(p + 4, h.argv[i], h.argv[i].size());
    p += 4 + h.argv[i].size();
  }
  store<uint64_t>(p, format::fnv1a64({out, size - 8}));
}

}  // namespace

TraceWriter::~TraceWriter() {
  close();
}

bool TraceWriter::write_all(const std::byte* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      return false;
    }
    if (n == 0) {  // a regular file refusing bytes without an error: treat as full
      errno = ENOSPC;
      failed_ = true;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
    bytes_written_ += static_cast<uint64_t>(n);
  }
  return true;
}

bool TraceWriter::ensure_out_capacity(size_t bytes) {
  if (bytes <= out_capacity_) return true;
  const size_t capacity = round_to_pages(bytes);
  std::byte* buffer = map_bytes(capacity);
  if (buffer == nullptr) return false;
  if (out_buffer_ != nullptr) munmap(out_buffer_, out_capacity_);
  out_buffer_ = buffer;
  out_capacity_ = capacity;
  return true;
}

bool TraceWriter::open(int fd, const HeaderFields& header, int compression_level) {
  if (fd_ >= 0 || fd < 0) {
    errno = EBADF;
    return false;
  }
  if (header.version < format::kMinVersion || header.version > format::kMaxVersion) {
    errno = EINVAL;
    return false;
  }
  fd_ = fd;
  version_ = header.version;
  failed_ = ended_ = false;
  bytes_written_ = frames_ = events_ = 0;
  for (LayoutCost& c : costs_) c = {};

  auto fail = [this](int error) {
    ::close(fd_);
    fd_ = -1;
    release();
    errno = error;
    return false;
  };
  workspace_bytes_ = round_to_pages(ZSTD_estimateCCtxSize(compression_level));
  workspace_ = map_bytes(workspace_bytes_);
  if (workspace_ == nullptr) return fail(ENOMEM);
  ZSTD_CCtx* cctx = ZSTD_initStaticCCtx(workspace_, workspace_bytes_);
  if (cctx == nullptr ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, compression_level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1))) {
    return fail(EINVAL);
  }
  // zstd's default minimum match (5) stays: 4 makes python's frames 3-7% smaller, but
  // on a malloc/free loop the writer then falls behind the recording thread and the
  // ring stalls it (10 M calls, 5 interleaved runs: median wall 0.61 s vs 0.52 s).
  zstd_ctx_ = cctx;
  stored_frames_ = 0;
  // At level 1, the recorder's default, columns go at -2: on a malloc/free loop that
  // saves the writer 1.3 ns per event for 1.11 -> 1.35 bytes (BENCHMARKS.md, issue
  // #13); rows (python's repeated events) gain nothing from it.
  level_ = ctx_level_ = compression_level;
  columns_level_ = compression_level == 1 ? -2 : compression_level;

  size_t exe_bytes = 0, argc = 0;
  const size_t size = header_size(header, exe_bytes, argc);
  if (!ensure_out_capacity(size)) return fail(ENOMEM);
  fill_header(out_buffer_, size, header, exe_bytes, argc);
  if (!write_all(out_buffer_, size)) return fail(errno);
  return true;
}

bool TraceWriter::write_chunk(const ChunkInfo& info, std::span<const std::byte> encoded,
                              Effort effort) {
  if (fd_ < 0 || failed_ || ended_) {
    errno = fd_ < 0 ? EBADF : ended_ ? EINVAL : EIO;
    return false;
  }
  if ((info.flags & ~format::frame_flags_of(version_)) != 0) {
    errno = EINVAL;  // a flag this version does not define
    return false;
  }
  if (encoded.size() > format::kMaxRawChunkBytes) {
    errno = EFBIG;
    return false;
  }
  if (!ensure_out_capacity(format::kRecordBytes + ZSTD_compressBound(encoded.size()))) {
    errno = ENOMEM;
    return false;
  }
  last_chunk_cpu_ns_ = 0;
  uint32_t flags = info.flags;
  ZSTD_CCtx* cctx = static_cast<ZSTD_CCtx*>(zstd_ctx_);
  if (effort == Effort::kStore) {
    if (store_ctx_ == nullptr && !make_store_context()) {
      errno = ENOMEM;
      return false;
    }
    cctx = static_cast<ZSTD_CCtx*>(store_ctx_);
    flags &= ~format::kFrameColumns;  // rearranging would cost more than the store itself
  }
  bool use_columns = (flags & format::kFrameColumns) != 0;
  LayoutCost* cost = nullptr;
  uint64_t cpu_start = 0;
  if (use_columns && column_policy_ == ColumnPolicy::kAdaptive) {
    LayoutCost& c = costs_[info.thread_index % kCostSlots];
    if (c.per_kilo_event[0] == 0 || c.per_kilo_event[1] == 0) {
      use_columns = c.per_kilo_event[0] != 0;  // rows first, then columns
    } else {
      const bool cheaper = c.per_kilo_event[1] < c.per_kilo_event[0];
      use_columns = c.measured % kRetryEvery == kRetryEvery - 1 ? !cheaper : cheaper;
    }
    if (info.event_count >= kMeasuredEvents) {
      cost = &c;
      cpu_start = thread_cpu_ns();
    }
    if (!use_columns) flags &= ~format::kFrameColumns;
  }
  if (use_columns) {
    // The columns, then the scratch they are gathered in.
    const size_t out_bytes = round_to_pages(encoded.size() + columns::kMaxHeaderBytes);
    const size_t need = out_bytes + columns::scratch_bytes(encoded.size());
    if (need > columns_capacity_) {
      std::byte* buffer = map_bytes(round_to_pages(need));
      if (buffer == nullptr) {
        errno = ENOMEM;
        return false;
      }
      if (columns_buffer_ != nullptr) munmap(columns_buffer_, columns_capacity_);
      columns_buffer_ = buffer;
      columns_capacity_ = round_to_pages(need);
    }
    const size_t n = columns::to_columns(encoded, info.event_count, columns_buffer_,
                                         columns_buffer_ + out_bytes);
    if (n == 0 || n > format::kMaxRawChunkBytes) {
      errno = EINVAL;
      return false;
    }
    encoded = {columns_buffer_, n};
    if (!ensure_out_capacity(format::kRecordBytes + ZSTD_compressBound(encoded.size()))) {
      errno = ENOMEM;
      return false;
    }
  }
  if (effort != Effort::kStore) {
    const int level = use_columns ? columns_level_ : level_;
    if (level != ctx_level_ &&
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level))) {
      errno = EIO;
      return false;
    }
    ctx_level_ = level;
  }
  std::byte* payload = out_buffer_ + format::kRecordBytes;
  const size_t compressed = ZSTD_compress2(cctx, payload, out_capacity_ - format::kRecordBytes,
                                           encoded.data(), encoded.size());
  if (ZSTD_isError(compressed)) {
    errno = EIO;
    return false;
  }
  if (cost != nullptr) {
    // A moving average (3/4 the old, 1/4 the new), so that one chunk slowed down by
    // something else (a cold cache after a preemption) does not flip the choice.
    const uint64_t ns = thread_cpu_ns() - cpu_start;
    last_chunk_cpu_ns_ = ns == 0 ? 1 : ns;
    uint64_t per = ns * 1024 / info.event_count;
    const uint32_t old = cost->per_kilo_event[use_columns];
    if (old != 0) per = (3 * uint64_t{old} + per) / 4;
    cost->per_kilo_event[use_columns] = per == 0           ? 1
                                        : per > UINT32_MAX ? UINT32_MAX
                                                           : static_cast<uint32_t>(per);
    ++cost->measured;
  }
  std::byte* h = out_buffer_;
  format::store<uint32_t>(h + 0, format::kFrameMagic);
  format::store<uint32_t>(h + 4, info.thread_index);
  format::store<uint32_t>(h + 8, info.os_tid);
  format::store<uint32_t>(h + 12, info.event_count);
  format::store<uint64_t>(h + 16, info.base_time_ns);
  format::store<uint32_t>(h + 24, static_cast<uint32_t>(compressed));
  format::store<uint32_t>(h + 28, static_cast<uint32_t>(encoded.size()));
  format::store<uint32_t>(h + 32, flags);
  format::store<uint32_t>(h + 36, format::record_check(h));
  if (!write_all(out_buffer_, format::kRecordBytes + compressed)) return false;
  ++frames_;
  if (effort == Effort::kStore) ++stored_frames_;
  events_ += info.event_count;
  return true;
}

bool TraceWriter::end_trace(const TraceEnd& end) {
  if (fd_ < 0 || failed_ || ended_) {
    errno = fd_ < 0 ? EBADF : ended_ ? EINVAL : EIO;
    return false;
  }
  std::byte record[format::kRecordBytes] = {};
  format::store<uint32_t>(record + 0, format::kEndMagic);
  format::store<uint64_t>(record + 8, frames_);
  format::store<uint64_t>(record + 16, events_);
  format::store<uint64_t>(record + 24, bytes_written_);
  if (version_ >= 2) {
    format::store<uint32_t>(record + 4, static_cast<uint32_t>(end.reason));
    const uint64_t unrecorded = end.unrecorded_calls;
    format::store<uint32_t>(
        record + 32, unrecorded > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(unrecorded));
  }
  format::store<uint32_t>(record + 36, format::record_check(record));
  end_offset_ = bytes_written_;
  if (!write_all(record, sizeof record)) return false;
  ended_ = true;
  return true;
}

bool TraceWriter::resume() {
  if (fd_ < 0 || !ended_) {
    errno = EINVAL;
    return false;
  }
  const auto at = static_cast<off_t>(end_offset_);
  if (::ftruncate(fd_, at) != 0 || ::lseek(fd_, at, SEEK_SET) != at) {
    failed_ = true;
    return false;
  }
  bytes_written_ = end_offset_;
  ended_ = false;
  return true;
}

bool TraceWriter::close(const TraceEnd& end) {
  if (fd_ < 0) return true;
  bool ok = !failed_;
  if (ok && !ended_) ok = end_trace(end);
  if (::close(fd_) != 0 && errno != EINTR) ok = false;
  fd_ = -1;
  release();
  return ok;
}

std::string_view end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::kExit:
      return "exit";
    case EndReason::kExec:
      return "exec";
    case EndReason::kTool:
      return "tool";
    case EndReason::kNone:
      break;
  }
  return "";
}

bool TraceWriter::make_store_context() {
  const int level = ZSTD_minCLevel();
  const size_t bytes = round_to_pages(ZSTD_estimateCCtxSize(level));
  std::byte* workspace = map_bytes(bytes);
  if (workspace == nullptr) return false;
  ZSTD_CCtx* cctx = ZSTD_initStaticCCtx(workspace, bytes);
  if (cctx == nullptr ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1))) {
    munmap(workspace, bytes);
    return false;
  }
  store_ctx_ = cctx;
  store_workspace_ = workspace;
  store_workspace_bytes_ = bytes;
  return true;
}

void TraceWriter::release() {
  if (store_workspace_ != nullptr) munmap(store_workspace_, store_workspace_bytes_);
  store_ctx_ = nullptr;
  store_workspace_ = nullptr;
  store_workspace_bytes_ = 0;
  if (workspace_ != nullptr) munmap(workspace_, workspace_bytes_);
  if (out_buffer_ != nullptr) munmap(out_buffer_, out_capacity_);
  if (columns_buffer_ != nullptr) munmap(columns_buffer_, columns_capacity_);
  zstd_ctx_ = nullptr;
  workspace_ = out_buffer_ = columns_buffer_ = nullptr;
  workspace_bytes_ = out_capacity_ = columns_capacity_ = 0;
}

}  // namespace mtreplay::traces
