// Instruction counts for the histogram's hot paths, under Callgrind: a
// figure that, unlike wall time, does not move with the machine's load or
// clock. Each kernel is a noinline function running a fixed number of
// operations over the same seeded data as bench_hist, and Callgrind counts
// only inside it:
//
//   valgrind --tool=callgrind --callgrind-out-file=callgrind.icount
//       --toggle-collect='icount_*' build/release/cpp/bench/icount_hist
// (one command line)
//   callgrind_annotate --inclusive=yes callgrind.icount | grep icount_
//
// then divide each kernel's inclusive Ir by the operation count printed
// below. Run natively, it just executes the kernels (a smoke test).
#include <array>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "bench_data.hpp"
#include "shanraq/common/platform.hpp"
#include "shanraq/hist/histogram.hpp"
#include "shanraq/hist/recorder.hpp"

namespace {

using shanraq::bench::kRingMask;
using shanraq::hist::Histogram;

constexpr std::size_t kRecordOps = 1'000'000;
constexpr std::size_t kManyValues = 1'000'000;
constexpr std::size_t kPercentileOps = 100;

// The compiler barrier of benchmark::ClobberMemory(), so this loop is the
// loop bench_hist times: every record goes through memory.
inline void clobber_memory() { asm volatile("" : : : "memory"); }

}  // namespace

// extern "C" and external linkage keep the names plain (no mangling, no
// .constprop clones) for --toggle-collect.
extern "C" SHANRAQ_NOINLINE void icount_record(Histogram& h, const std::int64_t* values, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h.record(values[i & kRingMask]);
    clobber_memory();
  }
}

extern "C" SHANRAQ_NOINLINE void icount_record_many(Histogram& h, const std::int64_t* values, std::size_t n) {
  h.record_many(values, n);
  clobber_memory();
}

extern "C" SHANRAQ_NOINLINE void icount_values_at_percentiles(const Histogram& h, std::size_t n, std::int64_t* out) {
  static constexpr std::array<double, 4> kPercentiles{50.0, 90.0, 99.0, 99.9};
  for (std::size_t i = 0; i < n; ++i) {
    h.values_at_percentiles(kPercentiles.data(), kPercentiles.size(), out);
    clobber_memory();
  }
}

extern "C" SHANRAQ_NOINLINE void icount_recorder_try_record(shanraq::hist::Recorder& rec, const std::int64_t* values,
                                                            std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    rec.try_record(values[i & kRingMask]);
  }
}

int main() {
  const std::vector<std::int64_t> ring = shanraq::bench::make_latencies(shanraq::bench::kRingSize);
  const std::vector<std::int64_t> many = shanraq::bench::make_latencies(kManyValues, shanraq::bench::kSeed + 3);
  const Histogram full = shanraq::bench::make_full_histogram();

  Histogram h;
  icount_record(h, ring.data(), kRecordOps);
  Histogram h2;
  icount_record_many(h2, many.data(), many.size());
  std::array<std::int64_t, 4> out{};
  icount_values_at_percentiles(full, kPercentileOps, out.data());
  shanraq::hist::Recorder rec;
  icount_recorder_try_record(rec, ring.data(), kRecordOps);

  std::printf("icount_record: %zu records (total %llu)\n", kRecordOps,
              static_cast<unsigned long long>(h.total_count()));
  std::printf("icount_record_many: %zu values (total %llu)\n", many.size(),
              static_cast<unsigned long long>(h2.total_count()));
  std::printf("icount_values_at_percentiles: %zu calls of 4 percentiles (p50=%lld p99.9=%lld)\n", kPercentileOps,
              static_cast<long long>(out[0]), static_cast<long long>(out[3]));
  std::printf("icount_recorder_try_record: %zu records\n", kRecordOps);
  return 0;
}
