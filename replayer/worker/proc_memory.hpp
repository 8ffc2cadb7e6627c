// The worker's view of its own memory through /proc, without allocating.
#pragma once

#include <cstdint>

namespace mtreplay::replay {

// Resident bytes from /proc/self/statm; `statm_fd` is an open descriptor of it.
uint64_t resident_bytes(int statm_fd);
// VmHWM from /proc/self/status (0 when unreadable).
uint64_t peak_resident_bytes();
// Resets VmHWM to the current RSS (Linux clear_refs "5"); false when not permitted.
bool reset_peak_resident();

}  // namespace mtreplay::replay
