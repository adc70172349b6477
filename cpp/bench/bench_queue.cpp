// Microbenchmarks for the rings (shanraq/queue): records handed between two
// (or three) threads of one process, 64-byte records.
//
// Build and run (docs/perf_queue.md has the figures and the machine):
//   cmake --preset release && cmake --build --preset release -j2
//   build/release/cpp/bench/bench_queue --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// (one command line). Every benchmark reports the median of its repetitions
// first; items_per_second is records/s (round trips/s for RoundTrip).
//
// Pinning: each benchmark pins its threads to distinct CPUs of the process's
// affinity mask (the benchmark thread to the first, the peer threads to the
// next ones), so restricting the mask chooses the cores, e.g.
//   taskset -c 0,1 build/release/cpp/bench/bench_queue ...
// On an SMT machine pick two physical cores (lscpu -e, CORE column). With
// fewer allowed CPUs than threads the benchmarks run unpinned (and measure
// time slicing rather than the ring). MPSC with 2 producers needs 3 threads:
// on a 2-core machine two of them share a core.
//
// Arguments: /0 spin, /1 yield, /2 blocking (WaitStrategy); the "rmw" variants
// force PublishOrdering::kReadModifyWrite, the baseline for the membarrier
// handshake, measured in the same process; "minimal_baseline" is a bare
// rigtorp-style ring, the ceiling for single records on the machine.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "pinning.hpp"
#include "shanraq/queue/ring.hpp"

namespace {

using shanraq::bench::allowed_cpus;
using shanraq::bench::Pin;
using shanraq::queue::MpmcRing;
using shanraq::queue::MpscRing;
using shanraq::queue::PublishOrdering;
using shanraq::queue::SpscRing;
using shanraq::queue::WaitStrategy;
using Clock = std::chrono::steady_clock;

// Records of W 64-bit words: 64 bytes (one cache line, the Python bar's
// size) and 8 bytes (rigtorp's anchor figure moves ints).
template <std::size_t W>
struct RecT {
  std::uint64_t v[W];
};
using Rec64 = RecT<8>;
static_assert(sizeof(Rec64) == 64);

// Records moved per benchmark iteration: long enough (about 10 ms at 100 M/s)
// that starting the peer thread is noise, short enough for repetitions.
constexpr std::uint64_t kPerIteration = 1u << 20;
constexpr std::size_t kCapacity = 4096;
constexpr std::size_t kBatch = 64;

WaitStrategy wait_of(const benchmark::State& state) { return static_cast<WaitStrategy>(state.range(0)); }

// Makes the ring with the membarrier handshake (the default) or the
// read-modify-write baseline.
template <typename Ring, std::size_t W = 8>
Ring make_ring(WaitStrategy w, bool rmw) {
  shanraq::queue::set_membarrier_publication(!rmw);
  Ring ring(sizeof(RecT<W>), kCapacity, w);
  shanraq::queue::set_membarrier_publication(true);
  return ring;
}

// Producer threads push kPerIteration records in total (each its share, as
// single pushes or push_many batches); the benchmark thread pops them and
// checks the sum, so nothing is optimised away and nothing is lost.
template <typename Ring, std::size_t W = 8>
void throughput(benchmark::State& state, int producers, std::size_t batch, bool rmw) {
  using Rec = RecT<W>;
  Ring ring = make_ring<Ring, W>(wait_of(state), rmw);
  const int threads = producers + 1;
  Pin pin(0, threads);
  std::vector<Rec> out(batch);
  for (auto _ : state) {
    const std::uint64_t share = kPerIteration / static_cast<std::uint64_t>(producers);
    std::vector<std::thread> peers;
    for (int p = 0; p < producers; ++p) {
      peers.emplace_back([&, p] {
        Pin peer_pin(1 + p, threads);
        std::vector<Rec> buf(batch);
        const std::uint64_t first = share * static_cast<std::uint64_t>(p);
        for (std::uint64_t i = 0; i < share;) {
          if (batch == 1) {
            Rec r{};
            r.v[0] = first + i;
            ring.push(&r);
            ++i;
          } else {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, share - i));
            for (std::size_t j = 0; j < k; ++j) buf[j].v[0] = first + i + j;
            i += ring.push_many(buf.data(), k);
          }
        }
      });
    }
    const std::uint64_t total = share * static_cast<std::uint64_t>(producers);
    std::uint64_t sum = 0;
    for (std::uint64_t got = 0; got < total;) {
      const std::size_t k = batch == 1 ? (ring.pop(out.data()) ? 1 : 0) : ring.pop_many(out.data(), batch);
      for (std::size_t j = 0; j < k; ++j) sum += out[j].v[0];
      got += k;
    }
    for (auto& t : peers) t.join();
    if (sum != total * (total - 1) / 2) state.SkipWithError("records lost or duplicated");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kPerIteration / static_cast<std::uint64_t>(producers) *
                                                    static_cast<std::uint64_t>(producers)));
  state.counters["membarrier"] = ring.publish_ordering() == PublishOrdering::kMembarrier ? 1 : 0;
}

// Baseline: the least an SPSC ring of 64-byte records can do on this machine,
// a rigtorp-style ring with cached indices and nothing else (no close, no
// waiting, no wake-ups, no process checks), driven by try-loops. Our rings are
// measured against it in the same process: the gap is what our features cost.
template <std::size_t W = 8>
class MinimalSpsc {
 public:
  using Rec = RecT<W>;
  bool try_push(const Rec& r) noexcept {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ == kCapacity) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ == kCapacity) return false;
    }
    slots_[t % kCapacity] = r;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  bool try_pop(Rec& r) noexcept {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    r = slots_[h % kCapacity];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(128) std::atomic<std::size_t> tail_{0};
  alignas(128) std::size_t head_cache_ = 0;
  alignas(128) std::atomic<std::size_t> head_{0};
  alignas(128) std::size_t tail_cache_ = 0;
  alignas(128) std::array<Rec, kCapacity> slots_{};
};

template <std::size_t W>
void minimal_baseline(benchmark::State& state) {
  using Rec = RecT<W>;
  auto ring = std::make_unique<MinimalSpsc<W>>();
  Pin pin(0, 2);
  for (auto _ : state) {
    std::thread producer([&] {
      Pin peer_pin(1, 2);
      for (std::uint64_t i = 0; i < kPerIteration; ++i) {
        Rec r{};
        r.v[0] = i;
        while (!ring->try_push(r)) {
        }
      }
    });
    std::uint64_t sum = 0;
    Rec out{};
    for (std::uint64_t got = 0; got < kPerIteration; ++got) {
      while (!ring->try_pop(out)) {
      }
      sum += out.v[0];
    }
    producer.join();
    if (sum != kPerIteration * (kPerIteration - 1) / 2) state.SkipWithError("records lost or duplicated");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPerIteration));
}

void BM_Spsc_single_minimal_baseline(benchmark::State& state) { minimal_baseline<8>(state); }
void BM_Spsc_single8_minimal_baseline(benchmark::State& state) { minimal_baseline<1>(state); }
void BM_Spsc_single(benchmark::State& state) { throughput<SpscRing>(state, 1, 1, false); }
void BM_Spsc_single8(benchmark::State& state) { throughput<SpscRing, 1>(state, 1, 1, false); }
void BM_Spsc_single_rmw(benchmark::State& state) { throughput<SpscRing>(state, 1, 1, true); }
void BM_Spsc_batch64(benchmark::State& state) { throughput<SpscRing>(state, 1, kBatch, false); }
void BM_Mpsc2_single(benchmark::State& state) { throughput<MpscRing>(state, 2, 1, false); }
void BM_Mpsc2_batch64(benchmark::State& state) { throughput<MpscRing>(state, 2, kBatch, false); }
// MPMC with one producer and one consumer: what claiming by compare-exchange
// on both sides costs next to SPSC and MPSC on the same two cores.
void BM_Mpmc1_single(benchmark::State& state) { throughput<MpmcRing>(state, 1, 1, false); }
void BM_Mpmc1_batch64(benchmark::State& state) { throughput<MpmcRing>(state, 1, kBatch, false); }

// One record there and back through two SPSC rings, echoed by a peer thread.
// Each iteration times kRoundTrips round trips one by one (one steady_clock
// read each, included; its cost is in docs/perf_queue.md) and reports their
// mean as the iteration time, and the p50/p99/p99.9 of the last iteration as
// counters.
void BM_RoundTrip(benchmark::State& state) {
  constexpr int kRoundTrips = 100'000;
  const WaitStrategy w = wait_of(state);
  SpscRing there(sizeof(Rec64), 64, w);
  SpscRing back(sizeof(Rec64), 64, w);
  Pin pin(0, 2);
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    Pin peer_pin(1, 2);
    Rec64 r{};
    for (;;) {
      if (there.pop(&r, std::chrono::milliseconds(1))) {
        back.push(&r);
      } else if (stop.load(std::memory_order_acquire)) {
        return;
      }
    }
  });
  std::vector<double> rt(kRoundTrips);
  Rec64 r{};
  for (auto _ : state) {
    const auto start = Clock::now();
    auto t0 = start;
    for (int i = 0; i < kRoundTrips; ++i) {
      r.v[0] = static_cast<std::uint64_t>(i);
      there.push(&r);
      back.pop(&r);
      const auto t1 = Clock::now();
      rt[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::nano>(t1 - t0).count();
      t0 = t1;
    }
    state.SetIterationTime(std::chrono::duration<double>(t0 - start).count() / kRoundTrips);
  }
  stop.store(true, std::memory_order_release);
  echo.join();
  std::sort(rt.begin(), rt.end());
  auto pct = [&](double p) { return rt[static_cast<std::size_t>(p / 100.0 * static_cast<double>(rt.size() - 1))]; };
  state.counters["p50_ns"] = pct(50);
  state.counters["p99_ns"] = pct(99);
  state.counters["p99.9_ns"] = pct(99.9);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void wait_args(benchmark::internal::Benchmark* b) {
  b->ArgName("wait");
  for (int w : {0, 1, 2}) b->Arg(w);
}

}  // namespace

BENCHMARK(BM_Spsc_single_minimal_baseline)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Spsc_single)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Spsc_single8_minimal_baseline)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Spsc_single8)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Spsc_single_rmw)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Spsc_batch64)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mpsc2_single)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mpsc2_batch64)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mpmc1_single)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mpmc1_batch64)->Apply(wait_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RoundTrip)->Apply(wait_args)->UseManualTime()->Iterations(1)->Unit(benchmark::kNanosecond);

int main(int argc, char** argv) {
  allowed_cpus();  // before any benchmark pins the main thread
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
