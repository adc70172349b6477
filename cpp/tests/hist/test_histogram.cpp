#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "shanraq/hist/histogram.hpp"

using shanraq::hist::Histogram;
using shanraq::hist::Layout;
using shanraq::hist::ValueOutOfRange;

namespace {

// Exact percentile by HdrHistogram's rank rule, from sorted data.
std::int64_t exact_percentile(std::vector<std::int64_t> data, double p) {
  std::sort(data.begin(), data.end());
  auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(data.size()) + 0.5);
  rank = std::clamp<std::uint64_t>(rank, 1, data.size());
  return data[rank - 1];
}

}  // namespace

TEST(Layout, DefaultMatchesHdrHistogram) {
  const Layout l = Layout::make(1, 3'600'000'000'000, 3);
  EXPECT_EQ(l.sub_bucket_count, 2048);
  EXPECT_EQ(l.sub_bucket_half_count, 1024);
  EXPECT_EQ(l.unit_magnitude, 0);
  EXPECT_EQ(l.bucket_count, 32);
  EXPECT_EQ(l.counts_len, 33 * 1024);
}

TEST(Layout, RejectsImpossibleConfigurations) {
  EXPECT_THROW(Layout::make(0, 100, 3), std::invalid_argument);
  EXPECT_THROW(Layout::make(1, 100, 0), std::invalid_argument);
  EXPECT_THROW(Layout::make(1, 100, 6), std::invalid_argument);
  EXPECT_THROW(Layout::make(100, 150, 3), std::invalid_argument);
}

TEST(Layout, EquivalentValueRanges) {
  const Layout l = Layout::make(1, 3'600'000'000'000, 3);
  // Below 2048 every value has its own slot.
  EXPECT_EQ(l.size_of_equivalent_value_range(1), 1);
  EXPECT_EQ(l.size_of_equivalent_value_range(2047), 1);
  EXPECT_EQ(l.size_of_equivalent_value_range(2048), 2);
  EXPECT_EQ(l.lowest_equivalent_value(10007), 10000);
  EXPECT_EQ(l.highest_equivalent_value(10007), 10007);
  EXPECT_EQ(l.lowest_equivalent_value(8193), 8192);
  EXPECT_EQ(l.highest_equivalent_value(8193), 8199);
  for (std::int64_t v : {0LL, 1LL, 1000LL, 2047LL, 2048LL, 123456789LL, 3'600'000'000'000LL}) {
    const std::int32_t i = l.counts_index_for(v);
    EXPECT_LE(l.value_from_index(i), v);
    EXPECT_EQ(l.value_from_index(i), l.lowest_equivalent_value(v));
    EXPECT_LT(i, l.counts_len);
  }
}

TEST(Histogram, DefaultFitsIn200KB) {
  const Histogram h;
  EXPECT_LE(h.memory_size(), 200u * 1000u);
}

TEST(Histogram, RecordsAndReportsExactStats) {
  Histogram h;
  for (std::int64_t v : {5, 1000, 1000, 123456, 7}) h.record(v);
  EXPECT_EQ(h.total_count(), 5u);
  EXPECT_EQ(h.min(), 5);
  EXPECT_EQ(h.max(), 123456);
  EXPECT_DOUBLE_EQ(h.mean(), (5 + 1000 + 1000 + 123456 + 7) / 5.0);
  EXPECT_EQ(h.count_at_value(1000), 2u);
  EXPECT_EQ(h.value_at_percentile(50), 1000);
  EXPECT_EQ(h.value_at_percentile(0), 5);
  EXPECT_EQ(h.value_at_percentile(100), h.layout().highest_equivalent_value(123456));
}

TEST(Histogram, OutOfRangeIsRejectedAndChangesNothing) {
  Histogram h(1, 1000, 2);
  h.record(10);
  const Histogram before = h;
  EXPECT_THROW(h.record(-1), ValueOutOfRange);
  EXPECT_THROW(h.record(1001), ValueOutOfRange);
  EXPECT_FALSE(h.try_record(INT64_MIN));
  EXPECT_TRUE(h == before);
  h.record(1000);
  EXPECT_EQ(h.max(), 1000);
}

TEST(Histogram, EmptyHistogramQueriesAreZero) {
  const Histogram h;
  EXPECT_EQ(h.total_count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stdev(), 0.0);
  EXPECT_EQ(h.value_at_percentile(99), 0);
}

TEST(Histogram, PercentileValidation) {
  Histogram h;
  h.record(1);
  EXPECT_THROW(h.value_at_percentile(-0.1), std::invalid_argument);
  EXPECT_THROW(h.value_at_percentile(100.01), std::invalid_argument);
  EXPECT_THROW(h.value_at_percentile(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
}

TEST(Histogram, PercentilesWithinPrecisionOfExact) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(9.0, 1.5);
  for (int digits = 1; digits <= 5; ++digits) {
    Histogram h(1, 3'600'000'000'000, digits);
    std::vector<std::int64_t> data;
    for (int i = 0; i < 20000; ++i) {
      const auto v = static_cast<std::int64_t>(dist(rng));
      data.push_back(v);
      h.record(v);
    }
    double tolerance = 1.0;
    for (int d = 0; d < digits; ++d) tolerance /= 10.0;
    const std::vector<double> ps = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
    std::vector<std::int64_t> batch(ps.size());
    h.values_at_percentiles(ps.data(), ps.size(), batch.data());
    for (std::size_t k = 0; k < ps.size(); ++k) {
      const std::int64_t exact = exact_percentile(data, ps[k]);
      const std::int64_t got = h.value_at_percentile(ps[k]);
      EXPECT_EQ(got, batch[k]);
      EXPECT_LE(std::abs(static_cast<double>(got - exact)), static_cast<double>(exact) * tolerance + 1.0)
          << "digits=" << digits << " p=" << ps[k];
    }
  }
}

TEST(Histogram, RecordManyEqualsRecordLoopAndCountsRejects) {
  std::vector<std::int64_t> values = {1, 2, 3, -5, 100, 4'000'000'000'000, 2048, 2049, 99999};
  Histogram a;
  Histogram b;
  EXPECT_EQ(a.record_many(values.data(), values.size()), 2u);
  for (auto v : values) b.try_record(v);
  EXPECT_EQ(a.total_count(), b.total_count());
  EXPECT_EQ(a.rejected_count(), 2u);
  for (std::int32_t i = 0; i < a.counts_len(); ++i) ASSERT_EQ(a.count_at_index(i), b.count_at_index(i));
  EXPECT_EQ(a.min(), 1);
  EXPECT_EQ(a.max(), 99999);
  std::vector<std::uint64_t> big = {UINT64_MAX, 10};
  Histogram c;
  EXPECT_EQ(c.record_many(big.data(), big.size()), 1u);
  EXPECT_EQ(c.total_count(), 1u);
}

TEST(Histogram, SlotOverflowCarriesPast32Bits) {
  Histogram h;
  h.record(100, 0xffffffffULL);
  h.record(100, 5);
  h.record(100, 0x300000000ULL);
  EXPECT_EQ(h.count_at_value(100), 0xffffffffULL + 5 + 0x300000000ULL);
  EXPECT_EQ(h.total_count(), 0xffffffffULL + 5 + 0x300000000ULL);
  std::vector<std::int64_t> one = {100};
  h.record_many(one.data(), 1);
  EXPECT_EQ(h.count_at_value(100), 0xffffffffULL + 6 + 0x300000000ULL);
  EXPECT_EQ(h.value_at_percentile(50), 100);
  Histogram copy = Histogram::restore(reinterpret_cast<const std::uint8_t*>(h.snapshot().data()), h.snapshot().size());
  EXPECT_TRUE(copy == h);
  h.add(copy);
  EXPECT_EQ(h.count_at_value(100), 2 * (0xffffffffULL + 6 + 0x300000000ULL));
}

TEST(Histogram, TotalCountOverflowThrowsAndChangesNothing) {
  Histogram h;
  h.record(1, UINT64_MAX - 1);
  EXPECT_THROW(h.record(2, 2), std::overflow_error);
  EXPECT_EQ(h.total_count(), UINT64_MAX - 1);
  EXPECT_EQ(h.count_at_value(2), 0u);
}

TEST(Histogram, RecordCorrectedMatchesNaiveLoop) {
  for (std::int64_t interval : {1LL, 7LL, 100LL, 1000LL, 5000LL}) {
    for (std::int64_t value : {50LL, 999LL, 10007LL, 123457LL}) {
      Histogram fast;
      Histogram naive;
      fast.record_corrected(value, interval, 3);
      naive.record(value, 3);
      for (std::int64_t missing = value - interval; interval > 0 && value > interval && missing >= interval;
           missing -= interval) {
        naive.record(missing, 3);
      }
      ASSERT_TRUE(fast == naive) << "value=" << value << " interval=" << interval;
    }
  }
}

TEST(Histogram, RecordCorrectedHugeValueIsFast) {
  Histogram h;
  h.record_corrected(3'600'000'000'000, 1);
  EXPECT_EQ(h.total_count(), 3'600'000'000'000ULL);
  EXPECT_EQ(h.min(), 1);
}

TEST(Histogram, AddSameLayoutEqualsRecordingEverything) {
  Histogram a;
  Histogram b;
  Histogram all;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const auto v = static_cast<std::int64_t>(rng() % 10'000'000);
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.add(b);
  EXPECT_TRUE(a == all);
  a.add(a);
  EXPECT_EQ(a.total_count(), 2 * all.total_count());
}

TEST(Histogram, AddDifferentLayout) {
  Histogram coarse(1, 1'000'000, 2);
  Histogram fine(1, 3'600'000'000'000, 3);
  coarse.record(123456, 4);
  fine.add(coarse);
  EXPECT_EQ(fine.total_count(), 4u);
  // Statistics follow the values re-recorded: the coarse slot's lowest value.
  EXPECT_EQ(fine.max(), coarse.layout().lowest_equivalent_value(123456));
  EXPECT_EQ(fine.value_at_percentile(100), fine.layout().highest_equivalent_value(fine.max()));
  Histogram small(1, 1000, 2);
  EXPECT_THROW(small.add(fine), std::invalid_argument);
  EXPECT_EQ(small.total_count(), 0u);
}

TEST(Histogram, SnapshotRoundTripAndCorruption) {
  Histogram h(10, 1'000'000'000, 4);
  for (int i = 0; i < 1000; ++i) h.record(i * 997);
  const std::string snap = h.snapshot();
  const auto* p = reinterpret_cast<const std::uint8_t*>(snap.data());
  EXPECT_TRUE(Histogram::restore(p, snap.size()) == h);
  EXPECT_THROW(Histogram::restore(p, snap.size() - 1), std::invalid_argument);
  EXPECT_THROW(Histogram::restore(p, 10), std::invalid_argument);
  std::string bad = snap;
  bad[100] = static_cast<char>(bad[100] + 1);  // change a count: total mismatch
  EXPECT_THROW(Histogram::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()),
               std::invalid_argument);
  bad = snap;
  bad[0] = 'X';
  EXPECT_THROW(Histogram::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()),
               std::invalid_argument);
}

TEST(Histogram, RecordedSlotsAndCountBetween) {
  Histogram h;
  h.record(10, 2);
  h.record(10000, 3);
  ASSERT_EQ(h.recorded_slot_count(), 2u);
  std::int64_t values[2];
  std::uint64_t counts[2];
  h.recorded_slots(values, counts);
  EXPECT_EQ(values[0], 10);
  EXPECT_EQ(counts[0], 2u);
  EXPECT_EQ(values[1], h.layout().highest_equivalent_value(10000));
  EXPECT_EQ(counts[1], 3u);
  EXPECT_EQ(h.count_between_values(0, 100), 2u);
  EXPECT_EQ(h.count_between_values(0, 10000), 5u);
  h.reset();
  EXPECT_EQ(h.total_count(), 0u);
  EXPECT_EQ(h.recorded_slot_count(), 0u);
}
