// The adaptive spin budget: how long a waiter spins before yielding or
// sleeping, and how a wait's outcome changes it. A pure function of what the
// wait observed, so its rule is tested without a clock (test_ring.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace shanraq::queue::detail {

// Long enough to catch a peer running on another core, even one that is a
// Python process taking a few microseconds per handoff, short enough not to
// keep a core from a peer that needs ours. Bounded by time, not count: a
// pause instruction costs anything from 3 to 50 ns depending on the core.
inline constexpr std::chrono::nanoseconds kSpinMax = std::chrono::microseconds(30);
inline constexpr std::chrono::nanoseconds kSpinMin = std::chrono::microseconds(1);
// A yield that took longer than this let another task run on our core.
inline constexpr std::chrono::nanoseconds kYieldTookLong = std::chrono::microseconds(5);
// A record that came this soon after the wait began would have been caught
// by a longer spin, without a futex sleep and wake on both sides (each far
// costlier than the spin).
inline constexpr std::chrono::nanoseconds kGrowWithin = std::chrono::microseconds(120);

// What one wait (kYield or kBlocking) observed.
struct SpinOutcome {
  enum class Kind : std::uint8_t {
    kCaught,         // the spin saw what we waited for
    kCutByDeadline,  // the deadline fell inside the spin: says nothing about the peer
    kArrived,        // the spin ran out; what we waited for came later
    kTimedOut,       // the spin ran out and nothing came before the deadline
  };
  Kind kind;
  // kArrived: from the start of the wait to the arrival.
  std::chrono::nanoseconds after{0};
  // kArrived: one of our yields let another task run (we share a core,
  // maybe with the peer itself, which cannot run while we spin).
  bool shared_core = false;
};

// The budget after a wait that spun for `spun`: double it when a longer spin
// would have paid (the spin caught the record, or the record came within
// kGrowWithin on a core of our own), halve it when spinning was waste (the
// record came late, nothing came) or harm (we share the core: spinning keeps
// the peer off it), keep it when the deadline cut the spin short. Always in
// [kSpinMin, kSpinMax].
constexpr std::chrono::nanoseconds next_spin_budget(std::chrono::nanoseconds spun, SpinOutcome o) noexcept {
  std::chrono::nanoseconds next = spun;
  switch (o.kind) {
    case SpinOutcome::Kind::kCaught:
      next = 2 * spun;
      break;
    case SpinOutcome::Kind::kCutByDeadline:
      break;
    case SpinOutcome::Kind::kArrived:
      next = !o.shared_core && o.after <= kGrowWithin ? 2 * spun : spun / 2;
      break;
    case SpinOutcome::Kind::kTimedOut:
      next = spun / 2;
      break;
  }
  return std::clamp(next, kSpinMin, kSpinMax);
}

}  // namespace shanraq::queue::detail
