#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shanraq/book/engine.hpp"
#include "shanraq/queue/ring.hpp"
#include "shanraq/runner/engine_runner.hpp"

using namespace shanraq;
using book::Command;
using book::Event;

namespace {

constexpr std::uint32_t kSym = 3;

book::MatchingEngine make_engine() {
  book::EngineConfig c;
  c.max_orders = 4096;
  c.max_symbols = 4;
  c.max_levels = 1024;
  c.id_history = 8192;
  book::MatchingEngine eng(c);
  book::SymbolSpec s;
  s.symbol = kSym;
  s.min_price = 1;
  s.max_price = 1'000'000;
  s.max_qty = 1'000'000;
  EXPECT_EQ(eng.add_symbol(s), book::RejectReason::kNone);
  return eng;
}

// A mix of resting limits, crossing limits, IOCs, cancels (some of unknown
// ids, which reject) and malformed submits (which reject): many events per
// command on average, so small event rings fill up.
std::vector<Command> make_commands(std::size_t n, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Command> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    Command c;
    std::memset(&c, 0, sizeof c);
    c.time_ns = static_cast<std::int64_t>(1000 + i);
    c.symbol = kSym;
    const auto r = rng() % 10;
    if (r < 2 && i > 0) {
      c.kind = book::CommandKind::kCancel;
      c.order_id = 1 + rng() % (i + 5);
    } else {
      c.kind = book::CommandKind::kSubmit;
      c.order_id = i + 1;
      c.account = 1 + rng() % 4;
      c.side = (rng() & 1) ? book::Side::kBuy : book::Side::kSell;
      c.order_type = book::OrderType::kLimit;
      c.tif = (r == 9) ? book::TimeInForce::kIoc : book::TimeInForce::kGtc;
      c.price = 100 + static_cast<std::int64_t>(rng() % 11) - 5;
      c.qty = (r == 8) ? 0 : 1 + static_cast<std::int64_t>(rng() % 20);  // qty 0 rejects
    }
    out[i] = c;
  }
  return out;
}

std::vector<Event> direct_events(const std::vector<Command>& cmds, std::size_t n) {
  auto eng = make_engine();
  std::vector<Event> ev;
  eng.process(cmds.data(), n, ev);
  return ev;
}

void expect_bytes_equal(const std::vector<Event>& got, const std::vector<Event>& want) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(Event)), 0);
}

// Pops events until `want` have arrived or the ring is closed and drained.
std::vector<Event> collect(queue::SpscRing& events, std::size_t want) {
  std::vector<Event> got;
  std::vector<Event> buf(16);
  while (got.size() < want) {
    std::size_t k = 0;
    try {
      k = events.pop_many(buf.data(), buf.size(), std::chrono::seconds(20));
    } catch (const queue::Closed&) {
      break;
    }
    if (k == 0) break;  // a stuck runner fails the comparison instead of hanging
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return got;
}

template <class Ring>
void run_stream(queue::WaitStrategy wait, std::size_t cmd_cap, std::size_t ev_cap, std::size_t batch) {
  const auto cmds = make_commands(3000, 42);
  const auto want = direct_events(cmds, cmds.size());
  auto eng = make_engine();
  Ring in(sizeof(Command), cmd_cap, wait);
  queue::SpscRing out(sizeof(Event), ev_cap, wait);
  runner::RunnerConfig cfg;
  cfg.batch = batch;
  runner::EngineRunner r(eng, in, out, cfg);
  r.start();
  std::thread producer([&] {
    for (const Command& c : cmds) ASSERT_TRUE(in.push(&c));
  });
  const auto got = collect(out, want.size());
  producer.join();
  r.stop();
  expect_bytes_equal(got, want);
  EXPECT_EQ(r.commands_processed(), cmds.size());
  EXPECT_EQ(r.events_published(), want.size());
  EXPECT_FALSE(r.running());
  // The runner's engine ended in the same state as a directly driven one.
  auto direct = make_engine();
  std::vector<Event> ev;
  direct.process(cmds.data(), cmds.size(), ev);
  EXPECT_EQ(eng.next_seq(), direct.next_seq());
  EXPECT_EQ(eng.live_orders(), direct.live_orders());
  EXPECT_EQ(eng.level_count(), direct.level_count());
  const auto a = eng.bbo(kSym), b = direct.bbo(kSym);
  EXPECT_EQ(a.has_bid, b.has_bid);
  EXPECT_EQ(a.has_ask, b.has_ask);
  EXPECT_EQ(a.bid_price, b.bid_price);
  EXPECT_EQ(a.bid_qty, b.bid_qty);
  EXPECT_EQ(a.ask_price, b.ask_price);
  EXPECT_EQ(a.ask_qty, b.ask_qty);
  EXPECT_EQ(out.size(), 0u);
}

}  // namespace

TEST(EngineRunner, SpscEventsEqualDirectProcessingUnderBackpressure) {
  run_stream<queue::SpscRing>(queue::WaitStrategy::kBlocking, 4, 2, 8);
}

TEST(EngineRunner, SpscLargeRingsYieldStrategy) {
  run_stream<queue::SpscRing>(queue::WaitStrategy::kYield, 1024, 1024, 256);
}

TEST(EngineRunner, MpscCommandRingEventsEqualDirectProcessing) {
  run_stream<queue::MpscRing>(queue::WaitStrategy::kBlocking, 8, 4, 3);
}

TEST(EngineRunner, StopMidStreamLosesNothingPopped) {
  const auto cmds = make_commands(4000, 7);
  auto eng = make_engine();
  queue::SpscRing in(sizeof(Command), 64);
  queue::SpscRing out(sizeof(Event), 8);
  runner::RunnerConfig cfg;
  cfg.batch = 16;
  runner::EngineRunner r(eng, in, out, cfg);
  std::atomic<std::size_t> pushed{0};
  std::thread producer([&] {
    try {
      for (const Command& c : cmds) {
        in.push(&c);
        pushed.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (const queue::Closed&) {
      // The test closes the command ring after stop() to end this thread.
    }
  });
  std::vector<Event> got;
  std::atomic<bool> consuming{true};
  std::thread consumer([&] {
    std::vector<Event> buf(4);
    while (consuming.load(std::memory_order_acquire)) {
      const std::size_t k = out.pop_many(buf.data(), buf.size(), std::chrono::milliseconds(1));
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
      // A slow consumer, so the runner is stopped well before the end.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  r.start();
  while (r.commands_processed() < cmds.size() / 4) std::this_thread::yield();
  r.stop();
  consuming.store(false, std::memory_order_release);
  consumer.join();
  // Whatever the consumer had not taken yet is still in the event ring.
  std::vector<Event> rest(out.size());
  ASSERT_EQ(out.try_pop_many(rest.data(), rest.size()), rest.size());
  got.insert(got.end(), rest.begin(), rest.end());

  const std::size_t done = r.commands_processed();
  EXPECT_GE(done, cmds.size() / 4);
  EXPECT_LT(done, cmds.size());  // really mid-stream
  expect_bytes_equal(got, direct_events(cmds, done));
  EXPECT_EQ(r.events_published(), got.size());

  // The commands it did not pop are still in the ring, in order.
  in.close();
  producer.join();
  std::vector<Command> left(cmds.size());
  std::size_t n_left = 0;
  try {
    for (;;) n_left += in.try_pop_many(left.data() + n_left, left.size() - n_left);
  } catch (const queue::Closed&) {
  }
  EXPECT_EQ(done + n_left, pushed.load());
  EXPECT_EQ(std::memcmp(left.data(), cmds.data() + done, n_left * sizeof(Command)), 0);
  r.stop();  // idempotent
}

TEST(EngineRunner, ClosingCommandsEndsTheStreamAndClosesEvents) {
  const auto cmds = make_commands(500, 3);
  const auto want = direct_events(cmds, cmds.size());
  auto eng = make_engine();
  queue::SpscRing in(sizeof(Command), 1024);
  queue::SpscRing out(sizeof(Event), 4096);
  ASSERT_EQ(in.push_many(cmds.data(), cmds.size()), cmds.size());
  in.close();
  runner::EngineRunner r(eng, in, out);
  r.start();
  r.join();  // ends by itself: the command ring is closed and drained
  EXPECT_FALSE(r.running());
  EXPECT_TRUE(out.closed());
  const auto got = collect(out, want.size() + 1);
  expect_bytes_equal(got, want);
}

TEST(EngineRunner, ClosedEventRingIsRethrownFromStop) {
  const auto cmds = make_commands(200, 5);
  auto eng = make_engine();
  queue::SpscRing in(sizeof(Command), 256);
  queue::SpscRing out(sizeof(Event), 2);
  runner::EngineRunner r(eng, in, out);
  r.start();
  ASSERT_EQ(in.push_many(cmds.data(), cmds.size()), cmds.size());
  // The ring fills (nobody pops); closing it makes the blocked push throw.
  while (out.size() < out.capacity()) std::this_thread::yield();
  out.close();
  EXPECT_TRUE(r.wait_for(std::chrono::seconds(20)));
  EXPECT_THROW(r.stop(), queue::Closed);
  EXPECT_NO_THROW(r.stop());  // rethrown once
  EXPECT_EQ(r.events_published(), 2u);
}

TEST(EngineRunner, RejectsWrongRecordSizesAndConfig) {
  auto eng = make_engine();
  queue::SpscRing cmd(sizeof(Command), 8);
  queue::SpscRing ev(sizeof(Event), 8);
  queue::SpscRing small(64, 8);
  queue::MpscRing msmall(64, 8);
  EXPECT_THROW(runner::EngineRunner(eng, small, ev), std::invalid_argument);
  EXPECT_THROW(runner::EngineRunner(eng, msmall, ev), std::invalid_argument);
  EXPECT_THROW(runner::EngineRunner(eng, cmd, small), std::invalid_argument);
  EXPECT_THROW(runner::EngineRunner(eng, cmd, cmd), std::invalid_argument);
  runner::RunnerConfig bad;
  bad.batch = 0;
  EXPECT_THROW(runner::EngineRunner(eng, cmd, ev, bad), std::invalid_argument);
  bad.batch = 1;
  bad.poll_interval = std::chrono::nanoseconds(0);
  EXPECT_THROW(runner::EngineRunner(eng, cmd, ev, bad), std::invalid_argument);
}

TEST(EngineRunner, StartTwiceAndStopWithoutStart) {
  auto eng = make_engine();
  queue::SpscRing cmd(sizeof(Command), 8);
  queue::SpscRing ev(sizeof(Event), 8);
  runner::EngineRunner idle(eng, cmd, ev);
  EXPECT_NO_THROW(idle.stop());
  EXPECT_TRUE(idle.wait_for(std::chrono::nanoseconds(0)));
  runner::EngineRunner r(eng, cmd, ev);
  r.start();
  EXPECT_TRUE(r.running());
  EXPECT_THROW(r.start(), std::logic_error);
  EXPECT_FALSE(r.wait_for(std::chrono::milliseconds(1)));
  r.stop();
  EXPECT_FALSE(r.running());
  EXPECT_EQ(r.commands_processed(), 0u);
}

// A producer process dies inside a push, its slot claimed but unpublished:
// deterministically, because the record it pushes lives in memory it cannot
// read, so the ring's copy into the claimed slot faults. The runner must
// discard exactly that slot (counted in producer_deaths and the ring's lost),
// apply everything published before and after it, and never see a torn
// command: the events equal direct processing of the published commands.
TEST(EngineRunner, MpscProducerDyingMidPushCostsOnlyItsRecord) {
  const auto cmds = make_commands(600, 9);
  const std::size_t split = 400;  // the child pushes [0, split), the parent the rest
  const std::string name = "/shanraq_ctest_runner_die_" + std::to_string(::getpid());
  auto in = queue::MpscRing::create(name, {sizeof(Command), 64, ""});
  // Forked before any thread starts (the runner's included), so the child
  // is a plain single-threaded copy.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int rc = 3;
    try {
      auto mine = queue::MpscRing::attach(name);
      for (std::size_t i = 0; i < split; ++i) mine.push(&cmds[i], std::chrono::seconds(20));
      void* trap = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (trap != MAP_FAILED) (void)mine.try_push_many(trap, 1);  // faults after claiming
    } catch (...) {
      rc = 4;
    }
    ::_exit(rc);  // reached only if the push did not fault
  }
  auto eng = make_engine();
  queue::SpscRing out(sizeof(Event), 1 << 14);
  runner::EngineRunner r(eng, in, out);
  r.start();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: now provably dead
  // Killed by SIGSEGV, or (sanitizer builds) exited by the sanitizer's
  // SEGV handler: either way without reaching _exit(3/4).
  ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 3 &&
                                      WEXITSTATUS(status) != 4))
      << "the faulting push did not fault";
  for (std::size_t i = split; i < cmds.size(); ++i) ASSERT_TRUE(in.push(&cmds[i], std::chrono::seconds(20)));
  in.close();
  const auto want = direct_events(cmds, cmds.size());
  const auto got = collect(out, want.size() + 1);
  r.join();  // the stream ended normally: a dead producer is not an error
  expect_bytes_equal(got, want);
  EXPECT_EQ(r.commands_processed(), cmds.size());
  EXPECT_EQ(in.lost(), 1u);
  EXPECT_EQ(r.producer_deaths(), 1u);
}
