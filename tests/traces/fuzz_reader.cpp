// libFuzzer target: any bytes as a trace file. The readers must read them or throw
// TraceError; anything else (a crash, a sanitizer report, another exception) is a bug.
// Built only with -DMTREPLAY_FUZZ=ON and clang (see run_fuzz.sh).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "mtreplay/traces/analysis.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace {

// The input lives in a memfd: the readers take a path, /proc/self/fd/N is one.
struct InputFile {
  InputFile() : fd(memfd_create("fuzz.mtr", 0)), path("/proc/self/fd/" + std::to_string(fd)) {}
  ~InputFile() { ::close(fd); }
  int fd;
  std::string path;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static InputFile file;
  if (ftruncate(file.fd, 0) != 0 || pwrite(file.fd, data, size, 0) != static_cast<ssize_t>(size))
    return 0;
  using namespace mtreplay::traces;
  try {
    ChunkReader chunks(file.path);
    Chunk c;
    while (chunks.next(c)) {
    }
  } catch (const TraceError&) {
  }
  try {
    MergedReader merged(file.path);
    (void)analyze(merged);
  } catch (const TraceError&) {
  }
  return 0;
}
