/* A malloc that crashes after a couple of thousand calls: the backend compare must
 * report as crashed while the other allocators go on. Forwards to glibc until then. */
#include <signal.h>
#include <stddef.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* ptr, size_t size);
extern void __libc_free(void* ptr);

static unsigned long calls;

void* malloc(size_t size) {
  if (++calls > 2000) raise(SIGSEGV);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) { return __libc_calloc(count, size); }
void* realloc(void* ptr, size_t size) { return __libc_realloc(ptr, size); }
void free(void* ptr) { __libc_free(ptr); }
