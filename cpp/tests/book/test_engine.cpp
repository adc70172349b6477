#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <vector>

#include "shanraq/book/engine.hpp"

using namespace shanraq::book;

namespace {

constexpr std::uint32_t kSym = 7;

struct Fixture {
  MatchingEngine eng;
  std::vector<Event> ev;

  explicit Fixture(EngineConfig cfg = small_config()) : eng(cfg) {
    SymbolSpec spec;
    spec.symbol = kSym;
    spec.tick_size = 1;
    spec.lot_size = 1;
    spec.min_price = 1;
    spec.max_price = 1'000'000;
    spec.max_qty = 1'000'000;
    EXPECT_EQ(eng.add_symbol(spec), RejectReason::kNone);
  }

  static EngineConfig small_config() {
    EngineConfig c;
    c.max_orders = 1024;
    c.max_symbols = 8;
    c.max_levels = 256;
    c.id_history = 4096;
    return c;
  }

  // Applies one command; returns its events.
  std::vector<Event> run(const Command& c) {
    ev.clear();
    eng.apply(c, ev);
    return ev;
  }
  std::vector<Event> limit(std::uint64_t id, Side side, std::int64_t price, std::int64_t qty, std::uint64_t account = 0,
                           TimeInForce tif = TimeInForce::kGtc, Stp stp = Stp::kNone) {
    Command c{};
    c.kind = CommandKind::kSubmit;
    c.order_id = id;
    c.symbol = kSym;
    c.side = side;
    c.order_type = OrderType::kLimit;
    c.tif = tif;
    c.price = price;
    c.qty = qty;
    c.account = account;
    c.stp = stp;
    return run(c);
  }
  std::vector<Event> market(std::uint64_t id, Side side, std::int64_t qty, TimeInForce tif = TimeInForce::kIoc) {
    Command c{};
    c.kind = CommandKind::kSubmit;
    c.order_id = id;
    c.symbol = kSym;
    c.side = side;
    c.order_type = OrderType::kMarket;
    c.tif = tif;
    c.qty = qty;
    return run(c);
  }
  std::vector<Event> cancel(std::uint64_t id) {
    Command c{};
    c.kind = CommandKind::kCancel;
    c.order_id = id;
    return run(c);
  }
  std::vector<Event> amend(std::uint64_t id, std::int64_t price, std::int64_t qty) {
    Command c{};
    c.kind = CommandKind::kAmend;
    c.order_id = id;
    c.price = price;
    c.qty = qty;
    return run(c);
  }
};

std::vector<Event> of_type(const std::vector<Event>& ev, EventType t) {
  std::vector<Event> out;
  for (const Event& e : ev) {
    if (e.type == t) out.push_back(e);
  }
  return out;
}

}  // namespace

TEST(Book, RestingOrdersAndBbo) {
  Fixture f;
  auto ev = f.limit(1, Side::kBuy, 100, 5);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kAccepted);
  EXPECT_EQ(ev[0].seq, 2u);  // the fixture's add_symbol took seq 1
  f.limit(2, Side::kBuy, 101, 3);
  f.limit(3, Side::kSell, 105, 4);
  f.limit(4, Side::kBuy, 101, 2);
  const Bbo b = f.eng.bbo(kSym);
  EXPECT_TRUE(b.has_bid && b.has_ask);
  EXPECT_EQ(b.bid_price, 101);
  EXPECT_EQ(b.bid_qty, 5);
  EXPECT_EQ(b.ask_price, 105);
  EXPECT_EQ(b.ask_qty, 4);
  LevelInfo lv[4];
  ASSERT_EQ(f.eng.depth(kSym, Side::kBuy, lv, 4), 2u);
  EXPECT_EQ(lv[0].price, 101);
  EXPECT_EQ(lv[0].orders, 2u);
  EXPECT_EQ(lv[1].price, 100);
  EXPECT_EQ(f.eng.level_orders(kSym, Side::kBuy, 101), (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(f.eng.next_seq(), 6u);  // one seq per command: add_symbol and four submits
}

TEST(Book, PriceTimePriorityAndMakerPrice) {
  Fixture f;
  f.limit(1, Side::kSell, 101, 2);
  f.limit(2, Side::kSell, 100, 2);
  f.limit(3, Side::kSell, 100, 2);
  auto ev = f.limit(4, Side::kBuy, 102, 5);
  auto trades = of_type(ev, EventType::kTrade);
  ASSERT_EQ(trades.size(), 3u);
  EXPECT_EQ(trades[0].other_order_id, 2u);
  EXPECT_EQ(trades[0].price, 100);
  EXPECT_EQ(trades[1].other_order_id, 3u);
  EXPECT_EQ(trades[2].other_order_id, 1u);
  EXPECT_EQ(trades[2].price, 101);
  EXPECT_EQ(trades[2].qty, 1);
  EXPECT_EQ(trades[2].remaining, 0);
  EXPECT_EQ(trades[2].other_remaining, 1);
  EXPECT_EQ(trades[0].side, Side::kBuy);
  EXPECT_EQ(f.eng.order(4).state, OrderState::kFilled);
  EXPECT_EQ(f.eng.order(1).remaining, 1);
  for (const Event& e : ev) EXPECT_EQ(e.seq, ev[0].seq);  // every event carries its command's seq
}

TEST(Book, MarketIocAndFok) {
  Fixture f;
  f.limit(1, Side::kSell, 100, 3);
  auto ev = f.market(2, Side::kBuy, 5);
  ASSERT_EQ(of_type(ev, EventType::kTrade).size(), 1u);
  auto c = of_type(ev, EventType::kCancelled);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].qty, 2);
  EXPECT_EQ(c[0].reason, static_cast<std::uint8_t>(CancelReason::kIocRemainder));

  f.limit(3, Side::kSell, 100, 3);
  f.limit(4, Side::kSell, 101, 3);
  ev = f.limit(5, Side::kBuy, 101, 7, 0, TimeInForce::kFok);
  EXPECT_TRUE(of_type(ev, EventType::kTrade).empty());
  c = of_type(ev, EventType::kCancelled);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].reason, static_cast<std::uint8_t>(CancelReason::kFokNotFillable));
  ev = f.limit(6, Side::kBuy, 101, 6, 0, TimeInForce::kFok);
  EXPECT_EQ(of_type(ev, EventType::kTrade).size(), 2u);
  EXPECT_FALSE(f.eng.bbo(kSym).has_ask);

  f.limit(7, Side::kSell, 100, 3);
  ev = f.limit(8, Side::kBuy, 100, 5, 0, TimeInForce::kIoc);
  EXPECT_EQ(of_type(ev, EventType::kTrade).size(), 1u);
  EXPECT_FALSE(f.eng.bbo(kSym).has_bid);
}

TEST(Book, CancelAndRejects) {
  Fixture f;
  f.limit(1, Side::kBuy, 100, 5);
  auto ev = f.cancel(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kCancelled);
  EXPECT_EQ(ev[0].qty, 5);
  EXPECT_EQ(f.eng.order(1).state, OrderState::kCancelled);
  ev = f.cancel(1);
  EXPECT_EQ(ev[0].type, EventType::kRejected);
  EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(RejectReason::kUnknownOrder));
  ev = f.limit(1, Side::kBuy, 100, 5);
  EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(RejectReason::kDuplicateOrderId));
  EXPECT_EQ(f.limit(0, Side::kBuy, 100, 5)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidOrderId));
  EXPECT_EQ(f.limit(2, Side::kBuy, 0, 5)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidPrice));
  EXPECT_EQ(f.limit(2, Side::kBuy, 2'000'000, 5)[0].reason, static_cast<std::uint8_t>(RejectReason::kPriceOutOfBand));
  EXPECT_EQ(f.limit(2, Side::kBuy, 100, 0)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidQty));
  EXPECT_EQ(f.limit(2, static_cast<Side>(9), 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidSide));
  Command bad{};
  bad.kind = static_cast<CommandKind>(77);
  EXPECT_EQ(f.run(bad)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidCommand));
  EXPECT_EQ(f.eng.live_orders(), 0u);
}

TEST(Book, TickLotAndOverflow) {
  MatchingEngine eng(Fixture::small_config());
  SymbolSpec s;
  s.symbol = 1;
  s.tick_size = 5;
  s.lot_size = 10;
  ASSERT_EQ(eng.add_symbol(s), RejectReason::kNone);
  EXPECT_EQ(eng.add_symbol(s), RejectReason::kDuplicateSymbol);
  s.symbol = 2;
  s.tick_size = 0;
  EXPECT_EQ(eng.add_symbol(s), RejectReason::kInvalidSpec);
  std::vector<Event> ev;
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = 1;
  c.symbol = 1;
  c.side = Side::kBuy;
  c.order_type = OrderType::kLimit;
  c.tif = TimeInForce::kGtc;
  c.price = 101;
  c.qty = 10;
  eng.apply(c, ev);
  EXPECT_EQ(ev.back().reason, static_cast<std::uint8_t>(RejectReason::kPriceOffTick));
  c.price = 100;
  c.qty = 15;
  eng.apply(c, ev);
  EXPECT_EQ(ev.back().reason, static_cast<std::uint8_t>(RejectReason::kQtyOffLot));
  c.price = INT64_MAX / 10 - (INT64_MAX / 10) % 5;
  c.qty = 20;
  eng.apply(c, ev);
  EXPECT_EQ(ev.back().reason, static_cast<std::uint8_t>(RejectReason::kNotionalOverflow));
  EXPECT_EQ(eng.live_orders(), 0u);
}

TEST(Book, AmendPriorityRules) {
  Fixture f;
  f.limit(1, Side::kBuy, 100, 5);
  f.limit(2, Side::kBuy, 100, 5);
  f.amend(1, 0, 4);  // decrease keeps priority
  EXPECT_EQ(f.eng.level_orders(kSym, Side::kBuy, 100), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(f.eng.bbo(kSym).bid_qty, 9);
  f.amend(1, 0, 6);  // increase loses it
  EXPECT_EQ(f.eng.level_orders(kSym, Side::kBuy, 100), (std::vector<std::uint64_t>{2, 1}));
  f.amend(2, 99, 0);  // price change loses it
  EXPECT_EQ(f.eng.level_orders(kSym, Side::kBuy, 99), (std::vector<std::uint64_t>{2}));
  f.limit(3, Side::kSell, 101, 2);
  auto ev = f.amend(2, 101, 0);  // a crossing amend trades as taker
  ASSERT_EQ(of_type(ev, EventType::kTrade).size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kAmended);
  EXPECT_EQ(f.eng.order(2).remaining, 3);
  EXPECT_EQ(f.eng.order(2).filled, 2);
  ev = f.amend(2, 0, 2);
  EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(RejectReason::kAmendBelowFilled));
  ev = f.amend(2, 0, 3);  // total 3 with 2 filled leaves 1
  EXPECT_EQ(f.eng.order(2).remaining, 1);
}

TEST(Book, StopsTriggerInOrderWithCascade) {
  Fixture f;
  f.limit(1, Side::kSell, 100, 1);
  f.limit(2, Side::kSell, 101, 1);
  f.limit(3, Side::kSell, 102, 1);
  Command s{};
  s.kind = CommandKind::kSubmit;
  s.symbol = kSym;
  s.side = Side::kBuy;
  s.order_type = OrderType::kStop;
  s.tif = TimeInForce::kIoc;
  s.qty = 1;
  s.order_id = 10;
  s.stop_price = 101;  // triggered by the trade at 101 made by stop 11
  EXPECT_EQ(f.run(s)[0].type, EventType::kAccepted);
  s.order_id = 11;
  s.stop_price = 100;
  f.run(s);
  EXPECT_EQ(f.eng.order(11).state, OrderState::kPendingStop);
  auto ev = f.limit(20, Side::kBuy, 100, 1);
  auto trig = of_type(ev, EventType::kTriggered);
  ASSERT_EQ(trig.size(), 2u);
  EXPECT_EQ(trig[0].order_id, 11u);
  EXPECT_EQ(trig[1].order_id, 10u);
  auto trades = of_type(ev, EventType::kTrade);
  ASSERT_EQ(trades.size(), 3u);
  EXPECT_EQ(trades[1].price, 101);
  EXPECT_EQ(trades[2].price, 102);
}

TEST(Book, IcebergRefillGoesToBack) {
  Fixture f;
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = 1;
  c.symbol = kSym;
  c.side = Side::kSell;
  c.order_type = OrderType::kLimit;
  c.tif = TimeInForce::kGtc;
  c.price = 100;
  c.qty = 10;
  c.display_qty = 3;
  f.run(c);
  f.limit(2, Side::kSell, 100, 2);
  EXPECT_EQ(f.eng.bbo(kSym).ask_qty, 5);
  auto ev = f.limit(3, Side::kBuy, 100, 4);
  auto trades = of_type(ev, EventType::kTrade);
  ASSERT_EQ(trades.size(), 2u);
  EXPECT_EQ(trades[0].other_order_id, 1u);
  EXPECT_EQ(trades[0].qty, 3);
  EXPECT_EQ(trades[1].other_order_id, 2u);
  EXPECT_EQ(trades[1].qty, 1);
  EXPECT_EQ(f.eng.level_orders(kSym, Side::kSell, 100), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(f.eng.order(1).visible, 3);
  EXPECT_EQ(f.eng.order(1).remaining, 7);
}

TEST(Book, PostOnlyAndGtd) {
  Fixture f;
  f.limit(1, Side::kSell, 100, 1);
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = 2;
  c.symbol = kSym;
  c.side = Side::kBuy;
  c.order_type = OrderType::kLimit;
  c.tif = TimeInForce::kGtc;
  c.price = 100;
  c.qty = 1;
  c.flags = kFlagPostOnly;
  EXPECT_EQ(f.run(c)[0].reason, static_cast<std::uint8_t>(RejectReason::kPostOnlyWouldTake));
  c.price = 99;
  EXPECT_EQ(f.run(c)[0].type, EventType::kAccepted);

  c.order_id = 3;
  c.flags = 0;
  c.tif = TimeInForce::kGtd;
  c.expire_ns = 1000;
  c.time_ns = 10;
  f.run(c);
  c.order_id = 4;
  c.expire_ns = 500;
  f.run(c);
  Command t{};
  t.kind = CommandKind::kAdvanceTime;
  t.time_ns = 999;
  auto ev = f.run(t);
  // The expiry, then the command's own event counting it.
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].order_id, 4u);
  EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(CancelReason::kExpired));
  EXPECT_EQ(ev[1].type, EventType::kTimeAdvanced);
  EXPECT_EQ(ev[1].qty, 1);
  EXPECT_EQ(ev[1].time_ns, 999);
  EXPECT_EQ(ev[1].seq, ev[0].seq);
  t.time_ns = 5;  // the clock never goes back
  ev = f.run(t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kTimeAdvanced);
  EXPECT_EQ(ev[0].qty, 0);
  EXPECT_EQ(ev[0].time_ns, 999);
  EXPECT_EQ(f.eng.now_ns(), 999);
  t.time_ns = 1000;
  ev = f.run(t);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].order_id, 3u);
  c.order_id = 5;
  c.expire_ns = 1000;
  EXPECT_EQ(f.run(c)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidExpireTime));
}

TEST(Book, SelfTradePreventionModes) {
  {
    Fixture f;
    f.limit(1, Side::kSell, 100, 5, 9);
    auto ev = f.limit(2, Side::kBuy, 100, 3, 9, TimeInForce::kGtc, Stp::kCancelNewest);
    EXPECT_TRUE(of_type(ev, EventType::kTrade).empty());
    EXPECT_EQ(f.eng.order(2).state, OrderState::kCancelled);
    EXPECT_EQ(f.eng.order(1).state, OrderState::kResting);
  }
  {
    Fixture f;
    f.limit(1, Side::kSell, 100, 5, 9);
    f.limit(3, Side::kSell, 100, 5, 8);
    auto ev = f.limit(2, Side::kBuy, 100, 3, 9, TimeInForce::kGtc, Stp::kCancelOldest);
    EXPECT_EQ(of_type(ev, EventType::kTrade).size(), 1u);
    EXPECT_EQ(f.eng.order(1).state, OrderState::kCancelled);
    EXPECT_EQ(f.eng.order(2).state, OrderState::kFilled);
  }
  {
    Fixture f;
    f.limit(1, Side::kSell, 100, 5, 9);
    f.limit(2, Side::kBuy, 100, 3, 9, TimeInForce::kGtc, Stp::kCancelBoth);
    EXPECT_EQ(f.eng.order(1).state, OrderState::kCancelled);
    EXPECT_EQ(f.eng.order(2).state, OrderState::kCancelled);
  }
  {
    Fixture f;
    f.limit(1, Side::kSell, 100, 5, 9);
    auto ev = f.limit(2, Side::kBuy, 100, 3, 9, TimeInForce::kGtc, Stp::kDecrementBoth);
    EXPECT_EQ(f.eng.order(1).remaining, 2);
    EXPECT_EQ(f.eng.order(2).state, OrderState::kCancelled);
    EXPECT_EQ(of_type(ev, EventType::kCancelled).size(), 2u);
  }
}

TEST(Book, MassCancelAndMarketData) {
  EngineConfig cfg = Fixture::small_config();
  cfg.market_data = true;
  Fixture f(cfg);
  f.limit(1, Side::kBuy, 100, 5, 1);
  f.limit(2, Side::kBuy, 99, 5, 2);
  f.limit(3, Side::kSell, 105, 5, 1);
  Command m{};
  m.kind = CommandKind::kMassCancel;
  m.account = 1;
  m.flags = kFlagMassByAccount;
  auto ev = f.run(m);
  EXPECT_EQ(of_type(ev, EventType::kCancelled).size(), 2u);
  EXPECT_EQ(of_type(ev, EventType::kMdDelete).size(), 2u);
  EXPECT_EQ(ev.back().type, EventType::kMassCancelled);
  EXPECT_EQ(ev.back().qty, 2);
  EXPECT_EQ(f.eng.live_orders(), 1u);
  m.flags = 0;
  EXPECT_EQ(f.run(m)[0].reason, static_cast<std::uint8_t>(RejectReason::kInvalidFlags));
}

TEST(Book, CapacityRejectsAndPoolReuse) {
  EngineConfig cfg = Fixture::small_config();
  cfg.max_orders = 3;
  cfg.max_levels = 2;
  cfg.id_history = 3;
  Fixture f(cfg);
  f.limit(1, Side::kBuy, 100, 1);
  f.limit(2, Side::kBuy, 99, 1);
  EXPECT_EQ(f.limit(3, Side::kBuy, 98, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kLevelCapacity));
  EXPECT_EQ(f.limit(3, Side::kBuy, 100, 1)[0].type, EventType::kAccepted);
  EXPECT_EQ(f.limit(4, Side::kBuy, 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kOrderCapacity));
  f.cancel(3);
  f.cancel(2);
  f.limit(4, Side::kSell, 200, 1);
  // id history of 3: the oldest finished ids are forgotten in order.
  f.cancel(4);
  f.cancel(1);
  EXPECT_EQ(f.eng.order(3).state, OrderState::kUnknown);
  EXPECT_EQ(f.eng.order(2).state, OrderState::kCancelled);
  EXPECT_EQ(f.eng.order(1).state, OrderState::kCancelled);
  EXPECT_EQ(f.limit(2, Side::kBuy, 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kDuplicateOrderId));
  // 3 was forgotten, but it is <= the highest evicted id: never accepted again.
  EXPECT_EQ(f.eng.evicted_max(), 3U);
  EXPECT_EQ(f.limit(3, Side::kBuy, 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kIdOutsideWindow));
  EXPECT_EQ(f.limit(5, Side::kBuy, 100, 1)[0].type, EventType::kAccepted);
}

TEST(Book, EvictedIdsAreNeverAcceptedAgain) {
  EngineConfig cfg = Fixture::small_config();
  cfg.id_history = 2;
  Fixture f(cfg);
  // Increasing ids through many evictions: every one is accepted.
  for (std::uint64_t id = 10; id < 40; ++id) {
    ASSERT_EQ(f.limit(id, Side::kBuy, 100, 1)[0].type, EventType::kAccepted) << id;
    f.cancel(id);
  }
  // Window holds 38, 39; 37 was the last evicted.
  EXPECT_EQ(f.eng.evicted_max(), 37U);
  EXPECT_EQ(f.eng.order(37).state, OrderState::kUnknown);
  EXPECT_EQ(f.eng.order(38).state, OrderState::kCancelled);
  EXPECT_EQ(f.limit(38, Side::kBuy, 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kDuplicateOrderId));
  for (std::uint64_t id : {10U, 25U, 37U, 1U, 5U}) {  // used and evicted, or below anything evicted
    const auto ev = f.limit(id, Side::kBuy, 100, 1);
    ASSERT_EQ(ev.size(), 1U);
    EXPECT_EQ(ev[0].type, EventType::kRejected);
    EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(RejectReason::kIdOutsideWindow)) << id;
  }
  // The rejects left the book alone: nothing rests, nothing is remembered.
  EXPECT_EQ(f.eng.live_orders(), 0U);
  EXPECT_FALSE(f.eng.bbo(kSym).has_bid);
  EXPECT_EQ(f.eng.order(25).state, OrderState::kUnknown);
  EXPECT_EQ(f.eng.evicted_max(), 37U);
  // A live id below evicted_max is still a duplicate, not outside the window.
  EXPECT_EQ(f.limit(40, Side::kBuy, 100, 1)[0].type, EventType::kAccepted);
  EXPECT_EQ(f.limit(40, Side::kSell, 200, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kDuplicateOrderId));
  // evicted_max survives snapshot/restore and is part of the hash.
  const std::string snap = f.eng.snapshot();
  MatchingEngine r = MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(r.evicted_max(), 37U);
  EXPECT_EQ(r.state_hash(), f.eng.state_hash());
  std::vector<Event> ev;
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = 30;
  c.symbol = kSym;
  c.side = Side::kBuy;
  c.order_type = OrderType::kLimit;
  c.tif = TimeInForce::kGtc;
  c.price = 100;
  c.qty = 1;
  r.apply(c, ev);
  ASSERT_EQ(ev.size(), 1U);
  EXPECT_EQ(ev[0].reason, static_cast<std::uint8_t>(RejectReason::kIdOutsideWindow));
  // id_history 0: every finished id is evicted at once.
  cfg.id_history = 0;
  Fixture z(cfg);
  z.limit(5, Side::kBuy, 100, 1);
  z.cancel(5);
  EXPECT_EQ(z.eng.evicted_max(), 5U);
  EXPECT_EQ(z.limit(5, Side::kBuy, 100, 1)[0].reason, static_cast<std::uint8_t>(RejectReason::kIdOutsideWindow));
  EXPECT_EQ(z.limit(6, Side::kBuy, 100, 1)[0].type, EventType::kAccepted);
}

namespace {

// Random flow over every command kind and order type.
std::vector<Command> random_flow(std::uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::vector<Command> cmds;
  std::uint64_t next_id = 1;
  std::int64_t t = 0;
  for (int i = 0; i < n; ++i) {
    Command c{};
    t += static_cast<std::int64_t>(rng() % 3);
    c.time_ns = t;
    const int r = static_cast<int>(rng() % 100);
    const std::uint64_t some_id = 1 + rng() % next_id;
    if (r < 55) {
      c.kind = CommandKind::kSubmit;
      c.order_id = next_id++;
      c.symbol = kSym;
      c.account = rng() % 4;
      c.side = rng() % 2 ? Side::kBuy : Side::kSell;
      c.qty = 1 + static_cast<std::int64_t>(rng() % 10);
      c.stp = static_cast<Stp>(rng() % 5);
      const int ty = static_cast<int>(rng() % 10);
      c.order_type = ty < 6   ? OrderType::kLimit
                     : ty < 7 ? OrderType::kMarket
                     : ty < 8 ? OrderType::kStop
                              : OrderType::kStopLimit;
      const bool limit = c.order_type == OrderType::kLimit || c.order_type == OrderType::kStopLimit;
      if (limit) c.price = 95 + static_cast<std::int64_t>(rng() % 11);
      if (c.order_type == OrderType::kStop || c.order_type == OrderType::kStopLimit) {
        c.stop_price = 95 + static_cast<std::int64_t>(rng() % 11);
      }
      const int tif = static_cast<int>(rng() % 4);
      c.tif = limit ? static_cast<TimeInForce>(tif + 1) : (tif % 2 ? TimeInForce::kIoc : TimeInForce::kFok);
      if (c.tif == TimeInForce::kGtd) c.expire_ns = t + 1 + static_cast<std::int64_t>(rng() % 20);
      if (c.order_type == OrderType::kLimit && (c.tif == TimeInForce::kGtc || c.tif == TimeInForce::kGtd)) {
        if (rng() % 5 == 0) c.display_qty = 1 + static_cast<std::int64_t>(rng() % 3);
        if (rng() % 8 == 0) c.flags = kFlagPostOnly;
      }
      if (rng() % 50 == 0) c.qty = -1;  // invalid on purpose
    } else if (r < 70) {
      c.kind = CommandKind::kCancel;
      c.order_id = some_id;
    } else if (r < 97) {
      c.kind = CommandKind::kAmend;
      c.order_id = some_id;
      if (rng() % 2) c.price = 95 + static_cast<std::int64_t>(rng() % 11);
      if (rng() % 2) c.qty = 1 + static_cast<std::int64_t>(rng() % 12);
    } else {
      c.kind = CommandKind::kMassCancel;
      c.account = rng() % 4;
      c.symbol = kSym;
      c.flags = static_cast<std::uint8_t>(1 + rng() % 3);
    }
    cmds.push_back(c);
  }
  return cmds;
}

}  // namespace

TEST(Book, RandomFlowInvariantsDeterminismAndSnapshot) {
  EngineConfig cfg = Fixture::small_config();
  cfg.market_data = true;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto cmds = random_flow(seed, 600);
    Fixture a(cfg);
    Fixture b(cfg);
    std::vector<Event> ea, eb;
    // An amend sets filled + open; quantity an STP decrement removed stays cancelled.
    std::map<std::uint64_t, std::int64_t> qty, filled_or_cancelled, stp_cut;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      const std::size_t before = ea.size();
      const std::uint64_t seq = a.eng.next_seq();
      a.eng.apply(cmds[i], ea);
      ASSERT_GT(ea.size(), before) << "every command is answered, command " << i;
      ASSERT_EQ(a.eng.next_seq(), seq + 1) << "every command takes one seq";
      for (std::size_t k = before; k < ea.size(); ++k) {
        const Event& e = ea[k];
        ASSERT_EQ(e.seq, seq);
        if (e.type == EventType::kAccepted) qty[e.order_id] = e.qty;
        if (e.type == EventType::kAmended) qty[e.order_id] = e.qty + stp_cut[e.order_id];
        if (e.type == EventType::kTrade) {
          filled_or_cancelled[e.order_id] += e.qty;
          filled_or_cancelled[e.other_order_id] += e.qty;
        }
        if (e.type == EventType::kCancelled) {
          filled_or_cancelled[e.order_id] += e.qty;
          if (e.remaining > 0) stp_cut[e.order_id] += e.qty;
        }
      }
      const Bbo bbo = a.eng.bbo(kSym);
      if (bbo.has_bid && bbo.has_ask) {
        ASSERT_LT(bbo.bid_price, bbo.ask_price) << "crossed after " << i;
      }
      if (i == cmds.size() / 2) {
        // Snapshot mid-flow into b: from here on both must agree exactly.
        const std::string snap = a.eng.snapshot();
        b.eng = MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
        ASSERT_EQ(b.eng.snapshot(), snap);
        ASSERT_EQ(b.eng.state_hash(), a.eng.state_hash());
      }
      if (i > cmds.size() / 2) {
        const std::size_t bb = eb.size();
        b.eng.apply(cmds[i], eb);
        ASSERT_EQ(eb.size() - bb, ea.size() - before) << i;
        ASSERT_EQ(std::memcmp(eb.data() + bb, ea.data() + before, (ea.size() - before) * sizeof(Event)), 0) << i;
      }
    }
    // Conservation: for every order, filled + cancelled + open = quantity.
    for (const auto& [id, q] : qty) {
      const OrderInfo info = a.eng.order(id);
      const std::int64_t open =
          info.state == OrderState::kResting || info.state == OrderState::kPendingStop ? info.remaining : 0;
      if (filled_or_cancelled[id] + open != q) {
        for (const Event& e : ea) {
          if (e.order_id == id || e.other_order_id == id) {
            std::printf("seq %llu type %d cmd %d id %llu other %llu px %lld qty %lld rem %lld orem %lld reason %d\n",
                        (unsigned long long)e.seq, (int)e.type, (int)e.command, (unsigned long long)e.order_id,
                        (unsigned long long)e.other_order_id, (long long)e.price, (long long)e.qty,
                        (long long)e.remaining, (long long)e.other_remaining, e.reason);
          }
        }
      }
      ASSERT_EQ(filled_or_cancelled[id] + open, q) << "order " << id;
    }
    EXPECT_EQ(a.eng.state_hash(), b.eng.state_hash());
    // Determinism: the same flow in a fresh engine gives the same bytes.
    Fixture c(cfg);
    std::vector<Event> ec;
    c.eng.process(cmds.data(), cmds.size(), ec);
    ASSERT_EQ(ec.size(), ea.size());
    ASSERT_EQ(std::memcmp(ec.data(), ea.data(), ea.size() * sizeof(Event)), 0);
  }
}

TEST(Book, RestoreRejectsCorruptSnapshots) {
  Fixture f;
  f.limit(1, Side::kBuy, 100, 5);
  std::string snap = f.eng.snapshot();
  std::string bad = snap;
  bad[bad.size() / 2] ^= 1;
  EXPECT_THROW(MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()),
               std::invalid_argument);
  EXPECT_THROW(MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), 10), std::invalid_argument);
  EXPECT_THROW(MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size() - 1),
               std::invalid_argument);
}

// SymbolSpec has padding after `symbol`; snapshots and state_hash once copied
// it raw, so two engines given the same symbol hashed differently depending on
// what the caller's stack held.
TEST(Book, StateHashIgnoresSpecPaddingBytes) {
  alignas(SymbolSpec) unsigned char garbage[sizeof(SymbolSpec)];
  alignas(SymbolSpec) unsigned char zeros[sizeof(SymbolSpec)];
  std::memset(garbage, 0xA5, sizeof garbage);
  std::memset(zeros, 0, sizeof zeros);
  auto* a = new (garbage) SymbolSpec;
  auto* b = new (zeros) SymbolSpec;
  for (SymbolSpec* s : {a, b}) {
    s->symbol = 3;
    s->tick_size = 5;
    s->lot_size = 2;
    s->min_price = 5;
    s->max_price = 5'000;
    s->max_qty = 1'000;
  }
  MatchingEngine e1(Fixture::small_config());
  MatchingEngine e2(Fixture::small_config());
  ASSERT_EQ(e1.add_symbol(*a), RejectReason::kNone);
  ASSERT_EQ(e2.add_symbol(*b), RejectReason::kNone);
  EXPECT_EQ(e1.state_hash(), e2.state_hash());
  EXPECT_EQ(e1.snapshot(), e2.snapshot());
}
