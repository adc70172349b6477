// Seeded latency data shared by the Google Benchmark suite (bench_hist.cpp)
// and the instruction-count driver (icount_hist.cpp), so both time the same
// values.
//
// Why hand-rolled sampling: std::lognormal_distribution's algorithm is left
// to the standard library, so its output differs between libstdc++ and
// libc++; std::mt19937_64 is fully specified, and Box-Muller on top of it
// gives the same latencies on every toolchain.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "shanraq/hist/histogram.hpp"

namespace shanraq::bench {

inline constexpr std::uint64_t kSeed = 20240611;
// Per-call benchmarks index this many values with a mask: a power of two so
// the index is one AND, and 512 KiB so the values stream from L2/L3 through
// the hardware prefetcher rather than costing a miss per record.
inline constexpr std::size_t kRingSize = std::size_t{1} << 16;
inline constexpr std::size_t kRingMask = kRingSize - 1;

// Request latencies in ns: 99% lognormal with median 30 µs (sigma 0.5, so
// 95% fall in 11..80 µs), 1% a slow mode with median 2 ms (sigma 1.0) for a
// realistic tail. Clamped to [1, highest trackable] of the default histogram.
inline std::vector<std::int64_t> make_latencies(std::size_t n, std::uint64_t seed = kSeed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&] {  // (0, 1], 53 random bits
    return (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
  };
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double normal = std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * std::numbers::pi * uniform());
    const bool slow = uniform() < 0.01;
    const double ns = slow ? std::exp(std::log(2.0e6) + 1.0 * normal) : std::exp(std::log(30.0e3) + 0.5 * normal);
    const double clamped = std::fmin(std::fmax(ns, 1.0), static_cast<double>(hist::Histogram::kDefaultHighest));
    out[i] = static_cast<std::int64_t>(clamped);
  }
  return out;
}

// A default histogram holding `n` values from make_latencies: the "realistic"
// operand for add, the codecs and snapshot/restore.
inline hist::Histogram make_realistic_histogram(std::size_t n = 1'000'000) {
  hist::Histogram h;
  const std::vector<std::int64_t> values = make_latencies(n, kSeed + 1);
  h.record_many(values.data(), values.size());
  return h;
}

// A default histogram in which every slot from 0 up to the one holding the
// highest trackable value has a count (seeded, 1..1000): the worst case for a
// percentile scan, which cannot stop early or skip empty space.
inline hist::Histogram make_full_histogram() {
  hist::Histogram h;
  const hist::Layout& l = h.layout();
  const std::int32_t top = l.counts_index_for(l.highest_trackable_value);
  std::mt19937_64 rng(kSeed + 2);
  for (std::int32_t i = 0; i <= top; ++i) {
    h.record(l.value_from_index(i), 1 + rng() % 1000);
  }
  return h;
}

}  // namespace shanraq::bench
