// The plan laid out as one flat image (plan_format.hpp) in a memfd that the worker
// maps read-only; and the worker's view of that mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/replay/plan_format.hpp"

namespace mtreplay::replay {

// Writes the image into a fresh memfd (inheritable: no close-on-exec) and returns
// its descriptor; throws std::system_error. The objects' recorded addresses are
// included only on request (the address-keyed live map needs them).
int write_plan_image(const Plan& plan, bool with_addresses = false);
// The same into `fd` (a regular file or memfd, sized here) from offset `at`; returns
// the image's size (PlanHeader::total_bytes). Without `shrink`, a larger file keeps its
// size (a streamed plan's buffer, which the worker keeps mapped). `mapping`: a writable
// shared mapping of the file from its offset 0, as far as the image reaches: the image
// is then encoded straight into it (sized first), not copied through pwrite. An image
// larger than `max_bytes` is not written: std::length_error.
// Into a mapping, an image of at least `parallel_min_ops` ops in two or more recorded
// threads is encoded by two threads, the caller and one more, each taking a share of
// the recorded threads (the same bytes): a streamed replay's parent encodes each
// segment while its reading thread has nothing to do (BENCHMARKS.md "Scale", Session 12).
constexpr uint64_t kParallelEncodeMinOps = uint64_t{1} << 16;
uint64_t write_plan_image_to(int fd, const Plan& plan, bool with_addresses = false,
                             bool shrink = true, uint64_t at = 0, std::byte* mapping = nullptr,
                             uint64_t max_bytes = UINT64_MAX,
                             uint64_t parallel_min_ops = kParallelEncodeMinOps);

// pwrite of the whole buffer at `offset`, through short writes and EINTR; throws
// std::system_error(errno, `what`).
void write_at(int fd, const void* data, size_t bytes, uint64_t offset,
              const char* what = "writing the replay plan");

// Read-only view over a mapped image; validates offsets against the mapped size.
class PlanView {
 public:
  // Empty string on success, else what is wrong.
  std::string attach(const std::byte* base, size_t size);

  const PlanHeader& header() const { return *header_; }
  const PlanThread& thread(uint32_t slot) const { return threads_[slot]; }
  const ImageOp* ops(uint32_t slot) const {
    return reinterpret_cast<const ImageOp*>(base_ + threads_[slot].ops_offset);
  }
  const ImageWide* wide(uint32_t slot) const {
    return reinterpret_cast<const ImageWide*>(base_ + threads_[slot].wide_offset);
  }
  const int64_t* live_after(uint32_t slot) const {
    return reinterpret_cast<const int64_t*>(base_ + threads_[slot].live_offset);
  }
  const uint64_t* pace(uint32_t slot) const {
    return reinterpret_cast<const uint64_t*>(base_ + threads_[slot].pace_offset);
  }
  const uint32_t* serial(uint32_t slot) const {
    return reinterpret_cast<const uint32_t*>(base_ + threads_[slot].serial_offset);
  }
  const uint64_t* kind_counts(uint32_t slot) const {  // [PlanKind::kCount]
    return reinterpret_cast<const uint64_t*>(base_ + threads_[slot].kind_counts_offset);
  }
  const PlanObject* objects() const {
    return reinterpret_cast<const PlanObject*>(base_ + header_->objects_offset);
  }
  const uint32_t* object_slots() const {  // a segment of a streamed plan: [object_count]
    return reinterpret_cast<const uint32_t*>(base_ + header_->object_slots_offset);
  }
  const uint32_t* serial_order() const {
    return reinterpret_cast<const uint32_t*>(base_ + header_->serial_order_offset);
  }
  const uint64_t* addresses() const {  // null when the image has none
    if (header_->address_count == 0) return nullptr;
    return reinterpret_cast<const uint64_t*>(base_ + header_->addresses_offset);
  }
  const uint32_t* peak_objects() const {
    return reinterpret_cast<const uint32_t*>(base_ + header_->peak_objects_offset);
  }

 private:
  const std::byte* base_ = nullptr;
  const PlanHeader* header_ = nullptr;
  const PlanThread* threads_ = nullptr;
};

}  // namespace mtreplay::replay
