// The shared primitives under common/: the contract's helpers, the snapshot
// envelope, the index heap and the id map.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "shanraq/common/id_map.hpp"
#include "shanraq/common/index_heap.hpp"
#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/common/state_machine.hpp"
#include "tally_machine.hpp"

using namespace shanraq;
using test_machines::Tally;
using test_machines::TallyCommand;
using test_machines::TallyEvent;

namespace {

TallyCommand add(std::int64_t value, std::uint64_t seq = 0, std::int64_t t = 0) {
  TallyCommand c{};
  c.seq = seq;
  c.time_ns = t;
  c.kind = 1;
  c.value = value;
  return c;
}

// ---- the contract's helpers ------------------------------------------------------------

constexpr sm::FieldInfo kGap[] = {{"a", 0, 8, "<u8"}, {"b", 12, 4, "<u4"}};
constexpr sm::FieldInfo kOverlap[] = {{"a", 0, 8, "<u8"}, {"b", 4, 4, "<u4"}};
constexpr sm::FieldInfo kAlias[] = {{"a", 0, 8, "<u8"}, {"lo", 0, 4, "<u4", nullptr, 0, true}, {"b", 8, 8, "<u8"}};
constexpr sm::FieldInfo kAliasOutside[] = {{"a", 0, 8, "<u8"}, {"x", 4, 8, "<u8", nullptr, 0, true}};
static_assert(!sm::tiles(kGap, 16));
static_assert(!sm::tiles(kOverlap, 8));
static_assert(sm::tiles(kAlias, 16));
static_assert(!sm::tiles(kAliasOutside, 8));
static_assert(sm::machine_tag("BOOK") == 0x4B4F4F42U);

TEST(Contract, UnstampedCommandsTakeTheNextSequenceNumbers) {
  Tally m;
  std::vector<TallyEvent> ev;
  const TallyCommand cmds[] = {add(1), add(2), add(3)};
  m.process(cmds, 3, ev);
  ASSERT_EQ(ev.size(), 3U);
  EXPECT_EQ(ev[0].seq, 1U);
  EXPECT_EQ(ev[2].seq, 3U);
  EXPECT_EQ(m.next_seq(), 4U);
}

TEST(Contract, StampedCommandsMustBeInPlaceAndAMisplacedOneAppliesNothing) {
  Tally m;
  std::vector<TallyEvent> ev;
  const TallyCommand good[] = {add(1, 1), add(2, 0), add(3, 3)};
  m.process(good, 3, ev);
  EXPECT_EQ(m.total(), 6);
  const std::string before = m.snapshot();
  const TallyCommand gap[] = {add(1, 4), add(5, 6)};
  ev.clear();
  EXPECT_THROW(m.process(gap, 2, ev), sm::SequenceError);
  const TallyCommand replayed[] = {add(1, 3)};
  EXPECT_THROW(m.process(replayed, 1, ev), sm::SequenceError);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(m.snapshot(), before);
  try {
    m.process(gap, 2, ev);
  } catch (const sm::SequenceError& e) {
    EXPECT_NE(std::string(e.what()).find("command 1 of the batch has seq 6, expected 5"), std::string::npos)
        << e.what();
  }
}

// ---- snapshot envelope -----------------------------------------------------------------

TEST(SnapshotIo, RoundTripsAndRefusesEveryCorruptionPrecisely) {
  SnapshotWriter w("SHQTEST1", 3);
  w.put(std::uint64_t{42});
  const std::uint32_t arr[3] = {7, 8, 9};
  w.put_array(arr, 3);
  const std::string bytes = w.finish();
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());

  SnapshotReader r(p, bytes.size(), "SHQTEST1", 1, 3, "test snapshot");
  EXPECT_EQ(r.version(), 3U);
  EXPECT_EQ(r.get<std::uint64_t>(), 42U);
  std::uint32_t back[3];
  r.get_array(back, 3);
  EXPECT_EQ(back[2], 9U);
  EXPECT_NO_THROW(r.expect_end());
  EXPECT_THROW(r.get<std::uint8_t>(), std::invalid_argument);

  EXPECT_THROW(SnapshotReader(p, bytes.size(), "SHQOTHER", 1, 3, "test snapshot"), std::invalid_argument);
  EXPECT_THROW(SnapshotReader(p, bytes.size(), "SHQTEST1", 1, 2, "test snapshot"), std::invalid_argument);
  EXPECT_THROW(SnapshotReader(p, 10, "SHQTEST1", 1, 3, "test snapshot"), std::invalid_argument);
  EXPECT_THROW(SnapshotReader(nullptr, 0, "SHQTEST1", 1, 3, "test snapshot"), std::invalid_argument);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_THROW(SnapshotReader(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size(), "SHQTEST1", 1, 3,
                                "test snapshot"),
                 std::invalid_argument)
        << "byte " << i;
  }
}

TEST(SnapshotIo, CountsAreBoundedByTheBytesLeft) {
  SnapshotWriter w("SHQTEST1", 1);
  w.put(std::uint64_t{1'000'000});  // a count with no records behind it
  const std::string bytes = w.finish();
  SnapshotReader r(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "SHQTEST1", 1, 1, "t");
  EXPECT_THROW(r.get_count(UINT64_MAX, 8, "orders"), std::invalid_argument);
}

// ---- index heap --------------------------------------------------------------------------

struct Keys {
  std::vector<std::uint64_t>* key;
  std::vector<std::uint32_t>* pos;
  bool less(std::uint32_t a, std::uint32_t b) const noexcept {
    return (*key)[a] != (*key)[b] ? (*key)[a] < (*key)[b] : a < b;
  }
  void placed(std::uint32_t item, std::uint32_t at) noexcept { (*pos)[item] = at; }
};

TEST(IndexHeap, MatchesASortedReferenceUnderRandomPushesAndRemovals) {
  constexpr std::uint32_t kN = 2000;
  std::vector<std::uint64_t> key(kN);
  std::vector<std::uint32_t> pos(kN, UINT32_MAX);
  std::vector<std::uint32_t> storage(kN);
  IndexHeap<Keys> heap(storage.data(), Keys{&key, &pos});
  std::mt19937_64 rng(7);
  std::vector<std::uint32_t> in;  // reference: items in the heap
  for (std::uint32_t i = 0; i < kN; ++i) key[i] = rng() % 500;
  for (int step = 0; step < 20000; ++step) {
    const auto r = rng() % 3;
    if (r == 0 && !in.empty()) {
      const std::size_t k = rng() % in.size();
      const std::uint32_t item = in[k];
      heap.remove_at(pos[item]);
      pos[item] = UINT32_MAX;
      in.erase(in.begin() + static_cast<std::ptrdiff_t>(k));
    } else if (r == 1 && !in.empty()) {
      const auto best =
          *std::min_element(in.begin(), in.end(), [&](auto a, auto b) { return Keys{&key, &pos}.less(a, b); });
      ASSERT_EQ(heap.top(), best);
      heap.pop();
      pos[best] = UINT32_MAX;
      in.erase(std::find(in.begin(), in.end(), best));
    } else if (in.size() < kN) {
      std::uint32_t item;
      do item = static_cast<std::uint32_t>(rng() % kN);
      while (pos[item] != UINT32_MAX);
      heap.push(item);
      in.push_back(item);
    }
    ASSERT_EQ(heap.size(), in.size());
    for (std::uint32_t at = 0; at < heap.size(); ++at) ASSERT_EQ(pos[heap.at(at)], at);
  }
  EXPECT_TRUE(heap.valid());
}

TEST(IndexHeap, AssignRebuildsTheHeapProperty) {
  std::vector<std::uint64_t> key = {9, 3, 7, 1, 8, 2};
  std::vector<std::uint32_t> pos(key.size());
  std::vector<std::uint32_t> storage = {0, 1, 2, 3, 4, 5};
  IndexHeap<Keys> heap(storage.data(), Keys{&key, &pos});
  heap.assign(6);
  EXPECT_TRUE(heap.valid());
  std::vector<std::uint64_t> order;
  while (!heap.empty()) {
    order.push_back(key[heap.top()]);
    heap.pop();
  }
  EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 2, 3, 7, 8, 9}));
}

// ---- id map ----------------------------------------------------------------------------------

struct Rec {
  std::uint64_t id;
};

TEST(IdMap, FindsInsertsErasesAndReindexesLikeAStdMap) {
  constexpr std::uint32_t kCap = 4096;
  IdMap map(kCap);
  std::vector<Rec> recs(kCap);
  std::vector<std::uint32_t> live;
  std::mt19937_64 rng(11);
  for (std::uint32_t i = 0; i < kCap; ++i) {
    // Sequential-ish and random ids, never 0.
    recs[i].id = (i % 2 == 0) ? i + 1 : (rng() | 1);
    ASSERT_EQ(map.find(recs[i].id, recs.data()), IdMap::kNotFound);
    map.insert(recs[i].id, i);
    live.push_back(i);
  }
  for (std::uint32_t i : live) ASSERT_EQ(map.find(recs[i].id, recs.data()), i);
  // Erase half (backward-shift deletion keeps the others reachable).
  for (std::uint32_t i = 0; i < kCap; i += 2) map.erase(recs[i].id, recs.data());
  for (std::uint32_t i = 0; i < kCap; ++i) {
    ASSERT_EQ(map.find(recs[i].id, recs.data()), i % 2 == 0 ? IdMap::kNotFound : i) << i;
  }
  // Move a record and reindex it.
  recs[0] = recs[1];
  map.reindex(recs[1].id, recs.data(), 0);
  EXPECT_EQ(map.find(recs[1].id, recs.data()), 0U);
}

}  // namespace
