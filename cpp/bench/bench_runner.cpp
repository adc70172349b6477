// Engine runner benchmarks (shanraq/runner): what handing the matching engine
// its own thread between two rings costs, against applying the same commands
// directly on one thread, measured in the same process.
//
//   cmake --preset release && cmake --build build/release -j2 --target bench_runner
//   build/release/cpp/bench/bench_runner --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Workload: exchange-core's (as cpp/bench/bench_book.cpp): one symbol,
// ~1,000 resting orders over ~750 price levels, 1,000 accounts; commands 9%
// GTC limit (a fifth marketable), 3% IOC, 6% cancel, 82% move; fixed seed.
// Command i of the run carries time_ns = kTimeBase + i, so every event names
// the command that produced it (the engine clock takes the command's time)
// and the latency benchmarks find each command's first event without a map.
//
// Benchmarks:
// * Direct_Process: the baseline: MatchingEngine::process over the whole
//   run on the benchmark thread.
// * Direct_Apply_Latency: the baseline latency: each apply() timed alone.
// * Runner_Throughput/<chunk>: a producer thread pushes the run into an
//   SpscRing of commands (chunk 1: push() per command; 64: push_many of 64),
//   the runner's thread applies them, the benchmark thread drains the event
//   ring with pop_many. Three threads; the runner pinned to one CPU, the
//   producer and the benchmark thread sharing the other on a 2-CPU machine.
//   commands/s (items_per_second), events/s, and CPU time per command summed
//   over all threads (cpu_ns_per_cmd: what the handoff costs in cores).
// * Runner_OpenLoop/<rate>/<wait>/<threads>: open loop at a fixed offered
//   rate below saturation: command i is due at t0 + i/rate and pushed
//   (try_push) when due. Latency of a command = when its first event was
//   popped - when it was due (not when it was pushed, so a late push counts
//   against the runner: no coordinated omission). threads 2: the benchmark
//   thread pushes and, in between, drains events without waiting (one
//   thread per CPU, the runner on the other); threads 3: a producer thread
//   pushes, the benchmark thread waits for events, both on one CPU. wait:
//   both rings' wait strategy, i.e. how the idle runner (and, with 3
//   threads, the event consumer) waits: 0 spin, 2 blocking.
//
// Pinning: the runner's thread inherits the affinity of the thread that
// starts it, so the benchmark pins itself to the second allowed CPU, starts
// the runner, and moves back to the first. With fewer than two allowed CPUs
// nothing is pinned.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "book_workload.hpp"
#include "pinning.hpp"
#include "shanraq/book/engine.hpp"
#include "shanraq/common/clock.hpp"
#include "shanraq/hist/histogram.hpp"
#include "shanraq/queue/ring.hpp"
#include "shanraq/runner/runner.hpp"

using namespace shanraq::book;
using namespace shanraq::bench;
using shanraq::monotonic_ns;
using shanraq::bench::pin_self;
using shanraq::bench::unpin_self;
using shanraq::queue::SpscRing;
using shanraq::queue::WaitStrategy;
using EngineRunner = shanraq::runner::Runner<shanraq::book::MatchingEngine>;

namespace {

constexpr std::uint32_t kResting = 1000;
constexpr std::size_t kRun = 1'000'000;
constexpr std::int64_t kTimeBase = 1'000'000;
constexpr std::size_t kCommandCapacity = 4096;
constexpr std::size_t kEventCapacity = 16384;

MatchingEngine empty_engine() {
  MatchingEngine e(config_for(1, kResting));
  add_symbols(e, 1);
  return e;
}

// bench_book's exchange-core workload on one symbol, time-stamped.
const Workload& workload() {
  static const Workload w = make_workload(1, kResting, kRun, 0.0, kTimeBase);
  return w;
}

MatchingEngine filled_engine() {
  MatchingEngine e = empty_engine();
  std::vector<Event> out;
  e.process(workload().fill.data(), workload().fill.size(), out);
  return e;
}

std::int64_t cpu_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Starts the runner's thread on the second allowed CPU (it inherits our
// affinity at creation) and puts the calling thread on the first.
void start_pinned(EngineRunner& runner) {
  pin_self(1);
  runner.start();
  pin_self(0);
}

// Checks the runner's outcome against the direct run: a benchmark that lost
// or reordered commands must not report a figure.
bool same_as_direct(benchmark::State& state, const EngineRunner& runner, const MatchingEngine& e,
                    std::size_t commands) {
  const Workload& w = workload();
  if (runner.commands_processed() != commands) {
    state.SkipWithError("the runner did not apply every command");
    return false;
  }
  if (commands == w.run.size() && e.state_hash() != w.final_hash) {
    state.SkipWithError("the runner's engine differs from the directly driven one");
    return false;
  }
  return true;
}

// ---- baselines -------------------------------------------------------------------------
void BM_Direct_Process(benchmark::State& state) {
  const Workload& w = workload();
  std::vector<Event> out;
  out.reserve(w.run_events);
  for (auto _ : state) {
    MatchingEngine e = filled_engine();
    out.clear();
    const std::int64_t t0 = monotonic_ns();
    e.process(w.run.data(), w.run.size(), out);
    const std::int64_t t1 = monotonic_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (out.size() != w.run_events || e.state_hash() != w.final_hash) state.SkipWithError("not deterministic");
  }
  const auto n = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.run.size()));
  state.counters["events_per_s"] =
      benchmark::Counter(n * static_cast<double>(w.run_events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Direct_Process)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Direct_Apply_Latency(benchmark::State& state) {
  const Workload& w = workload();
  shanraq::hist::Histogram h(1, 10'000'000'000, 3);
  std::vector<Event> out;
  out.reserve(64);
  for (auto _ : state) {
    MatchingEngine e = filled_engine();
    for (const Command& c : w.run) {
      out.clear();
      const std::int64_t t0 = monotonic_ns();
      e.apply(c, out);
      h.record_or_reject(monotonic_ns() - t0);
    }
  }
  state.counters["p50_ns"] = static_cast<double>(h.value_at_percentile(50.0));
  state.counters["p99_ns"] = static_cast<double>(h.value_at_percentile(99.0));
  state.counters["p99_9_ns"] = static_cast<double>(h.value_at_percentile(99.9));
  state.counters["max_ns"] = static_cast<double>(h.max());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.run.size()));
}
BENCHMARK(BM_Direct_Apply_Latency)->Unit(benchmark::kMillisecond)->Iterations(1);

// ---- through the runner --------------------------------------------------------------
void BM_Runner_Throughput(benchmark::State& state) {
  const Workload& w = workload();
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::vector<Event> buf(kEventCapacity);
  std::int64_t cpu_total = 0;
  std::uint64_t batches = 0;
  for (auto _ : state) {
    MatchingEngine e = filled_engine();
    SpscRing commands(sizeof(Command), kCommandCapacity);
    SpscRing events(sizeof(Event), kEventCapacity);
    EngineRunner runner(e, commands, events);
    start_pinned(runner);
    const std::int64_t c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    const std::int64_t t0 = monotonic_ns();
    std::thread producer([&] {
      const Command* p = w.run.data();
      const std::size_t n = w.run.size();
      if (chunk == 1) {
        for (std::size_t i = 0; i < n; ++i) commands.push(p + i);
      } else {
        for (std::size_t i = 0; i < n; i += chunk) commands.push_many(p + i, std::min(chunk, n - i));
      }
    });
    std::size_t got = 0;
    while (got < w.run_events) {
      const std::size_t k = events.pop_many(buf.data(), buf.size(), std::chrono::seconds(10));
      if (k == 0) break;
      got += k;
    }
    const std::int64_t t1 = monotonic_ns();
    producer.join();
    cpu_total += cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    runner.stop();
    unpin_self();
    batches += runner.batches();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (got != w.run_events) {
      state.SkipWithError("events missing (10 s without one)");
      break;
    }
    if (!same_as_direct(state, runner, e, w.run.size())) break;
  }
  const auto cmds = static_cast<double>(state.iterations()) * static_cast<double>(w.run.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(cmds));
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(w.run_events), benchmark::Counter::kIsRate);
  state.counters["cpu_ns_per_cmd"] = static_cast<double>(cpu_total) / cmds;
  state.counters["cmds_per_batch"] = cmds / static_cast<double>(std::max<std::uint64_t>(batches, 1));
}
BENCHMARK(BM_Runner_Throughput)
    ->Arg(1)
    ->Arg(64)
    ->ArgName("chunk")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// Records, for each command whose first event is in buf[0, k), popped at
// `popped`, its latency from when it was due. Events come in command order
// and every command has at least one, so every command up to the newest one
// named in the batch has now been answered.
template <typename Due>
void answer(const std::vector<Event>& buf, std::size_t k, std::int64_t popped, std::size_t n, Due due,
            std::size_t& answered, shanraq::hist::Histogram& h) {
  const auto newest = static_cast<std::size_t>(buf[k - 1].time_ns - kTimeBase);
  for (; answered <= newest && answered < n; ++answered) h.record_or_reject(popped - due(answered));
}

void BM_Runner_OpenLoop(benchmark::State& state) {
  const Workload& w = workload();
  const auto rate = static_cast<std::int64_t>(state.range(0));  // commands per second
  const auto wait = static_cast<WaitStrategy>(state.range(1));
  const bool producer_thread = state.range(2) == 3;
  // One second of offered load (all of the run at 1 M/s).
  const std::size_t n = std::min<std::size_t>(w.run.size(), static_cast<std::size_t>(rate));
  shanraq::hist::Histogram h(1, 10'000'000'000, 3);
  std::vector<Event> buf(kEventCapacity);
  std::atomic<std::int64_t> full{0};
  std::int64_t elapsed = 0;
  for (auto _ : state) {
    MatchingEngine e = filled_engine();
    SpscRing commands(sizeof(Command), kCommandCapacity, wait);
    SpscRing events(sizeof(Event), kEventCapacity, wait);
    EngineRunner runner(e, commands, events);
    start_pinned(runner);
    const std::int64_t t0 = monotonic_ns() + 1'000'000;  // let the runner settle into its wait
    auto due = [&](std::size_t i) { return t0 + static_cast<std::int64_t>(i) * 1'000'000'000 / rate; };
    // Pushes every command that is due by now; false once the ring is full
    // (saturated: the command stays due and goes out late, and its latency
    // counts from when it was due).
    std::size_t pushed = 0;
    auto push_due = [&] {
      const std::int64_t now = monotonic_ns();
      while (pushed < n && due(pushed) <= now) {
        if (!commands.try_push(&w.run[pushed])) {
          full.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        ++pushed;
      }
    };
    std::size_t answered = 0;  // commands whose first event has been popped
    if (producer_thread) {
      // Three threads: a pacing producer (yielding while nothing is due, so
      // it shares its CPU with the benchmark thread), the runner, and the
      // benchmark thread waiting on the event ring with `wait`.
      std::thread producer([&] {
        while (pushed < n) {
          push_due();
          std::this_thread::yield();
        }
      });
      while (answered < n) {
        const std::size_t k = events.pop_many(buf.data(), buf.size(), std::chrono::seconds(10));
        if (k == 0) break;
        answer(buf, k, monotonic_ns(), n, due, answered, h);
      }
      producer.join();
    } else {
      // Two threads, one per CPU: the benchmark thread pushes what is due
      // and drains events in between, never waiting; the runner.
      while (answered < n) {
        push_due();
        const std::size_t k = events.try_pop_many(buf.data(), buf.size());
        if (k != 0) answer(buf, k, monotonic_ns(), n, due, answered, h);
      }
    }
    elapsed += monotonic_ns() - t0;
    runner.stop();
    unpin_self();
    if (answered != n) {
      state.SkipWithError("events missing (10 s without one)");
      break;
    }
    if (!same_as_direct(state, runner, e, n)) break;
  }
  state.counters["p50_ns"] = static_cast<double>(h.value_at_percentile(50.0));
  state.counters["p90_ns"] = static_cast<double>(h.value_at_percentile(90.0));
  state.counters["p99_ns"] = static_cast<double>(h.value_at_percentile(99.0));
  state.counters["p99_9_ns"] = static_cast<double>(h.value_at_percentile(99.9));
  state.counters["max_ns"] = static_cast<double>(h.max());
  state.counters["ring_full"] = static_cast<double>(full.load());
  state.counters["achieved_per_s"] =
      static_cast<double>(state.iterations()) * static_cast<double>(n) / (static_cast<double>(elapsed) * 1e-9);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Runner_OpenLoop)
    ->ArgsProduct({{100'000, 1'000'000},
                   {static_cast<std::int64_t>(WaitStrategy::kBusySpin),
                    static_cast<std::int64_t>(WaitStrategy::kBlocking)},
                   {2, 3}})
    ->ArgNames({"rate", "wait", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
