// A deterministic, single-writer, multi-symbol matching engine.
//
// Commands in, events out (see types.hpp). Price-time priority; trades at the
// resting order's price; limit, market, stop, stop-limit, iceberg and
// post-only orders; GTC, IOC, FOK and GTD; amend, cancel, mass cancel;
// self-trade prevention; an optional order-by-order market-data feed.
// docs/book.md states every rule; tests/book_reference.py is the executable
// specification the engine is tested against.
//
// Memory is fixed at construction: an order pool, an extension pool for
// icebergs/stops/GTD, a price-level pool and an open-addressing id index. The
// per-symbol sorted level arrays grow only when a symbol reaches a new number
// of levels (warm-up); nothing else allocates per command, except the caller's
// event vector when it has to grow.
//
// Thread safety: none. One thread at a time may call any method (the engine
// is a single-writer state machine); queries are read-only but must not run
// concurrently with a writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shanraq/book/types.hpp"

namespace shanraq::book {

struct EngineConfig {
  std::uint32_t max_orders = 1u << 20;   // live orders (resting + pending stops + the one in flight)
  std::uint32_t max_symbols = 1024;
  std::uint32_t max_levels = 1u << 18;   // price levels over all symbols, sides and stop books
  // Finished order ids remembered exactly for duplicate checks. Ids evicted
  // from this window are summarised by their maximum: a new id at or below it
  // is rejected (kIdOutsideWindow), so a duplicate is never accepted.
  std::uint32_t id_history = 1u << 20;
  bool market_data = false;              // emit kMdAdd/kMdModify/kMdDelete
};

struct SymbolSpec {
  std::uint32_t symbol = 0;
  std::int64_t tick_size = 1;  // valid prices are multiples of this
  std::int64_t lot_size = 1;   // valid quantities are multiples of this
  std::int64_t min_price = 1;  // price band, inclusive, in ticks
  std::int64_t max_price = INT64_MAX;
  std::int64_t max_qty = INT64_MAX;  // largest quantity of one order
};

// Why add_symbol refused (the engine is unchanged).
enum class SymbolError : std::uint8_t {
  kOk = 0,
  kDuplicate = 1,
  kCapacity = 2,
  kInvalidSpec = 3,  // non-positive tick/lot/min_price/max_qty, min > max
};

struct OrderInfo {
  OrderState state = OrderState::kUnknown;
  std::uint32_t symbol = 0;
  Side side = Side::kBuy;
  OrderType order_type = OrderType::kLimit;
  TimeInForce tif = TimeInForce::kGtc;
  std::uint64_t account = 0;
  std::int64_t price = 0;
  std::int64_t stop_price = 0;
  std::int64_t qty = 0;        // total quantity (as amended) = filled + remaining
  std::int64_t filled = 0;
  std::int64_t remaining = 0;  // open quantity, hidden included
  std::int64_t visible = 0;    // displayed part of remaining
  std::int64_t expire_ns = 0;
};

struct LevelInfo {
  std::int64_t price;
  std::int64_t qty;  // visible quantity
  std::uint32_t orders;
};

struct Bbo {
  bool has_bid = false, has_ask = false;
  std::int64_t bid_price = 0, bid_qty = 0, ask_price = 0, ask_qty = 0;
};

// What one command did to its own order, summarised from its events.
struct CommandResult {
  OrderState state = OrderState::kUnknown;
  RejectReason reject = RejectReason::kNone;
  CancelReason cancel = CancelReason::kNone;
  std::int64_t filled = 0;     // filled during this command
  std::int64_t remaining = 0;  // open after it
  std::uint32_t trades = 0;    // trade events involving the order
  std::uint64_t count = 0;     // mass cancel: orders cancelled
};

class MatchingEngine {
 public:
  // Throws std::invalid_argument if a capacity is 0 or >= 2^31, or
  // std::bad_alloc if the pools cannot be reserved.
  explicit MatchingEngine(const EngineConfig& config = {});
  ~MatchingEngine();
  MatchingEngine(MatchingEngine&&) noexcept;
  MatchingEngine& operator=(MatchingEngine&&) noexcept;
  MatchingEngine(const MatchingEngine&) = delete;
  MatchingEngine& operator=(const MatchingEngine&) = delete;

  // Registers a symbol. Configuration, not a command: it is part of the
  // snapshot but not of the event stream.
  SymbolError add_symbol(const SymbolSpec& spec);

  // Applies one command, appending its events to `out`. Never throws for bad
  // input (it becomes a kRejected event); throws only std::bad_alloc when `out`
  // cannot grow.
  void apply(const Command& cmd, std::vector<Event>& out);
  // Applies `n` commands in order; same contract as apply.
  void process(const Command* cmds, std::size_t n, std::vector<Event>& out);

  // Summarises events [first, last) produced by one command for `order_id`.
  static CommandResult summarize(const Command& cmd, const Event* first, const Event* last) noexcept;

  // ---- queries (read-only) ------------------------------------------------
  bool has_symbol(std::uint32_t symbol) const noexcept;
  Bbo bbo(std::uint32_t symbol) const noexcept;  // empty if the symbol is unknown
  // Up to `n` levels of one side, best first; returns the number written.
  std::size_t depth(std::uint32_t symbol, Side side, LevelInfo* out, std::size_t n) const noexcept;
  // Ids of the orders resting at one price, in priority order (L3).
  std::vector<std::uint64_t> level_orders(std::uint32_t symbol, Side side, std::int64_t price) const;
  OrderInfo order(std::uint64_t order_id) const noexcept;
  bool last_trade_price(std::uint32_t symbol, std::int64_t* price) const noexcept;

  std::uint64_t next_seq() const noexcept;   // seq of the next event
  std::int64_t now_ns() const noexcept;       // engine clock
  std::size_t live_orders() const noexcept;   // resting + pending stops
  std::size_t level_count() const noexcept;
  std::size_t symbol_count() const noexcept;
  const EngineConfig& config() const noexcept;
  // Highest order id ever evicted from the finished-id window (0 = none yet).
  // A submit must use an id above it (or one still in the window's view:
  // never seen and above it); ids at or below it are rejected kIdOutsideWindow.
  std::uint64_t evicted_max() const noexcept;
  // Bytes reserved for pools and indexes (address space; resident memory
  // follows use, since the pools are touched only as they fill).
  std::size_t memory_reserved() const noexcept;

  // ---- persistence --------------------------------------------------------
  // A canonical encoding of the logical state (book contents in priority
  // order, counters, id history and evicted_max), checksummed. Two engines in the same state
  // produce the same bytes.
  std::string snapshot() const;
  // Throws std::invalid_argument on a corrupt or foreign snapshot.
  static MatchingEngine restore(const std::uint8_t* data, std::size_t size);
  // 64-bit hash of snapshot(): equal for equal states.
  std::uint64_t state_hash() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shanraq::book
