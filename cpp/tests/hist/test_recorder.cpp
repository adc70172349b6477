// Concurrency tests: run under ThreadSanitizer in the tsan preset. Threads
// are few and every wait backs off, so they stay quick on a loaded 2-core box.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "shanraq/hist/recorder.hpp"

using namespace shanraq::hist;

TEST(Recorder, IntervalsPartitionEveryRecordExactlyOnce) {
  Recorder rec(1, 1'000'000'000, 3);
  constexpr int kWriters = 3;
  constexpr int kPerWriter = 60000;
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        // Distinct values 8 apart, each alone in its slot, so per-value totals are checkable.
        rec.record(1000 * (w + 1) + 8 * (i % 7));
        if (i % 1000 == 0) std::this_thread::yield();
      }
      done.fetch_add(1);
    });
  }
  Histogram total(rec.layout());
  Histogram interval(rec.layout());
  int intervals = 0;
  while (done.load() < kWriters) {
    rec.interval_histogram(interval);
    total.add(interval);
    ++intervals;
    std::this_thread::yield();
  }
  for (auto& t : writers) t.join();
  rec.interval_histogram(interval);
  total.add(interval);
  EXPECT_GT(intervals, 0);
  EXPECT_EQ(total.total_count(), static_cast<std::uint64_t>(kWriters) * kPerWriter);
  for (int w = 0; w < kWriters; ++w) {
    for (int r = 0; r < 7; ++r) {
      const std::uint64_t expected = kPerWriter / 7 + (r < kPerWriter % 7 ? 1 : 0);
      EXPECT_EQ(total.count_at_value(1000 * (w + 1) + 8 * r), expected);
    }
  }
  EXPECT_EQ(total.min(), 1000);
  EXPECT_EQ(total.max(), 1000 * kWriters + 48);
  rec.interval_histogram(interval);
  EXPECT_EQ(interval.total_count(), 0u);
}

TEST(Recorder, RecordManyAndRejects) {
  Recorder rec(1, 1000, 2);
  const std::vector<std::int64_t> values = {1, 2, 5000, -1, 7};
  EXPECT_EQ(rec.record_many(values.data(), values.size()), 2u);
  EXPECT_THROW(rec.record(1001), ValueOutOfRange);
  Histogram out(rec.layout());
  rec.interval_histogram(out);
  EXPECT_EQ(out.total_count(), 3u);
  EXPECT_EQ(out.min(), 1);
  EXPECT_EQ(out.max(), 7);
  Histogram wrong(1, 2000, 2);
  EXPECT_THROW(rec.interval_histogram(wrong), std::invalid_argument);
}

TEST(Recorder, SlotOverflowIsRefusedNotWrapped) {
  Recorder rec(1, 1000, 2);
  rec.record(9, UINT64_MAX - 1);
  EXPECT_EQ(rec.try_record(9, 2), RecordStatus::kOverflow);
  EXPECT_THROW(rec.record(9, 2), std::overflow_error);
  rec.record(9, 1);
  Histogram out(rec.layout());
  rec.interval_histogram(out);
  EXPECT_EQ(out.count_at_value(9), UINT64_MAX);
}

TEST(Recorder, ConcurrentReadersAreSerialised) {
  Recorder rec;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) rec.record(i % 500 + 1);
    stop.store(true);
  });
  std::atomic<std::uint64_t> seen{0};
  auto reader = [&] {
    Histogram h(rec.layout());
    while (!stop.load()) {
      rec.interval_histogram(h);
      seen.fetch_add(h.total_count());
      std::this_thread::yield();
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  writer.join();
  r1.join();
  r2.join();
  Histogram h(rec.layout());
  rec.interval_histogram(h);
  EXPECT_EQ(seen.load() + h.total_count(), 20000u);
}
