#include "replay_engine.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace mtreplay::replay {

thread_local int32_t t_current_slot = -1;

namespace {

constexpr uint32_t kTagMagic = 0xA110C8EDu;

// The pattern --verify writes at both ends of a block: names its object.
uint64_t tag_of(uint32_t obj) {
  return (uint64_t{obj} << 32) | kTagMagic;
}

void write_tag(void* block, uint64_t bytes, uint32_t obj) {
  uint64_t tag = tag_of(obj);
  auto* p = static_cast<char*>(block);
  std::memcpy(p, &tag, bytes < 8 ? bytes : 8);
  if (bytes >= 16) std::memcpy(p + bytes - 8, &tag, 8);
}

uint64_t read_word(const void* at, uint64_t bytes) {
  uint64_t word = 0;
  std::memcpy(&word, at, bytes < 8 ? bytes : 8);
  return word;
}

bool is_realloc(PlanKind kind) {
  return kind == PlanKind::kRealloc || kind == PlanKind::kReallocArray;
}

uint64_t required_alignment(PlanKind kind, uint64_t aux, const PlanObject& object, size_t page) {
  switch (kind) {
    case PlanKind::kMemalign:
    case PlanKind::kPosixMemalign:
    case PlanKind::kAlignedAlloc:
      return aux;
    case PlanKind::kValloc:
    case PlanKind::kPvalloc:
      return page;
    default: {
      // The fundamental alignment of any type that fits in the block, up to 16.
      uint64_t align = 16;
      while (align > 1 && align > object.bytes) align >>= 1;
      return align;
    }
  }
}

// One op in `period` is timed. A timed op costs two rdtsc, which under a hypervisor
// cost tens of nanoseconds each: a long thread is sampled just often enough to pass
// its kind reservoirs (kSampleCap each) about twice, a short one densely.
uint32_t sample_period(uint64_t thread_ops) {
  uint64_t period = thread_ops / (2 * uint64_t{kSampleCap});
  return static_cast<uint32_t>(std::clamp<uint64_t>(period, kSampleEvery, 16 * kSampleEvery));
}

constexpr uint64_t kLine = 64;

// The program writes a new block as it fills it...
void write_lines(void* block, uint64_t bytes) {
  auto* p = static_cast<volatile char*>(block);
  for (uint64_t at = 0; at < bytes; at += kLine) p[at] = 1;
}

// ...and reads it while it uses it, last before the release.
void read_lines(const void* block, uint64_t bytes) {
  auto* p = static_cast<const volatile char*>(block);
  char sink = 0;
  for (uint64_t at = 0; at < bytes; at += kLine) sink = static_cast<char>(sink + p[at]);
  asm volatile("" : : "r"(sink));
}

// The parts of a block the program uses, by the touch model: `head` bytes from its
// start and `tail` bytes up to its end (tail 0: none); nothing for the models that do
// not count the program's accesses (none, page, fill). Where the recording measured
// it, the program's own: the pages it never touched are left out.
struct UsedExtent {
  uint64_t head = 0, tail = 0;
};

UsedExtent used_extent(TouchPolicy touch, const PlanObject& object, uint64_t page) {
  const uint64_t bytes = object.bytes;
  uint64_t large = 0;  // blocks this large: only their first (and last) page
  switch (touch) {
    case TouchPolicy::kUse:
    case TouchPolicy::kRevisit:
    case TouchPolicy::kWorkingSet:
    case TouchPolicy::kRevisitWorkingSet:
    case TouchPolicy::kRevisitDeep:
      return {bytes - untouched_bytes(object), 0};
    case TouchPolicy::kWhole:
      return {bytes, 0};
    case TouchPolicy::kGrown16k:
      if (is_realloc(object.kind)) return {bytes, 0};
      large = 16 * 1024;
      break;
    case TouchPolicy::kHead8k:
      large = 8 * 1024;
      break;
    case TouchPolicy::kHead16k:
      large = 16 * 1024;
      break;
    case TouchPolicy::kHead64k:
    case TouchPolicy::kEnds64k:
      large = 64 * 1024;
      break;
    default:
      return {};
  }
  if (bytes < large || bytes < 2 * page) return {bytes, 0};
  return {page, touch == TouchPolicy::kEnds64k ? page : 0};
}

void write_used(void* block, uint64_t bytes, UsedExtent used) {
  write_lines(block, used.head);
  if (used.tail) write_lines(static_cast<char*>(block) + bytes - used.tail, used.tail);
}

void read_used(const void* block, uint64_t bytes, UsedExtent used) {
  read_lines(block, used.head);
  if (used.tail) read_lines(static_cast<const char*>(block) + bytes - used.tail, used.tail);
}

// The revisit models (--touch revisit, wset, revisit-wset). A program comes back to
// its live blocks while they live: a block that lives long is used again and again, and
// how an allocator placed the blocks live together (packed into few lines and pages, or
// spread) makes that cheap or dear, where the replay's allocation and release alone
// never see it. Which block the program revisits when is not in a recording of malloc
// calls; the model: each thread keeps a table of kEntries of its own recently made live
// blocks (direct-mapped by object id, so a newer block evicts an older one at random:
// a block stays in it for about kEntries of the thread's allocations, or until it is
// released or handed to another thread), and once per kRevisitPeriodNs of *recorded*
// time (the op's pace key) it re-reads the first kRevisitBytes of each and rewrites
// their first byte (the same value: a refcount or a field updated). So a block is
// revisited in proportion to its recorded lifetime, up to the table's reach, and a
// thread that computed long between two mallocs in the program revisits more between
// them in the replay. The time is counted, as `use`'s is. `revisit-deep` reaches
// further and deeper: 256 entries, each period the next 32 of them (round robin, so
// each every 8 periods), the first 4 KiB of each: up to 1 MiB behind a thread's table,
// so that the allocator's placement shows in the L2 and the TLB, not only in L1.
constexpr uint64_t kRevisitPeriodNs = 16'000;
constexpr uint32_t kRevisitBits = 6, kRevisitSlice = 64, kRevisitBytes = 256;
constexpr uint32_t kDeepBits = 8, kDeepSlice = 32, kDeepBytes = 4096;
// The working set (wset): once per period, the thread also reads and rewrites the next
// kSweepBytes of a buffer of its own, round and round: the program's other data, which
// pushes the allocator's metadata and the blocks out of the caches between ops as the
// program's own work does. Sized from the recording (the peak live bytes per thread,
// between kWsetMin and kWsetMax), mapped and faulted in before the replay's baseline,
// so it is not in the replay's peak RSS.
constexpr uint64_t kSweepBytes = 4096;
constexpr uint64_t kWsetMin = 256 * 1024, kWsetMax = 8 * 1024 * 1024;

static_assert(RevisitState::kEntries == 1u << kDeepBits && kRevisitBits <= kDeepBits);
static_assert(kRevisitSlice == 1u << kRevisitBits && (1u << kDeepBits) % kDeepSlice == 0);

bool revisits_blocks(TouchPolicy touch) {
  return touch == TouchPolicy::kRevisit || touch == TouchPolicy::kRevisitWorkingSet ||
         touch == TouchPolicy::kRevisitDeep;
}

bool sweeps_working_set(TouchPolicy touch) {
  return touch == TouchPolicy::kWorkingSet || touch == TouchPolicy::kRevisitWorkingSet;
}

uint32_t revisit_index(uint32_t obj, uint32_t bits) {
  return (obj * 0x9E3779B1u) >> (32 - bits);
}

void revisit_block(char* block, uint32_t bytes) {
  auto* p = reinterpret_cast<volatile char*>(block);
  char sink = p[0];
  p[0] = sink;
  for (uint32_t at = kLine; at < bytes; at += kLine) sink = static_cast<char>(sink + p[at]);
  asm volatile("" : : "r"(sink));
}

}  // namespace

uint64_t working_set_bytes(TouchPolicy touch, uint64_t peak_live_bytes, uint32_t threads) {
  if (!sweeps_working_set(touch)) return 0;
  uint64_t per_thread = peak_live_bytes / (threads ? threads : 1);
  return std::clamp(per_thread, kWsetMin, kWsetMax) & ~(kSweepBytes - 1);
}

bool uses_revisit_state(TouchPolicy touch) {
  return revisits_blocks(touch) || sweeps_working_set(touch);
}

ReplayEngine::ReplayEngine(const PlanView& plan, ResultsView results, const AllocatorApi& api,
                           ReplayTables tables)
    : plan_(plan),
      results_(results),
      api_(api),
      tables_(tables),
      objects_(tables.objects ? tables.objects : plan.objects()),
      page_size_(plan.header().page_size),
      verify_(results.header().config.verify != 0),
      touch_(results.header().config.touch),
      // Only work that is not the program's own is timed, to be taken out: checks, and
      // the page and fill touches. A counted touch (use and its kin) alone needs no clock,
      // whose reads here would cost more than many a touch (rdtsc: 14-33 ns).
      time_after_allocation_(verify_ || touch_ == TouchPolicy::kPage ||
                             touch_ == TouchPolicy::kFill),
      on_anomaly_(results.header().config.on_anomaly) {
  if (tables.revisits) {
    revisits_ = revisits_blocks(touch_);
    if (touch_ == TouchPolicy::kRevisitDeep)
      revisit_bits_ = kDeepBits, revisit_slice_ = kDeepSlice, revisit_bytes_ = kDeepBytes;
    else
      revisit_bits_ = kRevisitBits, revisit_slice_ = kRevisitSlice, revisit_bytes_ = kRevisitBytes;
    wset_ = sweeps_working_set(touch_);
  }
  const WorkerConfig& config = results.header().config;
  if (config.mode == ReplayMode::kParallel) {
    // One recorded thread has nobody to keep in step with: its loop skips the checks.
    pace_.window_ns = plan.header().thread_count > 1 ? config.pace_window_ns : 0;
    pace_.timed = config.timing == TimingMode::kRecorded;
    pace_.scale = config.timing_scale > 0 ? config.timing_scale : 1.0;
  }
  pace_.slots = tables.pace_slots;
  pace_.origin_ns = UINT64_MAX;
  for (uint32_t slot = 0; slot < plan.header().thread_count; ++slot) {
    if (plan.thread(slot).op_count) pace_.origin_ns = std::min(pace_.origin_ns, plan.pace(slot)[0]);
  }
  if (pace_.origin_ns == UINT64_MAX) pace_.origin_ns = 0;
}

void ReplayEngine::fail(WorkerStatus status, int exit_code, uint32_t slot, uint64_t index,
                        const char* format, ...) {
  ResultsHeader& header = results_.header();
  va_list args;
  va_start(args, format);
  std::vsnprintf(header.message, sizeof header.message, format, args);
  va_end(args);
  header.failed_slot = static_cast<int32_t>(slot);
  header.failed_slot_op = index;
  header.status.store(static_cast<uint32_t>(status), std::memory_order_release);
  _exit(exit_code);
}

void ReplayEngine::record_sample(ThreadStats& stats, uint32_t slot, size_t kind, uint64_t dt,
                                 Runner& runner) {
  uint32_t* samples = results_.samples(slot, kind);
  uint64_t seen = stats.samples_seen[kind]++;
  uint32_t value = dt > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(dt);
  if (seen < kSampleCap) {
    samples[seen] = value;
    stats.sample_count[kind] = static_cast<uint32_t>(seen + 1);
    return;
  }
  // Reservoir: every timed op has the same chance to be kept.
  runner.rng ^= runner.rng << 13, runner.rng ^= runner.rng >> 7, runner.rng ^= runner.rng << 17;
  uint64_t pick = runner.rng % (seen + 1);
  if (pick < kSampleCap) samples[pick] = value;
}

void ReplayEngine::check_before_release(uint32_t slot, uint64_t index, const ImageOp& op,
                                        const void* block) {
  const PlanObject& object = objects_[op.in_obj];
  if (object.bytes == 0) return;
  uint64_t expected = tag_of(op.in_obj);
  uint64_t head = read_word(block, object.bytes);
  uint64_t tail =
      object.bytes >= 16 ? read_word(static_cast<const char*>(block) + object.bytes - 8, 8) : head;
  uint64_t keep = object.bytes < 8 ? (uint64_t{1} << (8 * object.bytes)) - 1 : ~uint64_t{0};
  bool head_ok = (head & keep) == (expected & keep);
  bool tail_ok = object.bytes < 16 || tail == expected;
  if (head_ok && tail_ok) return;
  uint64_t found = head_ok ? tail : head;
  const char* name = results_.header().config.allocator_name;
  if (object.bytes >= 8 && static_cast<uint32_t>(found) == kTagMagic) {
    fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
         "%s: the block of object %u (%llu bytes at %p) was overwritten by object %u: "
         "the allocator handed out overlapping blocks",
         name, op.in_obj, static_cast<unsigned long long>(object.bytes), block,
         static_cast<uint32_t>(found >> 32));
  }
  fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
       "%s: the block of object %u (%llu bytes at %p) was corrupted before its %s", name, op.in_obj,
       static_cast<unsigned long long>(object.bytes), block, plan_kind_name(op.kind));
}

uint64_t ReplayEngine::after_allocation(uint32_t slot, uint64_t index, const ImageOp& op,
                                        const Args& args, void* in, void* out) {
  const PlanObject& object = objects_[op.out_obj];
  const char* name = results_.header().config.allocator_name;
  if (verify_) {
    uint64_t align = required_alignment(op.kind, args.aux, object, page_size_);
    if (align > 1 && reinterpret_cast<uintptr_t>(out) % align != 0) {
      fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
           "%s: %s(%llu) returned %p, not aligned to %llu", name, plan_kind_name(op.kind),
           static_cast<unsigned long long>(object.bytes), out,
           static_cast<unsigned long long>(align));
    }
    if (api_.usable_size) {
      size_t usable = api_.usable_size(out);
      if (usable < object.bytes) {
        fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
             "%s: %s(%llu) returned %p with a usable size of only %zu", name,
             plan_kind_name(op.kind), static_cast<unsigned long long>(object.bytes), out, usable);
      }
    }
    if (op.kind == PlanKind::kCalloc && object.bytes > 0) {
      bool zero =
          read_word(out, object.bytes) == 0 &&
          (object.bytes < 16 || read_word(static_cast<char*>(out) + object.bytes - 8, 8) == 0);
      if (!zero) {
        fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
             "%s: calloc(%llu) returned %p whose memory is not zeroed", name,
             static_cast<unsigned long long>(object.bytes), out);
      }
    }
    if (is_realloc(op.kind) && in && op.in_obj != kNoObject) {
      uint64_t kept = std::min(objects_[op.in_obj].bytes, object.bytes);
      uint64_t keep = kept < 8 ? (uint64_t{1} << (8 * kept)) - 1 : ~uint64_t{0};
      if (kept > 0 && (read_word(out, kept) & keep) != (tag_of(op.in_obj) & keep)) {
        fail(WorkerStatus::kVerifyFailed, kWorkerVerifyFailed, slot, index,
             "%s: realloc of object %u to %llu bytes lost its contents", name, op.in_obj,
             static_cast<unsigned long long>(object.bytes));
      }
    }
  }
  auto* bytes = static_cast<volatile char*>(out);
  if (touch_ == TouchPolicy::kFill) {
    std::memset(out, 0xA5, object.bytes);
  } else if (touch_ == TouchPolicy::kPage) {
    for (uint64_t at = 0; at < object.bytes; at += page_size_) bytes[at] = 1;
  }
  uint64_t counted = 0;
  if (UsedExtent used = used_extent(touch_, object, page_size_); used.head) {
    if (!time_after_allocation_) {
      write_used(out, object.bytes, used);
    } else {
      uint64_t begin = ticks();
      write_used(out, object.bytes, used);
      counted = ticks() - begin;
    }
  }
  if (verify_) write_tag(out, object.bytes, op.out_obj);
  return counted;
}

void ReplayEngine::remember(uint32_t slot, const ImageOp& op, void* block) {
  const uint64_t bytes = objects_[op.out_obj].bytes;
  if (bytes == 0) return;
  RevisitState::Entry& entry =
      tables_.revisits[slot].entries[revisit_index(op.out_obj, revisit_bits_)];
  entry.block = static_cast<char*>(block);
  entry.obj = op.out_obj;
  entry.bytes = static_cast<uint32_t>(std::min<uint64_t>(bytes, revisit_bytes_));
}

void ReplayEngine::forget(uint32_t slot, uint32_t obj) {
  RevisitState::Entry& entry = tables_.revisits[slot].entries[revisit_index(obj, revisit_bits_)];
  if (entry.obj == obj) entry.bytes = 0;
}

void ReplayEngine::revisit(uint32_t slot, uint64_t key) {
  RevisitState& state = tables_.revisits[slot];
  state.next_tick_ns = key + kRevisitPeriodNs;
  if (revisits_) {
    const uint32_t first = state.cursor;
    for (uint32_t i = first; i < first + revisit_slice_; ++i)
      if (const RevisitState::Entry& entry = state.entries[i]; entry.bytes)
        revisit_block(entry.block, entry.bytes);
    state.cursor = (first + revisit_slice_) & ((1u << revisit_bits_) - 1);
  }
  if (wset_ && state.wset) {
    auto* p = reinterpret_cast<volatile char*>(state.wset + state.wset_at);
    for (uint64_t at = 0; at < kSweepBytes; at += kLine) p[at] = static_cast<char>(p[at] + 1);
    state.wset_at += kSweepBytes;
    if (state.wset_at >= state.wset_bytes) state.wset_at = 0;
  }
}

void ReplayEngine::handle_null(uint32_t slot, uint64_t index, const ImageOp& op) {
  ThreadStats& stats = results_.stats(slot);
  ++stats.failed_alloc_replay;
  if (on_anomaly_ == AnomalyPolicy::kFail) {
    fail(WorkerStatus::kNullReturned, kWorkerNullReturned, slot, index,
         "%s: %s(%llu) returned NULL where the recording did not",
         results_.header().config.allocator_name, plan_kind_name(op.kind),
         static_cast<unsigned long long>(objects_[op.out_obj].bytes));
  }
}

ReplayEngine::Runner ReplayEngine::make_runner(uint32_t slot) const {
  Runner runner;
  runner.slot = slot;
  runner.rng += slot;
  runner.stats = &results_.stats(slot);
  runner.wide = plan_.wide(slot);
  runner.period = sample_period(plan_.thread(slot).op_count);
  runner.countdown = runner.period;
  return runner;
}

template <class Live>
void ReplayEngine::execute(Runner& runner, uint64_t index, const ImageOp& op, Live live) {
  uint32_t slot = runner.slot;
  ThreadStats& stats = *runner.stats;
  Args args{op.arg, 0, 0};
  if (op.flags & kWide) {
    const ImageWide& wide = runner.wide[op.arg];
    args = {wide.size, wide.aux, wide.in_stage};
  }
  void* in = nullptr;
  if (op.in_obj != kNoObject) {
    if (op.flags & kWaitIn) {
      std::atomic<uint32_t>& stage = tables_.stages[op.in_obj];
      // About to block: threads sleeping until this one gets further look again.
      if (runner.pacer && (stage.load(std::memory_order_relaxed) & ~kSleeperBit) < args.in_stage)
        runner.pacer->ring(UINT64_MAX);
      uint64_t start = ticks();
      if (wait_stage(stage, args.in_stage)) stats.sync_wait_ticks += ticks() - start;
    }
    in = (op.flags & kEndsIn) ? live.take(op.in_obj) : live.get(op.in_obj);
    if (verify_ && in && op.kind != PlanKind::kSkip) {
      uint64_t start = ticks();
      check_before_release(slot, index, op, in);
      stats.excluded_ticks += ticks() - start;
    }
    if (in && (op.flags & kEndsIn) && op.kind != PlanKind::kSkip) {
      const PlanObject& object = objects_[op.in_obj];
      if (UsedExtent used = used_extent(touch_, object, page_size_); used.head)
        read_used(in, object.bytes, used);
    }
    // A block leaves this thread's revisits when it ends, may move (realloc), or its
    // next touch is on another thread (which may then release it).
    if (revisits_ && ((op.flags & (kEndsIn | kPublishIn)) || is_realloc(op.kind)))
      forget(slot, op.in_obj);
  }

  bool sample = --runner.countdown == 0;
  uint64_t start = 0;
  if (sample) {
    // A jittered period (mean runner.period) so that a periodic op pattern, such as
    // strict malloc/free alternation, cannot hide one kind from the samples.
    runner.rng ^= runner.rng << 13, runner.rng ^= runner.rng >> 7, runner.rng ^= runner.rng << 17;
    runner.countdown = runner.period / 2 + 1 + static_cast<uint32_t>(runner.rng % runner.period);
    start = ticks();
  }
  void* out = nullptr;
  switch (op.kind) {
    case PlanKind::kSkip:
      break;
    case PlanKind::kMalloc:
      out = api_.malloc(args.size);
      break;
    case PlanKind::kCalloc:
      out = api_.calloc(args.aux, args.size);
      break;
    case PlanKind::kRealloc:
      out = api_.realloc(in, args.size);
      break;
    case PlanKind::kReallocArray:
      out = api_.reallocarray(in, args.aux, args.size);
      break;
    case PlanKind::kFree:
      api_.free(in);
      break;
    case PlanKind::kMemalign:
      out = api_.memalign(args.aux, args.size);
      break;
    case PlanKind::kPosixMemalign:
      if (api_.posix_memalign(&out, args.aux, args.size) != 0) out = nullptr;
      break;
    case PlanKind::kAlignedAlloc:
      out = api_.aligned_alloc(args.aux, args.size);
      break;
    case PlanKind::kValloc:
      out = api_.valloc(args.size);
      break;
    case PlanKind::kPvalloc:
      out = api_.pvalloc(args.size);
      break;
    case PlanKind::kUsableSize:
      if (api_.usable_size && in) {
        size_t usable = api_.usable_size(in);
        asm volatile("" : : "r"(usable));
      }
      break;
    case PlanKind::kCount:
      break;
  }
  if (sample && op.kind != PlanKind::kSkip)
    record_sample(stats, slot, static_cast<size_t>(op.kind), ticks() - start, runner);

  if (op.flags & kRecordedFailed) {
    // The recording failed here; keep the replay's object graph the recording's.
    if (is_realloc(op.kind) && !(op.flags & kEndsIn)) {
      if (out && op.in_obj != kNoObject) live.replace(op.in_obj, out);
    } else if (out) {
      api_.free(out);
    }
  } else if (op.out_obj != kNoObject) {
    live.put(op.out_obj, out);
    if (!out) {
      // A zero-byte request may legitimately get NULL (realloc(p, 0) in glibc).
      if (objects_[op.out_obj].bytes != 0) handle_null(slot, index, op);
    } else if (verify_ || touch_ != TouchPolicy::kNone) {
      if (time_after_allocation_) {
        uint64_t begin = ticks();
        uint64_t counted = after_allocation(slot, index, op, args, in, out);
        stats.excluded_ticks += ticks() - begin - counted;
      } else {
        after_allocation(slot, index, op, args, in, out);
      }
      if (revisits_ && !(op.flags & kPublishOut)) remember(slot, op, out);
    }
  }
  if (op.flags & kPublishIn) publish_stage(tables_.stages[op.in_obj], args.in_stage + 1);
  if (op.flags & kPublishOut) publish_stage(tables_.stages[op.out_obj], 1);
  if (op.flags & kSignal) publish_stage(tables_.signals[slot], static_cast<uint32_t>(index + 1));
  if (op.flags & kResetStage) tables_.stages[op.in_obj].store(0, std::memory_order_relaxed);
  if (revisits_ || wset_) {
    uint64_t key = plan_.pace(slot)[index];
    if (key >= tables_.revisits[slot].next_tick_ns) revisit(slot, key);
  }
}

// The harness cost is this loop: one 16-byte op, a sampling countdown, the call and
// one live-map access for the common ops; everything else goes through execute().
// Per-kind op counts are not kept here: the parent derives them from the plan and
// each thread's progress.
template <class Live, bool kChecked, bool kPaced>
void ReplayEngine::parallel_loop(Runner& runner, Live live) {
  const ImageOp* ops = plan_.ops(runner.slot);
  Pacer pacer(plan_, results_, pace_, runner.slot);
  if constexpr (kPaced) runner.pacer = &pacer;
  uint64_t count = plan_.thread(runner.slot).op_count;
  std::atomic<uint64_t>& progress = runner.stats->progress;
  void* (*const malloc_fn)(size_t) = api_.malloc;
  void (*const free_fn)(void*) = api_.free;
  uint32_t countdown = runner.countdown;  // in a register, not in the escaped runner
  for (uint64_t i = 0; i < count; ++i) {
    const ImageOp& op = ops[i];
    progress.store(i, std::memory_order_relaxed);
    if constexpr (kPaced) {
      uint64_t key = pacer.key(i);
      if (pacer.awaited(key)) [[unlikely]]
        pacer.ring(key);
      if (!pacer.admits(key)) [[unlikely]]
        pacer.hold(key, *runner.stats);
    }
    if (!kChecked && op.fast != kFastNone && countdown > 1) {
      --countdown;
      if (op.fast == kFastMalloc) {
        void* p = malloc_fn(op.arg);
        live.put(op.out_obj, p);
        if (!p && op.arg != 0) [[unlikely]]
          handle_null(runner.slot, i, op);
      } else {
        free_fn(live.take(op.in_obj));
      }
      continue;
    }
    runner.countdown = countdown;
    execute(runner, i, op, live);
    countdown = runner.countdown;
  }
  progress.store(count, std::memory_order_relaxed);
  if constexpr (kPaced) pacer.ring(UINT64_MAX);
}

template <class Live>
void ReplayEngine::serial_loop(Runner& runner, Live live) {
  uint32_t slot = runner.slot;
  ThreadStats& stats = *runner.stats;
  const ImageOp* ops = plan_.ops(slot);
  const uint32_t* serial = plan_.serial(slot);
  const uint32_t* order = plan_.serial_order();
  uint64_t total = plan_.header().op_count;
  uint64_t count = plan_.thread(slot).op_count;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t turn = serial[i];
    if (turn_.load(std::memory_order_acquire) != turn) {
      uint64_t start = ticks();
      tables_.doorbells[slot].wait([&] { return turn_.load(std::memory_order_seq_cst) == turn; });
      stats.sync_wait_ticks += ticks() - start;
    }
    stats.progress.store(i, std::memory_order_relaxed);
    execute(runner, i, ops[i], live);
    turn_.store(turn + 1, std::memory_order_seq_cst);
    if (turn + 1 < total && order[turn + 1] != slot) tables_.doorbells[order[turn + 1]].ring();
  }
  stats.progress.store(count, std::memory_order_relaxed);
}

template <class Live>
void ReplayEngine::single_loop(Live live) {
  const uint32_t* order = plan_.serial_order();
  uint64_t total = plan_.header().op_count;
  uint32_t threads = plan_.header().thread_count;
  Runner runner = make_runner(0);
  runner.period = runner.countdown = sample_period(total);
  for (uint64_t s = 0; s < total; ++s) {
    uint32_t slot = order[s];
    uint64_t i = tables_.cursors[slot]++;
    t_current_slot = static_cast<int32_t>(slot);
    runner.slot = slot;
    runner.stats = &results_.stats(slot);
    runner.wide = plan_.wide(slot);
    runner.stats->progress.store(i, std::memory_order_relaxed);
    execute(runner, i, plan_.ops(slot)[i], live);
  }
  for (uint32_t slot = 0; slot < threads; ++slot) {
    results_.stats(slot).progress.store(plan_.thread(slot).op_count, std::memory_order_relaxed);
    results_.stats(slot).finished.store(1, std::memory_order_release);
  }
}

template <class Live>
void ReplayEngine::run_parallel_with(Runner& runner, Live live) {
  bool checked = verify_ || touch_ != TouchPolicy::kNone;
  if (pace_.active()) {
    checked ? parallel_loop<Live, true, true>(runner, live)
            : parallel_loop<Live, false, true>(runner, live);
  } else {
    checked ? parallel_loop<Live, true, false>(runner, live)
            : parallel_loop<Live, false, false>(runner, live);
  }
}

void ReplayEngine::run_parallel(uint32_t slot) {
  t_current_slot = static_cast<int32_t>(slot);
  Runner runner = make_runner(slot);
  if (tables_.live_hash && tables_.addresses) {
    run_parallel_with(runner, LiveAddressHash{tables_.live_hash, tables_.addresses});
  } else if (tables_.live_hash) {
    run_parallel_with(runner, LiveHash{tables_.live_hash});
  } else {
    run_parallel_with(runner, LiveArray{tables_.live});
  }
  runner.stats->finished.store(1, std::memory_order_release);
}

void ReplayEngine::run_serial(uint32_t slot) {
  t_current_slot = static_cast<int32_t>(slot);
  Runner runner = make_runner(slot);
  if (tables_.live_hash && tables_.addresses) {
    serial_loop(runner, LiveAddressHash{tables_.live_hash, tables_.addresses});
  } else if (tables_.live_hash) {
    serial_loop(runner, LiveHash{tables_.live_hash});
  } else {
    serial_loop(runner, LiveArray{tables_.live});
  }
  runner.stats->finished.store(1, std::memory_order_release);
}

void ReplayEngine::run_single() {
  if (tables_.live_hash && tables_.addresses) {
    single_loop(LiveAddressHash{tables_.live_hash, tables_.addresses});
  } else if (tables_.live_hash) {
    single_loop(LiveHash{tables_.live_hash});
  } else {
    single_loop(LiveArray{tables_.live});
  }
}

void ReplayEngine::await(uint32_t other_slot, uint32_t op) {
  if (other_slot != kNoObject) wait_stage(tables_.signals[other_slot], op + 1);
}

void ReplayEngine::await_start(uint32_t slot) {
  await(plan_.thread(slot).start_slot, plan_.thread(slot).start_op);
}

void ReplayEngine::await_exit(uint32_t slot) {
  await(plan_.thread(slot).exit_slot, plan_.thread(slot).exit_op);
}

}  // namespace mtreplay::replay
