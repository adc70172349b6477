// Journal benchmarks (shanraq/journal), on this machine's disk (the directory
// is $TMPDIR, /tmp by default: the same ext4 volume as the build here).
//
//   cmake --preset release && cmake --build build/release -j2 --target bench_journal
//   build/release/cpp/bench/bench_journal
//
// Commands are the test machine's 64-byte WideCommand (88 bytes a record on
// disk), every one of the same deterministic stream the tests use.
//
// * Durable_Throughput/<policy>/<batch>: one thread appends batches of
//   <batch> stamped commands as fast as the staging ring takes them; the
//   writer thread groups whatever is staged into one write and one
//   fdatasync (every_batch) or none. Time runs until the last command is
//   durable. items_per_second: durable commands/s; records_per_sync: mean
//   group size.
// * Runner_Durable/<batch>: the real seam: producer -> SpscRing -> Runner
//   (stamp, journal append, apply, await_durable, publish) -> SpscRing ->
//   consumer, every_batch, RunnerConfig.batch = <batch>.
// * Runner_Latency/<rate>: the same pipeline open loop at <rate> commands/s
//   offered (command i due at t0 + i/rate, pushed when due): latency = when
//   its event was popped (only after its command was durable) - when it was
//   due; p50/p99/p99.9, and the batch sizes (records per fdatasync).
//   Second argument 0: after the background preparation of the next
//   segment (64 MiB of zeros) has finished; 1: while it runs.
// * Replay/<commands>: Journal::open of a closed journal of <commands>
//   commands (page cache warm): every record's CRC32C, the SHA-256 chain,
//   the apply. items_per_second: replayed commands/s. Also verify().
// * Snapshot_Load/<MiB>: writing (fsync, rename, directory fsync) and
//   recovering from a snapshot of a <MiB> MiB state.
// * Rto/<commands>/<snapshot interval>: recovery time of a journal of
//   <commands> commands with a snapshot every <interval> (0: none).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "../tests/journal/journal_test_util.hpp"
#include "pinning.hpp"
#include "shanraq/common/clock.hpp"
#include "shanraq/journal/reader.hpp"
#include "shanraq/queue/ring.hpp"

using namespace shanraq;
using namespace shanraq::journal;
using namespace shanraq::journal::testing;
using shanraq::test_machines::Wide;
using shanraq::test_machines::WideCommand;

namespace {

const char* kPolicies[] = {"every_batch", "interval_ms=10", "none"};

JournalOptions bench_options(const char* policy) {
  JournalOptions o;
  o.durability = DurabilityPolicy::parse(policy);
  o.segment_bytes = std::uint64_t{256} << 20;
  o.max_write_bytes = 4u << 20;
  o.buffer_bytes = std::uint64_t{64} << 20;
  return o;
}

// A pregenerated stream: stamping costs nothing inside the timed region.
const std::vector<WideCommand>& stream(std::size_t n) {
  static std::vector<WideCommand> s;
  if (s.size() < n) s = stamped<WideCommand>(1, 1, n);
  return s;
}

double records_per_sync(const JournalStats& s) {
  return s.syncs == 0 ? 0.0 : static_cast<double>(s.records) / static_cast<double>(s.syncs);
}

void BM_Durable_Throughput(benchmark::State& state) {
  const char* policy = kPolicies[state.range(0)];
  const auto batch = static_cast<std::size_t>(state.range(1));
  const std::size_t n = 4'000'000;
  const auto& cmds = stream(n);
  JournalStats last{};
  for (auto _ : state) {
    TempDir t;
    Wide m;
    MachineRef<Wide> ref(m);
    auto j = Journal::open(t.sub("j"), bench_options(policy), ref);
    const std::int64_t t0 = monotonic_ns();
    for (std::size_t i = 0; i < n; i += batch) j->append(cmds.data() + i, std::min(batch, n - i));
    j->wait_durable(n);
    const std::int64_t t1 = monotonic_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    last = j->stats();
    j->close();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(WideCommand)));
  state.counters["records_per_sync"] = records_per_sync(last);
  state.counters["syncs"] = static_cast<double>(last.syncs);
  state.SetLabel(policy);
}
BENCHMARK(BM_Durable_Throughput)
    ->ArgsProduct({{0, 1, 2}, {64, 1024}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

struct Pipeline {
  TempDir t;
  Wide m;
  MachineRef<Wide> ref{m};
  std::unique_ptr<Journal> j;
  queue::SpscRing commands{sizeof(WideCommand), 1 << 16};
  queue::SpscRing events{sizeof(Wide::Event), 1 << 16};
  std::unique_ptr<JournalSink<Wide>> sink;
  std::unique_ptr<runner::Runner<Wide>> r;
  explicit Pipeline(std::size_t batch, const char* policy = "every_batch", std::uint64_t segment_bytes = 0) {
    JournalOptions o = bench_options(policy);
    if (segment_bytes != 0) o.segment_bytes = segment_bytes;
    j = Journal::open(t.sub("j"), o, ref);
    sink = std::make_unique<JournalSink<Wide>>(*j, m);
    runner::RunnerConfig cfg;
    cfg.batch = batch;
    cfg.events_reserve = batch;
    r = std::make_unique<runner::Runner<Wide>>(m, commands, events, cfg, sink.get());
  }
};

void BM_Runner_Durable(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const std::size_t n = 2'000'000;
  const auto& cmds = stream(n);
  JournalStats last{};
  for (auto _ : state) {
    Pipeline p(batch);
    p.r->start();
    const std::int64_t t0 = monotonic_ns();
    std::thread producer([&] {
      for (std::size_t i = 0; i < n; i += 4096)
        p.commands.push_many(cmds.data() + i, std::min<std::size_t>(4096, n - i));
    });
    std::vector<Wide::Event> ev(1 << 14);
    std::size_t got = 0;
    while (got < n) got += p.events.pop_many(ev.data(), ev.size());
    const std::int64_t t1 = monotonic_ns();
    producer.join();
    p.commands.close();
    p.r->join();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    last = p.j->stats();
    if (p.j->durable_seq() != n) state.SkipWithError("not everything durable");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["records_per_sync"] = records_per_sync(last);
}
BENCHMARK(BM_Runner_Durable)
    ->Arg(1024)
    ->Arg(16384)
    ->Arg(65536)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// The device's own floor, measured in the same process: one 4 KiB pwrite +
// fdatasync into a zero-filled file, as the journal does for a small group.
void BM_Fdatasync_Baseline(benchmark::State& state) {
  std::vector<std::int64_t> lat;
  for (auto _ : state) {
    TempDir t;
    auto f = posix_storage().open(t.sub("f"), OpenMode::kCreate);
    f->zero_fill(std::uint64_t{16} << 20);
    std::vector<char> buf(4096, 'x');
    lat.clear();
    const std::int64_t t0 = monotonic_ns();
    for (int i = 0; i < 2000; ++i) {
      const std::int64_t a = monotonic_ns();
      f->write(buf.data(), buf.size(), static_cast<std::uint64_t>(i) * 4096);
      f->datasync();
      lat.push_back(monotonic_ns() - a);
    }
    state.SetIterationTime(static_cast<double>(monotonic_ns() - t0) * 1e-9);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return static_cast<double>(lat[static_cast<std::size_t>(q * static_cast<double>(lat.size() - 1))]);
  };
  state.counters["p50_us"] = pct(0.50) / 1e3;
  state.counters["p90_us"] = pct(0.90) / 1e3;
  state.counters["p99_us"] = pct(0.99) / 1e3;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2000));
}
BENCHMARK(BM_Fdatasync_Baseline)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_Runner_Latency(benchmark::State& state) {
  const auto rate = static_cast<std::uint64_t>(state.range(0));
  const std::size_t n = static_cast<std::size_t>(rate * 3);  // three seconds
  std::vector<WideCommand> cmds = stamped<WideCommand>(1, 1, n);
  for (auto& c : cmds) c.seq = 0;  // the runner stamps
  std::vector<std::int64_t> lat;
  JournalStats last{};
  for (auto _ : state) {
    Pipeline p(4096, "every_batch", std::uint64_t{64} << 20);
    // The next segment is being zero-filled in the background right after
    // open: let that finish so the run measures steady state (the cost of a
    // preparation is measured separately, Runner_Latency_Roll).
    std::this_thread::sleep_for(std::chrono::milliseconds(state.range(1) != 0 ? 0 : 1500));
    p.r->start();
    std::vector<std::int64_t> due(n);
    const std::int64_t t0 = monotonic_ns() + 1'000'000;
    for (std::size_t i = 0; i < n; ++i) due[i] = t0 + static_cast<std::int64_t>(i * 1'000'000'000ULL / rate);
    std::vector<Wide::Event> ev(4096);
    lat.clear();
    lat.reserve(n);
    // One thread pushes each command when it is due and, in between, drains
    // events without waiting (the runner and the journal writer block in
    // fdatasync, so the two CPUs are not oversubscribed).
    std::size_t sent = 0, got = 0;
    while (got < n) {
      const std::int64_t now = monotonic_ns();
      while (sent < n && due[sent] <= now && p.commands.try_push(&cmds[sent])) ++sent;
      const std::size_t k = p.events.try_pop_many(ev.data(), ev.size());
      if (k != 0) {
        const std::int64_t at = monotonic_ns();
        for (std::size_t i = 0; i < k; ++i) lat.push_back(at - due[ev[i].seq - 1]);
        got += k;
      }
    }
    p.commands.close();
    p.r->join();
    last = p.j->stats();
    state.SetIterationTime(static_cast<double>(monotonic_ns() - t0) * 1e-9);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return static_cast<double>(lat[static_cast<std::size_t>(q * static_cast<double>(lat.size() - 1))]);
  };
  state.counters["p50_us"] = pct(0.50) / 1e3;
  state.counters["p90_us"] = pct(0.90) / 1e3;
  state.counters["p99_us"] = pct(0.99) / 1e3;
  state.counters["p99_9_us"] = pct(0.999) / 1e3;
  state.counters["max_us"] = static_cast<double>(lat.back()) / 1e3;
  state.counters["records_per_sync"] = records_per_sync(last);
  state.counters["max_group"] = static_cast<double>(last.max_group_records);
  state.counters["syncs_per_s"] = static_cast<double>(last.syncs) / 3.0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Runner_Latency)
    ->Args({10'000, 0})
    ->Args({100'000, 0})
    ->Args({100'000, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// A closed journal of n commands (and snapshots every `every`), built once per shape.
std::string built(std::size_t n, std::size_t every, std::size_t slots = 1) {
  static TempDir root;
  const std::string dir =
      root.sub("j-" + std::to_string(n) + "-" + std::to_string(every) + "-" + std::to_string(slots));
  if (std::filesystem::exists(dir)) return dir;
  const auto& cmds = stream(n);
  Wide m(slots);
  MachineRef<Wide> ref(m);
  JournalOptions o = bench_options("none");
  o.keep_snapshots = 1000;
  auto j = Journal::open(dir, o, ref);
  std::vector<Wide::Event> ev;
  const std::size_t step = every == 0 ? 65536 : std::min<std::size_t>(every, 65536);
  for (std::size_t i = 0; i < n; i += step) {
    const std::size_t k = std::min(step, n - i);
    j->append(cmds.data() + i, k);
    ev.clear();
    m.process(cmds.data() + i, k, ev);
    if (every != 0 && (i + k) % every == 0) j->snapshot(ref);
  }
  j->close();
  return dir;
}

void BM_Replay(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::string dir = built(n, 0);
  for (auto _ : state) {
    Wide m;
    MachineRef<Wide> ref(m);
    // Recovery writes nothing but a new segment; a copy keeps the source closed and unchanged.
    const std::int64_t t0 = monotonic_ns();
    const VerifyReport r = verify(dir, ref);
    const std::int64_t t1 = monotonic_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (r.last_seq != n) state.SkipWithError("short replay");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * record_stride(sizeof(WideCommand))));
}
BENCHMARK(BM_Replay)->Arg(1'000'000)->Arg(10'000'000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Snapshot_Load(benchmark::State& state) {
  const auto mib = static_cast<std::size_t>(state.range(0));
  const std::size_t slots = mib << 17;  // 8 bytes a slot
  double write_ms = 0;
  for (auto _ : state) {
    TempDir t;
    Wide m(slots);
    {
      MachineRef<Wide> ref(m);
      auto j = Journal::open(t.sub("j"), bench_options("every_batch"), ref);
      auto c = stamped<WideCommand>(1, 1, 1000);
      j->append(c.data(), c.size());
      std::vector<Wide::Event> ev;
      m.process(c.data(), c.size(), ev);
      const std::int64_t w0 = monotonic_ns();
      j->snapshot(ref);
      write_ms = static_cast<double>(monotonic_ns() - w0) / 1e6;
      j->close();
    }
    Wide r(1);
    MachineRef<Wide> rr(r);
    const std::int64_t t0 = monotonic_ns();
    RecoveryReport rep;
    auto j = Journal::open(t.sub("j"), bench_options("every_batch"), rr, &rep);
    const std::int64_t t1 = monotonic_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (r.state_hash() != m.state_hash()) state.SkipWithError("state differs");
  }
  state.counters["write_ms"] = write_ms;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * mib << 20));
}
BENCHMARK(BM_Snapshot_Load)->Arg(16)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Rto(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto every = static_cast<std::size_t>(state.range(1));
  const std::string dir = built(n, every, 1 << 17);  // a 1 MiB state
  std::uint64_t replayed = 0;
  for (auto _ : state) {
    // Journal::open on a copy-free path: recovery only reads until the end,
    // then starts a segment; each iteration reopens the same directory.
    Wide m(1 << 17);
    MachineRef<Wide> ref(m);
    RecoveryReport rep;
    const std::int64_t t0 = monotonic_ns();
    auto j = Journal::open(dir, bench_options("every_batch"), ref, &rep);
    const std::int64_t t1 = monotonic_ns();
    j->close();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    replayed = rep.replayed;
  }
  state.counters["replayed"] = static_cast<double>(replayed);
}
BENCHMARK(BM_Rto)
    ->ArgsProduct({{1'000'000, 4'000'000}, {0, 1'000'000, 100'000}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
