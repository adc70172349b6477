// The exchange journaled by the generic journal, without special cases: a
// stream of stamped exchange commands appended and applied, a snapshot on the
// way, then recovery into a fresh exchange (snapshot + replay of the rest)
// gives the live state, and verification replays it all.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "../journal/journal_test_util.hpp"
#include "shanraq/exchange/exchange.hpp"
#include "shanraq/journal/reader.hpp"

using namespace shanraq;
using namespace shanraq::journal;
using namespace shanraq::journal::testing;
using shanraq::exchange::Exchange;
using shanraq::exchange::ExchangeCommand;
using XK = shanraq::exchange::CommandKind;

namespace {

exchange::ExchangeConfig config() {
  exchange::ExchangeConfig c;
  c.max_users = 16;
  c.max_assets = 4;
  c.max_symbols = 4;
  c.max_orders = 1024;
  c.max_levels = 1024;
  c.id_history = 1024;
  c.max_accounts = 128;
  c.max_transfers = 256;
  return c;
}

// Stamped commands: setup (assets, a symbol, users, deposits), then random
// places and cancels; seq from 1, time increasing.
std::vector<ExchangeCommand> stream(std::size_t n_orders) {
  std::vector<ExchangeCommand> v;
  auto add = [&v](ExchangeCommand c) {
    c.seq = v.size() + 1;
    c.time_ns = 1'700'000'000'000'000'000LL + static_cast<std::int64_t>(v.size()) * 1000;
    v.push_back(c);
  };
  for (std::uint32_t a : {1U, 2U}) {
    ExchangeCommand c{};
    c.kind = XK::kAddAsset;
    c.asset = a;
    add(c);
  }
  ExchangeCommand s{};
  s.kind = XK::kAddSymbol;
  s.symbol = 1;
  s.asset = 1;
  s.user = 2 | std::uint64_t{5} << 32 | std::uint64_t{10} << 48;
  s.order_id = 1 | std::uint64_t{1} << 32;
  s.price = s.qty = s.stop_price = 1;
  s.display_qty = s.expire_ns = 1'000'000;
  add(s);
  std::uint64_t tid = 1;
  for (std::uint64_t u = 1; u <= 4; ++u) {
    ExchangeCommand c{};
    c.kind = XK::kAddUser;
    c.user = u;
    add(c);
    for (std::uint32_t a : {1U, 2U}) {
      ExchangeCommand d{};
      d.kind = XK::kDeposit;
      d.user = u;
      d.asset = a;
      d.order_id = tid++;
      d.qty = 1'000'000;
      add(d);
    }
  }
  std::mt19937_64 rng(5);
  for (std::uint64_t id = 1; id <= n_orders; ++id) {
    ExchangeCommand c{};
    c.user = 1 + rng() % 4;
    c.order_id = id;
    if (rng() % 4 == 0) {
      c.kind = XK::kCancel;
      c.order_id = 1 + rng() % id;
    } else {
      c.kind = XK::kPlace;
      c.symbol = 1;
      c.side = rng() % 2 ? exchange::Side::kBuy : exchange::Side::kSell;
      c.order_type = exchange::OrderType::kLimit;
      c.tif = exchange::TimeInForce::kGtc;
      c.price = 95 + static_cast<std::int64_t>(rng() % 11);
      c.qty = 1 + static_cast<std::int64_t>(rng() % 20);
    }
    add(c);
  }
  return v;
}

TEST(ExchangeJournal, RecoversFromSnapshotPlusReplayAndVerifies) {
  TempDir t;
  const std::string dir = t.sub("j");
  const std::vector<ExchangeCommand> cmds = stream(3000);
  Exchange live(config());
  std::uint64_t snap_seq = 0;
  {
    MachineRef<Exchange> ref(live);
    auto j = Journal::open(dir, small_options(), ref);
    std::vector<Exchange::Event> ev;
    for (std::size_t i = 0; i < cmds.size(); i += 100) {
      const std::size_t n = std::min<std::size_t>(100, cmds.size() - i);
      j->append(cmds.data() + i, n);
      live.process(cmds.data() + i, n, ev);
      j->await_policy(i + n);
      if (i == 1500) snap_seq = j->snapshot(ref);
    }
    j->close();
  }
  ASSERT_EQ(live.check_invariants().violation, exchange::Violation::kNone);
  Exchange recovered(config());
  MachineRef<Exchange> ref2(recovered);
  RecoveryReport rep;
  auto j = Journal::open(dir, small_options(), ref2, &rep);
  EXPECT_EQ(rep.snapshot_seq, snap_seq);
  EXPECT_EQ(rep.last_seq, cmds.size());
  EXPECT_EQ(rep.replayed, cmds.size() - snap_seq);
  EXPECT_EQ(recovered.state_hash(), live.state_hash());
  EXPECT_EQ(recovered.snapshot(), live.snapshot());
  j->close();
  Exchange fresh(config());
  MachineRef<Exchange> fr(fresh);
  verify(dir, fr);
  EXPECT_EQ(fresh.state_hash(), live.state_hash());
}

}  // namespace
