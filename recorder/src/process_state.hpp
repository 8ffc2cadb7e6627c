// State of the recorder for this process image, shared by the thread side
// (recorder.cpp) and the writer side (trace_sink.cpp).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include "config.hpp"

namespace mtreplay::recorder {

struct ProcessState {
  Config config;
  std::atomic<int> init_state{0};   // 0 not started, 1 in progress, 2 done
  bool enabled = false;             // a trace file is open for this process
  std::atomic<bool> closed{false};  // the trace was finished; later events are dropped
  uint32_t pid = 0;                 // the process that owns the trace
  uint32_t parent_trace_pid = 0;
  uint32_t generation = 0;  // execs this pid has been through
  std::atomic<uint32_t> next_thread_index{0};
  pthread_key_t exit_key{};
  bool exit_key_created = false;
  std::atomic<uint64_t> unrecorded_calls{0};  // bootstrap + the recorder's own calls
  std::atomic<uint64_t> dropped_events{0};    // arrived after the trace was closed
  char trace_path[2048] = "";
};

extern ProcessState process;

}  // namespace mtreplay::recorder
