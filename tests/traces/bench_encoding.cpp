// Benchmarks of the trace format (label bench, never in CI):
//   encode        ChunkEncoder::append, ns per event (the recorder's hot-path share)
//   write         encode + zstd + write(2) of whole chunks; counter bytes_per_event
//   read_merged   MergedReader over the written trace, ns per event
// on the synthetic malloc/free-like stream of test_support.hpp (1 and 4 threads).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/trace_writer.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

const std::vector<Event>& stream(uint32_t threads) {
  static std::vector<Event> one = testing::synthetic_stream(1 << 20, 1, 11);
  static std::vector<Event> four = testing::synthetic_stream(1 << 20, 4, 11);
  return threads == 1 ? one : four;
}

std::filesystem::path bench_file() {
  std::filesystem::create_directories(MTREPLAY_TEST_TMP);
  return std::filesystem::path(MTREPLAY_TEST_TMP) / "bench.mtr";
}

void BM_encode(benchmark::State& state) {
  // A cache-resident slice: the recorder encodes the event it just built, not one read
  // from a 56 MB array.
  const std::vector<Event> events(stream(1).begin(), stream(1).begin() + 4096);
  std::vector<std::byte> buffer(256 * 1024);
  ChunkEncoder enc;
  size_t i = 0;
  enc.reset(buffer.data(), buffer.data() + buffer.size(), events[0].time_ns);
  for (auto _ : state) {
    if (!enc.has_room()) enc.reset(buffer.data(), buffer.data() + buffer.size(), events[i].time_ns);
    enc.append(events[i]);
    if (++i == events.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_encode);

// Writes the whole stream as a trace with per-thread chunks of `chunk` bytes at zstd
// level `level`, the way the recorder does.
void write_stream(const std::vector<Event>& events, size_t chunk, int level,
                  const std::filesystem::path& path, uint64_t& bytes) {
  TraceWriter w;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  w.open(fd, HeaderFields{}, level);
  std::vector<std::vector<std::byte>> buffers(4, std::vector<std::byte>(chunk));
  std::vector<ChunkEncoder> enc(4);
  for (const Event& e : events) {
    ChunkEncoder& c = enc[e.thread];
    if (c.count() > 0 && !c.has_room()) {
      w.write_chunk({e.thread, e.thread, c.count(), c.base_time_ns()}, c.bytes());
      c.reset(nullptr, nullptr, 0);
    }
    if (c.count() == 0)
      c.reset(buffers[e.thread].data(), buffers[e.thread].data() + chunk, e.time_ns);
    c.append(e);
  }
  for (uint32_t t = 0; t < 4; ++t)
    if (enc[t].count() > 0)
      w.write_chunk({t, t, enc[t].count(), enc[t].base_time_ns()}, enc[t].bytes());
  w.close();
  bytes = w.bytes_written();
}

void BM_write(benchmark::State& state) {
  const auto& events = stream(static_cast<uint32_t>(state.range(0)));
  const auto path = bench_file();
  uint64_t bytes = 0;
  for (auto _ : state)
    write_stream(events, 256 * 1024, static_cast<int>(state.range(1)), path, bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["bytes_per_event"] =
      static_cast<double>(bytes) / static_cast<double>(events.size());
}
BENCHMARK(BM_write)->Args({1, 1})->Args({1, 3})->Args({4, 3})->Args({4, 9})->Unit(
    benchmark::kMillisecond);

void BM_read_merged(benchmark::State& state) {
  const auto& events = stream(static_cast<uint32_t>(state.range(0)));
  const auto path = bench_file();
  uint64_t bytes = 0;
  write_stream(events, 256 * 1024, 3, path, bytes);
  for (auto _ : state) {
    MergedReader r(path);
    Event e;
    uint64_t n = 0;
    while (r.next(e)) ++n;
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
}
BENCHMARK(BM_read_merged)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mtreplay::traces

BENCHMARK_MAIN();
