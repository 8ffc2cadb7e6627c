#include "mtreplay/replay/plan_image.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

struct ThreadImage {
  std::vector<ImageOp> ops;
  std::vector<ImageWide> wide;
  std::vector<int64_t> live_after;  // PlanThread::live_offset
  uint64_t kind_counts[static_cast<size_t>(PlanKind::kCount)] = {};
};

std::vector<int64_t> live_bytes_after_each_op(const ThreadPlan& thread,
                                              const std::vector<PlanObject>& objects) {
  std::vector<int64_t> live{0};
  live.reserve(thread.ops.size() + 1);
  for (const PlanOp& op : thread.ops) {
    int64_t delta = 0;
    if (op.out_obj != kNoObject) delta += static_cast<int64_t>(objects[op.out_obj].bytes);
    if (op.in_obj != kNoObject && (op.flags & kEndsIn))
      delta -= static_cast<int64_t>(objects[op.in_obj].bytes);
    live.push_back(live.back() + delta);
  }
  return live;
}

// Halves each op; the few that need more keep it in the side table.
ThreadImage encode_ops(const ThreadPlan& thread) {
  ThreadImage out;
  out.ops.reserve(thread.ops.size());
  for (const PlanOp& op : thread.ops) {
    ImageOp& image = out.ops.emplace_back();
    ++out.kind_counts[static_cast<size_t>(op.kind) % static_cast<size_t>(PlanKind::kCount)];
    image.kind = op.kind;
    image.flags = op.flags;
    image.in_obj = op.in_obj;
    image.out_obj = op.out_obj;
    bool cross = op.flags & (kWaitIn | kPublishIn);
    if (cross || op.aux != 0 || op.size > UINT32_MAX) {
      image.flags |= kWide;
      image.arg = static_cast<uint32_t>(out.wide.size());
      out.wide.push_back({op.size, op.aux, op.in_stage, 0});
    } else {
      image.arg = static_cast<uint32_t>(op.size);
    }
    constexpr uint8_t kMallocSlow = kWide | kPublishOut | kRecordedFailed;
    constexpr uint8_t kFreeSlow = kWide | kWaitIn | kPublishIn | kRecordedFailed | kResetStage;
    if (op.kind == PlanKind::kMalloc && op.out_obj != kNoObject && !(image.flags & kMallocSlow))
      image.fast = kFastMalloc;
    if (op.kind == PlanKind::kFree && op.in_obj != kNoObject && !(image.flags & kFreeSlow))
      image.fast = kFastFree;
  }
  return out;
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
                             uint64_t at) {
  PlanHeader header;
  std::memcpy(header.magic, kPlanMagic, sizeof header.magic);
  const bool segment = plan.segment != 0;
  std::vector<PlanObject> created;
  if (segment) {
    created.reserve(plan.created.size());
    for (uint32_t id : plan.created) created.push_back(plan.objects[id]);
  }
  const std::vector<PlanObject>& objects = segment ? created : plan.objects;
  header.thread_count = static_cast<uint32_t>(plan.threads.size());
  header.object_count = objects.size();
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
  header.objects_offset = layout.reserve(sizeof(PlanObject) * objects.size());
  if (segment) header.object_slots_offset = layout.reserve(sizeof(uint32_t) * created.size());
  header.serial_order_offset = layout.reserve(sizeof(uint32_t) * plan.serial_order.size());
  header.peak_objects_offset = layout.reserve(sizeof(uint32_t) * plan.peak_objects.size());
  if (with_addresses && plan.object_addresses.size() == plan.objects.size()) {
    header.address_count = plan.objects.size();
    header.addresses_offset = layout.reserve(sizeof(uint64_t) * header.address_count);
  }
  std::vector<PlanThread> threads(plan.threads.size());
  std::vector<ThreadImage> images;
  images.reserve(plan.threads.size());
  for (const ThreadPlan& t : plan.threads) {
    images.push_back(encode_ops(t));
    images.back().live_after = live_bytes_after_each_op(t, plan.objects);
  }
  for (size_t i = 0; i < plan.threads.size(); ++i) {
    const ThreadPlan& t = plan.threads[i];
    threads[i].recorded_index = t.recorded_index;
    threads[i].os_tid = t.os_tid;
    threads[i].op_count = t.ops.size();
    threads[i].wide_count = images[i].wide.size();
    threads[i].start_slot = t.start_slot, threads[i].start_op = t.start_op;
    threads[i].exit_slot = t.exit_slot, threads[i].exit_op = t.exit_op;
    threads[i].flags = t.flags;
    threads[i].ops_offset = layout.reserve(sizeof(ImageOp) * t.ops.size());
    threads[i].serial_offset = layout.reserve(sizeof(uint32_t) * t.serial.size());
    threads[i].wide_offset = layout.reserve(sizeof(ImageWide) * images[i].wide.size());
    threads[i].live_offset = layout.reserve(sizeof(int64_t) * images[i].live_after.size());
    threads[i].pace_offset = layout.reserve(sizeof(uint64_t) * t.ops.size());
    threads[i].kind_counts_offset = layout.reserve(sizeof images[i].kind_counts);
    // The op another thread's start or exit waits for publishes its progress.
    if (t.start_slot != kNoObject) images[t.start_slot].ops[t.start_op].flags |= kSignal;
    if (t.exit_slot != kNoObject) images[t.exit_slot].ops[t.exit_op].flags |= kSignal;
  }
  for (ThreadImage& image : images) {
    for (ImageOp& op : image.ops) {
      if (op.flags & kSignal) op.fast = kFastNone;
    }
  }
  header.total_bytes = align_up(layout.size());

  struct stat st {};
  bool larger = !shrink && fstat(fd, &st) == 0 &&
                static_cast<uint64_t>(st.st_size) >= at + header.total_bytes;
  if (!larger && ftruncate(fd, static_cast<off_t>(at + header.total_bytes)) != 0)
    throw std::system_error(errno, std::generic_category(), "sizing the replay plan");
  auto put = [&](const void* data, size_t bytes, uint64_t offset) {
    write_at(fd, data, bytes, at + offset);
  };
  put(&header, sizeof header, 0);
  put(threads.data(), sizeof(PlanThread) * threads.size(), header.threads_offset);
  put(objects.data(), sizeof(PlanObject) * objects.size(), header.objects_offset);
  if (segment)
    put(plan.created.data(), sizeof(uint32_t) * plan.created.size(), header.object_slots_offset);
  put(plan.serial_order.data(), sizeof(uint32_t) * plan.serial_order.size(),
      header.serial_order_offset);
  put(plan.peak_objects.data(), sizeof(uint32_t) * plan.peak_objects.size(),
      header.peak_objects_offset);
  put(plan.object_addresses.data(), sizeof(uint64_t) * header.address_count,
      header.addresses_offset);
  for (size_t i = 0; i < plan.threads.size(); ++i) {
    const ThreadPlan& t = plan.threads[i];
    put(images[i].ops.data(), sizeof(ImageOp) * images[i].ops.size(), threads[i].ops_offset);
    put(t.serial.data(), sizeof(uint32_t) * t.serial.size(), threads[i].serial_offset);
    put(images[i].wide.data(), sizeof(ImageWide) * images[i].wide.size(), threads[i].wide_offset);
    put(images[i].live_after.data(), sizeof(int64_t) * images[i].live_after.size(),
        threads[i].live_offset);
    // A plan that was never scheduled has no keys: the memfd reads zeros there.
    if (t.pace_ns.size() == t.ops.size())
      put(t.pace_ns.data(), sizeof(uint64_t) * t.pace_ns.size(), threads[i].pace_offset);
    put(images[i].kind_counts, sizeof images[i].kind_counts, threads[i].kind_counts_offset);
  }
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
