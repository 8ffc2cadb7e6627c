// The event clock: nanoseconds since the trace started, read on every hooked call.
// clock_gettime costs ~47 ns here even through the vDSO; rdtsc plus a multiply is far
// cheaper, so when the CPU has an invariant TSC we read it and convert with a factor
// calibrated against CLOCK_MONOTONIC at start-up. Without an invariant TSC we fall
// back to clock_gettime. Either way the trace's times are nanoseconds of
// CLOCK_MONOTONIC since start_clock_ns (ticks_per_second = 1e9 in the header).
#pragma once

#include <time.h>
#include <x86intrin.h>

#include <cstdint>

namespace mtreplay::recorder {

struct EventClock {
  uint64_t tsc_at_start = 0;
  uint64_t ns_per_tick_q32 = 0;  // ns per TSC tick in 32.32 fixed point; 0: no TSC
  uint64_t start_monotonic_ns = 0;
  uint64_t start_realtime_ns = 0;
};

extern EventClock event_clock;

// Calibrates (spins ~250 us) and fixes time zero. Called once per process image.
void calibrate_event_clock();

uint64_t monotonic_ns();

inline uint64_t now_ns() {
  const EventClock& c = event_clock;
  if (__builtin_expect(c.ns_per_tick_q32 != 0, 1)) {
    const uint64_t ticks = __rdtsc() - c.tsc_at_start;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * c.ns_per_tick_q32) >> 32);
  }
  return monotonic_ns() - c.start_monotonic_ns;
}

}  // namespace mtreplay::recorder
