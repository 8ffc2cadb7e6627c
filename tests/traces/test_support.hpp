// Shared helpers of the traces tests: scratch files and event streams.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/trace_builder.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces::testing {

// A file path unique to the running test, under the build tree. The test's directory
// is emptied the first time the test asks, so reruns start clean.
inline std::filesystem::path scratch(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = std::string(info->test_suite_name()) + "." + info->name();
  const std::filesystem::path dir = std::filesystem::path(MTREPLAY_TEST_TMP) / test;
  static std::string cleaned;
  if (cleaned != test) {
    std::filesystem::remove_all(dir);
    cleaned = test;
  }
  std::filesystem::create_directories(dir);
  return dir / name;
}

inline TraceHeader sample_header() {
  TraceHeader h;
  h.version = 1;
  h.pid = 4242;
  h.ppid = 1;
  h.parent_trace_pid = 0;
  h.start_realtime_ns = 1'700'000'000'000'000'000ull;
  h.start_clock_ns = 123'456'789;
  h.ticks_per_second = 1'000'000'000;
  h.page_size = 4096;
  h.exe = "/usr/bin/example";
  h.argv = {"example", "--flag", "with space"};
  return h;
}

// A malloc/free-like stream over `threads` threads: sizes from a skewed distribution,
// frees of random live objects (some by another thread), realloc pairs, times that
// advance by tens of ns. Events come in global time order.
inline std::vector<Event> synthetic_stream(size_t count, uint32_t threads, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  std::vector<std::pair<uint64_t, uint64_t>> live;  // ptr, size
  uint64_t time = 1000, next_addr = 0x5555'5555'0000ull;
  const uint64_t sizes[] = {8, 16, 24, 32, 48, 64, 96, 128, 256, 1024, 4096};
  while (out.size() < count) {
    time += 20 + rng() % 60;
    Event e;
    e.time_ns = time;
    e.thread = static_cast<uint32_t>(rng() % threads);
    if (live.empty() || rng() % 100 < 52) {
      e.op = Op::kMalloc;
      e.size = sizes[rng() % 11] + (rng() % 4 == 0 ? rng() % 16 : 0);
      e.result = next_addr;
      next_addr += (e.size + 31) / 16 * 16;
      live.push_back({e.result, e.size});
    } else {
      const size_t i = rng() % 8 == 0 ? rng() % live.size() : live.size() - 1;
      e.op = Op::kFree;
      e.ptr = live[i].first;
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    out.push_back(e);
  }
  return out;
}

// version 6 for streams that hold kTouched events.
inline void write_trace(const std::filesystem::path& path, const std::vector<Event>& events,
                        size_t chunk_bytes = TraceBuilder::kDefaultChunkBytes,
                        uint32_t version = 1) {
  TraceHeader header = sample_header();
  header.version = version;
  TraceBuilder builder(path, header, chunk_bytes);
  for (const Event& e : events) builder.add(e);
  builder.finish();
}

inline std::vector<Event> read_merged(const std::filesystem::path& path) {
  MergedReader reader(path);
  std::vector<Event> out;
  Event e;
  while (reader.next(e)) out.push_back(e);
  return out;
}

inline bool same_event(const Event& a, const Event& b) {
  return a.time_ns == b.time_ns && a.ptr == b.ptr && a.size == b.size && a.count == b.count &&
         a.align == b.align && a.result == b.result && a.error == b.error && a.thread == b.thread &&
         a.op == b.op;
}

}  // namespace mtreplay::traces::testing
