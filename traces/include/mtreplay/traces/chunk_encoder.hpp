// Encodes one thread's events into memory the caller owns (the recorder's mmapped
// per-thread chunk). Header-only and allocation-free: it runs on the recorder's hot
// path. The byte layout is specified in traces/FORMAT.md.
//
// CONTRACT (owned by traces/; the recorder relies on exactly this interface):
//   ChunkEncoder enc;
//   enc.reset(begin, end, first_time_ns);   // start a chunk in [begin, end)
//   if (!enc.has_room()) { flush(enc.bytes()); enc.reset(...); }
//   enc.append(event);                      // never writes past end when has_room()
//   enc.count(), enc.bytes() -> what to hand to TraceWriter::write_chunk
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mtreplay/traces/event.hpp"

namespace mtreplay::traces {

class ChunkEncoder {
 public:
  // No event encodes to more than this many bytes.
  static constexpr size_t kMaxEventBytes = 64;

  void reset(std::byte* begin, std::byte* end, uint64_t base_time_ns);
  bool has_room() const { return static_cast<size_t>(end_ - cursor_) >= kMaxEventBytes; }
  void append(const Event& e);  // precondition: has_room()

  uint32_t count() const { return count_; }
  uint64_t base_time_ns() const { return base_time_ns_; }
  std::span<const std::byte> bytes() const { return {begin_, cursor_}; }

 private:
  std::byte* begin_ = nullptr;
  std::byte* cursor_ = nullptr;
  std::byte* end_ = nullptr;
  uint64_t base_time_ns_ = 0;
  // Delta state: previous time and previous pointer of this chunk (see FORMAT.md).
  uint64_t last_time_ns_ = 0;
  uint64_t last_ptr_ = 0;
  uint32_t count_ = 0;
};

}  // namespace mtreplay::traces
