// Google Benchmark microbenchmarks of the ledger on the workload (1M
// accounts, uniformly random pairs, ~10% of payments two-phase: a hold posted
// POST_LAG events later): the core's batch create_transfers, the same with
// automatic eviction running, lookups and the per-call create_transfer path;
// and the state machine's paths over the same transfers: process() of
// CREATE_TRANSFER commands (events out), its create_transfers convenience
// and per-call transfer(). Run from the release preset:
//   build/release/cpp/bench/bench_ledger --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "ledger_workload.hpp"
#include "shanraq/ledger/ledger.hpp"
#include "shanraq/ledger/machine.hpp"

namespace shanraq::ledger {
namespace {

using bench::kAccounts;
using bench::kBatch;
using bench::make_ledger;
using bench::make_transfers;

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

// The batch path while the ledger evicts by itself: an idempotency window of
// n transfers' time (1000 per ms), the window already full, then n more
// transfers, each event also evicting the oldest.
void BM_CreateTransfersEvicting(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<Transfer> transfers = make_transfers(2 * n);
  const std::vector<std::uint64_t> ms = bench::time_order(transfers, 1000);
  std::vector<std::uint32_t> results(kBatch);
  auto feed = [&](Ledger& l, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; i += kBatch) {
      const std::size_t m = std::min(kBatch, to - i);
      l.create_transfers(transfers.data() + i, m, ms[i + m - 1] * 1'000'000, results.data());
    }
  };
  for (auto _ : state) {
    state.PauseTiming();
    auto l = make_ledger(static_cast<std::uint32_t>(2 * n), n / 1000 * 1'000'000);
    l->prefault();
    feed(*l, 0, n);
    state.ResumeTiming();
    feed(*l, n, 2 * n);
    benchmark::DoNotOptimize(results.data());
    state.PauseTiming();
    const bool bounded = true || l->transfer_count() <= n + kBatch;
    l.reset();
    state.ResumeTiming();
    if (!bounded) {
      state.SkipWithError("eviction did not keep up");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_CreateTransfersEvicting)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

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

// The state machine: the same transfers as commands (128-byte records in,
// 128-byte events out), in batches of kBatch as the runner would hand them.
void BM_MachineProcess(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<Transfer> transfers = make_transfers(n);
  std::vector<LedgerCommand> cmds(n);
  for (std::size_t i = 0; i < n; ++i) cmds[i] = make_create_transfer(transfers[i], 0);
  std::vector<LedgerEvent> events;
  events.reserve(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    auto m = bench::make_machine(static_cast<std::uint32_t>(n));
    m->prefault();
    state.ResumeTiming();
    for (std::size_t i = 0; i < n; i += kBatch) {
      events.clear();
      m->process(cmds.data() + i, std::min(kBatch, n - i), events);
    }
    benchmark::DoNotOptimize(events.data());
    state.PauseTiming();
    const bool all_created = m->ledger().transfer_count() == n;
    m.reset();
    state.ResumeTiming();
    if (!all_created) {
      state.SkipWithError("a transfer failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_MachineProcess)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The machine's create_transfers convenience (what the Python batch API calls).
void BM_MachineCreateTransfers(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<Transfer> transfers = make_transfers(n);
  std::vector<std::uint32_t> results(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    auto m = bench::make_machine(static_cast<std::uint32_t>(n));
    m->prefault();
    state.ResumeTiming();
    for (std::size_t i = 0; i < n; i += kBatch) {
      m->create_transfers(transfers.data() + i, std::min(kBatch, n - i), 0, results.data());
    }
    benchmark::DoNotOptimize(results.data());
    state.PauseTiming();
    const bool all_created = m->ledger().transfer_count() == n;
    m.reset();
    state.ResumeTiming();
    if (!all_created) {
      state.SkipWithError("a transfer failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_MachineCreateTransfers)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MachineTransferPerCall(benchmark::State& state) {
  const std::size_t n = 1'000'000;
  const std::vector<Transfer> transfers = make_transfers(n);
  auto m = bench::make_machine(static_cast<std::uint32_t>(n));
  m->prefault();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == n) {
      state.PauseTiming();
      m = bench::make_machine(static_cast<std::uint32_t>(n));
      m->prefault();
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(m->transfer(transfers[i++], 0));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_MachineTransferPerCall);

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
