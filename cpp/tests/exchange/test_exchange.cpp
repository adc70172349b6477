#include "shanraq/exchange/exchange.hpp"

#include "shanraq/common/checksum.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace shanraq;
using namespace shanraq::exchange;
using R = RejectReason;
using BR = book::RejectReason;
using Command = ExchangeCommand;
using Event = ExchangeEvent;

constexpr std::uint32_t kBtc = 1, kUsd = 2, kSym = 10;
constexpr std::uint64_t kAlice = 100, kBob = 200;

Command cmd(CommandKind k) {
  Command c{};
  c.kind = k;
  return c;
}

Command add_asset(std::uint32_t a) {
  Command c = cmd(CommandKind::kAddAsset);
  c.asset = a;
  return c;
}
Command add_user(std::uint64_t u) {
  Command c = cmd(CommandKind::kAddUser);
  c.user = u;
  return c;
}
Command add_symbol(std::uint32_t sym, std::uint32_t base, std::uint32_t quote, std::uint16_t maker_bps,
                   std::uint16_t taker_bps, std::uint32_t base_scale = 1, std::uint32_t quote_scale = 1) {
  Command c = cmd(CommandKind::kAddSymbol);
  c.symbol = sym;
  c.asset = base;
  c.user = std::uint64_t{quote} | std::uint64_t{maker_bps} << 32 | std::uint64_t{taker_bps} << 48;
  c.order_id = std::uint64_t{base_scale} | std::uint64_t{quote_scale} << 32;
  c.price = 1;  // tick
  c.qty = 1;    // lot
  c.stop_price = 1;
  c.display_qty = 1'000'000;
  c.expire_ns = 1'000'000;
  return c;
}
Command money(bool deposit, std::uint64_t u, std::uint32_t a, std::uint64_t id, std::int64_t amount) {
  Command c = cmd(deposit ? CommandKind::kDeposit : CommandKind::kWithdraw);
  c.user = u;
  c.asset = a;
  c.order_id = id;
  c.qty = amount;
  return c;
}
Command place(std::uint64_t u, std::uint64_t id, Side side, std::int64_t price, std::int64_t qty,
              OrderType type = OrderType::kLimit, TimeInForce tif = TimeInForce::kGtc) {
  Command c = cmd(CommandKind::kPlace);
  c.user = u;
  c.symbol = kSym;
  c.order_id = id;
  c.side = side;
  c.order_type = type;
  c.tif = tif;
  c.price = price;
  c.qty = qty;
  return c;
}
Command cancel(std::uint64_t u, std::uint64_t id) {
  Command c = cmd(CommandKind::kCancel);
  c.user = u;
  c.order_id = id;
  return c;
}
Command amend(std::uint64_t u, std::uint64_t id, std::int64_t price, std::int64_t qty) {
  Command c = cmd(CommandKind::kAmend);
  c.user = u;
  c.order_id = id;
  c.price = price;
  c.qty = qty;
  return c;
}

class ExchangeTest : public ::testing::Test {
 protected:
  static ExchangeConfig small() {
    ExchangeConfig c;
    c.max_users = 64;
    c.max_assets = 8;
    c.max_symbols = 8;
    c.max_orders = 4096;
    c.max_levels = 4096;
    c.id_history = 4096;
    c.max_accounts = 1024;
    c.max_transfers = 4096;
    return c;
  }
  ExchangeTest() : x(small()) {}

  std::vector<Event> run(const Command& c) {
    std::vector<Event> out;
    x.apply(c, out);
    EXPECT_FALSE(out.empty());
    const InvariantReport r = x.check_invariants();
    EXPECT_EQ(r.violation, Violation::kNone) << r.message;
    return out;
  }
  // The reject reason of a one-event answer, or kNone.
  R reason(const Command& c) {
    const std::vector<Event> ev = run(c);
    return ev.front().type == EventType::kRejected ? static_cast<R>(ev.front().reason) : R::kNone;
  }
  void setup(std::uint16_t maker = 10, std::uint16_t taker = 20) {
    ASSERT_EQ(reason(add_asset(kBtc)), R::kNone);
    ASSERT_EQ(reason(add_asset(kUsd)), R::kNone);
    ASSERT_EQ(reason(add_user(kAlice)), R::kNone);
    ASSERT_EQ(reason(add_user(kBob)), R::kNone);
    ASSERT_EQ(reason(add_symbol(kSym, kBtc, kUsd, maker, taker)), R::kNone);
  }

  Exchange x;
};

TEST_F(ExchangeTest, DepositsAndWithdrawalsMoveTheLedger) {
  setup();
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 1, 1000)), R::kNone);
  Balance b = x.balance(kAlice, kUsd);
  EXPECT_TRUE(b.known);
  EXPECT_EQ(b.total, 1000U);
  EXPECT_EQ(b.available, 1000U);
  std::int64_t ext = 0;
  ASSERT_TRUE(x.external_balance(kUsd, &ext));
  EXPECT_EQ(ext, -1000);
  EXPECT_EQ(reason(money(false, kAlice, kUsd, 2, 1001)), R::kInsufficientBalance);
  EXPECT_EQ(reason(money(false, kAlice, kUsd, 3, 400)), R::kNone);
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 600U);
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 1, 5)), R::kDuplicateTransfer);
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 0, 5)), R::kInvalidTransferId);
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 9, 0)), R::kInvalidAmount);
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 9, -5)), R::kInvalidAmount);
  EXPECT_EQ(reason(money(true, 999, kUsd, 9, 5)), R::kUnknownUser);
  EXPECT_EQ(reason(money(true, kAlice, 77, 9, 5)), R::kUnknownAsset);
  EXPECT_EQ(reason(money(true, kAlice, kUsd, 10, static_cast<std::int64_t>(kMaxAmount))), R::kSupplyLimit);
}

TEST_F(ExchangeTest, ConfigurationRejects) {
  EXPECT_EQ(reason(add_asset(0)), R::kInvalidAssetId);
  EXPECT_EQ(reason(add_asset(kBtc)), R::kNone);
  EXPECT_EQ(reason(add_asset(kBtc)), R::kDuplicateAsset);
  EXPECT_EQ(reason(add_user(0)), R::kInvalidUserId);
  EXPECT_EQ(reason(add_user(kAlice)), R::kNone);
  EXPECT_EQ(reason(add_user(kAlice)), R::kDuplicateUser);
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kUsd, 0, 0)), R::kUnknownAsset);
  EXPECT_EQ(reason(add_asset(kUsd)), R::kNone);
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kBtc, 0, 0)), R::kSameAsset);
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kUsd, 10001, 0)), R::kInvalidFee);
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kUsd, 0, 0, 0, 1)), R::kInvalidScale);
  Command bad_spec = add_symbol(kSym, kBtc, kUsd, 0, 0);
  bad_spec.price = 0;
  EXPECT_EQ(reason(bad_spec), static_cast<R>(BR::kInvalidSpec));
  EXPECT_FALSE(x.has_symbol(kSym));
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kUsd, 0, 0)), R::kNone);
  EXPECT_EQ(reason(add_symbol(kSym, kBtc, kUsd, 0, 0)), static_cast<R>(BR::kDuplicateSymbol));
  // A user added before an asset gets an account for it.
  EXPECT_EQ(reason(add_asset(3)), R::kNone);
  EXPECT_TRUE(x.balance(kAlice, 3).known);
  Command bad = add_user(5);
  bad.reserved0 = 1;
  EXPECT_EQ(reason(bad), static_cast<R>(BR::kInvalidCommand));
  Command unknown = cmd(static_cast<CommandKind>(99));
  EXPECT_EQ(reason(unknown), static_cast<R>(BR::kInvalidCommand));
  Command past = add_user(6);
  past.time_ns = -1;
  EXPECT_EQ(reason(past), static_cast<R>(BR::kInvalidTime));
}

TEST_F(ExchangeTest, RestingBuyHoldsPriceTimesQtyPlusWorstFee) {
  setup(10, 20);
  run(money(true, kAlice, kUsd, 1, 1'000'000));
  // 100 x 1000 = 100,000 + 20 bp = 200 -> 100,200 held.
  run(place(kAlice, 1, Side::kBuy, 100, 1000));
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 100'200U);
  EXPECT_EQ(x.balance(kAlice, kUsd).available, 899'800U);
  EXPECT_EQ(x.order_hold(1).hold, 100'200U);
  run(cancel(kAlice, 1));
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  EXPECT_FALSE(x.order_hold(1).open);
  EXPECT_EQ(x.open_order_count(kAlice), 0U);
}

TEST_F(ExchangeTest, InsufficientBalanceRejectsAndChangesNothing) {
  setup();
  run(money(true, kAlice, kUsd, 1, 1000));
  const std::uint64_t before = x.state_hash();
  const std::uint64_t seq = x.next_seq();
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 100, 10)), R::kInsufficientBalance);  // 1000 + 2 fee
  EXPECT_EQ(reason(place(kAlice, 2, Side::kSell, 100, 1)), R::kInsufficientBalance);  // no BTC
  EXPECT_EQ(x.next_seq(), seq + 2);
  // Only the sequence moved: restore the hash check by comparing a fresh replay.
  Exchange y(small());
  std::vector<Event> out;
  std::vector<Command> cmds = {add_asset(kBtc),
                               add_asset(kUsd),
                               add_user(kAlice),
                               add_user(kBob),
                               add_symbol(kSym, kBtc, kUsd, 10, 20),
                               money(true, kAlice, kUsd, 1, 1000)};
  y.process(cmds.data(), cmds.size(), out);
  EXPECT_EQ(y.state_hash(), before);
  EXPECT_EQ(x.balance(kAlice, kUsd).available, 1000U);
  EXPECT_EQ(x.order_count(), 0U);
}

TEST_F(ExchangeTest, TradeSettlesOnceWithFeesAndReleasesPriceImprovement) {
  setup(10, 20);  // maker 0.1%, taker 0.2%
  run(money(true, kAlice, kUsd, 1, 1'000'000));
  run(money(true, kBob, kBtc, 2, 5'000));
  run(place(kBob, 1, Side::kSell, 100, 3000));  // maker sell
  EXPECT_EQ(x.balance(kBob, kBtc).held, 3000U);
  // Taker buy at 105 fills 2000 at 100: notional 200,000.
  const std::vector<Event> ev = run(place(kAlice, 2, Side::kBuy, 105, 2000));
  const Event* trade = nullptr;
  for (const Event& e : ev) {
    if (e.type == EventType::kTrade) trade = &e;
  }
  ASSERT_NE(trade, nullptr);
  EXPECT_EQ(trade->amount, 200'000U);
  EXPECT_EQ(trade->fee, 400U);        // taker 20 bp
  EXPECT_EQ(trade->other_fee, 200U);  // maker 10 bp
  EXPECT_EQ(trade->other_hold, 1000U);
  EXPECT_EQ(trade->hold, 0U);
  // Alice: paid 200,000 + 400, nothing held (filled), received 2000 BTC.
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 1'000'000U - 200'400U);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  EXPECT_EQ(x.balance(kAlice, kBtc).total, 2000U);
  // Bob: received 200,000 - 200, still holds 1000 BTC for the rest.
  EXPECT_EQ(x.balance(kBob, kUsd).total, 199'800U);
  EXPECT_EQ(x.balance(kBob, kBtc).total, 3000U);
  EXPECT_EQ(x.balance(kBob, kBtc).held, 1000U);
  std::uint64_t fees = 0;
  ASSERT_TRUE(x.fee_balance(kUsd, &fees));
  EXPECT_EQ(fees, 600U);
}

TEST_F(ExchangeTest, FeesRoundDownPerTrade) {
  setup(10, 30);
  run(money(true, kAlice, kUsd, 1, 1'000'000));
  run(money(true, kBob, kBtc, 2, 100));
  run(place(kBob, 1, Side::kSell, 33, 1));
  run(place(kBob, 2, Side::kSell, 33, 1));
  // Two trades of notional 33: taker fee floor(33 x 30 / 10,000) = 0 each.
  run(place(kAlice, 3, Side::kBuy, 40, 2));
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 1'000'000U - 66U);
  run(place(kBob, 4, Side::kSell, 4000, 1));
  run(place(kAlice, 5, Side::kBuy, 4000, 1));  // 4000 x 30 bp = 12; maker 4
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 1'000'000U - 66U - 4012U);
  EXPECT_EQ(x.balance(kBob, kUsd).total, 66U + 3996U);
}

TEST_F(ExchangeTest, OwnershipIsEnforced) {
  setup();
  run(money(true, kAlice, kUsd, 1, 1'000'000));
  run(money(true, kBob, kUsd, 2, 1'000'000));
  run(place(kAlice, 1, Side::kBuy, 100, 10));
  run(place(kBob, 2, Side::kBuy, 100, 10));
  EXPECT_EQ(reason(cancel(kBob, 1)), R::kNotOwner);
  EXPECT_EQ(reason(amend(kBob, 1, 90, 0)), R::kNotOwner);
  EXPECT_EQ(reason(cancel(999, 1)), R::kUnknownUser);
  EXPECT_EQ(reason(cancel(kBob, 77)), static_cast<R>(BR::kUnknownOrder));
  EXPECT_TRUE(x.order_hold(1).open);
  Command mc = cmd(CommandKind::kMassCancel);
  mc.user = kBob;
  const std::vector<Event> ev = run(mc);
  EXPECT_EQ(ev.back().type, EventType::kMassCancelled);
  EXPECT_EQ(ev.back().qty, 1);
  EXPECT_TRUE(x.order_hold(1).open);
  EXPECT_FALSE(x.order_hold(2).open);
  EXPECT_EQ(x.balance(kBob, kUsd).held, 0U);
  EXPECT_EQ(x.open_orders(kAlice), std::vector<std::uint64_t>{1});
}

TEST_F(ExchangeTest, AmendAdjustsTheHoldBothWays) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 2000));
  run(place(kAlice, 1, Side::kBuy, 100, 10));
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 1000U);
  EXPECT_EQ(reason(amend(kAlice, 1, 0, 25)), R::kInsufficientBalance);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 1000U);
  EXPECT_EQ(reason(amend(kAlice, 1, 0, 20)), R::kNone);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 2000U);
  EXPECT_EQ(reason(amend(kAlice, 1, 50, 0)), R::kNone);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 1000U);
  EXPECT_EQ(reason(amend(kAlice, 1, 0, 5)), R::kNone);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 250U);
  // The engine's reject of an amend gives the pre-held amount back.
  EXPECT_EQ(reason(amend(kAlice, 1, 0, -1)), static_cast<R>(BR::kInvalidQty));
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 250U);
}

TEST_F(ExchangeTest, MarketOrdersAndStops) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 100'000));
  run(money(true, kBob, kBtc, 2, 100));
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 0, 10, OrderType::kMarket)), R::kProtectionPriceRequired);
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 0, 10, OrderType::kStop)), R::kProtectionPriceRequired);
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 100, 10, OrderType::kMarket, TimeInForce::kGtc)),
            static_cast<R>(BR::kInvalidTimeInForce));
  run(place(kBob, 2, Side::kSell, 90, 5));
  // Market buy with protection 100: fills 5 at 90, the rest (IOC) released.
  run(place(kAlice, 3, Side::kBuy, 100, 10, OrderType::kMarket, TimeInForce::kIoc));
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 100'000U - 450U);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  EXPECT_EQ(x.balance(kAlice, kBtc).total, 5U);
  // A stop holds from placement.
  Command stop = place(kAlice, 4, Side::kBuy, 120, 10, OrderType::kStop, TimeInForce::kIoc);
  stop.stop_price = 110;
  EXPECT_EQ(reason(stop), R::kNone);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 1200U);
  // A market sell without a price holds base and sells into the bid.
  run(place(kAlice, 5, Side::kBuy, 80, 2));
  run(place(kBob, 6, Side::kSell, 0, 2, OrderType::kMarket, TimeInForce::kIoc));
  EXPECT_EQ(x.balance(kBob, kBtc).total, 93U);
  EXPECT_EQ(x.balance(kBob, kUsd).total, 450U + 160U);
  // The stop triggers when a trade reaches 110 and fills against Bob's ask.
  run(place(kBob, 7, Side::kSell, 110, 12));
  run(money(true, kBob, kUsd, 3, 10'000));
  run(place(kBob, 8, Side::kBuy, 110, 1));  // Bob buys from himself (no STP): last = 110
  EXPECT_FALSE(x.order_hold(4).open);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  // Alice: 5 from the market buy, 2 from her bid at 80, 10 from the stop.
  EXPECT_EQ(x.balance(kAlice, kBtc).total, 17U);
  EXPECT_EQ(x.balance(kAlice, kUsd).total, 100'000U - 450U - 160U - 1100U);
}

TEST_F(ExchangeTest, RiskLimits) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 1'000'000));
  Command lim = cmd(CommandKind::kSetLimits);
  lim.user = kAlice;
  lim.qty = 2;       // max open orders
  lim.price = 5000;  // max notional
  EXPECT_EQ(reason(lim), R::kNone);
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 100, 51)), R::kMaxNotional);
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 100, 10)), R::kNone);
  EXPECT_EQ(reason(place(kAlice, 2, Side::kBuy, 100, 10)), R::kNone);
  EXPECT_EQ(reason(place(kAlice, 3, Side::kBuy, 100, 10)), R::kMaxOpenOrders);
  EXPECT_EQ(reason(amend(kAlice, 1, 0, 60)), R::kMaxNotional);
  Command pos = cmd(CommandKind::kSetPositionLimit);
  pos.user = kAlice;
  pos.asset = kBtc;
  pos.stop_price = 25;
  EXPECT_EQ(reason(pos), R::kNone);
  run(cancel(kAlice, 2));
  EXPECT_EQ(reason(place(kAlice, 3, Side::kBuy, 100, 16)), R::kMaxPosition);  // 10 open + 16 > 25
  EXPECT_EQ(reason(place(kAlice, 3, Side::kBuy, 100, 15)), R::kNone);
  EXPECT_EQ(reason(amend(kAlice, 3, 0, 16)), R::kMaxPosition);
  lim.qty = -1;
  EXPECT_EQ(reason(lim), static_cast<R>(BR::kInvalidCommand));
  pos.user = 999;
  EXPECT_EQ(reason(pos), R::kUnknownUser);
}

TEST_F(ExchangeTest, SelfTradePreventionAndExpiryReleaseHolds) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 100'000));
  run(money(true, kAlice, kBtc, 2, 100));
  run(place(kAlice, 1, Side::kSell, 100, 10));
  Command buy = place(kAlice, 2, Side::kBuy, 100, 4);
  buy.stp = Stp::kDecrementBoth;
  run(buy);
  EXPECT_EQ(x.order_hold(1).remaining, 6);
  EXPECT_EQ(x.balance(kAlice, kBtc).held, 6U);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  Command gtd = place(kAlice, 3, Side::kBuy, 50, 10, OrderType::kLimit, TimeInForce::kGtd);
  gtd.expire_ns = 1000;
  run(gtd);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 500U);
  Command t = cmd(CommandKind::kAdvanceTime);
  t.time_ns = 2000;
  run(t);
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  EXPECT_FALSE(x.order_hold(3).open);
}

TEST_F(ExchangeTest, NotionalOverflowIsRejected) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 1000));
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 1'000'000, INT64_MAX)), static_cast<R>(BR::kNotionalOverflow));
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 100, -1)), static_cast<R>(BR::kInvalidQty));
  EXPECT_EQ(reason(place(kAlice, 0, Side::kBuy, 100, 1)), static_cast<R>(BR::kInvalidOrderId));
  EXPECT_EQ(reason(place(kAlice, 1, static_cast<Side>(7), 100, 1)), static_cast<R>(BR::kInvalidSide));
}

TEST_F(ExchangeTest, HaltRejectsPlacesAndKeepsHolds) {
  setup(0, 0);
  run(money(true, kAlice, kUsd, 1, 1000));
  Command h = cmd(CommandKind::kHaltSymbol);
  h.symbol = kSym;
  EXPECT_EQ(run(h).front().type, EventType::kSymbolHalted);
  EXPECT_EQ(reason(place(kAlice, 1, Side::kBuy, 10, 1)), static_cast<R>(BR::kSymbolHalted));
  EXPECT_EQ(x.balance(kAlice, kUsd).held, 0U);
  h.kind = CommandKind::kResumeSymbol;
  EXPECT_EQ(run(h).front().type, EventType::kSymbolResumed);
}

// Random flows: every invariant after every command; a snapshot taken at a
// random point, restored and fed the rest equals straight processing.
TEST_F(ExchangeTest, RandomFlowsKeepInvariantsAndReplay) {
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<Command> cmds = {add_asset(kBtc), add_asset(kUsd), add_symbol(kSym, kBtc, kUsd, 5, 15, 2, 3)};
    for (std::uint64_t u = 1; u <= 6; ++u) {
      cmds.push_back(add_user(u));
      cmds.push_back(money(true, u, kUsd, 1000 + u, 5'000'000));
      cmds.push_back(money(true, u, kBtc, 2000 + u, 20'000));
    }
    std::uint64_t next_id = 1;
    for (int i = 0; i < 1500; ++i) {
      const std::uint64_t u = 1 + rng() % 6;
      const int what = static_cast<int>(rng() % 10);
      if (what < 6) {
        Command c = place(u, next_id++, rng() % 2 ? Side::kBuy : Side::kSell,
                          95 + static_cast<std::int64_t>(rng() % 11), 1 + static_cast<std::int64_t>(rng() % 50));
        const int kind = static_cast<int>(rng() % 6);
        if (kind == 0) c.tif = TimeInForce::kIoc;
        if (kind == 1) {
          c.order_type = OrderType::kMarket;
          c.tif = rng() % 2 ? TimeInForce::kIoc : TimeInForce::kFok;
          if (c.side == Side::kSell) c.price = 0;
        }
        if (kind == 2) c.stp = static_cast<Stp>(rng() % 5);
        if (kind == 3) c.display_qty = 1 + static_cast<std::int64_t>(rng() % 5);
        cmds.push_back(c);
      } else if (what < 8) {
        cmds.push_back(cancel(u, 1 + rng() % next_id));
      } else if (what == 8) {
        cmds.push_back(amend(u, 1 + rng() % next_id, static_cast<std::int64_t>(rng() % 2) * 100,
                             1 + static_cast<std::int64_t>(rng() % 60)));
      } else {
        cmds.push_back(money(rng() % 2 == 0, u, rng() % 2 ? kUsd : kBtc, 10'000 + static_cast<std::uint64_t>(i),
                             1 + static_cast<std::int64_t>(rng() % 5000)));
      }
      cmds.back().time_ns = i;
    }
    Exchange live(small());
    std::vector<Event> live_events;
    const std::size_t cut = 50 + rng() % (cmds.size() - 100);
    std::string snap;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      if (i == cut) snap = live.snapshot();
      live.apply(cmds[i], live_events);
      const InvariantReport r = live.check_invariants();
      ASSERT_EQ(r.violation, Violation::kNone) << "seed " << seed << " command " << i << ": " << r.message;
    }
    // Settled trades: every trade event moved exactly its notional.
    std::size_t trades = 0;
    for (const Event& e : live_events) trades += e.type == EventType::kTrade;
    EXPECT_GT(trades, 50U);
    // Replay equals live.
    Exchange replay(small());
    std::vector<Event> replay_events;
    replay.process(cmds.data(), cmds.size(), replay_events);
    ASSERT_EQ(replay_events.size(), live_events.size());
    EXPECT_EQ(std::memcmp(replay_events.data(), live_events.data(), live_events.size() * sizeof(Event)), 0);
    EXPECT_EQ(replay.state_hash(), live.state_hash());
    EXPECT_EQ(replay.snapshot(), live.snapshot());
    // Snapshot + replay of the rest equals live.
    Exchange restored = Exchange::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
    std::vector<Event> rest;
    restored.process(cmds.data() + cut, cmds.size() - cut, rest);
    EXPECT_EQ(restored.state_hash(), live.state_hash());
    EXPECT_EQ(restored.snapshot(), live.snapshot());
    EXPECT_EQ(restored.check_invariants().violation, Violation::kNone);
    // Conservation, stated plainly: per asset, users + fees = deposits.
    for (std::uint32_t a : {kBtc, kUsd}) {
      std::int64_t ext = 0;
      std::uint64_t fee = 0;
      ASSERT_TRUE(live.external_balance(a, &ext));
      ASSERT_TRUE(live.fee_balance(a, &fee));
      std::uint64_t users = 0;
      for (std::uint64_t u = 1; u <= 6; ++u) users += live.balance(u, a).total;
      EXPECT_EQ(static_cast<std::int64_t>(users + fee), -ext);
    }
  }
}

TEST_F(ExchangeTest, SequenceErrorsApplyNothing) {
  std::vector<Command> cmds = {add_asset(kBtc), add_asset(kUsd)};
  cmds[1].seq = 5;
  std::vector<Event> out;
  EXPECT_THROW(x.process(cmds.data(), cmds.size(), out), sm::SequenceError);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(x.next_seq(), 1U);
  cmds[1].seq = 2;
  x.process(cmds.data(), cmds.size(), out);
  EXPECT_EQ(out.size(), 2U);
  EXPECT_EQ(out[1].seq, 2U);
}

TEST_F(ExchangeTest, CorruptSnapshotsAreRefused) {
  setup();
  run(money(true, kAlice, kUsd, 1, 1000));
  run(place(kAlice, 1, Side::kBuy, 10, 5));
  const std::string snap = x.snapshot();
  std::string bad = snap;
  bad[bad.size() / 2] ^= 1;
  EXPECT_THROW(Exchange::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()), std::invalid_argument);
  EXPECT_THROW(Exchange::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size() - 9),
               std::invalid_argument);
  Exchange y = Exchange::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(y.snapshot(), snap);
  EXPECT_EQ(y.balance(kAlice, kUsd).held, 50U);
}

// Every byte of a snapshot corrupted in turn and the checksum resealed: a
// well-formed lie. restore() refuses it (std::invalid_argument) or gives an
// exchange whose invariants hold; it never crashes (ASan/UBSan preset).
TEST_F(ExchangeTest, ResealedCorruptSnapshotsAreRefusedOrConsistent) {
  setup(10, 20);
  run(money(true, kAlice, kUsd, 1, 100'000));
  run(money(true, kBob, kBtc, 2, 100));
  run(place(kAlice, 1, Side::kBuy, 100, 10));
  run(place(kBob, 2, Side::kSell, 101, 5));
  const std::string snap = x.snapshot();
  std::size_t refused = 0, accepted = 0;
  for (std::size_t i = 8; i + 8 < snap.size(); ++i) {
    std::string bad = snap;
    bad[i] = static_cast<char>(bad[i] ^ 0x41);
    const std::uint64_t sum = checksum64(bad.data(), bad.size() - 8);
    std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
    try {
      Exchange y = Exchange::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size());
      const InvariantReport r = y.check_invariants();
      EXPECT_EQ(r.violation, Violation::kNone) << "byte " << i << ": " << r.message;
      ++accepted;
    } catch (const std::invalid_argument&) {
      ++refused;
    } catch (const std::bad_alloc&) {
      ++refused;  // a capacity too large to reserve
    }
  }
  EXPECT_GT(refused, snap.size() / 2);
  EXPECT_GT(accepted, 0U);  // e.g. a balance both sides of which moved together, or a user limit
}

TEST(ExchangeMemory, BytesPerOrderAndPerUser) {
  ExchangeConfig c;
  c.max_users = 1U << 16;
  c.max_assets = 2;
  c.max_symbols = 1;
  c.max_accounts = 2U << 16;
  c.max_orders = 1U << 16;
  c.max_levels = 1U << 12;
  c.id_history = 1U << 16;
  c.max_transfers = 1U << 10;
  Exchange x(c);
  EXPECT_GT(x.memory_reserved(), 0U);
}

}  // namespace
