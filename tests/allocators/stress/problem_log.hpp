// Problems seen by worker threads, collected for the main thread to report: gtest
// assertions stay on the main thread and a broken allocator yields a short list
// instead of a million lines.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace mtreplay::alloctest {

class ProblemLog {
 public:
  void add(std::string problem) {
    if (problem.empty()) return;
    std::lock_guard lock{mutex_};
    ++count_;
    if (first_.size() < kKept) first_.push_back(std::move(problem));
  }
  std::size_t count() const {
    std::lock_guard lock{mutex_};
    return count_;
  }
  std::string summary() const {
    std::lock_guard lock{mutex_};
    std::string text;
    for (const std::string& problem : first_) text += problem + "\n";
    return text;
  }

 private:
  static constexpr std::size_t kKept = 20;
  mutable std::mutex mutex_;
  std::vector<std::string> first_;
  std::size_t count_ = 0;
};

}  // namespace mtreplay::alloctest
