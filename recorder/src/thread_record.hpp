// What one recorded thread shares with the writer thread, in memory mapped for the
// purpose (never the traced heap): a ring of chunk slots. The thread fills slots in
// ring order and hands each over with one release store; the writer takes them in the
// same order, writes them and hands them back with a release store. No lock and no
// read-modify-write: each slot has exactly one owner at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mtreplay/traces/pointer_model.hpp"
#include "mtreplay/traces/trace_writer.hpp"

namespace mtreplay::recorder {

// 64 KiB holds ~15k events: big enough that zstd sees redundancy and the per-chunk
// handoff cost vanishes, small enough that 4 of them per thread stay cheap.
inline constexpr size_t kChunkBytes = 64 * 1024;
inline constexpr uint32_t kSlotsPerThread = 4;

enum class SlotState : uint32_t { kFilling = 0, kReady = 1 };
enum class RecordState : uint32_t { kFree = 0, kLive = 1, kExited = 2 };

struct ChunkSlot {
  std::atomic<SlotState> state{SlotState::kFilling};
  uint32_t bytes = 0;
  traces::ChunkInfo info{};
};

// Events committed to the chunk being filled, published after every append so the
// writer can save them when the thread can no longer do it itself (it died, or the
// process is ending). Packed so one store publishes a consistent view.
struct Committed {
  static constexpr uint64_t kNone = ~uint64_t{0};
  static uint64_t pack(uint32_t slot, uint32_t count, uint32_t bytes) {
    return (uint64_t{slot} << 48) | (uint64_t{count} << 24) | bytes;
  }
  static uint32_t slot(uint64_t v) { return static_cast<uint32_t>(v >> 48); }
  static uint32_t count(uint64_t v) { return static_cast<uint32_t>((v >> 24) & 0xffffff); }
  static uint32_t bytes(uint64_t v) { return static_cast<uint32_t>(v & 0xffffff); }
};

struct ThreadRecord {
  ThreadRecord* next = nullptr;  // registry list; never unlinked
  std::atomic<RecordState> state{RecordState::kFree};
  uint32_t thread_index = 0;
  uint32_t os_tid = 0;
  std::atomic<uint64_t> committed{Committed::kNone};
  // Writer-only (under the sink lock).
  uint32_t writer_slot = 0;  // the next slot it expects
  // The first saved_count events of slot saved_slot's chunk are on disk already: the
  // writer saved them while the thread was idle, and writes only the rest later.
  uint32_t saved_slot = 0;
  uint32_t saved_count = 0;
  uint64_t seen_committed = Committed::kNone;  // `committed` at the last idle check
  uint32_t window_chunks = 0;  // chunks written in the writer's load window (trace_sink.cpp)
  ChunkSlot slots[kSlotsPerThread];
  std::byte* chunk_memory = nullptr;  // kSlotsPerThread * kChunkBytes, mmapped
  // The encoder's pointer model (format version 4), the owning thread's alone; on its
  // own cache lines, away from what the writer reads.
  alignas(64) traces::PointerModel model;

  std::byte* chunk(uint32_t slot) { return chunk_memory + size_t{slot} * kChunkBytes; }
  // Makes a record reusable: every slot back to the producer, nothing committed.
  void reset_slots();
};

// All records ever created, newest first. Adding one is rare (thread start), so it
// takes a spin lock; the writer walks the list without it (records are never freed).
class ThreadRegistry {
 public:
  // A record in state kLive for the calling thread: a recycled one whose thread is
  // gone, or a new mapping. nullptr if mmap fails.
  ThreadRecord* acquire(uint32_t thread_index, uint32_t os_tid);
  ThreadRecord* head() const { return head_.load(std::memory_order_acquire); }

  void lock();
  void unlock();
  // In a forked child: the lock may have been held by a thread that does not exist
  // here, and every record but `keep` belongs to such a thread.
  void reset_in_child(ThreadRecord* keep);

 private:
  std::atomic<ThreadRecord*> head_{nullptr};
  std::atomic<bool> locked_{false};
};

extern ThreadRegistry registry;

}  // namespace mtreplay::recorder
