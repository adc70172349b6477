// Unit tests of the price ladder (cpp/src/book/ladder.hpp): lookups against
// a plain sorted search, over dense and sparse books, both key signs, mixed
// tick grids after a tick change, and prices at the int64 extremes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "book/ladder.hpp"

using shanraq::book::detail::kNil;
using shanraq::book::detail::Ladder;
using shanraq::book::detail::LevelRef;

namespace {

// A ladder holding `prices` (any order), level index = position in `prices`.
Ladder make(const std::vector<std::int64_t>& prices, bool negate, std::int64_t tick) {
  Ladder lad;
  lad.negate = negate;
  lad.tick = tick;
  for (std::size_t i = 0; i < prices.size(); ++i) {
    const std::size_t pos = lad.lower(prices[i]);
    lad.v.insert(lad.v.begin() + static_cast<std::ptrdiff_t>(pos),
                 LevelRef{lad.key(prices[i]), static_cast<std::uint32_t>(i), 0});
  }
  return lad;
}

std::size_t reference_lower(const Ladder& lad, std::int64_t price) {
  const std::int64_t k = lad.key(price);
  return static_cast<std::size_t>(
      std::lower_bound(lad.v.begin(), lad.v.end(), k, [](const LevelRef& r, std::int64_t x) { return r.key < x; }) -
      lad.v.begin());
}

void check_all(const Ladder& lad, const std::vector<std::int64_t>& prices, std::int64_t lo, std::int64_t hi) {
  ASSERT_TRUE(
      std::is_sorted(lad.v.begin(), lad.v.end(), [](const LevelRef& a, const LevelRef& b) { return a.key < b.key; }));
  const std::set<std::int64_t> present(prices.begin(), prices.end());
  for (std::int64_t p = lo; p <= hi; ++p) {
    ASSERT_EQ(lad.lower(p), reference_lower(lad, p)) << "price " << p;
    const std::uint32_t li = lad.find(p);
    if (present.count(p) != 0) {
      ASSERT_NE(li, kNil) << p;
      ASSERT_EQ(prices[li], p);
    } else {
      ASSERT_EQ(li, kNil) << p;
    }
  }
}

}  // namespace

TEST(Ladder, LookupsMatchASortedSearch) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    const bool negate = round % 2 == 1;
    const std::int64_t tick = 1 + static_cast<std::int64_t>(rng() % 5);
    const int n = static_cast<int>(rng() % 60);
    const bool dense = round % 3 == 0;
    std::set<std::int64_t> chosen;
    while (static_cast<int>(chosen.size()) < n) {
      const std::int64_t t = dense ? 100 + static_cast<std::int64_t>(rng() % 70)
                                   : 1 + static_cast<std::int64_t>(rng() % 2000);
      chosen.insert(t * tick);
    }
    std::vector<std::int64_t> prices(chosen.begin(), chosen.end());
    std::shuffle(prices.begin(), prices.end(), rng);
    const Ladder lad = make(prices, negate, tick);
    check_all(lad, prices, 1, 2100 * tick);
    if (!prices.empty()) {
      EXPECT_EQ(lad.best_price(), negate ? *chosen.begin() : *chosen.rbegin());
    }
  }
}

TEST(Ladder, MixedGridsAfterATickChange) {
  // Levels placed under tick 2, then the symbol moves to tick 5: new levels
  // on multiples of 5 join old ones on multiples of 2. With the ladder's tick
  // left at 5 the search would skip levels; retick() keeps the gcd.
  for (bool negate : {false, true}) {
    std::vector<std::int64_t> prices;
    for (std::int64_t p = 100; p <= 160; p += 2) prices.push_back(p);
    Ladder lad = make(prices, negate, 2);
    lad.retick(5);
    EXPECT_EQ(lad.tick, 1);
    for (std::int64_t p = 105; p <= 200; p += 5) {
      if (std::find(prices.begin(), prices.end(), p) != prices.end()) continue;
      const std::size_t pos = lad.lower(p);
      lad.v.insert(lad.v.begin() + static_cast<std::ptrdiff_t>(pos),
                   LevelRef{lad.key(p), static_cast<std::uint32_t>(prices.size()), 0});
      prices.push_back(p);
    }
    check_all(lad, prices, 1, 260);
    Ladder fresh;
    fresh.tick = 2;
    fresh.retick(5);
    EXPECT_EQ(fresh.tick, 5);  // nothing on the old grid: the new tick alone
  }
}

TEST(Ladder, ExtremePricesNeverOverflow) {
  // Run under UBSan: keys and key differences stay inside int64 for every
  // price a query may pass, positive prices of any size included.
  for (bool negate : {false, true}) {
    const std::vector<std::int64_t> prices = {1, 2, INT64_MAX / 2, INT64_MAX - 1, INT64_MAX};
    const Ladder lad = make(prices, negate, 1);
    for (std::int64_t p : prices) EXPECT_NE(lad.find(p), kNil) << p;
    for (std::int64_t p : {INT64_MIN, INT64_MIN + 1, std::int64_t{-1}, std::int64_t{0}}) {
      EXPECT_EQ(lad.find(p), kNil) << p;
    }
    EXPECT_EQ(lad.find(3), kNil);
    EXPECT_EQ(lad.live(), prices.size());
  }
  const Ladder empty;
  EXPECT_EQ(empty.find(INT64_MIN), kNil);
  EXPECT_EQ(empty.find(INT64_MAX), kNil);
}
