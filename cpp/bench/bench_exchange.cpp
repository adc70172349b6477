// The exchange against the bare matching engine on the same commands, in the
// same process: exchange-core's workload (book_workload.hpp) with balances
// on (every order holds, every trade settles through the ledger, fees),
// batch throughput by CPU time, per-command latency inside the machine, and
// the bytes the exchange reserves per open order and per user. docs/
// performance.md has the figures and the command.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <unordered_map>
#include <vector>

#include "book_workload.hpp"
#include "shanraq/book/engine.hpp"
#include "shanraq/common/clock.hpp"
#include "shanraq/exchange/exchange.hpp"

namespace {

namespace bk = shanraq::book;
namespace ex = shanraq::exchange;
using shanraq::bench::Workload;

constexpr std::uint32_t kUsers = 1000;  // the workload's accounts 0..999 are users 1..1000
constexpr std::uint32_t kBase = 1, kQuote = 2;

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

const Workload& workload() {
  static const Workload w = shanraq::bench::make_workload(1, 1000, 2'000'000, 0.0);
  return w;
}

ex::ExchangeConfig config() {
  ex::ExchangeConfig c;
  c.max_users = kUsers + 16;
  c.max_assets = 4;
  c.max_symbols = 16;
  c.max_orders = 1U << 16;
  c.max_levels = 4096;
  c.id_history = 1U << 16;
  c.max_accounts = 4 * (kUsers + 16);
  c.max_transfers = 4 * kUsers;
  return c;
}

// The exchange's commands: assets, the symbol (maker 1 bp, taker 2 bp), the
// users and their deposits; then the workload's, each order placed by its
// account's user, cancels and amends by the owner.
struct Translated {
  std::vector<ex::ExchangeCommand> setup, fill, run;
};

const Translated& translated() {
  static const Translated t = [] {
    const Workload& w = workload();
    Translated out;
    auto cmd = [](ex::CommandKind k) {
      ex::ExchangeCommand c{};
      c.kind = k;
      return c;
    };
    for (std::uint32_t a : {kBase, kQuote}) {
      ex::ExchangeCommand c = cmd(ex::CommandKind::kAddAsset);
      c.asset = a;
      out.setup.push_back(c);
    }
    ex::ExchangeCommand s = cmd(ex::CommandKind::kAddSymbol);
    s.symbol = 1;
    s.asset = kBase;
    s.user = std::uint64_t{kQuote} | std::uint64_t{1} << 32 | std::uint64_t{2} << 48;
    s.order_id = 1 | std::uint64_t{1} << 32;
    s.price = 1;
    s.qty = 1;
    s.stop_price = 1;
    s.display_qty = INT64_MAX;
    s.expire_ns = INT64_MAX;
    out.setup.push_back(s);
    std::uint64_t tid = 1;
    for (std::uint64_t u = 1; u <= kUsers; ++u) {
      ex::ExchangeCommand c = cmd(ex::CommandKind::kAddUser);
      c.user = u;
      out.setup.push_back(c);
      for (std::uint32_t a : {kBase, kQuote}) {
        ex::ExchangeCommand d = cmd(ex::CommandKind::kDeposit);
        d.user = u;
        d.asset = a;
        d.order_id = tid++;
        d.qty = std::int64_t{1} << 50;
        out.setup.push_back(d);
      }
    }
    std::unordered_map<std::uint64_t, std::uint64_t> owner;
    auto convert = [&](const bk::Command& b) {
      ex::ExchangeCommand c{};
      c.time_ns = b.time_ns;
      c.order_id = b.order_id;
      c.price = b.price;
      c.qty = b.qty;
      if (b.kind == bk::CommandKind::kSubmit) {
        c.kind = ex::CommandKind::kPlace;
        c.user = b.account + 1;
        owner[b.order_id] = c.user;
        c.symbol = b.symbol;
        c.side = b.side;
        c.order_type = b.order_type;
        c.tif = b.tif;
      } else {
        c.kind = b.kind == bk::CommandKind::kCancel ? ex::CommandKind::kCancel : ex::CommandKind::kAmend;
        c.user = owner[b.order_id];
      }
      return c;
    };
    for (const bk::Command& b : w.fill) out.fill.push_back(convert(b));
    for (const bk::Command& b : w.run) out.run.push_back(convert(b));
    return out;
  }();
  return t;
}

// Bare engine and exchange on the same run, alternating, in one benchmark
// so the ratio is measured in the same process and conditions.
void BM_ExchangeVsBook(benchmark::State& state) {
  const Workload& w = workload();
  const Translated& t = translated();
  std::vector<bk::Event> bev;
  std::vector<ex::ExchangeEvent> xev;
  bev.reserve(w.run.size() * 3);
  xev.reserve(t.run.size() * 3);
  std::int64_t book_cpu = 0, exch_cpu = 0;
  std::size_t trades = 0;
  for (auto _ : state) {
    bk::MatchingEngine e(shanraq::bench::config_for(1, 1000));
    shanraq::bench::add_symbols(e, 1);
    e.process(w.fill.data(), w.fill.size(), bev);
    ex::Exchange x(config());
    x.process(t.setup.data(), t.setup.size(), xev);
    x.process(t.fill.data(), t.fill.size(), xev);
    bev.clear();
    xev.clear();
    std::int64_t c0 = thread_cpu_ns();
    e.process(w.run.data(), w.run.size(), bev);
    book_cpu += thread_cpu_ns() - c0;
    c0 = thread_cpu_ns();
    x.process(t.run.data(), t.run.size(), xev);
    exch_cpu += thread_cpu_ns() - c0;
    trades = 0;
    for (const ex::ExchangeEvent& ev : xev) trades += ev.type == ex::EventType::kTrade;
    if (x.check_invariants().violation != ex::Violation::kNone) state.SkipWithError("invariant broken");
  }
  const double n = static_cast<double>(t.run.size()) * static_cast<double>(state.iterations());
  state.counters["exchange_Mcmd_per_cpu_s"] = n / static_cast<double>(exch_cpu) * 1e3;
  state.counters["book_Mcmd_per_cpu_s"] = n / static_cast<double>(book_cpu) * 1e3;
  state.counters["exchange_over_book"] = static_cast<double>(exch_cpu) / static_cast<double>(book_cpu);
  state.counters["trades_per_run"] = static_cast<double>(trades);
}
BENCHMARK(BM_ExchangeVsBook)->Unit(benchmark::kMillisecond)->Iterations(5);

// Latency of one command inside the machine (apply of one command, the
// clock read on either side; its own cost, measured back to back, is
// reported as clock_ns and included in the figures).
void BM_ExchangeLatency(benchmark::State& state) {
  const Translated& t = translated();
  std::vector<ex::ExchangeEvent> xev;
  xev.reserve(1024);
  std::vector<std::int64_t> lat(t.run.size());
  for (auto _ : state) {
    ex::Exchange x(config());
    x.process(t.setup.data(), t.setup.size(), xev);
    x.process(t.fill.data(), t.fill.size(), xev);
    for (std::size_t i = 0; i < t.run.size(); ++i) {
      xev.clear();
      const std::int64_t a = shanraq::monotonic_ns();
      x.apply(t.run[i], xev);
      lat[i] = shanraq::monotonic_ns() - a;
    }
  }
  std::int64_t clock_cost = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t a = shanraq::monotonic_ns();
    clock_cost += shanraq::monotonic_ns() - a;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return static_cast<double>(lat[static_cast<std::size_t>(p * (lat.size() - 1))]); };
  state.counters["p50_ns"] = pct(0.50);
  state.counters["p99_ns"] = pct(0.99);
  state.counters["p9999_ns"] = pct(0.9999);
  state.counters["max_ns"] = static_cast<double>(lat.back());
  state.counters["clock_ns"] = static_cast<double>(clock_cost) / 1000.0;
}
BENCHMARK(BM_ExchangeLatency)->Unit(benchmark::kMillisecond)->Iterations(1);

// Bytes reserved per open order and per user (two assets): the growth of
// memory_reserved() when the capacity doubles, divided by the added room.
void BM_ExchangeMemory(benchmark::State& state) {
  double per_order = 0, per_user = 0;
  for (auto _ : state) {
    auto cfg = [](std::uint32_t orders, std::uint32_t users) {
      ex::ExchangeConfig c;
      c.max_assets = 2;
      c.max_symbols = 1;
      c.max_levels = 1024;
      c.max_transfers = 1024;
      c.max_orders = orders;
      c.id_history = 1024;
      c.max_users = users;
      c.max_accounts = 2 * users + 6;
      return c;
    };
    const double o1 = static_cast<double>(ex::Exchange(cfg(1U << 18, 1024)).memory_reserved());
    const double o2 = static_cast<double>(ex::Exchange(cfg(1U << 19, 1024)).memory_reserved());
    const double u1 = static_cast<double>(ex::Exchange(cfg(1024, 1U << 18)).memory_reserved());
    const double u2 = static_cast<double>(ex::Exchange(cfg(1024, 1U << 19)).memory_reserved());
    per_order = (o2 - o1) / (1U << 18);
    per_user = (u2 - u1) / (1U << 18);
  }
  state.counters["bytes_per_order"] = per_order;
  state.counters["bytes_per_user_2_assets"] = per_user;
}
BENCHMARK(BM_ExchangeMemory)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
