// TigerBeetle 0.17's queries in the core: the indexed answers (no window)
// against the store-reading answers of a ledger with a window too wide to
// evict anything, fed the same requests (random transfers, holds, posts,
// voids, chains that roll back, remembered failures); restore rebuilds the
// indexes. The Python tests compare both with the reference model.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "shanraq/ledger/ledger.hpp"

namespace shanraq::ledger {
namespace {

namespace ff = account_filter_flags;
namespace tf = transfer_flags;
using TR = CreateTransferResult;

constexpr std::uint64_t kMs = 1'000'000;

Ledger make_ledger(std::uint64_t window) {
  LedgerCapacity cap;
  cap.accounts = 16;
  cap.transfers = 4096;
  cap.history = 1 << 14;
  cap.idempotency_window_ns = window;
  Ledger l(cap);
  std::vector<Account> accounts(6);
  for (std::uint64_t i = 0; i < accounts.size(); ++i) {
    accounts[i] = Account{};
    accounts[i].id = i + 1;
    accounts[i].ledger = 1;
    accounts[i].code = 1;
    accounts[i].flags = i % 2 == 0 ? account_flags::kHistory : 0;
  }
  std::vector<std::uint32_t> results(accounts.size());
  l.create_accounts(accounts.data(), accounts.size(), 1000 * kMs, results.data());
  for (std::uint32_t r : results) EXPECT_EQ(r, kCreatedStatus);
  return l;
}

// Requests of up to 8 transfers at increasing times; ids carry their time
// (for the windowed ledger), within a window of a day nothing is evicted.
void feed(Ledger& a, Ledger& b, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> holds;
  std::uint64_t ms = 2000;
  std::uint64_t seq = 0;
  for (int request = 0; request < 300; ++request) {
    ms += rng() % 3;
    std::vector<Transfer> batch(1 + rng() % 8);
    for (Transfer& t : batch) {
      t = Transfer{};
      t.id = ((ms) << kIdTimeShift) | ++seq;
      const std::uint64_t dr = 1 + rng() % 6;
      std::uint64_t cr = 1 + rng() % 6;
      if (cr == dr) cr = dr % 6 + 1;
      t.debit_account_id = rng() % 40 == 0 ? 99 : dr;  // a remembered failure now and then
      t.credit_account_id = cr;
      t.amount = rng() % 10;
      t.ledger = 1;
      t.code = static_cast<std::uint16_t>(1 + rng() % 2);
      t.user_data_128[0] = rng() % 3;
      t.user_data_128[1] = rng() % 5 == 0 ? 1 : 0;
      t.user_data_64 = rng() % 3;
      t.user_data_32 = static_cast<std::uint32_t>(rng() % 3);
      switch (rng() % 6) {
        case 0:
          t.flags = tf::kPending;
          t.timeout_ns = rng() % 2 == 0 ? 0 : 3 * kMs;
          holds.push_back(t.id);
          break;
        case 1:
          if (!holds.empty()) {
            t.flags = rng() % 2 == 0 ? tf::kPostPendingTransfer : tf::kVoidPendingTransfer;
            t.pending_id = holds[rng() % holds.size()];
            t.debit_account_id = t.credit_account_id = 0;
            t.ledger = t.code = 0;
            t.amount = t.flags == tf::kPostPendingTransfer ? kAmountMax : 0;
          }
          break;
        case 2:
          t.flags = tf::kLinked;  // chains, some of which fail and roll back
          break;
        default:
          break;
      }
    }
    std::vector<std::uint32_t> ra(batch.size()), rb(batch.size());
    a.create_transfers(batch.data(), batch.size(), ms * kMs, ra.data());
    b.create_transfers(batch.data(), batch.size(), ms * kMs, rb.data());
    ASSERT_EQ(ra, rb);
  }
}

template <class R>
bool same(const std::vector<R>& x, const std::vector<R>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(R)) == 0;
}

std::vector<Transfer> account_transfers(const Ledger& l, const AccountFilter& f) {
  std::vector<Transfer> out(query_room(f.limit));
  out.resize(l.get_account_transfers(f, out.data()));
  return out;
}
std::vector<AccountBalance> account_balances(const Ledger& l, const AccountFilter& f) {
  std::vector<AccountBalance> out(query_room(f.limit));
  out.resize(l.get_account_balances(f, out.data()));
  return out;
}
std::vector<Transfer> transfers(const Ledger& l, const QueryFilter& f) {
  std::vector<Transfer> out(query_room(f.limit));
  out.resize(l.query_transfers(f, out.data()));
  return out;
}

TEST(LedgerQuery, IndexedAnswersEqualTheStoreReadingOnes) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    Ledger indexed = make_ledger(0);
    Ledger scanned = make_ledger(86'400'000 * kMs);
    feed(indexed, scanned, seed);
    ASSERT_EQ(indexed.transfer_count(), scanned.transfer_count());
    const std::string snap = indexed.snapshot();
    const Ledger restored = Ledger::restore(reinterpret_cast<const std::uint8_t*>(snap.data()), snap.size());
    std::mt19937_64 rng(seed * 77);
    std::size_t nonempty = 0;
    for (int q = 0; q < 400; ++q) {
      AccountFilter f{};
      f.account_id = 1 + rng() % 7;
      f.flags = static_cast<std::uint32_t>(1 + rng() % 7);
      f.limit = rng() % 3 == 0 ? kQueryLimitMax : static_cast<std::uint32_t>(1 + rng() % 20);
      if (rng() % 3 == 0) f.user_data_64 = rng() % 3;
      if (rng() % 3 == 0) f.code = static_cast<std::uint16_t>(rng() % 3);
      if (rng() % 3 == 0) f.timestamp_min = (2000 + rng() % 600) * kMs;
      if (rng() % 3 == 0) f.timestamp_max = (2000 + rng() % 600) * kMs;
      const std::vector<Transfer> want = account_transfers(scanned, f);
      nonempty += !want.empty();
      EXPECT_TRUE(same(account_transfers(indexed, f), want)) << "seed " << seed << " query " << q;
      EXPECT_TRUE(same(account_transfers(restored, f), want)) << "seed " << seed << " query " << q;
      EXPECT_TRUE(same(account_balances(indexed, f), account_balances(scanned, f)));

      QueryFilter g{};
      g.flags = static_cast<std::uint32_t>(rng() % 2);
      g.limit = f.limit;
      if (rng() % 2 == 0) g.user_data_128[0] = rng() % 3;
      if (rng() % 4 == 0) g.user_data_128[1] = 1;
      if (rng() % 2 == 0) g.user_data_64 = rng() % 3;
      if (rng() % 3 == 0) g.user_data_32 = static_cast<std::uint32_t>(rng() % 3);
      g.timestamp_min = f.timestamp_min;
      g.timestamp_max = f.timestamp_max >= f.timestamp_min ? f.timestamp_max : 0;
      const std::vector<Transfer> want_q = transfers(scanned, g);
      nonempty += !want_q.empty();
      EXPECT_TRUE(same(transfers(indexed, g), want_q)) << "seed " << seed << " query " << q;
      EXPECT_TRUE(same(transfers(restored, g), want_q)) << "seed " << seed << " query " << q;
    }
    EXPECT_GT(nonempty, 200u);  // the comparison is not between empty answers
  }
}

TEST(LedgerQuery, RefusedFiltersAnswerNothing) {
  Ledger l = make_ledger(0);
  Transfer t{};
  t.id = 1;
  t.debit_account_id = 1;
  t.credit_account_id = 2;
  t.amount = 1;
  t.ledger = 1;
  t.code = 1;
  ASSERT_EQ(l.create_transfer(t, 2000 * kMs), TR::kCreated);
  AccountFilter ok{};
  ok.account_id = 1;
  ok.limit = 10;
  ok.flags = ff::kDebits | ff::kCredits;
  Transfer out[1];
  ASSERT_EQ(l.get_account_transfers(ok, out), 1u);
  auto refused = [&](auto change) {
    AccountFilter f = ok;
    change(f);
    return l.get_account_transfers(f, out) == 0;
  };
  EXPECT_TRUE(refused([](AccountFilter& f) { f.account_id = 0; }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.account_id = kIdMax; }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.flags = ff::kReversed; }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.flags |= 8; }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.limit = 0; }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.reserved = 1; }));
  EXPECT_TRUE(refused([](AccountFilter& f) {
    f.timestamp_min = 5;
    f.timestamp_max = 4;
  }));
  EXPECT_TRUE(refused([](AccountFilter& f) { f.timestamp_max = kTimeMax + 1; }));
  QueryFilter q{};
  q.limit = 10;
  Transfer qout[1];
  ASSERT_EQ(l.query_transfers(q, qout), 1u);
  q.reserved[2] = 1;
  EXPECT_EQ(l.query_transfers(q, qout), 0u);
}

}  // namespace
}  // namespace shanraq::ledger
