/* What the gcc sample compiles (gcc -O2 -c): a little of everything cc1 parses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
  struct node* next;
  int key;
  char name[24];
};

static struct node* push(struct node* head, int key) {
  struct node* n = malloc(sizeof *n);
  if (!n) abort();
  n->next = head;
  n->key = key;
  snprintf(n->name, sizeof n->name, "node-%d", key);
  return n;
}

static int compare_keys(const void* a, const void* b) {
  const struct node* const* x = a;
  const struct node* const* y = b;
  return ((*x)->key > (*y)->key) - ((*x)->key < (*y)->key);
}

int main(int argc, char** argv) {
  struct node* head = NULL;
  if (argc < 1 || argc > 1000) return 1;
  int count = argc * 1000;
  for (int i = 0; i < count; ++i) head = push(head, (i * 7919) % count);
  struct node** index = calloc((size_t)count, sizeof *index);
  if (!index) abort();
  int k = 0;
  for (struct node* n = head; n; n = n->next) index[k++] = n;
  qsort(index, (size_t)count, sizeof *index, compare_keys);
  long sum = 0;
  for (int i = 0; i < count; ++i) sum += index[i]->key + (long)strlen(index[i]->name);
  free(index);
  while (head) {
    struct node* n = head->next;
    free(head);
    head = n;
  }
  printf("%s: %ld\n", argv[0], sum);
  return 0;
}
