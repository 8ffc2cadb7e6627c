// The text form: hand-written traces, dump -> import -> dump, and line-numbered errors.
#include <gtest/gtest.h>
#include <malloc.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

std::string dump_to_string(const std::filesystem::path& trace, bool jsonl = false) {
  MergedReader reader(trace);
  char* data = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&data, &size);
  if (jsonl)
    dump_jsonl(reader, out);
  else
    dump_text(reader, out);
  std::fclose(out);
  std::string s(data, size);
  std::free(data);
  return s;
}

uint64_t import_string(const std::string& text, const std::filesystem::path& out,
                       size_t chunk_bytes = TraceBuilder::kDefaultChunkBytes) {
  std::istringstream in(text);
  return import_text(in, "hand.txt", out, chunk_bytes);
}

TEST(TextForm, HandWrittenTraceReadsAsWritten) {
  const auto path = scratch("hand.mtr");
  const uint64_t n = import_string(R"(
# comments and blank lines are fine
pid 7
argv "prog" "two words" "tab\there"
t0 +120ns malloc 32 -> 0x1000
t1 calloc 4 8 -> 0x2000          # no time: same as the line before
t0 +1us free 0x2000
t1 @5ms realloc 0x1000 0 -> NULL
t0 posix_memalign 3 8 -> NULL err=22
t1 +2s thread_exit
)",
                                   path);
  EXPECT_EQ(n, 6u);
  MergedReader r(path);
  EXPECT_EQ(r.header().pid, 7u);
  EXPECT_EQ(r.header().argv, (std::vector<std::string>{"prog", "two words", "tab\there"}));
  const auto ev = read_merged(path);
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[0].op, Op::kMalloc);
  EXPECT_EQ(ev[0].time_ns, 120u);
  EXPECT_EQ(ev[0].size, 32u);
  EXPECT_EQ(ev[0].result, 0x1000u);
  EXPECT_EQ(ev[1].op, Op::kCalloc);
  EXPECT_EQ(ev[1].thread, 1u);
  EXPECT_EQ(ev[1].time_ns, 120u);
  EXPECT_EQ(ev[1].count, 4u);
  EXPECT_EQ(ev[1].size, 8u);
  EXPECT_EQ(ev[2].time_ns, 1120u);
  EXPECT_EQ(ev[2].ptr, 0x2000u);
  EXPECT_EQ(ev[3].time_ns, 5'000'000u);
  EXPECT_EQ(ev[3].result, 0u);
  EXPECT_EQ(ev[4].error, 22);
  EXPECT_EQ(ev[4].align, 3u);
  EXPECT_EQ(ev[5].time_ns, 2'005'000'000u);
  EXPECT_EQ(ev[5].op, Op::kThreadExit);
}

// The builder under import keeps a chunk buffer (256 KiB) per thread that has not
// exited, not per thread ever seen: 2000 short-lived threads, one after the other, all
// declared first (as dump writes its thread lines), hold a few MB, not 500, while the
// builder is open. mallinfo2 counts nothing under ASan, where only the trace is checked.
TEST(TextForm, ImportMemoryFollowsTheLiveThreads) {
  const auto path = scratch("threads.mtr");
  auto in_use = [] {  // small blocks and mmap'd ones (a 256 KiB buffer is mmap'd)
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  const size_t before = in_use();
  size_t held = 0;
  {
    TraceBuilder builder(path, sample_header());
    for (uint32_t t = 0; t < 2000; ++t) builder.set_os_tid(t, 1000 + t);
    uint64_t time = 1000;
    for (uint32_t t = 0; t < 2000; ++t) {
      for (Op op : {Op::kThreadStart, Op::kMalloc, Op::kFree, Op::kThreadExit}) {
        Event e;
        e.time_ns = time += 1000;
        e.thread = t;
        e.op = op;
        e.size = op == Op::kMalloc ? 32 : 0;
        e.result = op == Op::kMalloc ? 0x1000 : 0;
        e.ptr = op == Op::kFree ? 0x1000 : 0;
        builder.add(e);
      }
    }
    const size_t now = in_use();
    held = now - std::min(now, before);
    builder.finish();
  }
  EXPECT_LT(held, size_t{32} << 20);
  MergedReader reader(path);
  EXPECT_EQ(reader.threads().size(), 2000u);
  EXPECT_EQ(reader.summary().events, 8000u);
}

TEST(TextForm, SampleFileHasEveryOp) {
  const auto path = scratch("every.mtr");
  std::ifstream in(std::filesystem::path(MTREPLAY_TEST_DATA) / "every_op.txt");
  ASSERT_TRUE(in);
  import_text(in, "every_op.txt", path);
  std::array<int, kOpCount> seen{};
  for (const Event& e : read_merged(path)) ++seen[static_cast<uint8_t>(e.op)];
  for (uint8_t op = 1; op < kOpCount; ++op) EXPECT_GT(seen[op], 0) << op_name(static_cast<Op>(op));
}

// Random events of every kind over several threads, with ties and a clock that goes
// backwards inside a thread, in small chunks.
std::vector<Event> every_kind_stream(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  uint64_t time = 0;
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.op = static_cast<Op>(1 + rng() % (kOpCount - 1));
    e.thread = static_cast<uint32_t>(rng() % 5);
    if (rng() % 3 != 0) time += rng() % 200;
    e.time_ns = time;
    const format::OpFields f = format::fields_of(e.op);
    auto val = [&]() -> uint64_t { return rng() % 4 == 0 ? rng() : rng() % 5000; };
    if (f.ptr) e.ptr = rng() % 5 == 0 ? 0 : 0x7f00'0000'0000ull + val() * 16;
    if (f.count) e.count = val();
    if (f.align) e.align = uint64_t{1} << (rng() % 13);
    if (f.size) e.size = val();
    if (f.result == format::OpFields::Result::kPointer)
      e.result = rng() % 7 == 0 ? 0 : 0x7f00'0000'0000ull + val() * 16 + (rng() % 9 == 0);
    if (f.result == format::OpFields::Result::kValue) e.result = val();
    if (rng() % 9 == 0) e.error = static_cast<int32_t>(rng() % 200) - 100 + 1000 * (rng() % 2);
    if (e.error == 0 && rng() % 9 == 0) e.error = 12;
    out.push_back(e);
  }
  return out;
}

TEST(TextForm, DumpImportDumpIsExact) {
  const auto first = scratch("first.mtr");
  const auto events = every_kind_stream(20000, 5);
  write_trace(first, events, 700, 6);
  const std::string text = dump_to_string(first);
  const auto second = scratch("second.mtr");
  EXPECT_EQ(import_string(text, second), events.size());
  EXPECT_EQ(dump_to_string(second), text);
  // Different chunking, same text.
  const auto third = scratch("third.mtr");
  import_string(text, third, 200);
  EXPECT_EQ(dump_to_string(third), text);
  // And the events themselves survived.
  const auto back = read_merged(second);
  const auto want = read_merged(first);
  ASSERT_EQ(back.size(), want.size());
  for (size_t i = 0; i < back.size(); ++i) ASSERT_TRUE(same_event(back[i], want[i])) << i;
}

// Version 3: `~` marks a coarse stamp; import cuts frames so that each event reads back
// as written (in a COARSE_TIME frame a zero delta means coarse), dump writes it back.
TEST(TextForm, CoarseStampsRoundTrip) {
  const std::string text = R"(version 3
t0 @1000 malloc 16 -> 0x1000
t0 ~ free 0x1000
t0 ~ malloc 32 -> 0x2000
t0 malloc 48 -> 0x3000
t0 +70ns free 0x2000
t1 +5ns malloc 8 -> 0x4000
t0 ~ free 0x3000
t0 ~+20ns malloc 8 -> 0x5000
)";
  const auto path = scratch("coarse.mtr");
  EXPECT_EQ(import_string(text, path), 8u);
  const auto ev = read_merged(path);
  ASSERT_EQ(ev.size(), 8u);
  const bool want[] = {false, true, true, false, false, false, true, true};
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].coarse_time, want[i]) << i;
  EXPECT_EQ(ev[7].time_ns, 1095u);
  const std::string dumped = dump_to_string(path);
  EXPECT_NE(dumped.find("version 3\n"), std::string::npos);
  EXPECT_NE(dumped.find("t0 ~+0ns free 0x1000"), std::string::npos) << dumped;
  const auto again = scratch("coarse2.mtr");
  import_string(dumped, again, 64);
  EXPECT_EQ(dump_to_string(again), dumped);
  EXPECT_NE(dump_to_string(path, true).find("\"coarse\":true"), std::string::npos);
  // Only version 3 has coarse stamps.
  try {
    import_string("t0 ~@5 malloc 1 -> 0x1\n", scratch("v2.mtr"));
    ADD_FAILURE() << "accepted a coarse stamp in a version 2 text";
  } catch (const TextError& e) {
    EXPECT_EQ(e.line(), 1u);
  }
}

TEST(TextForm, HeaderStringsWithAnyBytesRoundTrip) {
  std::string weird;
  for (int c = 1; c < 256; ++c) weird += static_cast<char>(c);
  EXPECT_EQ(quote("a\"b").size(), 6u);
  std::string back;
  ASSERT_TRUE(unquote(quote(weird), back));
  EXPECT_EQ(back, weird);
  for (std::string_view bad : {"", "\"", "abc", "\"a\\\"", "\"\\q\"", "\"\\x4\"", "\"a\"b\""})
    EXPECT_FALSE(unquote(bad, back)) << bad;
}

TEST(TextForm, JsonLinesHaveOneObjectPerEvent) {
  const auto path = scratch("j.mtr");
  const auto events = every_kind_stream(500, 6);
  write_trace(path, events, TraceBuilder::kDefaultChunkBytes, 6);
  const std::string jsonl = dump_to_string(path, true);
  std::istringstream in(jsonl);
  std::string line;
  size_t objects = 0, with_op = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ++objects;
    if (j.contains("op")) ++with_op;
  }
  EXPECT_EQ(with_op, events.size());
  EXPECT_EQ(objects, events.size() + 1 + 5);  // header + 5 threads
}

TEST(TextForm, ErrorsNameTheLine) {
  const auto path = scratch("bad.mtr");
  const std::pair<const char*, size_t> cases[] = {
      {"pid 1\nt0 malloc 32\n", 2},                       // no result
      {"t0 malloc 32 -> 0x10\nt0 frobnicate 1\n", 2},     // unknown op
      {"\n\nt0 +5zz malloc 1 -> 0x10\n", 3},              // bad time unit
      {"t0 malloc 32 -> 0x10\npid 4\n", 2},               // header after events
      {"wat 3\n", 1},                                     // unknown line
      {"t0 free 0x10 extra\n", 1},                        // trailing token
      {"t0 malloc 99999999999999999999 -> 0x1\n", 1},     // overflow
      {"t0 @5 malloc 1 -> 0x1\nt0 -10ns free 0x1\n", 2},  // before the start
      {"exe \"unterminated\n", 1},
      {"t0 malloc 1 -> 0x1 err=0\n", 1},
      {"t0 malloc 1 -> 0x1\nthread t0 tid 5\n", 2},  // thread declared too late
      {"tx malloc 1 -> 0x1\n", 1},
      {"t4294967296 malloc 1 -> 0x1\n", 1},
      {"t0 malloc 20000 -> 0x1000\nt0 touched 0x1000 -> 4096\n", 2},  // needs version 6
  };
  for (const auto& [text, line] : cases) {
    try {
      import_string(text, path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const TextError& e) {
      EXPECT_EQ(e.line(), line) << text << " -> " << e.what();
      EXPECT_NE(std::string(e.what()).find("hand.txt:" + std::to_string(line) + ":"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace mtreplay::traces
