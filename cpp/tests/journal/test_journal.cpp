#include <gtest/gtest.h>

#include "journal_test_util.hpp"
#include "shanraq/journal/reader.hpp"
#include "../common/tally_machine.hpp"

using namespace shanraq;
using namespace shanraq::journal;
using namespace shanraq::journal::testing;
using shanraq::test_machines::Tally;
using shanraq::test_machines::TallyCommand;
using shanraq::test_machines::Wide;
using shanraq::test_machines::WideCommand;

TEST(JournalCrypto, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("56789", 5, crc32c("1234", 4)), 0xE3069283u);
  const Digest d = Sha256::of("abc", 3);
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

TEST(Journal, AppendCloseReopen) {
  TempDir t;
  const std::string dir = t.sub("j");
  {
    Tally m;
    MachineRef<Tally> ref(m);
    RecoveryReport rep;
    auto j = Journal::open(dir, small_options(), ref, &rep);
    EXPECT_TRUE(rep.created);
    auto cmds = stamped<TallyCommand>(7, 1, 1000);
    std::vector<Tally::Event> ev;
    for (std::size_t i = 0; i < cmds.size(); i += 100) {
      EXPECT_EQ(j->append(cmds.data() + i, 100), i + 100);
      m.process(cmds.data() + i, 100, ev);
      j->await_policy(i + 100);
      EXPECT_GE(j->durable_seq(), i + 100);
    }
    j->close();
  }
  Tally m2;
  MachineRef<Tally> ref2(m2);
  RecoveryReport rep;
  auto j = Journal::open(dir, small_options(), ref2, &rep);
  EXPECT_FALSE(rep.created);
  EXPECT_EQ(rep.last_seq, 1000u);
  EXPECT_EQ(m2.next_seq(), 1001u);
  std::int64_t sum = 0;
  for (std::uint64_t s = 1; s <= 1000; ++s) sum += value_of(7, s);
  EXPECT_EQ(m2.total(), sum);
}
