// Instruction counts and simulated cache misses of the ledger's batch
// create_transfers on the workload (ledger_workload.hpp): figures
// that, unlike time, do not move with the machine's load. Only the noinline
// kernel below is measured:
//
//   valgrind --tool=callgrind --callgrind-out-file=callgrind.ledger
//       --toggle-collect='icount_*' build/release/cpp/bench/icount_ledger
//   callgrind_annotate --inclusive=yes callgrind.ledger | grep icount_
//   valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=cachegrind.ledger
//       build/release/cpp/bench/icount_ledger
//   cg_annotate cachegrind.ledger | head -30
// (each command one line); divide by the transfer count printed below.
// Cachegrind counts the whole program, so the driver prints the setup's share
// separately with --setup-only. Run natively, it just executes the kernel.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ledger_workload.hpp"
#include "shanraq/common/platform.hpp"

namespace {
constexpr std::size_t kTransfers = 400'000;
}

extern "C" SHANRAQ_NOINLINE std::uint32_t icount_create_transfers(shanraq::ledger::Ledger& l,
                                                                  const shanraq::ledger::Transfer* t, std::size_t n,
                                                                  std::uint32_t* results) {
  std::uint32_t failed = 0;
  for (std::size_t i = 0; i < n; i += shanraq::ledger::bench::kBatch) {
    const std::size_t m = std::min(shanraq::ledger::bench::kBatch, n - i);
    l.create_transfers(t + i, m, 0, results);
    for (std::size_t j = 0; j < m; ++j) failed += results[j] != shanraq::ledger::kCreatedStatus;
  }
  return failed;
}

int main(int argc, char** argv) {
  using namespace shanraq::ledger;
  const bool setup_only = argc > 1 && std::strcmp(argv[1], "--setup-only") == 0;
  const std::vector<Transfer> transfers = bench::make_transfers(kTransfers);
  auto l = bench::make_ledger(static_cast<std::uint32_t>(kTransfers));
  std::vector<std::uint32_t> results(bench::kBatch);
  std::uint32_t failed = 0;
  if (!setup_only) failed = icount_create_transfers(*l, transfers.data(), kTransfers, results.data());
  std::printf("icount_create_transfers: %zu transfers on %u accounts, %u failed%s\n", kTransfers, bench::kAccounts,
              failed, setup_only ? " (setup only: kernel skipped)" : "");
  return failed == 0 ? 0 : 1;
}
