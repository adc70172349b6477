// Issue 16: the matching engine against a naive std::map book and, when built
// with its headers, limit-order-book 3.1.0's C++ core, on the seeded flows of
// flows.hpp; every engine checked to give the same trades and final book
// before any ratio is printed.
//
//   cmake --preset release -DSHANRAQ_LOB_DIR=<limit-order-book sdist>
//         [-DSHANRAQ_AB_BASE_DIR=<copy of another build's book sources>] (one line)
//   cmake --build build/release -j2 --target compare_flows
//   taskset -c 1 build/release/cpp/bench/compare_flows [--rounds 7] [--flow NAME] [--engine SUBSTRING]
//
// (scripts/ab_base.sh makes both directories: the sdist from PyPI with pip,
// never vendored, and the base sources from a git commit.) Each round runs
// every engine once on a fresh engine filled by the flow's prefill (not
// timed), in turn, so drift of the shared machine hits them alike; the figure
// is the median over rounds of ns per timed command over the thread's CPU
// time. "this engine" rows use the default EngineConfig unless they say
// otherwise.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "flows.hpp"
#include "naive_book.hpp"
#include "shanraq/book/engine.hpp"

#ifdef SHANRAQ_HAVE_LOB
#include "limit_order_book.hpp"
#endif
#ifdef SHANRAQ_HAVE_AB_BASE
#include "ab_base.hpp"
#endif

using namespace shanraq::book;
using namespace shanraq::bench;

namespace {

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The final book: per symbol, side and level (best first), the resting ids
// and open quantities in priority order.
struct LevelState {
  std::uint32_t symbol;
  int side;
  std::int64_t price;
  std::vector<std::pair<std::uint64_t, std::int64_t>> orders;
  bool operator==(const LevelState&) const = default;
};
using BookState = std::vector<LevelState>;

BookState state_of(const MatchingEngine& e, std::uint32_t symbols) {
  BookState st;
  std::vector<LevelInfo> lv;
  for (std::uint32_t s = 1; s <= symbols; ++s) {
    for (int side = 0; side < 2; ++side) {
      const Side sd = side == 0 ? Side::kBuy : Side::kSell;
      lv.resize(e.side_levels(s, sd));
      lv.resize(e.depth(s, sd, lv.data(), lv.size()));
      for (const LevelInfo& l : lv) {
        LevelState ls{s, side, l.price, {}};
        for (std::uint64_t id : e.level_orders(s, sd, l.price)) ls.orders.emplace_back(id, e.order(id).remaining);
        st.push_back(std::move(ls));
      }
    }
  }
  return st;
}

BookState state_of(const NaiveBook& b, std::uint32_t symbols) {
  BookState st;
  auto add = [&](std::uint32_t s, int side, const auto& book) {
    for (const auto& [price, q] : book) {
      LevelState ls{s + 1, side, price, {}};
      for (const auto& o : q) ls.orders.emplace_back(o.id, o.qty);
      st.push_back(std::move(ls));
    }
  };
  for (std::uint32_t s = 0; s < symbols; ++s) {
    add(s, 0, b.symbol(s).bids);
    add(s, 1, b.symbol(s).asks);
  }
  return st;
}

std::vector<NaiveTrade> trades_of(const Event* ev, std::size_t n) {
  std::vector<NaiveTrade> t;
  for (std::size_t i = 0; i < n; ++i) {
    if (ev[i].type == EventType::kTrade) t.push_back({ev[i].order_id, ev[i].other_order_id, ev[i].price, ev[i].qty});
  }
  return t;
}

std::size_t count_rejects(const Event* ev, std::size_t n) {
  std::size_t k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // exchange-core's generator (book_workload.hpp) can name an order an
    // amend filled: every engine ignores such a command alike.
    if (ev[i].type != EventType::kRejected || ev[i].reason == static_cast<std::uint8_t>(RejectReason::kUnknownOrder)) {
      continue;
    }
    if (k++ == 0) {
      std::printf("first reject: order %llu, reason %u\n", static_cast<unsigned long long>(ev[i].order_id),
                  static_cast<unsigned>(ev[i].reason));
    }
  }
  return k;
}

// One engine under test: prepare() builds a fresh engine and applies the
// prefill, run() the timed commands, check() compares with the naive book's
// trades and final book (empty string: equal).
struct Contender {
  std::string name;
  std::function<void(const Flow&)> prepare;
  std::function<void(const Flow&)> run;
  std::function<std::string(const Flow&, const std::vector<NaiveTrade>&, const BookState&)> check;
  std::function<void()> release;
  std::vector<double> ns;
};

std::string compare(const std::vector<NaiveTrade>& t, const BookState& s, const std::vector<NaiveTrade>& ref_t,
                    const BookState& ref_s, std::size_t rejects) {
  if (rejects != 0) return std::to_string(rejects) + " commands rejected";
  if (t != ref_t) return "trades differ (" + std::to_string(t.size()) + " vs " + std::to_string(ref_t.size()) + ")";
  if (s != ref_s) return "final books differ";
  return "";
}

struct EngineRun {
  std::unique_ptr<MatchingEngine> e;
  std::vector<Event> out;
};

Contender ours(std::string name, std::function<EngineConfig(const Flow&)> config, bool batch) {
  auto r = std::make_shared<EngineRun>();
  Contender c;
  c.name = std::move(name);
  c.prepare = [r, config](const Flow& f) {
    r->e = std::make_unique<MatchingEngine>(config(f));
    add_symbols(*r->e, f.symbols);
    r->out.clear();
    r->e->process(f.fill.data(), f.fill.size(), r->out);
    // The event buffer is warm, as a running engine's is (a fresh one
    // would put a page fault per 42 events into the timing).
    r->out.resize(f.run.size() * 4);
    r->out.clear();
  };
  c.run = [r, batch](const Flow& f) {
    if (batch) {
      r->e->process(f.run.data(), f.run.size(), r->out);
    } else {
      for (const Command& cmd : f.run) r->e->apply(cmd, r->out);
    }
  };
  c.check = [r](const Flow& f, const std::vector<NaiveTrade>& t, const BookState& s) {
    return compare(trades_of(r->out.data(), r->out.size()), state_of(*r->e, f.symbols), t, s,
                   count_rejects(r->out.data(), r->out.size()));
  };
  c.release = [r] {
    r->e.reset();
    std::vector<Event>().swap(r->out);
  };
  return c;
}

#ifdef SHANRAQ_HAVE_AB_BASE
// The base build: its trades must equal the naive book's and its whole event
// stream this build's for the same configuration, byte for byte (so its
// final book is this build's too).
Contender base(std::string name, std::function<EngineConfig(const Flow&)> config, bool batch,
               std::shared_ptr<std::vector<Event>> reference) {
  auto h = std::make_shared<void*>(nullptr);
  Contender c;
  c.name = std::move(name);
  c.prepare = [h, config](const Flow& f) {
    if (*h != nullptr) shanraq::ab_base::destroy(*h);
    const EngineConfig cfg = config(f);
    *h = shanraq::ab_base::create({cfg.max_orders, cfg.max_symbols, cfg.max_levels, cfg.id_history}, f.symbols);
    shanraq::ab_base::run(*h, f.fill.data(), f.fill.size(), true);
    shanraq::ab_base::clear(*h);
    shanraq::ab_base::reserve(*h, f.run.size() * 4);
  };
  c.run = [h, batch](const Flow& f) { shanraq::ab_base::run(*h, f.run.data(), f.run.size(), batch); };
  c.check = [h, reference](const Flow&, const std::vector<NaiveTrade>& t, const BookState&) -> std::string {
    std::size_t n = 0;
    const auto* ev = static_cast<const Event*>(shanraq::ab_base::events(*h, &n));
    if (compare(trades_of(ev, n), {}, t, {}, count_rejects(ev, n)) != "") return "trades differ from the naive book";
    // The whole event stream must be this build's, byte for byte.
    if (n != reference->size() || std::memcmp(ev, reference->data(), n * sizeof(Event)) != 0) {
      return "events differ from this build's";
    }
    return "";
  };
  c.release = [h] {
    if (*h != nullptr) shanraq::ab_base::destroy(*h);
    *h = nullptr;
  };
  return c;
}
#endif

#ifdef SHANRAQ_HAVE_LOB
// limit-order-book has no symbols (one book each), no IOC (a limit then a
// cancel of what rests), no amend (cancel, then a limit at the new price)
// and reports no trades: it is checked on the final book alone (every
// level's volume and order count, and each resting id present).
Contender lob() {
  auto books = std::make_shared<std::vector<LOB::LimitOrderBook>>();
  // The symbol of every order is needed for cancels and amends without a
  // scan: kept in a vector indexed by id (ids are dense from 1 in the flows).
  auto where = std::make_shared<std::vector<std::uint32_t>>();
  Contender c;
  c.name = "limit-order-book 3.1.0, C++ core";
  auto step = [books, where](const Command& cmd) {
    switch (cmd.kind) {
      case CommandKind::kSubmit: {
        if ((*where).size() <= cmd.order_id) (*where).resize(cmd.order_id * 2 + 16);
        (*where)[cmd.order_id] = cmd.symbol - 1;
        LOB::LimitOrderBook& b = (*books)[cmd.symbol - 1];
        const LOB::Side side = cmd.side == Side::kBuy ? LOB::Side::Buy : LOB::Side::Sell;
        if (cmd.order_type == OrderType::kMarket) {
          b.market(side, cmd.order_id, static_cast<LOB::Quantity>(cmd.qty));
        } else {
          b.limit(side, cmd.order_id, static_cast<LOB::Quantity>(cmd.qty), static_cast<LOB::Price>(cmd.price));
          if (cmd.tif == TimeInForce::kIoc && b.has(cmd.order_id)) b.cancel(cmd.order_id);
        }
        break;
      }
      case CommandKind::kCancel: {
        LOB::LimitOrderBook& b = (*books)[(*where)[cmd.order_id]];
        if (b.has(cmd.order_id)) b.cancel(cmd.order_id);
        break;
      }
      case CommandKind::kAmend: {
        LOB::LimitOrderBook& b = (*books)[(*where)[cmd.order_id]];
        if (!b.has(cmd.order_id)) break;
        const LOB::Order& o = b.get(cmd.order_id);
        const LOB::Side side = o.side;
        const LOB::Quantity q = o.quantity;
        b.cancel(cmd.order_id);
        b.limit(side, cmd.order_id, q, static_cast<LOB::Price>(cmd.price));
        break;
      }
      default:
        break;
    }
  };
  c.prepare = [books, where, step](const Flow& f) {
    books->clear();
    books->resize(f.symbols);
    where->assign(f.fill.size() + f.run.size() + 16, 0);
    for (const Command& cmd : f.fill) step(cmd);
  };
  c.run = [step](const Flow& f) {
    for (const Command& cmd : f.run) step(cmd);
  };
  c.check = [books](const Flow& f, const std::vector<NaiveTrade>&, const BookState& s) -> std::string {
    std::size_t orders = 0;
    for (const LevelState& l : s) {
      const LOB::LimitOrderBook& b = (*books)[l.symbol - 1];
      std::int64_t vol = 0;
      for (const auto& [id, q] : l.orders) {
        vol += q;
        if (!b.has(id)) return "order " + std::to_string(id) + " missing";
      }
      const auto p = static_cast<LOB::Price>(l.price);
      const LOB::Volume v = l.side == 0 ? b.volume_buy(p) : b.volume_sell(p);
      if (v != static_cast<LOB::Volume>(vol)) return "volume differs at " + std::to_string(l.price);
      orders += l.orders.size();
    }
    std::size_t lob_orders = 0;
    for (std::uint32_t s2 = 0; s2 < f.symbols; ++s2) lob_orders += (*books)[s2].count();
    if (lob_orders != orders) return "order counts differ";
    return "";
  };
  c.release = [books, where] {
    std::vector<LOB::LimitOrderBook>().swap(*books);
    std::vector<std::uint32_t>().swap(*where);
  };
  return c;
}
#endif

// --small-config: the "default" rows use bench/book_data.py's capacities
// (4,096 orders, levels and remembered ids), so finished ids are evicted
// from a full history on every retirement, as in bench/percall_book.py.
bool g_small_config = false;

EngineConfig defaults(const Flow& f) {
  EngineConfig c;
  c.max_symbols = std::max<std::uint32_t>(c.max_symbols, f.symbols);
  if (g_small_config) {
    c.max_orders = c.max_levels = c.id_history = 4096;
  }
  return c;
}

// Capacities sized to the flow: room for every order it could hold at once,
// its levels and a history as long as its orders.
EngineConfig sized(const Flow& f) {
  EngineConfig c;
  c.max_symbols = f.symbols;
  std::uint64_t submits = 0;
  for (const Command& cmd : f.fill) submits += cmd.kind == CommandKind::kSubmit;
  for (const Command& cmd : f.run) submits += cmd.kind == CommandKind::kSubmit;
  std::uint32_t orders = 4096;
  while (orders < submits + 16 && orders < (1U << 29)) orders <<= 1;
  c.max_orders = orders;
  c.id_history = orders;
  c.max_levels = std::min<std::uint32_t>(orders, 1U << 21);
  return c;
}

EngineConfig no_history(const Flow& f) {
  EngineConfig c = defaults(f);
  c.id_history = 0;
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void measure(const Flow& f, int rounds, const std::string& only_engine) {
  std::printf("\n## %s: %zu prefill, %zu timed commands, %u symbol(s)\n", f.name.c_str(), f.fill.size(), f.run.size(),
              f.symbols);
  // The reference: the naive book's trades and final book.
  NaiveBook ref(f.symbols);
  for (const Command& c : f.fill) ref.apply(c);
  ref.trades.clear();
  for (const Command& c : f.run) ref.apply(c);
  const std::vector<NaiveTrade> ref_trades = ref.trades;
  const BookState ref_state = state_of(ref, f.symbols);
  std::size_t submits = 0, trades = ref_trades.size();
  for (const Command& c : f.run) submits += c.kind == CommandKind::kSubmit;
  std::printf("reference: %zu trades, %zu resting at the end, %zu submits in the run\n", trades, ref.live(), submits);

  std::vector<Contender> cs;
  cs.push_back(ours("this engine, apply(), default configuration", defaults, false));
  cs.push_back(ours("this engine, apply(), capacities sized to the flow", sized, false));
  cs.push_back(ours("this engine, process() batch, default", defaults, true));
  cs.push_back(ours("this engine, apply(), id_history=0", no_history, false));
#ifdef SHANRAQ_HAVE_AB_BASE
  // The base build's events must equal this build's (same configuration).
  auto ref_events = std::make_shared<std::vector<Event>>();
  {
    MatchingEngine e(defaults(f));
    add_symbols(e, f.symbols);
    e.process(f.fill.data(), f.fill.size(), *ref_events);
    ref_events->clear();
    e.process(f.run.data(), f.run.size(), *ref_events);
  }
  cs.push_back(base("previous build, apply(), default configuration", defaults, false, ref_events));
  cs.push_back(base("previous build, process() batch, default", defaults, true, ref_events));
#endif
  {
    auto nb = std::make_shared<std::unique_ptr<NaiveBook>>();
    Contender c;
    c.name = "naive std::map/std::list + unordered_map";
    c.prepare = [nb](const Flow& fl) {
      *nb = std::make_unique<NaiveBook>(fl.symbols);
      for (const Command& cmd : fl.fill) (*nb)->apply(cmd);
      (*nb)->trades.resize(fl.run.size());
      (*nb)->trades.clear();
    };
    c.run = [nb](const Flow& fl) {
      for (const Command& cmd : fl.run) (*nb)->apply(cmd);
    };
    c.check = [nb](const Flow& fl, const std::vector<NaiveTrade>& t, const BookState& s) {
      return compare((*nb)->trades, state_of(**nb, fl.symbols), t, s, 0);
    };
    c.release = [nb] { nb->reset(); };
    cs.push_back(std::move(c));
  }
#ifdef SHANRAQ_HAVE_LOB
  cs.push_back(lob());
#endif
  if (!only_engine.empty()) {  // for profiling one engine
    std::erase_if(cs, [&](const Contender& c) { return c.name.find(only_engine) == std::string::npos; });
    if (cs.empty()) return;
  }
  for (int r = 0; r < rounds; ++r) {
    for (Contender& c : cs) {
      c.prepare(f);
      const std::int64_t t0 = thread_cpu_ns();
      c.run(f);
      const std::int64_t t1 = thread_cpu_ns();
      c.ns.push_back(static_cast<double>(t1 - t0) / static_cast<double>(f.run.size()));
      if (r == 0) {
        const std::string why = c.check(f, ref_trades, ref_state);
        if (!why.empty()) {
          std::printf("NOT EQUIVALENT: %s: %s\n", c.name.c_str(), why.c_str());
          std::exit(1);
        }
      }
      c.release();
    }
  }
  const double base_ns = median(cs[0].ns);
  std::printf("| engine (C++, -O3) | ns per command (median of %d) | against `apply()` with defaults |\n", rounds);
  std::printf("| --- | ---: | ---: |\n");
  for (const Contender& c : cs) {
    const double m = median(c.ns);
    std::printf("| %s | %.0f | %.2f |\n", c.name.c_str(), m, m / base_ns);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string only, only_engine;
  std::size_t scale = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    if (a == "--flow" && i + 1 < argc) only = argv[++i];
    if (a == "--engine" && i + 1 < argc) only_engine = argv[++i];
    if (a == "--quick") scale = 4;
    if (a == "--small-config") g_small_config = true;
  }
  std::printf(
      "equivalence: every engine's trades and final book equal the naive book's (limit-order-book: its final "
      "book; the previous build: its events equal this build's byte for byte)\n");
  const std::vector<std::pair<std::string, std::function<Flow()>>> flows = {
      {"trade-heavy", [&] { return trade_heavy(true, 200'000 / scale); }},
      {"trade-heavy-no-cancels", [&] { return trade_heavy(false, 200'000 / scale); }},
      {"market-maker", [&] { return market_maker(200'000 / scale); }},
      {"zipf", [&] { return zipf_symbols(400'000 / scale); }},
      {"exchange-core", [&] { return exchange_core_flow(200'000 / scale); }},
      {"crossing", [&] { return crossing_pairs(100'000 / scale); }},
      {"steady-long", [&] { return steady_long(3'000'000 / scale); }},
  };
  for (const auto& [name, make] : flows) {
    if (!only.empty() && only != name) continue;
    measure(make(), rounds, only_engine);
  }
  return 0;
}
