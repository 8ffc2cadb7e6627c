// Process life-cycle hooks: fork (the child starts its own trace, linked to ours),
// the exec family (everything recorded so far is written first; if the exec fails,
// recording continues), posix_spawn (the child learns which trace spawned it),
// _exit/_Exit (everything is written first), pthread_create (the caller stops stamping
// coarsely before the new thread exists), and library load/unload.
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "config.hpp"
#include "exec_environment.hpp"
#include "real_functions.hpp"
#include "recorder.hpp"
#include "touched_extent.hpp"

#define MHOOK_EXPORT extern "C" __attribute__((visibility("default")))

using namespace mtreplay::recorder;

namespace {

void prepare() {
  resolve_real_functions();
  ensure_initialized();
}

// Large blocks the program never released are measured as the process ends: a
// program that exits with its buffers allocated still says how much of them it used.
void record_touched_at_exit() {
  uintptr_t p = 0;
  uint64_t used = 0;
  while (touched::take_any(p, used)) record(mtreplay::traces::Op::kTouched, p, 0, 0, 0, used, 0);
}

// The environment for a new program image started from this process. In a vfork
// child (not the trace owner) only the environment is adjusted.
ExecEnvironment exec_environment(char* const* envp) {
  return ExecEnvironment(envp, trace_owner_pid(), exec_generation(), follow_exec());
}

using ExecFunction = int (*)(const char*, char* const[], char* const[]);

// The execl family: arg0 and the arguments up to the terminating NULL become an argv
// on the stack (an exec must not allocate), then the vector form runs, with the
// environment that follows the NULL (execle) or the process's own.
int exec_varargs(const char* file, const char* arg0, va_list ap, bool envp_follows,
                 ExecFunction exec) {
  size_t n = 1;
  va_list count;
  va_copy(count, ap);
  while (va_arg(count, char*)) ++n;
  va_end(count);
  char* argv[n + 1];
  argv[0] = const_cast<char*>(arg0);
  for (size_t i = 1; i <= n; ++i) argv[i] = va_arg(ap, char*);
  char* const* envp = envp_follows ? va_arg(ap, char* const*) : environ;
  return exec(file, argv, envp);
}

[[noreturn]] void exit_now(int status) {
  if (real.exit_now) real.exit_now(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

}  // namespace

MHOOK_EXPORT pid_t fork() noexcept {
  prepare();
  pid_t pid;
  int err;
  {
    HookGuard guard;
    before_fork();
    pid = real.fork();
    err = errno;
    if (pid == 0) {
      after_fork_in_child();
    } else {
      after_fork_in_parent();
    }
  }
  if (pid != 0) {
    record(mtreplay::traces::Op::kFork, 0, 0, 0, 0, pid > 0 ? static_cast<uint64_t>(pid) : 0,
           pid < 0 ? err : 0);
  }
  errno = err;
  return pid;
}

MHOOK_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                void* (*start)(void*), void* arg) noexcept {
  if (!resolve_real_functions() || !real.pthread_create) return EAGAIN;
  // The recorder's own writer thread is not a thread of the program.
  if (tls.in_hook) return real.pthread_create(thread, attr, start, arg);
  before_thread_create();
  return real.pthread_create(thread, attr, start, arg);
}

MHOOK_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
  prepare();
  int rc, err;
  {
    ExecEnvironment env = exec_environment(envp);
    ExecFlush flush;
    rc = real.execve(path, argv, env.get());
    err = errno;  // the flush's guard restores the errno it found
  }
  errno = err;
  return rc;
}

MHOOK_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
  prepare();
  int rc, err;
  {
    ExecEnvironment env = exec_environment(envp);
    ExecFlush flush;
    rc = real.execvpe(file, argv, env.get());
    err = errno;  // the flush's guard restores the errno it found
  }
  errno = err;
  return rc;
}

MHOOK_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
  prepare();
  int rc, err;
  {
    ExecEnvironment env = exec_environment(envp);
    ExecFlush flush;
    rc = real.fexecve(fd, argv, env.get());
    err = errno;  // the flush's guard restores the errno it found
  }
  errno = err;
  return rc;
}

MHOOK_EXPORT int execv(const char* path, char* const argv[]) noexcept {
  return execve(path, argv, environ);
}

MHOOK_EXPORT int execvp(const char* file, char* const argv[]) noexcept {
  return execvpe(file, argv, environ);
}

MHOOK_EXPORT int execl(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  const int rc = exec_varargs(path, arg0, ap, /*envp_follows=*/false, execve);
  va_end(ap);
  return rc;
}

MHOOK_EXPORT int execlp(const char* file, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  const int rc = exec_varargs(file, arg0, ap, /*envp_follows=*/false, execvpe);
  va_end(ap);
  return rc;
}

MHOOK_EXPORT int execle(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  const int rc = exec_varargs(path, arg0, ap, /*envp_follows=*/true, execve);
  va_end(ap);
  return rc;
}

MHOOK_EXPORT int posix_spawn(pid_t* pid, const char* path,
                             const posix_spawn_file_actions_t* actions,
                             const posix_spawnattr_t* attr, char* const argv[],
                             char* const envp[]) noexcept {
  prepare();
  ExecEnvironment env = exec_environment(envp);
  return real.posix_spawn(pid, path, actions, attr, argv, env.get());
}

MHOOK_EXPORT int posix_spawnp(pid_t* pid, const char* file,
                              const posix_spawn_file_actions_t* actions,
                              const posix_spawnattr_t* attr, char* const argv[],
                              char* const envp[]) noexcept {
  prepare();
  ExecEnvironment env = exec_environment(envp);
  return real.posix_spawnp(pid, file, actions, attr, argv, env.get());
}

MHOOK_EXPORT void _exit(int status) {
  prepare();
  record_touched_at_exit();
  final_flush();
  exit_now(status);
}

MHOOK_EXPORT void _Exit(int status) {
  prepare();
  record_touched_at_exit();
  final_flush();
  exit_now(status);
}

namespace {

__attribute__((constructor)) void mhook_loaded() {
  prepare();
  // The variable is ours, not the program's: hide it before main runs.
  unsetenv(kExecOfVariable);
  start_writer_thread();
}

// Runs from exit() after the program's atexit handlers and static destructors.
__attribute__((destructor)) void mhook_unloaded() {
  if (!is_trace_owner()) return;
  record_touched_at_exit();
  final_flush();
  join_writer_thread();
}

}  // namespace
