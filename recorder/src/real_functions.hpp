// The next definition of every function libmhook interposes, found with
// dlsym(RTLD_NEXT) so that whatever allocator sits behind us (glibc, or another
// preloaded one) is the one the program really uses.
#pragma once

#include <pthread.h>
#include <spawn.h>
#include <sys/types.h>

#include <cstddef>

namespace mtreplay::recorder {

struct RealFunctions {
  void* (*malloc)(size_t);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void (*free)(void*);
  void* (*memalign)(size_t, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void*);
  pid_t (*fork)();
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
  int (*posix_spawn)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                     const posix_spawnattr_t*, char* const[], char* const[]);
  int (*posix_spawnp)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                      const posix_spawnattr_t*, char* const[], char* const[]);
  void (*exit_now)(int);  // _exit
  int (*pthread_create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
};

extern RealFunctions real;

// True once every pointer in `real` is set. Read on every hooked call, so plain.
extern bool real_functions_ready;

// Resolves `real` (once; concurrent callers wait). Calls made by dlsym itself while
// this runs are served by the bootstrap arena. Returns false only if this thread is
// the one resolving (a reentrant call), so the caller must use the bootstrap arena.
bool resolve_real_functions();

}  // namespace mtreplay::recorder
