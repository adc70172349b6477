// Private layout of the matching engine's pools: the order record, its
// extension for icebergs/stops/GTD, the price level, and the order record a
// snapshot stores. Only cpp/src/book/ and its unit tests include this.
#pragma once

#include <cstdint>
#include <type_traits>

#include "shanraq/book/types.hpp"

namespace shanraq::book::detail {

inline constexpr std::uint32_t kNil = 0xFFFFFFFFU;

enum class Live : std::uint8_t { kFree = 0, kInFlight = 1, kResting = 2, kPendingStop = 3 };

// 64 bytes: one cache line on x86-64. Rarely used fields (iceberg reserve,
// stop price, expiry) live in Ext so plain limit orders stay this small.
struct Order {
  std::uint64_t id;
  std::uint64_t account;
  std::int64_t price;    // limit price; 0 for market and stop-market
  std::int64_t visible;  // displayed open quantity (the whole open quantity unless iceberg)
  std::int64_t filled;
  std::uint32_t next, prev;  // neighbours in the level's FIFO (or the free list)
  std::uint32_t level;       // level pool index while resting or pending
  std::uint32_t ext;         // Ext pool index or kNil
  Side side;
  OrderType type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  Live live;
  std::uint16_t reserved;
};
static_assert(sizeof(Order) == 64);

struct Ext {
  std::int64_t hidden;       // iceberg reserve not yet displayed
  std::int64_t display;      // iceberg slice size (0: not an iceberg)
  std::int64_t stop_price;   // 0: not a stop
  std::int64_t expire_ns;    // 0: not GTD
  std::uint64_t accept_seq;  // acceptance order, breaks GTD expiry ties
  std::uint32_t heap_pos;    // position in the GTD heap or kNil
  std::uint32_t next_free;
};

// 24 bytes: a busy book has nearly as many levels as orders, so this counts
// toward the per-order memory budget. The price is the ladder's key.
struct Level {
  std::int64_t total;  // visible quantity (<= the side's open quantity, so it cannot overflow)
  std::uint32_t head, tail, count;
  std::uint32_t sym : 30;  // symbol index (max_symbols < 2^30)
  std::uint32_t book : 2;  // 0 bids, 1 asks, 2 buy stops, 3 sell stops
};
static_assert(sizeof(Level) == 24);

// Order fields in a snapshot, in a fixed layout independent of pool indices.
struct OrderRecord {
  std::uint64_t id, account;
  std::int64_t price, visible, filled, hidden, display, stop_price, expire_ns;
  std::uint64_t accept_seq;
  Side side;
  OrderType type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  std::uint8_t reserved[3];
};
static_assert(sizeof(OrderRecord) == 88 && std::has_unique_object_representations_v<OrderRecord>);

}  // namespace shanraq::book::detail
