#include "event_clock.hpp"

#include <cpuid.h>

namespace mtreplay::recorder {

EventClock event_clock{};

namespace {

uint64_t read_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool has_invariant_tsc() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u) return false;
  __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
  return (edx & (1u << 8)) != 0;
}

// Reads the TSC and CLOCK_MONOTONIC as close together as possible: the pair whose
// bracketing TSC reads are nearest wins, so a preemption in between does not skew it.
void paired_read(uint64_t& tsc, uint64_t& mono) {
  uint64_t best = ~uint64_t{0};
  for (int i = 0; i < 5; ++i) {
    const uint64_t a = __rdtsc();
    const uint64_t m = read_ns(CLOCK_MONOTONIC);
    const uint64_t b = __rdtsc();
    if (b - a < best) {
      best = b - a;
      tsc = a + (b - a) / 2;
      mono = m;
    }
  }
}

}  // namespace

uint64_t monotonic_ns() {
  return read_ns(CLOCK_MONOTONIC);
}

void calibrate_event_clock() {
  EventClock c{};
  c.start_realtime_ns = read_ns(CLOCK_REALTIME);
  if (has_invariant_tsc()) {
    uint64_t tsc0, mono0, tsc1, mono1;
    paired_read(tsc0, mono0);
    // 250 us bounds the start-up cost per process; the pairing error is ~tens of ns,
    // so the rate is good to ~1e-4, far below anything a replay can observe.
    while (read_ns(CLOCK_MONOTONIC) - mono0 < 250'000) {
    }
    paired_read(tsc1, mono1);
    if (tsc1 > tsc0 && mono1 > mono0) {
      c.ns_per_tick_q32 = static_cast<uint64_t>(
          (static_cast<unsigned __int128>(mono1 - mono0) << 32) / (tsc1 - tsc0));
      c.tsc_at_start = tsc1;
      c.start_monotonic_ns = mono1;
      event_clock = c;
      return;
    }
  }
  c.start_monotonic_ns = read_ns(CLOCK_MONOTONIC);
  event_clock = c;
}

}  // namespace mtreplay::recorder
