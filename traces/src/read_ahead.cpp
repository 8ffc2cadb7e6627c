#include "mtreplay/traces/read_ahead.hpp"

namespace mtreplay::traces {

ReadAhead::ReadAhead(MergedReader& reader) {
  for (auto& batch : batches_) batch.resize(kBatchEvents);
  thread_ = std::thread([this, &reader] { produce(reader); });
}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ReadAhead::produce(MergedReader& reader) {
  for (uint64_t index = 0;; ++index) {
    {
      std::unique_lock lock(mutex_);
      // The batch the consumer reads (released_) and the kBatches - 1 after it.
      changed_.wait(lock, [&] { return stop_ || index < released_ + kBatches; });
      if (stop_) return;
    }
    std::vector<Event>& batch = batches_[index % kBatches];
    uint32_t count = 0;
    bool last = false;
    std::exception_ptr error;
    try {
      while (count < kBatchEvents) {
        const size_t got = reader.next_batch(batch.data() + count, kBatchEvents - count);
        if (got == 0) {
          last = true;
          break;
        }
        count += static_cast<uint32_t>(got);
      }
    } catch (...) {
      error = std::current_exception();
      last = true;
    }
    {
      std::lock_guard lock(mutex_);
      filled_[index % kBatches] = count;
      produced_ = index + 1;
      finished_ = last;
      error_ = error;
    }
    changed_.notify_all();
    if (last) return;
  }
}

bool ReadAhead::refill(Event& out) {
  for (;;) {
    uint32_t batch = 0, count = 0;
    {
      std::unique_lock lock(mutex_);
      released_ = taken_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return produced_ > taken_ || finished_; });
      if (produced_ == taken_) {
        if (error_) std::rethrow_exception(error_);
        return false;
      }
      batch = static_cast<uint32_t>(taken_ % kBatches);
      count = filled_[batch];
      ++taken_;
    }
    if (count == 0) continue;  // the last batch, empty
    at_ = batches_[batch].data();
    end_ = at_ + count;
    out = *at_++;
    return true;
  }
}

}  // namespace mtreplay::traces
