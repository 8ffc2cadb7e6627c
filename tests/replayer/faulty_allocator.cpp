// Deliberately broken allocators for the replayer's failure tests. Each build picks one
// fault with a FAULT_* definition; everything else forwards to glibc. The trigger sizes
// are chosen by the test traces, so the worker's own start-up never hits them.
#include <cstddef>
#include <cstdint>

#if defined(FAULT_ORDER)
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#endif

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

constexpr size_t kTrigger = 777777;

#if defined(FAULT_ORDER)
// Not a fault: an allocator that tells the order in which the replay ran things. A
// request of kMarker + N appends "mN" to the file $MTREPLAY_ORDER_LOG when it returns
// (after sleeping 50 ms when N >= 50, to give an unordered replay every chance to
// overtake it); a thread that made such a request appends "xN" when it exits (N: its
// first marker), as an allocator's thread cache teardown would run; a marker requested
// on the process's main thread also appends "pN".
constexpr size_t kMarker = 910000;
pthread_key_t g_exit_key;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

void log_line(char kind, unsigned long n) {
  const char* path = getenv("MTREPLAY_ORDER_LOG");
  if (!path) return;
  char line[32];
  int len = snprintf(line, sizeof line, "%c%lu\n", kind, n);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t written = write(fd, line, static_cast<size_t>(len));
  (void)written;
  close(fd);
}

void on_thread_exit(void* tag) {
  log_line('x', reinterpret_cast<uintptr_t>(tag));
}

void make_key() {
  pthread_key_create(&g_exit_key, on_thread_exit);
}

void mark(size_t size) {
  if (size < kMarker || size >= kMarker + 100) return;
  unsigned long n = size - kMarker;
  if (n >= 50) usleep(50'000);
  pthread_once(&g_once, make_key);
  if (!pthread_getspecific(g_exit_key))
    pthread_setspecific(g_exit_key, reinterpret_cast<void*>(static_cast<uintptr_t>(n)));
  log_line('m', n);
  if (static_cast<pid_t>(syscall(SYS_gettid)) == getpid()) log_line('p', n);
}
#endif

__attribute__((visibility("default"))) void* malloc(size_t size) {
#if defined(FAULT_CRASH)
  if (size == kTrigger) __builtin_trap();
#elif defined(FAULT_NULL)
  if (size == kTrigger) return nullptr;
#elif defined(FAULT_ORDER)
  mark(size);
#elif defined(FAULT_OVERLAP)
  // Hands the same block to every request of the trigger size: overlapping objects.
  static void* shared = nullptr;
  if (size == kTrigger) {
    if (!shared) shared = __libc_malloc(size);
    return shared;
  }
#endif
  return __libc_malloc(size);
}

__attribute__((visibility("default"))) void free(void* p) {
#if defined(FAULT_OVERLAP) || defined(FAULT_MISALIGN)
  (void)p;  // blocks may be shared or offset: leak rather than corrupt glibc
#else
  __libc_free(p);
#endif
}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) {
  return __libc_calloc(n, size);
}
__attribute__((visibility("default"))) void* realloc(void* p, size_t size) {
  return __libc_realloc(p, size);
}

__attribute__((visibility("default"))) void* memalign(size_t align, size_t size) {
#if defined(FAULT_MISALIGN)
  // Ignores the alignment asked for: returns a block 16 bytes past an aligned one.
  if (size == kTrigger) return static_cast<char*>(__libc_memalign(align, size + 16)) + 16;
#endif
  return __libc_memalign(align, size);
}
}
