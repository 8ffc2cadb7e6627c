#include <fmt/chrono.h>
#include <fmt/core.h>
#include <gnu/libc-version.h>
#include <sys/utsname.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>

#include "mtreplay/results/schema_io.hpp"

#ifndef MTREPLAY_REVISION
#define MTREPLAY_REVISION "unknown"
#endif

namespace mtreplay::results {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

Environment detect_environment(std::string_view mtreplay_version) {
  Environment env;
  env.cpu = cpu_model();
  env.cores = static_cast<int>(std::thread::hardware_concurrency());
  struct utsname u {};
  if (uname(&u) == 0) env.kernel = u.release;
  env.libc = fmt::format("glibc {}", gnu_get_libc_version());
  env.mtreplay_version = std::string(mtreplay_version);
  env.mtreplay_revision = MTREPLAY_REVISION;
  return env;
}

std::string utc_now_iso8601() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

}  // namespace mtreplay::results
