// The generic sequencer (runner/runner.hpp), driven over the contract's test
// machine: stamping, the sink, delivery, stop never waiting on the consumer.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/tally_machine.hpp"
#include "shanraq/queue/ring.hpp"
#include "shanraq/runner/runner.hpp"

using namespace shanraq;
using namespace std::chrono_literals;
using test_machines::Tally;
using test_machines::TallyCommand;
using test_machines::TallyEvent;
using TallyRunner = runner::Runner<Tally>;

namespace {

std::atomic<std::int64_t> g_fake_now{1'000};
std::int64_t fake_clock() noexcept { return g_fake_now.load(); }

TallyCommand add(std::int64_t v, std::int64_t t = 0) {
  TallyCommand c{};
  c.kind = 1;
  c.value = v;
  c.time_ns = t;
  return c;
}

struct RecordingSink : runner::StampedSink<TallyCommand> {
  std::vector<TallyCommand> seen;
  std::vector<std::uint64_t> awaited;
  std::size_t throw_after = SIZE_MAX;
  bool fail_durable = false;
  void append(const TallyCommand* c, std::size_t n) override {
    if (seen.size() + n > throw_after) throw std::runtime_error("disk full");
    seen.insert(seen.end(), c, c + n);
  }
  void await_durable(std::uint64_t seq) override {
    if (fail_durable) throw std::runtime_error("fsync failed");
    awaited.push_back(seq);
  }
};

std::vector<TallyEvent> pop_all(queue::SpscRing& ring) {
  std::vector<TallyEvent> out;
  TallyEvent e;
  for (;;) {
    try {
      if (!ring.pop(&e, 10s)) break;
    } catch (const queue::Closed&) {
      break;
    }
    out.push_back(e);
  }
  return out;
}

TEST(Runner, StampsSequenceAndTimeAndTheSinkSeesExactlyWhatIsApplied) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 64);
  RecordingSink sink;
  runner::RunnerConfig cfg;
  cfg.batch = 7;
  cfg.clock = &fake_clock;
  g_fake_now = 5'000;
  // Producers' own seq and time are overwritten.
  std::vector<TallyEvent> got;
  {
    TallyRunner r(m, cmds, evs, cfg, &sink);
    r.start();
    std::thread consumer([&] { got = pop_all(evs); });
    for (int i = 0; i < 200; ++i) {
      TallyCommand c = add(i, /*t=*/123);
      c.seq = 999;
      cmds.push(&c);
      if (i == 100) g_fake_now = 1'000;  // the clock steps back: stamps must not
    }
    cmds.close();
    r.join();
    consumer.join();
    EXPECT_EQ(r.commands_processed(), 200U);
    EXPECT_EQ(r.events_published(), 200U);
    EXPECT_EQ(r.last_seq(), 200U);
  }
  ASSERT_EQ(sink.seen.size(), 200U);
  ASSERT_EQ(got.size(), 200U);
  // Durability was awaited once per batch, for the batch's last seq.
  ASSERT_FALSE(sink.awaited.empty());
  EXPECT_EQ(sink.awaited.back(), 200U);
  EXPECT_TRUE(std::is_sorted(sink.awaited.begin(), sink.awaited.end()));
  for (std::size_t i = 0; i < 200; ++i) {
    EXPECT_EQ(sink.seen[i].seq, i + 1);
    EXPECT_EQ(sink.seen[i].time_ns, 5'000);
    EXPECT_EQ(got[i].seq, i + 1);
  }
  // Replaying what the sink saw into a fresh machine gives the same events
  // and the same state, byte for byte.
  Tally replay;
  std::vector<TallyEvent> direct;
  replay.process(sink.seen.data(), sink.seen.size(), direct);
  ASSERT_EQ(direct.size(), got.size());
  EXPECT_EQ(std::memcmp(direct.data(), got.data(), got.size() * sizeof(TallyEvent)), 0);
  EXPECT_EQ(replay.snapshot(), m.snapshot());
}

TEST(Runner, ContinuesTheMachinesSequenceAndCanKeepCommandTime) {
  Tally m;
  std::vector<TallyEvent> ev;
  const TallyCommand first[] = {add(1), add(2)};
  m.process(first, 2, ev);
  queue::SpscRing cmds(sizeof(TallyCommand), 16);
  queue::SpscRing evs(sizeof(TallyEvent), 16);
  RecordingSink sink;
  runner::RunnerConfig cfg;
  cfg.time_source = runner::TimeSource::kCommand;
  TallyRunner r(m, cmds, evs, cfg, &sink);
  r.start();
  for (std::int64_t t : {40, 30, 50}) {
    TallyCommand c = add(1, t);
    cmds.push(&c);
  }
  cmds.close();
  r.join();
  ASSERT_EQ(sink.seen.size(), 3U);
  EXPECT_EQ(sink.seen[0].seq, 3U);
  EXPECT_EQ(sink.seen[2].seq, 5U);
  EXPECT_EQ(sink.seen[1].time_ns, 30);  // kept as given; the machine's clock does not go back
  const auto out = pop_all(evs);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[1].time_ns, 40);
  EXPECT_EQ(m.next_seq(), 6U);
}

TEST(Runner, StopNeverWaitsOnAConsumerThatIsGoneAndKeepsTheEvents) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 4);  // nobody consumes: fills at once
  runner::RunnerConfig cfg;
  cfg.batch = 32;
  cfg.poll_interval = 1ms;
  TallyRunner r(m, cmds, evs, cfg);
  r.start();
  for (int i = 0; i < 40; ++i) {
    TallyCommand c = add(1);
    cmds.push(&c);
  }
  // Wait (by state, not by time) until the runner has applied the first
  // batch and is blocked publishing it.
  while (r.commands_processed() == 0) std::this_thread::yield();
  r.stop();  // must return: the event ring stays full
  EXPECT_FALSE(r.running());
  const std::uint64_t applied = r.commands_processed();
  EXPECT_GE(applied, 1U);
  EXPECT_EQ(m.next_seq(), applied + 1);
  // Every event of every applied command is either in the ring or kept.
  EXPECT_EQ(r.events_published(), 4U);
  EXPECT_EQ(r.events_published() + r.unpublished().size(), applied);
  const auto kept = r.take_unpublished();
  EXPECT_EQ(kept.front().seq, 5U);
  EXPECT_EQ(kept.back().seq, applied);
  EXPECT_TRUE(r.unpublished().empty());
  // Commands not popped stay in the command ring.
  EXPECT_EQ(cmds.size(), 40 - applied);
}

TEST(Runner, DestructorReturnsWithAFullEventRing) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 2);
  runner::RunnerConfig cfg;
  cfg.poll_interval = 1ms;
  {
    TallyRunner r(m, cmds, evs, cfg);
    r.start();
    for (int i = 0; i < 10; ++i) {
      TallyCommand c = add(1);
      cmds.push(&c);
    }
    while (r.commands_processed() == 0) std::this_thread::yield();
  }
  EXPECT_GE(m.next_seq(), 2U);
}

TEST(Runner, ASinkErrorEndsTheRunnerBeforeTheBatchIsApplied) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 64);
  RecordingSink sink;
  sink.throw_after = 0;
  TallyRunner r(m, cmds, evs, {}, &sink);
  r.start();
  TallyCommand c = add(1);
  cmds.push(&c);
  EXPECT_THROW(r.join(), std::runtime_error);
  EXPECT_EQ(m.next_seq(), 1U);
  EXPECT_EQ(r.commands_processed(), 0U);
}

TEST(Runner, ADurabilityErrorEndsTheRunnerWithTheBatchAppliedButUnpublished) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 64);
  RecordingSink sink;
  sink.fail_durable = true;
  TallyRunner r(m, cmds, evs, {}, &sink);
  r.start();
  TallyCommand c = add(1);
  cmds.push(&c);
  EXPECT_THROW(r.join(), std::runtime_error);
  EXPECT_EQ(m.next_seq(), 2U);
  EXPECT_EQ(r.events_published(), 0U);
  EXPECT_EQ(evs.size(), 0U);
  ASSERT_EQ(r.unpublished().size(), 1U);
  EXPECT_EQ(r.unpublished()[0].seq, 1U);
}

TEST(Runner, MpscProducerDyingMidPushCostsOnlyItsRecord) {
  constexpr std::size_t kSplit = 400, kTotal = 600;  // the child pushes [0, kSplit), the parent the rest
  const std::string name = "/shanraq_ctest_runner_die_" + std::to_string(::getpid());
  auto in = queue::MpscRing::create(name, {sizeof(TallyCommand), 64, ""});
  // Forked before any thread starts (the runner's included), so the child
  // is a plain single-threaded copy.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int rc = 3;
    try {
      auto mine = queue::MpscRing::attach(name);
      for (std::size_t i = 0; i < kSplit; ++i) {
        TallyCommand c = add(static_cast<std::int64_t>(i));
        mine.push(&c, std::chrono::seconds(20));
      }
      void* trap = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (trap != MAP_FAILED) (void)mine.try_push_many(trap, 1);  // faults after claiming
    } catch (...) {
      rc = 4;
    }
    ::_exit(rc);  // reached only if the push did not fault
  }
  Tally m;
  queue::SpscRing out(sizeof(TallyEvent), 1 << 12);
  runner::RunnerConfig cfg;
  cfg.time_source = runner::TimeSource::kCommand;
  TallyRunner r(m, in, out, cfg);
  r.start();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: now provably dead
  // Killed by SIGSEGV, or (sanitizer builds) exited by the sanitizer's SEGV
  // handler: either way without reaching _exit(3/4).
  ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 3 && WEXITSTATUS(status) != 4))
      << "the faulting push did not fault";
  for (std::size_t i = kSplit; i < kTotal; ++i) {
    TallyCommand c = add(static_cast<std::int64_t>(i));
    ASSERT_TRUE(in.push(&c, std::chrono::seconds(20)));
  }
  in.close();
  const auto got = pop_all(out);
  r.join();  // the stream ended normally: a dead producer is not an error
  ASSERT_EQ(got.size(), kTotal);
  EXPECT_EQ(got.back().total, static_cast<std::int64_t>(kTotal * (kTotal - 1) / 2));
  EXPECT_EQ(r.commands_processed(), kTotal);
  EXPECT_EQ(in.lost(), 1U);
  EXPECT_EQ(r.producer_deaths(), 1U);
}

TEST(Runner, RefusesWrongRecordSizesAndBadConfig) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 8);
  queue::SpscRing evs(sizeof(TallyEvent), 8);
  queue::SpscRing wrong(8, 8);
  EXPECT_THROW(TallyRunner(m, wrong, evs), std::invalid_argument);
  EXPECT_THROW(TallyRunner(m, cmds, wrong), std::invalid_argument);
  runner::RunnerConfig cfg;
  cfg.batch = 0;
  EXPECT_THROW(TallyRunner(m, cmds, evs, cfg), std::invalid_argument);
  cfg = {};
  cfg.poll_interval = 0ms;
  EXPECT_THROW(TallyRunner(m, cmds, evs, cfg), std::invalid_argument);
  cfg = {};
  cfg.clock = nullptr;
  EXPECT_THROW(TallyRunner(m, cmds, evs, cfg), std::invalid_argument);
  TallyRunner r(m, cmds, evs);
  r.start();
  EXPECT_THROW(r.start(), std::logic_error);
  r.stop();
  r.stop();  // idempotent
}

}  // namespace

// The binding's type-erased handle and its ring tap (src/shanraq_core/_core/runner_glue.hpp).
#include "../../../src/shanraq_core/_core/runner_glue.hpp"

namespace {

TEST(RunnerGlue, TheTapSeesExactlyTheStampedCommandsInOrder) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 256);
  queue::SpscRing tap(sizeof(TallyCommand), 256);
  runner::RunnerConfig cfg;
  cfg.batch = 5;
  std::unique_ptr<shq::AnyRunner> r(shq::new_runner<Tally>(m, &cmds, nullptr, evs, cfg, &tap));
  r->start();
  for (int i = 0; i < 100; ++i) {
    TallyCommand c = add(i);
    cmds.push(&c);
  }
  cmds.close();
  r->finish(false);
  EXPECT_EQ(r->last_seq(), 100U);
  EXPECT_EQ(r->tap_dropped(), 0U);
  std::vector<TallyCommand> stamped(100);
  ASSERT_EQ(tap.try_pop_many(stamped.data(), 100), 100U);
  Tally replay;
  std::vector<TallyEvent> direct;
  replay.process(stamped.data(), stamped.size(), direct);
  const auto live = pop_all(evs);
  ASSERT_EQ(live.size(), direct.size());
  EXPECT_EQ(std::memcmp(live.data(), direct.data(), direct.size() * sizeof(TallyEvent)), 0);
}

TEST(RunnerGlue, StopReturnsWhenNobodyDrainsTheTapAndCountsWhatItDropped) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 64);
  queue::SpscRing evs(sizeof(TallyEvent), 256);
  queue::SpscRing tap(sizeof(TallyCommand), 2);
  runner::RunnerConfig cfg;
  cfg.batch = 16;
  cfg.poll_interval = 1ms;
  std::unique_ptr<shq::AnyRunner> r(shq::new_runner<Tally>(m, &cmds, nullptr, evs, cfg, &tap));
  r->start();
  for (int i = 0; i < 16; ++i) {
    TallyCommand c = add(1);
    cmds.push(&c);
  }
  while (tap.size() < 2) std::this_thread::yield();  // the tap is full: the runner waits in append()
  r->finish(true);
  // The popped batch was applied even though its copies did not all fit.
  EXPECT_EQ(r->commands_processed() + cmds.size(), 16U);
  EXPECT_EQ(tap.size() + r->tap_dropped(), r->commands_processed());
  EXPECT_GT(r->tap_dropped(), 0U);
}

TEST(RunnerGlue, RefusesATapOfTheWrongRecordSize) {
  Tally m;
  queue::SpscRing cmds(sizeof(TallyCommand), 8);
  queue::SpscRing evs(sizeof(TallyEvent), 8);
  queue::SpscRing tap(8, 8);
  EXPECT_THROW(shq::new_runner<Tally>(m, &cmds, nullptr, evs, {}, &tap), std::invalid_argument);
  EXPECT_THROW(shq::new_runner<Tally>(m, nullptr, nullptr, evs, {}, nullptr), std::invalid_argument);
}

}  // namespace
