// The malloc family on top of the arenas: arena selection, the size dispatch (slab,
// medium run, own mapping), pointer validation, lazy initialisation and fork.
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arena.hpp"
#include "arena/arena.h"
#include "large_blocks.hpp"
#include "medium_cache.hpp"
#include "meta_pool.hpp"
#include "os.hpp"
#include "segment_map.hpp"
#include "span_list.hpp"

namespace arena {
namespace {

constexpr std::size_t kMaxRequest = PTRDIFF_MAX;

constinit Arena arenas[kMaxArenas] = {};
constinit std::atomic<bool> core_ready{false};
constinit std::atomic<bool> fork_handlers_registered{false};
constinit Lock init_lock;
constinit std::size_t arena_limit = 1;     // arenas threads may move to when contended
constinit std::size_t initial_arenas = 1;  // arenas new threads are spread over
constinit std::atomic<std::size_t> threads_seen{0};
// Arenas [0, arenas_used) are those a thread has been bound to or may have moved to;
// no thread has locked any other. Raised under init_lock, which the fork's prepare
// handler takes first: a thread counts an arena before it first locks it, or waits for
// the fork to be over, so the handlers lock every arena that may be in use. A
// single-threaded program's fork locks one arena, not the 4 per CPU that threads may
// use: 2 pages fewer written after each fork on each side (BENCHMARKS.md, #14, Session 44).
constinit std::atomic<std::size_t> arenas_used{1};

// Counts arenas [0, count) as used before the calling thread first locks one of them. It
// must hold no lock of the allocator's (the fork's prepare handler holds init_lock while
// it waits for the arenas' locks).
void count_arenas_used(std::size_t count) {
  if (arenas_used.load(std::memory_order_acquire) >= count) return;
  LockGuard guard(init_lock);
  if (arenas_used.load(std::memory_order_relaxed) < count)
    arenas_used.store(count, std::memory_order_release);
}

// The arena this thread allocates from. initial-exec: no allocation, no TLS call.
constinit thread_local Arena* bound_arena __attribute__((tls_model("initial-exec"))) = nullptr;

// Reuse mode (allocate_small_reuse): entered at a refill that relisted at least this many
// slabs holding at most 1.25 free blocks each; left once its misses, each counted
// kReuseMissWeight times, outweigh its hits by kReuseMaxMisses, so that it stays only
// while 8 mallocs in 9 take the block back (16 misses more than hits kept mixed_lifetime
// in it at 2 hits in 3: 8 % slower, BENCHMARKS.md, #14, Session 47).
constexpr std::uint32_t kReuseMinSlabs = 8;
// In ThreadHeap::word_hints, beside the word offset (0-48): the class's reuse mode, and
// whether the malloc leaves its fast path (reuse mode, or no slab with room), so that the
// malloc tests one bit for both (the test of the head for null was two instructions more).
constexpr std::uint8_t kReuseMode = 0x40;
constexpr std::uint8_t kNoFastMalloc = 0x80;
constexpr std::uint8_t kHintFlags = kReuseMode | kNoFastMalloc;
constexpr std::array<std::uint8_t, kNumClasses> every_class(std::uint8_t value) {
  std::array<std::uint8_t, kNumClasses> values{};
  values.fill(value);
  return values;
}
constexpr std::uint8_t kReuseMissWeight = 8;
constexpr std::uint8_t kReuseMaxMisses = 64;

// The slabs this thread owns: small blocks come from them and return to them without
// a lock or an atomic instruction. Per class, slabs with a free block (ThreadHeap::partial,
// the head is the one allocated from) and all of them; blocks other threads free arrive
// via the inbox. A full slab is on no list but `owned`, which changes only when a slab is
// taken or given back: a slab that fills leaves `partial`, and one that gets its first
// block back from its owner's free goes on the class's unlisted stack
// (ThreadHeap::unlisted), not back on `partial`, until the class's next refill relists
// it (with a list of full slabs, a free into a full slab touched four other
// descriptors, most of them cold: server_exchange spent a tenth of its free path there).
struct ClassSlabs {
  Span* owned;
  Span* owned_tail;
  // The head of `partial` came from a free into another thread's slab (release), not
  // from a refill: a thread that only frees in this class (a consumer) gives it back
  // once it is empty instead of keeping it to allocate from.
  bool head_from_free;
  // The pages of the slabs the thread took of the class and did not give back empty,
  // saturating: the size of its next slab (allocate_small_slow). Full slabs it hands
  // over still count: they hold its blocks (size_classes.hpp, class_first_slab_pages).
  std::uint16_t taken_pages;
};
// The slabs of other threads this thread marked blocks pending in and has not told yet
// (a slab freed into twice in a row named once, one queued for its owner already not at
// all), told at the flush after at most kRemoteBatch frees: for unowned slabs one arena
// lock per run of slabs of an arena, not one per free (with both threads of a
// producer/consumer pair running at once, a lock per free kept the producer's arena lock
// so busy that the producer moved to new arenas and left its freed memory behind: peak
// RSS 3x glibc's). Owners told at each free instead drained their inboxes for a block or
// two a slab and handed the blocks out again at once: producer_consumer's peak RSS 16 %
// higher, mixed_lifetime 3 % slower (BENCHMARKS.md, #12, Session 35).
constexpr std::size_t kRemoteBatch = 32;
struct RemoteBatch {
  std::uint32_t count;  // slabs
  std::uint32_t frees;
  Span* slab[kRemoteBatch];
};
// A thread's heap id before it registers: no span's owner (0 is unowned, ids count up
// from 1), so the owner's free needs no test of its own for an unregistered thread.
constexpr std::uint64_t kNoHeap = ~std::uint64_t{0};
struct ThreadHeap {
  // Per class, the slabs with room (ClassSlabs). First, in an array of its own: a malloc
  // reads its class's head at the TLS block's offset plus class * 8, one load with the
  // class as it is. (Within ClassSlabs it first computed class * 32: two instructions.)
  Span* partial[kNumClasses];
  ClassSlabs classes[kNumClasses];
  // take_block's hint per class: apart from ClassSlabs, so that the fast path reads both
  // at their TLS offsets without computing the class's address (two instructions). Its
  // top bits (kHintFlags) are the class's reuse mode (allocate_small_reuse) and whether
  // the malloc may take a block of the head, which the malloc tests in the byte it has
  // loaded, in the line it reads anyway. A thread starts with no slab of any class.
  std::array<std::uint8_t, kNumClasses> word_hints = every_class(kNoFastMalloc);
  // Per class, the slabs the thread's own frees took off "full" since its last refill of
  // the class (kOnUnlistedStack), which that refill lists again (relist_slabs_with_room).
  // A stack through the slabs' own `next`: the push writes only the descriptor line the
  // free has in hand and this TLS slot. Apart from ClassSlabs for the reason word_hints
  // is.
  Span* unlisted[kNumClasses];
  std::uint64_t id = kNoHeap;  // never reused, so a dead thread's slabs never look like ours
  bool registered;             // the exit destructor is armed
  // Reuse mode (allocate_small_reuse), per class: the block the thread's last own free
  // returned, held (0: none), with its slab and index, and the mode's weighted misses
  // less its hits since it was entered. Arrays of their own, each read and written at a
  // TLS offset indexed by the class, as word_hints is: with the address and slab in one
  // array of pairs, or the misses in ClassSlabs, each access first computed the class's
  // address (fixed_size_churn: 75 instructions a malloc in reuse mode, then 41).
  std::uintptr_t held_address[kNumClasses];
  Span* held_slab[kNumClasses];
  std::uint16_t held_index[kNumClasses];
  std::uint8_t reuse_misses[kNumClasses];
  MediumCache medium;
  // Per slab class from kFirstPageRunClass: the page runs the thread took for it from the
  // page heap (not from its cache) in the current window (page_runs_busy).
  struct PageRunWindow {
    std::uint64_t start_ns;
    std::uint32_t locked;
  } page_run_windows[kPageRunClasses];
  RemoteBatch remote;
  // Slabs with remote frees to collect, pushed by other threads: last and alone in its
  // cache line, or every push takes away the line of `id` and `word_hints`, which this
  // thread's next malloc and free read.
  alignas(64) Span* inbox;
};
static_assert(sizeof(ThreadHeap) - offsetof(ThreadHeap, inbox) == 64,
              "the inbox's line is its own");
constinit thread_local ThreadHeap heap __attribute__((tls_model("initial-exec"))) = {};
constinit std::atomic<std::uint64_t> heap_ids{0};
constinit pthread_key_t heap_exit_key = 0;

std::size_t online_cpus() {
  // The raw syscall: sched_getaffinity's libc wrapper and sysconf may allocate.
  unsigned long mask[16] = {};
  const long bytes = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
  if (bytes <= 0) return 1;
  std::size_t count = 0;
  for (long i = 0; i < bytes / static_cast<long>(sizeof(unsigned long)); ++i)
    count += static_cast<std::size_t>(std::popcount(mask[i]));
  return count == 0 ? 1 : count;
}

void prepare_fork() {
  init_lock.lock();
  for (Arena& a : arenas_in_use()) a.lock.lock();
  large_blocks().lock_all();
  segment_recycler_lock().lock();
  meta_pool().lock().lock();
}

void parent_after_fork() {
  meta_pool().lock().unlock();
  segment_recycler_lock().unlock();
  large_blocks().unlock_all();
  for (Arena& a : arenas_in_use()) a.lock.unlock();
  init_lock.unlock();
}

// The child has one thread: every lock the parent's other threads held is void, and
// the slabs they owned now belong to nobody.
void child_after_fork() {
  meta_pool().lock().reset();
  segment_recycler_lock().reset();
  large_blocks().reset_locks();
  init_lock.reset();
  heap.inbox = nullptr;
  for (Arena& a : arenas_in_use()) {
    a.lock.reset();
    a.lock.lock();  // for unlock_arena, which purges what disown_orphans set aside
    disown_orphans(a, heap.id, &heap.inbox);
    unlock_arena(a);
  }
}

// Sets kNoFastMalloc when the class has no slab with room or is in reuse mode.
void update_fast_malloc(std::size_t size_class) {
  std::uint8_t& hint = heap.word_hints[size_class];
  const bool slow = heap.partial[size_class] == nullptr || (hint & kReuseMode) != 0;
  hint = static_cast<std::uint8_t>((hint & ~kNoFastMalloc) | (slow ? kNoFastMalloc : 0));
}

void partial_push(Span* span) {
  span_list_push(heap.partial[span->size_class], span);
  span->on_list = kOnPartial;
  update_fast_malloc(span->size_class);
}
void partial_insert_second(Span* span) {
  span_list_insert_second(heap.partial[span->size_class], span);
  span->on_list = kOnPartial;
  update_fast_malloc(span->size_class);
}
void partial_remove(Span* span) {
  span_list_remove(heap.partial[span->size_class], span);
  span->on_list = kOnNoList;
  update_fast_malloc(span->size_class);
}

void owned_push(ClassSlabs& slabs, Span* span) {
  span->on_list = kOnNoList;
  span->owned_prev = nullptr;
  span->owned_next = slabs.owned;
  if (slabs.owned != nullptr)
    slabs.owned->owned_prev = span;
  else
    slabs.owned_tail = span;
  slabs.owned = span;
  const std::uint32_t pages = slabs.taken_pages + std::uint32_t{span->page_count};
  slabs.taken_pages = static_cast<std::uint16_t>(pages < 0xffff ? pages : 0xffff);
}

void owned_remove(ClassSlabs& slabs, Span* span) {
  if (span->owned_prev != nullptr)
    span->owned_prev->owned_next = span->owned_next;
  else
    slabs.owned = span->owned_next;
  if (span->owned_next != nullptr)
    span->owned_next->owned_prev = span->owned_prev;
  else
    slabs.owned_tail = span->owned_prev;
  span->owned_next = span->owned_prev = nullptr;
}

// The owner's frees put a slab that was full on the class's unlisted stack, not on the
// list of slabs with room (whose insertion touched two other descriptors). The class's
// next refill lists the stack's slabs here, before it asks the arena for one. (The frees
// counted such slabs without a branch, and the refill walked `owned` until it had found
// as many: 22 slabs a refill in server_exchange, where the branch the stack needs
// mispredicts about as often; the stack: small_churn, bigint_factor, fixed_size_churn
// 4-7 % less wall, server_exchange level; BENCHMARKS.md, #12, Session 53.) Returns how
// many free blocks the slabs it put on the list hold, and in `slabs_found` how many.
std::size_t relist_slabs_with_room(std::size_t size_class, std::uint32_t& slabs_found) {
  ClassSlabs& slabs = heap.classes[size_class];
  Span* span = heap.unlisted[size_class];
  heap.unlisted[size_class] = nullptr;
  std::uint32_t found = 0;
  std::size_t blocks = 0;
  while (span != nullptr) {
    Span* next = span->next;
    // No malloc takes a stacked slab's blocks (reuse mode's takes the held one), so it
    // still has room.
    span->full_at_refill = 0;  // freed into: in use (hand_over_full_slabs)
    partial_push(span);
    ++found;
    blocks += count_free_blocks(*span);
    span = next;
  }
  if (blocks != 0) slabs.head_from_free = false;
  slabs_found = found;
  return blocks;
}

// Whether the thread's arena has fewer blocks of `size_class` (from kFirstPageRunClass)
// live in page runs than a slab of the class would hold in as many pages. Counted in
// the arena of the thread that allocates them, wherever their pages are (another
// arena's resident ones, say), so that the threads that use a class decide.
bool few_page_run_blocks(std::size_t size_class) {
  const Arena* arena = bound_arena;
  return arena == nullptr ||
         __atomic_load_n(&arena->page_run_blocks[size_class - kFirstPageRunClass],
                         __ATOMIC_RELAXED) < page_runs_worth_a_slab(size_class);
}

// A page run that is not in the thread's cache of medium blocks costs a locked trip
// through the page heap where a slab's block costs none, and so does its free by another
// thread: a producer handing 5,000-byte blocks to a consumer a few at a time ran 2.7x
// slower on page runs than on slabs. So a class for which the thread takes many such page
// runs takes slabs however few of its blocks are live: past kBusyPageRuns in a window of
// the coarse clock, and until a window with fewer. At that rate they cost well under 1 %
// of a thread's time; producer_consumer takes a few a millisecond, and a thread that
// frees its own blocks finds them in its cache.
constexpr std::uint64_t kPageRunWindowNs = 16'000'000;
constexpr std::uint32_t kBusyPageRuns = 256;
// The thread's window for `size_class`, restarted once the coarse clock has left it.
ThreadHeap::PageRunWindow& page_run_window(std::size_t size_class) {
  ThreadHeap::PageRunWindow& window = heap.page_run_windows[size_class - kFirstPageRunClass];
  const std::uint64_t now = coarse_now_ns();
  if (now - window.start_ns >= kPageRunWindowNs) {
    window.start_ns = now;
    window.locked = 0;
  }
  return window;
}
bool page_runs_busy(std::size_t size_class) {
  return page_run_window(size_class).locked > kBusyPageRuns;
}

// A medium block handed out for a small class from kFirstPageRunClass: counted live
// until its free (uncount_page_run_block). The thread has a bound arena: it locked one
// for this block or for the cached block it reuses.
void count_page_run_block(Span& span, std::size_t size_class) {
  Arena& arena = *bound_arena;
  span.medium.page_run_class = static_cast<std::uint8_t>(size_class);
  span.medium.page_run_arena = arena_index(arena);
  __atomic_fetch_add(&arena.page_run_blocks[size_class - kFirstPageRunClass], 1, __ATOMIC_RELAXED);
}
void uncount_page_run_block(Span& span) {
  const std::size_t size_class = span.medium.page_run_class;
  if (size_class == 0) return;
  __atomic_fetch_sub(
      &arenas[span.medium.page_run_arena].page_run_blocks[size_class - kFirstPageRunClass], 1,
      __ATOMIC_RELAXED);
  span.medium.page_run_class = 0;
}

// An owned slab whose blocks are all free goes back to its arena, unless it is the one
// being allocated from or it is kQueued: in the inbox, or about to be pushed there by a
// remote free that set its bit (the owner may collect the bit, and find the slab empty,
// before the push). The state changes kOwned -> kUnowned in one compare-and-swap, which
// fails for a kQueued slab: it stays, and the drain that collects it gives it back.
// (Given back while a push was on its way, a slab stayed in the owner's inbox unowned,
// was adopted and pushed again, and one inbox ran into another's slabs: SIGSEGV in
// producer_consumer under load, BENCHMARKS.md, #14, Session 7.)
[[gnu::noinline]] void maybe_give_back_empty(ClassSlabs& slabs, Span* span) {
  // The head of a class served from page runs when few of its blocks are live goes too,
  // unless the class is busy: the next malloc there asks again (allocate_small_slow).
  // A stacked slab cannot leave the stack alone: the whole stack is listed, this slab
  // second, not as the head the rule below keeps.
  if (span->on_list == kOnUnlistedStack) {
    std::uint32_t found;
    relist_slabs_with_room(span->size_class, found);
    partial_remove(span);
    partial_insert_second(span);
  }
  if (span == heap.partial[span->size_class] && !slabs.head_from_free &&
      (span->size_class < kFirstPageRunClass || page_runs_busy(span->size_class)))
    return;
  if (load_remote_state(*span) != kOwned) return;
  Arena& owner = arena_at(span->arena_index);
  owner.lock.lock();
  if (!give_up_ownership(*span)) {
    unlock_arena(owner);
    return;
  }
  if (span == heap.partial[span->size_class]) slabs.head_from_free = false;
  if (span->on_list == kOnPartial) partial_remove(span);
  owned_remove(slabs, span);
  slabs.taken_pages = static_cast<std::uint16_t>(
      slabs.taken_pages > span->page_count ? slabs.taken_pages - span->page_count : 0);
  disown_slab(owner, span);
  unlock_arena(owner);
}

// The block's bits, free or pending (freed by another thread, not collected), which are
// in one cache line: aborts when the block is free already.
inline std::uint64_t freed_bits(const BlockBits& bits, std::uint64_t free_word, std::uint64_t bit,
                                std::uintptr_t address) {
  const std::uint64_t freed = free_word | __atomic_load_n(&bits.pending, __ATOMIC_RELAXED);
  if ((freed & bit) != 0) die_with_pointer("free(): double free", reinterpret_cast<void*>(address));
  return freed;
}

inline void check_not_freed(const Span* span, std::size_t index, std::uintptr_t address) {
  const BlockBits& bits = span->bits[index / 64];
  freed_bits(bits, load_word(bits.free), std::uint64_t{1} << (index % 64), address);
}

// The own free that left every block of a word free or pending: the slab may be empty.
[[gnu::noinline]] void freed_word_full(ClassSlabs& slabs, Span* span) {
  if (slab_empty(*span)) maybe_give_back_empty(slabs, span);
}

// Marks a live block of a slab this thread owns free.
inline void mark_free(Span* span, std::size_t index, std::uintptr_t address,
                      std::size_t size_class) {
  // The word by its byte offset, as the malloc finds it: through bits[w] the free
  // computed (w + 3) * 16 and an address of its own, an instruction more (small_churn
  // 0.96 of the wall over 16 placements, BENCHMARKS.md, #12, Session 57).
  const std::size_t offset = index / 64 * sizeof(BlockBits);
  const std::uint64_t bit = std::uint64_t{1} << (index % 64);
  BlockBits& word = bits_at(*span, offset);
  const std::uint64_t bits = load_word(word.free);
  const std::uint64_t freed = freed_bits(word, bits, bit, address);
  store_word(word.free, bits | bit);
  // A slab that was full (an owned slab with room is on a list) goes on the class's
  // unlisted stack, which the next refill lists, not on the list of slabs with room
  // (ClassSlabs).
  if (span->on_list == kOnNoList) {
    span->next = heap.unlisted[size_class];
    heap.unlisted[size_class] = span;
    span->on_list = kOnUnlistedStack;
  }
  if ((freed | bit) == ~std::uint64_t{0}) [[unlikely]]
    freed_word_full(heap.classes[size_class], span);
}

// The class's held block (hold_freed), if any, marked free: at the thread's exit. Nothing
// else needs it: the mode ends at a malloc that found none held, and a slab holding it is
// never empty, nor handed over (hand_over_full_slabs runs at that class's refill, which a
// malloc in the mode reaches only with none held).
void give_back_held(std::size_t size_class) {
  const std::uintptr_t address = heap.held_address[size_class];
  if (address == 0) return;
  heap.held_address[size_class] = 0;
  mark_free(heap.held_slab[size_class], heap.held_index[size_class], address, size_class);
}

// Collects the blocks other threads freed into this thread's slabs. Every slab in the
// inbox is this thread's (it gives none back while it is there: maybe_give_back_empty),
// which is checked: a slab of another thread here would have its bits collected and its
// lists changed by two threads at once. A slab found empty goes back even when this run
// collected nothing: an earlier run may have collected its last blocks before the remote
// free that put it here had pushed it.
void drain_inbox() {
  Span* span = __atomic_exchange_n(&heap.inbox, nullptr, __ATOMIC_ACQUIRE);
  while (span != nullptr) {
    Span* next = span->remote_next;
    if (__atomic_load_n(&span->owner, __ATOMIC_RELAXED) != heap.id)
      die("inbox holds a slab this thread does not own");
    // Before collecting: a remote free that sets bits after the collection read them
    // finds kOwned and pushes the slab again.
    store_remote_state(*span, kOwned);
    const std::size_t size_class = span->size_class;
    ClassSlabs& slabs = heap.classes[size_class];
    // Another thread freed the block this thread holds (hold_freed): collected, it would
    // be free and held at once.
    const std::uintptr_t held = heap.held_address[size_class];
    if (held != 0 && heap.held_slab[size_class] == span)
      check_not_freed(span, heap.held_index[size_class], held);
    if (collect_remote_frees(*span) != 0 && span->on_list == kOnNoList) partial_insert_second(span);
    if (slab_empty(*span)) maybe_give_back_empty(slabs, span);
    span = next;
  }
}

void flush_remote_frees();

// Gives a block the thread's cache kept (claimed) back to its arena.
void release_claimed_medium(Span* span) {
  Arena& arena = *span->segment->arena;  // fixed while one of its blocks is in use
  ArenaGuard guard(arena);
  release_block(arena, {span, 0});
}

void release_cached_medium() {
  heap.medium.drain(release_claimed_medium);
}

// Thread exit: the blocks it freed for others go back, and its slabs go back to their
// arenas for others to adopt. A kQueued slab cannot be given up: it is in the inbox or
// about to be (a remote free between its state change and its push, which takes a few
// instructions and no lock); the thread drains its inbox and tries again until every slab
// is given up. Then no free can push onto this thread's inbox any more.
void release_thread_heap(void*) {
  for (std::size_t size_class = 0; size_class < kNumClasses; ++size_class)
    give_back_held(size_class);
  flush_remote_frees();
  release_cached_medium();
  // Off the stacks before any slab is given up: a slab given up reuses `next`, and a
  // drain below that empties a stacked slab would walk its stack (maybe_give_back_empty).
  for (Span*& stacked : heap.unlisted) {
    for (Span* span = stacked; span != nullptr; span = span->next) span->on_list = kOnNoList;
    stacked = nullptr;
  }
  for (bool kept = true; kept;) {
    drain_inbox();
    kept = false;
    for (ClassSlabs& slabs : heap.classes) {
      for (Span* span = slabs.owned; span != nullptr;) {
        Span* next = span->owned_next;
        Arena& owner = arena_at(span->arena_index);
        owner.lock.lock();
        if (give_up_ownership(*span)) {
          if (span->on_list == kOnPartial) partial_remove(span);
          owned_remove(slabs, span);
          disown_slab(owner, span);
        } else {
          kept = true;
        }
        unlock_arena(owner);
        span = next;
      }
    }
    if (kept) yield_cpu();
  }
  for (ClassSlabs& slabs : heap.classes) slabs = {};
  for (Span*& head : heap.partial) head = nullptr;
  __atomic_store_n(&heap.inbox, nullptr, __ATOMIC_RELAXED);
  heap.registered = false;  // a later destructor that allocates re-arms it
}

}  // namespace

std::uint8_t arena_index(const Arena& arena) {
  return static_cast<std::uint8_t>(&arena - arenas);
}
Arena& arena_at(std::uint8_t index) {
  return arenas[index];
}
std::span<Arena> arenas_in_use() {
  return {arenas, arenas_used.load(std::memory_order_acquire)};
}
Arena* thread_arena() {
  return bound_arena;
}

namespace {

void initialize_slow() {
  {
    LockGuard guard(init_lock);
    if (!core_ready.load(std::memory_order_relaxed)) {
      const std::size_t cpus = online_cpus();
      initial_arenas = cpus < kMaxArenas ? cpus : kMaxArenas;
      arena_limit = 4 * cpus < kMaxArenas ? 4 * cpus : kMaxArenas;
      pthread_key_create(&heap_exit_key, release_thread_heap);
      core_ready.store(true, std::memory_order_release);
    }
  }
  // After core_ready: pthread_atfork may itself call malloc, which now just works.
  if (!fork_handlers_registered.exchange(true))
    pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
}

inline void initialize() {
  if (!core_ready.load(std::memory_order_acquire)) [[unlikely]]
    initialize_slow();
}

// Set up while the process still has one thread, before main: had a thread forked while
// another was inside initialize_slow (before the fork handlers existed), its child would
// inherit an init lock held by a thread it does not have, and hang on its first malloc.
__attribute__((constructor)) void initialize_at_load() {
  initialize();
}

// How much more often this thread found its arena's lock held for long than free.
constinit thread_local std::uint32_t arena_contention __attribute__((tls_model("initial-exec"))) =
    0;
constexpr std::uint32_t kMoveAfterContention = 32;
constexpr unsigned kBriefWaitSpins = 256;  // a few microseconds

// Locks the calling thread's arena. A thread moves to the first other arena it can lock
// without waiting only when it found its own arena's lock held beyond a brief wait more
// often than free, by kMoveAfterContention; otherwise, or if all are busy, it waits.
// Moving is for lasting contention only: a thread that moves leaves the memory it freed
// in the old arena, where no one may allocate it again (a producer whose arena lock was
// held now and then by a consumer's frees mapped new segments and kept the old ones'
// pages resident: peak RSS 2-3x glibc's on producer/consumer programs).
Arena& lock_own_arena() {
  Arena* arena = bound_arena;
  if (arena == nullptr) [[unlikely]] {
    initialize();
    const std::size_t index = threads_seen.fetch_add(1, std::memory_order_relaxed) % initial_arenas;
    count_arenas_used(index + 1);
    arena = &arenas[index];
    bound_arena = arena;
  }
  if (arena->lock.try_lock()) [[likely]] {
    if (arena_contention != 0) --arena_contention;
    return *arena;
  }
  if (arena->lock.try_lock_spinning(kBriefWaitSpins)) return *arena;
  if (++arena_contention < kMoveAfterContention) {
    arena->lock.lock();
    return *arena;
  }
  arena_contention = 0;
  count_arenas_used(arena_limit);
  for (std::size_t i = 1; i < arena_limit; ++i) {
    Arena& other = arenas[(static_cast<std::size_t>(arena - arenas) + i) % arena_limit];
    if (other.lock.try_lock()) {
      bound_arena = &other;
      return other;
    }
  }
  arena->lock.lock();
  return *arena;
}

// The arena (locked) to take a medium block or a new slab of `pages` pages from, given
// the thread's own arena locked: the own if it has a free run that long with as many
// resident pages; else another
// arena that has one and can be locked without waiting; else the thread's own (clean
// pages, or a new segment). Threads whose live sets swing at different times leave
// their arenas' free pages resident by turns: mixed_lifetime's high arena faulted clean
// pages in while the other held 1,000-1,500 dirty ones (10.6 k page faults a run, 8.5 k
// with medium blocks pooled, 7.8-8.0 k with slabs too; 0.28 -> 0.21 s). One lock at a
// time, and only try-locks on other arenas: no lock order, no waiting on another
// thread's arena (BENCHMARKS.md, #14, Sessions 23 and 24).
// `fit`: the returned arena's run for the request when it was looked for under the
// lock now held (has_resident_run), else nullptr.
Arena& arena_for_pages(Arena& own, std::size_t pages, Span*& fit) {
  if (has_resident_run(own, pages, fit)) return own;
  // Only arenas that hold pages: a single-threaded program never leaves its own, and a
  // machine's 4 x CPUs arenas are not all tried.
  std::uint64_t others =
      arenas_with_segments() & ~(std::uint64_t{1} << static_cast<std::size_t>(&own - arenas));
  if (others == 0) return own;
  unlock_arena(own);
  for (; others != 0; others &= others - 1) {
    Arena& other = arenas[std::countr_zero(others)];
    if (!other.lock.try_lock()) continue;
    if (has_resident_run(other, pages, fit)) return other;
    unlock_arena(other);
  }
  fit = nullptr;  // the own arena was unlocked meanwhile
  return lock_own_arena();
}

void* no_memory() {
  errno = ENOMEM;
  return nullptr;
}

// Gives the thread its heap id and arms the thread-exit destructor (which hands the
// thread's slabs and batch back). Both before a thread may own a slab or batch a free.
inline void register_heap() {
  if (heap.id == kNoHeap) [[unlikely]] {
    initialize();
    heap.id = heap_ids.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  if (!heap.registered) [[unlikely]] {
    heap.registered = true;  // first: pthread_setspecific may allocate
    pthread_setspecific(heap_exit_key, &heap);
  }
}

// Hands this class's full slabs of `arena` (locked) over: they become unowned. A thread
// that frees into one next and allocates in the class adopts it there and then (release)
// and frees the rest of its blocks without a lock; any other thread batches the free, and
// the flush lists the slab in its arena for the next refill. Either way the blocks and an
// emptied slab come back without this thread's help. A kQueued slab stays: it is in the
// inbox, which only this thread may walk (collected at the next refill). At most the
// newest 32 owned slabs are looked at (the list's head): slabs of an arena the thread
// left stay at its tail and are not walked at every refill.
// A slab goes at the second refill in a row that finds it full (one with free blocks
// then, or relisted since, is unmarked): a thread that keeps freeing into its own full
// slabs (glibc's threaded benchmark, any private heap) would otherwise take the arena
// lock to adopt each of them back, or batch its own frees (thread_malloc: 100 k locked
// adoptions and 87 k flushes in 16 M calls). Marked here, not by the frees, which then
// need no store of their own.
void hand_over_full_slabs(Arena& arena, ClassSlabs& slabs) {
  const std::uint8_t index = arena_index(arena);
  int looked = 0;
  for (Span* span = slabs.owned; span != nullptr && looked < 32; ++looked) {
    Span* next = span->owned_next;
    if (!slab_full(*span)) {
      span->full_at_refill = 0;
    } else if (span->arena_index == index && span->on_list != kOnUnlistedStack) {
      if (span->full_at_refill == 0) {
        span->full_at_refill = 1;
      } else if (give_up_ownership(*span)) {
        owned_remove(slabs, span);
        disown_slab(arena, span);
      }
    }
    span = next;
  }
}

void* allocate_medium(std::size_t bytes, std::size_t alignment, std::size_t page_run_class = 0);

// A block of the class's head slab by take_block, with the word hint, its reuse mode
// bit kept apart: off the paths that may find the class in reuse mode, and the malloc
// of the hinted word's last block, for which take_block finds out whether the slab is
// full, or moves the hint on. Out of line: inline in the malloc, that work took
// registers the malloc saved at every call.
[[gnu::noinline]] void* take_from_head(Span& slab, std::size_t size_class) {
  const std::uint8_t flags = heap.word_hints[size_class] & kHintFlags;
  std::uint8_t hint = heap.word_hints[size_class] & ~kHintFlags;
  bool last_block;
  void* p = take_block(slab, hint, last_block);
  heap.word_hints[size_class] = hint | flags;
  if (last_block) partial_remove(&slab);
  return p;
}

[[gnu::noinline]] void* allocate_small_slow(std::size_t size_class) {
  register_heap();
  // Other threads are freeing into this thread's slabs (it is an active producer): its
  // full slabs come back through the inbox, and handing them over would only cost the
  // producer a locked refill per slab (producer_consumer: 13% more CPU).
  const bool freed_into = __atomic_load_n(&heap.inbox, __ATOMIC_RELAXED) != nullptr;
  if (heap.remote.count != 0) flush_remote_frees();
  ClassSlabs& slabs = heap.classes[size_class];
  if (__atomic_load_n(&heap.inbox, __ATOMIC_RELAXED) != nullptr) drain_inbox();
  Span* slab = heap.partial[size_class];
  // A quarter of a slab's blocks found on the owner's slabs serve; fewer (a program that
  // frees a block into each slab it has just filled: python's ints) and the class takes
  // a slab from the arena as well, first in the list, or every other malloc would come
  // here for the one block a relisted slab has.
  if (slab == nullptr) {
    std::uint32_t found = 0;
    const std::size_t blocks = relist_slabs_with_room(size_class, found);
    // Many slabs with a block or so each: the thread's frees land in slabs that are full
    // but for them (one kind of object replaced at random), so its mallocs take the
    // block the last free returned (allocate_small_reuse).
    if (found >= kReuseMinSlabs && blocks * 4 <= std::size_t{found} * 5) {
      heap.word_hints[size_class] |= kReuseMode;
      update_fast_malloc(size_class);
      heap.reuse_misses[size_class] = 0;
    }
    if (blocks * 4 >= std::size_t{kClasses[size_class].blocks}) slab = heap.partial[size_class];
  }
  if (slab == nullptr && size_class >= kFirstPageRunClass && few_page_run_blocks(size_class) &&
      !page_runs_busy(size_class))
    return allocate_medium(kClasses[size_class].block_size, kPageSize, size_class);
  if (slab == nullptr) {
    large_blocks().decay();
    Arena* arena = &lock_own_arena();
    if (!freed_into) hand_over_full_slabs(*arena, slabs);
    // No listed slab of the class: the new one's pages come from wherever they are
    // resident, as a medium block's do.
    Span* fit = nullptr;
    // Small while the slabs the thread took of the class (taken_pages) make less than a
    // full slab.
    const ClassInfo& info = kClasses[size_class];
    const std::size_t pages =
        slabs.taken_pages < info.slab_pages ? info.first_slab_pages : info.slab_pages;
    if (arena->partial[size_class] == nullptr) arena = &arena_for_pages(*arena, pages, fit);
    slab = adopt_slab(*arena, size_class, heap.id, &heap.inbox, pages, fit);
    unlock_arena(*arena);
    if (slab != nullptr) {
      owned_push(slabs, slab);
      partial_push(slab);
      slabs.head_from_free = false;
    } else {
      slab = heap.partial[size_class];  // out of memory: the few blocks relisted still serve
      if (slab == nullptr) return no_memory();
    }
  }
  return take_from_head(*slab, size_class);
}

void* allocate_small_reuse(std::size_t size_class);

inline void* allocate_small(std::size_t size_class) {
  // The head is loaded before the test that may leave it unused: loaded after it,
  // small_churn ran 17 % slower at 2 of 16 placements of the code and no faster at the
  // others (layout_sweep.py; BENCHMARKS.md, #12, Session 57).
  Span* slab = heap.partial[size_class];
  const std::uint8_t hint = heap.word_hints[size_class];
  if ((hint & kNoFastMalloc) != 0) [[unlikely]]
    return allocate_small_reuse(size_class);
  std::uint64_t& word = free_word_at(*slab, hint);
  const std::uint64_t bits = load_word(word);
  const std::uint64_t rest = bits & (bits - 1);
  if (rest == 0) [[unlikely]]
    return take_from_head(*slab, size_class);
  store_word(word, rest);
  return block_address(*slab, hint, bits);
}

// `page_run_class`: the small class the block serves (count_page_run_block), or 0.
void* allocate_medium(std::size_t bytes, std::size_t alignment, std::size_t page_run_class) {
  const std::size_t pages = bytes == 0 ? 1 : pages_for(bytes);
  std::uint64_t cacheable_by = 0;  // the blocks of a thread's cache are page-aligned
  if (pages <= MediumCache::kMaxPages && alignment == kPageSize) {
    if (Span* span = heap.medium.take(pages)) {
      if (page_run_class != 0) count_page_run_block(*span, page_run_class);
      return reinterpret_cast<void*>(span_start(*span));
    }
    register_heap();  // its exit gives the cache back
    cacheable_by = heap.id;
  }
  if (heap.remote.count != 0) flush_remote_frees();
  large_blocks().decay();  // a look at the clock only when large blocks are cached
  const std::size_t align_pages = alignment >> kPageShift;
  Span* fit = nullptr;
  Arena& arena =
      arena_for_pages(lock_own_arena(), pages + (align_pages > 1 ? align_pages - 1 : 0), fit);
  void* p = medium_allocate(arena, pages, align_pages, cacheable_by, fit);
  if (p != nullptr && page_run_class != 0) {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    count_page_run_block(
        *page_span(*segment_map().find(address), (address >> kPageShift) & (kPagesPerSegment - 1)),
        page_run_class);
  }
  unlock_arena(arena);
  if (page_run_class != 0) ++page_run_window(page_run_class).locked;
  return p != nullptr ? p : no_memory();
}

[[gnu::always_inline]] inline void* allocate(std::size_t size) {
  if (size <= kMaxSmall) [[likely]]
    return allocate_small(size_class_of(size));
  if (size <= kMaxMedium) return allocate_medium(size, kPageSize);
  if (size > kMaxRequest) return no_memory();
  return large_blocks().allocate(size, kPageSize);
}

// `alignment` is a power of two.
void* allocate_aligned(std::size_t size, std::size_t alignment) {
  if (alignment <= kMinAlign) return allocate(size);
  if (size > kMaxRequest || alignment > kMaxRequest) return no_memory();
  if (alignment <= kPageSize && size <= kMaxSmall) {
    // Slabs start on a page, so a class whose block size is a multiple of the
    // alignment has every block aligned: a power-of-two class up to 4 KiB always
    // qualifies; above it, none for 4 KiB (a page-aligned medium block then).
    const std::size_t wanted = (size < alignment ? alignment : size);
    for (std::size_t cls = size_class_of(wanted); cls < kNumClasses; ++cls)
      if (kClasses[cls].block_size % alignment == 0) return allocate_small(cls);
  }
  if (size <= kMaxMedium && alignment <= kMaxMedium)
    return allocate_medium(size, alignment < kPageSize ? kPageSize : alignment);
  return large_blocks().allocate(size, alignment < kPageSize ? kPageSize : alignment);
}

// The owner of a segment pointer, locked and confirmed; nullptr if `seg` is stale.
Arena* lock_segment_owner(Segment* seg, std::uintptr_t address) {
  Arena* arena = seg->arena;
  if (arena == nullptr) return nullptr;
  arena->lock.lock();
  // A segment released meanwhile has no arena; one reused elsewhere has another base.
  // Either way the pointer was not a live block.
  if (seg->arena == arena && seg->base == (address & ~(kSegmentSize - 1))) return arena;
  unlock_arena(*arena);
  return nullptr;
}

[[noreturn]] void reject(const char* function, bool double_free, const void* p) {
  if (double_free) {
    if (function[0] == 'f') die_with_pointer("free(): double free", p);
    if (function[0] == 'r') die_with_pointer("realloc(): double free", p);
    die_with_pointer("malloc_usable_size(): double free", p);
  }
  if (function[0] == 'f') die_with_pointer("free(): invalid pointer", p);
  if (function[0] == 'r') die_with_pointer("realloc(): invalid pointer", p);
  die_with_pointer("malloc_usable_size(): invalid pointer", p);
}

// The block at p with its segment's owning arena locked (returned in `arena`), for the
// frees, resizes and size queries that need the lock; a pointer that is no block, or a
// block already free, is rejected with its message (the lock dropped first).
BlockRef find_locked(Segment* seg, void* p, const char* function, Arena*& arena) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  arena = lock_segment_owner(seg, address);
  if (arena == nullptr) reject(function, false, p);
  bool double_free;
  const BlockRef block = find_block(*seg, address, double_free);
  if (block.span == nullptr) {
    unlock_arena(*arena);
    reject(function, double_free, p);
  }
  return block;
}

// The index of the block of `span` that starts at `address`, if `span` is a slab this
// thread owns; false otherwise. Only this thread writes its id into a span, so a match
// means the span is ours and none of its fields can change under us. The span may be a
// guess (slab_map_find) or a stale page entry (a span that now describes other pages,
// even of another segment): the block must lie in the span, which is checked from the
// first line alone: an index below the capacity whose block starts exactly at
// `address` (block_starting_at, which no address outside the slab passes). heap.id is never 0
// (unowned): kNoHeap until the thread registers.
inline bool own_block(const Span* span, std::uintptr_t address, std::size_t& index) {
  if (span == nullptr || __atomic_load_n(&span->owner, __ATOMIC_RELAXED) != heap.id) return false;
  return block_starting_at(address - span->start, span->inverse, span->capacity, index);
}

inline void hold(std::size_t size_class, std::uintptr_t address, Span* span, std::size_t index) {
  heap.held_address[size_class] = address;
  heap.held_slab[size_class] = span;
  heap.held_index[size_class] = static_cast<std::uint16_t>(index);
}

// Reuse mode's free when a block is held already: the held one is marked free.
[[gnu::noinline]] void hold_in_place_of(std::uintptr_t held, std::uintptr_t address, Span* span,
                                        std::size_t index) {
  const std::size_t size_class = span->size_class;
  if (held == address) die_with_pointer("free(): double free", reinterpret_cast<void*>(address));
  Span* held_slab = heap.held_slab[size_class];
  const std::size_t held_index = heap.held_index[size_class];
  hold(size_class, address, span, index);
  mark_free(held_slab, held_index, held, size_class);
}

// Reuse mode's free: the block is held for the class's next malloc, as it is, still
// live in its slab's bitmap; the block held before is marked free instead. A second free
// of the held block is caught by the comparison; another thread's, which marks it
// pending, by the malloc that takes it, by mark_free or by the drain (drain_inbox). In
// the mode's common case, a free and then the malloc that takes the block back, the
// slot is empty at each free: that case saves no registers and sets up no frame (with
// the held block's free inline here, fixed_size_churn's hold took 31 instructions, now
// 19).
[[gnu::noinline]] void hold_freed(std::uintptr_t address, Span* span, std::size_t index) {
  const std::size_t size_class = span->size_class;
  check_not_freed(span, index, address);
  const std::uintptr_t held = heap.held_address[size_class];
  if (held != 0) [[unlikely]]
    return hold_in_place_of(held, address, span, index);
  hold(size_class, address, span, index);
}

// A block of a slab this thread owns goes back with plain loads and stores; false
// when the block is not in such a slab (`span` is the guess for `address`).
inline bool release_own(Span* span, std::uintptr_t address) {
  std::size_t index;
  if (!own_block(span, address, index)) return false;  // the locked path names the error
  const std::size_t size_class = span->size_class;
  if ((heap.word_hints[size_class] & kReuseMode) != 0) [[unlikely]]
    hold_freed(address, span, index);
  else
    mark_free(span, index, address, size_class);
  return true;
}

// Reuse mode (kReuseMode): a program that replaces blocks of one size at random frees
// into slabs that are full but for that block, and its mallocs found the free blocks one
// to a slab: each refill walked 28-62 slabs to relist those, and each malloc emptied the
// head. The block the last own free held (hold_freed) is taken instead, with no bitmap
// word to find and no count to change, after a look at its pending bit: 2.1x glibc's wall
// to 1.3x at 224 bytes, 1.7x to 0.5x at 4000 when the free noted the block and the malloc
// checked it and took it from the bitmap (BENCHMARKS.md, #14, Sessions 47-48); held, the
// block needs neither (224 bytes: 0.82x that wall, Session 54). The mode ends when its
// misses outweigh its hits (kReuseMissWeight).
[[gnu::noinline]] void* allocate_small_reuse(std::size_t size_class) {
  if ((heap.word_hints[size_class] & kReuseMode) != 0) {
    std::uint8_t& misses = heap.reuse_misses[size_class];
    const std::uintptr_t address = heap.held_address[size_class];
    if (address != 0) {
      heap.held_address[size_class] = 0;
      check_not_freed(heap.held_slab[size_class], heap.held_index[size_class], address);
      if (misses != 0) --misses;
      return reinterpret_cast<void*>(address);
    }
    misses = static_cast<std::uint8_t>(misses + kReuseMissWeight);
    if (misses >= kReuseMaxMisses) {
      heap.word_hints[size_class] &= ~kReuseMode;
      update_fast_malloc(size_class);
    }
  }
  Span* slab = heap.partial[size_class];
  if (slab == nullptr) return allocate_small_slow(size_class);
  return take_from_head(*slab, size_class);
}

// The usable size of a live block of a slab this thread owns, without a lock; 0 when
// `address` is not one (freed, pending, or not ours: the locked path decides). The held
// block is live in the bitmap, and rejected here as freed.
inline std::size_t own_block_usable(std::uintptr_t address, const char* function) {
  const Span* span = slab_map_find(address);
  std::size_t index;
  if (!own_block(span, address, index)) return 0;
  const std::uint64_t bit = std::uint64_t{1} << (index % 64);
  const BlockBits& bits = span->bits[index / 64];
  if (((load_word(bits.free) | __atomic_load_n(&bits.pending, __ATOMIC_RELAXED)) & bit) != 0)
    return 0;
  if (address == heap.held_address[span->size_class])
    reject(function, true, reinterpret_cast<void*>(address));
  return span->block_size;
}

// Tells the owner of each slab in the batch (tell_owner). The pending bits of a slab no
// thread owns are collected under its arena's lock, kept across a run of slabs of one
// arena (a consumer frees mostly into the full slabs its producer handed over: prodcons,
// 54 k of 82 k runs), and the slab listed for the next refill.
void flush_remote_frees() {
  RemoteBatch& batch = heap.remote;
  const std::uint32_t count = batch.count;
  batch.count = 0;
  batch.frees = 0;
  Arena* held = nullptr;
  for (std::uint32_t i = 0; i < count; ++i) {
    Span& span = *batch.slab[i];
    widen_race_window();  // the owner may collect the bits and give the slab up here
    if (tell_owner(span)) continue;
    Arena& arena = arena_at(span.arena_index);
    if (held != &arena) {
      if (held != nullptr) unlock_arena(*held);
      arena.lock.lock();
      held = &arena;
    }
    // Under the lock an unowned slab stays so.
    if (!tell_owner(span)) collect_unowned_slab(arena, span);
  }
  if (held != nullptr) unlock_arena(*held);
  // A thread that mostly frees (a consumer) adopts slabs as it frees into them, and other
  // threads' frees into those reach its inbox: collected here, not only at its refills,
  // which such a thread may never make.
  if (__atomic_load_n(&heap.inbox, __ATOMIC_RELAXED) != nullptr) drain_inbox();
}

// A free of a block in a slab another thread owns, after the checks that need no lock
// (the block's free bit, read atomically); any doubt sends it down the locked path,
// which names the error. The block is marked pending (an atomic OR), which is the whole
// free as far as the slab goes: a second free of it, by any thread and on any path,
// finds the mark and aborts, until it is collected. The slab joins this thread's batch,
// whose flush tells its owner. (The blocks waited in the batch, each handed back at the
// flush by an atomic OR into a bitmap of the slab's third line that the owner collected
// from: a line more per block to move between the cores, and the OR's miss 40 % of the
// flush's time in producer_consumer.) A slab already queued for its owner needs no
// telling: the owner's drain sets kOwned and then collects, so having read kQueued after
// the OR, this free's bit is collected by that drain. Read here, the state is on the line
// the OR just took; read at the flush, 32 frees later, it had mostly gone back to the
// owner's core (producer_consumer with a CPU each: 7 % of the wall, BENCHMARKS.md, #12,
// Session 41).
// `span` is the page's entry in `seg` for `address`.
inline bool defer_remote_free(Segment& seg, Span* span, std::uintptr_t address) {
  if (span == nullptr) return false;
  const std::uint64_t owner = __atomic_load_n(&span->owner, __ATOMIC_ACQUIRE);
  // Ours: release_own refused it, so it is invalid (the locked path says why).
  if (owner == heap.id) return false;
  // Unowned: the locked path adopts it if this thread allocates in the class; a thread
  // that does not (a consumer) batches it, so that the slab, listed in its arena again,
  // goes to the next thread that refills there (the producer) instead of staying with a
  // thread that never allocates from its free blocks.
  if (owner == 0 && (span->kind != SpanKind::kSlab || heap.partial[span->size_class] != nullptr))
    return false;
  // Written before the slab's first block was handed out; the program's own hand-over of
  // the block orders those writes before this read.
  if (span->segment != &seg) return false;
  const std::size_t offset = address - span->start;
  std::size_t index;
  if (offset >= std::size_t{span->page_count} << kPageShift ||
      !block_starting_at(offset, span->inverse, span->capacity, index))
    return false;
  const std::size_t w = index / 64;
  const std::uint64_t bit = std::uint64_t{1} << (index % 64);
  if ((load_word(span->bits[w].free) & bit) != 0) return false;
  if ((__atomic_fetch_or(&span->bits[w].pending, bit, __ATOMIC_SEQ_CST) & bit) != 0)
    die_with_pointer("free(): double free", reinterpret_cast<void*>(address));
  register_heap();      // the exit destructor flushes the batch
  widen_race_window();  // the owner's drain may set kOwned and collect the bit here
  RemoteBatch& batch = heap.remote;
  const std::uint32_t n = batch.count;
  if (load_remote_state(*span) != kQueued && (n == 0 || batch.slab[n - 1] != span)) {
    batch.slab[n] = span;
    batch.count = n + 1;
  }
  if (++batch.frees == kRemoteBatch) flush_remote_frees();
  return true;
}

// Claims a medium block this thread allocated (a second free fails the claim and is
// named) and keeps it in the thread's cache, or gives it back to its arena when the
// cache has no room, when a realloc has grown it in place past the cache's limit, or
// when the thread's exit has given the cache back already.
void cache_own_medium(Span* span, std::uintptr_t address) {
  if (!claim_medium_free(*span))
    die_with_pointer("free(): double free", reinterpret_cast<void*>(address));
  uncount_page_run_block(*span);
  if (span->page_count > MediumCache::kMaxPages || !heap.registered ||
      !heap.medium.keep(span, release_claimed_medium))
    release_claimed_medium(span);
}

// A medium block this thread allocated (medium.allocated_by) found through its page's
// entry `span` in `seg`. Its fields were written before the block was handed out (the
// program's hand-over of a block orders those writes before this free), unless
// `address` is no live medium block of this thread's: then one of the checks fails and
// the locked path names the error.
inline bool cache_medium(Segment& seg, Span* span, std::uintptr_t address) {
  if (span == nullptr || span->kind != SpanKind::kMedium || span->medium.allocated_by != heap.id ||
      span->segment != &seg || span_start(*span) != address)
    return false;
  cache_own_medium(span, address);
  return true;
}

// The same block found through the slab map's guess: the block's key (medium_allocate)
// names the address and this thread, and nothing else is read before the claim, since a
// stale guess's descriptor may be changing under its arena's lock. Two dependent loads
// fewer than the segment map's root, leaf and page table.
inline bool cache_medium_guess(Span* guess, std::uintptr_t address) {
  const std::uint64_t key = medium_cache_key(address, heap.id);
  if (guess == nullptr || key == 0 ||
      __atomic_load_n(&guess->medium.cache_key, __ATOMIC_RELAXED) != key)
    return false;
  cache_own_medium(guess, address);
  return true;
}

// A free that needs the arena lock: a medium block, a block of an unowned slab (adopted
// by a thread that allocates in its class), or a pointer the lock-free paths refused
// (the checks here name the error). Apart from release_slow, whose remote frees then
// save and restore few registers.
[[gnu::noinline]] void release_locked(Segment* seg, void* p) {
  Arena* arena;
  const BlockRef block = find_locked(seg, p, "free", arena);
  Span* span = block.span;
  if (span->kind == SpanKind::kSlab && heap.registered &&
      __atomic_load_n(&span->owner, __ATOMIC_RELAXED) == 0 &&
      heap.partial[span->size_class] != nullptr) {
    // Adopted: a thread that inherits another's blocks (a server's connection moving
    // between threads) frees them without a lock from now on.
    adopt_unowned_slab(*arena, span, heap.id, &heap.inbox);
    unlock_arena(*arena);
    ClassSlabs& slabs = heap.classes[span->size_class];
    owned_push(slabs, span);
    if (!slab_full(*span)) {
      if (heap.partial[span->size_class] == nullptr) slabs.head_from_free = true;
      partial_insert_second(span);
    }
    if (!release_own(span, reinterpret_cast<std::uintptr_t>(p)))
      die("adopted slab refused a block it holds");
    return;
  }
  if (span->kind == SpanKind::kMedium) {
    if (!claim_medium_free(*span)) {
      unlock_arena(*arena);  // freed meanwhile into a thread's cache
      reject("free", true, p);
    }
    uncount_page_run_block(*span);
  }
  release_block(*arena, block);
  unlock_arena(*arena);
}

[[gnu::noinline]] void release_large(void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  const LargeBlocks::Found found = (address & (kPageSize - 1)) != 0
                                       ? LargeBlocks::Found::kUnknown
                                       : large_blocks().release(address);
  if (found != LargeBlocks::Found::kLive) reject("free", found == LargeBlocks::Found::kFreed, p);
}

// Every free but that of a block in one of the thread's own slabs that slab_map_find
// guessed right (free(NULL) too).
[[gnu::noinline]] void release_slow(void* p, Span* guess) {
  if (p == nullptr) return;
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  if (cache_medium_guess(guess, address)) return;
  Segment* seg = segment_map().find(address);
  if (seg == nullptr) [[unlikely]]
    return release_large(p);
  const std::size_t page = (address >> kPageShift) & (kPagesPerSegment - 1);
  Span* entry = page_span(*seg, page);
  // The guess was another slab's (one 2 GiB away took the entry over), or stale.
  if (release_own(entry, address)) return;
  if (cache_medium(*seg, entry, address)) return;
  if (defer_remote_free(*seg, entry, address)) return;
  release_locked(seg, p);
}

// Apart from release_slow, so that the common free saves no registers and sets up no
// frame. One load finds the slab (slab_map_find), none the segment.
inline void release(void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  Span* guess = slab_map_find(address);
  if (release_own(guess, address)) [[likely]]
    return;
  release_slow(p, guess);
}

std::size_t usable_size(void* p, const char* function) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  if (const std::size_t usable = own_block_usable(address, function)) return usable;
  if (Segment* seg = segment_map().find(address)) {
    Arena* arena;
    const BlockRef block = find_locked(seg, p, function, arena);
    const std::size_t usable = block_usable_size(block);
    unlock_arena(*arena);
    return usable;
  }
  LargeBlocks::Found found = LargeBlocks::Found::kUnknown;
  const std::size_t usable =
      (address & (kPageSize - 1)) != 0 ? 0 : large_blocks().usable_size(address, found);
  if (found != LargeBlocks::Found::kLive) reject(function, found == LargeBlocks::Found::kFreed, p);
  return usable;
}

// Resizes a block inside its segment without moving it, when its kind allows.
bool resize_in_segment(Segment* seg, void* p, std::size_t size, std::size_t& old_usable) {
  Arena* arena;
  const BlockRef block = find_locked(seg, p, "realloc", arena);
  old_usable = block_usable_size(block);
  bool kept = false;
  if (block.span->kind == SpanKind::kSlab) {
    // Stay while the block is big enough and not more than twice too big.
    kept = size <= old_usable && (size > old_usable / 2 || old_usable <= 32);
  } else if ((size > kMaxSmall && size <= kMaxMedium) ||
             (block.span->medium.page_run_class != 0 &&
              size_class_of(size) >= kFirstPageRunClass)) {
    // A page run serving a slab class stays one for a size of those classes.
    kept = medium_resize_in_place(*arena, *block.span, pages_for(size));
  }
  unlock_arena(*arena);
  return kept;
}

void* reallocate(void* p, std::size_t size) {
  if (p == nullptr) return allocate(size);
  if (size == 0) {  // glibc: frees and returns NULL
    release(p);
    return nullptr;
  }
  if (size > kMaxRequest) return no_memory();
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::size_t old_usable = own_block_usable(address, "realloc");
  if (old_usable != 0) {
    // A block of one of this thread's slabs, checked without a lock: kept by the same
    // rule as resize_in_segment's.
    if (size <= old_usable && (size > old_usable / 2 || old_usable <= 32)) return p;
  } else if (Segment* seg = segment_map().find(address)) {
    if (resize_in_segment(seg, p, size, old_usable)) return p;
  } else {
    old_usable = usable_size(p, "realloc");
    if (size > kMaxMedium) {
      // mremap; when the kernel cannot (no room, or a block made of two mappings that
      // the cache merged), a new block and a copy below.
      if (void* moved = large_blocks().resize(address, size)) return moved;
    }
  }
  void* fresh = allocate(size);
  if (fresh == nullptr) return nullptr;  // the old block stays valid, as C requires
  std::memcpy(fresh, p, size < old_usable ? size : old_usable);
  release(p);
  return fresh;
}

bool is_power_of_two(std::size_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

}  // namespace
}  // namespace arena

using namespace arena;

extern "C" {

// On a cache line of their own, as libarena.so's malloc and free (preload.cpp says why).
__attribute__((aligned(64))) void* arena_malloc(size_t size) noexcept {
  return allocate(size);
}

__attribute__((aligned(64))) void arena_free(void* ptr) noexcept {
  release(ptr);  // NULL is never a block's start: release_slow returns at once
}

void* arena_calloc(size_t count, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) return no_memory();
  if (bytes > kMaxMedium && bytes <= kMaxRequest) {
    // A fresh mapping reads as zero already; a block reused from the cache is handed
    // back to the kernel first (madvise DONTNEED), so it reads as zero too and only the
    // pages the program then touches come back: a program that callocs big buffers
    // and uses a corner of each pays neither a memset of the whole nor its RSS.
    bool fresh = false;
    void* p = large_blocks().allocate(bytes, kPageSize, &fresh);
    if (p != nullptr && !fresh) decommit_pages(p, (bytes + kPageSize - 1) & ~(kPageSize - 1));
    return p;
  }
  void* p = allocate(bytes);
  if (p != nullptr) std::memset(p, 0, bytes);
  return p;
}

void* arena_realloc(void* ptr, size_t size) noexcept {
  return reallocate(ptr, size);
}

void* arena_reallocarray(void* ptr, size_t count, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) return no_memory();
  return reallocate(ptr, bytes);
}

void* arena_memalign(size_t alignment, size_t size) noexcept {
  // glibc: an alignment that is not a power of two is rounded up to one.
  if (alignment > kMaxRequest / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (!is_power_of_two(alignment)) alignment = alignment <= 1 ? 1 : std::bit_ceil(alignment);
  return allocate_aligned(size, alignment);
}

int arena_posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;
  void* p = allocate_aligned(size, alignment);
  errno = saved;
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* arena_aligned_alloc(size_t alignment, size_t size) noexcept {
  // C17 and glibc >= 2.38: an alignment that is not a power of two fails.
  if (!is_power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return allocate_aligned(size, alignment);
}

void* arena_valloc(size_t size) noexcept {
  return allocate_aligned(size, kPageSize);
}

void* arena_pvalloc(size_t size) noexcept {
  if (size > kMaxRequest) return no_memory();
  const size_t rounded = size == 0 ? kPageSize : (size + kPageSize - 1) & ~(kPageSize - 1);
  return allocate_aligned(rounded, kPageSize);
}

size_t arena_malloc_usable_size(void* ptr) noexcept {
  return ptr == nullptr ? 0 : usable_size(ptr, "malloc_usable_size");
}

void arena_get_stats(struct arena_stats* out) noexcept {
  *out = arena_stats{};
  for (Arena& a : arenas_in_use()) {
    ArenaGuard guard(a);
    add_stats(a, *out);
  }
  out->large_blocks = large_blocks().count();
  out->large_bytes = large_blocks().bytes();
  out->large_cached_blocks = large_blocks().cached_count();
  out->large_cached_bytes = large_blocks().cached_bytes();
  out->metadata_bytes = meta_pool().mapped_bytes();
}

void arena_trim(void) noexcept {
  flush_remote_frees();
  release_cached_medium();
  large_blocks().release_cached();
  for (Arena& a : arenas_in_use()) {
    ArenaGuard guard(a);
    trim(a);
  }
}

}  // extern "C"
