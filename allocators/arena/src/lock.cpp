#include "lock.hpp"

#include "os.hpp"

namespace arena {

bool Lock::try_lock_spinning(unsigned spins) {
  for (unsigned i = 0; i < spins; ++i) {
    if (state_.load(std::memory_order_relaxed) == 0 && try_lock()) return true;
    __builtin_ia32_pause();
  }
  return false;
}

void Lock::lock_slow() {
  for (unsigned round = 0;; ++round) {
    if (state_.load(std::memory_order_relaxed) == 0 && try_lock()) return;
    // Critical sections are a few dozen instructions: spin a little, then let the
    // holder (perhaps preempted on this very CPU) run.
    if (round < 128)
      __builtin_ia32_pause();
    else
      yield_cpu();
  }
}

}  // namespace arena
