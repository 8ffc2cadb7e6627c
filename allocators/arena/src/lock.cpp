#include "lock.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arena {

namespace {
void futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, value,
          nullptr, nullptr, 0);
}
}  // namespace

void Lock::lock_slow() {
  // A short spin first: critical sections are a few dozen instructions.
  for (int i = 0; i < 64; ++i) {
    if (state_.load(std::memory_order_relaxed) == kUnlocked && try_lock()) return;
    __builtin_ia32_pause();
  }
  while (state_.exchange(kContended, std::memory_order_acquire) != kUnlocked)
    futex(&state_, FUTEX_WAIT, kContended);
}

void Lock::wake_one() {
  futex(&state_, FUTEX_WAKE, 1);
}

}  // namespace arena
