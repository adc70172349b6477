// HdrHistogram-class latency histogram: integer values (nanoseconds by
// convention) in logarithmic buckets of linear sub-buckets, so every recorded
// value is kept to a fixed number of significant decimal digits over a range
// of many orders of magnitude, in memory fixed at construction.
//
// The bucket arithmetic is HdrHistogram's (Gil Tene's design), so indexes,
// equivalent-value ranges and percentiles agree with the Java, C and Python
// implementations, and the V2 wire encoding (codec.hpp) round-trips with them.
//
// Thread contract: a Histogram is single-writer and not thread-safe. Many
// threads record into a Recorder (recorder.hpp) instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "shanraq/common/platform.hpp"

namespace shanraq::hist {

// Thrown for a value outside [0, highest_trackable_value]. Derives from
// std::invalid_argument so bindings map it to ValueError.
class ValueOutOfRange : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The geometry of a histogram, derived from (lowest, highest, significant
// figures) exactly as HdrHistogram derives it. Two histograms with equal
// layouts have identical bucket boundaries.
struct Layout {
  std::int64_t lowest_discernible_value = 1;
  std::int64_t highest_trackable_value = 0;
  int significant_figures = 0;
  int unit_magnitude = 0;
  int sub_bucket_half_count_magnitude = 0;
  std::int32_t sub_bucket_count = 0;
  std::int32_t sub_bucket_half_count = 0;
  std::int64_t sub_bucket_mask = 0;
  std::int32_t bucket_count = 0;
  std::int32_t counts_len = 0;

  // Throws std::invalid_argument when lowest < 1, significant_figures is not
  // in 1..5, highest < 2 * lowest, or the combination cannot be represented.
  static Layout make(std::int64_t lowest, std::int64_t highest, int significant_figures);

  bool operator==(const Layout&) const = default;

  // Index of the counts slot that holds `value` (0 <= value, value within the
  // counts array). Pure arithmetic: one count-leading-zeros and two shifts.
  SHANRAQ_ALWAYS_INLINE std::int32_t counts_index_for(std::int64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const auto sub_bucket = static_cast<std::int32_t>(value >> (bucket + unit_magnitude));
    return counts_index(bucket, sub_bucket);
  }

  // Smallest value that maps to counts slot `index`.
  std::int64_t value_from_index(std::int32_t index) const noexcept;
  // Width of the range of values that share `value`'s slot.
  std::int64_t size_of_equivalent_value_range(std::int64_t value) const noexcept;
  std::int64_t lowest_equivalent_value(std::int64_t value) const noexcept;
  std::int64_t highest_equivalent_value(std::int64_t value) const noexcept;
  std::int64_t median_equivalent_value(std::int64_t value) const noexcept;
  std::int64_t next_non_equivalent_value(std::int64_t value) const noexcept;

 private:
  SHANRAQ_ALWAYS_INLINE int bucket_index(std::int64_t value) const noexcept {
    // OR-ing in the mask makes every value below the first bucket's top land
    // in bucket 0 and keeps clz's argument non-zero.
    const int pow2ceiling = 64 - __builtin_clzll(static_cast<std::uint64_t>(value | sub_bucket_mask));
    return pow2ceiling - unit_magnitude - (sub_bucket_half_count_magnitude + 1);
  }
  SHANRAQ_ALWAYS_INLINE std::int32_t counts_index(int bucket, std::int32_t sub_bucket) const noexcept {
    const std::int32_t bucket_base = (bucket + 1) << sub_bucket_half_count_magnitude;
    return bucket_base + (sub_bucket - sub_bucket_half_count);
  }
};

class Histogram {
 public:
  static constexpr std::int64_t kDefaultLowest = 1;
  static constexpr std::int64_t kDefaultHighest = 3'600'000'000'000;  // one hour in ns
  static constexpr int kDefaultSignificantFigures = 3;

  // Throws std::invalid_argument for an impossible configuration (see Layout).
  explicit Histogram(std::int64_t lowest = kDefaultLowest, std::int64_t highest = kDefaultHighest,
                     int significant_figures = kDefaultSignificantFigures);
  explicit Histogram(const Layout& layout);

  Histogram(const Histogram&) = default;
  Histogram& operator=(const Histogram&) = default;
  Histogram(Histogram&&) noexcept = default;
  Histogram& operator=(Histogram&&) noexcept = default;

  const Layout& layout() const noexcept { return layout_; }
  std::int64_t lowest_discernible_value() const noexcept { return layout_.lowest_discernible_value; }
  std::int64_t highest_trackable_value() const noexcept { return layout_.highest_trackable_value; }
  int significant_figures() const noexcept { return layout_.significant_figures; }
  std::int32_t counts_len() const noexcept { return layout_.counts_len; }
  // Bytes owned by this histogram (object plus counts and overflow table).
  std::size_t memory_size() const noexcept;

  // ---- recording (owner thread only) --------------------------------------
  // Records `count` occurrences of `value` (units are the caller's; ns by
  // convention). Returns false, changing nothing, when value is outside
  // [0, highest_trackable_value]. count == 0 records nothing. Throws
  // std::overflow_error, changing nothing, if the total count would pass
  // 2^64 - 1. Constant time; no allocation unless one slot passes 2^32 - 1
  // counts (see class comment in histogram.cpp).
  SHANRAQ_ALWAYS_INLINE bool try_record(std::int64_t value, std::uint64_t count = 1) {
    // A negative value becomes huge as unsigned, so one compare checks both ends.
    if (SHANRAQ_UNLIKELY(static_cast<std::uint64_t>(value) >
                         static_cast<std::uint64_t>(layout_.highest_trackable_value))) {
      return false;
    }
    const std::int32_t index = layout_.counts_index_for(value);
    const std::uint32_t current = counts_[static_cast<std::size_t>(index)];
    std::uint64_t new_total;
    // One branch covers the three rare cases: count == 0 (wraps to huge), a
    // 32-bit slot overflow, and total-count overflow.
    const bool slow = (count - 1 >= std::uint64_t{UINT32_MAX} - current) ||
                      __builtin_add_overflow(total_count_, count, &new_total);
    if (SHANRAQ_UNLIKELY(slow)) {
      record_slow(index, value, count);
      return true;
    }
    counts_[static_cast<std::size_t>(index)] = static_cast<std::uint32_t>(current + count);
    total_count_ = new_total;
    // The sum's high word changes only on a carry out of the low word (or
    // a product of 2^64 or more), so the common case is one 64-bit add and
    // store, not a 128-bit read-modify-write.
    const unsigned __int128 added = static_cast<unsigned __int128>(static_cast<std::uint64_t>(value)) * count;
    std::uint64_t low;
    const bool carry = __builtin_add_overflow(sum_low_, static_cast<std::uint64_t>(added), &low);
    sum_low_ = low;
    if (SHANRAQ_UNLIKELY(carry || (added >> 64) != 0)) sum_high_ += static_cast<std::uint64_t>(added >> 64) + carry;
    // Branches, not cmov: a new extreme is rare once a few values are in,
    // and a predicted branch leaves min_/max_ unwritten (two stores fewer
    // per record).
    if (SHANRAQ_UNLIKELY(value < min_)) min_ = value;
    if (SHANRAQ_UNLIKELY(value > max_)) max_ = value;
    return true;
  }

  // As try_record, but an out-of-range value is counted in rejected_count()
  // instead (for timers, which must not throw from a scope exit).
  SHANRAQ_ALWAYS_INLINE void record_or_reject(std::int64_t value) {
    if (SHANRAQ_UNLIKELY(!try_record(value, 1))) ++rejected_count_;
  }

  // As try_record, but throws ValueOutOfRange naming the range.
  SHANRAQ_ALWAYS_INLINE void record(std::int64_t value, std::uint64_t count = 1) {
    if (SHANRAQ_UNLIKELY(!try_record(value, count))) throw_out_of_range(value);
  }

  // Coordinated-omission correction as HdrHistogram defines it: records
  // `value`, then, if value > expected_interval > 0, also records
  // value - k * expected_interval for every k >= 1 that leaves the result
  // >= expected_interval, each `count` times. Runs in time proportional to
  // the number of slots the synthesized values touch, not their number.
  // Throws ValueOutOfRange (changing nothing) for a value out of range and
  // std::invalid_argument for a negative expected_interval.
  void record_corrected(std::int64_t value, std::int64_t expected_interval, std::uint64_t count = 1);

  // Records every value of values[0..n) once. Out-of-range values are skipped
  // and counted; returns how many were skipped. Throws std::overflow_error,
  // changing nothing, if the total count would overflow. No allocation
  // (except the rare slot overflow above); safe to call without the GIL.
  template <typename T>
  std::uint64_t record_many(const T* values, std::size_t n);

  // ---- queries --------------------------------------------------------------
  std::uint64_t total_count() const noexcept { return total_count_; }
  // Exact smallest / largest value recorded since construction or reset (0
  // when empty). After decoding a V2 encoding, which carries no min/max, the
  // bounds of the lowest and highest non-empty slots.
  std::int64_t min() const noexcept { return total_count_ ? min_ : 0; }
  std::int64_t max() const noexcept { return total_count_ ? max_ : 0; }
  // Exact arithmetic mean of the values recorded (0 when empty); after a V2
  // decode, computed from slot midpoints, as HdrHistogram does.
  double mean() const noexcept;
  // Population standard deviation, computed from slot midpoints around the
  // exact mean (HdrHistogram's method), so within the histogram's precision.
  double stdev() const;
  // Exact sum of the values recorded, as a 128-bit integer, and its halves
  // (for bindings without a 128-bit type).
  unsigned __int128 sum() const noexcept { return (static_cast<unsigned __int128>(sum_high_) << 64) | sum_low_; }
  std::uint64_t sum_low() const noexcept { return sum_low_; }
  std::uint64_t sum_high() const noexcept { return sum_high_; }
  // Values skipped by record_many / record_or_reject since construction or reset.
  std::uint64_t rejected_count() const noexcept { return rejected_count_; }

  // Count recorded in the slot that holds `value` (0 outside the range).
  std::uint64_t count_at_value(std::int64_t value) const noexcept;
  std::uint64_t count_at_index(std::int32_t index) const noexcept {
    const std::uint64_t low = counts_[static_cast<std::size_t>(index)];
    return overflow_.empty() ? low : low + (overflow_high(index) << 32);
  }

  // The value at `percentile` (0..100) as HdrHistogram defines it: the
  // highest value equivalent to the smallest recorded value whose cumulative
  // count reaches round(percentile/100 * total) (at least 1); the lowest
  // equivalent value for percentile 0. 0 when empty. Throws
  // std::invalid_argument for a percentile outside [0, 100] or NaN.
  std::int64_t value_at_percentile(double percentile) const;
  // Fills out[i] = value_at_percentile(percentiles[i]) in one pass over the
  // counts. Validates every percentile before writing anything.
  void values_at_percentiles(const double* percentiles, std::size_t n, std::int64_t* out) const;

  // Number of non-empty slots, and their (highest equivalent value, count)
  // pairs in increasing value order; `values` and `counts` must hold
  // recorded_slot_count() entries. `lowest`, when not null, receives each
  // slot's lowest equivalent value.
  std::size_t recorded_slot_count() const noexcept;
  void recorded_slots(std::int64_t* values, std::uint64_t* counts, std::int64_t* lowest = nullptr) const noexcept;
  // Count of recorded values in slots from the one holding `low` to the one
  // holding `high`, inclusive (HdrHistogram's getCountBetweenValues).
  std::uint64_t count_between_values(std::int64_t low, std::int64_t high) const noexcept;

  // ---- whole-histogram operations --------------------------------------------
  void reset() noexcept;
  // Adds every count of `other`. Same layout: slot by slot, with exact
  // statistics. Different layout: each slot's lowest equivalent value is
  // re-recorded here (statistics follow those values); throws
  // std::invalid_argument, changing nothing, if other holds values above this
  // histogram's highest trackable value. Throws std::overflow_error, changing
  // nothing, if the total would overflow.
  void add(const Histogram& other);

  // The package's own binary form: a fixed header plus the raw counts,
  // little-endian, with a 64-bit checksum; restore() verifies the checksum,
  // every field and the counts against the header and throws
  // std::invalid_argument on any mismatch.
  std::string snapshot() const;
  static Histogram restore(const std::uint8_t* data, std::size_t size);

  // Internals for the codec and the recorder: set a slot and the summary
  // statistics directly. set_count_at_index does not update totals; call
  // recompute_stats_from_counts() afterwards.
  void set_count_at_index(std::int32_t index, std::uint64_t count);
  void recompute_stats_from_counts();
  void set_exact_stats(std::uint64_t total, std::int64_t min, std::int64_t max, unsigned __int128 sum) noexcept {
    total_count_ = total;
    min_ = min;
    max_ = max;
    set_sum(sum);
  }

  // True when both hold the same layout, counts and statistics.
  bool operator==(const Histogram& other) const;

 private:
  [[noreturn]] void throw_out_of_range(std::int64_t value) const;
  template <typename T>
  std::uint64_t record_many_loop(const T* values, std::size_t n, std::uint64_t new_total);
  template <typename T>
  std::uint64_t record_many_v3(const T* values, std::size_t n, std::uint64_t new_total);
  void record_slow(std::int32_t index, std::int64_t value, std::uint64_t count);
  // Adds `count` to slot `index` carrying into the overflow table; no totals.
  void add_to_slot(std::int32_t index, std::uint64_t count);
  std::uint64_t overflow_high(std::int32_t index) const noexcept;
  std::int32_t first_nonzero_index() const noexcept;
  std::int32_t last_nonzero_index() const noexcept;

  Layout layout_;
  // 32-bit slots keep the default (1 ns .. 1 h, 3 digits: 33,792 slots) at
  // 135 KB instead of 270 KB. A slot that passes 2^32 - 1 keeps its high 32
  // bits in overflow_, sorted by index; 64 entries are reserved up front.
  std::vector<std::uint32_t> counts_;
  std::vector<std::pair<std::int32_t, std::uint32_t>> overflow_;
  std::uint64_t total_count_ = 0;
  std::uint64_t rejected_count_ = 0;
  // The exact sum as two words (see try_record).
  std::uint64_t sum_low_ = 0;
  std::uint64_t sum_high_ = 0;
  void set_sum(unsigned __int128 s) noexcept {
    sum_low_ = static_cast<std::uint64_t>(s);
    sum_high_ = static_cast<std::uint64_t>(s >> 64);
  }
  void add_sum(unsigned __int128 s) noexcept { set_sum(sum() + s); }
  std::int64_t min_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_ = 0;
};

// A second record_many kernel for x86-64-v3 is worth it only when the build
// targets baseline x86-64 (wheels); a build with LZCNT already (-march=native,
// SHANRAQ_NATIVE) uses it everywhere.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && !defined(__LZCNT__)
#define SHANRAQ_HIST_DISPATCH_V3 1
#else
#define SHANRAQ_HIST_DISPATCH_V3 0
#endif

namespace detail {
// x86-64-v3 (Haswell, Zen and later) has LZCNT, 1-cycle where the baseline's
// BSR takes several on AMD cores: record_many runs ~25% faster with it.
// Wheels target baseline x86-64, so we pick the kernel at run time.
inline bool cpu_has_x86_64_v3() noexcept {
#if SHANRAQ_HIST_DISPATCH_V3
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v3") != 0;
  }();
  return has;
#else
  return false;
#endif
}
}  // namespace detail

// No auto-vectorisation of the record loop: with AVX-512 GCC turns the slot
// increments into conflict-detecting gathers and scatters (vpconflictd),
// which measured 6x slower than the scalar loop on Zen 5.
#if defined(__GNUC__) && !defined(__clang__)
#define SHANRAQ_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#else
#define SHANRAQ_NO_VECTORIZE
#endif

template <typename T>
SHANRAQ_NO_VECTORIZE std::uint64_t Histogram::record_many(const T* values, std::size_t n) {
  std::uint64_t new_total;
  if (__builtin_add_overflow(total_count_, static_cast<std::uint64_t>(n), &new_total)) {
    throw std::overflow_error("LatencyHistogram: total count would overflow 2^64 - 1");
  }
#if SHANRAQ_HIST_DISPATCH_V3
  if (detail::cpu_has_x86_64_v3()) return record_many_v3(values, n, new_total);
#endif
  return record_many_loop(values, n, new_total);
}

#if SHANRAQ_HIST_DISPATCH_V3
template <typename T>
__attribute__((target("arch=x86-64-v3"))) SHANRAQ_NO_VECTORIZE
    std::uint64_t Histogram::record_many_v3(const T* values, std::size_t n, std::uint64_t new_total) {
  return record_many_loop(values, n, new_total);
}
#endif

template <typename T>
SHANRAQ_ALWAYS_INLINE std::uint64_t Histogram::record_many_loop(const T* values, std::size_t n,
                                                                std::uint64_t new_total) {
  // Everything the loop needs lives in locals: counts are uint32 and the
  // layout's fields int32, which may alias, so reading them through `this`
  // would reload them after every counts store.
  const auto highest = static_cast<std::uint64_t>(layout_.highest_trackable_value);
  const auto mask = static_cast<std::uint64_t>(layout_.sub_bucket_mask);
  const int unit = layout_.unit_magnitude;
  const int half_magnitude = layout_.sub_bucket_half_count_magnitude;
  const int bucket_bias = 64 - unit - (half_magnitude + 1);
  const std::int32_t half_count = layout_.sub_bucket_half_count;
  std::uint32_t* const counts = counts_.data();
  std::uint64_t rejected = 0;
  std::uint64_t sum_low = 0;
  std::uint64_t sum_high = 0;
  std::int64_t lo = min_;
  std::int64_t hi = max_;
  // Statistics accumulate in registers and are folded in once at the end.
  for (std::size_t i = 0; i < n; ++i) {
    const auto v = static_cast<std::int64_t>(values[i]);
    // For unsigned T, a value above INT64_MAX becomes negative here and is
    // then rejected by the unsigned compare, like any negative value.
    if (SHANRAQ_UNLIKELY(static_cast<std::uint64_t>(v) > highest) ||
        (std::is_unsigned_v<T> && sizeof(T) == 8 && static_cast<std::uint64_t>(values[i]) > highest)) {
      ++rejected;
      continue;
    }
    // Layout::counts_index_for, with the layout held in registers.
    const int bucket = bucket_bias - __builtin_clzll(static_cast<std::uint64_t>(v) | mask);
    const auto sub_bucket = static_cast<std::int32_t>(v >> (bucket + unit));
    const std::int32_t index = ((bucket + 1) << half_magnitude) + (sub_bucket - half_count);
    std::uint32_t& slot = counts[index];
    if (SHANRAQ_UNLIKELY(slot == UINT32_MAX)) {
      add_to_slot(index, 1);
    } else {
      ++slot;
    }
    sum_low += static_cast<std::uint64_t>(v);
    sum_high += sum_low < static_cast<std::uint64_t>(v);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  const unsigned __int128 sum = (static_cast<unsigned __int128>(sum_high) << 64) | sum_low;
  total_count_ = new_total - rejected;
  rejected_count_ += rejected;
  add_sum(sum);
  min_ = lo;
  max_ = hi;
  return rejected;
}

}  // namespace shanraq::hist
