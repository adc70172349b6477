// Wire types of the matching engine: the fixed-size Command the engine
// consumes and the fixed-size Event it emits, plus their enumerations.
//
// Both structs are mirrored field for field by numpy structured dtypes
// (shanraq_core.book.COMMAND_DTYPE / EVENT_DTYPE); the static_asserts below
// pin the layout, and the Python tests compare the dtype offsets with the
// offsetof values the binding exports. Change a field here and both sides
// must change together.
//
// Units everywhere: prices in ticks (int64, > 0), quantities in lots (int64,
// > 0), times in nanoseconds since the epoch (int64), ids caller-chosen u64
// (0 is invalid).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shanraq::book {

enum class CommandKind : std::uint8_t {
  kSubmit = 1,
  kCancel = 2,
  kAmend = 3,
  kMassCancel = 4,
  // Moves the engine clock to time_ns and expires due GTD orders; nothing else.
  kAdvanceTime = 5,
};

enum class Side : std::uint8_t { kBuy = 1, kSell = 2 };

enum class OrderType : std::uint8_t {
  kLimit = 1,
  kMarket = 2,
  // Becomes a market order when the symbol's last trade price reaches stop_price.
  kStop = 3,
  // Becomes a limit order at `price` when the last trade price reaches stop_price.
  kStopLimit = 4,
};

enum class TimeInForce : std::uint8_t { kGtc = 1, kIoc = 2, kFok = 3, kGtd = 4 };

// Self-trade prevention, chosen by the incoming (taker) order and applied when
// it meets a resting order of the same account.
enum class Stp : std::uint8_t {
  kNone = 0,
  kCancelNewest = 1,  // cancel the incoming order's remainder
  kCancelOldest = 2,  // cancel the resting order, keep matching
  kCancelBoth = 3,
  kDecrementBoth = 4,  // reduce both by the smaller remaining quantity, no trade
};

// Command::flags bits.
inline constexpr std::uint8_t kFlagPostOnly = 0x01;      // submit: reject if it would take
inline constexpr std::uint8_t kFlagMassByAccount = 0x01;  // mass cancel: match Command::account
inline constexpr std::uint8_t kFlagMassBySymbol = 0x02;   // mass cancel: match Command::symbol

enum class EventType : std::uint8_t {
  kAccepted = 1,
  kRejected = 2,
  kTrade = 3,
  kCancelled = 4,
  kAmended = 5,
  kTriggered = 6,
  kMassCancelled = 7,  // ends a mass cancel: qty = number of orders cancelled
  // Order-by-order market data (only when the engine is built with it on).
  kMdAdd = 8,     // order joins the back of its level with `qty` visible
  kMdModify = 9,  // order's visible quantity is now `qty`, priority kept
  kMdDelete = 10,  // order leaves the book
};

enum class RejectReason : std::uint8_t {
  kNone = 0,
  kInvalidCommand = 1,
  kInvalidOrderId = 2,
  kDuplicateOrderId = 3,
  kUnknownSymbol = 4,
  kInvalidSide = 5,
  kInvalidOrderType = 6,
  kInvalidTimeInForce = 7,
  kInvalidQty = 8,
  kInvalidPrice = 9,
  kPriceOutOfBand = 10,
  kPriceOffTick = 11,
  kQtyOffLot = 12,
  kNotionalOverflow = 13,
  kInvalidStopPrice = 14,
  kInvalidDisplayQty = 15,
  kInvalidExpireTime = 16,
  kInvalidStp = 17,
  kInvalidFlags = 18,
  kUnsupportedCombination = 19,
  kPostOnlyWouldTake = 20,
  kUnknownOrder = 21,
  kAmendBelowFilled = 22,
  kOrderCapacity = 23,
  kLevelCapacity = 24,
  kInvalidTime = 25,
  // The id is neither live nor in the finished-id window, but is <= the
  // highest id ever evicted from that window: it may have been used before,
  // so it cannot be proven fresh. Increasing ids never hit this.
  kIdOutsideWindow = 26,
};

enum class CancelReason : std::uint8_t {
  kNone = 0,
  kUser = 1,
  kIocRemainder = 2,  // IOC or market order (or triggered stop) could not fill the rest
  kFokNotFillable = 3,
  kSelfTrade = 4,
  kExpired = 5,
  kMassCancel = 6,
  kCapacity = 7,  // a triggered stop-limit could not rest: no free price level
};

// Lifecycle of an order as reported by queries and per-call reports.
enum class OrderState : std::uint8_t {
  kUnknown = 0,  // never seen, or forgotten (evicted from the id history)
  kResting = 1,
  kPendingStop = 2,
  kFilled = 3,
  kCancelled = 4,
  kRejected = 5,  // per-call reports only
};

// One instruction to the engine (80 bytes). Fields a kind does not use must be
// zero only where stated; others are ignored.
struct Command {
  std::uint64_t order_id;  // submit/cancel/amend: the order
  std::uint64_t account;   // submit: owner; mass cancel: filter (kFlagMassByAccount)
  std::int64_t price;      // submit: limit price (0 for market/stop); amend: new price (0 = keep)
  std::int64_t qty;        // submit: quantity; amend: new total quantity incl. filled (0 = keep)
  std::int64_t stop_price;   // stop/stop-limit trigger price (0 otherwise); amend: 0 = keep
  std::int64_t display_qty;  // iceberg visible slice (0 = not an iceberg)
  std::int64_t expire_ns;    // GTD expiry time (0 otherwise)
  std::int64_t time_ns;      // sequencer time of the command; the engine clock never goes back
  std::uint32_t symbol;
  CommandKind kind;
  Side side;
  OrderType order_type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  std::uint8_t reserved[6];
};

// One outcome (96 bytes). `seq` numbers every event of an engine 1, 2, 3, ...
// with no gaps across all calls.
struct Event {
  std::uint64_t seq;
  std::int64_t time_ns;          // engine clock when the event happened
  std::uint64_t order_id;        // the order (trade: the taker)
  std::uint64_t account;         // its account
  std::uint64_t other_order_id;  // trade: the maker; triggered: 0
  std::uint64_t other_account;   // trade: the maker's account
  std::int64_t price;            // accepted/amended/md: order price; trade: execution price
  std::int64_t qty;      // accepted: order qty; trade: traded; cancelled: cancelled now; md: visible
  std::int64_t remaining;        // order's open quantity after the event (hidden included)
  std::int64_t other_remaining;  // trade: maker's open quantity after it
  std::uint32_t symbol;
  EventType type;
  std::uint8_t reason;      // rejected: RejectReason; cancelled: CancelReason
  Side side;                // side of order_id (trade: the aggressor side)
  OrderType order_type;     // order type (accepted/rejected/triggered)
  CommandKind command;      // kind of the command that produced the event
  TimeInForce tif;
  std::uint8_t reserved[6];
};

static_assert(std::is_trivially_copyable_v<Command> && std::is_standard_layout_v<Command>);
static_assert(std::is_trivially_copyable_v<Event> && std::is_standard_layout_v<Event>);
static_assert(sizeof(Command) == 80 && alignof(Command) == 8);
static_assert(offsetof(Command, order_id) == 0 && offsetof(Command, account) == 8);
static_assert(offsetof(Command, price) == 16 && offsetof(Command, qty) == 24);
static_assert(offsetof(Command, stop_price) == 32 && offsetof(Command, display_qty) == 40);
static_assert(offsetof(Command, expire_ns) == 48 && offsetof(Command, time_ns) == 56);
static_assert(offsetof(Command, symbol) == 64 && offsetof(Command, kind) == 68);
static_assert(offsetof(Command, side) == 69 && offsetof(Command, order_type) == 70);
static_assert(offsetof(Command, tif) == 71 && offsetof(Command, stp) == 72 && offsetof(Command, flags) == 73);
static_assert(sizeof(Event) == 96 && alignof(Event) == 8);
static_assert(offsetof(Event, seq) == 0 && offsetof(Event, time_ns) == 8 && offsetof(Event, order_id) == 16);
static_assert(offsetof(Event, account) == 24 && offsetof(Event, other_order_id) == 32);
static_assert(offsetof(Event, other_account) == 40 && offsetof(Event, price) == 48);
static_assert(offsetof(Event, qty) == 56 && offsetof(Event, remaining) == 64);
static_assert(offsetof(Event, other_remaining) == 72 && offsetof(Event, symbol) == 80);
static_assert(offsetof(Event, type) == 84 && offsetof(Event, reason) == 85 && offsetof(Event, side) == 86);
static_assert(offsetof(Event, order_type) == 87 && offsetof(Event, command) == 88 && offsetof(Event, tif) == 89);

}  // namespace shanraq::book
