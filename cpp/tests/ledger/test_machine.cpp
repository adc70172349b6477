#include "shanraq/ledger/machine.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "shanraq/common/checksum.hpp"

namespace shanraq::ledger {
namespace {

namespace af = account_flags;
namespace tf = transfer_flags;
namespace cf = command_flags;
using TR = CreateTransferResult;
using AR = CreateAccountResult;
using ET = LedgerEventType;
using Events = std::vector<LedgerEvent>;

Account acct(std::uint64_t id, std::uint16_t flags = 0) {
  Account a{};
  a.id = id;
  a.ledger = 1;
  a.code = 1;
  a.flags = flags;
  return a;
}

Transfer xfer(std::uint64_t id, std::uint64_t dr, std::uint64_t cr, std::uint64_t amount, std::uint16_t flags = 0) {
  Transfer t{};
  t.id = id;
  t.debit_account_id = dr;
  t.credit_account_id = cr;
  t.amount = amount;
  t.ledger = 1;
  t.code = 1;
  t.flags = flags;
  return t;
}

LedgerCapacity small() { return LedgerCapacity{16, 512, 512}; }

// A machine with accounts 1..4; 4 may not go negative.
LedgerMachine make() {
  LedgerMachine m{small()};
  std::vector<Account> accounts = {acct(1), acct(2), acct(3), acct(4, af::kDebitsMustNotExceedCredits)};
  std::vector<std::uint32_t> r(accounts.size());
  m.create_accounts(accounts.data(), accounts.size(), 1, r.data());
  return m;
}

bool same_bytes(const Events& a, const Events& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(LedgerEvent)) == 0);
}

Events process(LedgerMachine& m, const std::vector<LedgerCommand>& cmds) {
  Events out;
  m.process(cmds.data(), cmds.size(), out);
  return out;
}

// Processes cmds cut at the given points.
Events process_split(LedgerMachine& m, const std::vector<LedgerCommand>& cmds, const std::vector<std::size_t>& cuts) {
  Events out;
  std::size_t from = 0;
  for (std::size_t to : cuts) {
    m.process(cmds.data() + from, to - from, out);
    from = to;
  }
  m.process(cmds.data() + from, cmds.size() - from, out);
  return out;
}

TEST(LedgerMachine, EveryCommandYieldsItsEventsInOrder) {
  LedgerMachine m = make();
  const std::uint64_t first = m.next_seq();
  EXPECT_EQ(first, 5u);  // four account commands
  std::vector<LedgerCommand> cmds = {
      make_create_transfer(xfer(10, 1, 2, 5), 100),
      make_create_transfer(xfer(11, 4, 2, 5), 100),  // 4 has no credits
      make_set_account_limit(4, 50, 100),
      make_create_transfer(xfer(12, 4, 2, 5), 90),  // earlier than the clock: runs at it
      make_advance_time(200),
      make_evict(200),
      make_drain_evicted(10, 200),
  };
  const Events ev = process(m, cmds);
  ASSERT_EQ(ev.size(), 7u);  // the drain hands nothing over: its acknowledgement only
  for (std::size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq, first + i);
  EXPECT_EQ(ev[0].type, static_cast<std::uint8_t>(ET::kTransferResult));
  EXPECT_EQ(ev[0].result, kCreatedStatus);
  EXPECT_EQ(ev[0].id(), 10u);
  EXPECT_EQ(ev[0].timestamp, 100u);
  EXPECT_EQ(ev[1].result, static_cast<std::uint32_t>(TR::kExceedsCredits));
  EXPECT_EQ(ev[1].timestamp, 101u);
  EXPECT_EQ(ev[2].type, static_cast<std::uint8_t>(ET::kLimitResult));
  EXPECT_EQ(ev[2].result, static_cast<std::uint32_t>(SetLimitResult::kOk));
  EXPECT_EQ(ev[2].timestamp, 102u);  // a limit takes a timestamp
  EXPECT_EQ(ev[3].result, kCreatedStatus);
  EXPECT_EQ(ev[3].time_ns, 100);  // the clock, not the stamped 90
  EXPECT_EQ(ev[3].timestamp, 103u);
  EXPECT_EQ(ev[4].type, static_cast<std::uint8_t>(ET::kTimeAdvanced));
  EXPECT_EQ(ev[4].count(), 0u);
  EXPECT_EQ(ev[5].type, static_cast<std::uint8_t>(ET::kEvicted));
  EXPECT_EQ(ev[6].type, static_cast<std::uint8_t>(ET::kDrained));
  EXPECT_EQ(ev[6].count(), 0u);
  EXPECT_EQ(m.now_ns(), 200);
  EXPECT_EQ(m.next_seq(), first + 7);
}

TEST(LedgerMachine, RejectsMalformedCommandsWithoutChangingState) {
  LedgerMachine m = make();
  const std::uint64_t h = m.state_hash();
  std::vector<LedgerCommand> bad(6, make_create_transfer(xfer(10, 1, 2, 5), 100));
  bad[0].kind = 0;
  bad[1].kind = 7;
  bad[2].flags = 2;
  bad[3].reserved[13] = 1;
  bad[4].time_ns = -1;
  bad[5] = make_advance_time(kMaxTime + 1);
  LedgerCommand evict = make_evict(5);
  evict.payload.amount = 1;  // a payload byte EVICT does not use
  bad.push_back(evict);
  const Events ev = process(m, bad);
  ASSERT_EQ(ev.size(), bad.size());
  const std::uint32_t want[] = {1, 1, 2, 3, 4, 4, 3};
  for (std::size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].type, static_cast<std::uint8_t>(ET::kRejected));
    EXPECT_EQ(ev[i].result, want[i]) << i;
    EXPECT_EQ(ev[i].time_ns, 1);  // the clock
  }
  // Only the sequence moved.
  EXPECT_FALSE(m.ledger().lookup_transfer(10).has_value());
  EXPECT_EQ(m.now_ns(), 1);
  LedgerMachine fresh = make();
  std::vector<LedgerCommand> skip(bad.size(), make_advance_time(0));
  process(fresh, skip);
  EXPECT_EQ(m.ledger().state_hash(), fresh.ledger().state_hash());
  EXPECT_NE(m.state_hash(), h);
}

TEST(LedgerMachine, MisplacedSeqRaisesAndAppliesNothing) {
  LedgerMachine m = make();
  std::vector<LedgerCommand> cmds = {make_create_transfer(xfer(10, 1, 2, 5), 100),
                                     make_create_transfer(xfer(11, 1, 2, 5), 100)};
  cmds[1].seq = m.next_seq() + 5;
  const std::string before = m.snapshot();
  Events out;
  EXPECT_THROW(m.process(cmds.data(), 2, out), sm::SequenceError);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(m.snapshot(), before);
  cmds[0].seq = m.next_seq();
  cmds[1].seq = m.next_seq() + 1;
  m.process(cmds.data(), 2, out);
  EXPECT_EQ(out.size(), 2u);
}

TEST(LedgerMachine, HoldsExpireInTheCommandThatPassesTheirDeadline) {
  LedgerMachine m = make();
  Transfer hold = xfer(10, 1, 2, 30, tf::kPending);
  hold.timeout_ns = 1000;
  process(m, {make_create_transfer(hold, 100)});
  // A limit command after the deadline: the expiry's event first, then its result.
  const Events ev = process(m, {make_set_account_limit(9, 0, 1100)});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, static_cast<std::uint8_t>(ET::kHoldExpired));
  EXPECT_EQ(ev[0].seq, ev[1].seq);
  EXPECT_EQ(ev[0].transfer().id, 10u);
  EXPECT_EQ(ev[0].transfer().reserved, static_cast<std::uint32_t>(PendingStatus::kExpired));
  EXPECT_EQ(ev[0].timestamp, 1100u);
  EXPECT_EQ(ev[1].result, static_cast<std::uint32_t>(SetLimitResult::kAccountNotFound));
  EXPECT_EQ(ev[1].timestamp, 1101u);
  EXPECT_EQ(m.ledger().lookup_account(1)->debits_pending, 0u);
  // ADVANCE_TIME counts what it released.
  hold.id = 11;
  process(m, {make_create_transfer(hold, 2000)});
  const Events adv = process(m, {make_advance_time(5000)});
  ASSERT_EQ(adv.size(), 2u);
  EXPECT_EQ(adv[1].type, static_cast<std::uint8_t>(ET::kTimeAdvanced));
  EXPECT_EQ(adv[1].count(), 1u);
}

// The heart of the contract: a linked chain may span process() calls, and
// the events and state never depend on where the batches were cut.
TEST(LedgerMachine, ChainsAcrossBatchesGiveTheSameEventsWhereverTheyAreCut) {
  std::vector<LedgerCommand> cmds;
  cmds.push_back(make_create_transfer(xfer(10, 1, 4, 40), 100));
  for (std::uint64_t k = 0; k < 4; ++k) cmds.push_back(make_create_transfer(xfer(20 + k, 4, 2, 5, tf::kLinked), 100));
  cmds.push_back(make_create_transfer(xfer(30, 4, 2, 5), 110));  // closes: 25 of 40
  for (std::uint64_t k = 0; k < 3; ++k) cmds.push_back(make_create_transfer(xfer(40 + k, 4, 2, 9, tf::kLinked), 120));
  cmds.push_back(make_create_transfer(xfer(50, 4, 2, 9), 120));  // 36 > 15 left: the chain fails
  cmds.push_back(make_create_account(acct(7, af::kLinked), 130));
  cmds.push_back(make_create_transfer(xfer(60, 1, 2, 1, tf::kLinked), 130));  // ends the account chain open
  cmds.push_back(make_advance_time(140));                                     // ends this chain open
  LedgerMachine whole = make();
  const Events want = process(whole, cmds);
  // Every command answered, in order, each with its own seq.
  std::uint64_t seq = 0;
  std::size_t results = 0;
  for (const LedgerEvent& e : want) {
    EXPECT_GE(e.seq, seq);
    seq = e.seq;
    results += e.type == static_cast<std::uint8_t>(ET::kTransferResult) ||
               e.type == static_cast<std::uint8_t>(ET::kAccountResult);
  }
  EXPECT_EQ(results, cmds.size() - 1);
  EXPECT_EQ(whole.ledger().lookup_account(4)->debits_posted, 25u);
  EXPECT_EQ(want[1].result, kCreatedStatus);
  EXPECT_EQ(want[6].result, static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(want[7].result, static_cast<std::uint32_t>(TR::kExceedsCredits));  // 9 + 9 > 15 left
  EXPECT_EQ(want[9].result, static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(want[10].type, static_cast<std::uint8_t>(ET::kAccountResult));
  EXPECT_EQ(want[10].result, static_cast<std::uint32_t>(AR::kLinkedEventChainOpen));
  EXPECT_EQ(want[11].result, static_cast<std::uint32_t>(TR::kLinkedEventChainOpen));
  EXPECT_FALSE(whole.ledger().lookup_account(7).has_value());
  // Every way of cutting the stream in two, and random cuts into many.
  for (std::size_t cut = 0; cut <= cmds.size(); ++cut) {
    LedgerMachine m = make();
    EXPECT_TRUE(same_bytes(process_split(m, cmds, {cut}), want)) << cut;
    EXPECT_EQ(m.state_hash(), whole.state_hash());
  }
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < cmds.size(); ++k) {
      if (rng() % 3 == 0) cuts.push_back(k);
    }
    LedgerMachine m = make();
    EXPECT_TRUE(same_bytes(process_split(m, cmds, cuts), want));
    EXPECT_EQ(m.snapshot(), whole.snapshot());
  }
}

TEST(LedgerMachine, AnOpenChainIsStateAndSurvivesASnapshot) {
  LedgerMachine m = make();
  std::vector<LedgerCommand> cmds = {make_create_transfer(xfer(10, 1, 2, 5, tf::kLinked), 100),
                                     make_create_transfer(xfer(11, 1, 2, 5, tf::kLinked), 105),
                                     make_create_transfer(xfer(12, 1, 2, 5), 110)};
  const std::uint64_t h0 = m.state_hash();
  EXPECT_TRUE(process(m, {cmds[0], cmds[1]}).empty());
  EXPECT_EQ(m.open_chain_length(), 2u);
  EXPECT_NE(m.state_hash(), h0);
  EXPECT_EQ(m.now_ns(), 105);
  const std::string snap = m.snapshot();
  LedgerMachine c = LedgerMachine::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.snapshot(), snap);
  EXPECT_EQ(c.state_hash(), m.state_hash());
  const Events a = process(m, {cmds[2]});
  const Events b = process(c, {cmds[2]});
  ASSERT_EQ(a.size(), 3u);
  EXPECT_TRUE(same_bytes(a, b));
  EXPECT_EQ(a[0].time_ns, 100);
  EXPECT_EQ(a[1].time_ns, 105);
  EXPECT_EQ(m.ledger().lookup_account(1)->debits_posted, 15u);
  // A member that restore could not have buffered is refused: the open
  // chain's members sit right after the 5 header fields.
  std::string bad = snap;
  const std::size_t member0 = 12 + 8 * 4;
  bad[member0 + 32 + offsetof(Transfer, flags)] = 0;  // not linked: it would have closed the chain
  const std::uint64_t sum = checksum64(bad.data(), bad.size() - 8);
  std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
  EXPECT_THROW(LedgerMachine::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()),
               std::invalid_argument);
}

TEST(LedgerMachine, LastInBatchAndTheLongestChainEndAChainOpen) {
  LedgerMachine m = make();
  LedgerCommand last = make_create_transfer(xfer(11, 1, 2, 5, tf::kLinked), 100, cf::kLastInBatch);
  const Events ev = process(m, {make_create_transfer(xfer(10, 1, 2, 5, tf::kLinked), 100), last});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].result, static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(ev[1].result, static_cast<std::uint32_t>(TR::kLinkedEventChainOpen));
  EXPECT_EQ(m.open_chain_length(), 0u);
  // kMaxChain linked members: the last of them ends the chain open, and
  // the next command starts afresh.
  LedgerMachine big{LedgerCapacity{4, 3 * kMaxChain, 4}};
  std::vector<Account> accounts = {acct(1), acct(2)};
  std::vector<std::uint32_t> r(2);
  big.create_accounts(accounts.data(), 2, 1, r.data());
  std::vector<LedgerCommand> chain;
  for (std::uint64_t k = 0; k <= kMaxChain; ++k) {
    chain.push_back(make_create_transfer(xfer(100 + k, 1, 2, 1, k < kMaxChain ? tf::kLinked : 0), 10));
  }
  const Events out = process_split(big, chain, {kMaxChain / 2});
  ASSERT_EQ(out.size(), kMaxChain + 1);
  EXPECT_EQ(out[0].result, static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(out[kMaxChain - 1].result, static_cast<std::uint32_t>(TR::kLinkedEventChainOpen));
  EXPECT_EQ(out[kMaxChain].result, kCreatedStatus);
  EXPECT_EQ(big.ledger().lookup_account(1)->debits_posted, 1u);
}

// create_transfers(array) is the commands it describes: random batches with
// links, holds, posts and time, cut anywhere, give the same results, state
// and snapshots as the conveniences.
TEST(LedgerMachine, ConveniencesEqualTheirCommandsProcessedInAnySplit) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    LedgerMachine direct = make();
    LedgerMachine cmds_m = make();
    std::int64_t now = 10;
    for (int batch = 0; batch < 6; ++batch) {
      std::vector<Transfer> ts;
      const std::size_t n = 1 + rng() % 30;
      for (std::size_t k = 0; k < n; ++k) {
        const std::uint64_t kind = rng() % 6;
        Transfer t = xfer(1 + rng() % 60, 1 + rng() % 4, 1 + rng() % 4, 1 + rng() % 20);
        if (kind == 0) t.flags |= tf::kLinked;
        if (kind == 1) {
          t.flags |= tf::kPending;
          t.timeout_ns = rng() % 2 ? 50 : 0;
        }
        if (kind == 2) {
          t = Transfer{};
          t.id = 1 + rng() % 60;
          t.pending_id = 1 + rng() % 60;
          t.flags = tf::kPostPendingTransfer;
        }
        ts.push_back(t);
      }
      now += static_cast<std::int64_t>(rng() % 40);
      std::vector<std::uint32_t> want(n);
      direct.create_transfers(ts.data(), n, now, want.data());
      std::vector<LedgerCommand> cmds;
      for (std::size_t k = 0; k < n; ++k)
        cmds.push_back(make_create_transfer(ts[k], now, k + 1 == n ? cf::kLastInBatch : 0));
      std::vector<std::size_t> cuts;
      for (std::size_t k = 1; k < n; ++k) {
        if (rng() % 4 == 0) cuts.push_back(k);
      }
      const Events ev = process_split(cmds_m, cmds, cuts);
      std::vector<std::uint32_t> got;
      for (const LedgerEvent& e : ev) {
        if (e.type == static_cast<std::uint8_t>(ET::kTransferResult)) got.push_back(e.result);
      }
      ASSERT_EQ(got, want);
      ASSERT_EQ(cmds_m.snapshot(), direct.snapshot());
      ASSERT_EQ(cmds_m.state_hash(), direct.state_hash());
    }
  }
}

TEST(LedgerMachine, CapacityIsCheckedBeforeAnythingIsApplied) {
  LedgerMachine m{LedgerCapacity{4, 3, 4}};
  std::vector<LedgerCommand> cmds = {make_create_account(acct(1), 1), make_create_account(acct(2), 1)};
  for (std::uint64_t k = 0; k < 4; ++k) cmds.push_back(make_create_transfer(xfer(10 + k, 1, 2, 1), 2));
  const std::string before = m.snapshot();
  Events out;
  EXPECT_THROW(m.process(cmds.data(), cmds.size(), out), CapacityError);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(m.snapshot(), before);
  m.process(cmds.data(), 5, out);
  EXPECT_EQ(out.size(), 5u);
  EXPECT_EQ(m.ledger().transfer_count(), 3u);
}

TEST(LedgerMachine, PerCallConveniencesAreOneCommandEach) {
  LedgerMachine a = make(), b = make();
  Transfer hold = xfer(10, 1, 2, 30, tf::kPending);
  hold.timeout_ns = 100;
  EXPECT_EQ(a.transfer(hold, 50), TR::kOk);
  EXPECT_EQ(a.set_account_limit(4, 10, 60), SetLimitResult::kOk);
  EXPECT_EQ(a.advance_time(1000), 1u);
  EXPECT_EQ(a.evict(1000), 0u);
  Transfer none[1];
  EXPECT_EQ(a.drain_evicted(5, 1000, none), 0u);
  EXPECT_EQ(a.transfer(xfer(11, 1, 2, 1, tf::kLinked), 1000), TR::kLinkedEventChainOpen);
  EXPECT_EQ(a.create_account(acct(9), 1000), AR::kOk);
  process(b, {make_create_transfer(hold, 50, cf::kLastInBatch), make_set_account_limit(4, 10, 60, cf::kLastInBatch),
              make_advance_time(1000, cf::kLastInBatch), make_evict(1000, cf::kLastInBatch),
              make_drain_evicted(5, 1000, cf::kLastInBatch),
              make_create_transfer(xfer(11, 1, 2, 1, tf::kLinked), 1000, cf::kLastInBatch),
              make_create_account(acct(9), 1000, cf::kLastInBatch)});
  EXPECT_EQ(a.snapshot(), b.snapshot());
  EXPECT_THROW(a.transfer(xfer(12, 1, 2, 1), -1), std::invalid_argument);
  // With a chain left open by process(), a per-call transfer closes it.
  process(a, {make_create_transfer(xfer(20, 1, 2, 1, tf::kLinked), 1000)});
  EXPECT_EQ(a.transfer(xfer(21, 1, 2, 1), 1000), TR::kOk);
  EXPECT_EQ(a.open_chain_length(), 0u);
  EXPECT_TRUE(a.ledger().lookup_transfer(20).has_value());
}

}  // namespace
}  // namespace shanraq::ledger
