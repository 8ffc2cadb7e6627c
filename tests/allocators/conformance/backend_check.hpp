// Which allocator is this process really running under? Every allocator test checks it
// first, so a test registered for "jemalloc" whose LD_PRELOAD went missing fails loudly
// instead of passing vacuously on glibc.
#pragma once

#include <string>

namespace mtreplay::alloctest {

struct ExpectedBackend {
  std::string name;  // MTREPLAY_EXPECT_ALLOCATOR, e.g. "jemalloc"
  std::string path;  // MTREPLAY_EXPECT_ALLOCATOR_PATH, "" for glibc itself
};

// Reads the expectation CTest put in the environment; empty name when there is none.
ExpectedBackend expected_backend();

// The shared object that defines `symbol` for this process (dlsym(RTLD_DEFAULT)),
// canonicalised with realpath; "" when the symbol is not defined at all.
std::string object_defining(const char* symbol);

// "" when `malloc` resolves into the expected backend, else a one-line explanation.
std::string backend_mismatch(const ExpectedBackend& expected);

// True when `symbol` resolves into the same object as `malloc`: the backend serves it
// itself. When false, a libc fallback would hand the backend blocks it never made.
bool served_with_malloc(const char* symbol);

// The reason to skip a test of `symbol` when the backend does not export it, or "".
std::string family_gap(const char* symbol);

}  // namespace mtreplay::alloctest
