// The matching-engine workload shared by bench_book and bench_runner:
// exchange-core's order mix (passive limit orders, marketable and IOC
// orders, cancels and price moves) over one or many symbols, generated
// deterministically from a fixed seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shanraq/book/engine.hpp"

namespace shanraq::bench {

using namespace shanraq::book;

inline constexpr std::uint64_t kSeed = 20240601;
inline constexpr std::int64_t kMid = 100'000;
inline constexpr std::int64_t kHalfSpread = 750;  // passive prices in mid +- [1, 750]

struct Workload {
  std::vector<Command> fill;  // builds the initial book
  std::vector<Command> run;   // the measured mix
  std::uint32_t symbols = 1;
  std::size_t run_events = 0;    // events the run produces (counted when time-stamped)
  std::uint64_t final_hash = 0;  // state_hash after fill + run, applied directly
};

inline Command submit(std::uint64_t id, std::uint32_t sym, std::uint64_t account, Side side, std::int64_t price,
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

inline EngineConfig config_for(std::uint32_t symbols, std::uint32_t resting) {
  EngineConfig cfg;
  cfg.max_symbols = symbols;
  cfg.max_orders = std::max<std::uint32_t>(resting * 2, 4096);
  cfg.max_levels = std::max<std::uint32_t>(symbols * 2 * static_cast<std::uint32_t>(kHalfSpread) + 1024, 4096);
  cfg.id_history = cfg.max_orders;
  return cfg;
}

inline void add_symbols(MatchingEngine& e, std::uint32_t n) {
  for (std::uint32_t s = 0; s < n; ++s) {
    SymbolSpec spec;
    spec.symbol = s + 1;
    e.add_symbol(spec);
  }
}

// exchange-core-style generator. It runs the commands through an engine while
// generating, so cancels and moves always name a live order and the resting
// count stays near its target. `symbols` symbols with `per_symbol` resting
// orders each, `n_run` measured commands spread over the symbols by a Zipf
// law of exponent `zipf_s` (0: uniform). With time_base >= 0 the run's
// commands carry time_ns = time_base + index, and run_events counts their
// events.
inline Workload make_workload(std::uint32_t symbols, std::uint32_t per_symbol, std::size_t n_run, double zipf_s,
                              std::int64_t time_base = -1) {
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
  auto apply = [&](Command c, std::vector<Command>& out) {
    const bool timed = time_base >= 0 && &out == &w.run;
    if (timed) c.time_ns = time_base + static_cast<std::int64_t>(out.size());
    out.push_back(c);
    ev.clear();
    gen.apply(c, ev);
    if (timed) w.run_events += ev.size();
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
  w.final_hash = gen.state_hash();
  return w;
}

}  // namespace shanraq::bench
