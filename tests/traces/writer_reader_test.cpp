// TraceWriter -> ChunkReader/MergedReader: header, frames, truncation, corruption.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/content_hash.hpp"
#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

std::vector<char> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::filesystem::path& p, const std::vector<char>& bytes, size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(size));
}

TEST(WriterReader, HeaderAndEventsRoundTrip) {
  const auto path = scratch("t.mtr");
  const auto events = synthetic_stream(50000, 4, 1);
  write_trace(path, events, 16 * 1024);

  ChunkReader chunks(path);
  const TraceHeader& h = chunks.header();
  const TraceHeader want = sample_header();
  EXPECT_EQ(h.version, 1u);
  EXPECT_EQ(h.pid, want.pid);
  EXPECT_EQ(h.ppid, want.ppid);
  EXPECT_EQ(h.start_realtime_ns, want.start_realtime_ns);
  EXPECT_EQ(h.start_clock_ns, want.start_clock_ns);
  EXPECT_EQ(h.page_size, want.page_size);
  EXPECT_EQ(h.exe, want.exe);
  EXPECT_EQ(h.argv, want.argv);
  EXPECT_TRUE(chunks.summary().complete);
  EXPECT_EQ(chunks.summary().events, events.size());
  EXPECT_EQ(chunks.summary().truncated_bytes, 0u);
  EXPECT_GT(chunks.summary().frames, 4u);  // small chunks: several per thread

  // File order: each thread's events in order, across its chunks.
  std::vector<std::vector<Event>> per_thread(4);
  for (const Event& e : events) per_thread[e.thread].push_back(e);
  std::vector<size_t> seen(4, 0);
  Chunk c;
  uint64_t last_offset = 0;
  while (chunks.next(c)) {
    EXPECT_GT(c.file_offset, last_offset);
    last_offset = c.file_offset;
    EXPECT_EQ(c.events.size(), c.info.event_count);
    for (const Event& e : c.events) {
      ASSERT_EQ(e.thread, c.info.thread_index);
      ASSERT_TRUE(same_event(e, per_thread[e.thread][seen[e.thread]++]));
    }
  }
  for (uint32_t t = 0; t < 4; ++t) EXPECT_EQ(seen[t], per_thread[t].size());

  const auto merged = read_merged(path);
  ASSERT_EQ(merged.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ASSERT_TRUE(same_event(merged[i], events[i])) << i;
}

TEST(WriterReader, EmptyTraceIsComplete) {
  const auto path = scratch("empty.mtr");
  write_trace(path, {});
  MergedReader r(path);
  Event e;
  EXPECT_FALSE(r.next(e));
  EXPECT_TRUE(r.summary().complete);
  EXPECT_EQ(r.summary().frames, 0u);
  EXPECT_TRUE(r.threads().empty());
}

TEST(WriterReader, OpenFailsCleanlyOnABadFd) {
  TraceWriter w;
  EXPECT_FALSE(w.open(-1, HeaderFields{}));
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(w.open(fd, HeaderFields{}));  // ENOSPC on the header write
  EXPECT_FALSE(w.is_open());
}

// Writes `n` mallocs as one chunk.
void write_mallocs(TraceWriter& w, uint32_t n, uint64_t t0) {
  std::array<std::byte, 4096> buf;
  ChunkEncoder enc;
  enc.reset(buf.data(), buf.data() + buf.size(), t0);
  for (uint32_t i = 0; i < n; ++i) {
    Event e;
    e.op = Op::kMalloc;
    e.time_ns = t0 + i;
    e.size = 16;
    e.result = 0x1000 + 16 * i;
    enc.append(e);
  }
  ASSERT_TRUE(w.write_chunk({0, 1, enc.count(), enc.base_time_ns()}, enc.bytes()));
}

// Version 2's end record says why the trace ended and how many calls went unrecorded;
// the recorder ends a trace before an exec and resumes it if the exec fails.
TEST(WriterReader, EndRecordReasonAndResumingAfterAFailedExec) {
  const auto path = scratch("end.mtr");
  TraceWriter w;
  ASSERT_TRUE(
      w.open(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), HeaderFields{}));
  write_mallocs(w, 3, 100);
  ASSERT_TRUE(w.end_trace({EndReason::kExec, 7}));
  EXPECT_FALSE(w.write_chunk({0, 1, 0, 0}, {})) << "nothing may follow the end record";
  {
    ChunkReader r(path);  // what a reader sees if the exec succeeds
    EXPECT_EQ(r.header().version, 2u);
    EXPECT_TRUE(r.summary().complete);
    EXPECT_EQ(r.summary().end_reason, EndReason::kExec);
    EXPECT_EQ(r.summary().unrecorded_calls, 7u);
    EXPECT_EQ(r.summary().events, 3u);
  }
  ASSERT_TRUE(w.resume());  // the exec failed
  write_mallocs(w, 2, 200);
  ASSERT_TRUE(w.close({EndReason::kExit, uint64_t{1} << 40}));
  ChunkReader r(path);
  EXPECT_TRUE(r.summary().complete);
  EXPECT_EQ(r.summary().end_reason, EndReason::kExit);
  EXPECT_EQ(r.summary().unrecorded_calls, UINT32_MAX) << "saturated, not wrapped";
  EXPECT_EQ(r.summary().frames, 2u);
  EXPECT_EQ(r.summary().events, 5u);
  EXPECT_EQ(end_reason_name(r.summary().end_reason), "exit");
}

TEST(WriterReader, VersionOneTracesStayReadable) {
  const auto path = scratch("v1.mtr");
  TraceWriter w;
  HeaderFields h;
  h.version = 1;
  ASSERT_TRUE(w.open(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h));
  write_mallocs(w, 4, 100);
  ASSERT_TRUE(w.close({EndReason::kExit, 5}));  // version 1 has no room for either
  ChunkReader r(path);
  EXPECT_EQ(r.header().version, 1u);
  EXPECT_TRUE(r.summary().complete);
  EXPECT_EQ(r.summary().end_reason, EndReason::kNone);
  EXPECT_EQ(r.summary().unrecorded_calls, 0u);
  EXPECT_EQ(r.summary().events, 4u);
  HeaderFields bad;
  bad.version = format::kMaxVersion + 1;
  TraceWriter w3;
  EXPECT_FALSE(w3.open(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC), bad));
}

// Frame flags exist from version 3 on: COARSE_TIME marks zero-delta events coarse; a
// version 2 writer refuses flags, and readers reject bits no version defines.
TEST(WriterReader, CoarseFramesNeedVersionThree) {
  std::array<std::byte, 256> buf;
  ChunkEncoder enc;
  enc.reset(buf.data(), buf.data() + buf.size(), 99);
  for (uint64_t t : {100, 100, 100, 130}) {
    Event e;
    e.op = Op::kMalloc;
    e.time_ns = t;
    e.size = 16;
    e.result = 0x1000 + t;
    enc.append(e);
  }
  const ChunkInfo coarse{0, 1, enc.count(), enc.base_time_ns(), format::kFrameCoarseTime};
  const auto v2 = scratch("v2flags.mtr");
  TraceWriter w2;
  ASSERT_TRUE(w2.open(::open(v2.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), {}));
  EXPECT_FALSE(w2.write_chunk(coarse, enc.bytes()));
  EXPECT_EQ(errno, EINVAL);

  const auto v3 = scratch("v3.mtr");
  HeaderFields h;
  h.version = 3;
  TraceWriter w3;
  ASSERT_TRUE(w3.open(::open(v3.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h));
  EXPECT_FALSE(w3.write_chunk({0, 1, enc.count(), enc.base_time_ns(), 2}, enc.bytes()));
  ASSERT_TRUE(w3.write_chunk(coarse, enc.bytes()));
  ASSERT_TRUE(w3.close());
  const auto ev = read_merged(v3);
  ASSERT_EQ(ev.size(), 4u);
  const bool want[] = {false, true, true, false};  // deltas 1, 0, 0, 30
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].coarse_time, want[i]) << i;
    EXPECT_EQ(ev[i].time_ns, i < 3 ? 100u : 130u) << i;
  }
  // A flag bit no version defines is corruption.
  std::fstream f(v3, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  size_t frame = 0;
  for (size_t i = 0; i + 4 <= bytes.size(); ++i)
    if (std::memcmp(&bytes[i], "MTRF", 4) == 0) {
      frame = i;  // the first: the only frame's header, right after the file header
      break;
    }
  ASSERT_NE(frame, 0u);
  bytes[frame + 32] = 3;
  const uint32_t check = static_cast<uint32_t>(
      format::fnv1a64({reinterpret_cast<const std::byte*>(&bytes[frame]), 36}));
  std::memcpy(&bytes[frame + 36], &check, 4);
  f.seekp(0);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  try {
    MergedReader r(v3);
    ADD_FAILURE() << "read unknown frame flags";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown frame flags"), std::string::npos) << e.what();
  }
}

// Version 4: frames may be written against the pointer model (FORMAT.md "Pointer
// model"); a version 3 writer refuses that flag, and the reader decodes by the flag.
TEST(WriterReader, PointerModelFramesNeedVersionFour) {
  std::array<std::byte, 512> buf;
  PointerModel model;
  ChunkEncoder enc;
  enc.reset(buf.data(), buf.data() + buf.size(), 99, &model);
  std::vector<Event> in;
  for (uint64_t i = 0; i < 12; ++i) {
    Event e;
    e.time_ns = 100 + i;
    e.thread = 0;
    if (i % 2 == 0) {
      e.op = Op::kMalloc;
      e.size = 48;
      e.result = 0x7000'0000 + 16 * (i % 4);
    } else {
      e.op = Op::kFree;
      e.ptr = in.back().result;
    }
    in.push_back(e);
    enc.append(e);
  }
  const ChunkInfo modeled{0, 1, enc.count(), enc.base_time_ns(),
                          format::kFramePointerModel | format::kFrameCoarseTime};
  HeaderFields h;
  h.version = 3;
  const auto v3 = scratch("v3model.mtr");
  TraceWriter w3;
  ASSERT_TRUE(w3.open(::open(v3.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h));
  EXPECT_FALSE(w3.write_chunk(modeled, enc.bytes()));
  EXPECT_EQ(errno, EINVAL);

  h.version = 4;
  const auto v4 = scratch("v4.mtr");
  TraceWriter w4;
  ASSERT_TRUE(w4.open(::open(v4.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h));
  EXPECT_FALSE(w4.write_chunk({0, 1, enc.count(), enc.base_time_ns(), 4}, enc.bytes()));
  ASSERT_TRUE(w4.write_chunk(modeled, enc.bytes()));
  ASSERT_TRUE(w4.close());
  const auto ev = read_merged(v4);
  ASSERT_EQ(ev.size(), in.size());
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].ptr, in[i].ptr) << i;
    EXPECT_EQ(ev[i].result, in[i].result) << i;
    EXPECT_EQ(ev[i].time_ns, in[i].time_ns) << i;
  }
}

// The recorder benchmark's malloc/free loop (64 live blocks, random sizes, 16-byte
// steps, a failure now and then), `n` events or until the chunk is full, appended.
std::vector<Event> append_benchmark_loop(ChunkEncoder& enc, uint64_t n) {
  std::vector<Event> in;
  uint64_t live[64] = {};
  uint32_t x = 7;
  for (uint64_t i = 0; i < n && enc.has_room(); ++i) {
    Event e;
    e.time_ns = 100 + i / 3;
    const size_t slot = i / 2 % 64;
    if (i % 2 == 0 && live[slot] != 0) {
      e.op = Op::kFree;
      e.ptr = live[slot];
    } else {
      x = x * 1103515245u + 12345u;
      e.op = Op::kMalloc;
      e.size = 16 + (x >> 22);
      e.result = live[slot] = 0x7000'0000 + 16 * (x >> 20);
    }
    if (i % 500 == 7) e.error = 12;
    in.push_back(e);
    enc.append(e);
  }
  return in;
}

// Version 5: a chunk may be written in column layout (FORMAT.md "Column layout"); a
// version 4 writer refuses the flag, and a version 5 frame reads back exactly as the
// same chunk in rows does in a version 4 file (which still reads).
TEST(WriterReader, ColumnFramesNeedVersionFiveAndReadAsRows) {
  std::vector<std::byte> buf(1 << 16);
  PointerModel model;
  ChunkEncoder enc;
  enc.reset(buf.data(), buf.data() + buf.size(), 99, &model);
  const std::vector<Event> in = append_benchmark_loop(enc, 4000);
  ASSERT_EQ(in.size(), 4000u);
  constexpr uint32_t kModeled = format::kFramePointerModel | format::kFrameCoarseTime;
  const ChunkInfo rows{0, 1, enc.count(), enc.base_time_ns(), kModeled};
  const ChunkInfo cols{0, 1, enc.count(), enc.base_time_ns(), kModeled | format::kFrameColumns};
  auto open_file = [](TraceWriter& w, const std::filesystem::path& p, uint32_t version) {
    HeaderFields h;
    h.version = version;
    return w.open(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h);
  };
  const auto v4 = scratch("v4rows.mtr");
  TraceWriter w4;
  ASSERT_TRUE(open_file(w4, v4, 4));
  EXPECT_FALSE(w4.write_chunk(cols, enc.bytes()));
  EXPECT_EQ(errno, EINVAL);
  ASSERT_TRUE(w4.write_chunk(rows, enc.bytes()));
  ASSERT_TRUE(w4.close());

  const auto v5 = scratch("v5cols.mtr");
  TraceWriter w5;
  ASSERT_TRUE(open_file(w5, v5, 5));
  EXPECT_FALSE(w5.write_chunk({0, 1, enc.count(), enc.base_time_ns(), 8}, enc.bytes()));
  // Rows that are not the declared count of events do not go into columns.
  EXPECT_FALSE(
      w5.write_chunk({0, 1, enc.count() + 1, enc.base_time_ns(), cols.flags}, enc.bytes()));
  EXPECT_EQ(errno, EINVAL);
  ASSERT_TRUE(w5.write_chunk(cols, enc.bytes()));
  // Adaptive: rows first, then columns, then the cheaper one (the other one now and then).
  w5.set_column_policy(TraceWriter::ColumnPolicy::kAdaptive);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(w5.write_chunk(cols, enc.bytes()));
  ASSERT_TRUE(w5.close());

  // The same chunk alone in a version 5 file, in columns: dump (but its version line)
  // and the analysis read exactly as the version 4 file's.
  const auto v5one = scratch("v5one.mtr");
  TraceWriter w5one;
  ASSERT_TRUE(open_file(w5one, v5one, 5));
  ASSERT_TRUE(w5one.write_chunk(cols, enc.bytes()));
  ASSERT_TRUE(w5one.close());
  auto dump_of = [](const std::filesystem::path& p) {
    MergedReader reader(p);
    char* text = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    dump_text(reader, out);
    std::fclose(out);
    std::string dumped(text, size);
    std::free(text);
    return dumped;
  };
  auto analysis_of = [](const std::filesystem::path& p) {
    MergedReader reader(p);
    auto json = to_json(analyze(reader));
    json["trace"].erase("version");  // the one difference
    return json.dump();
  };
  std::string dump4 = dump_of(v4), dump5 = dump_of(v5one);
  ASSERT_NE(dump4.find("version 4\n"), std::string::npos);
  ASSERT_NE(dump5.find("version 5\n"), std::string::npos);
  dump5.replace(dump5.find("version 5\n"), 10, "version 4\n");
  EXPECT_EQ(dump4, dump5);
  EXPECT_GT(dump4.size(), 4000u * 10);
  EXPECT_EQ(analysis_of(v4), analysis_of(v5one));

  const auto want = read_merged(v4);
  ASSERT_EQ(want.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(want[i], in[i])) << i;
  ChunkReader r(v5);
  EXPECT_EQ(r.header().version, 5u);
  Chunk c;
  size_t frames = 0, in_columns = 0;
  while (r.next(c)) {
    EXPECT_EQ(c.info.flags & ~format::kFrameColumns, kModeled);
    in_columns += (c.info.flags & format::kFrameColumns) != 0;
    if (frames == 0 || frames == 2) {
      EXPECT_NE(c.info.flags & format::kFrameColumns, 0u) << frames;
    }
    if (frames == 1) {
      EXPECT_EQ(c.info.flags & format::kFrameColumns, 0u);
    }
    ++frames;
    ASSERT_EQ(c.events.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(c.events[i], in[i])) << i;
  }
  EXPECT_EQ(frames, 41u);
  EXPECT_GE(in_columns, 3u);
  EXPECT_LT(in_columns, frames);
}

// Effort::kStore (the recorder's writer when it has no core of its own): the chunk goes
// out in rows at zstd's fastest level, an ordinary frame that reads back exactly, and
// bigger than the compressed one.
TEST(WriterReader, StoredFramesReadAsTheCompressedOnes) {
  std::vector<std::byte> buf(64 * 1024);
  PointerModel model;
  ChunkEncoder enc;
  enc.reset(buf.data(), buf.data() + buf.size(), 100, &model);
  const std::vector<Event> in = append_benchmark_loop(enc, 6000);
  constexpr uint32_t kFlags =
      format::kFramePointerModel | format::kFrameCoarseTime | format::kFrameColumns;
  const ChunkInfo info{0, 1, enc.count(), enc.base_time_ns(), kFlags};
  const auto path = scratch("stored.mtr");
  TraceWriter w;
  HeaderFields h;
  h.version = 5;
  ASSERT_TRUE(w.open(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), h, 1));
  w.set_column_policy(TraceWriter::ColumnPolicy::kAdaptive);
  ASSERT_TRUE(w.write_chunk(info, enc.bytes()));  // measured: over kMeasuredEvents events
  EXPECT_GT(w.last_chunk_cpu_ns(), 0u);
  ASSERT_TRUE(w.write_chunk(info, enc.bytes(), TraceWriter::Effort::kStore));
  EXPECT_EQ(w.last_chunk_cpu_ns(), 0u);  // not measured
  ASSERT_TRUE(w.write_chunk(info, enc.bytes(), TraceWriter::Effort::kStore));
  ASSERT_TRUE(w.write_chunk(info, enc.bytes()));
  EXPECT_EQ(w.stored_frames(), 2u);
  EXPECT_EQ(w.frames_written(), 4u);
  ASSERT_TRUE(w.close());

  ChunkReader r(path);
  EXPECT_TRUE(r.summary().complete);
  Chunk c;
  std::vector<uint64_t> sizes;
  std::vector<uint32_t> flags;
  uint64_t last_offset = 0;
  while (r.next(c)) {
    if (!sizes.empty()) sizes.back() = c.file_offset - last_offset;
    last_offset = c.file_offset;
    sizes.push_back(0);
    flags.push_back(c.info.flags);
    ASSERT_EQ(c.events.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_event(c.events[i], in[i])) << i;
  }
  ASSERT_EQ(flags.size(), 4u);
  EXPECT_EQ(flags[1], kFlags & ~format::kFrameColumns);  // stored in rows
  EXPECT_EQ(flags[2], kFlags & ~format::kFrameColumns);
  // Stored: about the raw bytes (zstd's frame and the frame header on top); the
  // compressed frame before it is well under that.
  const uint64_t raw = enc.bytes().size();
  EXPECT_GE(sizes[1], raw);
  EXPECT_LE(sizes[1], raw + raw / 64 + 128);
  EXPECT_LT(sizes[0] * 4, sizes[1] * 3);
}

TEST(WriterReader, UnwritableDirectoryIsATraceError) {
  EXPECT_THROW(TraceBuilder("/proc/definitely/not/here.mtr", sample_header()), TraceError);
}

TEST(WriterReader, MissingFileIsATraceError) {
  try {
    MergedReader r(scratch("absent.mtr"));
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.mtr"), std::string::npos);
  }
}

// Truncation at every byte: the header must be whole, after that the reader yields the
// whole frames before the cut and says how many bytes it dropped.
TEST(WriterReader, TruncationAtEveryByte) {
  const auto full = scratch("full.mtr");
  const auto events = synthetic_stream(600, 3, 2);
  write_trace(full, events, 512);
  const std::vector<char> bytes = slurp(full);
  ChunkReader whole(full);
  const uint64_t header_size =
      format::load<uint32_t>(reinterpret_cast<const std::byte*>(&bytes[12]));
  // Where each frame of the whole file ends.
  std::vector<uint64_t> frame_ends;
  {
    Chunk c;
    std::vector<uint64_t> starts;
    while (whole.next(c)) starts.push_back(c.file_offset);
    for (size_t i = 1; i < starts.size(); ++i) frame_ends.push_back(starts[i]);
    frame_ends.push_back(bytes.size() - format::kRecordBytes);  // the end record follows
  }
  const auto cut_path = scratch("cut.mtr");
  uint64_t last_events = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    spit(cut_path, bytes, cut);
    if (cut < header_size) {
      EXPECT_THROW(MergedReader{cut_path}, TraceError) << cut;
      continue;
    }
    MergedReader r(cut_path);
    EXPECT_FALSE(r.summary().complete) << cut;
    std::vector<Event> got;
    Event e;
    while (r.next(e)) got.push_back(e);
    EXPECT_EQ(got.size(), r.summary().events);
    EXPECT_GE(got.size(), last_events);  // more bytes never give fewer events
    last_events = got.size();
    // Whole frames plus dropped bytes account for the file exactly.
    if (r.summary().frames > 0) {
      // The last whole frame ends where the dropped bytes begin.
      EXPECT_EQ(cut - r.summary().truncated_bytes, frame_ends.at(r.summary().frames - 1)) << cut;
    } else {
      EXPECT_EQ(cut - r.summary().truncated_bytes, header_size) << cut;
    }
  }
  EXPECT_EQ(last_events, events.size());
}

TEST(WriterReader, CorruptionIsATraceErrorNamingTheOffset) {
  const auto path = scratch("c.mtr");
  write_trace(path, synthetic_stream(2000, 2, 3), 4096);
  const std::vector<char> good = slurp(path);
  const auto bad_path = scratch("bad.mtr");
  const auto want = read_merged(path);
  // One flipped byte anywhere: the header checksum, a frame header check, the zstd
  // checksum or the end record catches it, unless the flip does not change what the
  // frame decompresses to (zstd's checksum covers content, not encoding).
  size_t noticed = 0, harmless = 0;
  for (size_t at = 0; at < good.size(); at += 7) {
    std::vector<char> bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    spit(bad_path, bad, bad.size());
    try {
      const auto got = read_merged(bad_path);
      ASSERT_EQ(got.size(), want.size()) << "flip at " << at << " changed the events";
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(same_event(got[i], want[i])) << "flip at " << at << " changed event " << i;
      ++harmless;
    } catch (const TraceError& e) {
      ++noticed;
      const std::string what = e.what();
      EXPECT_NE(what.find("bad.mtr"), std::string::npos) << what;
      EXPECT_NE(what.find("at byte " + std::to_string(e.offset())), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(noticed, 50 * harmless);
}

TEST(WriterReader, ContentHashIsFnv1aOfTheBytes) {
  const auto path = scratch("h.bin");
  spit(path, {'a'}, 1);
  EXPECT_EQ(content_hash(path), "fnv1a64:af63dc4c8601ec8c");  // FNV-1a 64 of "a"
  spit(path, {}, 0);
  EXPECT_EQ(content_hash(path), "fnv1a64:cbf29ce484222325");
  EXPECT_THROW(content_hash(scratch("nope")), TraceError);
}

}  // namespace
}  // namespace mtreplay::traces
