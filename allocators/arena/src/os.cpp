#include "os.hpp"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace arena {

std::uint64_t coarse_now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return std::uint64_t(t.tv_sec) * 1'000'000'000u + std::uint64_t(t.tv_nsec);
}

void* map_pages(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* map_aligned(std::size_t bytes, std::size_t alignment) {
  if (bytes + alignment < bytes) return nullptr;
  auto* raw = static_cast<char*>(map_pages(bytes + alignment));
  if (raw == nullptr) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
  const std::size_t head = aligned - start;
  const std::size_t tail = alignment - head;
  if (head != 0) unmap_pages(raw, head);
  if (tail != 0) unmap_pages(reinterpret_cast<char*>(aligned) + bytes, tail);
  return reinterpret_cast<void*>(aligned);
}

namespace {
// Where the hypervisor shadows the page tables, one call that gives back 8 MiB or more
// of resident pages made the next touch of every page of the process cost about 3.5 us
// (no fault counted; 0.1 us before); calls of 4 MiB cost a tenth of that (BENCHMARKS.md,
// #14, Session 20). Segments are 4 MiB: only large blocks are cut.
constexpr std::size_t kMostBytesPerCall = std::size_t{4} << 20;

template <typename Call>
void in_pieces(void* address, std::size_t bytes, Call call) {
  const int saved = errno;
  auto* p = static_cast<char*>(address);
  for (std::size_t done = 0; done < bytes; done += kMostBytesPerCall)
    call(p + done, bytes - done < kMostBytesPerCall ? bytes - done : kMostBytesPerCall);
  errno = saved;
}
}  // namespace

void unmap_pages(void* address, std::size_t bytes) {
  in_pieces(address, bytes, [](char* p, std::size_t n) { munmap(p, n); });
}

void decommit_pages(void* address, std::size_t bytes) {
  in_pieces(address, bytes, [](char* p, std::size_t n) { madvise(p, n, MADV_DONTNEED); });
}

void* remap_pages(void* address, std::size_t old_bytes, std::size_t new_bytes) {
  void* p = mremap(address, old_bytes, new_bytes, MREMAP_MAYMOVE);
  return p == MAP_FAILED ? nullptr : p;
}

namespace {
void write_all(const char* text, std::size_t length) {
  while (length > 0) {
    const ssize_t n = write(STDERR_FILENO, text, length);
    if (n <= 0) return;
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}
}  // namespace

void die_with_pointer(const char* what, const void* pointer) {
  char line[160];
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s != '\0' && n < sizeof line - 24) line[n++] = *s++;
  };
  put("arena: ");
  put(what);
  put(" 0x");
  auto value = reinterpret_cast<std::uintptr_t>(pointer);
  char digits[16];
  int count = 0;
  do {
    digits[count++] = "0123456789abcdef"[value & 15];
    value >>= 4;
  } while (value != 0);
  while (count > 0) line[n++] = digits[--count];
  line[n++] = '\n';
  write_all(line, n);
  std::abort();
}

void die(const char* message) {
  write_all("arena: ", 7);
  write_all(message, std::strlen(message));
  write_all("\n", 1);
  std::abort();
}

}  // namespace arena
