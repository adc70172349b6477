// Matching engine benchmarks (shanraq/book).
//
//   cmake --preset release && cmake --build build/release -j2 --target bench_book
//   build/release/cpp/bench/bench_book --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Workloads:
// * exchange-core's: one symbol, ~1,000 resting orders over ~750 price levels,
//   1,000 accounts, commands 9% GTC limit, 3% IOC, 6% cancel, 82% move (amend
//   price), fixed seed. Batch throughput (process) and per-command latency
//   (each apply timed with the monotonic clock into an HdrHistogram-class
//   histogram; the figures include one clock read, ~20 ns, reported as
//   timer_ns).
// * many symbols: 1,000 symbols x 1,000 resting orders (1M), Zipf(1.0) symbol
//   activity, the same command mix; plus resident memory per resting order.
// * microbenchmarks: add, cancel, amend (move and quantity), add + match.
//
// Pinning: none; on this shared 2-core machine run with `taskset -c 1` for
// steadier numbers and compare medians of repetitions.
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "book_workload.hpp"
#include "shanraq/book/engine.hpp"
#include "shanraq/common/clock.hpp"
#include "shanraq/hist/histogram.hpp"

using namespace shanraq::book;
using namespace shanraq::bench;

namespace {

const Workload& exchange_core() {
  static const Workload w = make_workload(1, 1000, 3'000'000, 0.0);
  return w;
}

const Workload& many_symbols() {
  static const Workload w = make_workload(1000, 1000, 2'000'000, 1.0);
  return w;
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

void run_batch(benchmark::State& state, const Workload& w, std::uint32_t per_symbol) {
  std::int64_t cpu_ns = 0;
  std::vector<Event> out;
  out.reserve(w.run.size() * 3);
  for (auto _ : state) {
    MatchingEngine e(config_for(w.symbols, w.symbols * per_symbol));
    add_symbols(e, w.symbols);
    e.process(w.fill.data(), w.fill.size(), out);
    out.clear();
    const std::int64_t c0 = thread_cpu_ns();
    const std::int64_t t0 = shanraq::monotonic_ns();
    e.process(w.run.data(), w.run.size(), out);
    const std::int64_t t1 = shanraq::monotonic_ns();
    cpu_ns += thread_cpu_ns() - c0;
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    state.counters["resting"] = static_cast<double>(e.live_orders());
    state.counters["levels"] = static_cast<double>(e.level_count());
    state.counters["events_per_cmd"] = static_cast<double>(out.size()) / static_cast<double>(w.run.size());
    out.clear();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(w.run.size()));
  // Commands per second of this thread's CPU time: on a shared machine the
  // wall clock also counts the time other processes held the core.
  state.counters["cpu_items_per_second"] = static_cast<double>(state.iterations()) * static_cast<double>(w.run.size()) /
                                           (static_cast<double>(cpu_ns) * 1e-9);
}

void BM_ExchangeCore_Batch(benchmark::State& state) { run_batch(state, exchange_core(), 1000); }
BENCHMARK(BM_ExchangeCore_Batch)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ManySymbols_Batch(benchmark::State& state) {
  const Workload& w = many_symbols();
  run_batch(state, w, 1000);
}
BENCHMARK(BM_ManySymbols_Batch)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);

// Resident memory per resting order with 1M orders resting over 1,000
// symbols, the engine sized by its defaults (2^20 orders, 2^20 remembered ids:
// a 4M-slot id index) plus room for the levels.
void BM_ManySymbols_Memory(benchmark::State& state) {
  const Workload& w = many_symbols();
  for (auto _ : state) {
    const long before = rss_bytes();
    EngineConfig cfg;
    cfg.max_symbols = w.symbols;
    cfg.max_levels = 1U << 21;
    MatchingEngine e(cfg);
    add_symbols(e, w.symbols);
    std::vector<Event> out;
    out.reserve(w.fill.size() * 2);
    const long with_engine = rss_bytes();
    e.process(w.fill.data(), w.fill.size(), out);
    std::vector<Event>().swap(out);
    const long filled = rss_bytes();
    state.counters["rss_per_order_B"] =
        static_cast<double>(filled - with_engine) / static_cast<double>(e.live_orders());
    state.counters["rss_engine_MB"] = static_cast<double>(filled - before) / 1e6;
    state.counters["reserved_MB"] = static_cast<double>(e.memory_reserved()) / 1e6;
    state.counters["resting"] = static_cast<double>(e.live_orders());
    state.counters["levels"] = static_cast<double>(e.level_count());
  }
}
BENCHMARK(BM_ManySymbols_Memory)->Unit(benchmark::kMillisecond)->Iterations(1);

void run_latency(benchmark::State& state, const Workload& w) {
  shanraq::hist::Histogram h(1, 1'000'000'000, 3);
  std::vector<Event> out;
  out.reserve(64);
  std::int64_t timer = 0;
  for (auto _ : state) {
    MatchingEngine e(config_for(w.symbols, w.symbols * 1000));
    add_symbols(e, w.symbols);
    std::vector<Event> fill_out;
    e.process(w.fill.data(), w.fill.size(), fill_out);
    for (const Command& c : w.run) {
      out.clear();
      const std::int64_t t0 = shanraq::monotonic_ns();
      e.apply(c, out);
      const std::int64_t t1 = shanraq::monotonic_ns();
      h.record_or_reject(t1 - t0);
    }
    const std::int64_t a = shanraq::monotonic_ns();
    for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize(shanraq::monotonic_ns());
    timer = (shanraq::monotonic_ns() - a) / 1001;
  }
  state.counters["p50_ns"] = static_cast<double>(h.value_at_percentile(50.0));
  state.counters["p99_ns"] = static_cast<double>(h.value_at_percentile(99.0));
  state.counters["p99_99_ns"] = static_cast<double>(h.value_at_percentile(99.99));
  state.counters["max_ns"] = static_cast<double>(h.max());
  state.counters["timer_ns"] = static_cast<double>(timer);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(w.run.size()));
}

void BM_ExchangeCore_Latency(benchmark::State& state) { run_latency(state, exchange_core()); }
BENCHMARK(BM_ExchangeCore_Latency)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_ManySymbols_Latency(benchmark::State& state) { run_latency(state, many_symbols()); }
BENCHMARK(BM_ManySymbols_Latency)->Unit(benchmark::kMillisecond)->Iterations(1);

// ---- microbenchmarks: one symbol with the exchange-core book as background ----

struct Micro {
  MatchingEngine e{config_for(1, 200'000)};
  std::vector<Event> out;
  std::uint64_t next_id = 10'000'000;
  Micro() {
    add_symbols(e, 2);  // symbol 2 stays empty for the sweep
    const Workload& w = exchange_core();
    e.process(w.fill.data(), w.fill.size(), out);
    out.reserve(1024);
  }
  void apply(const Command& c) {
    out.clear();
    e.apply(c, out);
  }
};

// A passive GTC limit order joining an existing level (mid - 1..750).
void BM_Add(benchmark::State& state) {
  Micro m;
  std::mt19937_64 rng(kSeed);
  std::vector<std::uint64_t> ids;
  ids.reserve(100'000);
  for (auto _ : state) {
    const std::int64_t off = 1 + static_cast<std::int64_t>(rng() % kHalfSpread);
    const std::uint64_t id = m.next_id++;
    m.apply(submit(id, 1, 1, Side::kBuy, kMid - off, 10, TimeInForce::kGtc));
    ids.push_back(id);
    if (ids.size() == 100'000) {
      state.PauseTiming();
      Command c{};
      c.kind = CommandKind::kCancel;
      for (std::uint64_t x : ids) {
        c.order_id = x;
        m.apply(c);
      }
      ids.clear();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Add);

void BM_Cancel(benchmark::State& state) {
  Micro m;
  std::mt19937_64 rng(kSeed);
  std::vector<std::uint64_t> ids;
  auto refill = [&] {
    for (int i = 0; i < 100'000; ++i) {
      const std::int64_t off = 1 + static_cast<std::int64_t>(rng() % kHalfSpread);
      ids.push_back(m.next_id);
      m.apply(submit(m.next_id++, 1, 1, Side::kSell, kMid + off, 10, TimeInForce::kGtc));
    }
    std::shuffle(ids.begin(), ids.end(), rng);
  };
  refill();
  Command c{};
  c.kind = CommandKind::kCancel;
  for (auto _ : state) {
    if (ids.empty()) {
      state.PauseTiming();
      refill();
      state.ResumeTiming();
    }
    c.order_id = ids.back();
    ids.pop_back();
    m.apply(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Cancel);

// Moves a random resting order by 1..10 ticks on its side (loses priority).
void BM_AmendPrice(benchmark::State& state) {
  Micro m;
  std::mt19937_64 rng(kSeed);
  std::vector<std::uint64_t> ids;
  std::vector<std::int64_t> prices;
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t off = 1 + static_cast<std::int64_t>(rng() % kHalfSpread);
    ids.push_back(m.next_id);
    prices.push_back(kMid - off);
    m.apply(submit(m.next_id++, 1, 1, Side::kBuy, kMid - off, 10, TimeInForce::kGtc));
  }
  Command c{};
  c.kind = CommandKind::kAmend;
  for (auto _ : state) {
    const std::size_t i = rng() % ids.size();
    std::int64_t p = prices[i] + static_cast<std::int64_t>(rng() % 21) - 10;
    p = std::clamp<std::int64_t>(p, kMid - kHalfSpread, kMid - 1);
    if (p == prices[i]) p = p == kMid - 1 ? p - 1 : p + 1;
    prices[i] = p;
    c.order_id = ids[i];
    c.price = p;
    m.apply(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AmendPrice);

// Alternately cuts and restores a resting order's quantity (keep / lose priority).
void BM_AmendQty(benchmark::State& state) {
  Micro m;
  const std::uint64_t id = m.next_id++;
  m.apply(submit(id, 1, 1, Side::kBuy, kMid - 5, 100, TimeInForce::kGtc));
  Command c{};
  c.kind = CommandKind::kAmend;
  c.order_id = id;
  bool down = true;
  for (auto _ : state) {
    c.qty = down ? 50 : 100;
    down = !down;
    m.apply(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AmendQty);

// A passive sell at the mid, then an IOC buy that fills it: add + one match.
void BM_AddAndMatch(benchmark::State& state) {
  Micro m;
  for (auto _ : state) {
    m.apply(submit(m.next_id++, 1, 1, Side::kSell, kMid, 10, TimeInForce::kGtc));
    m.apply(submit(m.next_id++, 1, 2, Side::kBuy, kMid, 10, TimeInForce::kIoc));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddAndMatch);

// An IOC sweeping 10 levels of one order each.
void BM_Sweep10(benchmark::State& state) {
  Micro m;
  for (auto _ : state) {
    state.PauseTiming();
    for (int k = 0; k < 10; ++k) m.apply(submit(m.next_id++, 2, 1, Side::kSell, kMid + k, 10, TimeInForce::kGtc));
    state.ResumeTiming();
    m.apply(submit(m.next_id++, 2, 2, Side::kBuy, kMid + 10, 100, TimeInForce::kIoc));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sweep10);

}  // namespace

BENCHMARK_MAIN();
