// Exit codes shared by every subcommand; README.md documents them.
#pragma once

namespace mtreplay {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,    // the run completed and found a problem: a regression (diff),
                      // a --verify failure, an anomaly under --on-anomaly=fail
  kExitBadInput = 2,  // wrong flags, missing/corrupt/truncated-beyond-use file
  kExitBackend = 3,   // the allocator under test failed to load, crashed or returned NULL
  kExitInternal = 4,  // a bug in mtreplay itself
};

}  // namespace mtreplay
