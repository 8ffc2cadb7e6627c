#pragma once
// What a thread keeps for itself: the arena it is bound to and its cache of recently
// freed small chunks (the tcache idea: a free/malloc pair of the same size costs no
// lock). Both live in initial-exec TLS: plain pointers, no constructor, no destructor.
#include <cstddef>
#include <cstdint>

#include "arena.hpp"

namespace mtreplay::ptmalloc {

inline constexpr std::size_t kCacheBins = 64;  // chunk sizes 32 .. 1040
inline constexpr std::size_t kCacheMaxChunk = kMinChunk + (kCacheBins - 1) * 16;
inline constexpr std::uint8_t kCacheDepth = 16;

inline std::size_t cache_index(std::size_t chunk_size) noexcept {
  return (chunk_size - kMinChunk) >> 4;
}

// Cached chunks stay "in use" as far as their arena knows; they are linked by fd.
struct ThreadCache {
  Chunk* head[kCacheBins];
  std::uint8_t count[kCacheBins];
};

struct ThreadState {
  Arena* arena;
  ThreadCache* cache;
  bool exiting;       // the thread-exit destructor ran: no cache any more
  bool initializing;  // this thread is inside the one-time initialisation
};

extern constinit thread_local ThreadState tl_thread;

// The calling thread's arena, bound on first use; nullptr only when no arena could be
// created at all (out of memory).
Arena* bind_thread() noexcept;
inline Arena* thread_arena() noexcept {
  Arena* a = tl_thread.arena;
  return a ? a : bind_thread();
}

// Gives every cached chunk back to its arena.
void flush_cache(ThreadCache& cache) noexcept;

// The arena table, for introspection.
std::size_t arena_count() noexcept;
Arena& arena_at(std::size_t i) noexcept;

}  // namespace mtreplay::ptmalloc
