// A deterministic, single-writer, multi-symbol matching engine: a machine of
// the state-machine contract (common/state_machine.hpp).
//
// Commands in, events out (see types.hpp). Price-time priority; trades at the
// resting order's price; limit, market, stop, stop-limit, iceberg and
// post-only orders; GTC, IOC, FOK and GTD; amend, cancel, mass cancel;
// self-trade prevention; an optional order-by-order market-data feed.
// Defining, changing, halting and resuming a symbol, and the passage of time,
// are commands too. docs/book.md states every rule; tests/book_reference.py
// is the executable specification the engine is tested against.
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
#include "shanraq/common/state_machine.hpp"

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

struct SymbolInfo {
  bool known = false;  // false: not registered (the other fields are 0)
  bool halted = false;
  bool has_last = false;
  SymbolSpec spec{};
  std::int64_t last_price = 0;  // last trade price (has_last)
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

// What one command did, summarised from its events: to its order for
// submit, cancel and amend; the count for mass cancel (orders cancelled) and
// advance time (orders expired); accepted or rejected for the others.
struct CommandResult {
  OrderState state = OrderState::kUnknown;
  RejectReason reject = RejectReason::kNone;
  CancelReason cancel = CancelReason::kNone;
  std::int64_t filled = 0;     // filled during this command
  std::int64_t remaining = 0;  // open after it
  std::uint32_t trades = 0;    // trade events involving the order
  std::uint64_t count = 0;     // mass cancel: orders cancelled; advance time: orders expired
};

class MatchingEngine {
 public:
  using Command = book::Command;
  using Event = book::Event;
  static constexpr std::uint32_t kMachineTag = sm::machine_tag("BOOK");
  // Version of the Command/Event layouts (types.hpp); a journal written with
  // another refuses to replay.
  static constexpr std::uint32_t kWireVersion = 1;

  // Throws std::invalid_argument if a capacity is 0 or too large (max_orders,
  // max_symbols, id_history < 2^30, max_levels < 2^31), or std::bad_alloc if
  // the pools cannot be reserved.
  explicit MatchingEngine(const EngineConfig& config = {});
  ~MatchingEngine();
  MatchingEngine(MatchingEngine&&) noexcept;
  MatchingEngine& operator=(MatchingEngine&&) noexcept;
  MatchingEngine(const MatchingEngine&) = delete;
  MatchingEngine& operator=(const MatchingEngine&) = delete;

  // Convenience: builds an kAddSymbol command (make_add_symbol), applies it
  // (it takes the next seq; its event is dropped) and returns kNone or the
  // reject reason. Use process() to keep the event.
  RejectReason add_symbol(const SymbolSpec& spec, std::int64_t time_ns = 0);

  // Applies one command, appending its events to `out` (== process(&cmd, 1, out)).
  void apply(const Command& cmd, std::vector<Event>& out);
  // Applies `n` commands in order, appending their events. Throws
  // sm::SequenceError, before anything is applied, if a command's seq is
  // neither 0 nor its place in the sequence (next_seq() + i). Otherwise
  // never throws for bad input (it becomes a kRejected event); only
  // std::bad_alloc when `out` cannot grow.
  void process(const Command* cmds, std::size_t n, std::vector<Event>& out);
  // The per-call path in one call: apply(cmd, out), then summarize() of the
  // events it appended; the trade events involving cmd's order are also
  // appended to *trades when it is not null.
  CommandResult apply_summarized(const Command& cmd, std::vector<Event>& out, std::vector<Event>* trades = nullptr);

  // Summarises events [first, last), all produced by the one command `cmd`;
  // appends the trade events involving cmd's order to *trades if not null.
  static CommandResult summarize(const Command& cmd, const Event* first, const Event* last,
                                 std::vector<Event>* trades = nullptr);

  // ---- queries (read-only) ------------------------------------------------
  bool has_symbol(std::uint32_t symbol) const noexcept;
  SymbolInfo symbol_info(std::uint32_t symbol) const noexcept;
  Bbo bbo(std::uint32_t symbol) const noexcept;  // empty if the symbol is unknown
  // Number of price levels with orders on one side (0 if unknown): what a
  // depth() of every level needs room for. O(1).
  std::size_t side_levels(std::uint32_t symbol, Side side) const noexcept;
  // Up to `n` levels of one side, best first; returns the number written.
  // O(levels written + empty levels parked between them).
  std::size_t depth(std::uint32_t symbol, Side side, LevelInfo* out, std::size_t n) const noexcept;
  // Ids of the orders resting at one price, in priority order (L3); empty for
  // a price with no orders (any int64, non-positive ones included).
  std::vector<std::uint64_t> level_orders(std::uint32_t symbol, Side side, std::int64_t price) const;
  OrderInfo order(std::uint64_t order_id) const noexcept;
  bool last_trade_price(std::uint32_t symbol, std::int64_t* price) const noexcept;

  std::uint64_t next_seq() const noexcept;  // seq of the next command (1 when new)
  std::int64_t now_ns() const noexcept;     // engine clock: the largest time_ns applied
  std::size_t live_orders() const noexcept;  // resting + pending stops
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
  // A canonical encoding of the whole state (configuration, symbols and their
  // halts, books in priority order, id history, evicted_max, next_seq and the
  // clock) in the common snapshot envelope (common/snapshot_io.hpp). Two
  // engines in the same state produce the same bytes.
  std::string snapshot() const;
  // Validates every invariant the engine relies on and throws
  // std::invalid_argument (naming what is wrong) for a corrupt, truncated or
  // foreign snapshot; std::bad_alloc if its capacities cannot be reserved.
  static MatchingEngine restore(const std::uint8_t* data, std::size_t size);
  // The same, on the heap (for bindings that hold the engine by pointer).
  static std::unique_ptr<MatchingEngine> restore_unique(const std::uint8_t* data, std::size_t size);
  // 64-bit hash of the logical state (the snapshot without the
  // configuration): equal for equal states.
  std::uint64_t state_hash() const;

  struct Impl;

 private:
  explicit MatchingEngine(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

static_assert(sm::StateMachine<MatchingEngine>);

}  // namespace shanraq::book
