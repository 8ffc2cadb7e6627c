// Reading and planning throughput of a streamed replay's parent, without the replay:
// the events/s a trace is decoded and merged at (with and without the read-ahead
// thread), and planned into segment images at (the same). BENCHMARKS.md, "Scale".
//
// usage: plan_rate TRACE [--rounds N] [--segment-events N] [--only VARIANT] [--every K]
//        plan_rate TRACE --digest [--segment-events N]
// Prints one JSON line per variant: medians over the rounds, which interleave variants.
// Variant `zstd` only decompresses the trace's frames, one after the other, with no
// decoding: the physical limit of reading (the "beside zstd's decompression").
// --every K also prints, for plan-read-ahead, the rate of each run of K segments.
// --digest prints a hash of the bytes of every segment image of the streamed plan and
// of the whole plan's image instead: a change to the planner must leave them as they were.
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <zstd.h>

#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/results_region.hpp"
#include "mtreplay/replay/trace_plan.hpp"
#include "mtreplay/traces/read_ahead.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace {

using namespace mtreplay;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t read_all(const std::string& trace, bool ahead) {
  traces::MergedReader reader(trace);
  traces::Event event;
  uint64_t events = 0, sink = 0;
  if (ahead) {
    traces::ReadAhead read(reader);
    while (read.next(event)) ++events, sink += event.size;
  } else {
    while (reader.next(event)) ++events, sink += event.size;
  }
  if (sink == 1) std::puts("");  // keeps the loop
  return events;
}

// Every frame's payload read (pread, as the reader does) and decompressed into one
// buffer, in file order; the frames' event count. FORMAT.md: the header's size at byte
// 12, then 40-byte frame headers ("MTRF", events at 12, compressed bytes at 24, raw
// bytes at 28) each followed by its payload.
uint64_t decompress_all(const std::string& trace) {
  const int fd = open(trace.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + trace);
  struct stat st {};
  fstat(fd, &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto read_at = [&](uint64_t at, void* out, size_t n) {
    if (pread(fd, out, n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
      throw std::runtime_error("short read of " + trace);
  };
  uint32_t header = 0;
  read_at(12, &header, 4);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::vector<char> in, out;
  uint64_t events = 0;
  for (uint64_t at = header; at + 40 <= size;) {
    char r[40];
    read_at(at, r, sizeof r);
    if (std::memcmp(r, "MTRF", 4) != 0) break;
    uint32_t count = 0, packed = 0, raw = 0;
    std::memcpy(&count, r + 12, 4);
    std::memcpy(&packed, r + 24, 4);
    std::memcpy(&raw, r + 28, 4);
    in.resize(packed);
    if (out.size() < raw) out.resize(raw);
    read_at(at + 40, in.data(), packed);
    if (ZSTD_isError(ZSTD_decompressDCtx(dctx, out.data(), raw, in.data(), packed)))
      throw std::runtime_error("zstd failed on " + trace);
    events += count;
    at += 40 + packed;
  }
  ZSTD_freeDCtx(dctx);
  close(fd);
  return events;
}

// A memfd mapped writable as the streamed parent maps its plan buffer.
struct Buffer {
  Buffer() {
    fd = memfd_create("plan-rate", 0);
    if (fd < 0) throw std::runtime_error("creating a plan buffer");
    // Where 64 GiB of address space cannot be had (under valgrind), 1 GiB holds every
    // segment at its start, so that images are still encoded in place as the parent does.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
      bytes = half = uint64_t{1} << 30;
      p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    }
    if (p != MAP_FAILED) base = static_cast<std::byte*>(p);
  }
  ~Buffer() {
    if (base) munmap(base, bytes);
    close(fd);
  }
  uint64_t offset(uint32_t index) const {
    return half == replay::kStreamHalfBytes ? replay::stream_segment_offset(index, 2) : 0;
  }
  uint64_t bytes = replay::kStreamBufferBytes;
  uint64_t half = replay::kStreamHalfBytes;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  int fd = -1;
  std::byte* base = nullptr;
};

// As the parent of `mtreplay replay --plan stream` does: every segment planned and its
// image written into a mapped memfd, the halves taking turns. With `every` > 0, the
// planning rate of each run of that many segments is printed as it ends: whether
// planning gets dearer as the trace goes on.
uint64_t plan_all(const std::string& trace, uint64_t segment_events, bool ahead,
                  uint32_t every = 0) {
  replay::TraceSegments segments(trace, segment_events, ahead);
  Buffer buffer;
  auto since = std::chrono::steady_clock::now();
  double cpu_since = cpu_seconds();
  uint64_t ops_since = 0;
  for (uint32_t index = 0;; ++index) {
    const replay::Plan& plan = segments.next();
    replay::write_plan_image_to(buffer.fd, plan, false, false, buffer.offset(index), buffer.base,
                                buffer.half);
    ops_since += plan.op_count;
    if (every > 0 && ((index + 1) % every == 0 || plan.last_segment)) {
      const auto now = std::chrono::steady_clock::now();
      const double wall = std::chrono::duration<double>(now - since).count();
      const double cpu = cpu_seconds();
      fmt::print(
          "{{\"segments_to\": {}, \"ops\": {}, \"wall_s\": {:.3f}, \"cpu_s\": {:.3f}, "
          "\"ns_per_op\": {:.1f}}}\n",
          index + 1, ops_since, wall, cpu - cpu_since,
          ops_since ? wall * 1e9 / static_cast<double>(ops_since) : 0.0);
      std::fflush(stdout);
      since = now, cpu_since = cpu, ops_since = 0;
    }
    if (plan.last_segment) break;
  }
  return segments.identity("not hashed").events;
}

// FNV-1a over 8-byte words (and the tail bytes), chained over the images.
uint64_t hash_bytes(uint64_t h, const std::byte* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < n; ++i) h = (h ^ static_cast<uint8_t>(p[i])) * 0x100000001b3ull;
  return h;
}

uint64_t hash_image(uint64_t h, int fd, uint64_t at, uint64_t bytes) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t start = at & ~(page - 1);
  void* p =
      mmap(nullptr, bytes + (at - start), PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (p == MAP_FAILED) throw std::runtime_error("mapping an image to hash it");
  h = hash_bytes(h, static_cast<const std::byte*>(p) + (at - start), bytes);
  munmap(p, bytes + (at - start));
  return h;
}

int digest(const std::string& trace, uint64_t segment_events) {
  replay::TraceSegments segments(trace, segment_events, true);
  Buffer buffer;
  uint64_t h = 0xcbf29ce484222325ull, count = 0;
  for (uint32_t index = 0;; ++index) {
    const replay::Plan& plan = segments.next();
    const uint64_t at = buffer.offset(index);
    const uint64_t bytes =
        replay::write_plan_image_to(buffer.fd, plan, false, false, at, buffer.base, buffer.half);
    h = hash_image(h, buffer.fd, at, bytes);
    ++count;
    if (plan.last_segment) break;
  }
  replay::TracePlan whole = replay::load_trace_plan(trace, "not hashed");
  int whole_fd = replay::write_plan_image(whole.plan, true);
  struct stat st {};
  fstat(whole_fd, &st);
  const uint64_t w =
      hash_image(0xcbf29ce484222325ull, whole_fd, 0, static_cast<uint64_t>(st.st_size));
  close(whole_fd);
  fmt::print(
      "{{\"trace\": \"{}\", \"segments\": {}, \"stream_digest\": \"{:016x}\", "
      "\"whole_digest\": \"{:016x}\"}}\n",
      trace, count, h, w);
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(
        stderr,
        "usage: plan_rate TRACE [--rounds N] [--segment-events N] [--only VARIANT] [--every K] "
        "[--digest]\n");
    return 2;
  }
  std::string trace = argv[1];
  unsigned rounds = 3;
  uint64_t segment_events = replay::kDefaultSegmentEvents;
  std::string only;
  bool want_digest = false;
  uint32_t every = 0;
  for (int i = 2; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--digest") == 0) {
      want_digest = true;
    } else if (std::strcmp(argv[i], "--rounds") == 0 && has_value) {
      rounds = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--segment-events") == 0 && has_value) {
      segment_events = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--every") == 0 && has_value) {
      every = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--only") == 0 && has_value) {
      only = argv[++i];
    }
  }
  if (want_digest) {
    try {
      return digest(trace, segment_events);
    } catch (const std::exception& e) {
      fmt::print(stderr, "plan_rate: {}\n", e.what());
      return 2;
    }
  }
  std::vector<std::pair<std::string, std::function<uint64_t()>>> variants = {
      {"zstd", [&] { return decompress_all(trace); }},
      {"read", [&] { return read_all(trace, false); }},
      {"read-ahead", [&] { return read_all(trace, true); }},
      {"plan", [&] { return plan_all(trace, segment_events, false); }},
      {"plan-read-ahead", [&] { return plan_all(trace, segment_events, true, every); }},
  };
  std::erase_if(variants, [&](const auto& v) { return !only.empty() && v.first != only; });
  if (variants.empty()) {
    fmt::print(stderr,
               "plan_rate: no variant '{}' (zstd, read, read-ahead, plan, plan-read-ahead)\n",
               only);
    return 2;
  }
  std::map<std::string, std::vector<double>> wall, cpu;
  uint64_t events = 0;
  try {
    for (unsigned r = 0; r < rounds; ++r) {
      for (size_t k = 0; k < variants.size(); ++k) {
        const auto& [name, run] = variants[(k + r) % variants.size()];
        double c0 = cpu_seconds();
        auto t0 = std::chrono::steady_clock::now();
        events = run();
        wall[name].push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        cpu[name].push_back(cpu_seconds() - c0);
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "plan_rate: {}\n", e.what());
    return 2;
  }
  for (const auto& [name, run] : variants) {
    double w = median(wall[name]), c = median(cpu[name]);
    fmt::print(
        "{{\"variant\": \"{}\", \"events\": {}, \"rounds\": {}, \"wall_s\": {:.3f}, \"cpu_s\": "
        "{:.3f}, \"events_per_s\": {:.0f}}}\n",
        name, events, rounds, w, c, w > 0 ? static_cast<double>(events) / w : 0);
  }
  return 0;
}
