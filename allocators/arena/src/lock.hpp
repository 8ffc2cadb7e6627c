// A spin lock that needs no initialisation (zero is unlocked), so that it works before
// any constructor ran and can be reset in a forked child. Uncontended cost: one
// compare-and-swap to lock and a plain store to unlock (a futex lock needs an atomic
// exchange to unlock, to learn whether to wake anyone: a second atomic per malloc).
// Waiters spin briefly, then yield the CPU; arenas are rebound on contention, so long
// waits are rare.
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
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // Spins up to `spins` pauses for the lock; false if it stayed taken.
  bool try_lock_spinning(unsigned spins);
  void lock() {
    if (!try_lock()) [[unlikely]]
      lock_slow();
  }
  void unlock() { state_.store(0, std::memory_order_release); }
  // Only in a forked child, where the thread that held the lock does not exist.
  void reset() { state_.store(0, std::memory_order_relaxed); }

 private:
  void lock_slow();
  std::atomic<std::uint32_t> state_{0};
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
