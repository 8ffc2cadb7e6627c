#include "mtreplay/replay/plan_image.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace mtreplay::replay {
namespace {

uint64_t align_up(uint64_t value) {
  return (value + 63) & ~uint64_t{63};
}

class ImageWriter {
 public:
  uint64_t reserve(uint64_t bytes) {
    uint64_t at = align_up(size_);
    size_ = at + bytes;
    return at;
  }
  uint64_t size() const { return size_; }

 private:
  uint64_t size_ = 0;
};

constexpr size_t kKinds = static_cast<size_t>(PlanKind::kCount);

// An op that keeps its full fields in the thread's side table (ImageWide).
bool is_wide(const PlanOp& op) {
  return image_op_is_wide(op.flags, op.aux, op.size);
}

// Where the image goes: straight into a writable mapping of the file when the caller
// has one (a streamed plan's buffer), else through pwrite.
class Sink {
 public:
  Sink(int fd, std::byte* mapping, uint64_t at) : fd_(fd), mapping_(mapping), at_(at) {}
  std::byte* direct(uint64_t offset) const { return mapping_ ? mapping_ + at_ + offset : nullptr; }
  void put(const void* data, size_t bytes, uint64_t offset) const {
    if (bytes == 0) return;
    if (mapping_) {
      std::memcpy(mapping_ + at_ + offset, data, bytes);
    } else {
      write_at(fd_, data, bytes, at_ + offset);
    }
  }

 private:
  int fd_;
  std::byte* mapping_;
  uint64_t at_;
};

// An array of the image written element by element: in place in a mapping, else
// gathered into chunks for pwrite. No vector of a whole section is staged.
template <class T>
class Out {
 public:
  static constexpr size_t kChunk = 4096;
  Out(const Sink& sink, uint64_t offset)
      : sink_(sink), offset_(offset), direct_(reinterpret_cast<T*>(sink.direct(offset))) {
    if (!direct_) chunk_.resize(kChunk);
  }
  ~Out() = default;
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  T& next() {
    if (direct_) return direct_[written_++];
    if (pending_ == kChunk) flush();
    return chunk_[pending_++];
  }
  void push(const T& value) { next() = value; }
  // Writes what is gathered; the index of the next element.
  uint64_t flush() {
    if (pending_) {
      sink_.put(chunk_.data(), pending_ * sizeof(T), offset_ + written_ * sizeof(T));
      written_ += pending_;
      pending_ = 0;
    }
    return written_;
  }
  uint64_t count() const { return written_ + pending_; }

 private:
  const Sink& sink_;
  uint64_t offset_;
  T* direct_;
  std::vector<T> chunk_;
  size_t pending_ = 0;
  uint64_t written_ = 0;
};

// The replay loop's shortcut for an op (ImageFast), from its image flags: a plain
// malloc or free that waits for, publishes and checks nothing.
uint8_t image_fast(const PlanOp& op, uint8_t flags) {
  constexpr uint8_t kMallocSlow = kWide | kPublishOut | kRecordedFailed;
  constexpr uint8_t kFreeSlow = kWide | kWaitIn | kPublishIn | kRecordedFailed | kResetStage;
  if (op.kind == PlanKind::kMalloc && op.out_obj != kNoObject && !(flags & kMallocSlow))
    return kFastMalloc;
  if (op.kind == PlanKind::kFree && op.in_obj != kNoObject && !(flags & kFreeSlow))
    return kFastFree;
  return kFastNone;
}

// encode_thread's loop for its common case, a walked thread written into a mapping:
// plain pointers, and each ImageOp stored as two 8-byte words made in registers (its
// byte-wide fields, stored one by one through the Out helpers, made the compiler reload
// every pointer after each store; 8 % of planning's instructions were here).
void encode_thread_direct(const ThreadPlan& thread, const std::vector<uint32_t>& signals,
                          const Sink& sink, const PlanThread& at) {
  static_assert(std::endian::native == std::endian::little);
  static_assert(offsetof(ImageOp, kind) == 0 && offsetof(ImageOp, flags) == 1 &&
                offsetof(ImageOp, fast) == 2 && offsetof(ImageOp, in_obj) == 4 &&
                offsetof(ImageOp, out_obj) == 8 && offsetof(ImageOp, arg) == 12);
  std::byte* out = sink.direct(at.ops_offset);
  std::byte* wide = sink.direct(at.wide_offset);
  sink.put(thread.live_after.data(), sizeof(int64_t) * thread.live_after.size(), at.live_offset);
  uint64_t kind_counts[kKinds] = {};
  uint32_t wide_count = 0;
  const uint32_t* signal = signals.data();
  const uint32_t* const signals_end = signal + signals.size();
  uint64_t next_signal = signal < signals_end ? *signal : ~uint64_t{0};
  const PlanOp* const ops = thread.ops.data();
  const size_t n = thread.ops.size();
  for (size_t index = 0; index < n; ++index) {
    const PlanOp& op = ops[index];
    ++kind_counts[static_cast<size_t>(op.kind) % kKinds];
    uint8_t flags = op.flags;
    uint32_t arg;
    if (is_wide(op)) {
      flags |= kWide;
      arg = wide_count;
      const ImageWide entry{op.size, op.aux, op.in_stage, 0};
      std::memcpy(wide + sizeof(ImageWide) * wide_count++, &entry, sizeof entry);
    } else {
      arg = static_cast<uint32_t>(op.size);
    }
    uint8_t fast = image_fast(op, flags);
    if (index == next_signal) {
      flags |= kSignal;
      fast = kFastNone;
      while (signal < signals_end && *signal == index) ++signal;
      next_signal = signal < signals_end ? *signal : ~uint64_t{0};
    }
    const uint64_t low = uint64_t{static_cast<uint8_t>(op.kind)} | uint64_t{flags} << 8 |
                         uint64_t{fast} << 16 | uint64_t{op.in_obj} << 32;
    const uint64_t high = uint64_t{op.out_obj} | uint64_t{arg} << 32;
    std::memcpy(out + sizeof(ImageOp) * index, &low, 8);
    std::memcpy(out + sizeof(ImageOp) * index + 8, &high, 8);
  }
  if (wide_count != at.wide_count) throw std::logic_error("the plan's count of wide ops is wrong");
  sink.put(kind_counts, sizeof kind_counts, at.kind_counts_offset);
}

// Halves each op (the few that need more keep it in the side table), and writes the
// live bytes after each op and the kinds' counts in the same pass. `signals`: the
// thread's ops (ascending) that another thread's start or exit waits for; they publish
// their progress.
void encode_thread(const ThreadPlan& thread, const std::vector<PlanObject>& objects,
                   const std::vector<uint32_t>& signals, const Sink& sink, const PlanThread& at) {
  if (thread.live_after.size() == thread.ops.size() + 1 && sink.direct(0))
    return encode_thread_direct(thread, signals, sink, at);
  Out<ImageOp> ops(sink, at.ops_offset);
  Out<ImageWide> wide(sink, at.wide_offset);
  // The builder's walk, when it made one; else computed here.
  const bool walked = thread.live_after.size() == thread.ops.size() + 1;
  Out<int64_t> live(sink, walked ? 0 : at.live_offset);
  uint64_t kind_counts[kKinds] = {};
  int64_t live_bytes = 0;
  if (walked) {
    sink.put(thread.live_after.data(), sizeof(int64_t) * thread.live_after.size(), at.live_offset);
  } else {
    live.push(0);
  }
  size_t signal = 0;
  const size_t n = thread.ops.size();
  for (size_t index = 0; index < n; ++index) {
    const PlanOp& op = thread.ops[index];
    ++kind_counts[static_cast<size_t>(op.kind) % kKinds];
    ImageOp image;
    image.kind = op.kind;
    image.flags = op.flags;
    image.in_obj = op.in_obj;
    image.out_obj = op.out_obj;
    if (is_wide(op)) {
      image.flags |= kWide;
      image.arg = static_cast<uint32_t>(wide.count());
      wide.push({op.size, op.aux, op.in_stage, 0});
    } else {
      image.arg = static_cast<uint32_t>(op.size);
    }
    image.fast = image_fast(op, image.flags);
    if (signal < signals.size() && signals[signal] == index) {
      image.flags |= kSignal;
      image.fast = kFastNone;
      while (signal < signals.size() && signals[signal] == index) ++signal;
    }
    ops.push(image);
    if (walked) continue;
    if (op.out_obj != kNoObject) live_bytes += static_cast<int64_t>(objects[op.out_obj].bytes);
    if (op.in_obj != kNoObject && (op.flags & kEndsIn))
      live_bytes -= static_cast<int64_t>(objects[op.in_obj].bytes);
    live.push(live_bytes);
  }
  ops.flush();
  if (wide.flush() != at.wide_count)
    throw std::logic_error("the plan's count of wide ops is wrong");
  live.flush();
  sink.put(kind_counts, sizeof kind_counts, at.kind_counts_offset);
}

// The recorded threads a second encoding thread takes: about half of the ops, the
// largest threads dealt first to the share with fewer; empty when one thread holds so
// many that a split would not pay.
std::vector<size_t> second_share(const Plan& plan) {
  std::vector<size_t> order(plan.threads.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.threads[a].ops.size() > plan.threads[b].ops.size();
  });
  uint64_t mine = 0, theirs = 0;
  std::vector<size_t> share;
  for (size_t i : order) {
    const uint64_t ops = plan.threads[i].ops.size();
    if (theirs < mine) {
      share.push_back(i);
      theirs += ops;
    } else {
      mine += ops;
    }
  }
  // Under an eighth of the work on the second thread does not cover its start.
  if (theirs * 8 < mine + theirs) share.clear();
  return share;
}

}  // namespace

void write_at(int fd, const void* data, size_t bytes, uint64_t offset, const char* what) {
  auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = pwrite(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), what);
    }
    p += n, bytes -= static_cast<size_t>(n), offset += static_cast<uint64_t>(n);
  }
}

uint64_t write_plan_image_to(int fd, const Plan& plan, bool with_addresses, bool shrink,
                             uint64_t at, std::byte* mapping, uint64_t max_bytes,
                             uint64_t parallel_min_ops) {
  PlanHeader header;
  std::memcpy(header.magic, kPlanMagic, sizeof header.magic);
  const bool segment = plan.segment != 0;
  const uint64_t object_count = segment ? plan.created.size() : plan.objects.size();
  header.thread_count = static_cast<uint32_t>(plan.threads.size());
  header.object_count = object_count;
  header.slot_count = segment ? plan.objects.size() : 0;
  header.op_count = plan.op_count;
  header.page_size = plan.page_size;
  header.peak_live_bytes = plan.peak_live_bytes;
  header.peak_object_count = plan.peak_objects.size();
  header.anomalies = plan.anomalies;
  header.segment = plan.segment;
  header.live_base_bytes = plan.live_base_bytes;
  header.last_segment = plan.last_segment ? 1 : 0;

  ImageWriter layout;
  layout.reserve(sizeof(PlanHeader));
  header.threads_offset = layout.reserve(sizeof(PlanThread) * plan.threads.size());
  header.objects_offset = layout.reserve(sizeof(PlanObject) * object_count);
  if (segment) header.object_slots_offset = layout.reserve(sizeof(uint32_t) * object_count);
  header.serial_order_offset = layout.reserve(sizeof(uint32_t) * plan.serial_order.size());
  header.peak_objects_offset = layout.reserve(sizeof(uint32_t) * plan.peak_objects.size());
  if (with_addresses && plan.object_addresses.size() == plan.objects.size()) {
    header.address_count = plan.objects.size();
    header.addresses_offset = layout.reserve(sizeof(uint64_t) * header.address_count);
  }
  std::vector<PlanThread> threads(plan.threads.size());
  std::vector<std::vector<uint32_t>> signals(plan.threads.size());
  for (size_t i = 0; i < plan.threads.size(); ++i) {
    const ThreadPlan& t = plan.threads[i];
    uint64_t wide = t.wide_ops;
    if (wide == ThreadPlan::kNoCount) {
      wide = 0;
      for (const PlanOp& op : t.ops) wide += is_wide(op);
    }
    threads[i].recorded_index = t.recorded_index;
    threads[i].os_tid = t.os_tid;
    threads[i].op_count = t.ops.size();
    threads[i].wide_count = wide;
    threads[i].start_slot = t.start_slot, threads[i].start_op = t.start_op;
    threads[i].exit_slot = t.exit_slot, threads[i].exit_op = t.exit_op;
    threads[i].flags = t.flags;
    threads[i].ops_offset = layout.reserve(sizeof(ImageOp) * t.ops.size());
    threads[i].serial_offset = layout.reserve(sizeof(uint32_t) * t.serial.size());
    threads[i].wide_offset = layout.reserve(sizeof(ImageWide) * wide);
    threads[i].live_offset = layout.reserve(sizeof(int64_t) * (t.ops.size() + 1));
    threads[i].pace_offset = layout.reserve(sizeof(uint64_t) * t.ops.size());
    threads[i].kind_counts_offset = layout.reserve(sizeof(uint64_t) * kKinds);
    // The op another thread's start or exit waits for publishes its progress.
    if (t.start_slot != kNoObject) signals[t.start_slot].push_back(t.start_op);
    if (t.exit_slot != kNoObject) signals[t.exit_slot].push_back(t.exit_op);
  }
  for (auto& list : signals) std::sort(list.begin(), list.end());
  header.total_bytes = align_up(layout.size());
  if (header.total_bytes > max_bytes)
    throw std::length_error("a plan image of " + std::to_string(header.total_bytes) +
                            " bytes does not fit its buffer of " + std::to_string(max_bytes));

  struct stat st {};
  bool larger = !shrink && fstat(fd, &st) == 0 &&
                static_cast<uint64_t>(st.st_size) >= at + header.total_bytes;
  if (!larger && ftruncate(fd, static_cast<off_t>(at + header.total_bytes)) != 0)
    throw std::system_error(errno, std::generic_category(), "sizing the replay plan");
  const Sink sink(fd, mapping, at);
  sink.put(&header, sizeof header, 0);
  sink.put(threads.data(), sizeof(PlanThread) * threads.size(), header.threads_offset);
  if (segment) {
    Out<PlanObject> objects(sink, header.objects_offset);
    for (uint32_t id : plan.created) objects.push(plan.objects[id]);
    objects.flush();
    sink.put(plan.created.data(), sizeof(uint32_t) * plan.created.size(),
             header.object_slots_offset);
  } else {
    sink.put(plan.objects.data(), sizeof(PlanObject) * plan.objects.size(), header.objects_offset);
  }
  sink.put(plan.serial_order.data(), sizeof(uint32_t) * plan.serial_order.size(),
           header.serial_order_offset);
  sink.put(plan.peak_objects.data(), sizeof(uint32_t) * plan.peak_objects.size(),
           header.peak_objects_offset);
  sink.put(plan.object_addresses.data(), sizeof(uint64_t) * header.address_count,
           header.addresses_offset);
  // Each recorded thread's arrays go to a place of their own: two threads may write
  // different recorded threads' at once.
  auto encode = [&](size_t i) {
    const ThreadPlan& t = plan.threads[i];
    encode_thread(t, plan.objects, signals[i], sink, threads[i]);
    sink.put(t.serial.data(), sizeof(uint32_t) * t.serial.size(), threads[i].serial_offset);
    // A plan that was never scheduled has no keys: the memfd reads zeros there.
    if (t.pace_ns.size() == t.ops.size())
      sink.put(t.pace_ns.data(), sizeof(uint64_t) * t.pace_ns.size(), threads[i].pace_offset);
  };
  const std::vector<size_t> helper_share =
      mapping && plan.op_count >= parallel_min_ops ? second_share(plan) : std::vector<size_t>{};
  if (helper_share.empty()) {
    for (size_t i = 0; i < plan.threads.size(); ++i) encode(i);
    return header.total_bytes;
  }
  std::vector<bool> by_helper(plan.threads.size(), false);
  for (size_t i : helper_share) by_helper[i] = true;
  // The helper's exception comes out of get(); if the caller's own share throws first,
  // the future's destructor still waits for the helper, which reads `plan` and `sink`.
  std::future<void> helper = std::async(std::launch::async, [&] {
    for (size_t i : helper_share) encode(i);
  });
  for (size_t i = 0; i < plan.threads.size(); ++i)
    if (!by_helper[i]) encode(i);
  helper.get();
  return header.total_bytes;
}

int write_plan_image(const Plan& plan, bool with_addresses) {
  int fd = memfd_create("mtreplay-plan", 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  try {
    write_plan_image_to(fd, plan, with_addresses);
  } catch (...) {
    close(fd);
    throw;
  }
  return fd;
}

std::string PlanView::attach(const std::byte* base, size_t size) {
  if (size < sizeof(PlanHeader)) return "plan image too small";
  auto* header = reinterpret_cast<const PlanHeader*>(base);
  if (std::memcmp(header->magic, kPlanMagic, sizeof kPlanMagic) != 0 ||
      header->version != kPlanImageVersion)
    return "not a replay plan image";
  auto fits = [&](uint64_t offset, uint64_t bytes) {
    return offset <= size && bytes <= size - offset;
  };
  if (header->total_bytes > size ||
      !fits(header->threads_offset, sizeof(PlanThread) * uint64_t{header->thread_count}) ||
      !fits(header->objects_offset, sizeof(PlanObject) * header->object_count) ||
      (header->segment != 0 &&
       !fits(header->object_slots_offset, sizeof(uint32_t) * header->object_count)) ||
      !fits(header->serial_order_offset, sizeof(uint32_t) * header->op_count) ||
      !fits(header->peak_objects_offset, sizeof(uint32_t) * header->peak_object_count) ||
      (header->address_count != 0 && header->address_count != header->object_count) ||
      !fits(header->addresses_offset, sizeof(uint64_t) * header->address_count))
    return "replay plan image is inconsistent";
  auto* threads = reinterpret_cast<const PlanThread*>(base + header->threads_offset);
  for (uint32_t i = 0; i < header->thread_count; ++i) {
    const PlanThread& t = threads[i];
    auto valid_bound = [&](uint32_t slot, uint32_t op) {
      return slot == kNoObject || (slot < header->thread_count && op < threads[slot].op_count);
    };
    if (!fits(t.ops_offset, sizeof(ImageOp) * t.op_count) ||
        !fits(t.serial_offset, sizeof(uint32_t) * t.op_count) ||
        !fits(t.wide_offset, sizeof(ImageWide) * t.wide_count) ||
        !fits(t.live_offset, sizeof(int64_t) * (t.op_count + 1)) ||
        !fits(t.pace_offset, sizeof(uint64_t) * t.op_count) ||
        !fits(t.kind_counts_offset, sizeof(uint64_t) * static_cast<size_t>(PlanKind::kCount)) ||
        !valid_bound(t.start_slot, t.start_op) || !valid_bound(t.exit_slot, t.exit_op))
      return "replay plan image is inconsistent";
  }
  base_ = base;
  header_ = header;
  threads_ = threads;
  return {};
}

}  // namespace mtreplay::replay
