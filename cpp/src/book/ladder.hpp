// One side of one symbol's book (or one of its stop books): the price levels
// sorted by priority, for best-price access, insertion and lookup by price.
// Private to the matching engine; unit-tested in cpp/tests/book/test_ladder.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "records.hpp"
#include "shanraq/common/platform.hpp"

namespace shanraq::book::detail {
// Internal linkage: engine.cpp is the one user, so the compiler may inline
// the hot lookups into it as if they were written there.
namespace {

struct LevelRef {
  std::int64_t key;
  std::uint32_t level;
  std::uint32_t reserved;
};

// A ladder keeps its levels sorted with the best (first to match or trigger)
// at the back, so the busy top of the book moves the fewest bytes on insert
// and erase. key = price for bids and sell stops, -price for asks and buy
// stops: every ladder is ascending by key. Prices are > 0, so keys never
// overflow and two keys of one ladder differ by less than 2^63.
//
// A level that empties away from the back stays in the ladder, empty (the
// engine's drop_level), so the next order at that price (quotes move back and
// forth over the same prices) finds it without an insert that shifts the
// array; the back is never left empty, so the best price stays O(1).
struct Ladder {
  std::vector<LevelRef> v;
  std::uint32_t empties = 0;
  bool negate = false;
  // Every key in v is a multiple of tick (the symbol's tick size, or the gcd
  // of every tick size its resting prices were placed under).
  std::int64_t tick = 1;

  std::int64_t key(std::int64_t price) const noexcept { return negate ? -price : price; }
  std::int64_t price_at(std::size_t i) const noexcept { return negate ? -v[i].key : v[i].key; }
  std::int64_t best_price() const noexcept { return price_at(v.size() - 1); }
  // Live levels (the parked empty ones not counted).
  std::size_t live() const noexcept { return v.size() - empties; }

  // A new tick size for prices placed from now on: keys already in the
  // ladder stay on their old grid, so the search's spacing is the gcd.
  void retick(std::int64_t new_tick) noexcept { tick = v.empty() ? new_tick : std::gcd(tick, new_tick); }

  // First position whose key is >= key(price); price must be > 0.
  SHANRAQ_ALWAYS_INLINE std::size_t lower(std::int64_t price) const noexcept {
    const std::int64_t k = key(price);
    const std::size_t size = v.size();
    if (size == 0) return 0;
    const std::int64_t top = v[size - 1].key;
    if (top < k) return size;
    // Keys are distinct multiples of the tick, so at most `ticks` levels lie
    // between k and the top: the answer is at or above g = size-1-ticks, and
    // exactly g where the ladder is dense (parked levels keep the busy top of
    // book one level per tick). Probe g, then gallop upwards over the gaps.
    const LevelRef* base = v.data();
    std::size_t n = size;
    const auto ticks = static_cast<std::uint64_t>(top - k) / static_cast<std::uint64_t>(tick);
    if (ticks < size) {
      const std::size_t g = size - 1 - static_cast<std::size_t>(ticks);
      if (v[g].key >= k) return g;
      std::size_t lo = g + 1;  // v[lo - 1].key < k <= v[size - 1].key
      std::size_t step = 1;
      while (lo + step < size && v[lo + step - 1].key < k) {
        lo += step;
        step *= 2;
      }
      base += lo;
      n = std::min(step, size - lo);
    }
    // Branch-free halving: the comparisons are unpredictable, a conditional
    // move is not.
    while (n > 1) {
      const std::size_t half = n / 2;
      base = base[half - 1].key < k ? base + half : base;
      n -= half;
    }
    return static_cast<std::size_t>(base - v.data()) + (base->key < k ? 1 : 0);
  }

  // The level at `price`, or kNil (always for a price <= 0: no level has one).
  std::uint32_t find(std::int64_t price) const noexcept {
    if (price <= 0) return kNil;
    const std::size_t i = lower(price);
    return i < v.size() && v[i].key == key(price) ? v[i].level : kNil;
  }
};

}  // namespace
}  // namespace shanraq::book::detail
