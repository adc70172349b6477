// Many threads record into one Recorder without locks while one reader at a
// time takes interval histograms: HdrHistogram's Recorder, built on Gil Tene's
// writer-reader phaser. Recording is lock-free: two fetch_adds on the phaser
// and one on the slot (single instructions on x86_64 and on aarch64 with LSE),
// and a compare-exchange, which may retry, only when a new minimum or maximum
// is seen. Nothing a writer does waits for the reader or another writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "shanraq/common/platform.hpp"
#include "shanraq/hist/histogram.hpp"

namespace shanraq::hist {

// A writer-reader phaser: writers bracket each critical section with
// writer_enter()/writer_exit(); a reader's flip_phase() returns once every
// writer that entered before the flip has exited. Readers serialise on a mutex
// among themselves only.
class WriterReaderPhaser {
 public:
  SHANRAQ_ALWAYS_INLINE std::int64_t writer_enter() noexcept {
    // seq_cst: the reader's exchange of start_epoch_ must be ordered with
    // this increment, and the active-histogram load that follows must see
    // the pointer the reader published before that exchange.
    return start_epoch_.fetch_add(1, std::memory_order_seq_cst);
  }
  SHANRAQ_ALWAYS_INLINE void writer_exit(std::int64_t critical_value) noexcept {
    // release: the reader acquires the end epoch, then reads what we wrote.
    (critical_value < 0 ? odd_end_epoch_ : even_end_epoch_).fetch_add(1, std::memory_order_release);
  }
  std::mutex& reader_mutex() noexcept { return reader_mutex_; }
  // Call with reader_mutex() held. Spins, then yields, then sleeps (up to
  // 100 µs) while waiting, so a preempted writer is not starved of the core.
  void flip_phase() noexcept;

 private:
  alignas(kCacheLine) std::atomic<std::int64_t> start_epoch_{0};
  alignas(kCacheLine) std::atomic<std::int64_t> even_end_epoch_{0};
  alignas(kCacheLine) std::atomic<std::int64_t> odd_end_epoch_{std::numeric_limits<std::int64_t>::min()};
  alignas(kCacheLine) std::mutex reader_mutex_;
};

enum class RecordStatus : std::uint8_t {
  kRecorded,
  kOutOfRange,  // value outside [0, highest_trackable_value]
  kOverflow,    // the slot's count would pass 2^64 - 1 (nothing recorded)
};

// Histogram slots as 64-bit atomics, for concurrent writers. Totals are not
// kept (they would put every writer on one cache line); they are summed from
// the slots when the reader copies the histogram out.
class AtomicHistogram {
 public:
  explicit AtomicHistogram(const Layout& layout);
  const Layout& layout() const noexcept { return layout_; }

  SHANRAQ_ALWAYS_INLINE RecordStatus try_record(std::int64_t value, std::uint64_t count) noexcept {
    if (SHANRAQ_UNLIKELY(static_cast<std::uint64_t>(value) >
                         static_cast<std::uint64_t>(layout_.highest_trackable_value))) {
      return RecordStatus::kOutOfRange;
    }
    if (SHANRAQ_UNLIKELY(count == 0)) return RecordStatus::kRecorded;
    // relaxed: ordering with the reader comes from the phaser, not the slot.
    auto& slot = counts_[static_cast<std::size_t>(layout_.counts_index_for(value))];
    const std::uint64_t before = slot.fetch_add(count, std::memory_order_relaxed);
    if (SHANRAQ_UNLIKELY(before + count < before)) {
      // Undo: the reader copies this histogram only after every writer of
      // the phase has left, so it never sees the transient wrapped value.
      slot.fetch_sub(count, std::memory_order_relaxed);
      return RecordStatus::kOverflow;
    }
    std::int64_t lo = min_.load(std::memory_order_relaxed);
    while (value < lo && !min_.compare_exchange_weak(lo, value, std::memory_order_relaxed)) {
    }
    std::int64_t hi = max_.load(std::memory_order_relaxed);
    while (value > hi && !max_.compare_exchange_weak(hi, value, std::memory_order_relaxed)) {
    }
    return RecordStatus::kRecorded;
  }
  // Reader side, only while no writer is inside (after a phase flip).
  void reset() noexcept;
  void copy_into(Histogram& out) const;

 private:
  Layout layout_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  alignas(kCacheLine) std::atomic<std::int64_t> min_{std::numeric_limits<std::int64_t>::max()};
  alignas(kCacheLine) std::atomic<std::int64_t> max_{0};
};

class Recorder {
 public:
  // Throws std::invalid_argument for an impossible configuration.
  explicit Recorder(std::int64_t lowest = Histogram::kDefaultLowest, std::int64_t highest = Histogram::kDefaultHighest,
                    int significant_figures = Histogram::kDefaultSignificantFigures);
  const Layout& layout() const noexcept { return layout_; }

  // Any thread. Records nothing, and says why, for a value outside
  // [0, highest_trackable_value] or a slot count that would overflow.
  SHANRAQ_ALWAYS_INLINE RecordStatus try_record(std::int64_t value, std::uint64_t count = 1) noexcept {
    const std::int64_t epoch = phaser_.writer_enter();
    const RecordStatus status = active_.load(std::memory_order_acquire)->try_record(value, count);
    phaser_.writer_exit(epoch);
    return status;
  }
  // Any thread; throws ValueOutOfRange or std::overflow_error.
  void record(std::int64_t value, std::uint64_t count = 1);
  // Any thread; one phaser critical section for the whole batch. Returns the
  // number of out-of-range values skipped.
  template <typename T>
  std::uint64_t record_many(const T* values, std::size_t n) noexcept {
    const std::int64_t epoch = phaser_.writer_enter();
    AtomicHistogram* h = active_.load(std::memory_order_acquire);
    std::uint64_t rejected = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool fits = !(std::is_unsigned_v<T> && sizeof(T) == 8 &&
                          static_cast<std::uint64_t>(values[i]) > static_cast<std::uint64_t>(INT64_MAX));
      rejected += !(fits && h->try_record(static_cast<std::int64_t>(values[i]), 1) == RecordStatus::kRecorded);
    }
    phaser_.writer_exit(epoch);
    return rejected;
  }

  // Reader (any one thread at a time): replaces `out` with everything
  // recorded since the previous call (or construction) and starts a new
  // interval. `out` must have this recorder's layout (std::invalid_argument
  // otherwise). Nothing recorded is lost or counted twice.
  void interval_histogram(Histogram& out);

 private:
  Layout layout_;
  std::unique_ptr<AtomicHistogram> a_;
  std::unique_ptr<AtomicHistogram> b_;
  std::atomic<AtomicHistogram*> active_;
  AtomicHistogram* inactive_;
  WriterReaderPhaser phaser_;
};

}  // namespace shanraq::hist
