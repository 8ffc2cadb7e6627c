// libFuzzer target: any bytes as the text form. import_text must build a trace or throw
// TextError/TraceError; whatever it builds must read back. Built with -DMTREPLAY_FUZZ=ON.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "mtreplay/traces/text_form.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz-out.mtr", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  using namespace mtreplay::traces;
  std::istringstream text(std::string(reinterpret_cast<const char*>(data), size));
  try {
    import_text(text, "fuzz.txt", path, 512);
  } catch (const TextError&) {
    return 0;
  }
  // What import accepted must read back without complaint.
  MergedReader reader(path);
  Event e;
  while (reader.next(e)) {
  }
  if (!reader.summary().complete) std::abort();
  return 0;
}
