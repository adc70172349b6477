#include "shanraq/ledger/ledger.hpp"

#include <gtest/gtest.h>

#include "shanraq/common/checksum.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace shanraq::ledger {
namespace {

namespace af = account_flags;
namespace tf = transfer_flags;
using TR = CreateTransferResult;
using AR = CreateAccountResult;

LedgerCapacity small() { return LedgerCapacity{64, 256, 256}; }

Account acct(std::uint64_t id, std::uint32_t ledger = 1, std::uint16_t flags = 0, std::uint64_t limit = 0) {
  Account a{};
  a.id = id;
  a.ledger = ledger;
  a.code = 10;
  a.flags = flags;
  a.limit = limit;
  return a;
}

Transfer xfer(std::uint64_t id, std::uint64_t dr, std::uint64_t cr, std::uint64_t amount, std::uint16_t flags = 0,
              std::uint32_t ledger = 1) {
  Transfer t{};
  t.id = id;
  t.debit_account_id = dr;
  t.credit_account_id = cr;
  t.amount = amount;
  t.ledger = ledger;
  t.code = 1;
  t.flags = flags;
  return t;
}

// A post of the whole hold by default (TigerBeetle >= 0.16: AMOUNT_MAX; 0 posts 0).
Transfer post(std::uint64_t id, std::uint64_t pending_id, std::uint64_t amount = kAmountMax) {
  Transfer t{};
  t.id = id;
  t.pending_id = pending_id;
  t.amount = amount;
  t.flags = tf::kPostPendingTransfer;
  return t;
}

Transfer void_(std::uint64_t id, std::uint64_t pending_id) {
  Transfer t = post(id, pending_id, 0);
  t.flags = tf::kVoidPendingTransfer;
  return t;
}

// Sums of debits and credits per ledger must match: double entry.
void expect_balanced(const Ledger& l, std::uint64_t max_id) {
  std::uint64_t dp = 0, dpo = 0, cp = 0, cpo = 0;
  for (std::uint64_t id = 1; id <= max_id; ++id) {
    if (const auto a = l.lookup_account(id)) {
      dp += a->debits_pending;
      dpo += a->debits_posted;
      cp += a->credits_pending;
      cpo += a->credits_posted;
    }
  }
  EXPECT_EQ(dp, cp);
  EXPECT_EQ(dpo, cpo);
}

class LedgerTest : public ::testing::Test {
 protected:
  Ledger l{small()};
  void SetUp() override {
    ASSERT_EQ(l.create_account(acct(1), 0), AR::kOk);
    ASSERT_EQ(l.create_account(acct(2), 0), AR::kOk);
    ASSERT_EQ(l.create_account(acct(3, 1, af::kDebitsMustNotExceedCredits), 0), AR::kOk);
    ASSERT_EQ(l.create_account(acct(4, 2), 0), AR::kOk);
  }
};

TEST_F(LedgerTest, SinglePhaseMovesBothSides) {
  EXPECT_EQ(l.create_transfer(xfer(100, 1, 2, 50), 0), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 50u);
  EXPECT_EQ(l.lookup_account(2)->credits_posted, 50u);
  const std::optional<Transfer> t = l.lookup_transfer(100);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->amount, 50u);
  EXPECT_GT(t->timestamp, l.lookup_account(4)->timestamp);
  expect_balanced(l, 4);
}

TEST_F(LedgerTest, TimestampsStrictlyIncreaseAndFollowNow) {
  const std::uint64_t before = l.last_timestamp();
  EXPECT_EQ(l.create_transfer(xfer(100, 1, 2, 5), 0), TR::kOk);
  EXPECT_EQ(l.lookup_transfer(100)->timestamp, before + 1);
  EXPECT_EQ(l.create_transfer(xfer(101, 1, 2, 5), 1'000'000), TR::kOk);
  EXPECT_EQ(l.lookup_transfer(101)->timestamp, 1'000'000u);
  // A clock that steps back does not make timestamps regress.
  EXPECT_EQ(l.create_transfer(xfer(102, 1, 2, 5), 10), TR::kOk);
  EXPECT_EQ(l.lookup_transfer(102)->timestamp, 1'000'001u);
}

TEST_F(LedgerTest, ValidationPrecedence) {
  Transfer t = xfer(0, 0, 0, 0);
  t.timestamp = 5;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kTimestampMustBeZero);
  t.timestamp = 0;
  t.flags = 1U << 9;  // the lowest bit TigerBeetle 0.17 reserves
  EXPECT_EQ(l.create_transfer(t, 0), TR::kReservedFlag);
  t.flags = 0;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kIdMustNotBeZero);
  t.id = kIdMax;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kIdMustNotBeIntMax);
  t.id = 7;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kDebitAccountIdMustNotBeZero);
  t.debit_account_id = 1;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kCreditAccountIdMustNotBeZero);
  t.credit_account_id = 1;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kAccountsMustBeDifferent);
  t.credit_account_id = 2;
  t.pending_id = 9;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kPendingIdMustBeZero);
  t.pending_id = 0;
  t.timeout_ns = 5;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kTimeoutReservedForPendingTransfer);
  t.timeout_ns = 0;
  t.flags = tf::kClosingDebit;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kClosingTransferMustBePending);
  t.flags = 0;
  // Amount 0 is no error (TigerBeetle >= 0.16): the next check answers.
  ASSERT_EQ(t.amount, 0u);
  t.ledger = 0;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kLedgerMustNotBeZero);
  t.ledger = 1;
  t.code = 0;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kCodeMustNotBeZero);
  t.code = 1;
  t.debit_account_id = 99;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kDebitAccountNotFound);
  // A transient failure is remembered: the same id now answers id_already_failed.
  t.debit_account_id = 1;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kIdAlreadyFailed);
  t.id = 8;
  t.credit_account_id = 4;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kAccountsMustHaveTheSameLedger);
  t.credit_account_id = 2;
  t.ledger = 2;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kTransferMustHaveTheSameLedgerAsAccounts);
  t.ledger = 1;
  t.debit_account_id = 3;
  t.amount = 1;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kExceedsCredits);
  EXPECT_FALSE(l.lookup_transfer(8).has_value());
  EXPECT_EQ(l.lookup_account(3)->debits_posted, 0u);
}

TEST_F(LedgerTest, IdempotencyNamesTheDifferentField) {
  Transfer t = xfer(100, 1, 2, 50);
  t.user_data_64 = 7;
  ASSERT_EQ(l.create_transfer(t, 0), TR::kOk);
  EXPECT_EQ(l.create_transfer(t, 0), TR::kExists);
  Transfer u = t;
  u.flags = tf::kPending;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentFlags);
  u = t;
  u.debit_account_id = 3;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentDebitAccountId);
  u = t;
  u.credit_account_id = 3;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentCreditAccountId);
  u = t;
  u.amount = 51;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentAmount);
  u = t;
  u.user_data_128[1] = 1;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentUserData128);
  u = t;
  u.user_data_64 = 8;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentUserData64);
  u = t;
  u.user_data_32 = 8;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentUserData32);
  u = t;
  u.ledger = 2;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentLedger);
  u = t;
  u.code = 2;
  EXPECT_EQ(l.create_transfer(u, 0), TR::kExistsWithDifferentCode);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 50u);
}

TEST_F(LedgerTest, TwoPhasePostPartialAndVoid) {
  ASSERT_EQ(l.create_transfer(xfer(10, 1, 2, 100, tf::kPending), 0), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 100u);
  EXPECT_EQ(l.create_transfer(post(11, 10, 101), 0), TR::kExceedsPendingTransferAmount);
  EXPECT_EQ(l.create_transfer(post(11, 10, 60), 0), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 60u);
  EXPECT_EQ(l.lookup_account(2)->credits_posted, 60u);
  EXPECT_EQ(l.create_transfer(post(12, 10), 0), TR::kPendingTransferAlreadyPosted);
  EXPECT_EQ(l.create_transfer(post(11, 10, 60), 0), TR::kExists);
  EXPECT_EQ(l.create_transfer(post(11, 10), 0), TR::kExistsWithDifferentAmount);

  ASSERT_EQ(l.create_transfer(xfer(20, 1, 2, 30, tf::kPending), 0), TR::kOk);
  Transfer v = void_(21, 20);
  v.amount = 29;
  EXPECT_EQ(l.create_transfer(v, 0), TR::kPendingTransferHasDifferentAmount);
  EXPECT_EQ(l.create_transfer(void_(21, 20), 0), TR::kOk);
  EXPECT_EQ(l.create_transfer(void_(22, 20), 0), TR::kPendingTransferAlreadyVoided);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  EXPECT_EQ(l.lookup_transfer(20)->reserved, static_cast<std::uint32_t>(PendingStatus::kVoided));
  EXPECT_EQ(l.create_transfer(post(23, 100), 0), TR::kPendingTransferNotFound);
  EXPECT_EQ(l.create_transfer(post(24, 11), 0), TR::kPendingTransferNotPending);
  Transfer bad = post(25, 25);
  EXPECT_EQ(l.create_transfer(bad, 0), TR::kPendingIdMustBeDifferent);
  bad = post(25, 20);
  bad.flags |= tf::kVoidPendingTransfer;
  EXPECT_EQ(l.create_transfer(bad, 0), TR::kFlagsAreMutuallyExclusive);
  expect_balanced(l, 4);
}

TEST_F(LedgerTest, HoldsExpireAsCommandTimeAdvances) {
  Transfer h = xfer(10, 1, 2, 100, tf::kPending);
  h.timeout_ns = 1'000;
  ASSERT_EQ(l.create_transfer(h, 10'000), TR::kOk);
  const std::uint64_t created = l.lookup_transfer(10)->timestamp;
  EXPECT_EQ(l.expire_pending_transfers(created + 999), 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 100u);
  EXPECT_EQ(l.expire_pending_transfers(created + 1'000), 1u);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  EXPECT_EQ(l.lookup_transfer(10)->reserved, static_cast<std::uint32_t>(PendingStatus::kExpired));
  EXPECT_EQ(l.create_transfer(post(11, 10), 0), TR::kPendingTransferExpired);

  // A later transfer's command time expires the hold before it applies.
  h.id = 20;
  ASSERT_EQ(l.create_transfer(h, 0), TR::kOk);
  const std::uint64_t c2 = l.lookup_transfer(20)->timestamp;
  EXPECT_EQ(l.create_transfer(post(21, 20), c2 + 5'000), TR::kPendingTransferExpired);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  expect_balanced(l, 4);
}

TEST_F(LedgerTest, LinkedChainIsAllOrNothing) {
  std::vector<Transfer> batch = {xfer(1, 1, 2, 10, tf::kLinked), xfer(2, 2, 1, 5, tf::kLinked),
                                 xfer(3, 3, 1, 1),  // 3 has no credits: exceeds_credits
                                 xfer(4, 1, 2, 7)};
  std::vector<std::uint32_t> r(batch.size());
  const std::uint64_t h0 = l.state_hash();
  l.create_transfers(batch.data(), batch.size(), 0, r.data());
  EXPECT_EQ(r[0], static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(r[1], static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(r[2], static_cast<std::uint32_t>(TR::kExceedsCredits));
  EXPECT_EQ(r[3], static_cast<std::uint32_t>(TR::kOk));
  EXPECT_FALSE(l.lookup_transfer(1).has_value());
  EXPECT_FALSE(l.lookup_transfer(2).has_value());
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 7u);
  EXPECT_EQ(l.lookup_account(1)->credits_posted, 0u);
  EXPECT_NE(l.state_hash(), h0);
  // The ids of the members that did not fail themselves are free to reuse.
  EXPECT_EQ(l.create_transfer(xfer(1, 1, 2, 10), 0), TR::kOk);
  EXPECT_EQ(l.create_transfer(xfer(3, 3, 1, 1), 0), TR::kIdAlreadyFailed);

  std::vector<Transfer> open = {xfer(30, 1, 2, 1, tf::kLinked), xfer(31, 1, 2, 1, tf::kLinked)};
  l.create_transfers(open.data(), open.size(), 0, r.data());
  EXPECT_EQ(r[0], static_cast<std::uint32_t>(TR::kLinkedEventFailed));
  EXPECT_EQ(r[1], static_cast<std::uint32_t>(TR::kLinkedEventChainOpen));
  EXPECT_FALSE(l.lookup_transfer(30).has_value());
}

TEST_F(LedgerTest, ChainCanPostItsOwnHoldAndRollsItBack) {
  std::vector<Transfer> batch = {xfer(1, 1, 2, 10, tf::kLinked | tf::kPending), post(2, 1), xfer(3, 1, 2, 5)};
  batch[1].flags |= tf::kLinked;
  batch[2].flags |= 0;
  std::vector<std::uint32_t> r(3);
  l.create_transfers(batch.data(), 3, 0, r.data());
  EXPECT_EQ(r[0], kCreatedStatus);
  EXPECT_EQ(r[1], kCreatedStatus);
  EXPECT_EQ(r[2], kCreatedStatus);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 15u);

  // Same shape, but the last member duplicates an id: the chain is undone.
  batch = {xfer(10, 1, 2, 10, tf::kLinked | tf::kPending), post(11, 10), xfer(3, 1, 2, 5)};
  batch[1].flags |= tf::kLinked;
  const std::uint64_t h0 = l.state_hash();
  const std::uint64_t before = l.last_timestamp();
  l.create_transfers(batch.data(), 3, 0, r.data());
  EXPECT_EQ(r[2], static_cast<std::uint32_t>(TR::kExists));
  EXPECT_FALSE(l.lookup_transfer(10).has_value());
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 15u);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  // Only the clock moved.
  EXPECT_EQ(l.last_timestamp(), before + 3);
  EXPECT_NE(l.state_hash(), h0);
}

TEST_F(LedgerTest, BalancingAndLimits) {
  ASSERT_EQ(l.create_transfer(xfer(1, 1, 3, 40), 0), TR::kOk);  // 3 holds 40 credits
  // Sweep: move at most what account 3 holds.
  EXPECT_EQ(l.create_transfer(xfer(2, 3, 2, 1000, tf::kBalancingDebit), 0), TR::kOk);
  EXPECT_EQ(l.lookup_transfer(2)->amount, 40u);
  EXPECT_EQ(l.create_transfer(xfer(2, 3, 2, 999, tf::kBalancingDebit), 0), TR::kExists);
  EXPECT_EQ(l.create_transfer(xfer(2, 3, 2, 39, tf::kBalancingDebit), 0), TR::kExistsWithDifferentAmount);
  EXPECT_EQ(l.create_transfer(xfer(3, 3, 2, 1), 0), TR::kExceedsCredits);
  // An overdraft limit lets debits exceed credits by up to the limit.
  EXPECT_EQ(l.set_account_limit(3, 25, 0), SetLimitResult::kOk);
  EXPECT_EQ(l.create_transfer(xfer(4, 3, 2, 26), 0), TR::kExceedsCredits);
  EXPECT_EQ(l.create_transfer(xfer(5, 3, 2, 25), 0), TR::kOk);
  EXPECT_EQ(l.set_account_limit(1, 5, 0), SetLimitResult::kLimitRequiresBalanceFlag);
  EXPECT_EQ(l.set_account_limit(99, 5, 0), SetLimitResult::kAccountNotFound);
  EXPECT_EQ(l.create_account(acct(9, 1, 0, 5), 0), AR::kLimitRequiresBalanceFlag);
  expect_balanced(l, 4);
}

TEST_F(LedgerTest, ClosingAndReopening) {
  Transfer close = xfer(1, 1, 2, 0, tf::kPending | tf::kClosingDebit);
  ASSERT_EQ(l.create_transfer(close, 0), TR::kOk);
  EXPECT_TRUE(l.lookup_account(1)->flags & af::kClosed);
  EXPECT_EQ(l.create_transfer(xfer(2, 1, 2, 5), 0), TR::kDebitAccountAlreadyClosed);
  EXPECT_EQ(l.create_transfer(xfer(3, 2, 1, 5), 0), TR::kCreditAccountAlreadyClosed);
  EXPECT_EQ(l.create_transfer(post(4, 1), 0), TR::kDebitAccountAlreadyClosed);
  EXPECT_EQ(l.create_transfer(void_(5, 1), 0), TR::kOk);
  EXPECT_FALSE(l.lookup_account(1)->flags & af::kClosed);
  EXPECT_EQ(l.create_transfer(xfer(6, 1, 2, 5), 0), TR::kOk);
}

TEST_F(LedgerTest, OverflowsAreRejectedNotWrapped) {
  ASSERT_EQ(l.create_transfer(xfer(1, 1, 2, ~std::uint64_t{0} - 1), 0), TR::kOk);
  EXPECT_EQ(l.create_transfer(xfer(2, 1, 2, 2), 0), TR::kOverflowsDebitsPosted);
  EXPECT_EQ(l.create_transfer(xfer(3, 1, 2, 1, tf::kPending), 0), TR::kOk);
  // Pending and posted each fit, their sum would not.
  EXPECT_EQ(l.create_transfer(xfer(5, 1, 2, 1, tf::kPending), 0), TR::kOverflowsDebits);
  Transfer t = xfer(4, 2, 1, 1, tf::kPending);
  t.timeout_ns = kTimeMax;
  EXPECT_EQ(l.create_transfer(t, 0), TR::kOverflowsTimeout);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, ~std::uint64_t{0} - 1);
}

TEST_F(LedgerTest, History) {
  Ledger h{small()};
  ASSERT_EQ(h.create_account(acct(1, 1, af::kHistory), 100), AR::kOk);
  ASSERT_EQ(h.create_account(acct(2), 100), AR::kOk);
  ASSERT_EQ(h.create_transfer(xfer(1, 1, 2, 5), 1000), TR::kOk);
  ASSERT_EQ(h.create_transfer(xfer(2, 2, 1, 7), 2000), TR::kOk);
  ASSERT_EQ(h.create_transfer(xfer(3, 1, 2, 1), 3000), TR::kOk);
  AccountBalance out[4];
  ASSERT_EQ(h.account_history(1, 0, ~std::uint64_t{0}, out, 4), 3u);
  EXPECT_EQ(out[0].timestamp, 1000u);
  EXPECT_EQ(out[0].debits_posted, 5u);
  EXPECT_EQ(out[1].credits_posted, 7u);
  EXPECT_EQ(out[2].debits_posted, 6u);
  EXPECT_EQ(h.account_history(1, 1500, 2500, out, 4), 1u);
  EXPECT_EQ(out[0].timestamp, 2000u);
  EXPECT_EQ(h.account_history(2, 0, ~std::uint64_t{0}, nullptr, 0), 0u);
}

TEST_F(LedgerTest, CapacityErrorsApplyNothing) {
  Ledger c{LedgerCapacity{2, 2, 8}};
  ASSERT_EQ(c.create_account(acct(1), 0), AR::kOk);
  ASSERT_EQ(c.create_account(acct(2), 0), AR::kOk);
  EXPECT_THROW(c.create_account(acct(3), 0), CapacityError);
  std::vector<Transfer> b = {xfer(1, 1, 2, 1), xfer(2, 1, 2, 1), xfer(3, 1, 2, 1)};
  std::vector<std::uint32_t> r(3);
  const std::uint64_t h0 = c.state_hash();
  EXPECT_THROW(c.create_transfers(b.data(), 3, 0, r.data()), CapacityError);
  EXPECT_EQ(c.state_hash(), h0);
  EXPECT_THROW(c.create_transfer(xfer(1, 1, 2, 1), kTimeMax + 1), std::invalid_argument);
  EXPECT_THROW(Ledger(LedgerCapacity{0, 1, 1}), std::invalid_argument);
}

TEST_F(LedgerTest, AccountResults) {
  Account a = acct(1);
  EXPECT_EQ(l.create_account(a, 0), AR::kExists);
  a.code = 11;
  EXPECT_EQ(l.create_account(a, 0), AR::kExistsWithDifferentCode);
  a = acct(10, 1, af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits);
  EXPECT_EQ(l.create_account(a, 0), AR::kFlagsAreMutuallyExclusive);
  a = acct(10);
  a.credits_posted = 1;
  EXPECT_EQ(l.create_account(a, 0), AR::kCreditsPostedMustBeZero);
  a = acct(10, 0);
  EXPECT_EQ(l.create_account(a, 0), AR::kLedgerMustNotBeZero);
  a = acct(10);
  a.reserved = 1;
  EXPECT_EQ(l.create_account(a, 0), AR::kReservedField);
  a = acct(0);
  EXPECT_EQ(l.create_account(a, 0), AR::kIdMustNotBeZero);
  std::vector<Account> chain = {acct(20, 1, af::kLinked), acct(21, 0)};
  std::vector<std::uint32_t> r(2);
  l.create_accounts(chain.data(), 2, 0, r.data());
  EXPECT_EQ(r[0], static_cast<std::uint32_t>(AR::kLinkedEventFailed));
  EXPECT_EQ(r[1], static_cast<std::uint32_t>(AR::kLedgerMustNotBeZero));
  EXPECT_FALSE(l.lookup_account(20).has_value());
}

// A random stream of commands: double entry holds at every step, and the
// snapshot round-trips bit-identically and replays to the same state.
TEST(LedgerRandom, ConservationDeterminismAndSnapshots) {
  auto run = [](Ledger& l, std::uint32_t seed, std::size_t steps) {
    std::mt19937_64 rng(seed);
    std::vector<Account> accounts;
    for (std::uint64_t id = 1; id <= 16; ++id) {
      std::uint16_t flags = static_cast<std::uint16_t>(id % 4 == 0   ? af::kDebitsMustNotExceedCredits
                                                       : id % 4 == 1 ? af::kCreditsMustNotExceedDebits | af::kHistory
                                                                     : 0);
      accounts.push_back(acct(id, static_cast<std::uint32_t>(1 + id % 2), flags, id % 8 == 0 ? 50 : 0));
    }
    std::vector<std::uint32_t> r(64);
    l.create_accounts(accounts.data(), accounts.size(), 0, r.data());
    std::uint64_t now = 0;
    std::size_t ok = 0;
    for (std::size_t s = 0; s < steps; ++s) {
      std::vector<Transfer> batch(1 + rng() % 8);
      for (auto& t : batch) {
        const std::uint64_t kind = rng() % 10;
        if (kind < 2) {
          t = post(1 + rng() % 400, 1 + rng() % 400, rng() % 3 == 0 ? 0 : rng() % 60);
          if (kind == 1) t.flags = tf::kVoidPendingTransfer;
        } else {
          // Mostly valid: same-ledger pairs, a few flags at a time.
          const std::uint64_t dr = 1 + rng() % 16;
          const std::uint64_t cr = rng() % 8 == 0 ? 1 + rng() % 16 : 1 + (dr + 2 * (1 + rng() % 7) - 1) % 16;
          std::uint16_t flags = 0;
          if (rng() % 6 == 0) flags |= tf::kLinked;
          if (rng() % 3 == 0) flags |= tf::kPending;
          if (rng() % 8 == 0) flags |= tf::kBalancingDebit;
          if (rng() % 8 == 0) flags |= tf::kBalancingCredit;
          if (rng() % 40 == 0) flags |= tf::kClosingDebit | tf::kPending;
          t = xfer(1 + rng() % 400, dr, cr, rng() % 60, flags, static_cast<std::uint32_t>(1 + dr % 2));
          if (t.flags & tf::kPending) t.timeout_ns = rng() % 3 == 0 ? 0 : rng() % 5000;
        }
      }
      now += rng() % 1000;
      l.create_transfers(batch.data(), batch.size(), now, r.data());
      for (std::size_t k = 0; k < batch.size(); ++k) ok += r[k] == kCreatedStatus;
      expect_balanced(l, 16);
    }
    // The stream must exercise success paths, not only rejections.
    EXPECT_GT(ok, steps / 2);
  };
  Ledger a{LedgerCapacity{64, 4096, 8192}};
  Ledger b{LedgerCapacity{128, 8192, 16384}};
  run(a, 7, 300);
  run(b, 7, 300);
  EXPECT_EQ(a.state_hash(), b.state_hash());
  const std::string snap = a.snapshot();
  Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.snapshot(), snap);
  EXPECT_EQ(c.state_hash(), a.state_hash());
  // Continue both from the same point: they stay identical.
  std::vector<Transfer> more = {xfer(1000, 2, 4, 3), xfer(1001, 6, 10, 3)};
  std::vector<std::uint32_t> r1(2), r2(2);
  a.create_transfers(more.data(), 2, 0, r1.data());
  c.create_transfers(more.data(), 2, 0, r2.data());
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(a.state_hash(), c.state_hash());

  std::string bad = snap;
  bad[100] ^= 1;
  EXPECT_THROW(Ledger::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()), std::invalid_argument);
  EXPECT_THROW(Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size() - 1),
               std::invalid_argument);
}

// Long batches run create_transfers' prefetch pipeline in its steady state
// (short ones only its prologue). Prefetching must never change a result: a
// batch must equal the same transfers submitted one at a time, including posts
// of holds placed a few events earlier in the same batch, retried ids, failures
// and history accounts. Account ids are structured (multiples of 2^32 and
// small integers) so that map slots collide.
TEST(LedgerPipeline, LongBatchEqualsOneByOne) {
  constexpr std::size_t kAccounts = 200;
  auto account_id = [](std::size_t i) { return i % 2 == 0 ? std::uint64_t{i / 2 + 1} : (std::uint64_t{i} << 32); };
  std::vector<Account> accounts;
  for (std::size_t i = 0; i < kAccounts; ++i) {
    accounts.push_back(acct(account_id(i), 1,
                            static_cast<std::uint16_t>(i % 5 == 0   ? af::kDebitsMustNotExceedCredits
                                                       : i % 7 == 0 ? af::kHistory
                                                                    : 0),
                            i % 10 == 0 ? 500 : 0));
  }
  std::mt19937_64 rng(42);
  std::vector<Transfer> stream;
  std::vector<std::uint64_t> holds;
  for (std::uint64_t id = 1; stream.size() < 6000; ++id) {
    const std::uint64_t kind = rng() % 20;
    if (kind < 4 && !holds.empty()) {
      // A post or void of a recent hold (often placed 1..40 events ago).
      const std::uint64_t pid = holds[holds.size() - 1 - rng() % std::min<std::size_t>(holds.size(), 40)];
      stream.push_back(kind == 0 ? void_(id, pid) : post(id, pid, rng() % 2 == 0 ? 0 : 1 + rng() % 30));
    } else if (kind == 4 && !stream.empty()) {
      stream.push_back(stream[rng() % stream.size()]);  // a retry: exists / id_already_failed
    } else {
      const std::size_t d = rng() % (kAccounts + 4);  // a few unknown accounts
      std::size_t c = rng() % kAccounts;
      if (c == d) c = (c + 1) % kAccounts;
      const std::uint16_t flags = rng() % 4 == 0 ? tf::kPending : 0;
      Transfer t = xfer(id, account_id(d), account_id(c), 1 + rng() % 100, flags);
      if (flags & tf::kPending) {
        t.timeout_ns = rng() % 3 == 0 ? 0 : 1 + rng() % 3000;
        holds.push_back(id);
      }
      stream.push_back(t);
    }
  }
  Ledger batch{LedgerCapacity{kAccounts, 8192, 32768}};
  Ledger single{LedgerCapacity{kAccounts, 8192, 32768}};
  std::vector<std::uint32_t> r(kAccounts);
  batch.create_accounts(accounts.data(), accounts.size(), 0, r.data());
  single.create_accounts(accounts.data(), accounts.size(), 0, r.data());
  std::vector<std::uint32_t> rb(stream.size());
  std::size_t ok = 0, posted = 0, expired = 0;
  std::uint64_t now = 1000;
  for (std::size_t i = 0; i < stream.size(); i += 2000) {
    const std::size_t m = std::min<std::size_t>(2000, stream.size() - i);
    batch.create_transfers(stream.data() + i, m, now, rb.data() + i);
    for (std::size_t k = i; k < i + m; ++k) {
      const auto rs = static_cast<std::uint32_t>(single.create_transfer(stream[k], now));
      ASSERT_EQ(rb[k], rs) << "transfer " << k;
      ok += rs == kCreatedStatus;
      posted += rs == kCreatedStatus && (stream[k].flags & tf::kPostPendingTransfer);
      expired += rs == static_cast<std::uint32_t>(TR::kPendingTransferExpired);
    }
    now += 2500;
  }
  EXPECT_EQ(batch.state_hash(), single.state_hash());
  EXPECT_EQ(batch.snapshot(), single.snapshot());
  // The stream must exercise every path it is meant to.
  EXPECT_GT(ok, stream.size() / 2);
  EXPECT_GT(posted, 100u);
  EXPECT_GT(expired, 0u);
  EXPECT_GT(batch.history_count(), 0u);
}

// One balance rule (types.hpp) for balance(), EXCEEDS_* and balancing.
TEST(LedgerBalanceRule, SignedRoomAtTheBoundaries) {
  constexpr std::uint64_t kMax = ~std::uint64_t{0};
  Account a = acct(1, 1, af::kDebitsMustNotExceedCredits, kMax);
  EXPECT_EQ(available_balance(a), static_cast<__int128>(kMax));
  a.credits_posted = kMax;  // credits + limit pass 2^64: not cut
  EXPECT_EQ(available_balance(a), static_cast<__int128>(kMax) * 2);
  a = acct(1, 1, af::kDebitsMustNotExceedCredits, 4);
  a.debits_posted = 10;
  EXPECT_EQ(debit_room(a), -6);  // beyond a lowered limit
  const SignedAmount s = account_balance(a);
  EXPECT_TRUE(s.negative);
  EXPECT_EQ(s.magnitude[0], 6u);
  EXPECT_EQ(s.magnitude[1], 0u);
  // The limit counts only on the side its flag constrains.
  a = acct(1, 1, af::kCreditsMustNotExceedDebits, 7);
  EXPECT_EQ(debit_room(a), 0);
  EXPECT_EQ(credit_room(a), 7);
  EXPECT_EQ(available_balance(a), 7);
  a.credits_pending = kMax;
  a.debits_posted = kMax;
  EXPECT_EQ(available_balance(a), 7);
  EXPECT_EQ(split_signed(-(static_cast<__int128>(1) << 65)).magnitude[1], 2u);
}

// ---- idempotency window ------------------------------------------------------

constexpr std::uint64_t kMs = 1'000'000;  // ns
// A time-ordered id: milliseconds in the high 42 bits (id_time_ns).
constexpr std::uint64_t tid(std::uint64_t ms, std::uint64_t seq) { return (ms << kIdTimeShift) | seq; }

TEST(LedgerWindow, RejectsOldIdsAndEvictsWithoutChangingAnswers) {
  Ledger l{LedgerCapacity{8, 64, 64, 1000 * kMs}};  // W = 1 s
  std::vector<Account> accounts = {acct(1), acct(2)};
  std::vector<std::uint32_t> r(2);
  l.create_accounts(accounts.data(), 2, 1000 * kMs, r.data());
  const Transfer a = xfer(tid(1000, 1), 1, 2, 5);
  Transfer hold = xfer(tid(1000, 2), 1, 2, 7, tf::kPending);
  Transfer done = xfer(tid(1000, 3), 1, 2, 3, tf::kPending);
  EXPECT_EQ(l.create_transfer(a, 1000 * kMs), TR::kOk);
  EXPECT_EQ(l.create_transfer(hold, 1000 * kMs), TR::kOk);
  EXPECT_EQ(l.create_transfer(done, 1000 * kMs), TR::kOk);
  EXPECT_EQ(l.create_transfer(post(tid(1001, 1), done.id), 1001 * kMs), TR::kOk);
  EXPECT_EQ(l.create_transfer(a, 1500 * kMs), TR::kExists);  // a retry inside the window
  // 1.5 s later: every id from t = 1000 ms is outside the window.
  EXPECT_EQ(l.create_transfer(a, 2500 * kMs), TR::kIdOutsideIdempotencyWindow);
  EXPECT_EQ(l.create_transfer(xfer(tid(1200, 9), 1, 2, 1), 2500 * kMs), TR::kIdOutsideIdempotencyWindow);
  EXPECT_EQ(l.create_transfer(xfer(tid(2400, 1), 1, 2, 1), 2500 * kMs), TR::kOk);
  const std::size_t before = l.transfer_count();
  // Dropped: a, the posted hold and its post (both outside the window); kept:
  // the live hold and the new transfer. Rejected ids were never stored.
  EXPECT_EQ(l.evict(), before - 2);
  EXPECT_EQ(l.transfer_count(), 2u);
  EXPECT_FALSE(l.lookup_transfer(a.id).has_value());
  ASSERT_TRUE(l.lookup_transfer(hold.id).has_value());
  // The same answers as before the eviction: a retry of a dropped id, a post
  // of a dropped (posted) hold, and a post of the old but live hold.
  EXPECT_EQ(l.create_transfer(a, 2600 * kMs), TR::kIdOutsideIdempotencyWindow);
  EXPECT_EQ(l.create_transfer(post(tid(2600, 1), done.id), 2600 * kMs), TR::kPendingIdOutsideIdempotencyWindow);
  EXPECT_EQ(l.create_transfer(post(tid(2600, 2), hold.id), 2600 * kMs), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 5u + 3u + 1u + 7u);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  // The window travels with snapshots.
  const std::string snap = l.snapshot();
  Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.capacity().idempotency_window_ns, 1000 * kMs);
  EXPECT_EQ(c.snapshot(), snap);
  EXPECT_THROW((Ledger{LedgerCapacity{8, 8, 8, kTimeMax + 1}}), std::invalid_argument);
}

// Eviction runs by itself and never changes an answer or a balance: a ledger
// that also evicts by hand at random moments, with another capacity, answers
// alike. Stored transfers stay bounded by the rate times the window (plus
// live holds), and every created transfer is either still stored or in the
// archive, exactly once.
TEST(LedgerWindow, AutomaticEvictionIsInvisibleBoundedAndArchived) {
  constexpr std::uint64_t kWindowMs = 200;
  Ledger a{LedgerCapacity{16, 1U << 16, 1U << 16, kWindowMs * kMs, 1U << 16}};
  Ledger b{LedgerCapacity{16, 1U << 14, 1U << 16, kWindowMs * kMs}};
  std::vector<Account> accounts;
  for (std::uint64_t id = 1; id <= 8; ++id) accounts.push_back(acct(id, 1, id == 8 ? af::kHistory : 0));
  std::vector<std::uint32_t> r(8);
  a.create_accounts(accounts.data(), 8, 0, r.data());
  b.create_accounts(accounts.data(), 8, 0, r.data());
  std::mt19937_64 rng(3);
  std::vector<Transfer> sent;
  std::vector<std::uint64_t> holds, created;
  std::vector<Transfer> archived(1U << 16);
  std::size_t drained = 0;
  std::size_t max_stored = 0, outside = 0, evictions = 0;
  for (std::uint64_t ms = 1000; ms < 6000; ms += 1 + rng() % 3) {
    std::vector<Transfer> batch;
    for (int k = 0; k < 4; ++k) {
      const std::uint64_t kind = rng() % 10;
      const std::uint64_t id = tid(ms - rng() % (kWindowMs + 50), rng() % 4096);  // some already too old
      if (kind < 2 && !holds.empty()) {
        Transfer t = post(id, holds[rng() % holds.size()]);
        if (kind == 1) t.flags = tf::kVoidPendingTransfer;
        batch.push_back(t);
      } else if (kind == 2 && !sent.empty()) {
        batch.push_back(sent[rng() % sent.size()]);  // a retry, maybe of an evicted id
      } else {
        const std::uint64_t dr = 1 + rng() % 8;
        Transfer t = xfer(id, dr, 1 + dr % 8, 1 + rng() % 9, rng() % 4 == 0 ? tf::kPending : 0);
        if (t.flags & tf::kPending) {
          t.timeout_ns = rng() % 2 == 0 ? 0 : (1 + rng() % 400) * kMs;
          holds.push_back(t.id);
        }
        if (rng() % 10 == 0) t.flags |= tf::kLinked;
        batch.push_back(t);
      }
    }
    std::vector<std::uint32_t> r1(batch.size()), r2(batch.size());
    a.create_transfers(batch.data(), batch.size(), ms * kMs, r1.data());
    b.create_transfers(batch.data(), batch.size(), ms * kMs, r2.data());
    ASSERT_EQ(r1, r2) << "at " << ms << " ms";
    for (std::size_t k = 0; k < batch.size(); ++k) {
      if (r1[k] == kCreatedStatus) created.push_back(batch[k].id);
      outside += r1[k] == static_cast<std::uint32_t>(TR::kIdOutsideIdempotencyWindow) ||
                 r1[k] == static_cast<std::uint32_t>(TR::kPendingIdOutsideIdempotencyWindow);
      sent.push_back(batch[k]);
    }
    if (rng() % 16 == 0) evictions += b.evict();
    if (rng() % 8 == 0) drained += a.drain_evicted(archived.data() + drained, rng() % 64);
    max_stored = std::max(max_stored, a.transfer_count());
  }
  for (std::uint64_t id = 1; id <= 8; ++id) {
    const Account x = *a.lookup_account(id), y = *b.lookup_account(id);
    EXPECT_EQ(std::memcmp(&x, &y, sizeof(Account)), 0) << "account " << id;
  }
  EXPECT_EQ(a.history_count(), b.history_count());
  EXPECT_GT(created.size(), 1000u);
  EXPECT_GT(outside, 100u);
  EXPECT_GT(evictions, 0u);
  EXPECT_LT(max_stored, created.size() / 3);
  drained += a.drain_evicted(archived.data() + drained, archived.size() - drained);
  EXPECT_EQ(a.archived_count(), 0u);
  // Every created transfer: stored (found) or archived, never both, never lost.
  std::vector<std::uint64_t> seen;
  for (std::size_t k = 0; k < drained; ++k) {
    EXPECT_FALSE(a.lookup_transfer(archived[k].id).has_value());
    EXPECT_LE(archived[k].reserved, static_cast<std::uint32_t>(PendingStatus::kExpired));
    seen.push_back(archived[k].id);
  }
  for (std::uint64_t id : created) {
    if (a.lookup_transfer(id).has_value()) seen.push_back(id);
  }
  std::sort(seen.begin(), seen.end());
  std::sort(created.begin(), created.end());
  EXPECT_EQ(seen, created);
  const std::string snap = a.snapshot();
  Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.snapshot(), snap);
  EXPECT_EQ(c.state_hash(), a.state_hash());
}

// Two ledgers fed the same stream are identical at every step whatever their
// capacities (their rings wrap at different places), and the archive holds
// back eviction instead of losing a transfer.
TEST(LedgerWindow, EvictionIsDeterministicAndWaitsForAFullArchive) {
  constexpr std::uint64_t kWindowMs = 50;
  Ledger a{LedgerCapacity{8, 300, 64, kWindowMs * kMs, 40}};
  Ledger b{LedgerCapacity{8, 513, 64, kWindowMs * kMs, 40}};
  std::vector<Account> accounts = {acct(1), acct(2), acct(3)};
  std::vector<std::uint32_t> r(3);
  a.create_accounts(accounts.data(), 3, 0, r.data());
  b.create_accounts(accounts.data(), 3, 0, r.data());
  std::mt19937_64 rng(11);
  std::uint64_t seq = 0;
  std::vector<Transfer> out(64);
  std::size_t drained_total = 0;
  bool waited = false;
  for (std::uint64_t ms = 1000; ms < 3000; ++ms) {
    Transfer t = xfer(tid(ms + (rng() % 50 == 0 ? 80 : 0), ++seq % 4096), 1 + rng() % 2, 3, 1 + rng() % 5,
                      rng() % 5 == 0 ? tf::kPending : 0);  // now and then an id from the future
    if ((t.flags & tf::kPending) && rng() % 10 != 0) t.timeout_ns = (1 + rng() % 100) * kMs;
    const TR ra = a.create_transfer(t, ms * kMs);
    const TR rb = b.create_transfer(t, ms * kMs);
    ASSERT_EQ(ra, rb);
    ASSERT_EQ(a.state_hash(), b.state_hash()) << "at " << ms;
    waited |= a.archived_count() == 40;
    // Drain often enough to keep up, except for a pause: a full archive
    // makes eviction wait (stored transfers grow), and it catches up after.
    if (ms % 25 == 0 && (ms < 1500 || ms > 1600)) {
      const std::size_t na = a.drain_evicted(out.data(), out.size());
      std::vector<Transfer> other(64);
      ASSERT_EQ(b.drain_evicted(other.data(), other.size()), na);
      ASSERT_EQ(std::memcmp(out.data(), other.data(), na * sizeof(Transfer)), 0);
      drained_total += na;
    }
  }
  EXPECT_TRUE(waited);
  EXPECT_GT(drained_total, 500u);
  EXPECT_EQ(a.state_hash(), b.state_hash());
  EXPECT_LT(a.transfer_count(), 300u);
}

// Holds that outlive the window are moved to the back of the ring (with
// their expiry entries) instead of blocking eviction; they still expire on
// time or can be posted, and lookups show them as created.
TEST(LedgerWindow, LongHoldsMoveBackAndStillExpireOrPost) {
  constexpr std::uint64_t kWindowMs = 10;
  Ledger l{LedgerCapacity{8, 64, 64, kWindowMs * kMs, 64}};
  std::vector<Account> accounts = {acct(1), acct(2)};
  std::vector<std::uint32_t> r(2);
  l.create_accounts(accounts.data(), 2, 0, r.data());
  Transfer timed = xfer(tid(1000, 1), 1, 2, 7, tf::kPending);
  timed.timeout_ns = 100 * kMs;  // ten windows
  const Transfer open = xfer(tid(1000, 2), 1, 2, 5, tf::kPending);
  ASSERT_EQ(l.create_transfer(timed, 1000 * kMs), TR::kOk);
  ASSERT_EQ(l.create_transfer(open, 1000 * kMs), TR::kOk);
  std::uint64_t seq = 0;
  std::vector<Transfer> archived;
  auto drain = [&] {
    std::vector<Transfer> out(64);
    out.resize(l.drain_evicted(out.data(), out.size()));
    archived.insert(archived.end(), out.begin(), out.end());
  };
  for (std::uint64_t ms = 1001; ms < 1099; ++ms) {
    ASSERT_EQ(l.create_transfer(xfer(tid(ms, ++seq), 2, 1, 1), ms * kMs), TR::kOk) << ms;
    drain();
  }
  // 64 slots held ~100 transfers: the ring wrapped, the holds moved back.
  EXPECT_LE(l.transfer_count(), 2 + kWindowMs + 1);
  const auto h = l.lookup_transfer(timed.id);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->pending_id, 0u);  // the stored back-pointer is not shown
  EXPECT_EQ(h->reserved, static_cast<std::uint32_t>(PendingStatus::kPending));
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 12u);
  // The timed hold expires at 1100 ms, found through its moved heap entry.
  ASSERT_EQ(l.create_transfer(xfer(tid(1100, 1), 2, 1, 1), 1100 * kMs), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 5u);
  // (Expired and old, it may be evicted by that same event: see the archive below.)
  // The open hold is still live and can be posted, though its id is old.
  EXPECT_EQ(l.create_transfer(post(tid(1100, 2), open.id), 1100 * kMs), TR::kOk);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  EXPECT_EQ(l.lookup_account(1)->debits_posted, 5u);
  // Both holds are now resolved and old: the next events evict them.
  for (std::uint64_t ms = 1101; ms < 1120; ++ms) {
    l.create_transfer(xfer(tid(ms, 1), 2, 1, 1), ms * kMs);
    drain();
  }
  EXPECT_FALSE(l.lookup_transfer(timed.id).has_value());
  EXPECT_FALSE(l.lookup_transfer(open.id).has_value());
  std::size_t seen = 0;
  for (const Transfer& t : archived) {
    if (t.id == timed.id) {
      EXPECT_EQ(t.reserved, static_cast<std::uint32_t>(PendingStatus::kExpired));
      EXPECT_EQ(t.pending_id, 0u);
      ++seen;
    }
    if (t.id == open.id) {
      EXPECT_EQ(t.reserved, static_cast<std::uint32_t>(PendingStatus::kPosted));
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2u);
  EXPECT_EQ(archived.size() + l.transfer_count(), 2 + 98 + 2 + 19);
  const std::string snap = l.snapshot();
  Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.snapshot(), snap);
}

// ---- expiry heap and snapshots --------------------------------------------------

// Builds a ledger whose timed holds expire out of creation order, with ties.
void timed_holds(Ledger& l) {
  std::vector<Account> accounts = {acct(1), acct(2)};
  std::vector<std::uint32_t> r(2);
  l.create_accounts(accounts.data(), 2, 0, r.data());
  const std::uint64_t timeouts[] = {500, 100, 300, 100, 900, 200, 300, 50};
  std::uint64_t id = 1;
  for (std::uint64_t t : timeouts) {
    Transfer h = xfer(id++, 1, 2, 1, tf::kPending);
    h.timeout_ns = t;
    ASSERT_EQ(l.create_transfer(h, 1000), TR::kOk);
  }
  ASSERT_EQ(l.create_transfer(post(100, 3), 1000), TR::kOk);  // a stale heap entry
}

// Offsets of the sections of a ledger snapshot (Ledger::save after the
// envelope's 8-byte magic and 4-byte version): capacities (4 x u32), window,
// clock, then each section a u64 count and its records: accounts (96 B),
// transfers (96 B), history entries (40 + 4 B), heap entries (4 B), archive.
constexpr std::size_t kAccounts = 12 + 16 + 8 + 8 + 8;
std::size_t account_offset(std::size_t i) { return kAccounts + i * sizeof(Account); }
std::size_t transfers_offset(const Ledger& l) { return account_offset(l.account_count()) + 8; }
std::size_t history_offset(const Ledger& l) { return transfers_offset(l) + l.transfer_count() * sizeof(Transfer) + 8; }
std::size_t expiry_offset(const Ledger& l) { return history_offset(l) + l.history_count() * 44 + 8; }
void reseal(std::string& snap) {
  const std::uint64_t sum = checksum64(snap.data(), snap.size() - 8);
  std::memcpy(snap.data() + snap.size() - 8, &sum, 8);
}
template <class T>
void poke(std::string& snap, std::size_t at, T v) {
  std::memcpy(snap.data() + at, &v, sizeof(v));
  reseal(snap);
}
template <class T>
T peek(const std::string& snap, std::size_t at) {
  T v;
  std::memcpy(&v, snap.data() + at, sizeof(v));
  return v;
}
bool restores(const std::string& snap) {
  try {
    (void)Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}
std::string restore_error(const std::string& snap) {
  try {
    (void)Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(LedgerExpiry, HoldsExpireByTimeThenTimestampFromFourByteEntries) {
  Ledger l{small()};
  timed_holds(l);
  // Timestamps are 1000 + k for the k-th event (accounts took 1..2).
  std::vector<std::uint64_t> expired;
  for (std::uint64_t now = 1000; now < 3000; now += 10) {
    l.expire_pending_transfers(now);
    for (std::uint64_t id = 1; id <= 8; ++id) {
      const std::optional<Transfer> t = l.lookup_transfer(id);
      if (t->reserved == static_cast<std::uint32_t>(PendingStatus::kExpired) &&
          std::find(expired.begin(), expired.end(), id) == expired.end()) {
        expired.push_back(id);
      }
    }
  }
  // id 3 was posted; the rest by timestamp + timeout, ties by timestamp.
  const std::vector<std::uint64_t> want = {8, 2, 4, 6, 7, 1, 5};
  EXPECT_EQ(expired, want);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
  // memory: 4 bytes of heap per transfer of capacity, not 16; the query
  // indexes: 16 + 8 bytes of links per transfer, 2 x 4 bytes of user-data
  // chain heads per transfer of capacity (a power of two), 4 per account.
  EXPECT_EQ(l.memory_bytes(), 64 * (64 + 40) + 256 * (sizeof(Transfer) + 4) + 256 * 48 + 256 * 8 + 512 * 8 +
                                  256 * (16 + 8) + 256 * 2 * 4 + 64 * 4);
}

TEST(LedgerSnapshot, RoundTripsAndRejectsABadHeap) {
  Ledger l{small()};
  timed_holds(l);
  const std::string snap = l.snapshot();
  Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
  EXPECT_EQ(c.snapshot(), snap);
  EXPECT_EQ(c.state_hash(), l.state_hash());
  EXPECT_EQ(c.create_transfer(post(100, 3), 2000), TR::kExists);
  const std::size_t off = expiry_offset(l);
  ASSERT_EQ(peek<std::uint64_t>(snap, off - 8), 8u);  // 8 holds, one of them (3) posted: a stale entry
  // A heap whose order is broken, that names a non-hold, or whose
  // back-pointers disagree is refused.
  std::string swapped = snap;
  const auto first = peek<std::uint32_t>(snap, off), last = peek<std::uint32_t>(snap, off + 4 * 7);
  poke(swapped, off, last);
  poke(swapped, off + 4 * 7, first);
  EXPECT_FALSE(restores(swapped));
  std::string post_entry = snap;
  poke(post_entry, off + 4 * 7, std::uint32_t{8});  // the post is not a hold
  EXPECT_FALSE(restores(post_entry));
  std::string pointer = snap;
  poke(pointer, transfers_offset(l) + offsetof(Transfer, pending_id), std::uint64_t{3});  // hold 1's back-pointer
  EXPECT_FALSE(restores(pointer));
  // Versions other than this build's are refused with a clear error.
  std::string old = snap;
  poke(old, 8, std::uint32_t{4});
  EXPECT_NE(restore_error(old).find("version 4 is not supported"), std::string::npos) << restore_error(old);
}

// A well-formed snapshot (valid checksum) of a state no request stream could
// reach is refused: money that appears or vanishes, pending balances that
// disagree with the live holds (a release would wrap), a live timed hold the
// heap does not know (it would never expire), history out of time order.
TEST(LedgerSnapshot, RestoreChecksConservationAndEveryInvariant) {
  Ledger l{LedgerCapacity{8, 64, 64}};
  std::vector<Account> accounts = {acct(1, 1, af::kHistory), acct(2), acct(3, 2), acct(4, 2)};
  std::vector<std::uint32_t> r(4);
  l.create_accounts(accounts.data(), 4, 1, r.data());
  ASSERT_EQ(l.create_transfer(xfer(10, 1, 2, 50), 10), TR::kOk);
  Transfer hold = xfer(11, 2, 1, 20, tf::kPending);
  hold.timeout_ns = 1'000;
  ASSERT_EQ(l.create_transfer(hold, 20), TR::kOk);
  ASSERT_EQ(l.create_transfer(xfer(12, 3, 4, 7, 0, 2), 30), TR::kOk);
  const std::string snap = l.snapshot();
  ASSERT_TRUE(restores(snap));
  auto account_field = [&](std::size_t i, std::size_t field) { return account_offset(i) + field; };

  // One more credit than debits on ledger 1: money from nowhere.
  std::string more = snap;
  poke(more, account_field(1, offsetof(Account, credits_posted)),
       peek<std::uint64_t>(snap, account_field(1, offsetof(Account, credits_posted))) + 1);
  EXPECT_NE(restore_error(more).find("ledger 1: debits posted differ from credits posted"), std::string::npos)
      << restore_error(more);
  // Equal on each side but moved to another ledger's account: still refused.
  std::string moved = snap;
  poke(moved, account_field(1, offsetof(Account, credits_posted)), std::uint64_t{51});
  poke(moved, account_field(3, offsetof(Account, credits_posted)), std::uint64_t{6});
  EXPECT_FALSE(restores(moved));
  // Pending balances that no hold backs, though they balance each other.
  std::string pending = snap;
  poke(pending, account_field(0, offsetof(Account, credits_pending)), std::uint64_t{21});
  poke(pending, account_field(1, offsetof(Account, debits_pending)), std::uint64_t{21});
  EXPECT_NE(restore_error(pending).find("pending balances differ from its live holds"), std::string::npos)
      << restore_error(pending);
  // Posted totals that balance but overflow an account's debits.
  std::string overflow = snap;
  poke(overflow, account_field(0, offsetof(Account, debits_posted)), ~std::uint64_t{0});
  poke(overflow, account_field(1, offsetof(Account, credits_posted)), ~std::uint64_t{0});
  poke(overflow, account_field(0, offsetof(Account, debits_pending)), std::uint64_t{1});
  EXPECT_FALSE(restores(overflow));
  // A live timed hold out of the heap (its back-pointer cleared, the heap emptied).
  std::string unheaped = snap;
  const std::size_t hold_at = transfers_offset(l) + 1 * sizeof(Transfer);
  poke(unheaped, hold_at + offsetof(Transfer, pending_id), std::uint64_t{0});
  EXPECT_FALSE(restores(unheaped));
  // A transfer stamped after the clock, an account with both balance flags.
  std::string future = snap;
  poke(future, hold_at + offsetof(Transfer, timestamp), std::uint64_t{1} << 40);
  EXPECT_FALSE(restores(future));
  std::string flags = snap;
  poke(flags, account_field(1, offsetof(Account, flags)),
       static_cast<std::uint16_t>(af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits));
  EXPECT_FALSE(restores(flags));
  // History entries out of time order.
  std::string history = snap;
  const std::size_t h0 = history_offset(l);
  ASSERT_EQ(peek<std::uint64_t>(snap, h0 - 8), 2u);
  poke(history, h0, std::uint64_t{1} << 41);  // the first entry's timestamp
  EXPECT_FALSE(restores(history));
}

// Restore must refuse, or accept and then run safely, any well-formed
// snapshot (valid checksum) with one corrupted byte: here a windowed ledger
// with a wrapped ring, holds in the heap, posts and an undrained archive.
TEST(LedgerSnapshot, CorruptedButResealedSnapshotsNeverCrash) {
  Ledger l{LedgerCapacity{8, 40, 1024, 10 * kMs, 16}};
  std::vector<Account> accounts = {acct(1, 1, af::kHistory), acct(2)};
  std::vector<std::uint32_t> r(2);
  l.create_accounts(accounts.data(), 2, 0, r.data());
  std::uint64_t seq = 0, last_hold = 0;
  for (std::uint64_t ms = 1000; ms < 1060; ++ms) {
    Transfer t = xfer(tid(ms, ++seq), 1 + ms % 2, 2 - ms % 2, 1 + ms % 3, ms % 4 == 0 ? tf::kPending : 0);
    if (ms % 8 == 0) t.timeout_ns = 30 * kMs;
    ASSERT_EQ(l.create_transfer(t, ms * kMs), TR::kOk);
    if (ms % 4 == 0) last_hold = t.id;
    if (ms % 4 == 2) {
      ASSERT_EQ(l.create_transfer(post(tid(ms, ++seq), last_hold), ms * kMs), TR::kOk);
    }
    if (ms % 5 == 0) {
      std::vector<Transfer> out(8);
      l.drain_evicted(out.data(), out.size());
    }
  }
  ASSERT_GT(l.archived_count(), 0u);
  const std::string snap = l.snapshot();
  std::mt19937_64 rng(5);
  std::size_t accepted = 0;
  for (int k = 0; k < 3000; ++k) {
    std::string bad = snap;
    const std::size_t pos = 8 + rng() % (bad.size() - 16);  // keep magic and checksum
    bad[pos] = static_cast<char>(bad[pos] ^ static_cast<char>(1U << (rng() % 8)));
    reseal(bad);
    try {
      Ledger c = Ledger::restore(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size());
      ++accepted;
      // Whatever was accepted must run: transfers, posts, expiries, eviction.
      Transfer t = xfer(tid(1100, 1), 1, 2, 1);
      c.create_transfer(t, 1100 * kMs);
      c.create_transfer(post(tid(1100, 2), last_hold), 1100 * kMs);
      c.expire_pending_transfers(2000 * kMs);
      c.evict();
      std::vector<Transfer> out(32);
      c.drain_evicted(out.data(), out.size());
      (void)c.state_hash();
      (void)c.snapshot();
    } catch (const std::invalid_argument&) {
    } catch (const CapacityError&) {  // a corrupted count may leave no room: refused, not a crash
    } catch (const std::bad_alloc&) {  // a corrupted capacity may ask for more memory than there is
    }
  }
  // Many bytes are plain data (amounts, user data): those restore.
  EXPECT_GT(accepted, 100u);
}

}  // namespace
}  // namespace shanraq::ledger
