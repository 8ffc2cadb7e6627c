// ReadAhead: a MergedReader's events decoded on another thread come out the same, in
// the same order; a corrupt trace throws the same error after the same events; a
// reader abandoned early stops its thread. Run under TSan and ASan in the sanitizer
// builds.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <span>

#include "mtreplay/traces/read_ahead.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

// The events read, and the error met (empty if none).
struct Outcome {
  std::vector<Event> events;
  std::string error;
};

template <class Next>
Outcome drain(Next next) {
  Outcome out;
  Event e;
  try {
    while (next(e)) out.events.push_back(e);
  } catch (const TraceError& error) {
    out.error = error.what();
  }
  return out;
}

// A frame header's damage is found when the reader opens the trace (it reads them all
// first), a payload's only as the events reach it.
Outcome read(const std::filesystem::path& path, bool ahead) {
  std::optional<MergedReader> reader;
  try {
    reader.emplace(path);
  } catch (const TraceError& error) {
    return {{}, error.what()};
  }
  if (!ahead) return drain([&](Event& e) { return reader->next(e); });
  ReadAhead read_ahead(*reader);
  return drain([&](Event& e) { return read_ahead.next(e); });
}

void expect_same(const Outcome& a, const Outcome& b) {
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i)
    ASSERT_TRUE(same_event(a.events[i], b.events[i])) << "event " << i;
  EXPECT_EQ(a.error, b.error);
}

TEST(ReadAhead, GivesTheMergedReadersEventsInItsOrder) {
  // Sizes around the batch (4096 events) and the ring (8 batches): empty, partial,
  // exact and many times round.
  for (size_t count : {0u, 1u, 4095u, 4096u, 4097u, 8u * 4096u, 100'000u}) {
    SCOPED_TRACE(count);
    const auto path = scratch("t" + std::to_string(count) + ".mtr");
    write_trace(path, synthetic_stream(count, 3, count), 4096);
    const Outcome direct = read(path, false);
    EXPECT_EQ(direct.events.size(), count);
    expect_same(direct, read(path, true));
  }
}

// run() and consume(), as the streamed planner takes its events (a run at a time, a
// part of it when a segment ends inside), give the same events as next().
TEST(ReadAhead, RunsTakenInPartsGiveTheSameEvents) {
  const auto path = scratch("runs.mtr");
  write_trace(path, synthetic_stream(50'000, 3, 5), 4096);
  const Outcome direct = read(path, false);
  MergedReader reader(path);
  ReadAhead ahead(reader);
  Outcome parts;
  std::mt19937_64 rng(7);
  for (;;) {
    const std::span<const Event> run = ahead.run();
    if (run.empty()) break;
    const size_t take = 1 + rng() % std::min<size_t>(run.size(), 3000);
    parts.events.insert(parts.events.end(), run.begin(), run.begin() + take);
    ahead.consume(take);
  }
  expect_same(direct, parts);
}

TEST(ReadAhead, ACorruptTraceThrowsTheSameErrorAfterTheSameEvents) {
  const auto path = scratch("clean.mtr");
  write_trace(path, synthetic_stream(60'000, 2, 7), 4096);
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> clean{std::istreambuf_iterator<char>(in), {}};
  std::mt19937_64 rng(2026);
  size_t failed_midway = 0;
  for (int i = 0; i < 40; ++i) {
    std::vector<char> bytes = clean;
    // Past the header and the first frames, so that some events come before the error.
    const size_t at = bytes.size() / 4 + rng() % (bytes.size() * 3 / 4);
    for (int k = 0; k < 8 && at + k < bytes.size(); ++k) bytes[at + k] = static_cast<char>(rng());
    const auto broken = scratch("broken.mtr");
    std::ofstream(broken, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const Outcome direct = read(broken, false);
    if (!direct.error.empty() && !direct.events.empty()) ++failed_midway;
    SCOPED_TRACE(i);
    expect_same(direct, read(broken, true));
  }
  EXPECT_GT(failed_midway, 5u);  // payloads damaged past the first events
}

TEST(ReadAhead, AReaderLeftEarlyStopsItsThread) {
  const auto path = scratch("long.mtr");
  write_trace(path, synthetic_stream(200'000, 4, 3), 4096);
  for (size_t consumed : {0u, 1u, 5000u, 40'000u}) {
    MergedReader reader(path);
    std::optional<ReadAhead> ahead(std::in_place, reader);
    Event e;
    for (size_t i = 0; i < consumed; ++i) ASSERT_TRUE(ahead->next(e));
    ahead.reset();  // must return: the thread waits for room, or is mid-batch
  }
}

}  // namespace
}  // namespace mtreplay::traces
