// How every ring waits: the publisher's half of the wake-up handshake
// (RingBase::notify, inline: it is on every push and pop), the waiter's
// (RingBase::wait_for: spin, yield, futex sleep) and the blocking loops built
// on it. Private to the ring's implementation.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <type_traits>

#include "detail/layout.hpp"
#include "detail/os.hpp"
#include "detail/spin_budget.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue::detail {

using Clock = std::chrono::steady_clock;

inline constexpr int kSpinsPerClockRead = 64;
// Yields before kBlocking sleeps on the futex. Few: on a loaded machine
// sched_yield hands the core to a third process for a whole time slice.
inline constexpr int kYieldsBeforeSleep = 2;
// Busy-spin strategy: yield once per this many spins, so even it backs off
// when the peer is descheduled (on a loaded machine a pure spin can keep the
// peer from running at all).
inline constexpr int kBusySpinBurst = 2048;
// Sleep slice of a waiter that could not order its announcement against
// membarrier publishers (its own process cannot run membarrier): a missed
// wake-up then costs at most this much latency, never a hang.
inline constexpr std::chrono::nanoseconds kUncoveredSlice = std::chrono::milliseconds(1);
// How often a waiter checks for a dead peer.
inline constexpr std::chrono::nanoseconds kPeerCheckEvery = std::chrono::milliseconds(20);
// A claimed MPSC/MPMC slot unpublished this long has its claimer checked ...
inline constexpr std::chrono::nanoseconds kStallCheckAfter = std::chrono::milliseconds(5);
// ... and, if the claimer left no tag, is reported (not discarded) after this.
inline constexpr std::chrono::nanoseconds kStallReportAfter = std::chrono::seconds(5);

// Longest single futex sleep (50 ms): a covered sleeper wakes this often to
// check for a dead peer, and a wake-up it missed costs at most this much.
// Tests lengthen it (set_sleep_slice) so that a missed wake-up shows as a
// hang rather than as a late record.
std::chrono::nanoseconds sleep_slice() noexcept;
void set_sleep_slice(std::chrono::nanoseconds slice) noexcept;

}  // namespace shanraq::queue::detail

namespace shanraq::queue {

inline void RingBase::notify(detail::WaitWord& w) noexcept {
  // The publisher's half of the store-buffering handshake: our index store
  // (already done) must be ordered before this look at `sleepers`, and the
  // sleeper's announcement before its last look at our index.
  if (publish_ == PublishOrdering::kMembarrier) {
    // Only the compiler is kept from moving the load above the store. The
    // CPU may still hold the store in its store buffer past the load, but a
    // sleeper runs membarrier() between announcing and looking: that puts a
    // full barrier into this thread's instruction stream wherever it is, so
    // either our load comes after it and sees the announcement, or our store
    // was made visible by it and the sleeper's look sees the record. The
    // load hits our own cache: the line changes only when someone sleeps.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (SHANRAQ_UNLIKELY(w.sleepers.load(std::memory_order_relaxed) != 0)) wake(w);
    return;
  }
  // A read-modify-write, not a plain load: RMWs on `sleepers` are totally
  // ordered, so either this one reads a sleeper's increment (and we wake
  // it), or the sleeper's increment reads from this release RMW and its
  // next look at the ring sees what we just published. No fence needed,
  // and ThreadSanitizer understands it.
  if (w.sleepers.fetch_add(0, std::memory_order_acq_rel) != 0) wake(w);
}

template <typename Ready, typename OnIdle>
bool RingBase::wait_for(detail::WaitWord& w, std::chrono::nanoseconds timeout, Ready ready, OnIdle on_idle) {
  using detail::Clock;
  using detail::SpinOutcome;
  using std::chrono::nanoseconds;
  if (timeout.count() == 0) return false;
  const bool forever = timeout.count() < 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = forever ? Clock::time_point::max() : start + timeout;
  // Relaxed atomic_ref: handles may be shared by threads (MPSC producers), and
  // the budget is only a hint.
  const bool adaptive = wait_ != WaitStrategy::kBusySpin;
  std::atomic_ref<std::uint32_t> budget(spin_budget_ns_[&w == &h_->not_empty ? 0 : 1]);
  const nanoseconds spin_for = adaptive ? nanoseconds(budget.load(std::memory_order_relaxed)) : detail::kSpinMax;
  const Clock::time_point spin_until = std::min(deadline, start + spin_for);
  auto judge = [&](SpinOutcome o) {
    if (adaptive) {
      budget.store(static_cast<std::uint32_t>(detail::next_spin_budget(spin_for, o).count()),
                   std::memory_order_relaxed);
    }
  };
  // One pause between two looks at the ring: spacing the looks further did
  // not raise throughput beyond noise and lengthened the round trip
  // (docs/perf_queue.md).
  for (Clock::time_point t = start; t < spin_until; t = Clock::now()) {
    for (int i = 0; i < detail::kSpinsPerClockRead; ++i) {
      cpu_relax();
      if (ready()) {
        judge({SpinOutcome::Kind::kCaught});
        return true;
      }
    }
  }
  // The spin ran out, unless the deadline cut it short.
  const bool cut = spin_until >= deadline;
  bool shared_core = false;
  auto arrived = [&] {
    judge(cut ? SpinOutcome{SpinOutcome::Kind::kCutByDeadline}
              : SpinOutcome{SpinOutcome::Kind::kArrived, Clock::now() - start, shared_core});
    return true;
  };
  Clock::time_point next_idle_check = start;
  int yields = 0;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (now >= next_idle_check) {
      on_idle();
      next_idle_check = now + detail::kPeerCheckEvery;
    }
    if (now >= deadline) {
      if (!ready()) {
        judge({cut ? SpinOutcome::Kind::kCutByDeadline : SpinOutcome::Kind::kTimedOut});
        return false;
      }
      return arrived();
    }
    if (wait_ == WaitStrategy::kBusySpin) {
      for (int i = 0; i < detail::kBusySpinBurst; ++i) {
        cpu_relax();
        if (ready()) return true;
      }
      std::this_thread::yield();
    } else if (wait_ == WaitStrategy::kYield || yields < detail::kYieldsBeforeSleep) {
      ++yields;
      std::this_thread::yield();
      if (Clock::now() - now > detail::kYieldTookLong) shared_core = true;
    } else {
      // Announce, order the announcement (order_announcement), then look
      // once more before sleeping: a publisher that published before our
      // announcement is seen by that look; one that publishes after it sees
      // us and bumps `seq`, which makes the futex_wait return at once if it
      // has not started yet, or wakes it.
      struct Sleeper {
        detail::WaitWord& w;
        explicit Sleeper(detail::WaitWord& ww) : w(ww) { w.sleepers.fetch_add(1, std::memory_order_acq_rel); }
        ~Sleeper() { w.sleepers.fetch_sub(1, std::memory_order_relaxed); }
        Sleeper(const Sleeper&) = delete;
        Sleeper& operator=(const Sleeper&) = delete;
      } sleeper(w);
      const bool covered = order_announcement();
      const std::uint32_t seen = w.seq.load(std::memory_order_acquire);
      if (ready()) return arrived();
      const nanoseconds slice = covered ? detail::sleep_slice() : detail::kUncoveredSlice;
      const nanoseconds left = forever ? slice : std::chrono::duration_cast<nanoseconds>(deadline - now);
      detail::futex_wait(&w.seq, seen, std::min(left, slice));
      w.sleeps.fetch_add(1, std::memory_order_relaxed);
      const bool woken = w.seq.load(std::memory_order_acquire) != seen;
      if (ready()) {
        if (!woken && covered) w.unwoken_sleeps.fetch_add(1, std::memory_order_relaxed);
        return arrived();
      }
      continue;
    }
    if (ready()) return arrived();
  }
}

// The blocking loop of push_many for every ring: moves what fits at once,
// then waits for room until all n records are in or the timeout passes.
// try_many(done) pushes from record `done` on and returns how many it took.
template <typename TryMany, typename OnIdle>
std::size_t RingBase::push_many_blocking(std::size_t n, std::chrono::nanoseconds timeout, TryMany try_many,
                                         OnIdle on_idle) {
  using detail::Clock;
  using std::chrono::nanoseconds;
  std::size_t done = try_many(0);
  if (done == n) return n;
  const bool forever = timeout.count() < 0;
  const Clock::time_point deadline = forever ? Clock::time_point::max() : Clock::now() + timeout;
  while (done < n) {
    const nanoseconds left =
        forever ? kForever : std::max(nanoseconds{0}, std::chrono::duration_cast<nanoseconds>(deadline - Clock::now()));
    if (left.count() == 0) break;
    const bool progressed = wait_for(
        h_->not_full, left,
        [&] {
          const std::size_t k = try_many(done);
          done += k;
          return k > 0;
        },
        on_idle);
    if (!progressed) break;
  }
  return done;
}

// The blocking loop of pop_many and of peek with a timeout, for every ring:
// one attempt, then, if it took nothing and something was asked for, a wait
// for records. take() returns a count or a RecordSpan. producer_gone() says
// whether the ring's only producer process is gone (SPSC); a wait that finds
// it gone and the ring still empty throws PeerDead instead of waiting on.
template <typename Take, typename ProducerGone>
auto RingBase::take_blocking(std::size_t max_n, std::chrono::nanoseconds timeout, Take take, ProducerGone producer_gone)
    -> decltype(take()) {
  auto count = [](const auto& got) -> std::size_t {
    if constexpr (std::is_same_v<std::decay_t<decltype(got)>, RecordSpan>) {
      return got.count;
    } else {
      return got;
    }
  };
  auto got = take();
  if (count(got) != 0 || max_n == 0) return got;
  wait_for(
      h_->not_empty, timeout,
      [&] {
        got = take();
        return count(got) > 0;
      },
      [&] {
        if (producer_gone() && count(got = take()) == 0) throw_producer_gone();
      });
  return got;
}

}  // namespace shanraq::queue
