// Unit tests of the order-id index (cpp/src/book/id_index.hpp): random
// inserts, lookups and backward-shift deletions against std::unordered_map,
// on tables small enough that probe runs wrap around the end.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "book/id_index.hpp"

using shanraq::book::detail::IdIndex;
using shanraq::book::detail::kHistoryBit;

TEST(IdIndex, RandomOperationsMatchAHashMap) {
  for (std::uint64_t capacity : {1ULL, 10ULL, 100ULL, 1000ULL}) {
    IdIndex index(capacity);
    EXPECT_GE(index.slot_count(), capacity * 2);
    std::vector<std::uint64_t> ids(capacity * 4);  // ref -> id
    std::unordered_map<std::uint64_t, std::uint32_t> model;
    const auto id_of = [&](std::uint32_t ref) { return ids[ref & ~kHistoryBit]; };
    std::mt19937_64 rng(capacity);
    std::vector<std::uint32_t> free_refs;
    for (std::size_t r = ids.size(); r-- > 0;) free_refs.push_back(static_cast<std::uint32_t>(r));
    for (int step = 0; step < 20'000; ++step) {
      const std::uint64_t id = 1 + rng() % (capacity * 3);
      const std::uint64_t pos = index.find(id, id_of);
      const auto it = model.find(id);
      ASSERT_EQ(pos == IdIndex::kAbsent, it == model.end()) << id;
      if (it != model.end()) {
        ASSERT_EQ(index.ref_at(pos), it->second);
        if (rng() % 2 == 0) {
          index.erase(pos);
          free_refs.push_back(it->second & ~kHistoryBit);
          model.erase(it);
        } else {
          // Re-point the id (a finished id moving to the history ring).
          const std::uint32_t ref = it->second | kHistoryBit;
          index.set(pos, ref);
          it->second = ref;
        }
      } else if (model.size() < capacity) {
        const std::uint32_t ref = free_refs.back();
        free_refs.pop_back();
        ids[ref] = id;
        if (step % 2 == 0) {
          index.insert(id, ref);
        } else {
          std::uint64_t empty = 0;
          ASSERT_EQ(index.find_or_empty(id, id_of, &empty), IdIndex::kAbsent);
          index.insert_at(empty, id, ref);
        }
        model[id] = ref;
      }
    }
    for (const auto& [id, ref] : model) {
      const std::uint64_t pos = index.find(id, id_of);
      ASSERT_NE(pos, IdIndex::kAbsent);
      EXPECT_EQ(index.ref_at(pos), ref);
    }
  }
}

TEST(IdIndex, HomeRefNamesTheOrderForPrefetching) {
  IdIndex index(16);
  std::vector<std::uint64_t> ids = {0, 42};
  index.insert(42, 1);
  EXPECT_EQ(index.home_ref(42), 1U);
  EXPECT_EQ(index.home_ref(43) & kHistoryBit, kHistoryBit);  // nothing usable to prefetch
}

// The index starts small and doubles as ids accumulate (issue 16): every
// entry stays reachable through each growth, slot positions found after
// reserve_one() are valid for insert_at(), and it never grows past the
// room for max_ids.
TEST(IdIndex, GrowsFromOneIdToItsMaximumKeepingEveryEntry) {
  constexpr std::uint64_t kMax = 3000;
  IdIndex index(kMax, 1);
  EXPECT_EQ(index.room(), 1U);
  std::vector<std::uint64_t> ids(kMax);
  std::unordered_map<std::uint64_t, std::uint32_t> model;
  const auto id_of = [&](std::uint32_t ref) { return ids[ref & ~kHistoryBit]; };
  std::mt19937_64 rng(7);
  std::uint64_t growths = 0;
  for (std::uint32_t ref = 0; ref < kMax; ++ref) {
    const std::uint64_t id = rng() | 1;
    const std::uint64_t before = index.room();
    index.reserve_one();
    growths += index.room() != before;
    std::uint64_t empty = 0;
    ASSERT_EQ(index.find_or_empty(id, id_of, &empty), IdIndex::kAbsent);
    ids[ref] = id;
    index.insert_at(empty, id, ref);
    model[id] = ref;
    ASSERT_LE(index.size(), index.room());
    ASSERT_LE(index.size() * 2, index.slot_count());  // load <= 1/2
    if ((ref & (ref + 1)) == 0) {  // after each power of two: everything still found
      for (const auto& [k, v] : model) {
        const std::uint64_t pos = index.find(k, id_of);
        ASSERT_NE(pos, IdIndex::kAbsent);
        ASSERT_EQ(index.ref_at(pos), v);
      }
    }
  }
  EXPECT_EQ(index.size(), kMax);
  EXPECT_EQ(index.room(), kMax);
  EXPECT_GE(growths, 11U);  // 1, 2, 4, ..., 2048, then 3000
  index.reserve_one();      // full at max_ids: no growth past it
  EXPECT_EQ(index.room(), kMax);
  for (const auto& [k, v] : model) {
    const std::uint64_t pos = index.find(k, id_of);
    ASSERT_NE(pos, IdIndex::kAbsent);
    EXPECT_EQ(index.ref_at(pos), v);
    index.erase(pos);
  }
  EXPECT_EQ(index.size(), 0U);
}
