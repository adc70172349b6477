#include "shanraq/hist/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "shanraq/common/checksum.hpp"

namespace shanraq::hist {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Number of buckets needed so that the top of the last one exceeds `value`;
// HdrHistogram's buckets_needed_to_cover_value.
std::int32_t buckets_needed_to_cover(std::int64_t value, std::int32_t sub_bucket_count, int unit_magnitude) {
  std::int64_t smallest_untrackable = static_cast<std::int64_t>(sub_bucket_count) << unit_magnitude;
  std::int32_t buckets = 1;
  while (smallest_untrackable <= value) {
    if (smallest_untrackable > kInt64Max / 2) return buckets + 1;
    smallest_untrackable <<= 1;
    ++buckets;
  }
  return buckets;
}

}  // namespace

// ---- Layout -------------------------------------------------------------------

Layout Layout::make(std::int64_t lowest, std::int64_t highest, int significant_figures) {
  if (lowest < 1) {
    throw std::invalid_argument("lowest must be >= 1, got " + std::to_string(lowest));
  }
  if (significant_figures < 1 || significant_figures > 5) {
    throw std::invalid_argument("significant_figures must be in 1..5, got " + std::to_string(significant_figures));
  }
  if (lowest > highest / 2) {
    throw std::invalid_argument("highest must be >= 2 * lowest, got lowest=" + std::to_string(lowest) +
                                " highest=" + std::to_string(highest));
  }
  Layout l;
  l.lowest_discernible_value = lowest;
  l.highest_trackable_value = highest;
  l.significant_figures = significant_figures;
  std::int64_t largest_single_unit = 2;
  for (int i = 0; i < significant_figures; ++i) largest_single_unit *= 10;
  // ceil(log2(2 * 10^digits)): never a power of two, so bit_width is exact.
  const int sub_bucket_count_magnitude = std::bit_width(static_cast<std::uint64_t>(largest_single_unit));
  l.sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  l.unit_magnitude = std::bit_width(static_cast<std::uint64_t>(lowest)) - 1;
  if (l.unit_magnitude + l.sub_bucket_half_count_magnitude > 61) {
    throw std::invalid_argument("lowest and significant_figures give buckets beyond 2^62");
  }
  l.sub_bucket_count = std::int32_t{1} << (l.sub_bucket_half_count_magnitude + 1);
  l.sub_bucket_half_count = l.sub_bucket_count / 2;
  l.sub_bucket_mask = static_cast<std::int64_t>(l.sub_bucket_count - 1) << l.unit_magnitude;
  l.bucket_count = buckets_needed_to_cover(highest, l.sub_bucket_count, l.unit_magnitude);
  l.counts_len = (l.bucket_count + 1) * l.sub_bucket_half_count;
  return l;
}

std::int64_t Layout::value_from_index(std::int32_t index) const noexcept {
  int bucket = (index >> sub_bucket_half_count_magnitude) - 1;
  std::int32_t sub_bucket = (index & (sub_bucket_half_count - 1)) + sub_bucket_half_count;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count;
    bucket = 0;
  }
  return static_cast<std::int64_t>(sub_bucket) << (bucket + unit_magnitude);
}

std::int64_t Layout::size_of_equivalent_value_range(std::int64_t value) const noexcept {
  const int bucket = bucket_index(value);
  const auto sub_bucket = static_cast<std::int32_t>(value >> (bucket + unit_magnitude));
  const int adjusted = sub_bucket >= sub_bucket_count ? bucket + 1 : bucket;
  return std::int64_t{1} << (unit_magnitude + adjusted);
}

std::int64_t Layout::lowest_equivalent_value(std::int64_t value) const noexcept {
  const int bucket = bucket_index(value);
  const auto sub_bucket = static_cast<std::int64_t>(value >> (bucket + unit_magnitude));
  return sub_bucket << (bucket + unit_magnitude);
}

std::int64_t Layout::next_non_equivalent_value(std::int64_t value) const noexcept {
  return lowest_equivalent_value(value) + size_of_equivalent_value_range(value);
}

std::int64_t Layout::highest_equivalent_value(std::int64_t value) const noexcept {
  return next_non_equivalent_value(value) - 1;
}

std::int64_t Layout::median_equivalent_value(std::int64_t value) const noexcept {
  return lowest_equivalent_value(value) + (size_of_equivalent_value_range(value) >> 1);
}

// ---- Histogram: construction and recording ------------------------------------------

Histogram::Histogram(std::int64_t lowest, std::int64_t highest, int significant_figures)
    : Histogram(Layout::make(lowest, highest, significant_figures)) {}

Histogram::Histogram(const Layout& layout) : layout_(layout), counts_(static_cast<std::size_t>(layout.counts_len), 0) {
  overflow_.reserve(64);
}

std::size_t Histogram::memory_size() const noexcept {
  return sizeof(*this) + counts_.capacity() * sizeof(std::uint32_t) + overflow_.capacity() * sizeof(overflow_[0]);
}

void Histogram::throw_out_of_range(std::int64_t value) const {
  throw ValueOutOfRange("value " + std::to_string(value) + " is outside the histogram's range [0, " +
                        std::to_string(layout_.highest_trackable_value) + "]");
}

std::uint64_t Histogram::overflow_high(std::int32_t index) const noexcept {
  const auto it = std::lower_bound(overflow_.begin(), overflow_.end(), index,
                                   [](const auto& entry, std::int32_t i) { return entry.first < i; });
  return (it != overflow_.end() && it->first == index) ? it->second : 0;
}

void Histogram::add_to_slot(std::int32_t index, std::uint64_t count) {
  const std::uint64_t low = std::uint64_t{counts_[static_cast<std::size_t>(index)]} + (count & 0xffffffffu);
  const std::uint64_t carry = (count >> 32) + (low >> 32);
  if (carry != 0) {
    // Insert (which may allocate) before touching the slot, so a bad_alloc
    // leaves the histogram as it was.
    auto it = std::lower_bound(overflow_.begin(), overflow_.end(), index,
                               [](const auto& entry, std::int32_t i) { return entry.first < i; });
    if (it != overflow_.end() && it->first == index) {
      it->second += static_cast<std::uint32_t>(carry);
    } else {
      overflow_.insert(it, {index, static_cast<std::uint32_t>(carry)});
    }
  }
  counts_[static_cast<std::size_t>(index)] = static_cast<std::uint32_t>(low);
}

void Histogram::record_slow(std::int32_t index, std::int64_t value, std::uint64_t count) {
  if (count == 0) return;
  std::uint64_t new_total;
  if (__builtin_add_overflow(total_count_, count, &new_total)) {
    throw std::overflow_error("LatencyHistogram: total count would overflow 2^64 - 1");
  }
  add_to_slot(index, count);
  total_count_ = new_total;
  add_sum(static_cast<unsigned __int128>(static_cast<std::uint64_t>(value)) * count);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::record_corrected(std::int64_t value, std::int64_t expected_interval, std::uint64_t count) {
  if (value < 0 || value > layout_.highest_trackable_value) throw_out_of_range(value);
  if (expected_interval < 0) {
    throw std::invalid_argument("expected_interval must be >= 0, got " + std::to_string(expected_interval));
  }
  if (count == 0) return;
  // Synthesized values: value - k*I for k = 1..K with K = value/I - 1.
  const std::uint64_t synthesized = (expected_interval > 0 && value > expected_interval)
                                        ? static_cast<std::uint64_t>(value / expected_interval - 1)
                                        : 0;
  std::uint64_t all;
  std::uint64_t new_total;
  if (__builtin_mul_overflow(synthesized + 1, count, &all) || __builtin_add_overflow(total_count_, all, &new_total)) {
    throw std::overflow_error("LatencyHistogram: total count would overflow 2^64 - 1");
  }
  record(value, count);
  if (synthesized == 0) return;
  const std::int64_t step = expected_interval;
  std::int64_t v = value - step;
  // Walk slot by slot from the top: every synthesized value sharing v's slot
  // is added at once, so a 1-hour value with a 1-ns interval costs one pass
  // over the slots rather than 3.6e12 records.
  while (v >= step) {
    const std::int32_t index = layout_.counts_index_for(v);
    const std::int64_t bottom = std::max(layout_.lowest_equivalent_value(v), step);
    const auto n = static_cast<std::uint64_t>((v - bottom) / step + 1);
    add_to_slot(index, n * count);
    // Sum of v, v-step, ..., v-(n-1)*step, times count.
    const unsigned __int128 series = static_cast<unsigned __int128>(n) * static_cast<std::uint64_t>(v) -
                                     static_cast<unsigned __int128>(static_cast<std::uint64_t>(step)) *
                                         (static_cast<unsigned __int128>(n) * (n - 1) / 2);
    add_sum(series * count);
    total_count_ += n * count;
    v -= static_cast<std::int64_t>(n) * step;
    min_ = std::min(min_, v + step);
  }
}

// ---- queries ------------------------------------------------------------------------

double Histogram::mean() const noexcept {
  if (total_count_ == 0) return 0.0;
  return static_cast<double>(sum()) / static_cast<double>(total_count_);
}

double Histogram::stdev() const {
  if (total_count_ == 0) return 0.0;
  const double m = mean();
  double geometric_deviation_total = 0.0;
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
    const std::uint64_t c = count_at_index(i);
    if (c == 0) continue;
    const double dev = static_cast<double>(layout_.median_equivalent_value(layout_.value_from_index(i))) - m;
    geometric_deviation_total += dev * dev * static_cast<double>(c);
  }
  return std::sqrt(geometric_deviation_total / static_cast<double>(total_count_));
}

std::uint64_t Histogram::count_at_value(std::int64_t value) const noexcept {
  if (value < 0) return 0;
  const std::int32_t index = layout_.counts_index_for(value);
  if (index < 0 || index >= layout_.counts_len) return 0;
  return count_at_index(index);
}

std::int32_t Histogram::first_nonzero_index() const noexcept {
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
    if (counts_[static_cast<std::size_t>(i)] != 0 || (!overflow_.empty() && overflow_high(i) != 0)) return i;
  }
  return -1;
}

std::int32_t Histogram::last_nonzero_index() const noexcept {
  for (std::int32_t i = layout_.counts_len - 1; i >= 0; --i) {
    if (counts_[static_cast<std::size_t>(i)] != 0 || (!overflow_.empty() && overflow_high(i) != 0)) return i;
  }
  return -1;
}

namespace {

void check_percentile(double p) {
  if (!(p >= 0.0 && p <= 100.0)) {  // also rejects NaN
    throw std::invalid_argument("percentile must be in [0, 100], got " + std::to_string(p));
  }
}

}  // namespace

std::int64_t Histogram::value_at_percentile(double percentile) const {
  std::int64_t out;
  values_at_percentiles(&percentile, 1, &out);
  return out;
}

void Histogram::values_at_percentiles(const double* percentiles, std::size_t n, std::int64_t* out) const {
  for (std::size_t i = 0; i < n; ++i) check_percentile(percentiles[i]);
  if (total_count_ == 0) {
    std::fill(out, out + n, 0);
    return;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return percentiles[a] < percentiles[b]; });

  const std::int32_t block = layout_.sub_bucket_half_count;
  const bool plain = overflow_.empty();
  std::int32_t index = -1;   // last slot consumed
  std::uint64_t cumulative = 0;  // counts of slots [0, index]
  for (const std::size_t k : order) {
    const double p = percentiles[k];
    const auto wanted = static_cast<std::uint64_t>((p / 100.0) * static_cast<double>(total_count_) + 0.5);
    const std::uint64_t target = std::max<std::uint64_t>(std::min(wanted, total_count_), 1);
    while (cumulative < target) {
      const std::int32_t next = index + 1;
      // Skip whole blocks of slots at once: summing 1,024 32-bit slots is a
      // vectorised loop, several times faster than the compare-per-slot scan.
      if (plain && (next & (block - 1)) == 0 && next + block <= layout_.counts_len) {
        const std::uint32_t* begin = counts_.data() + next;
        std::uint64_t block_sum = 0;
        for (std::int32_t j = 0; j < block; ++j) block_sum += begin[j];
        if (cumulative + block_sum < target) {
          cumulative += block_sum;
          index = next + block - 1;
          continue;
        }
      }
      index = next;
      cumulative += count_at_index(index);
    }
    const std::int64_t v = layout_.value_from_index(index);
    out[k] = p == 0.0 ? layout_.lowest_equivalent_value(v) : layout_.highest_equivalent_value(v);
  }
}

std::size_t Histogram::recorded_slot_count() const noexcept {
  std::size_t n = 0;
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) n += count_at_index(i) != 0;
  return n;
}

void Histogram::recorded_slots(std::int64_t* values, std::uint64_t* counts, std::int64_t* lowest) const noexcept {
  std::size_t k = 0;
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
    const std::uint64_t c = count_at_index(i);
    if (c == 0) continue;
    const std::int64_t v = layout_.value_from_index(i);
    values[k] = layout_.highest_equivalent_value(v);
    if (lowest != nullptr) lowest[k] = v;
    counts[k] = c;
    ++k;
  }
}

std::uint64_t Histogram::count_between_values(std::int64_t low, std::int64_t high) const noexcept {
  if (high < 0 || low > high) return 0;
  const std::int32_t first = layout_.counts_index_for(std::max<std::int64_t>(low, 0));
  const std::int32_t last = std::min(layout_.counts_index_for(high), layout_.counts_len - 1);
  std::uint64_t total = 0;
  for (std::int32_t i = first; i <= last; ++i) total += count_at_index(i);
  return total;
}

// ---- whole-histogram operations ------------------------------------------------------

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  overflow_.clear();
  total_count_ = 0;
  rejected_count_ = 0;
  set_sum(0);
  min_ = kInt64Max;
  max_ = 0;
}

void Histogram::add(const Histogram& other) {
  if (other.total_count_ == 0) return;
  // Read everything from `other` first: it may be *this.
  const std::uint64_t other_total = other.total_count_;
  const unsigned __int128 other_sum = other.sum();
  const std::int64_t other_min = other.min_;
  const std::int64_t other_max = other.max_;
  std::uint64_t new_total;
  if (__builtin_add_overflow(total_count_, other_total, &new_total)) {
    throw std::overflow_error("LatencyHistogram.add: total count would overflow 2^64 - 1");
  }
  if (layout_ == other.layout_) {
    if (this == &other) {
      const Histogram copy = other;
      for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
        const std::uint64_t c = copy.count_at_index(i);
        if (c != 0) add_to_slot(i, c);
      }
    } else if (overflow_.empty() && other.overflow_.empty()) {
      std::uint32_t* mine = counts_.data();
      const std::uint32_t* theirs = other.counts_.data();
      for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
        std::uint32_t s;
        if (SHANRAQ_UNLIKELY(__builtin_add_overflow(mine[i], theirs[i], &s))) {
          add_to_slot(i, theirs[i]);
        } else {
          mine[i] = s;
        }
      }
    } else {
      for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
        const std::uint64_t c = other.count_at_index(i);
        if (c != 0) add_to_slot(i, c);
      }
    }
  } else {
    if (other_max > layout_.highest_trackable_value) {
      throw std::invalid_argument("cannot add a histogram holding values up to " + std::to_string(other_max) +
                                  " into one whose highest trackable value is " +
                                  std::to_string(layout_.highest_trackable_value));
    }
    // Each of other's slots is re-recorded at its lowest equivalent value,
    // and the statistics follow the values actually recorded, so min, max
    // and mean stay consistent with this histogram's own slots.
    for (std::int32_t i = 0; i < other.layout_.counts_len; ++i) {
      const std::uint64_t c = other.count_at_index(i);
      if (c == 0) continue;
      const std::int64_t v = std::min(other.layout_.value_from_index(i), layout_.highest_trackable_value);
      add_to_slot(layout_.counts_index_for(v), c);
      add_sum(static_cast<unsigned __int128>(static_cast<std::uint64_t>(v)) * c);
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
    total_count_ = new_total;
    return;
  }
  total_count_ = new_total;
  add_sum(other_sum);
  min_ = std::min(min_, other_min);
  max_ = std::max(max_, other_max);
}

void Histogram::set_count_at_index(std::int32_t index, std::uint64_t count) {
  auto it = std::lower_bound(overflow_.begin(), overflow_.end(), index,
                             [](const auto& entry, std::int32_t i) { return entry.first < i; });
  const bool present = it != overflow_.end() && it->first == index;
  const auto high = static_cast<std::uint32_t>(count >> 32);
  if (high != 0) {
    if (present) {
      it->second = high;
    } else {
      overflow_.insert(it, {index, high});
    }
  } else if (present) {
    overflow_.erase(it);
  }
  counts_[static_cast<std::size_t>(index)] = static_cast<std::uint32_t>(count);
}

void Histogram::recompute_stats_from_counts() {
  std::uint64_t total = 0;
  unsigned __int128 sum = 0;
  std::int32_t first = -1;
  std::int32_t last = -1;
  for (std::int32_t i = 0; i < layout_.counts_len; ++i) {
    const std::uint64_t c = count_at_index(i);
    if (c == 0) continue;
    if (__builtin_add_overflow(total, c, &total)) {
      throw std::overflow_error("histogram counts add up to more than 2^64 - 1");
    }
    if (first < 0) first = i;
    last = i;
    sum += static_cast<unsigned __int128>(
               static_cast<std::uint64_t>(layout_.median_equivalent_value(layout_.value_from_index(i)))) *
           c;
  }
  total_count_ = total;
  set_sum(sum);
  if (total == 0) {
    min_ = kInt64Max;
    max_ = 0;
  } else {
    min_ = layout_.lowest_equivalent_value(layout_.value_from_index(first));
    // No recorded value can exceed the highest trackable value.
    max_ = std::min(layout_.highest_equivalent_value(layout_.value_from_index(last)), layout_.highest_trackable_value);
  }
}

bool Histogram::operator==(const Histogram& other) const {
  return layout_ == other.layout_ && counts_ == other.counts_ && overflow_ == other.overflow_ &&
         total_count_ == other.total_count_ && rejected_count_ == other.rejected_count_ && sum() == other.sum() &&
         min() == other.min() && max() == other.max();
}

// ---- snapshot -------------------------------------------------------------------------------

namespace {

static_assert(std::endian::native == std::endian::little,
              "snapshot() writes host order; every target (x86_64, aarch64 Linux) is little-endian");

constexpr std::uint32_t kSnapshotMagic = 0x48514853;  // "SHQH"
constexpr std::uint16_t kSnapshotVersion = 1;

struct SnapshotHeader {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t significant_figures;
  std::int64_t lowest;
  std::int64_t highest;
  std::uint64_t total_count;
  std::uint64_t rejected_count;
  std::int64_t min;
  std::int64_t max;
  std::uint64_t sum_low;
  std::uint64_t sum_high;
  std::uint32_t counts_len;
  std::uint32_t overflow_len;
  // checksum64 of the whole snapshot with this field zeroed.
  std::uint64_t checksum;
};
static_assert(sizeof(SnapshotHeader) == 88, "snapshot header layout is part of the format");

struct OverflowEntry {
  std::int32_t index;
  std::uint32_t high;
};
static_assert(sizeof(OverflowEntry) == 8);

// The header (with its checksum field zeroed) seeds the hash of the body, so
// restore() verifies in place without copying the buffer.
std::uint64_t snapshot_checksum(SnapshotHeader header, const void* body, std::size_t body_size) {
  header.checksum = 0;
  return checksum64(body, body_size, checksum64(&header, sizeof header));
}

[[noreturn]] void corrupt(const std::string& why) {
  throw std::invalid_argument("corrupt LatencyHistogram snapshot: " + why);
}

}  // namespace

std::string Histogram::snapshot() const {
  SnapshotHeader h{};
  h.checksum = 0;
  h.magic = kSnapshotMagic;
  h.version = kSnapshotVersion;
  h.significant_figures = static_cast<std::uint16_t>(layout_.significant_figures);
  h.lowest = layout_.lowest_discernible_value;
  h.highest = layout_.highest_trackable_value;
  h.total_count = total_count_;
  h.rejected_count = rejected_count_;
  h.min = min_;
  h.max = max_;
  h.sum_low = sum_low_;
  h.sum_high = sum_high_;
  h.counts_len = static_cast<std::uint32_t>(layout_.counts_len);
  h.overflow_len = static_cast<std::uint32_t>(overflow_.size());
  std::string out(sizeof h + counts_.size() * 4 + overflow_.size() * sizeof(OverflowEntry), '\0');
  char* p = out.data();
  std::memcpy(p, &h, sizeof h);
  p += sizeof h;
  std::memcpy(p, counts_.data(), counts_.size() * 4);
  p += counts_.size() * 4;
  for (const auto& [index, high] : overflow_) {
    const OverflowEntry e{index, high};
    std::memcpy(p, &e, sizeof e);
    p += sizeof e;
  }
  h.checksum = snapshot_checksum(h, out.data() + sizeof h, out.size() - sizeof h);
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

Histogram Histogram::restore(const std::uint8_t* data, std::size_t size) {
  SnapshotHeader h;
  if (size < sizeof h) corrupt("shorter than its header");
  std::memcpy(&h, data, sizeof h);
  if (h.magic != kSnapshotMagic) corrupt("bad magic");
  if (h.version != kSnapshotVersion) corrupt("unsupported version " + std::to_string(h.version));
  if (snapshot_checksum(h, data + sizeof h, size - sizeof h) != h.checksum) corrupt("checksum mismatch");
  Layout layout;
  try {
    layout = Layout::make(h.lowest, h.highest, h.significant_figures);
  } catch (const std::invalid_argument& e) {
    corrupt(e.what());
  }
  if (h.counts_len != static_cast<std::uint32_t>(layout.counts_len)) corrupt("counts length does not match layout");
  const std::size_t expected =
      sizeof h + std::size_t{h.counts_len} * 4 + std::size_t{h.overflow_len} * sizeof(OverflowEntry);
  if (h.overflow_len > h.counts_len || size != expected) corrupt("size does not match its header");
  Histogram out(layout);
  const std::uint8_t* p = data + sizeof h;
  std::memcpy(out.counts_.data(), p, std::size_t{h.counts_len} * 4);
  p += std::size_t{h.counts_len} * 4;
  std::int32_t previous = -1;
  for (std::uint32_t i = 0; i < h.overflow_len; ++i) {
    OverflowEntry e;
    std::memcpy(&e, p + i * sizeof e, sizeof e);
    if (e.index <= previous || e.index >= layout.counts_len || e.high == 0) corrupt("bad overflow entry");
    previous = e.index;
    out.overflow_.emplace_back(e.index, e.high);
  }
  std::uint64_t total = 0;
  for (std::int32_t i = 0; i < layout.counts_len; ++i) {
    if (__builtin_add_overflow(total, out.count_at_index(i), &total)) corrupt("counts overflow");
  }
  if (total != h.total_count) corrupt("total count does not match the counts");
  const unsigned __int128 sum = (static_cast<unsigned __int128>(h.sum_high) << 64) | h.sum_low;
  if (total > 0) {
    const std::int64_t top = layout.highest_equivalent_value(layout.highest_trackable_value);
    if (h.min < 0 || h.min > h.max || h.max > top) corrupt("min/max out of range");
    if (sum < static_cast<unsigned __int128>(static_cast<std::uint64_t>(h.min)) * total ||
        sum > static_cast<unsigned __int128>(static_cast<std::uint64_t>(h.max)) * total) {
      corrupt("sum inconsistent with min, max and count");
    }
  } else if (sum != 0) {
    corrupt("non-zero sum with no counts");
  }
  out.total_count_ = total;
  out.rejected_count_ = h.rejected_count;
  out.set_sum(sum);
  out.min_ = total ? h.min : kInt64Max;
  out.max_ = total ? h.max : 0;
  return out;
}

}  // namespace shanraq::hist
