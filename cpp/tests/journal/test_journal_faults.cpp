// Damage, bad input and injected faults: each is detected and reported with
// its place (file, offset, seq), a torn tail is recovered from, and nothing
// acknowledged is lost to a crash.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "../common/tally_machine.hpp"
#include "journal_test_util.hpp"
#include "shanraq/journal/reader.hpp"

using namespace shanraq;
using namespace shanraq::journal;
using namespace shanraq::journal::testing;
using shanraq::test_machines::Tally;
using shanraq::test_machines::TallyCommand;
using shanraq::test_machines::Wide;
using shanraq::test_machines::WideCommand;

namespace {

constexpr std::size_t kStride = record_stride(sizeof(WideCommand));  // 88

// A closed journal of `n` Wide commands in batches of `batch` (one frame
// each), every_batch: each frame its own synced write.
void build(const std::string& dir, std::size_t n, std::size_t batch, JournalOptions o = small_options()) {
  Wide m;
  MachineRef<Wide> ref(m);
  auto j = Journal::open(dir, o, ref);
  std::vector<Wide::Event> ev;
  for (std::size_t done = 0; done < n; done += batch) {
    auto c = stamped<WideCommand>(1, done + 1, std::min(batch, n - done));
    j->append(c.data(), c.size());
    m.process(c.data(), c.size(), ev);
    j->await_policy(done + c.size());
  }
  j->close();
}

std::vector<SegmentInfo> segments(const std::string& dir) { return list_journal(posix_storage(), dir).segments; }

std::int64_t total_of(std::uint64_t last) {
  std::int64_t s = 0;
  for (std::uint64_t i = 1; i <= last; ++i) s += value_of(1, i);
  return s;
}

// Opens and expects a CorruptionError; returns it.
CorruptionError open_corrupt(const std::string& dir) {
  Wide m;
  MachineRef<Wide> ref(m);
  try {
    Journal::open(dir, small_options(), ref);
  } catch (const CorruptionError& e) {
    return e;
  }
  ADD_FAILURE() << "open of " << dir << " did not report corruption";
  return CorruptionError("none", "", -1, 0);
}

// Offset of the frame of `seq` in a segment built with frames of `batch`
// records starting at `first_seq` (frames never straddle segments).
std::uint64_t frame_offset(std::uint64_t first_seq, std::uint64_t seq, std::size_t batch) {
  return sizeof(SegmentHeader) + (seq - first_seq) / batch * (sizeof(FrameHeader) + batch * kStride);
}

}  // namespace

TEST(JournalTorn, CutMidFrameIsTruncatedAndLogged) {
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 100, 10);
  auto segs = segments(dir);
  ASSERT_EQ(segs.size(), 1u);
  // The last frame (seqs 91..100) cut in its middle, as a crash mid-write leaves it.
  const std::uint64_t at = frame_offset(1, 91, 10);
  std::filesystem::resize_file(segs[0].path, at + 500);
  std::vector<std::string> logged;
  JournalOptions o = small_options();
  o.log = [&](const std::string& s) { logged.push_back(s); };
  Wide m;
  MachineRef<Wide> ref(m);
  RecoveryReport rep;
  auto j = Journal::open(dir, o, ref, &rep);
  EXPECT_TRUE(rep.torn);
  EXPECT_EQ(rep.torn_tail.file, segs[0].path);
  EXPECT_EQ(rep.torn_tail.offset, at);
  EXPECT_EQ(rep.torn_tail.seq, 91u);
  EXPECT_EQ(rep.last_seq, 90u);
  EXPECT_EQ(m.total(), total_of(90));
  ASSERT_FALSE(logged.empty());
  EXPECT_NE(logged.back().find("torn tail truncated"), std::string::npos);
  // Writing continues at 91 and everything verifies afterwards.
  auto c = stamped<WideCommand>(1, 91, 20);
  j->append(c.data(), 20);
  j->sync();
  j->close();
  Wide v;
  MachineRef<Wide> vr(v);
  const VerifyReport r = verify(dir, vr);
  EXPECT_EQ(r.last_seq, 110u);
  EXPECT_FALSE(r.torn);
}

TEST(JournalTorn, ZeroedSectorsOfTheLastWriteAreATornTail) {
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 100, 10);
  const std::string seg = segments(dir)[0].path;
  std::string b = read_file(seg);
  const std::uint64_t at = frame_offset(1, 91, 10);
  // The header sector persisted, the body's did not (zeros), as a power
  // cut can leave a preallocated file.
  for (std::uint64_t i = at + 512; i < at + sizeof(FrameHeader) + 10 * kStride; ++i) b[i] = 0;
  write_file(seg, b);
  Wide m;
  MachineRef<Wide> ref(m);
  RecoveryReport rep;
  auto j = Journal::open(dir, small_options(), ref, &rep);
  EXPECT_TRUE(rep.torn);
  EXPECT_EQ(rep.torn_tail.seq, 91u);
  EXPECT_EQ(rep.last_seq, 90u);
}

TEST(JournalCorruption, BitFlipInASealedSegmentNamesFileOffsetAndSeq) {
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 3000, 10);
  auto segs = segments(dir);
  ASSERT_GE(segs.size(), 3u);
  const SegmentInfo& s = segs[1];
  // Record 3 of the segment's second frame: its value byte.
  const std::uint64_t rec = frame_offset(s.first_seq, s.first_seq + 10, 10) + sizeof(FrameHeader) + 3 * kStride;
  flip_bit(s.path, rec + sizeof(RecordHeader) + 24, 2);
  const CorruptionError e = open_corrupt(dir);
  EXPECT_EQ(e.path(), s.path);
  EXPECT_EQ(e.offset(), static_cast<std::int64_t>(rec));
  EXPECT_EQ(e.seq(), s.first_seq + 13);
  // Verification reports the same place; nothing was changed by the failed open.
  Wide v;
  MachineRef<Wide> vr(v);
  try {
    verify(dir, vr);
    FAIL();
  } catch (const CorruptionError& e2) {
    EXPECT_EQ(e2.offset(), e.offset());
  }
}

TEST(JournalCorruption, DamageBeforeLaterSyncedFramesIsNotATornTail) {
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 100, 10);
  const std::string seg = segments(dir)[0].path;
  // Frame 5 of 10 in the newest segment: frames after it were written after it was synced.
  const std::uint64_t at = frame_offset(1, 41, 10);
  flip_bit(seg, at + sizeof(FrameHeader) + 2 * kStride + 30);
  const CorruptionError e = open_corrupt(dir);
  EXPECT_EQ(e.path(), seg);
  EXPECT_EQ(e.offset(), static_cast<std::int64_t>(at + sizeof(FrameHeader) + 2 * kStride));
  EXPECT_EQ(e.seq(), 43u);
  EXPECT_NE(std::string(e.what()).find("not a torn write"), std::string::npos) << e.what();
  // The flipped header of a frame: the same verdict.
  build(t.sub("k"), 100, 10);
  const std::string seg2 = segments(t.sub("k"))[0].path;
  flip_bit(seg2, frame_offset(1, 41, 10) + 9);
  EXPECT_EQ(open_corrupt(t.sub("k")).offset(), static_cast<std::int64_t>(frame_offset(1, 41, 10)));
}

TEST(JournalCorruption, HashChainCatchesAnEditWithFixedChecksums) {
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 100, 10);
  const std::string seg = segments(dir)[0].path;
  std::string b = read_file(seg);
  // Edit a record and recompute its CRC32C: only the chain can tell.
  const std::uint64_t rec = frame_offset(1, 21, 10) + sizeof(FrameHeader);
  b[rec + sizeof(RecordHeader) + 24] ^= 1;
  const std::uint32_t crc = crc32c(b.data() + rec + 4, sizeof(RecordHeader) - 4 + sizeof(WideCommand));
  std::memcpy(b.data() + rec, &crc, 4);
  write_file(seg, b);
  const CorruptionError e = open_corrupt(dir);
  EXPECT_NE(std::string(e.what()).find("hash chain"), std::string::npos) << e.what();
  EXPECT_EQ(e.seq(), 21u);
}

TEST(JournalCorruption, TruncatedDeletedDuplicatedAndReorderedSegments) {
  TempDir t;
  auto fresh = [&](const std::string& name) {
    const std::string d = t.sub(name);
    build(d, 2000, 20);
    return d;
  };
  {  // A sealed segment cut short.
    const std::string d = fresh("cut");
    auto s = segments(d);
    std::filesystem::resize_file(s[1].path, std::filesystem::file_size(s[1].path) - 100);
    const CorruptionError e = open_corrupt(d);
    EXPECT_EQ(e.path(), s[1].path);
  }
  {  // A middle segment deleted: the gap names the next one.
    const std::string d = fresh("deleted");
    auto s = segments(d);
    std::filesystem::remove(s[1].path);
    const CorruptionError e = open_corrupt(d);
    EXPECT_EQ(e.path(), s[2].path);
    EXPECT_EQ(e.seq(), s[1].first_seq);
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  {  // A segment duplicated under another seq's name.
    const std::string d = fresh("dup");
    auto s = segments(d);
    std::filesystem::copy_file(s[1].path, d + "/" + segment_name(s.back().first_seq + 10000));
    EXPECT_NE(std::string(open_corrupt(d).what()).find("not the seq its name says"), std::string::npos);
  }
  {  // Two segments swapped.
    const std::string d = fresh("swap");
    auto s = segments(d);
    std::filesystem::rename(s[1].path, d + "/x");
    std::filesystem::rename(s[2].path, s[1].path);
    std::filesystem::rename(d + "/x", s[2].path);
    EXPECT_EQ(open_corrupt(d).path(), s[1].path);
  }
  {  // Two frames of a segment swapped: a frame names the wrong seq.
    const std::string d = fresh("frames");
    auto s = segments(d);
    std::string b = read_file(s[0].path);
    const std::size_t fb = sizeof(FrameHeader) + 20 * kStride;
    const std::size_t a = frame_offset(1, 21, 20);
    std::string tmp = b.substr(a, fb);
    b.replace(a, fb, b.substr(a + fb, fb));
    b.replace(a + fb, fb, tmp);
    write_file(s[0].path, b);
    const CorruptionError e = open_corrupt(d);
    EXPECT_EQ(e.offset(), static_cast<std::int64_t>(a));
    EXPECT_EQ(e.seq(), 21u);
  }
  {  // A frame duplicated over its successor.
    const std::string d = fresh("dupframe");
    auto s = segments(d);
    std::string b = read_file(s[0].path);
    const std::size_t fb = sizeof(FrameHeader) + 20 * kStride;
    const std::size_t a = frame_offset(1, 21, 20);
    b.replace(a + fb, fb, b.substr(a, fb));
    write_file(s[0].path, b);
    EXPECT_EQ(open_corrupt(d).seq(), 41u);
  }
}

TEST(JournalCorruption, SwappedOrDamagedSnapshots) {
  TempDir t;
  const std::string dir = t.sub("j");
  Wide m(4);
  {
    MachineRef<Wide> ref(m);
    auto j = Journal::open(dir, small_options(), ref);
    std::vector<Wide::Event> ev;
    for (int r = 0; r < 2; ++r) {
      auto c = stamped<WideCommand>(1, m.next_seq(), 1000);
      j->append(c.data(), c.size());
      m.process(c.data(), c.size(), ev);
      j->snapshot(ref);
    }
    auto c = stamped<WideCommand>(1, m.next_seq(), 10);
    j->append(c.data(), c.size());
    m.process(c.data(), c.size(), ev);
    j->close();
  }
  const std::string s1 = dir + "/" + snapshot_name(1000), s2 = dir + "/" + snapshot_name(2000);
  const std::string b1 = read_file(s1), b2 = read_file(s2);
  {  // The newer snapshot replaced by the older one's bytes: skipped, noted, recovered from the older.
    write_file(s2, b1);
    Wide r(4);
    MachineRef<Wide> ref(r);
    RecoveryReport rep;
    auto j = Journal::open(dir, small_options(), ref, &rep);
    EXPECT_EQ(rep.snapshot_seq, 1000u);
    ASSERT_FALSE(rep.notes.empty());
    EXPECT_NE(rep.notes.front().find(s2), std::string::npos) << rep.notes.front();
    EXPECT_EQ(r.state_hash(), m.state_hash());
    j->close();
    write_file(s2, b2);
  }
  {  // A bit flipped in the body: skipped and noted the same way.
    flip_bit(s2, sizeof(SnapshotHeader) + 20);
    Wide r(4);
    MachineRef<Wide> ref(r);
    RecoveryReport rep;
    auto j = Journal::open(dir, small_options(), ref, &rep);
    EXPECT_EQ(rep.snapshot_seq, 1000u);
    EXPECT_NE(rep.notes.front().find("checksum"), std::string::npos) << rep.notes.front();
    EXPECT_EQ(r.state_hash(), m.state_hash());
    j->close();
    write_file(s2, b2);
  }
  {  // A well-formed snapshot whose chain is not the journal's: refused, never applied.
    std::string b = b2;
    SnapshotHeader h;
    std::memcpy(&h, b.data(), sizeof h);
    h.chain[0] ^= 1;
    h.header_crc = snapshot_header_crc(h);
    std::memcpy(b.data(), &h, sizeof h);
    write_file(s2, b);
    const CorruptionError e = open_corrupt(dir);
    EXPECT_EQ(e.path(), s2);
    EXPECT_EQ(e.seq(), 2000u);
    write_file(s2, b2);
  }
  Wide v(4);
  MachineRef<Wide> vr(v);
  EXPECT_EQ(verify(dir, vr).last_seq, 2010u);
  // Only a damaged snapshot and no segment: refused, not a new journal.
  const std::string lone = t.sub("lone");
  std::filesystem::create_directories(lone);
  std::string b = b2;
  b[sizeof(SnapshotHeader) + 3] ^= 1;
  write_file(lone + "/" + snapshot_name(2000), b);
  EXPECT_EQ(open_corrupt(lone).path(), lone);
}

TEST(JournalBadInput, MissingDirectoryForeignFilesVersionsMachinesLocks) {
  TempDir t;
  Wide m;
  MachineRef<Wide> ref(m);
  JournalOptions no_create = small_options();
  no_create.create = false;
  try {
    Journal::open(t.sub("missing"), no_create, ref);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_EQ(e.path(), t.sub("missing"));
  }
  EXPECT_THROW(Journal::open(t.sub("missing/deeper"), small_options(), ref), IoError);
  write_file(t.sub("plainfile"), "x");
  EXPECT_THROW(Journal::open(t.sub("plainfile"), small_options(), ref), IoError);
  std::filesystem::create_directories(t.sub("empty"));
  EXPECT_THROW(Journal::open(t.sub("empty"), no_create, ref), FormatError);

  // A foreign file under a segment's name.
  const std::string d = t.sub("foreign");
  std::filesystem::create_directories(d);
  write_file(d + "/" + segment_name(1), std::string(4096, 'A'));
  try {
    Journal::open(d, small_options(), ref);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), d + "/" + segment_name(1));
  }
  // Another format version.
  const std::string v = t.sub("version");
  build(v, 50, 10);
  const std::string seg = segments(v)[0].path;
  std::string b = read_file(seg);
  SegmentHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  h.version = 2;
  h.header_crc = segment_header_crc(h);
  std::memcpy(b.data(), &h, sizeof h);
  write_file(seg, b);
  try {
    Wide w;
    MachineRef<Wide> wr(w);
    Journal::open(v, small_options(), wr);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2"), std::string::npos) << e.what();
  }
  // Another machine.
  const std::string other = t.sub("other");
  build(other, 50, 10);
  Tally tm;
  MachineRef<Tally> tr(tm);
  try {
    Journal::open(other, small_options(), tr);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'WIDE'"), std::string::npos) << e.what();
  }
  // Unknown files are left alone, and noted.
  write_file(other + "/README", "notes");
  Wide w;
  MachineRef<Wide> wr(w);
  RecoveryReport rep;
  auto j = Journal::open(other, small_options(), wr, &rep);
  ASSERT_FALSE(rep.notes.empty());
  EXPECT_NE(rep.notes[0].find("README"), std::string::npos);
  // One writer at a time.
  Wide w2;
  MachineRef<Wide> wr2(w2);
  EXPECT_THROW(Journal::open(other, small_options(), wr2), LockedError);
}

TEST(JournalBadInput, OptionsAreChecked) {
  TempDir t;
  Wide m;
  MachineRef<Wide> ref(m);
  JournalOptions o = small_options();
  o.segment_bytes = 1000;
  EXPECT_THROW(Journal::open(t.sub("a"), o, ref), std::invalid_argument);
  o = small_options();
  o.buffer_bytes = o.max_write_bytes;
  EXPECT_THROW(Journal::open(t.sub("a"), o, ref), std::invalid_argument);
  o = small_options();
  o.key_id = 4;
  EXPECT_THROW(Journal::open(t.sub("a"), o, ref), KeyError);
  EXPECT_FALSE(std::filesystem::exists(t.sub("a")));
}

// ---- injected faults ---------------------------------------------------------------------------

TEST(JournalFaults, FsyncEioStopsTheJournalAndLosesNothingAcknowledged) {
  TempDir t;
  const std::string dir = t.sub("j");
  for (std::uint64_t failing : {3u, 8u, 20u}) {
    std::filesystem::remove_all(dir);
    FaultPlan plan;
    plan.failing_sync = failing;
    FaultyStorage fs(plan);
    JournalOptions o = small_options();
    o.storage = &fs;
    // Unsynced preallocation: every counted sync is the writer's (the
    // first: the segment header's).
    o.preallocation = Preallocation::kFallocate;
    Wide m;
    MachineRef<Wide> ref(m);
    std::uint64_t acked = 0;
    bool failed = false;
    try {
      auto j = Journal::open(dir, o, ref);
      std::vector<Wide::Event> ev;
      for (int i = 0; i < 100; ++i) {
        auto c = stamped<WideCommand>(1, m.next_seq(), 5);
        const std::uint64_t last = j->append(c.data(), 5);
        m.process(c.data(), 5, ev);
        j->await_policy(last);
        acked = last;
      }
      j->close();
    } catch (const DurabilityError& e) {
      failed = true;
      EXPECT_EQ(e.error_number(), EIO);
    }
    EXPECT_TRUE(failed) << failing;
    Wide r;
    MachineRef<Wide> rr(r);
    RecoveryReport rep;
    auto j = Journal::open(dir, small_options(), rr, &rep);
    EXPECT_GE(rep.last_seq, acked) << failing;
    EXPECT_EQ(r.total(), total_of(rep.last_seq));
  }
}

TEST(JournalFaults, AFailedJournalRefusesEveryCall) {
  TempDir t;
  FaultPlan plan;
  plan.failing_sync = 2;  // the first data sync (the first is the segment header's)
  FaultyStorage fs(plan);
  JournalOptions o = small_options();
  o.storage = &fs;
  o.preallocation = Preallocation::kFallocate;
  Wide m;
  MachineRef<Wide> ref(m);
  auto j = Journal::open(t.sub("j"), o, ref);
  auto c = stamped<WideCommand>(1, 1, 5);
  j->append(c.data(), 5);
  EXPECT_THROW(j->wait_durable(5), DurabilityError);
  EXPECT_TRUE(j->failed());
  auto d = stamped<WideCommand>(1, 6, 5);
  EXPECT_THROW(j->append(d.data(), 5), DurabilityError);
  EXPECT_THROW(j->sync(), DurabilityError);
  EXPECT_THROW(j->close(), DurabilityError);
  EXPECT_NO_THROW(j->close());  // reported once
}

TEST(JournalFaults, FullDiskIsADiskFullErrorAndKeepsWhatWasAcknowledged) {
  TempDir t;
  const std::string dir = t.sub("j");
  FaultPlan plan;
  plan.space_bytes = 5 * (64 << 10) + 1000;  // room for about five segments
  FaultyStorage fs(plan);
  JournalOptions o = small_options();
  o.storage = &fs;
  Wide m;
  MachineRef<Wide> ref(m);
  std::uint64_t acked = 0;
  try {
    auto j = Journal::open(dir, o, ref);
    std::vector<Wide::Event> ev;
    for (int i = 0; i < 10000; ++i) {
      auto c = stamped<WideCommand>(1, m.next_seq(), 20);
      const std::uint64_t last = j->append(c.data(), 20);
      m.process(c.data(), 20, ev);
      j->await_policy(last);
      acked = last;
    }
    FAIL() << "the disk never filled";
  } catch (const DiskFullError& e) {
    EXPECT_EQ(e.error_number(), ENOSPC);
  }
  EXPECT_GT(acked, 1000u);
  Wide r;
  MachineRef<Wide> rr(r);
  RecoveryReport rep;
  auto j = Journal::open(dir, small_options(), rr, &rep);
  EXPECT_GE(rep.last_seq, acked);
  EXPECT_EQ(r.total(), total_of(rep.last_seq));
}

TEST(JournalFaults, TornWritesAtEveryPointRecover) {
  // The k-th write of the run keeps only part of its bytes, then the
  // process "dies": the journal reopens with every acknowledged record.
  TempDir t;
  for (std::uint64_t k = 4; k < 40; k += 3) {
    const std::string dir = t.sub("j" + std::to_string(k));
    FaultPlan plan;
    plan.torn_write = k;
    plan.torn_keep = static_cast<std::size_t>(k * 37 % 1500);
    FaultyStorage fs(plan);
    JournalOptions o = small_options();
    o.storage = &fs;
    o.preallocation = Preallocation::kFallocate;  // zero-filling would use up the counted writes
    Wide m;
    MachineRef<Wide> ref(m);
    std::uint64_t acked = 0;
    try {
      auto j = Journal::open(dir, o, ref);
      std::vector<Wide::Event> ev;
      for (int i = 0; i < 200; ++i) {
        auto c = stamped<WideCommand>(1, m.next_seq(), 7);
        const std::uint64_t last = j->append(c.data(), 7);
        m.process(c.data(), 7, ev);
        j->await_policy(last);
        acked = last;
      }
    } catch (const SimulatedCrash&) {
    }
    ASSERT_TRUE(fs.crashed()) << k;
    Wide r;
    MachineRef<Wide> rr(r);
    RecoveryReport rep;
    auto j = Journal::open(dir, small_options(), rr, &rep);
    EXPECT_GE(rep.last_seq, acked) << k;
    EXPECT_EQ(r.total(), total_of(rep.last_seq)) << k;
  }
}

TEST(JournalFaults, MisdirectedWriteIsDetected) {
  TempDir t;
  const std::string dir = t.sub("j");
  FaultPlan plan;
  plan.misdirected_write = 6;  // a frame write, after the segment's setup
  plan.misdirect_by = 4096;
  FaultyStorage fs(plan);
  JournalOptions o = small_options();
  o.storage = &fs;
  o.preallocation = Preallocation::kFallocate;
  {
    Wide m;
    MachineRef<Wide> ref(m);
    auto j = Journal::open(dir, o, ref);
    std::vector<Wide::Event> ev;
    for (int i = 0; i < 20; ++i) {
      auto c = stamped<WideCommand>(1, m.next_seq(), 3);
      j->append(c.data(), 3);
      m.process(c.data(), 3, ev);
      j->await_policy(m.next_seq() - 1);
    }
    j->close();
  }
  const CorruptionError e = open_corrupt(dir);
  EXPECT_EQ(e.path(), segments(dir)[0].path);
}

TEST(JournalFaults, PowerCutLosesOnlyWhatWasNotSynced) {
  TempDir t;
  for (const char* policy : {"every_batch", "interval_ms=5", "none"}) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      const std::string dir = t.sub(std::string("j-") + policy + std::to_string(seed));
      FaultyStorage fs(FaultPlan{});
      JournalOptions o = small_options();
      o.storage = &fs;
      o.durability = DurabilityPolicy::parse(policy);
      Wide m;
      MachineRef<Wide> ref(m);
      std::uint64_t synced = 0;
      {
        auto j = Journal::open(dir, o, ref);
        std::vector<Wide::Event> ev;
        for (int i = 0; i < 300; ++i) {
          auto c = stamped<WideCommand>(1, m.next_seq(), 9);
          const std::uint64_t last = j->append(c.data(), 9);
          m.process(c.data(), 9, ev);
          j->await_policy(last);
        }
        synced = j->synced_seq();
        fs.power_cut(seed);  // the machine dies here: the journal object is abandoned
        try {
          j->close();
        } catch (const JournalError&) {
        }
      }
      Wide r;
      MachineRef<Wide> rr(r);
      RecoveryReport rep;
      auto j = Journal::open(dir, small_options(), rr, &rep);
      EXPECT_GE(rep.last_seq, synced) << policy << " " << seed;
      EXPECT_EQ(r.total(), total_of(rep.last_seq)) << policy;
    }
  }
}

// ---- the real thing: file-size limits, a full tmpfs, no permission ------------------------------

namespace {

// Runs `body` in a child process; returns its exit status (or 128 + signal).
template <class F>
int in_child(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
      rc = 98;
    }
    ::_exit(rc);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// 0: DiskFullError after at least one acknowledged batch; 1: no error; 2: another error.
int fill_until_full(const std::string& dir, std::uint64_t segment_bytes,
                    Preallocation prealloc = Preallocation::kZeroFill) {
  JournalOptions o = small_options();
  o.segment_bytes = segment_bytes;
  o.preallocation = prealloc;
  Wide m;
  MachineRef<Wide> ref(m);
  std::uint64_t acked = 0;
  try {
    auto j = Journal::open(dir, o, ref);
    std::vector<Wide::Event> ev;
    for (int i = 0; i < 4000; ++i) {
      auto c = stamped<WideCommand>(1, m.next_seq(), 50);
      const std::uint64_t last = j->append(c.data(), 50);
      m.process(c.data(), 50, ev);
      j->await_policy(last);
      acked = last;
    }
    return 1;
  } catch (const DiskFullError&) {
    return acked > 0 ? 0 : 3;
  } catch (...) {
    return 2;
  }
}

}  // namespace

TEST(JournalRealFs, FileSizeLimitIsADiskFullError) {
  // RLIMIT_FSIZE makes the kernel refuse writes past a size with EFBIG (the
  // child ignores SIGXFSZ): a segment that cannot be preallocated, and a
  // segment that grows into the limit mid-write.
  TempDir t;
  auto limited = [](int bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{static_cast<rlim_t>(bytes), static_cast<rlim_t>(bytes)};
    ::setrlimit(RLIMIT_FSIZE, &lim);
  };
  EXPECT_EQ(in_child([&] {
              limited(1 << 20);
              return fill_until_full(t.sub("a"), 2 << 20);
            }),
            3)
      << "the first segment cannot be preallocated: DiskFullError before anything is acknowledged";
  EXPECT_EQ(in_child([&] {
              limited(1 << 20);
              return fill_until_full(t.sub("b"), 2 << 20, Preallocation::kNone);
            }),
            0);
  // What the kernel refused mid-write is a torn tail; the rest recovers.
  Wide r;
  MachineRef<Wide> rr(r);
  RecoveryReport rep;
  JournalOptions o = small_options();
  o.segment_bytes = 2 << 20;
  auto j = Journal::open(t.sub("b"), o, rr, &rep);
  EXPECT_GT(rep.last_seq, 10000u);
  EXPECT_EQ(r.total(), total_of(rep.last_seq));
}

TEST(JournalRealFs, AFullTmpfsIsADiskFullErrorAndRecovers) {
  // A 3 MiB tmpfs in a private mount namespace of a child process (root
  // only: the suite runs as root here; elsewhere FullDisk above covers it
  // through the fault-injecting storage).
  if (::geteuid() != 0) {
    SUCCEED() << "not root: the injected full disk (JournalFaults) covers this path";
    return;
  }
  TempDir t;
  const std::string mnt = t.sub("mnt");
  std::filesystem::create_directories(mnt);
  const int rc = in_child([&] {
    if (::unshare(CLONE_NEWNS) != 0) return 10;
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 11;
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=3m") != 0) return 12;
    const int r = fill_until_full(mnt + "/j", 512 << 10);
    if (r != 0) return r;
    // Recovery on the full file system still works (it writes nothing new
    // until the journal starts a segment, which needs space: refused cleanly).
    Wide w;
    MachineRef<Wide> wr(w);
    try {
      JournalOptions o = small_options();
      o.segment_bytes = 512 << 10;
      auto j = Journal::open(mnt + "/j", o, wr);
      return 20;
    } catch (const DiskFullError&) {
    }
    // With room made, recovery holds everything written.
    Listing L = list_journal(posix_storage(), mnt + "/j");
    if (L.segments.size() < 2) return 21;
    Wide v;
    MachineRef<Wide> vr(v);
    const VerifyReport rep = verify(mnt + "/j", vr);
    return rep.last_seq > 0 && v.total() == total_of(rep.last_seq) ? 0 : 22;
  });
  EXPECT_EQ(rc, 0);
}

TEST(JournalRealFs, NoPermissionIsAPermissionError) {
  if (::geteuid() != 0) {
    SUCCEED() << "not root: cannot switch to an unprivileged user";
    return;
  }
  TempDir t;
  const std::string dir = t.sub("j");
  build(dir, 50, 10);
  const std::string ro = t.sub("readonly");
  std::filesystem::create_directories(ro);
  ::chmod(t.path().c_str(), 0755);
  ::chmod(ro.c_str(), 0755);
  ::chmod(dir.c_str(), 0700);
  const int rc = in_child([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 10;
    int score = 0;
    Wide m;
    MachineRef<Wide> ref(m);
    try {
      Journal::open(dir, small_options(), ref);  // a journal of root's, mode 0700
    } catch (const PermissionError& e) {
      score += e.error_number() == EACCES ? 1 : 0;
    }
    try {
      Journal::open(ro + "/new", small_options(), ref);  // cannot create in root's 0755 directory
    } catch (const PermissionError& e) {
      score += e.path() == ro + "/new" ? 1 : 0;
    }
    return score == 2 ? 0 : 20 + score;
  });
  EXPECT_EQ(rc, 0);
}
