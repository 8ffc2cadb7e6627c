// A futex mutex that needs no initialisation (zero is unlocked), so that it works
// before any constructor ran, and can be reset in a forked child. Uncontended cost:
// one compare-and-swap to lock, one exchange to unlock.
#pragma once

#include <atomic>
#include <cstdint>

namespace arena {

class Lock {
 public:
  constexpr Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  bool try_lock() {
    std::uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void lock() {
    if (!try_lock()) lock_slow();
  }
  void unlock() {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) wake_one();
  }
  // Only in a forked child, where the thread that held the lock does not exist.
  void reset() { state_.store(kUnlocked, std::memory_order_relaxed); }

 private:
  static constexpr std::uint32_t kUnlocked = 0, kLocked = 1, kContended = 2;
  void lock_slow();
  void wake_one();
  std::atomic<std::uint32_t> state_{kUnlocked};
};

class LockGuard {
 public:
  explicit LockGuard(Lock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& lock_;
};

}  // namespace arena
