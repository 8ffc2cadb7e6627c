// Freeing what the allocator never returned, or freeing twice, aborts every time with
// one line naming the pointer. The out-of-line bitmaps make the check exact.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arena/arena.h"
#include "config.hpp"
#include "segment_map.hpp"
#include "size_classes.hpp"

namespace {

std::string hex(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%lx",
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)));
  return text;
}

// Keeps the compiler from reasoning about the freed pointer.
void* launder(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// The default "fast" death-test style forks, so the child sees the same addresses.
class ArenaDeathTest : public testing::Test {};

TEST_F(ArenaDeathTest, DoubleFreeOfASmallBlock) {
  void* p = arena_malloc(64);
  void* keep = arena_malloc(64);  // the slab stays in use, so the bitmap decides
  arena_free(p);
  EXPECT_DEATH(arena_free(launder(p)), "^arena: free\\(\\): double free " + hex(p) + "\n$");
  arena_free(keep);
}

TEST_F(ArenaDeathTest, DoubleFreeOfEveryKindIsCaught) {
  for (std::size_t size :
       {std::size_t{16}, std::size_t{5000}, std::size_t{100000}, 2 * arena::kMaxMedium}) {
    void* p = arena_malloc(size);
    void* keep = arena_malloc(size);
    arena_free(p);
    EXPECT_DEATH(arena_free(launder(p)),
                 "^arena: free\\(\\): (double free|invalid pointer) " + hex(p) + "\n$")
        << size;
    arena_free(keep);
  }
}

// In reuse mode (one size replaced at random) the block a free returns is held for the
// class's next malloc, live in its slab's bitmap (allocator.cpp, hold_freed): taken back,
// freed again and freed twice, it is a double free at the call. A second free of a held
// block by its own thread is caught at the call, as are a realloc and a size query of it. Another
// thread's free only marks it pending; the owner catches that before the block leaves its hold: at
// the malloc that would take it, at the free that marks it free, or at the drain that would collect
// the mark.
class ArenaHeldBlockDeathTest : public testing::Test {
 protected:
  static constexpr std::size_t kSize = 224;
  // In the calling thread (a fresh one): the class in reuse mode and a block held.
  static void* hold_a_block() {
    const std::size_t per_slab = arena::kClasses[arena::size_class_of(kSize)].blocks;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < 100 * per_slab; ++i) blocks.push_back(arena_malloc(kSize));
    for (std::size_t i = 0; i < blocks.size(); i += per_slab) {
      arena_free(blocks[i]);
      blocks[i] = arena_malloc(kSize);
    }
    std::mt19937 random(5);
    int same = 0;
    for (int n = 0; n < 2000; ++n) {  // one replaced at random, each time
      void*& slot = blocks[random() % blocks.size()];
      void* freed = slot;
      arena_free(freed);
      slot = arena_malloc(kSize);
      same += slot == freed;
    }
    if (same < 1800) {
      std::fprintf(stderr, "reuse mode took back %d of 2000 blocks\n", same);
      std::exit(1);
    }
    void* p = blocks[1];
    arena_free(p);
    if (arena_malloc(kSize) != p) {
      std::fputs("reuse mode did not take the block back\n", stderr);
      std::exit(1);
    }
    arena_free(p);
    return p;  // held; the other blocks stay live for good
  }
  // Runs `then` in a fresh thread after another thread has freed its held block.
  template <typename Then>
  static void freed_by_another_thread(Then then) {
    std::thread{[&] {
      void* p = hold_a_block();
      std::thread{[p] { arena_free(launder(p)); }}.join();
      std::fprintf(stderr, "freed by another thread: %s\n", hex(p).c_str());
      then(p);
      std::fputs("not caught by then\n", stderr);  // the thread's exit would catch it
    }}.join();
  }
};

TEST_F(ArenaHeldBlockDeathTest, FreedAgainByItsThreadOrResized) {
  EXPECT_DEATH(std::thread([] { arena_free(launder(hold_a_block())); }).join(),
               "^arena: free\\(\\): double free 0x[0-9a-f]+\n$");
  EXPECT_DEATH(std::thread([] { arena_realloc(launder(hold_a_block()), 100); }).join(),
               "^arena: realloc\\(\\): double free 0x[0-9a-f]+\n$");
  EXPECT_DEATH(std::thread([] { arena_malloc_usable_size(launder(hold_a_block())); }).join(),
               "^arena: malloc_usable_size\\(\\): double free 0x[0-9a-f]+\n$");
}

TEST_F(ArenaHeldBlockDeathTest, FreedAgainByAnotherThread) {
  // (The message names the pointer, printed first: gtest's expressions have no
  // back-references to compare the two.)
  const std::string caught =
      "freed by another thread: 0x[0-9a-f]+\n"
      "arena: free\\(\\): double free 0x[0-9a-f]+\n$";
  EXPECT_DEATH(freed_by_another_thread([](void*) { arena_malloc(kSize); }), caught);
  EXPECT_DEATH(freed_by_another_thread([](void*) {
                 void* other = arena_malloc(kSize);
                 arena_free(other);
               }),
               caught);
  // A class this thread has not used yet: its first malloc drains the inbox.
  EXPECT_DEATH(freed_by_another_thread([](void*) { arena_malloc(16); }), caught);
}

// A medium block its own thread frees waits in that thread's cache for the next malloc
// of its size, still in use as far as its arena knows: a second free by either thread,
// a realloc and a size query of it are caught all the same.
TEST_F(ArenaDeathTest, MediumBlocksInAThreadsCacheAreCaughtWhenFreedAgain) {
  constexpr std::size_t kSize = 20000;  // 5 pages: cached
  auto* p = static_cast<char*>(arena_malloc(kSize));
  arena_free(p);
  EXPECT_DEATH(arena_free(launder(p)), "^arena: free\\(\\): double free " + hex(p) + "\n$");
  EXPECT_DEATH(
      {
        std::thread t{[&] { arena_free(launder(p)); }};
        t.join();
      },
      "^arena: free\\(\\): double free " + hex(p) + "\n$");
  EXPECT_DEATH(arena_realloc(launder(p), 100),
               "^arena: realloc\\(\\): double free " + hex(p) + "\n$");
  EXPECT_DEATH(arena_malloc_usable_size(launder(p)),
               "^arena: malloc_usable_size\\(\\): double free " + hex(p) + "\n$");
  EXPECT_EQ(arena_malloc(kSize), p);  // handed out again, live: freed once more without a fuss
  arena_free(p);
}

// Its own thread's free finds a medium block through the slab map's guess and the
// block's key (allocator.cpp, cache_medium_guess). Freed by another thread first, the
// block goes back to its arena and loses its key: the owner's second free is caught by
// the exact lookup, and so is a free of its second page, which the guess does not cover.
TEST_F(ArenaDeathTest, MediumBlocksFreedByAnotherThreadFirstAreCaught) {
  constexpr std::size_t kSize = 20000;  // 5 pages: cacheable
  auto* p = static_cast<char*>(arena_malloc(kSize));
  EXPECT_DEATH(
      {
        std::thread{[&] { arena_free(launder(p)); }}.join();
        arena_free(launder(p));
      },
      "^arena: free\\(\\): (double free|invalid pointer) " + hex(p) + "\n$");
  EXPECT_DEATH(arena_free(launder(p + arena::kPageSize)),
               "^arena: free\\(\\): invalid pointer " + hex(p + arena::kPageSize) + "\n$");
  arena_free(p);
}

TEST_F(ArenaDeathTest, PointersItNeverReturned) {
  auto* small = static_cast<char*>(arena_malloc(64));
  auto* medium = static_cast<char*>(arena_malloc(50000));
  auto* large = static_cast<char*>(arena_malloc(3 * arena::kMaxMedium));
  int on_stack = 0;
  static int in_data = 0;
  for (void* bad : {static_cast<void*>(small + 8), static_cast<void*>(small + 1),
                    static_cast<void*>(medium + 16), static_cast<void*>(medium + 8192),
                    static_cast<void*>(large + 4096), static_cast<void*>(large + 16),
                    static_cast<void*>(&on_stack), static_cast<void*>(&in_data),
                    reinterpret_cast<void*>(0x10), reinterpret_cast<void*>(~std::uintptr_t{0xf})}) {
    EXPECT_DEATH(arena_free(launder(bad)),
                 "^arena: free\\(\\): invalid pointer " + hex(bad) + "\n$");
  }
  arena_free(small);
  arena_free(medium);
  arena_free(large);
}

// The free fast path's page -> slab table is a guess (direct-mapped, never cleared): an
// entry that names another of this thread's slabs (a slab 2 GiB away took it over, or
// a stale one) or none must send the free down the exact lookup, which frees the block,
// and still catch the second free and a pointer inside the block.
TEST_F(ArenaDeathTest, TheFastLookupsGuessIsCheckedNotTrusted) {
  auto* other = static_cast<char*>(arena_malloc(1000));  // another class: another slab
  const arena::Span* other_span = arena::slab_map_find(reinterpret_cast<std::uintptr_t>(other));
  ASSERT_NE(other_span, nullptr);
  for (arena::Span* guess :
       {const_cast<arena::Span*>(other_span), static_cast<arena::Span*>(nullptr)}) {
    auto* p = static_cast<char*>(arena_malloc(64));
    void* keep = arena_malloc(64);
    arena::Span** entry =
        &arena::slab_page_map[(reinterpret_cast<std::uintptr_t>(p) >> arena::kPageShift) &
                              (arena::kSlabMapSlots - 1)];
    arena::Span* const saved = *entry;
    ASSERT_NE(saved, nullptr);
    ASSERT_NE(saved, other_span);
    *entry = guess;
    EXPECT_EQ(arena_malloc_usable_size(p), 64u);
    EXPECT_EQ(arena_realloc(p, 60), p);  // kept in place, found by the exact lookup
    EXPECT_DEATH(arena_free(launder(p + 16)),
                 "^arena: free\\(\\): invalid pointer " + hex(p + 16) + "\n$");
    arena_free(p);
    EXPECT_DEATH(arena_free(launder(p)), "^arena: free\\(\\): double free " + hex(p) + "\n$");
    *entry = saved;  // the fast path sees the block the exact lookup freed as free
    EXPECT_DEATH(arena_free(launder(p)), "^arena: free\\(\\): double free " + hex(p) + "\n$");
    arena_free(keep);
  }
  arena_free(other);
}

// A block of a slab another thread owns is freed through a per-thread batch; a second
// free is caught whether the first still waits in the batch or was handed back already
// (at the thread's exit here), and a pointer that is not a block start is caught at once.
TEST_F(ArenaDeathTest, CrossThreadDoubleAndInvalidFreesAreCaught) {
  auto* p = static_cast<char*>(arena_malloc(48));
  void* keep = arena_malloc(48);  // the owner's slab stays in use
  EXPECT_DEATH(
      {
        std::thread t{[&] {
          arena_free(p);
          arena_free(launder(p));
        }};
        t.join();
      },
      "^arena: free\\(\\): double free " + hex(p) + "\n$");
  EXPECT_DEATH(
      {
        std::thread first{[&] { arena_free(p); }};  // batched, handed back at exit
        first.join();
        std::thread second{[&] { arena_free(launder(p)); }};
        second.join();
      },
      "^arena: free\\(\\): double free " + hex(p) + "\n$");
  EXPECT_DEATH(
      {
        std::thread t{[&] { arena_free(launder(p + 16)); }};
        t.join();
      },
      "^arena: free\\(\\): invalid pointer " + hex(p + 16) + "\n$");
  arena_free(p);
  arena_free(keep);
}

// A thread frees a block of another thread's slab and keeps it in its batch (it waits,
// so the batch is not flushed); then the block is freed again. The second free must
// abort, naming the block, before the block can be handed out twice: without it the
// second free made the block free at once, the owner handed it out again, and the
// batch's flush then freed a live block. `second_free` runs on the main thread or on a
// thread of its own; afterwards the main thread allocates until it gets the block back,
// then lets the batch be flushed.
template <typename SecondFree>
void free_twice_while_the_first_is_batched(void* p, std::size_t size, SecondFree second_free) {
  std::atomic<int> stage{0};
  std::thread first{[&] {
    arena_free(arena_malloc(4000));  // a thread heap, allocating in another class only
    arena_free(p);                   // batched: the slab is not this thread's
    stage.store(1);
    while (stage.load() != 2) std::this_thread::yield();
  }};  // its exit flushes the batch
  while (stage.load() != 1) std::this_thread::yield();
  second_free();
  std::vector<void*> taken;
  bool reused = false;
  for (int i = 0; i < 100000 && !reused; ++i) {
    taken.push_back(arena_malloc(size));
    reused = taken.back() == p;
  }
  stage.store(2);
  first.join();
  std::fprintf(stderr, "not caught; block %s again\n", reused ? "handed out" : "not handed out");
  std::_Exit(0);
}

TEST_F(ArenaDeathTest, DoubleFreeWhileTheFirstWaitsInABatchIsCaught) {
  const std::string message = "^arena: free\\(\\): double free ";
  // The second free by the slab's owner.
  void* p = arena_malloc(48);
  void* keep = arena_malloc(48);
  EXPECT_DEATH(free_twice_while_the_first_is_batched(p, 48, [&] { arena_free(launder(p)); }),
               message + hex(p) + "\n$");
  // By a third thread, which batches it too.
  EXPECT_DEATH(
      free_twice_while_the_first_is_batched(p, 48,
                                            [&] {
                                              std::thread third{[&] { arena_free(launder(p)); }};
                                              third.join();
                                            }),
      message + hex(p) + "\n$");
  arena_free(p);
  arena_free(keep);
  // In a slab no one owns (its owner exited), freed again by a thread that allocates in
  // the class (it would adopt the slab).
  void* mine = arena_malloc(80);  // the main thread allocates in this class
  void* q = nullptr;
  void* q_keep = nullptr;
  std::thread owner{[&] {
    q = arena_malloc(80);
    q_keep = arena_malloc(80);
  }};
  owner.join();  // its slabs are unowned now
  EXPECT_DEATH(free_twice_while_the_first_is_batched(q, 80, [&] { arena_free(launder(q)); }),
               message + hex(q) + "\n$");
  arena_free(q);
  arena_free(q_keep);
  arena_free(mine);
}

TEST_F(ArenaDeathTest, ReallocAndUsableSizeCheckTooAndSayWhoFound) {
  auto* p = static_cast<char*>(arena_malloc(64));
  EXPECT_DEATH(arena_realloc(launder(p + 16), 100),
               "^arena: realloc\\(\\): invalid pointer " + hex(p + 16) + "\n$");
  EXPECT_DEATH(arena_malloc_usable_size(launder(p + 16)),
               "^arena: malloc_usable_size\\(\\): invalid pointer " + hex(p + 16) + "\n$");
  void* keep = arena_malloc(64);
  arena_free(p);
  EXPECT_DEATH(arena_realloc(launder(p), 100),
               "^arena: realloc\\(\\): double free " + hex(p) + "\n$");
  arena_free(keep);
}

}  // namespace
