#include "shanraq/hist/recorder.hpp"

#include <chrono>
#include <thread>

namespace shanraq::hist {

void WriterReaderPhaser::flip_phase() noexcept {
  const bool next_phase_even = start_epoch_.load(std::memory_order_relaxed) < 0;
  const std::int64_t initial = next_phase_even ? 0 : std::numeric_limits<std::int64_t>::min();
  // Reset the new phase's end counter before any writer can enter that phase
  // (they enter only after the exchange below, which releases this store).
  (next_phase_even ? even_end_epoch_ : odd_end_epoch_).store(initial, std::memory_order_relaxed);
  const std::int64_t start_at_flip = start_epoch_.exchange(initial, std::memory_order_seq_cst);
  auto& previous_end = next_phase_even ? odd_end_epoch_ : even_end_epoch_;
  int spins = 0;
  auto sleep = std::chrono::microseconds(1);
  while (previous_end.load(std::memory_order_acquire) != start_at_flip) {
    // Back off: on a 2-core machine a writer preempted inside its critical
    // section needs our core to finish.
    if (spins < 64) {
      cpu_relax();
      ++spins;
    } else if (spins < 128) {
      std::this_thread::yield();
      ++spins;
    } else {
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(100));
    }
  }
}

AtomicHistogram::AtomicHistogram(const Layout& layout)
    : layout_(layout), counts_(new std::atomic<std::uint64_t>[static_cast<std::size_t>(layout.counts_len)]) {
  reset();
}

void AtomicHistogram::reset() noexcept {
  for (std::int32_t i = 0; i < layout_.counts_len; ++i)
    counts_[static_cast<std::size_t>(i)].store(0, std::memory_order_relaxed);
  min_.store(std::numeric_limits<std::int64_t>::max(), std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

void AtomicHistogram::copy_into(Histogram& out) const {
  out.reset();
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
    const std::uint64_t c = counts_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    if (c != 0) out.set_count_at_index(i, c);
  }
  // Slot midpoints give the sum (the writers keep no shared sum); min and max
  // were tracked exactly.
  out.recompute_stats_from_counts();
  if (out.total_count() != 0) {
    const std::int64_t lo = min_.load(std::memory_order_relaxed);
    const std::int64_t hi = max_.load(std::memory_order_relaxed);
    unsigned __int128 sum = out.sum();
    const auto total = static_cast<unsigned __int128>(out.total_count());
    // Keep min <= mean <= max with the exact bounds.
    sum = std::max(sum, total * static_cast<std::uint64_t>(lo));
    sum = std::min(sum, total * static_cast<std::uint64_t>(hi));
    out.set_exact_stats(out.total_count(), lo, hi, sum);
  }
}

Recorder::Recorder(std::int64_t lowest, std::int64_t highest, int significant_figures)
    : layout_(Layout::make(lowest, highest, significant_figures)),
      a_(std::make_unique<AtomicHistogram>(layout_)),
      b_(std::make_unique<AtomicHistogram>(layout_)),
      active_(a_.get()),
      inactive_(b_.get()) {}

void Recorder::record(std::int64_t value, std::uint64_t count) {
  const RecordStatus status = try_record(value, count);
  if (status == RecordStatus::kOverflow) {
    throw std::overflow_error("Recorder: the slot's count would overflow 2^64 - 1 in this interval");
  }
  if (status == RecordStatus::kOutOfRange) {
    throw ValueOutOfRange("value " + std::to_string(value) + " is outside the recorder's range [0, " +
                          std::to_string(layout_.highest_trackable_value) + "]");
  }
}

void Recorder::interval_histogram(Histogram& out) {
  if (!(out.layout() == layout_)) {
    throw std::invalid_argument("interval_histogram: target histogram's layout differs from the recorder's");
  }
  std::lock_guard<std::mutex> lock(phaser_.reader_mutex());
  // inactive_ is untouched by writers: the previous flip waited out every
  // writer that could have seen it as active.
  inactive_->reset();
  AtomicHistogram* sampled = active_.exchange(inactive_, std::memory_order_seq_cst);
  inactive_ = sampled;
  phaser_.flip_phase();
  sampled->copy_into(out);
}

}  // namespace shanraq::hist
