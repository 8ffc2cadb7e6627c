/* A deterministic, single-threaded program whose malloc/calloc/realloc/free counts
   the recorder must reproduce exactly as glibc's memusage counts them: direct calls,
   and calls libc makes on our behalf (stdio buffers, strdup, qsort, getdelim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

int main(void) {
  enum { kWords = 500 };
  char* words[kWords];
  for (int i = 0; i < kWords; ++i) {
    char buf[32];
    snprintf(buf, sizeof buf, "word%d", (i * 7919) % kWords);
    words[i] = strdup(buf);
  }
  qsort(words, kWords, sizeof words[0], compare);
  size_t total = 0;
  for (int i = 0; i < kWords; ++i) total += strlen(words[i]);
  for (int i = 0; i < kWords; ++i) free(words[i]);

  void* grow = NULL;
  for (size_t n = 16; n < 70000; n *= 2) grow = realloc(grow, n);
  free(grow);
  int* table = calloc(1000, sizeof *table);
  free(table);
  free(NULL);

  FILE* f = tmpfile();
  if (!f) return 1;
  for (int i = 0; i < 200; ++i) fprintf(f, "line %d\n", i);
  rewind(f);
  char* line = NULL;
  size_t cap = 0;
  int lines = 0;
  while (getline(&line, &cap, f) > 0) ++lines;
  free(line);
  fclose(f);
  printf("%zu %d\n", total, lines);
  return 0;
}
