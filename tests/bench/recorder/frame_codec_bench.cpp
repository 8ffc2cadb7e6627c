// Offline: what the recorder's writer thread pays per event to compress a recorded
// trace's chunks, in the row layout (format version 4) and in the column layout
// (version 5, FORMAT.md "Column layout"), at a given zstd level. Each frame of TRACE
// is decoded and encoded again with the pointer model, as the recorder wrote it; then
// every chunk is compressed PASSES times each way (ZSTD_compress2, one context, as
// the writer does) and the CPU time is divided by the events.
//   frame_codec_bench TRACE [LEVEL] [PASSES]
#include <fmt/core.h>
#include <time.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/columns.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace {

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Raw {
  std::vector<std::byte> rows, cols;
  uint32_t count = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace mtreplay::traces;
  if (argc < 2 || argc > 4) {
    fmt::print(stderr, "usage: frame_codec_bench TRACE [LEVEL] [PASSES]\n");
    return 2;
  }
  const int level = argc > 2 ? std::atoi(argv[2]) : 1;
  const int passes = argc > 3 ? std::atoi(argv[3]) : 3;
  std::vector<Raw> chunks;
  uint64_t events = 0, row_bytes = 0, col_bytes = 0;
  double transpose_s = 0, untranspose_s = 0;
  {
    ChunkReader reader(argv[1]);
    Chunk chunk;
    PointerModel model;
    std::vector<std::byte> buf(1 << 20), scratch, cols(1 << 21), back(1 << 21);
    while (reader.next(chunk)) {
      ChunkEncoder enc;
      enc.reset(buf.data(), buf.data() + buf.size(), chunk.info.base_time_ns, &model);
      for (const Event& e : chunk.events) enc.append(e);
      Raw r;
      r.count = enc.count();
      r.rows.assign(enc.bytes().begin(), enc.bytes().end());
      const double t0 = cpu_seconds();
      scratch.resize(columns::scratch_bytes(r.rows.size()));
      const size_t n = columns::to_columns(r.rows, r.count, cols.data(), scratch.data());
      transpose_s += cpu_seconds() - t0;
      if (n == 0) {
        fmt::print(stderr, "frame_codec_bench: a chunk did not split into columns\n");
        return 4;
      }
      r.cols.assign(cols.begin(), cols.begin() + static_cast<ptrdiff_t>(n));
      const char* why = "";
      const double t1 = cpu_seconds();
      size_t m = 0;
      const bool ok = columns::to_rows(r.cols, r.count, back.data(), m, &why);
      untranspose_s += cpu_seconds() - t1;
      if (!ok || m != r.rows.size() || std::memcmp(back.data(), r.rows.data(), m) != 0) {
        fmt::print(stderr, "frame_codec_bench: columns did not read back ({})\n", why);
        return 4;
      }
      events += r.count;
      row_bytes += r.rows.size();
      col_bytes += n;
      chunks.push_back(std::move(r));
    }
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  // Parameters to try beside the level: MTR_ZSTD_MINMATCH, _HASHLOG, _WINDOWLOG.
  const std::pair<const char*, ZSTD_cParameter> knobs[] = {
      {"MTR_ZSTD_MINMATCH", ZSTD_c_minMatch},
      {"MTR_ZSTD_HASHLOG", ZSTD_c_hashLog},
      {"MTR_ZSTD_WINDOWLOG", ZSTD_c_windowLog}};
  for (const auto& [name, param] : knobs)
    if (const char* v = std::getenv(name)) ZSTD_CCtx_setParameter(cctx, param, std::atoi(v));
  std::vector<std::byte> out(ZSTD_compressBound(1 << 20));
  auto run = [&](bool cols, uint64_t& bytes) {
    double best = 1e9;
    for (int pass = 0; pass < passes; ++pass) {
      bytes = 0;
      const double t0 = cpu_seconds();
      for (const Raw& r : chunks) {
        const auto& in = cols ? r.cols : r.rows;
        const size_t n = ZSTD_compress2(cctx, out.data(), out.size(), in.data(), in.size());
        if (ZSTD_isError(n)) std::abort();
        bytes += n + 40;
      }
      const double t = cpu_seconds() - t0;
      if (t < best) best = t;
    }
    return best;
  };
  // The rearrangement alone, best of the passes (as zstd's below).
  {
    std::vector<std::byte> scratch(columns::scratch_bytes(1 << 20)), cols(1 << 21), back(1 << 21);
    transpose_s = untranspose_s = 1e9;
    for (int pass = 0; pass < passes; ++pass) {
      double t0 = cpu_seconds();
      for (const Raw& r : chunks) columns::to_columns(r.rows, r.count, cols.data(), scratch.data());
      transpose_s = std::min(transpose_s, cpu_seconds() - t0);
      t0 = cpu_seconds();
      size_t m = 0;
      const char* why = "";
      for (const Raw& r : chunks) columns::to_rows(r.cols, r.count, back.data(), m, &why);
      untranspose_s = std::min(untranspose_s, cpu_seconds() - t0);
    }
  }
  uint64_t rows_z = 0, cols_z = 0;
  const double rows_s = run(false, rows_z);
  const double cols_s = run(true, cols_z);
  const double ev = static_cast<double>(events);
  fmt::print(
      "{{\"events\":{},\"frames\":{},\"level\":{},\"raw_bytes_per_event\":{{\"rows\":{:.3f},"
      "\"columns\":{:.3f}}},\"bytes_per_event\":{{\"rows\":{:.3f},\"columns\":{:.3f}}},"
      "\"zstd_ns_per_event\":{{\"rows\":{:.2f},\"columns\":{:.2f}}},"
      "\"to_columns_ns_per_event\":{:.2f},\"to_rows_ns_per_event\":{:.2f}}}\n",
      events, chunks.size(), level, static_cast<double>(row_bytes) / ev,
      static_cast<double>(col_bytes) / ev, static_cast<double>(rows_z) / ev,
      static_cast<double>(cols_z) / ev, rows_s * 1e9 / ev, cols_s * 1e9 / ev,
      transpose_s * 1e9 / ev, untranspose_s * 1e9 / ev);
  ZSTD_freeCCtx(cctx);
  return 0;
}
