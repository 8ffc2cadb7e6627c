// Doubly linked lists of spans threaded through Span::next/prev: an arena's free-run
// buckets and slab lists, and a thread's own slab lists.
#pragma once

#include "span.hpp"

namespace arena {

inline void span_list_push(Span*& head, Span* span) {
  span->prev = nullptr;
  span->next = head;
  if (head != nullptr) head->prev = span;
  head = span;
}

// Behind the head: the head stays the slab allocated from, and a slab that fills up
// with free blocks behind it can be given back as soon as it is empty.
inline void span_list_insert_second(Span*& head, Span* span) {
  if (head == nullptr) {
    span_list_push(head, span);
    return;
  }
  span->prev = head;
  span->next = head->next;
  if (head->next != nullptr) head->next->prev = span;
  head->next = span;
}

inline void span_list_remove(Span*& head, Span* span) {
  if (span->prev != nullptr)
    span->prev->next = span->next;
  else
    head = span->next;
  if (span->next != nullptr) span->next->prev = span->prev;
  span->next = span->prev = nullptr;
}

}  // namespace arena
