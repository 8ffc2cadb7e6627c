// The calling thread's recorder state, in initial-exec TLS: one %fs-relative access,
// no __tls_get_addr call and no allocation. Zero-initialised for every new thread.
#pragma once

#include <cstdint>

#include "mtreplay/traces/chunk_encoder.hpp"
#include "thread_record.hpp"

namespace mtreplay::recorder {

struct ThreadState {
  traces::ChunkEncoder encoder;
  // Events at or after this time take the slow path: the chunk is due for a flush
  // (so a killed process loses little), or the thread is not recording yet (0).
  uint64_t flush_deadline_ns = 0;
  // Coarse stamps (stamp_mode.hpp): the last clock reading, the gate word it was
  // taken under, how many more events may repeat it, and whether the last stamp was a
  // reading (not a repeat).
  uint64_t coarse_time_ns = 0;
  uint64_t coarse_word = 0;
  uint32_t coarse_left = 0;
  uint32_t stamp_id = 0;  // this thread's owner value in the gate word; 0 until registered
  bool stamp_exact = false;
  ThreadRecord* record = nullptr;
  uint32_t slot = 0;       // the slot `encoder` is filling
  bool in_hook = false;    // inside the recorder itself: calls pass through untraced
  bool resolving = false;  // inside dlsym while resolving the real functions
};

// constinit: no dynamic initialisation, so no TLS wrapper call on access.
extern constinit thread_local ThreadState tls __attribute__((tls_model("initial-exec")));

}  // namespace mtreplay::recorder
