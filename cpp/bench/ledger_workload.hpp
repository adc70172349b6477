// The ledger workload, shared by bench_ledger (Google Benchmark) and
// icount_ledger (Callgrind/Cachegrind), so both measure the same inputs; the
// same shape as bench/ledger_data.py: 1M accounts on one ledger, uniformly
// random distinct pairs, ~9.1% of payments holds posted kPostLag events later
// (holds plus posts are ~10% of payments' events); every transfer succeeds.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "shanraq/ledger/ledger.hpp"
#include "shanraq/ledger/machine.hpp"

namespace shanraq::ledger::bench {

inline constexpr std::uint32_t kAccounts = 1'000'000;
inline constexpr std::size_t kBatch = 8190;  // TigerBeetle's batch size
inline constexpr std::size_t kPostLag = 2000;

inline std::unique_ptr<Ledger> make_ledger(std::uint32_t transfer_capacity, std::uint64_t window_ns = 0) {
  auto l = std::make_unique<Ledger>(LedgerCapacity{kAccounts, transfer_capacity, 1, window_ns});
  std::vector<Account> accounts(kAccounts);
  for (std::uint32_t i = 0; i < kAccounts; ++i) {
    accounts[i] = Account{};
    accounts[i].id = i + 1;
    accounts[i].ledger = 1;
    accounts[i].code = 1;
  }
  std::vector<std::uint32_t> r(kAccounts);
  l->create_accounts(accounts.data(), kAccounts, 0, r.data());
  return l;
}

inline std::unique_ptr<LedgerMachine> make_machine(std::uint32_t transfer_capacity) {
  auto m = std::make_unique<LedgerMachine>(LedgerCapacity{kAccounts, transfer_capacity, 1});
  std::vector<Account> accounts(kAccounts);
  for (std::uint32_t i = 0; i < kAccounts; ++i) {
    accounts[i] = Account{};
    accounts[i].id = i + 1;
    accounts[i].ledger = 1;
    accounts[i].code = 1;
  }
  std::vector<std::uint32_t> r(kAccounts);
  m->create_accounts(accounts.data(), kAccounts, 0, r.data());
  return m;
}

// Ids 1..n in order.
inline std::vector<Transfer> make_transfers(std::size_t n, std::uint64_t seed = 20240602) {
  std::mt19937_64 rng(seed);
  std::vector<Transfer> out(n);
  std::vector<bool> is_post(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    Transfer& t = out[i];
    const std::uint64_t pending_id = t.pending_id;  // set when the hold was made
    t = Transfer{};
    t.id = i + 1;
    t.pending_id = pending_id;
    if (is_post[i]) {
      t.flags = transfer_flags::kPostPendingTransfer;
      t.amount = kAmountMax;  // the whole hold (TigerBeetle >= 0.16: 0 posts 0)
      continue;
    }
    const std::uint64_t dr = 1 + rng() % kAccounts;
    std::uint64_t cr = 1 + rng() % (kAccounts - 1);
    if (cr >= dr) ++cr;
    t.debit_account_id = dr;
    t.credit_account_id = cr;
    t.amount = 1 + rng() % 10'000;
    t.ledger = 1;
    t.code = 1;
    if (i + kPostLag < n && !is_post[i + kPostLag] && rng() % 11 == 0) {
      t.flags = transfer_flags::kPending;
      is_post[i + kPostLag] = true;
      out[i + kPostLag].pending_id = t.id;
    }
  }
  return out;
}

// The same transfers with time-ordered ids for an idempotency window:
// transfer k is created in millisecond kFirstMs + k / per_ms (its id's time),
// and a post names its hold's new id. Returns each transfer's ms.
inline constexpr std::uint64_t kFirstMs = 1'000'000;
inline std::vector<std::uint64_t> time_order(std::vector<Transfer>& transfers, std::uint64_t per_ms) {
  std::vector<std::uint64_t> ms(transfers.size());
  auto new_id = [per_ms](std::uint64_t k) { return ((kFirstMs + k / per_ms) << kIdTimeShift) | (k % per_ms); };
  for (std::size_t k = 0; k < transfers.size(); ++k) {
    ms[k] = kFirstMs + k / per_ms;
    transfers[k].id = new_id(k);
    if (transfers[k].pending_id != 0) transfers[k].pending_id = new_id(transfers[k].pending_id - 1);
  }
  return ms;
}

}  // namespace shanraq::ledger::bench
