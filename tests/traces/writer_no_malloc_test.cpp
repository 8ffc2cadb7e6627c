// The encoder and the writer run inside the traced process (libmhook.so's writer
// thread) and must never call the malloc family. This executable defines malloc & co.
// itself (forwarding to glibc's __libc_* entry points), so every call from any library,
// zstd included, passes through here and is counted while a test watches.
// Not built under sanitizers (their runtimes own malloc).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mtreplay/traces/chunk_encoder.hpp"
#include "mtreplay/traces/trace_writer.hpp"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
thread_local bool watching = false;
thread_local int calls = 0;
void note() {
  if (watching) ++calls;
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t s) {
  note();
  return __libc_calloc(n, s);
}
void* realloc(void* p, size_t n) {
  note();
  return __libc_realloc(p, n);
}
void free(void* p) {
  note();
  __libc_free(p);
}
void* memalign(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  note();
  void* p = __libc_memalign(a, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}

namespace mtreplay::traces {
namespace {

TEST(WriterNoMalloc, EncodeCompressWriteAndCloseNeverCallMalloc) {
  std::vector<std::byte> buffer(1 << 16);
  const std::string_view argv[] = {"prog", "arg"};
  HeaderFields header;
  header.exe = "/bin/prog";
  header.argv = argv;
  header.version = 5;  // half the chunks may go into columns (the recorder's policy)
  const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  TraceWriter writer;
  ChunkEncoder enc;

  calls = 0;
  watching = true;
  const bool opened = writer.open(fd, header, 3);
  writer.set_column_policy(TraceWriter::ColumnPolicy::kAdaptive);
  bool wrote = true;
  uint64_t time = 0, addr = 0x7f00'0000'0000ull;
  for (int chunk = 0; chunk < 20; ++chunk) {
    enc.reset(buffer.data(), buffer.data() + buffer.size(), time);
    while (enc.has_room()) {
      time += 37;
      addr += 48;
      enc.append({.time_ns = time, .size = 40, .result = addr, .op = Op::kMalloc});
      enc.append({.time_ns = time + 5, .ptr = addr - 96, .op = Op::kFree});
    }
    const uint32_t flags = chunk % 2 ? format::kFrameColumns : 0u;
    wrote =
        writer.write_chunk({0, 1, enc.count(), enc.base_time_ns(), flags}, enc.bytes()) && wrote;
  }
  const bool closed = writer.close();
  watching = false;

  EXPECT_TRUE(opened);
  EXPECT_TRUE(wrote);
  EXPECT_TRUE(closed);
  EXPECT_EQ(calls, 0);
}

TEST(WriterNoMalloc, TheCounterWorks) {
  calls = 0;
  watching = true;
  void* volatile p = malloc(10);
  free(p);
  watching = false;
  EXPECT_EQ(calls, 2);
  calls = 0;
}

}  // namespace
}  // namespace mtreplay::traces
