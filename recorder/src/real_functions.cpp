#include "real_functions.hpp"

#include <dlfcn.h>
#include <sched.h>

#include <atomic>

#include "thread_state.hpp"

namespace mtreplay::recorder {

RealFunctions real{};
bool real_functions_ready = false;

namespace {

std::atomic<int> resolve_state{0};  // 0 not started, 1 in progress, 2 done

template <typename F>
void next(F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void resolve_all() {
  next(real.malloc, "malloc");
  next(real.calloc, "calloc");
  next(real.realloc, "realloc");
  next(real.free, "free");
  next(real.memalign, "memalign");
  next(real.posix_memalign, "posix_memalign");
  next(real.aligned_alloc, "aligned_alloc");
  next(real.valloc, "valloc");
  next(real.pvalloc, "pvalloc");
  next(real.malloc_usable_size, "malloc_usable_size");
  next(real.fork, "fork");
  next(real.execve, "execve");
  next(real.execvpe, "execvpe");
  next(real.fexecve, "fexecve");
  next(real.posix_spawn, "posix_spawn");
  next(real.posix_spawnp, "posix_spawnp");
  next(real.exit_now, "_exit");
  next(real.pthread_create, "pthread_create");
}

}  // namespace

bool resolve_real_functions() {
  if (resolve_state.load(std::memory_order_acquire) == 2) return true;
  ThreadState& t = tls;
  if (t.resolving) return false;  // dlsym calling back into us
  int expected = 0;
  if (resolve_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t.resolving = true;
    resolve_all();
    t.resolving = false;
    real_functions_ready = true;
    resolve_state.store(2, std::memory_order_release);
    return true;
  }
  while (resolve_state.load(std::memory_order_acquire) != 2) sched_yield();
  return true;
}

}  // namespace mtreplay::recorder
