// The ledger's balance-only operations (the exchange's: hold_balance,
// release_balance, post_balance, move_balance) and load() with balance-only
// holds.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/ledger/ledger.hpp"

namespace shanraq::ledger {
namespace {

namespace af = account_flags;

Account acct(std::uint64_t id, std::uint16_t flags) {
  Account a{};
  a.id = id;
  a.ledger = 1;
  a.code = 10;
  a.flags = flags;
  return a;
}

Transfer xfer(std::uint64_t id, std::uint64_t dr, std::uint64_t cr, std::uint64_t amount) {
  Transfer t{};
  t.id = id;
  t.debit_account_id = dr;
  t.credit_account_id = cr;
  t.amount = amount;
  t.ledger = 1;
  t.code = 1;
  return t;
}

// bank (1, unlimited) funds user (2, limited); escrow (3); other user (4); fee (5).
class BalanceOps : public ::testing::Test {
 protected:
  BalanceOps() : l(LedgerCapacity{16, 16, 16}) {
    EXPECT_EQ(l.create_account(acct(1, 0), 1), CreateAccountResult::kOk);
    EXPECT_EQ(l.create_account(acct(2, af::kDebitsMustNotExceedCredits), 1), CreateAccountResult::kOk);
    EXPECT_EQ(l.create_account(acct(3, 0), 1), CreateAccountResult::kOk);
    EXPECT_EQ(l.create_account(acct(4, af::kDebitsMustNotExceedCredits), 1), CreateAccountResult::kOk);
    EXPECT_EQ(l.create_account(acct(5, af::kDebitsMustNotExceedCredits), 1), CreateAccountResult::kOk);
    EXPECT_EQ(l.create_transfer(xfer(100, 1, 2, 1000), 2), CreateTransferResult::kOk);
    bank = l.account_index(1);
    user = l.account_index(2);
    escrow = l.account_index(3);
    other = l.account_index(4);
    fee = l.account_index(5);
  }
  Ledger l;
  std::uint32_t bank = 0, user = 0, escrow = 0, other = 0, fee = 0;
};

TEST_F(BalanceOps, IndexResolvesIdsOnce) {
  EXPECT_EQ(l.account_by_index(user).id, 2U);
  EXPECT_EQ(l.account_index(99), Ledger::kNoAccount);
}

TEST_F(BalanceOps, HoldRespectsTheBalanceRuleAndIsDoubleEntry) {
  EXPECT_FALSE(l.hold_balance(user, escrow, 1001));
  EXPECT_EQ(l.account_by_index(user).debits_pending, 0U);
  EXPECT_TRUE(l.hold_balance(user, escrow, 600));
  EXPECT_EQ(l.account_by_index(user).debits_pending, 600U);
  EXPECT_EQ(l.account_by_index(escrow).credits_pending, 600U);
  // The hold counts against a stored transfer's balance rule too.
  EXPECT_EQ(l.create_transfer(xfer(101, 2, 1, 401), 3), CreateTransferResult::kExceedsCredits);
  EXPECT_FALSE(l.hold_balance(user, escrow, 401));
  EXPECT_FALSE(l.release_balance(user, escrow, 601));
  EXPECT_TRUE(l.release_balance(user, escrow, 100));
  EXPECT_EQ(l.account_by_index(user).debits_pending, 500U);
  EXPECT_EQ(l.account_by_index(escrow).credits_pending, 500U);
}

TEST_F(BalanceOps, PostMovesPartOfAHoldAndKeepsTheRest) {
  ASSERT_TRUE(l.hold_balance(user, escrow, 600));
  EXPECT_FALSE(l.post_balance(user, escrow, other, 601));
  EXPECT_TRUE(l.post_balance(user, escrow, other, 250));
  const Account u = l.account_by_index(user), e = l.account_by_index(escrow), o = l.account_by_index(other);
  EXPECT_EQ(u.debits_pending, 350U);
  EXPECT_EQ(u.debits_posted, 250U);
  EXPECT_EQ(e.credits_pending, 350U);
  EXPECT_EQ(e.credits_posted + e.debits_posted, 0U);
  EXPECT_EQ(o.credits_posted, 250U);
  EXPECT_FALSE(l.move_balance(other, fee, 251));
  EXPECT_TRUE(l.move_balance(other, fee, 50));
  EXPECT_EQ(l.account_by_index(fee).credits_posted, 50U);
  EXPECT_EQ(l.account_by_index(other).debits_posted, 50U);
}

TEST_F(BalanceOps, PostedTotalsNearTwoToTheSixtyFourAreRebased) {
  // Round trips between the two users until a posted total cannot grow.
  ASSERT_TRUE(l.move_balance(user, other, 1000));
  const std::uint64_t big = (~std::uint64_t{0} - 2000) / 2;
  // Build large turnover cheaply: the bank is unlimited, so move big out and back.
  ASSERT_TRUE(l.move_balance(bank, other, big));
  ASSERT_TRUE(l.move_balance(other, bank, big));
  ASSERT_TRUE(l.move_balance(bank, other, big));
  ASSERT_TRUE(l.move_balance(other, bank, big));
  const Account before = l.account_by_index(other);
  EXPECT_EQ(before.credits_posted - before.debits_posted, 1000U);
  // The next credit would pass 2^64: rebased, balance unchanged.
  ASSERT_TRUE(l.move_balance(bank, other, big));
  const Account after = l.account_by_index(other);
  EXPECT_EQ(after.credits_posted - after.debits_posted, 1000U + big);
  EXPECT_LT(after.credits_posted, before.credits_posted);
  // The snapshot's checks (per-ledger debits = credits, pending + posted < 2^64) still pass.
  const std::string snap = l.snapshot();
  const Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.state_hash(), l.state_hash());
}

TEST_F(BalanceOps, LoadCountsBalanceOnlyHolds) {
  ASSERT_TRUE(l.hold_balance(user, escrow, 300));
  const std::string snap = l.snapshot();
  auto load = [&](const Ledger::ExternalPending* ext, std::size_t n) {
    SnapshotReader r(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size(), "SHQLEDGR", 1, 1,
                     "ledger snapshot");
    Ledger x = Ledger::load(r, ext, n);
    r.expect_end();
    return x;
  };
  // Without them the pending balances have no holds to explain them.
  EXPECT_THROW(load(nullptr, 0), std::invalid_argument);
  const Ledger::ExternalPending wrong[] = {{2, 299, 0}, {3, 0, 299}};
  EXPECT_THROW(load(wrong, 2), std::invalid_argument);
  const Ledger::ExternalPending unknown[] = {{2, 300, 0}, {99, 0, 300}};
  EXPECT_THROW(load(unknown, 2), std::invalid_argument);
  const Ledger::ExternalPending right[] = {{2, 300, 0}, {3, 0, 300}};
  const Ledger x = load(right, 2);
  EXPECT_EQ(x.state_hash(), l.state_hash());
  EXPECT_EQ(x.snapshot(), snap);
}

}  // namespace
}  // namespace shanraq::ledger
