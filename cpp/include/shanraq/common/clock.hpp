// The monotonic clock used to *measure* (timers, benchmarks). State machines
// never read it: their time arrives in commands (DESIGN.md).
#pragma once

#include <chrono>
#include <cstdint>

namespace shanraq {

// Nanoseconds on the monotonic clock (CLOCK_MONOTONIC on Linux, the clock
// behind Python's time.perf_counter_ns). Any thread.
inline std::int64_t monotonic_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace shanraq
