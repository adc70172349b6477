// Microbenchmarks for the latency histogram (shanraq/hist).
//
// Build and run (docs/performance.md has the figures and the machine):
//   cmake --preset release && cmake --build --preset release -j2
//   build/release/cpp/bench/bench_hist --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true --benchmark_min_time=0.2
// (one command line)
// (Google Benchmark 1.7.1 takes --benchmark_min_time in plain seconds; from
// 1.8 it also accepts "0.2s" or an iteration count "1000x".)
//
// Pinning: the suite pins nothing itself. For steadier numbers run it on a
// fixed core, away from core 0 where most interrupts land, e.g.
//   taskset -c 1 build/release/cpp/bench/bench_hist ...
// and give the two-thread Recorder benchmark two cores of its own with
//   taskset -c 0,1 build/release/cpp/bench/bench_hist --benchmark_filter=Recorder
// (on an SMT machine, pick two physical cores, not siblings; lscpu -e shows
// the CORE column). Setting the governor to performance
// (cpupower frequency-set -g performance) removes frequency ramp-up.
//
// Data: every benchmark reads pre-generated, seeded latencies
// (bench_data.hpp), so the random generator is never timed. Per-call
// benchmarks index a 64 Ki-value ring with a mask.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "shanraq/hist/codec.hpp"
#include "shanraq/hist/histogram.hpp"
#include "shanraq/hist/recorder.hpp"

namespace {

using shanraq::bench::kRingMask;
using shanraq::bench::kRingSize;
using shanraq::hist::Histogram;
using shanraq::hist::Recorder;

constexpr std::size_t kManyValues = 10'000'000;

// Built on first use, outside any timed region; function-local statics so
// that a --benchmark_filter run builds only what it needs.
const std::vector<std::int64_t>& ring() {
  static const std::vector<std::int64_t> values = shanraq::bench::make_latencies(kRingSize);
  return values;
}

const std::vector<std::int64_t>& many() {
  static const std::vector<std::int64_t> values =
      shanraq::bench::make_latencies(kManyValues, shanraq::bench::kSeed + 3);
  return values;
}

const Histogram& realistic() {
  static const Histogram h = shanraq::bench::make_realistic_histogram();
  return h;
}

const Histogram& full() {
  static const Histogram h = shanraq::bench::make_full_histogram();
  return h;
}

// ---- recording ------------------------------------------------------------------

// One record per iteration, as a service records one latency per request.
// The histogram's address escapes (DoNotOptimize(&h)) and ClobberMemory()
// ends every iteration, so each record loads and stores the histogram's
// fields in memory as a real, separate call does; without it the compiler
// keeps total, sum, min and max in registers across the loop, which no
// caller gets.
void BM_Histogram_record(benchmark::State& state) {
  const std::int64_t* values = ring().data();
  Histogram h;
  benchmark::DoNotOptimize(&h);
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(values[i & kRingMask]);
    ++i;
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (h.total_count() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost records");
}
BENCHMARK(BM_Histogram_record);

// try_record: the same work without the throwing wrapper; its bool result is
// consumed so the range check cannot be dropped.
void BM_Histogram_try_record(benchmark::State& state) {
  const std::int64_t* values = ring().data();
  Histogram h;
  benchmark::DoNotOptimize(&h);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.try_record(values[i & kRingMask]));
    ++i;
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Histogram_try_record);

// 10 million values per call. The items_per_second counter gives the rate;
// ns_per_value is its inverse (seconds per value, printed with an SI prefix,
// so "1.2n" reads 1.2 ns per value).
void BM_Histogram_record_many(benchmark::State& state) {
  const std::vector<std::int64_t>& values = many();
  Histogram h;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.record_many(values.data(), values.size()));
    benchmark::ClobberMemory();
  }
  const auto items = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(values.size());
  state.SetItemsProcessed(items);
  state.counters["ns_per_value"] = benchmark::Counter(
      static_cast<double>(values.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  if (h.total_count() != static_cast<std::uint64_t>(items)) state.SkipWithError("lost records");
}
BENCHMARK(BM_Histogram_record_many)->Unit(benchmark::kMillisecond);

// ---- queries --------------------------------------------------------------------

void BM_Histogram_values_at_percentiles_full(benchmark::State& state) {
  const Histogram& h = full();
  static constexpr std::array<double, 4> kPercentiles{50.0, 90.0, 99.0, 99.9};
  std::array<std::int64_t, 4> out{};
  for (auto _ : state) {
    h.values_at_percentiles(kPercentiles.data(), kPercentiles.size(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Histogram_values_at_percentiles_full)->Unit(benchmark::kMicrosecond);

// The same four percentiles on a histogram of 1 M realistic latencies: the
// everyday case, where the scan stops at the p99.9 slot.
void BM_Histogram_values_at_percentiles_realistic(benchmark::State& state) {
  const Histogram& h = realistic();
  static constexpr std::array<double, 4> kPercentiles{50.0, 90.0, 99.0, 99.9};
  std::array<std::int64_t, 4> out{};
  for (auto _ : state) {
    h.values_at_percentiles(kPercentiles.data(), kPercentiles.size(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Histogram_values_at_percentiles_realistic)->Unit(benchmark::kMicrosecond);

void BM_Histogram_value_at_percentile(benchmark::State& state, const Histogram& (*histogram)(), double percentile) {
  const Histogram& h = histogram();
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.value_at_percentile(percentile));
  }
}
BENCHMARK_CAPTURE(BM_Histogram_value_at_percentile, full_p99_9, full, 99.9)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Histogram_value_at_percentile, realistic_p99, realistic, 99.0)->Unit(benchmark::kMicrosecond);

// ---- whole-histogram operations ---------------------------------------------------

// Same-layout add: the slot-by-slot loop over all 33,792 slots of the default
// layout. The target keeps growing; its hottest slot would need millions of
// iterations to reach the 32-bit overflow path.
void BM_Histogram_add(benchmark::State& state) {
  const Histogram& other = realistic();
  Histogram h = realistic();
  for (auto _ : state) {
    h.add(other);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.total_count());
}
BENCHMARK(BM_Histogram_add)->Unit(benchmark::kMicrosecond);

void BM_encode_v2_payload(benchmark::State& state) {
  const Histogram& h = realistic();
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string payload = shanraq::hist::encode_v2_payload(h);
    benchmark::DoNotOptimize(payload.data());
    bytes = payload.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["payload_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_encode_v2_payload)->Unit(benchmark::kMicrosecond);

void BM_decode_v2_payload(benchmark::State& state) {
  const std::string payload = shanraq::hist::encode_v2_payload(realistic());
  const auto* data = reinterpret_cast<const std::uint8_t*>(payload.data());
  for (auto _ : state) {
    const Histogram h = shanraq::hist::decode_v2_payload(data, payload.size());
    benchmark::DoNotOptimize(h.total_count());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
  if (shanraq::hist::decode_v2_payload(data, payload.size()).total_count() != realistic().total_count()) {
    state.SkipWithError("round trip lost counts");
  }
}
BENCHMARK(BM_decode_v2_payload)->Unit(benchmark::kMicrosecond);

void BM_Histogram_snapshot(benchmark::State& state) {
  const Histogram& h = realistic();
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string snap = h.snapshot();
    benchmark::DoNotOptimize(snap.data());
    bytes = snap.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Histogram_snapshot)->Unit(benchmark::kMicrosecond);

void BM_Histogram_restore(benchmark::State& state) {
  const std::string snap = realistic().snapshot();
  const auto* data = reinterpret_cast<const std::uint8_t*>(snap.data());
  for (auto _ : state) {
    const Histogram h = Histogram::restore(data, snap.size());
    benchmark::DoNotOptimize(h.total_count());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * snap.size()));
  if (!(Histogram::restore(data, snap.size()) == realistic())) state.SkipWithError("restore is not bit-identical");
}
BENCHMARK(BM_Histogram_restore)->Unit(benchmark::kMicrosecond);

// ---- Recorder ---------------------------------------------------------------------

// One writer, no reader: the uncontended cost of the phaser's two atomic
// increments plus the slot's atomic add.
void BM_Recorder_try_record(benchmark::State& state) {
  const std::int64_t* values = ring().data();
  Recorder rec;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rec.try_record(values[i & kRingMask]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Recorder_try_record);

// Two writers on one Recorder: both increment the phaser's epochs, so those
// cache lines move between cores on every record. With UseRealTime, Google
// Benchmark reports wall time divided by the iterations of both threads, i.e.
// the time per record at the combined rate (items_per_second); each thread's
// own record takes twice that. The figure is only meaningful when the two
// threads really run on two cores: time-sliced on one core (taskset -c 1, or
// the other core busy) they never contend and it falls to the one-thread
// cost. The recorder is shared by every repetition (a function-local static,
// built in main before any thread starts).
Recorder& shared_recorder() {
  static Recorder rec;
  return rec;
}

void BM_Recorder_try_record_shared(benchmark::State& state) {
  const std::int64_t* values = ring().data();
  Recorder& rec = shared_recorder();
  // Each thread walks its own half of the ring.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kRingSize / 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(rec.try_record(values[i & kRingMask]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Recorder_try_record_shared)->Threads(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // Build the shared data before any benchmark (and any thread) runs.
  ring();
  shared_recorder();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
