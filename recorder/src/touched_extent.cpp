#include "touched_extent.hpp"

#include <sys/mman.h>
#include <unistd.h>
#include <cstring>
#include <optional>

#include "thread_state.hpp"

namespace mtreplay::recorder::touched {

std::atomic<uint32_t> tracked_count{0};
std::atomic<uint8_t> filter[1u << kFilterBits];

namespace {

// The measured blocks, open addressing with linear probing. Small and fixed: the
// recorder must not allocate, and a program with more large blocks live at once than
// kMaxTracked simply has the rest replayed whole.
constexpr unsigned kTableBits = 12;
constexpr unsigned kTableSize = 1u << kTableBits;
constexpr unsigned kMaxTracked = kTableSize * 3 / 4;

struct Entry {
  uintptr_t ptr = 0;  // 0: empty
  size_t bytes = 0;
  bool dropped = false;  // its pages were dropped at the allocation: the count is exact
};
Entry table[kTableSize];
std::atomic<bool> locked{false};
// Set at start-up and in a fork child; read by every thread's large allocations.
std::atomic<Mode> mode{Mode::kOff};
uintptr_t page = 4096;

// kAuto, per power-of-two size class: the share of their pages (in 1/1024) that
// blocks measured exactly turned out to use, a moving average, and a count of the
// class's blocks. Pages are dropped while the class uses under half of them (cheap: the
// program faults few back in, and resident pages would overstate it most) and for
// every kExploreEvery-th block (a class that filled its blocks may stop doing so).
constexpr unsigned kExploreEvery = 64;
struct SizeClass {
  std::atomic<uint32_t> used_share{0};
  std::atomic<uint32_t> blocks{0};
};
SizeClass classes[64];

SizeClass& class_of(size_t bytes) {
  return classes[63 - __builtin_clzll(bytes)];
}

bool drop_pages(size_t bytes) {
  const Mode m = mode.load(std::memory_order_relaxed);
  if (m == Mode::kExact) return true;
  if (m != Mode::kAuto) return false;
  SizeClass& c = class_of(bytes);
  return c.used_share.load(std::memory_order_relaxed) < 512 ||
         c.blocks.fetch_add(1, std::memory_order_relaxed) % kExploreEvery == 0;
}

void learn(size_t bytes, uint64_t pages, uint64_t resident) {
  if (pages == 0) return;
  std::atomic<uint32_t>& share = class_of(bytes).used_share;
  const uint32_t now = static_cast<uint32_t>(resident * 1024 / pages);
  share.store((share.load(std::memory_order_relaxed) * 3 + now) / 4, std::memory_order_relaxed);
}

unsigned home(uintptr_t p) {
  return static_cast<unsigned>(((p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kTableBits));
}

class Lock {
 public:
  Lock() {
    while (locked.exchange(true, std::memory_order_acquire))
      while (locked.load(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
  ~Lock() { locked.store(false, std::memory_order_release); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
};

// The pages wholly inside [p, p + bytes).
struct Pages {
  uintptr_t first = 0, end = 0;
};
Pages inner_pages(uintptr_t p, size_t bytes) {
  return {(p + page - 1) & ~(page - 1), (p + bytes) & ~(page - 1)};
}

// Removes slot i, moving later entries of its probe run back so lookups still find them.
void erase(unsigned i) {
  for (unsigned j = (i + 1) & (kTableSize - 1); table[j].ptr != 0; j = (j + 1) & (kTableSize - 1)) {
    const unsigned h = home(table[j].ptr);
    // j's entry may fill the hole at i when its home does not lie in (i, j].
    const bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!between) {
      table[i] = table[j];
      i = j;
    }
  }
  table[i] = {};
}

struct Residency {
  uint64_t count = 0;
  uintptr_t last = 0;  // the last resident page, when count > 0
};
std::optional<Residency> resident_pages(Pages pages) {
  unsigned char vec[256];
  Residency r;
  for (uintptr_t at = pages.first; at < pages.end;) {
    const uintptr_t n = (pages.end - at) / page < sizeof vec ? (pages.end - at) / page : sizeof vec;
    if (mincore(reinterpret_cast<void*>(at), n * page, vec) != 0) return std::nullopt;
    for (uintptr_t k = 0; k < n; ++k)
      if (vec[k] & 1) ++r.count, r.last = at + k * page;
    at += n * page;
  }
  return r;
}

// Bytes of [from, to) up to and including its last non-zero byte; 0 when all are zero.
// Word by word where aligned: the common case is a page of zeros behind a few bytes.
size_t written_prefix(uintptr_t from, uintptr_t to) {
  uintptr_t at = to;
  for (; at > from && at % sizeof(uint64_t) != 0; --at)
    if (*reinterpret_cast<const unsigned char*>(at - 1) != 0) return at - from;
  for (; at - from >= sizeof(uint64_t); at -= sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, reinterpret_cast<const void*>(at - sizeof word), sizeof word);
    if (word != 0) break;
  }
  for (; at > from; --at)
    if (*reinterpret_cast<const unsigned char*>(at - 1) != 0) return at - from;
  return 0;
}

// For a block whose pages were dropped and ends zeroed at its allocation: the bytes it
// used, to the byte where the contents tell. A resident page counts whole, but the
// last one counts up to its last non-zero byte, as do the partial pages at the ends
// (a page the program wrote only zeros to counts whole; zeros it wrote at the ends or
// at the end of its last page are missed).
uint64_t exact_used(uintptr_t p, size_t bytes, Pages pages, Residency r) {
  const uintptr_t end = p + bytes;
  const size_t tail = written_prefix(pages.end, end);
  if (tail > 0) return written_prefix(p, pages.first) + r.count * page + tail;
  uint64_t used = written_prefix(p, pages.first);
  if (r.count > 0) {
    const size_t last = written_prefix(r.last, r.last + page);
    used += (r.count - 1) * page + (last > 0 ? last : page);
  }
  return used;
}

}  // namespace

void enable(Mode m) {
  const long size = sysconf(_SC_PAGESIZE);
  if (size > 0) page = static_cast<uintptr_t>(size);
  mode.store(m, std::memory_order_relaxed);
}

void on_allocate(void* ptr, size_t bytes) {
  if (mode.load(std::memory_order_relaxed) == Mode::kOff || !ptr || tls.in_hook) return;
  const auto p = reinterpret_cast<uintptr_t>(ptr);
  const Pages pages = inner_pages(p, bytes);
  if (pages.end <= pages.first) return;
  std::atomic<uint8_t>& count = filter[filter_slot(p)];
  if (tracked_count.load(std::memory_order_relaxed) >= kMaxTracked) return;
  // Outside the lock: nobody else can release the block before the program has it.
  const bool dropped = drop_pages(bytes);
  if (dropped) {
    if (madvise(reinterpret_cast<void*>(pages.first), pages.end - pages.first, MADV_DONTNEED) != 0)
      return;
    // The partial pages at the ends share their page with the allocator's memory, so
    // only their contents can tell whether the program wrote them: zeroed here (a
    // malloc'd block's contents are indeterminate, calloc's are zeros already).
    std::memset(ptr, 0, pages.first - p);
    std::memset(reinterpret_cast<void*>(pages.end), 0, p + bytes - pages.end);
  }
  Lock lock;
  if (tracked_count.load(std::memory_order_relaxed) >= kMaxTracked ||
      count.load(std::memory_order_relaxed) == UINT8_MAX)
    return;
  unsigned i = home(p);
  while (table[i].ptr != 0 && table[i].ptr != p) i = (i + 1) & (kTableSize - 1);
  if (table[i].ptr == p) {
    table[i] = {p, bytes, dropped};  // released unseen (by the recorder itself): anew
    return;
  }
  table[i] = {p, bytes, dropped};
  count.fetch_add(1, std::memory_order_relaxed);
  tracked_count.fetch_add(1, std::memory_order_relaxed);
}

bool take_any(uintptr_t& p, uint64_t& used_bytes) {
  for (;;) {
    if (tracked_count.load(std::memory_order_relaxed) == 0) return false;
    p = 0;
    {
      Lock lock;
      for (const Entry& e : table)
        if (e.ptr != 0) {
          p = e.ptr;
          break;
        }
    }
    if (p == 0) return false;
    if (take_slow(reinterpret_cast<void*>(p), used_bytes)) return true;
  }
}

bool take_slow(void* ptr, uint64_t& used_bytes) {
  const auto p = reinterpret_cast<uintptr_t>(ptr);
  size_t bytes = 0;
  bool dropped = false;
  {
    Lock lock;
    unsigned i = home(p);
    while (table[i].ptr != 0 && table[i].ptr != p) i = (i + 1) & (kTableSize - 1);
    if (table[i].ptr != p) return false;
    bytes = table[i].bytes;
    dropped = table[i].dropped;
    erase(i);
    filter[filter_slot(p)].fetch_sub(1, std::memory_order_relaxed);
    tracked_count.fetch_sub(1, std::memory_order_relaxed);
  }
  // The block is still the caller's: its pages cannot change hands while we look.
  const Pages pages = inner_pages(p, bytes);
  const std::optional<Residency> resident = resident_pages(pages);
  if (!resident) return false;
  const uint64_t count = (pages.end - pages.first) / page;
  if (!dropped) {
    used_bytes = bytes - (count - resident->count) * page;
    return true;
  }
  learn(bytes, count, resident->count);
  used_bytes = exact_used(p, bytes, pages, *resident);
  return true;
}

void reset_lock_in_child() {
  locked.store(false, std::memory_order_relaxed);
}

}  // namespace mtreplay::recorder::touched
