// TigerBeetle 0.17 semantics in the core and the machine: the order of the
// chain checks, zero amounts, posting 0, the CREATED value, result
// timestamps and imported events (docs/ledger.md). The documented scenarios
// are ported as tables in tests/test_ledger_tb017.py, against this ledger
// and the reference model; these tests pin the C++ API.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shanraq/ledger/ledger.hpp"
#include "shanraq/ledger/machine.hpp"

namespace shanraq::ledger {
namespace {

namespace af = account_flags;
namespace tf = transfer_flags;
namespace cf = command_flags;
using TR = CreateTransferResult;
using AR = CreateAccountResult;

Account acct(std::uint64_t id, std::uint16_t flags = 0, std::uint64_t timestamp = 0) {
  Account a{};
  a.id = id;
  a.ledger = 1;
  a.code = 1;
  a.flags = flags;
  a.timestamp = timestamp;
  return a;
}

Transfer xfer(std::uint64_t id, std::uint64_t dr, std::uint64_t cr, std::uint64_t amount, std::uint16_t flags = 0,
              std::uint64_t timestamp = 0) {
  Transfer t{};
  t.id = id;
  t.debit_account_id = dr;
  t.credit_account_id = cr;
  t.amount = amount;
  t.ledger = 1;
  t.code = 1;
  t.flags = flags;
  t.timestamp = timestamp;
  return t;
}

Transfer post(std::uint64_t id, std::uint64_t pending_id, std::uint64_t amount, std::uint16_t flags = 0) {
  Transfer t{};
  t.id = id;
  t.pending_id = pending_id;
  t.amount = amount;
  t.flags = static_cast<std::uint16_t>(tf::kPostPendingTransfer | flags);
  return t;
}

Ledger with_accounts(std::uint64_t now = 1000) {
  Ledger l{LedgerCapacity{16, 256, 256}};
  for (std::uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(l.create_account(acct(id), now), AR::kCreated);
  return l;
}

std::vector<CreateResult> transfers(Ledger& l, const std::vector<Transfer>& batch, std::uint64_t now) {
  std::vector<CreateResult> r(batch.size());
  l.create_transfers(batch.data(), batch.size(), now, r.data());
  return r;
}

std::uint32_t code(TR r) { return static_cast<std::uint32_t>(r); }

TEST(TigerBeetle017, CreatedIsTheMaximumValue) {
  EXPECT_EQ(static_cast<std::uint32_t>(TR::kCreated), 0xFFFFFFFFU);
  EXPECT_EQ(static_cast<std::uint32_t>(AR::kCreated), 0xFFFFFFFFU);
  EXPECT_EQ(TR::kOk, TR::kCreated);
}

TEST(TigerBeetle017, AChainLeftOpenIsAnsweredSoEvenWhenItHasFailed) {
  Ledger l = with_accounts();
  // The first member fails (no such account), the last is still linked.
  const auto r = transfers(l, {xfer(1, 9, 2, 5, tf::kLinked), xfer(2, 1, 2, 5, tf::kLinked)}, 2000);
  EXPECT_EQ(r[0].status, code(TR::kDebitAccountNotFound));
  EXPECT_EQ(r[1].status, code(TR::kLinkedEventChainOpen));
  std::vector<Account> accounts = {
      acct(7, af::kLinked | af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits), acct(8, af::kLinked)};
  std::vector<CreateResult> ra(2);
  l.create_accounts(accounts.data(), 2, 3000, ra.data());
  EXPECT_EQ(ra[0].status, static_cast<std::uint32_t>(AR::kFlagsAreMutuallyExclusive));
  EXPECT_EQ(ra[1].status, static_cast<std::uint32_t>(AR::kLinkedEventChainOpen));
  EXPECT_FALSE(l.lookup_account(8).has_value());
}

TEST(TigerBeetle017, ZeroAmountsAreValidAndPostingZeroPostsZero) {
  Ledger l = with_accounts();
  std::uint64_t ts = 0;
  EXPECT_EQ(l.create_transfer(xfer(1, 1, 2, 0), 2000, &ts), TR::kCreated);
  EXPECT_EQ(ts, 2000u);
  EXPECT_EQ(l.lookup_transfer(1)->amount, 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 0u);

  ASSERT_EQ(l.create_transfer(xfer(10, 1, 2, 100, tf::kPending), 2001), TR::kCreated);
  EXPECT_EQ(l.create_transfer(post(11, 10, 0), 2002), TR::kCreated);
  EXPECT_EQ(l.lookup_transfer(11)->amount, 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 0u);
  // A retry compares amounts as TigerBeetle does: 0 with 0; AMOUNT_MAX only
  // matches a post of the whole hold.
  EXPECT_EQ(l.create_transfer(post(11, 10, 0), 2003), TR::kExists);
  EXPECT_EQ(l.create_transfer(post(11, 10, kAmountMax), 2004), TR::kExistsWithDifferentAmount);

  ASSERT_EQ(l.create_transfer(xfer(20, 1, 2, 100, tf::kPending), 2005), TR::kCreated);
  EXPECT_EQ(l.create_transfer(post(21, 20, kAmountMax), 2006), TR::kCreated);
  EXPECT_EQ(l.lookup_transfer(21)->amount, 100u);
  EXPECT_EQ(l.create_transfer(post(21, 20, kAmountMax), 2007), TR::kExists);
  EXPECT_EQ(l.create_transfer(post(21, 20, 100), 2008), TR::kExists);
  EXPECT_EQ(l.create_transfer(post(21, 20, 0), 2009), TR::kExistsWithDifferentAmount);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 100u);
}

TEST(TigerBeetle017, ResultsCarryTimestamps) {
  Ledger l = with_accounts();
  const auto r = transfers(l, {xfer(1, 1, 2, 5), xfer(2, 9, 2, 5), xfer(1, 1, 2, 5)}, 5000);
  EXPECT_EQ(r[0].status, code(TR::kCreated));
  EXPECT_EQ(r[0].timestamp, 5000u);
  EXPECT_EQ(r[1].status, code(TR::kDebitAccountNotFound));
  EXPECT_EQ(r[1].timestamp, 5001u);  // the time it was validated
  EXPECT_EQ(r[2].status, code(TR::kExists));
  EXPECT_EQ(r[2].timestamp, 5000u);  // the original's
  std::uint64_t ts = 0;
  EXPECT_EQ(l.create_account(acct(1), 6000, &ts), AR::kExists);
  EXPECT_EQ(ts, 1000u);
}

TEST(TigerBeetle017, ImportedEventsKeepTheirTimestampsOnOneTimeline) {
  Ledger l{LedgerCapacity{16, 256, 256}};
  std::vector<Account> accounts = {acct(1, af::kImported, 100), acct(2, af::kImported | af::kHistory, 200),
                                   acct(3, 0, 0)};
  std::vector<CreateResult> ra(3);
  l.create_accounts(accounts.data(), 3, 1'000'000, ra.data());
  EXPECT_EQ(ra[0].status, static_cast<std::uint32_t>(AR::kCreated));
  EXPECT_EQ(ra[0].timestamp, 100u);
  EXPECT_EQ(ra[1].timestamp, 200u);
  EXPECT_EQ(ra[2].status, static_cast<std::uint32_t>(AR::kImportedEventExpected));
  EXPECT_EQ(l.last_timestamp(), 200u);  // failures of an imported request take no timestamp
  EXPECT_EQ(l.lookup_account(2)->timestamp, 200u);

  auto r = transfers(l,
                     {xfer(10, 1, 2, 7, tf::kImported, 300), xfer(11, 1, 2, 7, tf::kImported, 300),
                      xfer(12, 1, 2, 7, tf::kImported, 250), xfer(13, 1, 2, 7, tf::kImported, 2'000'000),
                      xfer(14, 1, 2, 7, tf::kImported, 0), xfer(15, 1, 2, 7, 0, 0),
                      xfer(16, 1, 2, 7, tf::kImported | tf::kPending, 400)},
                     1'000'000);
  EXPECT_EQ(r[0].status, code(TR::kCreated));
  EXPECT_EQ(r[0].timestamp, 300u);
  EXPECT_EQ(r[1].status, code(TR::kImportedEventTimestampMustNotRegress));
  EXPECT_EQ(r[1].timestamp, 1'000'000u);  // the time of validation, not taken
  EXPECT_EQ(r[2].status, code(TR::kImportedEventTimestampMustNotRegress));
  EXPECT_EQ(r[3].status, code(TR::kImportedEventTimestampMustNotAdvance));
  EXPECT_EQ(r[4].status, code(TR::kImportedEventTimestampOutOfRange));
  EXPECT_EQ(r[5].status, code(TR::kImportedEventExpected));
  EXPECT_EQ(r[6].status, code(TR::kCreated));
  EXPECT_EQ(l.lookup_transfer(16)->timestamp, 400u);
  EXPECT_EQ(l.last_timestamp(), 400u);
  // History entries carry the imported timestamps.
  AccountBalance h[4];
  ASSERT_EQ(l.account_history(2, 0, ~std::uint64_t{0}, h, 4), 2u);
  EXPECT_EQ(h[0].timestamp, 300u);
  EXPECT_EQ(h[1].timestamp, 400u);

  // An imported hold cannot expire by itself; a post may be imported too.
  Transfer timed = xfer(17, 1, 2, 1, tf::kImported | tf::kPending, 500);
  timed.timeout_ns = 10;
  EXPECT_EQ(l.create_transfer(timed, 1'000'000), TR::kImportedEventTimeoutMustBeZero);
  EXPECT_EQ(l.create_transfer(post(18, 16, kAmountMax, tf::kImported), 1'000'000),
            TR::kImportedEventTimestampOutOfRange);
  Transfer p = post(18, 16, kAmountMax, tf::kImported);
  p.timestamp = 450;
  EXPECT_EQ(l.create_transfer(p, 1'000'000), TR::kCreated);
  EXPECT_EQ(l.lookup_transfer(18)->timestamp, 450u);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 14u);

  // An imported transfer in a regular request, and the reverse.
  r = transfers(l, {xfer(20, 1, 2, 1), xfer(21, 1, 2, 1, tf::kImported, 460)}, 1'000'000);
  EXPECT_EQ(r[0].status, code(TR::kCreated));
  EXPECT_EQ(r[1].status, code(TR::kImportedEventNotExpected));
  // Now the ledger's own timestamps passed 460: importing it would regress.
  EXPECT_EQ(l.create_transfer(xfer(22, 1, 2, 1, tf::kImported, 460), 2'000'000),
            TR::kImportedEventTimestampMustNotRegress);
}

TEST(TigerBeetle017, AFailedImportedChainCanBeResubmittedWithItsTimestamps) {
  Ledger l{LedgerCapacity{16, 256, 256}};
  std::vector<Account> accounts = {acct(1, af::kImported, 10), acct(2, af::kImported, 20)};
  std::vector<CreateResult> ra(2);
  l.create_accounts(accounts.data(), 2, 1000, ra.data());
  std::vector<Transfer> chain = {xfer(1, 1, 2, 5, tf::kImported | tf::kLinked, 30),
                                 xfer(2, 1, 9, 5, tf::kImported, 40)};  // no account 9
  auto r = transfers(l, chain, 1000);
  EXPECT_EQ(r[0].status, code(TR::kLinkedEventFailed));
  EXPECT_EQ(r[1].status, code(TR::kCreditAccountNotFound));
  EXPECT_EQ(l.last_timestamp(), 20u);
  chain[1].id = 3;  // 2 is remembered as failed (a transient code)
  chain[1].credit_account_id = 2;
  r = transfers(l, chain, 1000);
  EXPECT_EQ(r[0].status, code(TR::kCreated));
  EXPECT_EQ(r[1].status, code(TR::kCreated));
  EXPECT_EQ(r[1].timestamp, 40u);
  EXPECT_EQ(l.create_transfer(xfer(2, 1, 2, 5, tf::kImported, 50), 1000), TR::kIdAlreadyFailed);
  // The snapshot of a ledger whose failed id took the clock as it was restores.
  const std::string s = l.snapshot();
  const Ledger back = Ledger::restore(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  EXPECT_EQ(back.state_hash(), l.state_hash());
}

TEST(TigerBeetle017, TheMachineKeepsARequestOpenAcrossProcessCalls) {
  LedgerMachine m{LedgerCapacity{16, 256, 256}};
  std::vector<LedgerCommand> cmds = {make_create_account(acct(1, af::kImported, 10), 1000),
                                     make_create_account(acct(2, af::kImported, 20), 1000, cf::kLastInBatch),
                                     make_create_transfer(xfer(1, 1, 2, 5, tf::kImported, 30), 1000),
                                     make_create_transfer(xfer(2, 1, 2, 5), 1000, cf::kLastInBatch),
                                     make_create_transfer(xfer(3, 1, 2, 5), 1000, cf::kLastInBatch)};
  std::vector<LedgerEvent> whole;
  LedgerMachine a{LedgerCapacity{16, 256, 256}};
  a.process(cmds.data(), cmds.size(), whole);
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[2].result, code(TR::kCreated));
  EXPECT_EQ(whole[2].timestamp, 30u);
  EXPECT_EQ(whole[3].result, code(TR::kImportedEventExpected));
  EXPECT_EQ(whole[4].result, code(TR::kCreated));  // a new request
  // Cut after the imported transfer: the open request is state.
  std::vector<LedgerEvent> first, second;
  m.process(cmds.data(), 3, first);
  const std::string s = m.snapshot();
  LedgerMachine b = LedgerMachine::restore(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  EXPECT_EQ(b.state_hash(), m.state_hash());
  b.process(cmds.data() + 3, 2, second);
  first.insert(first.end(), second.begin(), second.end());
  ASSERT_EQ(first.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(first[i].result, whole[i].result) << i;
    EXPECT_EQ(first[i].timestamp, whole[i].timestamp) << i;
  }
  EXPECT_EQ(b.state_hash(), a.state_hash());
  // A per-call transfer continues an open request, as its command would.
  m.process(cmds.data() + 2, 0, second);
  std::uint64_t ts = 0;
  EXPECT_EQ(m.transfer(xfer(2, 1, 2, 5), 1000, &ts), TR::kImportedEventExpected);
  EXPECT_EQ(m.transfer(xfer(3, 1, 2, 5), 1000, &ts), TR::kCreated);
  EXPECT_EQ(ts, 1000u);
  EXPECT_EQ(m.state_hash(), a.state_hash());
}

}  // namespace
}  // namespace shanraq::ledger
