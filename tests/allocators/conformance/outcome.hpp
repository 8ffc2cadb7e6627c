// Runs one allocation call and keeps errno as the call left it, before any assertion
// machinery (which may allocate) can touch it.
#pragma once

#include <cerrno>

namespace mtreplay::alloctest {

struct Outcome {
  void* block;
  int error;
};

template <class Call>
Outcome attempt(Call call) {
  errno = 0;
  void* block = call();
  const int error = errno;
  return {block, error};
}

}  // namespace mtreplay::alloctest
