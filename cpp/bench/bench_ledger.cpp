// Google Benchmark microbenchmarks of the ledger core: batch create_transfers
// on the workload (1M accounts, uniformly random pairs, ~10% of
// payments two-phase: a hold posted POST_LAG events later), lookups, and the
// per-call create_transfer path. Run from the release preset:
//   build/release/cpp/bench/bench_ledger --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "shanraq/ledger/ledger.hpp"

namespace shanraq::ledger {
namespace {

constexpr std::uint32_t kAccounts = 1'000'000;
constexpr std::size_t kBatch = 8190;  // TigerBeetle's batch size
constexpr std::size_t kPostLag = 2000;

std::unique_ptr<Ledger> make_ledger(std::uint32_t transfer_capacity) {
  auto l = std::make_unique<Ledger>(LedgerCapacity{kAccounts, transfer_capacity, 1});
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

// Same shape as bench/ledger_data.py: ids 1..n; ~9.1% holds, each posted
// kPostLag events later (so holds plus posts are ~10% of payments' events).
std::vector<Transfer> make_transfers(std::size_t n, std::uint64_t seed = 20240602) {
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

void BM_CreateTransfersBatch(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<Transfer> transfers = make_transfers(n);
  std::vector<std::uint32_t> results(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    auto l = make_ledger(static_cast<std::uint32_t>(n));
    // Touch the ledger's lazily-committed memory first, as a long-running
    // process has: we time the ledger, not the kernel's first-touch faults.
    l->prefault();
    state.ResumeTiming();
    for (std::size_t i = 0; i < n; i += kBatch) {
      const std::size_t m = std::min(kBatch, n - i);
      l->create_transfers(transfers.data() + i, m, 0, results.data());
    }
    benchmark::DoNotOptimize(results.data());
    state.PauseTiming();
    const bool all_created = l->transfer_count() == n;
    l.reset();
    state.ResumeTiming();
    if (!all_created) {
      state.SkipWithError("a transfer failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_CreateTransfersBatch)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CreateTransferPerCall(benchmark::State& state) {
  const std::size_t n = 1'000'000;
  const std::vector<Transfer> transfers = make_transfers(n);
  auto l = make_ledger(static_cast<std::uint32_t>(n));
  l->prefault();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == n) {
      state.PauseTiming();
      l = make_ledger(static_cast<std::uint32_t>(n));
      l->prefault();
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(l->create_transfer(transfers[i++], 0));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CreateTransferPerCall);

void BM_LookupAccount(benchmark::State& state) {
  auto l = make_ledger(16);
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> ids(1 << 16);
  for (auto& id : ids) id = 1 + rng() % kAccounts;
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(l->lookup_account(ids[i++ & 0xFFFF]));
}
BENCHMARK(BM_LookupAccount);

}  // namespace
}  // namespace shanraq::ledger

BENCHMARK_MAIN();
