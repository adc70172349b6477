// The matching engine as a machine of the state-machine contract, and the
// regression tests of the defects that are best checked natively
// (under ASan/UBSan in the asan-ubsan preset): symbol commands, sequence
// checks, aggregate overflow, int64-extreme queries, the id bound, and
// resealed snapshots, every byte of one corrupted in turn.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "shanraq/book/engine.hpp"
#include "shanraq/common/checksum.hpp"

using namespace shanraq::book;

namespace {

Command submit(std::uint64_t id, std::uint32_t sym, Side side, std::int64_t price, std::int64_t qty,
               TimeInForce tif = TimeInForce::kGtc, OrderType type = OrderType::kLimit) {
  Command c{};
  c.kind = CommandKind::kSubmit;
  c.order_id = id;
  c.symbol = sym;
  c.side = side;
  c.order_type = type;
  c.tif = tif;
  c.price = price;
  c.qty = qty;
  return c;
}

Command simple(CommandKind kind, std::uint32_t sym = 0, std::uint64_t id = 0, std::int64_t time_ns = 0) {
  Command c{};
  c.kind = kind;
  c.symbol = sym;
  c.order_id = id;
  c.time_ns = time_ns;
  return c;
}

std::vector<Event> run(MatchingEngine& e, const Command& c) {
  std::vector<Event> ev;
  e.apply(c, ev);
  return ev;
}

std::uint8_t reason(const std::vector<Event>& ev) { return ev.back().reason; }
constexpr std::uint8_t code(RejectReason r) { return static_cast<std::uint8_t>(r); }

EngineConfig small() {
  EngineConfig c;
  c.max_orders = 64;
  c.max_symbols = 4;
  c.max_levels = 64;
  c.id_history = 8;
  c.market_data = true;
  return c;
}

SymbolSpec spec(std::uint32_t sym, std::int64_t tick = 1, std::int64_t lot = 1) {
  SymbolSpec s;
  s.symbol = sym;
  s.tick_size = tick;
  s.lot_size = lot;
  return s;
}

}  // namespace

TEST(BookContract, SymbolCommandsAreCommandsWithEvents) {
  MatchingEngine e(small());
  SymbolSpec s = spec(9, 5, 10);
  s.min_price = 5;
  s.max_price = 1000;
  s.max_qty = 500;
  auto ev = run(e, make_add_symbol(s, 7));
  ASSERT_EQ(ev.size(), 1U);
  EXPECT_EQ(ev[0].type, EventType::kSymbolAdded);
  EXPECT_EQ(ev[0].seq, 1U);
  EXPECT_EQ(ev[0].time_ns, 7);
  EXPECT_EQ(ev[0].symbol, 9U);
  EXPECT_EQ(ev[0].price, 5);  // tick_size
  EXPECT_EQ(ev[0].qty, 10);   // lot_size
  EXPECT_EQ(static_cast<std::int64_t>(ev[0].other_order_id), 5);    // min_price
  EXPECT_EQ(static_cast<std::int64_t>(ev[0].other_account), 1000);  // max_price
  EXPECT_EQ(ev[0].remaining, 500);                                  // max_qty
  EXPECT_EQ(reason(run(e, make_add_symbol(s))), code(RejectReason::kDuplicateSymbol));
  s.symbol = 10;
  s.tick_size = 0;
  EXPECT_EQ(reason(run(e, make_add_symbol(s))), code(RejectReason::kInvalidSpec));
  for (std::uint32_t sym : {10U, 11U, 12U}) EXPECT_EQ(e.add_symbol(spec(sym)), RejectReason::kNone);
  EXPECT_EQ(e.add_symbol(spec(13)), RejectReason::kSymbolCapacity);
  EXPECT_EQ(reason(run(e, make_update_symbol(spec(99)))), code(RejectReason::kUnknownSymbol));
  ev = run(e, make_update_symbol(spec(9, 2, 10)));
  EXPECT_EQ(ev[0].type, EventType::kSymbolUpdated);
  EXPECT_EQ(e.symbol_info(9).spec.tick_size, 2);
  ev = run(e, simple(CommandKind::kHaltSymbol, 9));
  EXPECT_EQ(ev[0].type, EventType::kSymbolHalted);
  EXPECT_TRUE(e.symbol_info(9).halted);
  EXPECT_EQ(reason(run(e, simple(CommandKind::kHaltSymbol, 9))), code(RejectReason::kSymbolHalted));
  EXPECT_EQ(reason(run(e, submit(1, 9, Side::kBuy, 10, 10))), code(RejectReason::kSymbolHalted));
  EXPECT_EQ(run(e, simple(CommandKind::kResumeSymbol, 9))[0].type, EventType::kSymbolResumed);
  EXPECT_EQ(reason(run(e, simple(CommandKind::kResumeSymbol, 9))), code(RejectReason::kSymbolNotHalted));
  EXPECT_EQ(run(e, submit(1, 9, Side::kBuy, 10, 10))[0].type, EventType::kAccepted);
  EXPECT_FALSE(e.symbol_info(77).known);
}

TEST(BookContract, SequenceNumbersAndTime) {
  MatchingEngine e(small());
  EXPECT_EQ(e.next_seq(), 1U);
  e.add_symbol(spec(1));
  std::vector<Command> cmds = {simple(CommandKind::kAdvanceTime, 0, 0, 10), submit(1, 1, Side::kBuy, 5, 1)};
  cmds[0].seq = 2;
  cmds[1].seq = 4;  // a gap
  std::vector<Event> out;
  const std::string before = e.snapshot();
  EXPECT_THROW(e.process(cmds.data(), cmds.size(), out), shanraq::sm::SequenceError);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(e.snapshot(), before);
  cmds[1].seq = 3;
  e.process(cmds.data(), cmds.size(), out);
  ASSERT_EQ(out.size(), 3U);  // TIME_ADVANCED, then ACCEPTED and MD_ADD
  EXPECT_EQ(out[0].type, EventType::kTimeAdvanced);
  EXPECT_EQ(out[0].seq, 2U);
  EXPECT_EQ(out[1].seq, 3U);
  EXPECT_EQ(out[2].seq, 3U);
  EXPECT_EQ(out[1].time_ns, 10);  // the clock never goes back
  EXPECT_EQ(e.now_ns(), 10);
  EXPECT_EQ(e.next_seq(), 4U);
  Command neg = simple(CommandKind::kAdvanceTime, 0, 0, -1);
  EXPECT_EQ(reason(run(e, neg)), code(RejectReason::kInvalidTime));
}

TEST(BookContract, OpenQuantityPerSideNeverWraps) {
  MatchingEngine e(small());
  e.add_symbol(spec(1));
  EXPECT_EQ(run(e, submit(1, 1, Side::kBuy, 1, std::int64_t{1} << 62))[0].type, EventType::kAccepted);
  EXPECT_EQ(reason(run(e, submit(2, 1, Side::kBuy, 1, std::int64_t{1} << 62))), code(RejectReason::kQtyOverflow));
  EXPECT_EQ(e.bbo(1).bid_qty, std::int64_t{1} << 62);
  EXPECT_EQ(run(e, submit(3, 1, Side::kBuy, 1, (std::int64_t{1} << 62) - 1))[0].type, EventType::kAccepted);
  EXPECT_EQ(e.bbo(1).bid_qty, INT64_MAX);
  // A FOK market sell of everything: fillable, and the countdown never overflows.
  auto ev = run(e, submit(4, 1, Side::kSell, 0, INT64_MAX, TimeInForce::kFok, OrderType::kMarket));
  std::int64_t traded = 0;
  for (const Event& x : ev) traded += x.type == EventType::kTrade ? x.qty : 0;
  EXPECT_EQ(traded, INT64_MAX);
  EXPECT_FALSE(e.bbo(1).has_bid);
}

TEST(BookContract, QueriesAtInt64Extremes) {
  // Was: level_orders(sym, side, INT64_MIN) negated the price for the ask
  // ladder's key (signed overflow; UBSan aborts in the asan-ubsan preset).
  MatchingEngine e(small());
  e.add_symbol(spec(1));
  run(e, submit(1, 1, Side::kSell, 5, 1));
  run(e, submit(2, 1, Side::kBuy, 4, 1));
  for (Side side : {Side::kBuy, Side::kSell}) {
    for (std::int64_t p : {INT64_MIN, INT64_MIN + 1, std::int64_t{-1}, std::int64_t{0}, INT64_MAX}) {
      EXPECT_TRUE(e.level_orders(1, side, p).empty()) << p;
    }
  }
  EXPECT_EQ(e.level_orders(1, Side::kSell, 5), std::vector<std::uint64_t>{1});
  EXPECT_EQ(e.side_levels(1, Side::kBuy), 1U);
  EXPECT_EQ(e.side_levels(1, static_cast<Side>(7)), 0U);
  EXPECT_EQ(e.side_levels(2, Side::kBuy), 0U);
}

TEST(BookContract, OrderIdsAboveTheBoundAreRefused) {
  EngineConfig c = small();
  c.id_history = 1;
  MatchingEngine e(c);
  e.add_symbol(spec(1));
  for (std::uint64_t id : {~std::uint64_t{0}, std::uint64_t{1} << 63}) {
    EXPECT_EQ(reason(run(e, submit(id, 1, Side::kBuy, 5, 1))), code(RejectReason::kInvalidOrderId));
    EXPECT_EQ(reason(run(e, simple(CommandKind::kCancel, 0, id))), code(RejectReason::kInvalidOrderId));
  }
  for (std::uint64_t id = 1; id <= 4; ++id) {
    run(e, submit(id, 1, Side::kBuy, 5, 1));
    run(e, simple(CommandKind::kCancel, 0, id));
  }
  EXPECT_EQ(e.evicted_max(), 3U);
  EXPECT_EQ(run(e, submit(kMaxOrderId, 1, Side::kBuy, 5, 1))[0].type, EventType::kAccepted);
}

namespace {

// A state with every kind of record (icebergs, stops, GTD, a halted symbol,
// a last trade price, finished ids) to corrupt.
MatchingEngine sample() {
  MatchingEngine e(small());
  e.add_symbol(spec(1));
  SymbolSpec s2 = spec(2, 5, 10);
  s2.min_price = 5;
  s2.max_price = 10'000;
  s2.max_qty = 1'000;
  e.add_symbol(s2);
  Command ice = submit(11, 1, Side::kSell, 105, 100);
  ice.display_qty = 10;
  run(e, ice);
  Command gtd = submit(12, 1, Side::kBuy, 95, 5, TimeInForce::kGtd);
  gtd.expire_ns = 1000;
  run(e, gtd);
  Command stop = submit(13, 1, Side::kBuy, 0, 3, TimeInForce::kIoc, OrderType::kStop);
  stop.stop_price = 110;
  run(e, stop);
  Command stop_limit = submit(14, 1, Side::kSell, 90, 2, TimeInForce::kGtc, OrderType::kStopLimit);
  stop_limit.stop_price = 92;
  run(e, stop_limit);
  run(e, submit(15, 1, Side::kSell, 100, 1));
  run(e, submit(16, 1, Side::kBuy, 100, 1));
  Command post = submit(17, 2, Side::kBuy, 50, 20);
  post.flags = kFlagPostOnly;
  run(e, post);
  run(e, simple(CommandKind::kHaltSymbol, 2));
  return e;
}

// Commands that trade against every book of a restored engine, expire its
// GTD orders and touch its stops: they must run to completion.
std::vector<Command> follow_up() {
  std::vector<Command> f;
  f.push_back(simple(CommandKind::kResumeSymbol, 2));
  std::uint64_t id = 1000;
  for (std::uint32_t sym : {1U, 2U}) {
    for (Side side : {Side::kBuy, Side::kSell}) {
      f.push_back(
          submit(id++, sym, side, 0, sym == 1 ? std::int64_t{1} << 40 : 1000, TimeInForce::kIoc, OrderType::kMarket));
      f.push_back(submit(id++, sym, side, 100, 10));
    }
  }
  for (std::uint64_t old = 11; old <= 17; ++old) {
    Command a = simple(CommandKind::kAmend, 0, old);
    a.qty = 50;
    f.push_back(a);
    f.push_back(simple(CommandKind::kCancel, 0, old));
  }
  f.push_back(simple(CommandKind::kAdvanceTime, 0, 0, 5000));
  Command mass = simple(CommandKind::kMassCancel);
  mass.flags = kFlagMassBySymbol;
  mass.symbol = 1;
  f.push_back(mass);
  return f;
}

std::string reseal(std::string s) {
  const std::uint64_t sum = shanraq::checksum64(s.data(), s.size() - 8);
  std::memcpy(s.data() + s.size() - 8, &sum, 8);
  return s;
}

}  // namespace

TEST(BookRestore, ResealedSnapshots) {
  const std::string snap = sample().snapshot();
  const std::vector<Command> flow = follow_up();
  int refused = 0, restored = 0;
  for (std::size_t at = 8; at + 8 < snap.size(); ++at) {
    for (int v : {0x00, 0xFF, 0x01, 0x80, 0x7F, (snap[at] ^ 1) & 0xFF}) {
      std::string bad = snap;
      bad[at] = static_cast<char>(v);
      if (bad == snap) continue;
      bad = reseal(bad);
      const auto* p = reinterpret_cast<const std::uint8_t*>(bad.data());
      try {
        MatchingEngine e = MatchingEngine::restore(p, bad.size());
        ++restored;
        std::vector<Event> out;
        e.process(flow.data(), flow.size(), out);
        // Finite, and within what the rules allow (an iceberg refills at most
        // 65,536 times; the sample has a handful of orders).
        ASSERT_LT(out.size(), std::size_t{1} << 22) << "byte " << at;
        const std::string again = e.snapshot();
        MatchingEngine r = MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(again.data()), again.size());
        ASSERT_EQ(r.state_hash(), e.state_hash()) << "byte " << at;
      } catch (const std::invalid_argument&) {
        ++refused;
      } catch (const std::bad_alloc&) {
        ++refused;  // capacities the machine cannot reserve
      }
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(restored, 100);
}

TEST(BookRestore, HiddenQuantityWithoutDisplayIsRefused) {
  // Was: restored, and the next trade against it looped forever emitting
  // zero-quantity trades (the refill showed min(display 0, hidden) = 0).
  std::string snap = sample().snapshot();
  const std::uint64_t id = 11;
  const std::size_t at = snap.find(std::string(reinterpret_cast<const char*>(&id), 8));
  ASSERT_NE(at, std::string::npos);
  std::memset(snap.data() + at + 48, 0, 8);  // OrderRecord::display
  snap = reseal(snap);
  EXPECT_THROW(MatchingEngine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size()),
               std::invalid_argument);
}
