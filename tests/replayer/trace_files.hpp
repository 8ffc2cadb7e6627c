// Hand-written traces for the replayer tests, written with the traces component's
// TraceBuilder (merged order in, merged order back).
#pragma once

#include <filesystem>
#include <vector>

#include "mtreplay/traces/event.hpp"
#include "mtreplay/traces/trace_builder.hpp"

namespace mtreplay::replay::test {

class TraceScript {
 public:
  TraceScript& add(uint32_t thread, traces::Op op, uint64_t ptr, uint64_t size, uint64_t result,
                   uint64_t align = 0) {
    traces::Event e;
    e.time_ns = clock_ += 100;
    e.thread = thread;
    e.op = op;
    e.ptr = ptr;
    e.size = size;
    e.result = result;
    e.align = align;
    if (op == traces::Op::kCalloc || op == traces::Op::kReallocArray) e.count = 1;
    events_.push_back(e);
    return *this;
  }
  TraceScript& malloc(uint32_t t, uint64_t size, uint64_t result) {
    return add(t, traces::Op::kMalloc, 0, size, result);
  }
  TraceScript& free(uint32_t t, uint64_t ptr) { return add(t, traces::Op::kFree, ptr, 0, 0); }
  TraceScript& realloc(uint32_t t, uint64_t ptr, uint64_t size, uint64_t result) {
    add(t, traces::Op::kReallocBegin, ptr, 0, 0);
    return add(t, traces::Op::kRealloc, ptr, size, result);
  }
  // The recording measured that the program used `used` bytes of the block at ptr.
  TraceScript& touched(uint32_t t, uint64_t ptr, uint64_t used) {
    return add(t, traces::Op::kTouched, ptr, 0, used);
  }
  // Puts an event at an explicit time (for inversions); later events continue from it.
  TraceScript& at(uint64_t time_ns) {
    clock_ = time_ns - 100;
    return *this;
  }
  const std::vector<traces::Event>& events() const { return events_; }

  void write(const std::filesystem::path& path) const {
    traces::TraceHeader header;
    header.version = 1;
    for (const auto& e : events_)
      if (e.op == traces::Op::kTouched) header.version = 6;
    header.pid = 4242;
    header.page_size = 4096;
    header.exe = "/usr/bin/test-program";
    traces::TraceBuilder builder(path, header);
    for (const auto& e : events_) builder.add(e);
    builder.finish();
  }

 private:
  std::vector<traces::Event> events_;
  uint64_t clock_ = 1000;
};

}  // namespace mtreplay::replay::test
