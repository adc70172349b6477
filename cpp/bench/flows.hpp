// Seeded order flows of issue 16 ("matching speed on realistic flows"),
// shared by compare_flows (every engine on the same commands) and bench_book.
// bench/flows.py is the Python twin (same algorithm, numpy's random stream).
//
// * trade_heavy: one symbol, a mid that walks -1/0/+1 tick per command; 72%
//   limit orders of which 2.5 points are marketable (priced through the
//   opposite best), 25% cancels of live orders, 2.5% market orders; 2,000
//   resting orders prefilled. Without cancels: 95% passive, 2.5% marketable,
//   2.5% market (the book grows by the passive orders).
// * market_maker: one deep symbol (10,000 resting over +-500 ticks), a mid
//   that moves one tick with probability 1/100; 90% amends of a live order's
//   price (cancel/replace, staying passive), 4% new passive orders, 4%
//   cancels, 2% market orders.
// * zipf: 1,000 symbols x 1,000 resting (1M), symbol chosen by Zipf(1.0),
//   the trade-heavy mix with cancels balanced against adds (46% passive,
//   2.5% marketable, 2.5% market, 49% cancel) so the book stays near 1M.
// * exchange_core: book_workload.hpp's mix (9% GTC, 3% IOC, 6% cancel, 82%
//   move).
// Every command is valid for every engine compared: limit GTC or IOC, market
// IOC, cancel and price amend of a live order; no STP, icebergs or stops.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "book_workload.hpp"
#include "shanraq/book/engine.hpp"

namespace shanraq::bench {

struct Flow {
  std::string name;
  std::uint32_t symbols = 1;
  std::vector<Command> fill;  // prefills the book (not timed)
  std::vector<Command> run;   // the timed commands
};

namespace flows_detail {

// Tracks each symbol's live resting ids (O(1) removal) from the events of a
// generating engine, so cancels and amends always name a live order.
class Tracker {
 public:
  explicit Tracker(std::uint32_t symbols, std::uint32_t max_orders) : live_(symbols) {
    EngineConfig cfg;
    cfg.max_symbols = symbols;
    cfg.max_orders = max_orders;
    cfg.max_levels = 1U << 21;
    cfg.id_history = 0;
    gen_ = std::make_unique<MatchingEngine>(cfg);
    add_symbols(*gen_, symbols);
  }
  MatchingEngine& engine() { return *gen_; }
  const std::vector<std::uint64_t>& live(std::uint32_t s) const { return live_[s]; }

  void apply(const Command& c, std::vector<Command>& out) {
    out.push_back(c);
    ev_.clear();
    gen_->apply(c, ev_);
    for (const Event& e : ev_) {
      if (e.type == EventType::kTrade && e.other_remaining == 0) forget(e.other_order_id);
      if (e.type == EventType::kTrade && e.remaining == 0) forget(e.order_id);  // an amended order filled
      if (e.type == EventType::kCancelled && e.remaining == 0) forget(e.order_id);
    }
    if (c.kind == CommandKind::kSubmit && gen_->order(c.order_id).state == OrderState::kResting) {
      live_[c.symbol - 1].push_back(c.order_id);
      where_[c.order_id] = {c.symbol - 1, live_[c.symbol - 1].size() - 1};
    }
  }

 private:
  void forget(std::uint64_t id) {
    const auto it = where_.find(id);
    if (it == where_.end()) return;
    auto& v = live_[it->second.first];
    const std::size_t i = it->second.second;
    v[i] = v.back();
    where_[v[i]].second = i;
    v.pop_back();
    where_.erase(id);
  }
  std::unique_ptr<MatchingEngine> gen_;
  std::vector<Event> ev_;
  std::vector<std::vector<std::uint64_t>> live_;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::size_t>> where_;
};

inline Command market(std::uint64_t id, std::uint32_t sym, std::uint64_t account, Side side, std::int64_t qty) {
  Command c = submit(id, sym, account, side, 0, qty, TimeInForce::kIoc);
  c.order_type = OrderType::kMarket;
  return c;
}

// Percentages of the trade-heavy family: passive limit, marketable limit,
// market, cancel (the rest of 1000 per mille).
struct Mix {
  int passive, marketable, market;  // per mille; cancel = 1000 - the three
};

// One symbol or many (Zipf-chosen), each with its own mid walking -1/0/+1
// tick per command it receives.
inline Flow trade_family(std::string name, std::uint32_t symbols, std::uint32_t prefill, std::size_t n_run, Mix mix,
                         double zipf_s, std::uint64_t seed) {
  Flow f;
  f.name = std::move(name);
  f.symbols = symbols;
  std::mt19937_64 rng(seed);
  Tracker tr(symbols, static_cast<std::uint32_t>(symbols * prefill + n_run + 16));
  MatchingEngine& gen = tr.engine();
  std::vector<std::int64_t> mid(symbols, kMid);
  std::uint64_t next_id = 1;
  auto rnd = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  auto passive = [&](std::uint32_t s) {
    const Side side = rng() % 2 ? Side::kBuy : Side::kSell;
    std::int64_t p = side == Side::kBuy ? mid[s] - rnd(1, 50) : mid[s] + rnd(1, 50);
    // Stays passive whatever the walk did: one tick behind the opposite best.
    const Bbo b = gen.bbo(s + 1);
    if (side == Side::kBuy && b.has_ask) p = std::min(p, b.ask_price - 1);
    if (side == Side::kSell && b.has_bid) p = std::max(p, b.bid_price + 1);
    return submit(next_id++, s + 1, rng() % 1000, side, std::max<std::int64_t>(p, 1), rnd(1, 100), TimeInForce::kGtc);
  };
  for (std::uint32_t s = 0; s < symbols; ++s) {
    for (std::uint32_t k = 0; k < prefill; ++k) tr.apply(passive(s), f.fill);
  }
  std::vector<double> cdf(symbols);
  double total = 0;
  for (std::uint32_t s = 0; s < symbols; ++s) {
    total += zipf_s == 0 ? 1.0 : 1.0 / std::pow(static_cast<double>(s + 1), zipf_s);
    cdf[s] = total;
  }
  std::uniform_real_distribution<double> u(0.0, total);
  f.run.reserve(n_run);
  while (f.run.size() < n_run) {
    const std::uint32_t s =
        symbols == 1
            ? 0
            : std::min(static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()),
                       symbols - 1);
    mid[s] += rnd(-1, 1);
    const int r = static_cast<int>(rng() % 1000);
    if (r < mix.passive) {
      tr.apply(passive(s), f.run);
    } else if (r < mix.passive + mix.marketable) {
      const Side side = rng() % 2 ? Side::kBuy : Side::kSell;
      const Bbo b = gen.bbo(s + 1);
      std::int64_t p = side == Side::kBuy ? (b.has_ask ? b.ask_price : mid[s]) + rnd(0, 2)
                                          : (b.has_bid ? b.bid_price : mid[s]) - rnd(0, 2);
      tr.apply(
          submit(next_id++, s + 1, rng() % 1000, side, std::max<std::int64_t>(p, 1), rnd(1, 100), TimeInForce::kGtc),
          f.run);
    } else if (r < mix.passive + mix.marketable + mix.market) {
      tr.apply(market(next_id++, s + 1, rng() % 1000, rng() % 2 ? Side::kBuy : Side::kSell, rnd(1, 100)), f.run);
    } else {
      const auto& v = tr.live(s);
      if (v.empty()) {
        tr.apply(passive(s), f.run);
        continue;
      }
      Command c{};
      c.kind = CommandKind::kCancel;
      c.order_id = v[rng() % v.size()];
      tr.apply(c, f.run);
    }
  }
  return f;
}

}  // namespace flows_detail

inline Flow trade_heavy(bool cancels, std::size_t n_run = 200'000, std::uint64_t seed = 16001) {
  using flows_detail::Mix;
  return flows_detail::trade_family(cancels ? "trade-heavy" : "trade-heavy, no cancels", 1, 2000, n_run,
                                    cancels ? Mix{695, 25, 25} : Mix{950, 25, 25}, 0.0, seed);
}

inline Flow zipf_symbols(std::size_t n_run = 400'000, std::uint32_t symbols = 1000, std::uint32_t per_symbol = 1000,
                         std::uint64_t seed = 16003) {
  return flows_detail::trade_family("zipf 1,000 symbols, 1M resting", symbols, per_symbol, n_run,
                                    flows_detail::Mix{460, 25, 25}, 1.0, seed);
}

// A long-running engine's steady state: one symbol, the Zipf flow's mix
// (cancels slightly outnumber adds, so from 2,000 prefilled orders the book
// drains to a few dozen), long enough to fill the default 2^20-id history
// and go on evicting from it: the cost of remembering finished ids.
inline Flow steady_long(std::size_t n_run = 3'000'000, std::uint64_t seed = 16004) {
  return flows_detail::trade_family("steady, 1 symbol, small book, history full", 1, 2000, n_run,
                                    flows_detail::Mix{460, 25, 25}, 0.0, seed);
}

inline Flow market_maker(std::size_t n_run = 200'000, std::uint32_t resting = 10'000, std::uint64_t seed = 16002) {
  Flow f;
  f.name = "market-maker";
  std::mt19937_64 rng(seed);
  flows_detail::Tracker tr(1, static_cast<std::uint32_t>(resting + n_run + 16));
  MatchingEngine& gen = tr.engine();
  std::int64_t mid = kMid;
  std::uint64_t next_id = 1;
  auto rnd = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  // A passive price on `side`, behind the opposite best.
  auto quote = [&](Side side) {
    std::int64_t p = side == Side::kBuy ? mid - rnd(1, 500) : mid + rnd(1, 500);
    const Bbo b = gen.bbo(1);
    if (side == Side::kBuy && b.has_ask) p = std::min(p, b.ask_price - 1);
    if (side == Side::kSell && b.has_bid) p = std::max(p, b.bid_price + 1);
    return std::max<std::int64_t>(p, 1);
  };
  auto add = [&](std::vector<Command>& out) {
    const Side side = rng() % 2 ? Side::kBuy : Side::kSell;
    tr.apply(submit(next_id++, 1, rng() % 100, side, quote(side), rnd(1, 10) * 10, TimeInForce::kGtc), out);
  };
  for (std::uint32_t k = 0; k < resting; ++k) add(f.fill);
  f.run.reserve(n_run);
  while (f.run.size() < n_run) {
    if (rng() % 100 == 0) mid += rng() % 2 ? 1 : -1;
    const int r = static_cast<int>(rng() % 100);
    const auto& v = tr.live(0);
    if (r < 4 || v.empty()) {
      add(f.run);
    } else if (r < 6) {
      tr.apply(flows_detail::market(next_id++, 1, rng() % 100, rng() % 2 ? Side::kBuy : Side::kSell, rnd(1, 10) * 10),
               f.run);
    } else {
      Command c{};
      c.order_id = v[rng() % v.size()];
      if (r < 10) {
        c.kind = CommandKind::kCancel;
      } else {
        c.kind = CommandKind::kAmend;
        const OrderInfo o = gen.order(c.order_id);
        std::int64_t p = quote(o.side);
        if (p == o.price) p += o.side == Side::kBuy ? -1 : 1;
        c.price = p;
      }
      tr.apply(c, f.run);
    }
  }
  return f;
}

// bench/percall_book.py's crossing submit as a flow: on exchange-core's
// 1,000-order book, pairs of a one-lot ask at the mid and a one-lot buy that
// takes it (one trade, both orders finished).
inline Flow crossing_pairs(std::size_t pairs = 100'000) {
  Workload w = make_workload(1, 1000, 0, 0.0);
  Flow f;
  f.name = "crossing pairs";
  f.fill = std::move(w.fill);
  std::uint64_t id = 1U << 30;
  for (std::size_t k = 0; k < pairs; ++k) {
    f.run.push_back(submit(id++, 1, 1, Side::kSell, kMid, 1, TimeInForce::kGtc));
    f.run.push_back(submit(id++, 1, 2, Side::kBuy, kMid, 1, TimeInForce::kGtc));
  }
  return f;
}

inline Flow exchange_core_flow(std::size_t n_run = 200'000) {
  Workload w = make_workload(1, 1000, n_run, 0.0);
  Flow f;
  f.name = "exchange-core mix";
  f.fill = std::move(w.fill);
  f.run = std::move(w.run);
  return f;
}

}  // namespace shanraq::bench
