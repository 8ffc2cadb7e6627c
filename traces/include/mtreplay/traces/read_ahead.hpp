// A MergedReader's events, decoded and merged on a thread of its own a few batches
// ahead of the one consuming them. Decoding and merging are about a third of the time
// it takes to plan a trace (BENCHMARKS.md, "Scale"); on a second core they overlap the
// plan builder's work instead of adding to it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces {

class ReadAhead {
 public:
  // Starts reading `reader`, which only the read-ahead thread uses from now on (its
  // header, summary and threads, known at construction, stay readable).
  explicit ReadAhead(MergedReader& reader);
  ~ReadAhead();  // stops the thread; the events not consumed are dropped
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // MergedReader::next's events in its order; throws what it threw (a corrupt trace),
  // after every event read before the error.
  bool next(Event& out) {
    if (at_ < end_) {
      out = *at_++;
      return true;
    }
    return refill(out);
  }
  // The same without copying: the events of the batch being read that are not consumed
  // yet, where the batch holds them, at least one (the next batch is waited for when
  // none is left); empty at the end. They stay valid
  // until consume() takes the last of them or next() / run() is called again.
  std::span<const Event> run() {
    if (at_ == end_) {
      Event first;
      if (!refill(first)) return {};
      --at_;  // refill took the first event: give it back
    }
    return {at_, static_cast<size_t>(end_ - at_)};
  }
  // Takes `count` of the events run() gave.
  void consume(size_t count) { at_ += count; }

 private:
  static constexpr uint32_t kBatches = 8;
  static constexpr uint32_t kBatchEvents = 4096;

  bool refill(Event& out);
  void produce(MergedReader& reader);

  std::vector<Event> batches_[kBatches];
  uint32_t filled_[kBatches] = {};
  const Event* at_ = nullptr;
  const Event* end_ = nullptr;

  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t produced_ = 0;  // batches filled
  uint64_t taken_ = 0;     // batches the consumer has started
  uint64_t released_ = 0;  // batches the consumer is done with
  bool finished_ = false;  // the producer has filled its last batch
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace mtreplay::traces
