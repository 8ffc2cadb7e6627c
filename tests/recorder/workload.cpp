// A program for the recorder's tests to run under libmhook.so. Each scenario makes a
// known set of malloc-family calls with marker sizes (workload_markers.hpp); the tests
// read the trace back and check every one of them.
//   workload kinds          every kind of call from kWorkerThreads threads, cross-thread frees,
//   failures workload fork           allocate, fork; the child allocates and exits workload exec
//   allocate, a failing exec, allocate, exec ourselves as `exec-target` workload exec-target
//   allocate (the image after exec) workload exit-now       a thread that stays idle, then _exit(3)
//   from main workload tls-exit       threads whose TLS and key destructors allocate after ours ran
//   workload alone          main alone, with a second thread, alone again (coarse stamps)
//   workload race           two threads' malloc/free loops pinned to one CPU
//   workload touched        large blocks used in part or whole (touched extents)
//   workload cxx            the C++ operators new and delete, in their plain, array,
//   aligned and nothrow forms
//   workload cxx-oom        operator new and its nothrow form for SIZE_MAX - 8 KiB
// Built with -fno-builtin so the compiler keeps every call.
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <thread>
#include <vector>

#include "workload_markers.hpp"

namespace {

using namespace mtreplay::recorder_test;

int fail(const char* what) {
  std::fprintf(stderr, "workload: %s (errno %d)\n", what, errno);
  return 1;
}

// Pointers each worker hands to the next one to free.
std::vector<void*> handoff[kWorkerThreads];

void touch(void* p, size_t n) {
  if (p) std::memset(p, 0x5a, n < 64 ? n : 64);
}

void worker(int k, std::barrier<>& sync, std::atomic<int>& errors) {
  auto check = [&](bool ok) {
    if (!ok) errors.fetch_add(1);
  };
  for (int i = 0; i < kIterations; ++i) {
    void* cross = malloc(marker_size(k, kMallocCrossFreed));
    check(cross != nullptr);
    touch(cross, 64);
    handoff[k].push_back(cross);

    void* c = calloc(3, marker_size(k, kCalloc));
    check(c != nullptr);
    free(c);

    void* r = malloc(marker_size(k, kReallocFrom));
    touch(r, 64);
    r = realloc(r, marker_size(k, kReallocTo));
    check(r != nullptr);
    r = reallocarray(r, 2, marker_size(k, kReallocArray));
    check(r != nullptr);
    free(r);

    void* m = memalign(64, marker_size(k, kMemalign));
    check(m && reinterpret_cast<uintptr_t>(m) % 64 == 0);
    free(m);
    void* pm = nullptr;
    check(posix_memalign(&pm, 128, marker_size(k, kPosixMemalign)) == 0);
    free(pm);
    void* a = aligned_alloc(kAlignedAllocUnit, kAlignedAllocUnit * marker_size(k, kAlignedAlloc));
    check(a != nullptr);
    free(a);
    void* v = valloc(marker_size(k, kValloc));
    check(v != nullptr);
    free(v);
    void* pv = pvalloc(marker_size(k, kPvalloc));
    check(pv != nullptr);
    free(pv);
    void* u = malloc(marker_size(k, kUsableSize));
    check(malloc_usable_size(u) >= marker_size(k, kUsableSize));
    free(u);
  }

  // Failures, once each.
  errno = 0;
  check(malloc(kHugeMallocBase - static_cast<size_t>(k)) == nullptr && errno == ENOMEM);
  void* never = nullptr;
  check(posix_memalign(&never, 24, marker_size(k, kBadAlignment)) == EINVAL);
  void* z = malloc(marker_size(k, kReallocToZero));
  check(realloc(z, 0) == nullptr);
  errno = 0;
  check(calloc(SIZE_MAX / 8, marker_size(k, kCallocOverflow)) == nullptr && errno == ENOMEM);

  sync.arrive_and_wait();  // every worker has filled its handoff list
  for (void* p : handoff[(k + kWorkerThreads - 1) % kWorkerThreads]) free(p);
}

int run_kinds() {
  for (auto& h : handoff) h.reserve(kIterations);
  std::barrier sync(kWorkerThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kWorkerThreads; ++k)
    threads.emplace_back(worker, k, std::ref(sync), std::ref(errors));
  for (auto& t : threads) t.join();
  if (errors.load()) return fail("a call did not behave as expected");
  std::puts("kinds done");
  return 0;
}

int run_fork() {
  void* p = malloc(marker_size(0, kBeforeFork));
  const pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    void* q = malloc(marker_size(0, kInChild));
    free(q);
    free(p);
    std::exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  free(p);
  std::printf("child %d\n", child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int run_exec(const char* self) {
  std::atomic<bool> allocated{false};
  std::thread idle([&] {
    touch(malloc(marker_size(1, kThreadAtExec)), 64);
    allocated.store(true);
    pause();  // the exec ends it
  });
  idle.detach();
  while (!allocated.load()) std::this_thread::yield();
  void* p = malloc(marker_size(0, kBeforeExec));
  touch(p, 64);
  errno = 0;
  if (execl("/nonexistent/program", "nonexistent", static_cast<char*>(nullptr)) != -1 ||
      errno != ENOENT)
    return fail("a failed exec must return -1 with errno ENOENT");
  void* q = malloc(marker_size(0, kAfterFailedExec));
  free(q);
  execl(self, self, "exec-target", static_cast<char*>(nullptr));
  return fail("exec");
}

int run_exec_target() {
  void* p = malloc(marker_size(0, kAfterExec));
  free(p);
  std::puts("exec target done");
  return 0;
}

int run_exit_now() {
  std::atomic<bool> allocated{false};
  std::thread idle([&] {
    void* p = malloc(marker_size(1, kIdleThread));
    touch(p, 64);
    allocated.store(true);
    pause();  // never returns: _exit ends the process with this thread idle
  });
  idle.detach();
  while (!allocated.load()) std::this_thread::yield();
  void* p = malloc(marker_size(0, kBeforeExitNow));
  touch(p, 64);
  _exit(3);
}

pthread_key_t late_key;

void late_key_destructor(void*) {
  void* p = malloc(marker_size(0, kInKeyDestructor));
  free(p);
}

struct AllocatesOnDestruction {
  ~AllocatesOnDestruction() {
    void* p = malloc(marker_size(0, kInTlsDestructor));
    free(p);
  }
};

int run_tls_exit() {
  // Created after libmhook's key, so its destructor runs after the recorder's.
  pthread_key_create(&late_key, late_key_destructor);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([] {
      thread_local AllocatesOnDestruction tls_object;
      (void)&tls_object;
      pthread_setspecific(late_key, reinterpret_cast<void*>(1));
    });
  }
  for (auto& t : threads) t.join();
  std::puts("tls-exit done");
  return 0;
}

int run_main_exits() {
  pthread_t t;
  pthread_create(
      &t, nullptr,
      [](void*) -> void* {
        usleep(30'000);  // let main be gone first
        void* p = malloc(marker_size(0, kAfterMainExited));
        free(p);
        std::puts("last thread done");
        std::fflush(stdout);
        return nullptr;
      },
      nullptr);
  pthread_exit(nullptr);
}

int run_killed() {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400)) {
    void* p = malloc(marker_size(0, kBeforeKill));
    free(p);
  }
  raise(SIGKILL);
  return 1;
}

// Two threads record a few calls each and then block; SIGKILL ends the process 400 ms
// later. Neither thread fills or ages out its chunk: only the writer can save them.
int run_idle_killed() {
  std::atomic<bool> allocated{false};
  std::thread idle([&] {
    for (int i = 0; i < 3; ++i) touch(malloc(marker_size(1, kIdleBeforeKill)), 64);
    allocated.store(true);
    pause();
  });
  idle.detach();
  while (!allocated.load()) std::this_thread::yield();
  for (int i = 0; i < 3; ++i) touch(malloc(marker_size(0, kIdleBeforeKill)), 64);
  usleep(400'000);
  raise(SIGKILL);
  return 1;
}

// The writer saves the head of the idle main thread's chunk; the thread then goes on
// filling the same chunk, whose rest must be written once, after the head.
int run_idle_resume() {
  void* p[6];
  for (int i = 0; i < 3; ++i) p[i] = malloc(marker_size(0, kBeforePause));
  usleep(300'000);
  for (int i = 3; i < 6; ++i) p[i] = malloc(marker_size(0, kAfterPause));
  for (void* q : p) free(q);
  std::puts("idle-resume done");
  return 0;
}

// Main alone, with a second thread, alone again: the recorder's coarse stamps
// (stamp_mode.hpp) while one thread records, exact ones while both do.
int run_alone() {
  constexpr int kCalls = 1000;
  for (int i = 0; i < kCalls; ++i) free(malloc(marker_size(0, kAloneBefore)));
  std::vector<void*> handed;
  for (int i = 0; i < 100; ++i) handed.push_back(malloc(marker_size(0, kHandedOver)));
  std::thread worker([&handed] {
    for (void* p : handed) free(p);
    for (int i = 0; i < kCalls; ++i) free(malloc(marker_size(0, kWorkerWhileTwo)));
    usleep(100'000);  // main is in join by now, and the writer has started a new period
    for (int i = 0; i < kCalls; ++i) free(malloc(marker_size(0, kWorkerAlone)));
  });
  for (int i = 0; i < kCalls; ++i) free(malloc(marker_size(0, kMainWhileTwo)));
  worker.join();
  usleep(100'000);  // a new stamp period (the thread's exit starts one; the writer's tick too)
  for (int i = 0; i < kCalls; ++i) free(malloc(marker_size(0, kAloneAfter)));
  std::puts("alone done");
  return 0;
}

// Two threads recording as fast as they can while the writer has no core of its own:
// it stores chunks rather than compressing them (recorder/src/trace_sink.cpp). Pins
// itself to one CPU, then executes itself again, so that the writer of the traced
// image (started before main) sees one CPU.
int run_race(const char* self) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return fail("sched_getaffinity");
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) return fail("sched_setaffinity");
  execl(self, self, "race-pinned", static_cast<char*>(nullptr));
  return fail("execl");
}

int run_race_pinned() {
  constexpr size_t kBoxes = 64;
  static std::atomic<void*> box[kBoxes];
  auto loop = [](int k) {
    void* live[64] = {};
    for (int i = 0; i < kRacePairs; ++i) {
      free(live[i % 64]);
      live[i % 64] = malloc(race_loop_size(k));
      if (i % kRaceHandEvery != 0) continue;
      std::atomic<void*>& b = box[static_cast<size_t>(i / kRaceHandEvery) % kBoxes];
      if (k == 0) {
        // Not taken yet: freed here instead.
        free(b.exchange(malloc(kRaceHandedSize)));
      } else {
        free(b.exchange(nullptr));
      }
    }
    for (void* p : live) free(p);
  };
  std::thread first(loop, 0), second(loop, 1);
  first.join();
  second.join();
  for (auto& b : box) free(b.exchange(nullptr));
  std::puts("race done");
  return 0;
}

// Large blocks used in part, whole, or read as calloc'd zeros; what they hold after
// the recorder dropped their pages is the program's.
int run_touched() {
  auto* sparse = static_cast<char*>(malloc(touched_bytes(kTouchedSparse)));
  auto* full = static_cast<char*>(malloc(touched_bytes(kTouchedFull)));
  auto* zeros = static_cast<char*>(calloc(1, touched_bytes(kTouchedCalloc)));
  auto* grown = static_cast<char*>(malloc(touched_bytes(kTouchedRealloc)));
  void* aligned = nullptr;
  if (!sparse || !full || !zeros || !grown ||
      posix_memalign(&aligned, 4096, touched_bytes(kTouchedAligned)) != 0)
    return fail("large allocation");
  std::memset(sparse, 's', 100);
  std::memset(full, 'f', touched_bytes(kTouchedFull));
  std::memset(aligned, 'a', touched_bytes(kTouchedAligned));
  std::memset(grown, 'g', 100);
  static char* leaked = static_cast<char*>(malloc(touched_bytes(kTouchedLeaked)));
  if (!leaked) return fail("large allocation");
  std::memset(leaked, 'l', 100);
  const size_t half = touched_bytes(kTouchedCalloc) / 2;
  for (size_t at = 0; at < touched_bytes(kTouchedCalloc); at += 4096)
    if (zeros[at] != 0) return fail("calloc'd block not zero");
  std::memset(zeros + half, 'z', touched_bytes(kTouchedCalloc) - half);
  for (size_t at = 0; at < touched_bytes(kTouchedFull); at += 999)
    if (full[at] != 'f') return fail("malloc'd block lost what the program wrote");
  grown = static_cast<char*>(realloc(grown, 2 * touched_bytes(kTouchedRealloc)));
  if (!grown || grown[99] != 'g') return fail("realloc lost the block's contents");
  free(sparse);
  free(full);
  free(zeros);
  free(grown);
  free(aligned);
  std::puts("touched done");
  return 0;
}

int run_cxx() {
  const std::align_val_t align{kCxxAlignment};
  auto aligned = [](void* p) { return reinterpret_cast<uintptr_t>(p) % kCxxAlignment == 0; };
  for (int i = 0; i < kIterations; ++i) {
    void* single = ::operator new(marker_size(0, kCxxNew));
    void* array = ::operator new[](marker_size(0, kCxxNewArray));
    void* over = ::operator new(marker_size(0, kCxxNewAligned), align);
    void* nothrow = ::operator new(marker_size(0, kCxxNewNothrow), std::nothrow);
    void* both = ::operator new[](marker_size(0, kCxxNewArrayAligned), align, std::nothrow);
    if (!nothrow || !both || !aligned(over) || !aligned(both)) return fail("operator new");
    touch(single, 64);
    touch(both, 64);
    ::operator delete(single, marker_size(0, kCxxNew));
    ::operator delete[](array);
    ::operator delete(over, align);
    ::operator delete(nothrow, std::nothrow);
    ::operator delete[](both, marker_size(0, kCxxNewArrayAligned), align);
  }
  std::puts("cxx done");
  return 0;
}

// Out of memory: the recorder's operator new hands over to the next one, libstdc++'s
// (mimalloc's own aborts instead of throwing, with or without the recorder).
int run_cxx_oom() {
  volatile size_t huge = kCxxHugeNew;  // opaque: the compiler would warn of the size
  try {
    void* never = ::operator new(huge);
    ::operator delete(never);
    return fail("operator new of SIZE_MAX - 8 KiB returned");
  } catch (const std::bad_alloc&) {
  }
  if (::operator new(huge, std::nothrow) != nullptr)
    return fail("nothrow operator new of SIZE_MAX - 8 KiB returned");
  std::puts("cxx-oom done");
  return 0;
}

int run_threads(int count) {
  constexpr int kBatch = 8;
  for (int done = 0; done < count;) {
    std::vector<std::thread> batch;
    for (int i = 0; i < kBatch && done < count; ++i, ++done) {
      batch.emplace_back([] {
        for (int j = 0; j < 1000; ++j) {
          void* p = malloc(marker_size(0, kShortLivedThread));
          free(p);
        }
      });
    }
    for (auto& t : batch) t.join();
  }
  std::printf("%d threads done\n", count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "kinds") return run_kinds();
  if (mode == "fork") return run_fork();
  if (mode == "exec") return run_exec(argv[0]);
  if (mode == "exec-target") return run_exec_target();
  if (mode == "exit-now") return run_exit_now();
  if (mode == "tls-exit") return run_tls_exit();
  if (mode == "main-exits") return run_main_exits();
  if (mode == "killed") return run_killed();
  if (mode == "idle-killed") return run_idle_killed();
  if (mode == "idle-resume") return run_idle_resume();
  if (mode == "alone") return run_alone();
  if (mode == "race") return run_race(argv[0]);
  if (mode == "race-pinned") return run_race_pinned();
  if (mode == "touched") return run_touched();
  if (mode == "cxx") return run_cxx();
  if (mode == "cxx-oom") return run_cxx_oom();
  if (mode == "threads" && argc > 2) return run_threads(std::atoi(argv[2]));
  std::fprintf(stderr, "usage: workload kinds|fork|exec|exit-now|tls-exit\n");
  return 2;
}
