// A would-be allocator whose malloc reads a variable no library defines: the dynamic
// loader cannot relocate it and refuses to start the worker. Never runs.
#include <cstddef>

extern "C" {
extern char mtreplay_test_symbol_nobody_defines[];

__attribute__((visibility("default"))) void* malloc(size_t size) {
  return mtreplay_test_symbol_nobody_defines + size;
}
__attribute__((visibility("default"))) void free(void*) {}
__attribute__((visibility("default"))) void* realloc(void* p, size_t) {
  return p;
}
}
