#include "mtreplay/replay/plan_image.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mtreplay::replay {
namespace {

uint64_t align_up(uint64_t value) { return (value + 63) & ~uint64_t{63}; }

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

void write_all(int fd, const void* data, size_t bytes, uint64_t offset) {
  auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = pwrite(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "writing the replay plan");
    }
    p += n, bytes -= static_cast<size_t>(n), offset += static_cast<uint64_t>(n);
  }
}

}  // namespace

int write_plan_image(const Plan& plan) {
  PlanHeader header;
  std::memcpy(header.magic, kPlanMagic, sizeof header.magic);
  header.thread_count = static_cast<uint32_t>(plan.threads.size());
  header.object_count = plan.objects.size();
  header.op_count = plan.op_count;
  header.page_size = plan.page_size;
  header.peak_live_bytes = plan.peak_live_bytes;
  header.peak_object_count = plan.peak_objects.size();

  ImageWriter layout;
  layout.reserve(sizeof(PlanHeader));
  header.threads_offset = layout.reserve(sizeof(PlanThread) * plan.threads.size());
  header.objects_offset = layout.reserve(sizeof(PlanObject) * plan.objects.size());
  header.serial_order_offset = layout.reserve(sizeof(uint32_t) * plan.serial_order.size());
  header.peak_objects_offset = layout.reserve(sizeof(uint32_t) * plan.peak_objects.size());
  std::vector<PlanThread> threads(plan.threads.size());
  for (size_t i = 0; i < plan.threads.size(); ++i) {
    const ThreadPlan& t = plan.threads[i];
    threads[i].recorded_index = t.recorded_index;
    threads[i].os_tid = t.os_tid;
    threads[i].op_count = t.ops.size();
    threads[i].ops_offset = layout.reserve(sizeof(PlanOp) * t.ops.size());
    threads[i].serial_offset = layout.reserve(sizeof(uint32_t) * t.serial.size());
  }
  header.total_bytes = align_up(layout.size());

  int fd = memfd_create("mtreplay-plan", 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  if (ftruncate(fd, static_cast<off_t>(header.total_bytes)) != 0) {
    int err = errno;
    close(fd);
    throw std::system_error(err, std::generic_category(), "sizing the replay plan");
  }
  try {
    write_all(fd, &header, sizeof header, 0);
    write_all(fd, threads.data(), sizeof(PlanThread) * threads.size(), header.threads_offset);
    write_all(fd, plan.objects.data(), sizeof(PlanObject) * plan.objects.size(),
              header.objects_offset);
    write_all(fd, plan.serial_order.data(), sizeof(uint32_t) * plan.serial_order.size(),
              header.serial_order_offset);
    write_all(fd, plan.peak_objects.data(), sizeof(uint32_t) * plan.peak_objects.size(),
              header.peak_objects_offset);
    for (size_t i = 0; i < plan.threads.size(); ++i) {
      const ThreadPlan& t = plan.threads[i];
      write_all(fd, t.ops.data(), sizeof(PlanOp) * t.ops.size(), threads[i].ops_offset);
      write_all(fd, t.serial.data(), sizeof(uint32_t) * t.serial.size(),
                threads[i].serial_offset);
    }
  } catch (...) {
    close(fd);
    throw;
  }
  return fd;
}

std::string PlanView::attach(const std::byte* base, size_t size) {
  if (size < sizeof(PlanHeader)) return "plan image too small";
  auto* header = reinterpret_cast<const PlanHeader*>(base);
  if (std::memcmp(header->magic, kPlanMagic, sizeof kPlanMagic) != 0 || header->version != 1)
    return "not a replay plan image";
  auto fits = [&](uint64_t offset, uint64_t bytes) {
    return offset <= size && bytes <= size - offset;
  };
  if (header->total_bytes > size ||
      !fits(header->threads_offset, sizeof(PlanThread) * uint64_t{header->thread_count}) ||
      !fits(header->objects_offset, sizeof(PlanObject) * header->object_count) ||
      !fits(header->serial_order_offset, sizeof(uint32_t) * header->op_count) ||
      !fits(header->peak_objects_offset, sizeof(uint32_t) * header->peak_object_count))
    return "replay plan image is inconsistent";
  auto* threads = reinterpret_cast<const PlanThread*>(base + header->threads_offset);
  for (uint32_t i = 0; i < header->thread_count; ++i) {
    if (!fits(threads[i].ops_offset, sizeof(PlanOp) * threads[i].op_count) ||
        !fits(threads[i].serial_offset, sizeof(uint32_t) * threads[i].op_count))
      return "replay plan image is inconsistent";
  }
  base_ = base;
  header_ = header;
  threads_ = threads;
  return {};
}

}  // namespace mtreplay::replay
