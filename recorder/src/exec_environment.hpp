// The environment an exec'd or spawned program gets: ours, plus MHOOK_EXEC_OF so the
// new image knows which trace it continues, minus libmhook in LD_PRELOAD when
// MHOOK_FOLLOW_EXEC=0. Built in its own mapping (the traced heap is never touched)
// and unmapped when it goes out of scope (if the exec succeeds, it never does).
#pragma once

#include <cstddef>

namespace mtreplay::recorder {

class ExecEnvironment {
 public:
  ExecEnvironment(char* const* envp, unsigned pid, unsigned generation, bool keep_preload);
  ~ExecEnvironment();
  ExecEnvironment(const ExecEnvironment&) = delete;
  ExecEnvironment& operator=(const ExecEnvironment&) = delete;

  // The rewritten environment, or the original one if it could not be built.
  char* const* get() const { return envp_; }

 private:
  char* const* envp_;
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
};

}  // namespace mtreplay::recorder
