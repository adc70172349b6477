// Crash tests with real processes: a child writes random batches of a
// deterministic command stream through the journal and reports each
// acknowledgement through a pipe; the parent SIGKILLs it once it has read a
// number of acknowledgements drawn from a seeded RNG (the child keeps
// running until the signal lands, so the kill falls at any point of a write,
// an fsync, a segment roll or a snapshot). After each kill the parent
// verifies the directory read-only (every checksum, the chain, every
// snapshot against the replay) and checks that it holds every acknowledged
// command, nothing after a torn record (the records are exactly the
// stream's prefix) and a state equal to a fresh replay of exactly the
// recovered commands; the next child recovers it (reporting what it
// recovered) and goes on writing.
//
// SHANRAQ_CRASH_CYCLES (default 50 per case, 4 cases) and SHANRAQ_CRASH_SEED
// scale it up for scripts/soak_journal.sh.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "journal_test_util.hpp"
#include "shanraq/journal/reader.hpp"

using namespace shanraq;
using namespace shanraq::journal;
using namespace shanraq::journal::testing;
using shanraq::test_machines::Wide;
using shanraq::test_machines::WideCommand;

namespace {

constexpr std::size_t kSlots = 16;

std::uint64_t env_u64(const char* name, std::uint64_t dflt) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : dflt;
}

struct Case {
  const char* policy;
  bool snapshots;
  bool encrypted;
  bool split;  // writes issued in 512-byte pieces, so kills leave torn writes
};

Keyring test_keys() {
  Keyring k;
  std::array<std::uint8_t, kKeyBytes> key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
  k.add(9, key);
  return k;
}

JournalOptions options_for(const Case& c, const Keyring* keys) {
  JournalOptions o = small_options();
  o.durability = DurabilityPolicy::parse(c.policy);
  if (c.encrypted) {
    o.keyring = keys;
    o.key_id = 9;
  }
  return o;
}

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The writer process. Reports the seq it recovered, then after every batch
// the seq the journal says is durable. Never returns.
[[noreturn]] void child(const std::string& dir, const Case& c, std::uint64_t seed, std::uint64_t cycle, int fd) {
  int rc = 0;
  try {
    const Keyring keys = test_keys();
    Wide m(kSlots);
    MachineRef<Wide> ref(m);
    RecoveryReport rep;
    FaultPlan plan;
    plan.split_writes = c.split ? 512 : 0;
    FaultyStorage storage(plan);
    JournalOptions o = options_for(c, &keys);
    o.storage = &storage;
    auto j = Journal::open(dir, o, ref, &rep);
    std::uint64_t v = rep.last_seq;
    if (!write_all(fd, &v, 8)) ::_exit(3);
    std::mt19937_64 rng(seed * 1000003 + cycle);
    std::vector<Wide::Event> ev;
    for (int i = 0; i < 1'000'000; ++i) {
      const std::size_t k = 1 + rng() % 64;
      auto cmds = stamped<WideCommand>(seed, m.next_seq(), k);
      const std::uint64_t last = j->append(cmds.data(), k);
      ev.clear();
      m.process(cmds.data(), k, ev);
      j->await_policy(last);
      if (c.snapshots && rng() % 16 == 0) j->snapshot(ref);
      v = j->durable_seq();
      if (!write_all(fd, &v, 8)) ::_exit(4);
    }
  } catch (...) {
    rc = 2;
  }
  ::_exit(rc);
}

void run_case(const Case& c, std::uint64_t case_seed) {
  const std::uint64_t cycles = env_u64("SHANRAQ_CRASH_CYCLES", 50);
  const std::uint64_t seed = env_u64("SHANRAQ_CRASH_SEED", 1) * 7919 + case_seed;
  TempDir t;
  const std::string dir = t.sub("j");
  const Keyring keys = test_keys();
  std::mt19937_64 rng(seed);
  std::uint64_t acked = 0;       // the highest durable seq any child reported
  std::uint64_t recovered = 0;   // what the parent's verification found last
  std::uint64_t torn = 0;
  std::uint64_t lost_unacked = 0;
  for (std::uint64_t cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(dir, c, seed, cycle, fds[1]);
    }
    ::close(fds[1]);
    const std::uint64_t kill_after = 1 + rng() % 48;
    std::uint64_t v = 0;
    std::uint64_t got = 0;
    bool first = true;
    while (got < kill_after && ::read(fds[0], &v, 8) == 8) {
      if (first) {
        // The child's recovery holds everything acknowledged before, and
        // exactly what the read-only verification found.
        ASSERT_GE(v, acked) << "cycle " << cycle;
        ASSERT_EQ(v, recovered) << "cycle " << cycle;
        first = false;
        continue;
      }
      acked = std::max(acked, v);
      ++got;
    }
    // A few extra yields so the kill lands at a point the RNG picks.
    for (std::uint64_t i = rng() % 200; i > 0; --i) ::sched_yield();
    ::kill(pid, SIGKILL);
    // Acknowledgements still in the pipe were made before the kill.
    while (::read(fds[0], &v, 8) == 8) acked = std::max(acked, v);
    ::close(fds[0]);
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
        << "cycle " << cycle << ": the writer ended by itself (exit " << (WIFEXITED(st) ? WEXITSTATUS(st) : -1) << ")";
    ASSERT_FALSE(first) << "cycle " << cycle << ": the writer reported nothing";

    Wide w(kSlots);
    MachineRef<Wide> wr(w);
    const VerifyReport r = verify(dir, wr, &keys);
    ASSERT_GE(r.last_seq, acked) << "cycle " << cycle << ": an acknowledged command was lost";
    // The state is a fresh replay of exactly the stream's first last_seq commands.
    Wide fresh(kSlots);
    std::vector<Wide::Event> ev;
    for (std::uint64_t s = 1; s <= r.last_seq; s += 4096) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(4096, r.last_seq - s + 1));
      auto cmds = stamped<WideCommand>(seed, s, k);
      ev.clear();
      fresh.process(cmds.data(), k, ev);
    }
    ASSERT_EQ(w.state_hash(), fresh.state_hash()) << "cycle " << cycle;
    recovered = r.last_seq;
    torn += r.torn ? 1 : 0;
    lost_unacked += r.last_seq - acked;
  }
  EXPECT_GT(acked, cycles) << "the writers made progress";
  // How the kills landed (informational: the kill points are not ours to pick).
  std::printf(
      "%s%s%s%s: %llu kills, %llu left a torn tail, %llu durable records beyond the last acknowledgement read\n",
      c.policy, c.snapshots ? ", snapshots" : "", c.encrypted ? ", encrypted" : "", c.split ? ", split writes" : "",
      static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(torn),
      static_cast<unsigned long long>(lost_unacked));
}

}  // namespace

TEST(JournalCrash, KilledWriterEveryBatch) { run_case({"every_batch", false, false, false}, 1); }
TEST(JournalCrash, KilledWriterTornWrites) { run_case({"every_batch", true, false, true}, 2); }
TEST(JournalCrash, KilledWriterEncryptedTornWrites) { run_case({"every_batch", true, true, true}, 3); }
TEST(JournalCrash, KilledWriterIntervalPolicy) { run_case({"interval_ms=1", true, false, true}, 4); }
