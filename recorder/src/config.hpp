// Settings read from the environment once per process image (see recorder/README.md).
// getenv only: this runs inside the first hooked call, before anything is safe.
#pragma once

#include <cstdint>

namespace mtreplay::recorder {

struct Config {
  char output_pattern[1024] = "mhook.%p.mtr";  // MHOOK_OUTPUT
  char manifest[1024] = "";  // MHOOK_MANIFEST: file each trace path is appended to
  bool follow_fork = true;   // MHOOK_FOLLOW_FORK=0 disables
  bool follow_exec = true;   // MHOOK_FOLLOW_EXEC=0 strips us from LD_PRELOAD
  // MHOOK_ZSTD_LEVEL (1..19). 1: coarse stamps (runs of zero time deltas) make level 3
  // twice as slow per event as level 1 for ~15% fewer bytes (BENCHMARKS.md).
  int compression_level = 1;
  // MHOOK_TOUCHED (touched_extent.hpp), the values of touched::Mode: 0 no kTouched
  // events (large blocks replay whole); 1 resident pages at the release; 2 exact:
  // dropped at the allocation too; 3 (default) auto: dropped where that pays.
  int touched_mode = 3;
  // MHOOK_EXEC_OF=<pid>:<generation>, set by our exec/spawn wrappers for the new image.
  uint32_t exec_of_pid = 0;
  uint32_t exec_of_generation = 0;
  bool exec_of_present = false;
};

void read_config(Config& config);

// Name of the variable our exec wrappers set; the new image removes it from its
// environment in its constructor so the program never sees it.
inline constexpr char kExecOfVariable[] = "MHOOK_EXEC_OF";

}  // namespace mtreplay::recorder
