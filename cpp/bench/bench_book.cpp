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
#include <unistd.h>
#include <vector>

#include "shanraq/book/engine.hpp"
#include "shanraq/common/clock.hpp"
#include "shanraq/hist/histogram.hpp"

using namespace shanraq::book;

namespace {

constexpr std::uint64_t kSeed = 20240601;
constexpr std::int64_t kMid = 100'000;
constexpr std::int64_t kHalfSpread = 750;  // passive prices in mid +- [1, 750]

struct Workload {
  std::vector<Command> fill;  // builds the initial book
  std::vector<Command> run;   // the measured mix
  std::uint32_t symbols = 1;
};

Command submit(std::uint64_t id, std::uint32_t sym, std::uint64_t account, Side side, std::int64_t price,
               std::int64_t qty, TimeInForce tif) {
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = id;
  c.symbol = sym;
  c.account = account;
  c.side = side;
  c.order_type = OrderType::kLimit;
  c.tif = tif;
  c.price = price;
  c.qty = qty;
  return c;
}

EngineConfig config_for(std::uint32_t symbols, std::uint32_t resting) {
  EngineConfig cfg;
  cfg.max_symbols = symbols;
  cfg.max_orders = std::max<std::uint32_t>(resting * 2, 4096);
  cfg.max_levels = std::max<std::uint32_t>(symbols * 2 * static_cast<std::uint32_t>(kHalfSpread) + 1024, 4096);
  cfg.id_history = cfg.max_orders;
  return cfg;
}

void add_symbols(MatchingEngine& e, std::uint32_t n) {
  for (std::uint32_t s = 0; s < n; ++s) {
    SymbolSpec spec;
    spec.symbol = s + 1;
    e.add_symbol(spec);
  }
}

// exchange-core-style generator. It runs the commands through an engine while
// generating, so cancels and moves always name a live order and the resting
// count stays near its target.
Workload make_workload(std::uint32_t symbols, std::uint32_t per_symbol, std::size_t n_run, double zipf_s) {
  Workload w;
  w.symbols = symbols;
  std::mt19937_64 rng(kSeed);
  MatchingEngine gen(config_for(symbols, symbols * per_symbol));
  add_symbols(gen, symbols);
  std::vector<Event> ev;
  // Live resting ids per symbol, kept exact from the events (O(1) removal).
  std::vector<std::vector<std::uint64_t>> live(symbols);
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::size_t>> where;
  std::uint64_t next_id = 1;
  auto rnd = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  auto passive = [&](std::uint32_t s) {
    const Side side = rng() % 2 ? Side::kBuy : Side::kSell;
    const std::int64_t off = rnd(1, kHalfSpread);
    return submit(next_id++, s + 1, rng() % 1000, side, side == Side::kBuy ? kMid - off : kMid + off, rnd(1, 100),
                  TimeInForce::kGtc);
  };
  auto forget = [&](std::uint64_t id) {
    const auto it = where.find(id);
    if (it == where.end()) return;
    auto& v = live[it->second.first];
    const std::size_t i = it->second.second;
    v[i] = v.back();
    where[v[i]].second = i;
    v.pop_back();
    where.erase(id);
  };
  auto apply = [&](const Command& c, std::vector<Command>& out) {
    out.push_back(c);
    ev.clear();
    gen.apply(c, ev);
    for (const Event& e : ev) {
      if (e.type == EventType::kTrade && e.other_remaining == 0) forget(e.other_order_id);
      if (e.type == EventType::kCancelled && e.remaining == 0) forget(e.order_id);
    }
    if (c.kind == CommandKind::kSubmit && gen.order(c.order_id).state == OrderState::kResting) {
      live[c.symbol - 1].push_back(c.order_id);
      where[c.order_id] = {c.symbol - 1, live[c.symbol - 1].size() - 1};
    }
  };
  for (std::uint32_t s = 0; s < symbols; ++s) {
    while (live[s].size() < per_symbol) apply(passive(s), w.fill);
  }
  std::vector<double> cdf(symbols);
  double total = 0;
  for (std::uint32_t s = 0; s < symbols; ++s) {
    total += 1.0 / std::pow(static_cast<double>(s + 1), zipf_s);
    cdf[s] = total;
  }
  std::uniform_real_distribution<double> u(0.0, total);
  auto pick = [&](std::uint32_t s) -> std::uint64_t {
    const auto& v = live[s];
    return v.empty() ? 0 : v[rng() % v.size()];
  };
  w.run.reserve(n_run);
  while (w.run.size() < n_run) {
    const auto s = static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    const std::uint32_t sym = std::min(s, symbols - 1);
    int r = static_cast<int>(rng() % 100);
    const std::size_t n_live = live[sym].size();
    // Hold the resting count near its target, as exchange-core's generator
    // does: a cancel becomes an add when the book is thin, and an add a
    // cancel when it is thick.
    if (n_live < per_symbol * 95 / 100 && r >= 12 && r < 18) r = 0;
    if (n_live > per_symbol * 105 / 100 && r < 9) r = 12;
    if (r < 9) {
      Command c = passive(sym);
      if (rng() % 5 == 0) c.price = c.side == Side::kBuy ? kMid + rnd(0, 10) : kMid - rnd(0, 10);  // marketable
      apply(c, w.run);
    } else if (r < 12) {
      const Side side = rng() % 2 ? Side::kBuy : Side::kSell;
      apply(submit(next_id++, sym + 1, rng() % 1000, side, side == Side::kBuy ? kMid + rnd(0, 20) : kMid - rnd(0, 20),
                   rnd(1, 100), TimeInForce::kIoc),
            w.run);
    } else {
      const std::uint64_t id = pick(sym);
      if (id == 0) {
        apply(passive(sym), w.run);
        continue;
      }
      Command c{};
      c.order_id = id;
      if (r < 18) {
        c.kind = CommandKind::kCancel;
      } else {
        c.kind = CommandKind::kAmend;
        const OrderInfo o = gen.order(id);
        std::int64_t p = o.price + rnd(-10, 10);
        if (p == o.price) p += 1;
        // Moves stay on their side of the mid, as resting quotes do.
        p = o.side == Side::kBuy ? std::clamp<std::int64_t>(p, kMid - kHalfSpread, kMid - 1)
                                 : std::clamp<std::int64_t>(p, kMid + 1, kMid + kHalfSpread);
        if (p == o.price) p = o.side == Side::kBuy ? p - 1 : p + 1;
        c.price = p;
      }
      apply(c, w.run);
    }
  }
  return w;
}

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
  state.counters["cpu_items_per_second"] = static_cast<double>(state.iterations()) *
                                           static_cast<double>(w.run.size()) / (static_cast<double>(cpu_ns) * 1e-9);
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
