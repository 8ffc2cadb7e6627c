// The arena table: binding threads to arenas, releasing them at thread exit, and the
// fork protocol. Initialisation is lazy (the first malloc may come before any
// constructor ran) and re-entrant (pthread_* calls made during it may allocate).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstring>

#include "mtreplay/alloc_common/futex_lock.hpp"
#include "thread_state.hpp"

namespace mtreplay::ptmalloc {

constinit thread_local ThreadState tl_thread{};

namespace {

// glibc's default limit is 8 arenas per CPU; the table is static so it is never
// allocated and survives anything.
constexpr std::size_t kMaxArenas = 64;
constexpr std::size_t kArenasPerCpu = 8;

constinit Arena g_arenas[kMaxArenas]{};
constinit std::atomic<std::size_t> g_arena_count{0};
constinit alloc::FutexLock g_table_lock{};
constinit Arena* g_unused = nullptr;  // arenas no live thread is bound to
constinit std::size_t g_next_shared = 0;
constinit std::size_t g_arena_limit = 1;

constinit alloc::FutexLock g_init_lock{};
constinit std::atomic<bool> g_initialized{false};
constinit pthread_key_t g_exit_key{};
constinit std::atomic<bool> g_exit_key_ready{false};

void lock_all() noexcept {
  g_table_lock.lock();
  std::size_t n = g_arena_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) g_arenas[i].lock.lock();
}

void unlock_all() noexcept {
  std::size_t n = g_arena_count.load(std::memory_order_relaxed);
  for (std::size_t i = n; i-- > 0;) g_arenas[i].lock.unlock();
  g_table_lock.unlock();
}

// In the child only the forking thread exists: every other arena becomes unused.
void reset_in_child() noexcept {
  std::size_t n = g_arena_count.load(std::memory_order_relaxed);
  Arena* mine = tl_thread.arena;
  g_unused = nullptr;
  for (std::size_t i = n; i-- > 0;) {
    Arena& a = g_arenas[i];
    a.lock.reset_in_child();
    a.attached_threads = &a == mine ? 1 : 0;
    if (&a != mine) {
      a.next_unused = g_unused;
      g_unused = &a;
    }
  }
  g_table_lock.reset_in_child();
  g_init_lock.reset_in_child();
}

void detach_thread() noexcept {
  Arena* a = tl_thread.arena;
  if (!a) return;
  tl_thread.arena = nullptr;
  alloc::LockGuard guard(g_table_lock);
  if (--a->attached_threads == 0) {
    a->next_unused = g_unused;
    g_unused = a;
  }
}

void on_thread_exit(void*) noexcept {
  tl_thread.exiting = true;
  if (ThreadCache* cache = tl_thread.cache) {
    tl_thread.cache = nullptr;
    flush_cache(*cache);
    Chunk* own = Chunk::of(cache);
    Arena& a = *heap_of(own)->arena;
    alloc::LockGuard guard(a.lock);
    free_locked(a, own);
  }
  detach_thread();
}

std::size_t usable_cpus() noexcept {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

void ensure_initialized() noexcept {
  if (g_initialized.load(std::memory_order_acquire) || tl_thread.initializing) return;
  alloc::LockGuard guard(g_init_lock);
  if (g_initialized.load(std::memory_order_relaxed)) return;
  tl_thread.initializing = true;
  std::size_t limit = kArenasPerCpu * usable_cpus();
  g_arena_limit = limit < kMaxArenas ? limit : kMaxArenas;
  if (pthread_key_create(&g_exit_key, on_thread_exit) == 0) {
    g_exit_key_ready.store(true, std::memory_order_release);
  }
  pthread_atfork(lock_all, unlock_all, reset_in_child);
  tl_thread.initializing = false;
  g_initialized.store(true, std::memory_order_release);
}

__attribute__((constructor)) void initialize_early() {
  ensure_initialized();
}

Arena* pick_arena_locked() noexcept {
  if (Arena* a = g_unused) {
    g_unused = a->next_unused;
    return a;
  }
  std::size_t n = g_arena_count.load(std::memory_order_relaxed);
  if (n < g_arena_limit && init_arena(g_arenas[n])) {
    g_arena_count.store(n + 1, std::memory_order_release);
    return &g_arenas[n];
  }
  if (n == 0) return nullptr;
  return &g_arenas[g_next_shared++ % n];
}

}  // namespace

Arena* bind_thread() noexcept {
  ensure_initialized();
  Arena* a;
  {
    alloc::LockGuard guard(g_table_lock);
    a = pick_arena_locked();
    if (!a) return nullptr;
    ++a->attached_threads;
  }
  tl_thread.arena = a;
  // The key's destructor is what tells us the thread exited. Set only after binding:
  // pthread_setspecific may allocate (for high key numbers) and land back here.
  if (g_exit_key_ready.load(std::memory_order_acquire)) pthread_setspecific(g_exit_key, a);
  if (!tl_thread.exiting && !tl_thread.cache) {
    alloc::LockGuard guard(a->lock);
    if (Chunk* c = malloc_locked(*a, chunk_size_for(sizeof(ThreadCache)))) {
      std::memset(c->mem(), 0, sizeof(ThreadCache));
      tl_thread.cache = static_cast<ThreadCache*>(c->mem());
    }
  }
  return a;
}

void flush_cache(ThreadCache& cache) noexcept {
  Arena* locked = nullptr;
  for (std::size_t i = 0; i < kCacheBins; ++i) {
    for (Chunk* c = cache.head[i]; c;) {
      Chunk* next = c->fd;
      Arena* a = heap_of(c)->arena;
      if (a != locked) {
        if (locked) locked->lock.unlock();
        a->lock.lock();
        locked = a;
      }
      free_locked(*a, c);
      c = next;
    }
    cache.head[i] = nullptr;
    cache.count[i] = 0;
  }
  if (locked) locked->lock.unlock();
}

std::size_t arena_count() noexcept {
  return g_arena_count.load(std::memory_order_acquire);
}
Arena& arena_at(std::size_t i) noexcept {
  return g_arenas[i];
}

}  // namespace mtreplay::ptmalloc
