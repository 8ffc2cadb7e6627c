#include "thread_record.hpp"

#include <sched.h>
#include <sys/mman.h>

#include <new>

namespace mtreplay::recorder {

ThreadRegistry registry;

void ThreadRecord::reset_slots() {
  for (auto& s : slots) {
    s.bytes = 0;
    s.info = {};
    s.state.store(SlotState::kFilling, std::memory_order_relaxed);
  }
  writer_slot = 0;
  saved_slot = saved_count = 0;
  seen_committed = Committed::kNone;
  window_chunks = 0;
  committed.store(Committed::kNone, std::memory_order_relaxed);
}

namespace {

ThreadRecord* map_record() {
  constexpr size_t kHeaderBytes = (sizeof(ThreadRecord) + 4095) & ~size_t{4095};
  void* m = mmap(nullptr, kHeaderBytes + kSlotsPerThread * kChunkBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  auto* rec = new (m) ThreadRecord();
  rec->chunk_memory = static_cast<std::byte*>(m) + kHeaderBytes;
  return rec;
}

}  // namespace

void ThreadRegistry::lock() {
  while (locked_.exchange(true, std::memory_order_acquire)) sched_yield();
}

void ThreadRegistry::unlock() {
  locked_.store(false, std::memory_order_release);
}

ThreadRecord* ThreadRegistry::acquire(uint32_t thread_index, uint32_t os_tid) {
  lock();
  ThreadRecord* rec = nullptr;
  for (ThreadRecord* r = head(); r; r = r->next) {
    if (r->state.load(std::memory_order_acquire) == RecordState::kFree) {
      rec = r;
      break;
    }
  }
  if (!rec) {
    rec = map_record();
    if (rec) {
      rec->next = head_.load(std::memory_order_relaxed);
      head_.store(rec, std::memory_order_release);
    }
  }
  if (rec) {
    rec->reset_slots();
    rec->thread_index = thread_index;
    rec->os_tid = os_tid;
    rec->state.store(RecordState::kLive, std::memory_order_release);
  }
  unlock();
  return rec;
}

void ThreadRegistry::reset_in_child(ThreadRecord* keep) {
  locked_.store(false, std::memory_order_relaxed);
  for (ThreadRecord* r = head(); r; r = r->next) {
    r->reset_slots();
    r->state.store(r == keep ? RecordState::kLive : RecordState::kFree, std::memory_order_relaxed);
  }
}

}  // namespace mtreplay::recorder
