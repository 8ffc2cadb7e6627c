// One recorded malloc-family call or process/thread event, as the tools see it
// after decoding. The on-disk encoding (traces/FORMAT.md) is compact; this is not.
#pragma once

#include <cstdint>
#include <string_view>

namespace mtreplay::traces {

// Stable numbering: these values are written to disk (FORMAT.md). Append only.
enum class Op : uint8_t {
  kMalloc = 1,         // size -> result
  kCalloc = 2,         // count (nmemb), size -> result
  kRealloc = 3,        // ptr, size -> result   (realloc(p,0) and failures included)
  kReallocArray = 4,   // ptr, count, size -> result
  kFree = 5,           // ptr                    (recorded before the real free)
  kMemalign = 6,       // align, size -> result
  kPosixMemalign = 7,  // align, size -> result, error = return value
  kAlignedAlloc = 8,   // align, size -> result
  kValloc = 9,         // size -> result
  kPvalloc = 10,       // size -> result
  kUsableSize = 11,    // ptr -> result = malloc_usable_size(ptr)
  kThreadStart = 12,   // a new thread index appears (result = OS tid)
  kThreadExit = 13,    // the thread is gone; no event of its index follows
  kFork = 14,          // result = child pid (error = errno when fork failed)
  kExec = 15,          // recorded just before an exec-family call is attempted
  kReallocBegin = 16,  // realloc/reallocarray entered with ptr: from here on ptr may be
                       // released. Recorded before the real call; the same thread's next
                       // event is the kRealloc/kReallocArray that says what came back.
  kTouched = 17,       // ptr -> result = bytes of the block the program used, measured just
                       // before its release (version 6, frames flagged TOUCHED; FORMAT.md
                       // "Touched extents"). Not a call: the replay touches that much.
};

inline constexpr uint8_t kOpCount = 18;  // one past the highest Op value

// The smallest block the recorder measures (kTouched): smaller blocks share their pages.
inline constexpr uint64_t kTouchedMinBytes = 16 * 1024;

struct Event {
  uint64_t time_ns = 0;  // nanoseconds since the trace's start (header clock)
  uint64_t ptr = 0;      // input pointer: free, realloc, reallocarray, usable_size
  uint64_t size = 0;     // requested size (per element for calloc/reallocarray)
  uint64_t count = 0;    // nmemb for calloc/reallocarray
  uint64_t align = 0;    // alignment for memalign/posix_memalign/aligned_alloc
  uint64_t result = 0;   // returned pointer (0 = NULL), or as documented per Op
  int32_t error = 0;     // errno of a failed call; posix_memalign's return value
  uint32_t thread = 0;   // thread index within the trace (0 = first thread seen)
  Op op = Op::kMalloc;
  // time_ns is a lower bound, not a reading: the event repeats its thread's last clock
  // reading (a coarse frame, FORMAT.md "Coarse stamps"). Its true time lies between
  // time_ns and the thread's next larger time. Not part of the event's identity.
  bool coarse_time = false;
};

std::string_view op_name(Op op);  // "malloc", "posix_memalign", ...
bool op_from_name(std::string_view name, Op& out);

// Classification the analysis and the replayer share.
constexpr bool allocates(Op op) {
  switch (op) {
    case Op::kMalloc:
    case Op::kCalloc:
    case Op::kRealloc:
    case Op::kReallocArray:
    case Op::kMemalign:
    case Op::kPosixMemalign:
    case Op::kAlignedAlloc:
    case Op::kValloc:
    case Op::kPvalloc:
      return true;
    default:
      return false;
  }
}
constexpr bool consumes_pointer(Op op) {
  return op == Op::kFree || op == Op::kRealloc || op == Op::kReallocArray ||
         op == Op::kUsableSize || op == Op::kReallocBegin;
}

}  // namespace mtreplay::traces
