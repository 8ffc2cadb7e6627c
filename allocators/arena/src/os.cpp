#include "os.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace arena {

std::uint64_t coarse_now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return std::uint64_t(t.tv_sec) * 1'000'000'000u + std::uint64_t(t.tv_nsec);
}

void yield_cpu() {
  syscall(SYS_sched_yield);
}

void* map_pages(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* map_pages_with_room(std::size_t bytes, std::size_t room) {
  if (bytes + room < bytes) return nullptr;
  // Not MAP_NORESERVE: the pages are charged to the commit limit when open_room makes
  // them writable, so a strict overcommit policy still answers ENOMEM, not the OOM killer.
  void* p = mmap(nullptr, room + bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char* block = static_cast<char*>(p) + room;
  if (!open_room(block, bytes)) {
    unmap_with_room(block, bytes, room);
    return nullptr;
  }
  return block;
}

bool open_room(void* address, std::size_t bytes) {
  return mprotect(address, bytes, PROT_READ | PROT_WRITE) == 0;
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

void unmap_with_room(void* address, std::size_t bytes, std::size_t room) {
  // The room holds no page (what of it was opened belongs to the block now): one call,
  // with nothing resident to zap.
  if (room != 0) {
    const int saved = errno;
    munmap(static_cast<char*>(address) - room, room);
    errno = saved;
  }
  unmap_pages(address, bytes);
}

void decommit_pages(void* address, std::size_t bytes) {
  in_pieces(address, bytes, [](char* p, std::size_t n) { madvise(p, n, MADV_DONTNEED); });
}

namespace {
// <linux/pidfd.h>'s name for the calling thread, which Debian 12's headers predate.
constexpr int kPidfdSelf = -10000;
// Set once the kernel has refused a vector call for good (too old, or the call not
// permitted): every batch then goes back a range at a time.
constinit std::atomic<bool> vector_calls_refused{false};

// Whether the calling thread runs under no seccomp filter, from /proc/thread-self/status
// (a filter may allow madvise and kill on process_madvise; the file is read each time,
// since a program may install one at any moment: OpenSSH's privilege-separated child
// does so after fork). A file that cannot be read counts as a filter: a sandbox that
// refuses open(2) is one.
bool unfiltered() {
  const int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // The line "Seccomp:<blanks><mode>", found as the file streams by: a Groups line before
  // it may be long, and the stack here is the program's.
  constexpr char kKey[] = "\nSeccomp:";
  std::size_t matched = 0;  // characters of kKey matched so far
  bool past_key = false;    // then blanks are skipped up to the mode's digit
  char mode = '\0';
  char chunk[256];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) break;  // not read to the end: as if filtered
    if (n == 0) {
      // No Seccomp line: a kernel built without seccomp, where no filter can exist.
      if (!past_key) mode = '0';
      break;
    }
    for (ssize_t i = 0; i < n && mode == '\0'; ++i) {
      const char c = chunk[i];
      if (past_key) {
        if (c != ' ' && c != '\t') mode = c;
      } else if (c == kKey[matched]) {
        past_key = ++matched == sizeof kKey - 1;
      } else {
        matched = c == '\n' ? 1 : 0;
      }
    }
    if (mode != '\0') break;
  }
  close(fd);
  return mode == '0';
}

bool refused_for_good(int error) {
  return error == ENOSYS || error == EINVAL || error == EBADF || error == EPERM;
}
}  // namespace

void DecommitBatch::add(void* address, std::size_t bytes) {
  in_pieces(address, bytes, [this](char* piece, std::size_t length) {
    if (count_ == kMostRanges || bytes_ + length > kMostBytesPerCall) flush();
    ranges_[count_++] = {piece, length};
    bytes_ += length;
  });
}

void DecommitBatch::flush() {
  const std::size_t count = count_;
  count_ = 0;
  bytes_ = 0;
  if (count == 0) return;
  const int saved = errno;
  std::size_t first = 0;  // the first range not given back yet
  if (count > 1 && !vector_calls_refused.load(std::memory_order_relaxed) && unfiltered()) {
    const long done = syscall(SYS_process_madvise, kPidfdSelf, ranges_, count, MADV_DONTNEED, 0u);
    if (done < 0 && refused_for_good(errno))
      vector_calls_refused.store(true, std::memory_order_relaxed);
    // Short of the whole (a range not mapped stops the call): the ranges it covered are
    // done, the rest go one by one below.
    for (std::size_t left = done > 0 ? static_cast<std::size_t>(done) : 0;
         first < count && left >= ranges_[first].iov_len; ++first)
      left -= ranges_[first].iov_len;
  }
  for (std::size_t i = first; i < count; ++i)
    madvise(ranges_[i].iov_base, ranges_[i].iov_len, MADV_DONTNEED);
  errno = saved;
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
