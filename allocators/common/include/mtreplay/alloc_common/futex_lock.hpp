#pragma once
// A three-state futex mutex (unlocked, locked, locked with waiters). It never
// allocates, is zero-initialised (safe in .bss before constructors run) and can be
// reset in a forked child, where the thread that held it no longer exists.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace mtreplay::alloc {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class FutexLock {
 public:
  void lock() noexcept {
    std::uint32_t expected = kUnlocked;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    lock_contended();
  }

  bool try_lock() noexcept {
    std::uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) {
      syscall(SYS_futex, word(), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
  }

  // Only for a forked child: the holder may have been another thread of the parent.
  void reset_in_child() noexcept { state_.store(kUnlocked, std::memory_order_relaxed); }

 private:
  static constexpr std::uint32_t kUnlocked = 0, kLocked = 1, kContended = 2;

  void lock_contended() noexcept {
    // A short spin first: critical sections in an allocator are tens of nanoseconds.
    for (int i = 0; i < 100; ++i) {
      cpu_relax();
      if (state_.load(std::memory_order_relaxed) == kUnlocked && try_lock()) return;
    }
    while (state_.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
      syscall(SYS_futex, word(), FUTEX_WAIT_PRIVATE, kContended, nullptr, nullptr, 0);
    }
  }

  std::uint32_t* word() noexcept { return reinterpret_cast<std::uint32_t*>(&state_); }

  std::atomic<std::uint32_t> state_{kUnlocked};
};

// RAII guard; std::lock_guard would do, this keeps <mutex> out of the allocators.
class LockGuard {
 public:
  explicit LockGuard(FutexLock& lock) noexcept : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  FutexLock& lock_;
};

}  // namespace mtreplay::alloc
