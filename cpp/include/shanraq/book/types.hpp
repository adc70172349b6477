// Wire types of the matching engine: the fixed-size Command it consumes and
// the fixed-size Event it emits, their enumerations, and the tables that
// describe them (common/state_machine.hpp): the numpy dtypes and the Python
// IntEnums are built from and checked against these, so an offset, a field
// name or an enum value is written down here and nowhere else.
//
// Units everywhere: prices in ticks (int64, > 0), quantities in lots (int64,
// > 0), times in nanoseconds since the epoch (int64), order ids caller-chosen
// in 1..2^63-1 (kMaxOrderId), symbols u32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shanraq/common/state_machine.hpp"

namespace shanraq::book {

enum class CommandKind : std::uint8_t {
  kSubmit = 1,
  kCancel = 2,
  kAmend = 3,
  kMassCancel = 4,
  // Moves the engine clock to time_ns and expires due GTD orders; ends with
  // a kTimeAdvanced event.
  kAdvanceTime = 5,
  // Symbol configuration: the spec travels in the order fields (see the
  // alias views tick_size .. max_qty below and make_add_symbol()).
  kAddSymbol = 6,
  kUpdateSymbol = 7,  // replaces the spec; applies to new orders and amends
  kHaltSymbol = 8,    // submits and amends are rejected until resumed
  kResumeSymbol = 9,
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

// The time in force a submit gets when the caller names none: GTC, or IOC
// for the types that may not rest (market and stop).
constexpr TimeInForce default_tif(OrderType t) noexcept {
  return t == OrderType::kMarket || t == OrderType::kStop ? TimeInForce::kIoc : TimeInForce::kGtc;
}

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
inline constexpr std::uint8_t kFlagPostOnly = 0x01;       // submit: reject if it would take
inline constexpr std::uint8_t kFlagMassByAccount = 0x01;  // mass cancel: match Command::account
inline constexpr std::uint8_t kFlagMassBySymbol = 0x02;   // mass cancel: match Command::symbol

// Order ids are 1..2^63-1: the top half of the u64 space is refused up front
// (kInvalidOrderId), so a client's -1 cast to u64 can never become the
// highest finished id and shut out every later id (see kIdOutsideWindow).
inline constexpr std::uint64_t kMaxOrderId = 0x7FFFFFFFFFFFFFFFULL;

// An iceberg shows at least 1/65,536 of its open quantity: each refill is a
// trade event, so this bounds what one incoming order can make it emit
// (open <= display_qty * kMaxIcebergSlices, else kTooManySlices).
inline constexpr std::int64_t kMaxIcebergSlices = 1 << 16;

enum class EventType : std::uint8_t {
  kAccepted = 1,
  kRejected = 2,
  kTrade = 3,
  kCancelled = 4,
  kAmended = 5,
  kTriggered = 6,
  kMassCancelled = 7,  // ends a mass cancel: qty = number of orders cancelled
  // Order-by-order market data (only when the engine is built with it on).
  kMdAdd = 8,      // order joins the back of its level with `qty` visible
  kMdModify = 9,   // order's visible quantity is now `qty`, priority kept
  kMdDelete = 10,  // order leaves the book
  kSymbolAdded = 11,    // symbol + its spec (tick_size .. max_qty views)
  kSymbolUpdated = 12,  // symbol + its new spec
  kSymbolHalted = 13,
  kSymbolResumed = 14,
  kTimeAdvanced = 15,  // ends an advance-time command: qty = orders it expired
};

enum class RejectReason : std::uint8_t {
  kNone = 0,
  kInvalidCommand = 1,
  kInvalidOrderId = 2,  // 0, or above kMaxOrderId
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
  kDuplicateSymbol = 27,  // add of a registered symbol
  kSymbolCapacity = 28,   // add beyond max_symbols
  kInvalidSpec = 29,      // tick/lot/min_price/max_qty <= 0 or min_price > max_price
  kSymbolHalted = 30,     // submit/amend on a halted symbol, or halt of a halted one
  kSymbolNotHalted = 31,  // resume of a symbol that is not halted
  // The open quantity (shown + hidden) resting on the order's side of its
  // symbol (or waiting in that side's stop book) would exceed 2^63-1.
  kQtyOverflow = 32,
  // An iceberg's open quantity would need more than kMaxIcebergSlices slices
  // of display_qty: one incoming order could meet it that many times.
  kTooManySlices = 33,
};

enum class CancelReason : std::uint8_t {
  kNone = 0,
  kUser = 1,
  kIocRemainder = 2,  // IOC or market order (or triggered stop) could not fill the rest
  kFokNotFillable = 3,
  kSelfTrade = 4,
  kExpired = 5,
  kMassCancel = 6,
  kCapacity = 7,     // a triggered stop-limit could not rest: no free price level
  kQtyOverflow = 8,  // a triggered stop-limit could not rest: its side's open quantity would exceed 2^63-1
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

// One instruction to the engine (88 bytes): the contract's header (seq,
// time_ns, kind), the small codes, then the order fields. Fields a kind does
// not use are ignored. The symbol commands carry their spec in the order
// fields, under the alias names of RecordLayout<Command>: tick_size = price,
// lot_size = qty, min_price = stop_price, max_price = display_qty,
// max_qty = expire_ns (make_add_symbol / spec_of read and write them).
struct Command {
  std::uint64_t seq;      // 0 (the engine numbers it) or exactly next_seq()
  std::int64_t time_ns;   // sequencer time; the engine clock never goes back
  CommandKind kind;
  Side side;
  OrderType order_type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  std::uint16_t reserved0;
  std::uint32_t symbol;   // submit; mass cancel filter; symbol commands
  std::uint32_t reserved1;
  std::uint64_t order_id;  // submit/cancel/amend: the order; mass cancel: a tag echoed in its event
  std::uint64_t account;   // submit: owner; mass cancel: filter (kFlagMassByAccount)
  std::int64_t price;      // submit: limit price (0 for market/stop); amend: new price (0 = keep)
  std::int64_t qty;        // submit: quantity; amend: new total quantity incl. filled (0 = keep)
  std::int64_t stop_price;   // stop/stop-limit trigger price (0 otherwise); amend: 0 = keep
  std::int64_t display_qty;  // iceberg visible slice (0 = not an iceberg)
  std::int64_t expire_ns;    // GTD expiry time (0 otherwise)
};

// One outcome (96 bytes). `seq` is the seq of the command that caused it:
// every command yields at least one event, all with its seq, in order.
// The spec events (kSymbolAdded, kSymbolUpdated) carry the spec at the same
// offsets as the command (tick_size = price, lot_size = qty, min_price =
// other_order_id, max_price = other_account, max_qty = remaining, as int64).
struct Event {
  std::uint64_t seq;
  std::int64_t time_ns;  // engine clock when the event happened
  EventType type;
  std::uint8_t reason;   // rejected: RejectReason; cancelled: CancelReason
  Side side;             // side of order_id (trade: the aggressor side)
  OrderType order_type;  // order type (accepted/rejected/triggered)
  CommandKind command;   // kind of the command that produced the event
  TimeInForce tif;
  std::uint16_t reserved0;
  std::uint32_t symbol;
  std::uint32_t reserved1;
  std::uint64_t order_id;        // the order (trade: the taker)
  std::uint64_t account;         // its account
  std::int64_t price;            // accepted/amended/md: order price; trade: execution price
  std::int64_t qty;              // accepted: order qty; trade: traded; cancelled: cancelled now; md: visible
  std::uint64_t other_order_id;  // trade: the maker; triggered: 0
  std::uint64_t other_account;   // trade: the maker's account
  std::int64_t remaining;        // order's open quantity after the event (hidden included)
  std::int64_t other_remaining;  // trade: maker's open quantity after it
};

static_assert(sizeof(Command) == 88 && alignof(Command) == 8);
static_assert(sizeof(Event) == 96 && alignof(Event) == 8);
static_assert(offsetof(Command, seq) == 0 && offsetof(Command, time_ns) == 8 && offsetof(Command, kind) == 16);
static_assert(offsetof(Command, symbol) == 24 && offsetof(Command, order_id) == 32);
static_assert(offsetof(Command, price) == 48 && offsetof(Command, expire_ns) == 80);
static_assert(offsetof(Event, seq) == 0 && offsetof(Event, time_ns) == 8 && offsetof(Event, type) == 16);
static_assert(offsetof(Event, symbol) == 24 && offsetof(Event, order_id) == 32);
static_assert(offsetof(Event, price) == 48 && offsetof(Event, other_remaining) == 88);

// Tradable-instrument parameters (the payload of kAddSymbol/kUpdateSymbol).
struct SymbolSpec {
  std::uint32_t symbol = 0;
  std::int64_t tick_size = 1;  // valid prices are multiples of this
  std::int64_t lot_size = 1;   // valid quantities are multiples of this
  std::int64_t min_price = 1;  // price band, inclusive, in ticks
  std::int64_t max_price = INT64_MAX;
  std::int64_t max_qty = INT64_MAX;  // largest quantity of one order
};

// The commands that carry a spec, and the spec a command carries.
constexpr Command make_symbol_command(CommandKind kind, const SymbolSpec& s, std::int64_t time_ns = 0) noexcept {
  Command c{};
  c.kind = kind;
  c.time_ns = time_ns;
  c.symbol = s.symbol;
  c.price = s.tick_size;
  c.qty = s.lot_size;
  c.stop_price = s.min_price;
  c.display_qty = s.max_price;
  c.expire_ns = s.max_qty;
  return c;
}
constexpr Command make_add_symbol(const SymbolSpec& s, std::int64_t time_ns = 0) noexcept {
  return make_symbol_command(CommandKind::kAddSymbol, s, time_ns);
}
constexpr Command make_update_symbol(const SymbolSpec& s, std::int64_t time_ns = 0) noexcept {
  return make_symbol_command(CommandKind::kUpdateSymbol, s, time_ns);
}
constexpr SymbolSpec spec_of(const Command& c) noexcept {
  SymbolSpec s;
  s.symbol = c.symbol;
  s.tick_size = c.price;
  s.lot_size = c.qty;
  s.min_price = c.stop_price;
  s.max_price = c.display_qty;
  s.max_qty = c.expire_ns;
  return s;
}

}  // namespace shanraq::book

// ---- tables (the only place offsets, types and enum values are written) ----------------------
template <>
struct shanraq::sm::RecordLayout<shanraq::book::Command> {
  static constexpr const char* kName = "BookCommand";
  static constexpr FieldInfo kFields[] = {
      {"seq", 0, 8, "<u8"},
      {"time_ns", 8, 8, "<i8"},
      {"kind", 16, 1, "u1"},
      {"side", 17, 1, "u1"},
      {"order_type", 18, 1, "u1"},
      {"tif", 19, 1, "u1"},
      {"stp", 20, 1, "u1"},
      {"flags", 21, 1, "u1"},
      {"reserved0", 22, 2, "<u2"},
      {"symbol", 24, 4, "<u4"},
      {"reserved1", 28, 4, "<u4"},
      {"order_id", 32, 8, "<u8"},
      {"account", 40, 8, "<u8"},
      {"price", 48, 8, "<i8"},
      {"qty", 56, 8, "<i8"},
      {"stop_price", 64, 8, "<i8"},
      {"display_qty", 72, 8, "<i8"},
      {"expire_ns", 80, 8, "<i8"},
      // The symbol commands' spec, over the order fields.
      {"tick_size", 48, 8, "<i8", nullptr, 0, true},
      {"lot_size", 56, 8, "<i8", nullptr, 0, true},
      {"min_price", 64, 8, "<i8", nullptr, 0, true},
      {"max_price", 72, 8, "<i8", nullptr, 0, true},
      {"max_qty", 80, 8, "<i8", nullptr, 0, true},
  };
};

template <>
struct shanraq::sm::RecordLayout<shanraq::book::Event> {
  static constexpr const char* kName = "BookEvent";
  static constexpr FieldInfo kFields[] = {
      {"seq", 0, 8, "<u8"},
      {"time_ns", 8, 8, "<i8"},
      {"type", 16, 1, "u1"},
      {"reason", 17, 1, "u1"},
      {"side", 18, 1, "u1"},
      {"order_type", 19, 1, "u1"},
      {"command", 20, 1, "u1"},
      {"tif", 21, 1, "u1"},
      {"reserved0", 22, 2, "<u2"},
      {"symbol", 24, 4, "<u4"},
      {"reserved1", 28, 4, "<u4"},
      {"order_id", 32, 8, "<u8"},
      {"account", 40, 8, "<u8"},
      {"price", 48, 8, "<i8"},
      {"qty", 56, 8, "<i8"},
      {"other_order_id", 64, 8, "<u8"},
      {"other_account", 72, 8, "<u8"},
      {"remaining", 80, 8, "<i8"},
      {"other_remaining", 88, 8, "<i8"},
      // kSymbolAdded / kSymbolUpdated: the spec, at the command's offsets.
      {"tick_size", 48, 8, "<i8", nullptr, 0, true},
      {"lot_size", 56, 8, "<i8", nullptr, 0, true},
      {"min_price", 64, 8, "<i8", nullptr, 0, true},
      {"max_price", 72, 8, "<i8", nullptr, 0, true},
      {"max_qty", 80, 8, "<i8", nullptr, 0, true},
  };
};

template <>
struct shanraq::sm::EnumTable<shanraq::book::CommandKind> {
  static constexpr const char* kName = "CommandKind";
  static constexpr EnumMember kMembers[] = {
      {"SUBMIT", 1},     {"CANCEL", 2},        {"AMEND", 3},       {"MASS_CANCEL", 4},   {"ADVANCE_TIME", 5},
      {"ADD_SYMBOL", 6}, {"UPDATE_SYMBOL", 7}, {"HALT_SYMBOL", 8}, {"RESUME_SYMBOL", 9},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::Side> {
  static constexpr const char* kName = "Side";
  static constexpr EnumMember kMembers[] = {{"BUY", 1}, {"SELL", 2}};
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::OrderType> {
  static constexpr const char* kName = "OrderType";
  static constexpr EnumMember kMembers[] = {{"LIMIT", 1}, {"MARKET", 2}, {"STOP", 3}, {"STOP_LIMIT", 4}};
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::TimeInForce> {
  static constexpr const char* kName = "TimeInForce";
  static constexpr EnumMember kMembers[] = {{"GTC", 1}, {"IOC", 2}, {"FOK", 3}, {"GTD", 4}};
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::Stp> {
  static constexpr const char* kName = "SelfTradePrevention";
  static constexpr EnumMember kMembers[] = {
      {"NONE", 0}, {"CANCEL_NEWEST", 1}, {"CANCEL_OLDEST", 2}, {"CANCEL_BOTH", 3}, {"DECREMENT_BOTH", 4},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::EventType> {
  static constexpr const char* kName = "EventType";
  static constexpr EnumMember kMembers[] = {
      {"ACCEPTED", 1},       {"REJECTED", 2},        {"TRADE", 3},          {"CANCELLED", 4},
      {"AMENDED", 5},        {"TRIGGERED", 6},       {"MASS_CANCELLED", 7}, {"MD_ADD", 8},
      {"MD_MODIFY", 9},      {"MD_DELETE", 10},      {"SYMBOL_ADDED", 11},  {"SYMBOL_UPDATED", 12},
      {"SYMBOL_HALTED", 13}, {"SYMBOL_RESUMED", 14}, {"TIME_ADVANCED", 15},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::RejectReason> {
  static constexpr const char* kName = "RejectReason";
  static constexpr EnumMember kMembers[] = {
      {"NONE", 0},
      {"INVALID_COMMAND", 1},
      {"INVALID_ORDER_ID", 2},
      {"DUPLICATE_ORDER_ID", 3},
      {"UNKNOWN_SYMBOL", 4},
      {"INVALID_SIDE", 5},
      {"INVALID_ORDER_TYPE", 6},
      {"INVALID_TIME_IN_FORCE", 7},
      {"INVALID_QTY", 8},
      {"INVALID_PRICE", 9},
      {"PRICE_OUT_OF_BAND", 10},
      {"PRICE_OFF_TICK", 11},
      {"QTY_OFF_LOT", 12},
      {"NOTIONAL_OVERFLOW", 13},
      {"INVALID_STOP_PRICE", 14},
      {"INVALID_DISPLAY_QTY", 15},
      {"INVALID_EXPIRE_TIME", 16},
      {"INVALID_STP", 17},
      {"INVALID_FLAGS", 18},
      {"UNSUPPORTED_COMBINATION", 19},
      {"POST_ONLY_WOULD_TAKE", 20},
      {"UNKNOWN_ORDER", 21},
      {"AMEND_BELOW_FILLED", 22},
      {"ORDER_CAPACITY", 23},
      {"LEVEL_CAPACITY", 24},
      {"INVALID_TIME", 25},
      {"ID_OUTSIDE_WINDOW", 26},
      {"DUPLICATE_SYMBOL", 27},
      {"SYMBOL_CAPACITY", 28},
      {"INVALID_SPEC", 29},
      {"SYMBOL_HALTED", 30},
      {"SYMBOL_NOT_HALTED", 31},
      {"QTY_OVERFLOW", 32},
      {"TOO_MANY_SLICES", 33},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::CancelReason> {
  static constexpr const char* kName = "CancelReason";
  static constexpr EnumMember kMembers[] = {
      {"NONE", 0},    {"USER", 1},        {"IOC_REMAINDER", 2}, {"FOK_NOT_FILLABLE", 3}, {"SELF_TRADE", 4},
      {"EXPIRED", 5}, {"MASS_CANCEL", 6}, {"CAPACITY", 7},      {"QTY_OVERFLOW", 8},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::book::OrderState> {
  static constexpr const char* kName = "OrderState";
  static constexpr EnumMember kMembers[] = {
      {"UNKNOWN", 0}, {"RESTING", 1}, {"PENDING_STOP", 2}, {"FILLED", 3}, {"CANCELLED", 4}, {"REJECTED", 5},
  };
};

namespace shanraq::book {
static_assert(sm::tiles(sm::RecordLayout<Command>::kFields, sizeof(Command)));
static_assert(sm::tiles(sm::RecordLayout<Event>::kFields, sizeof(Event)));
static_assert(sm::CommandRecord<Command> && sm::EventRecord<Event>);
}  // namespace shanraq::book

namespace shanraq::book {
// Every enumerator is in its table, in value order (the tables are dense up
// to their last member, so the count pins the last value).
static_assert(sm::enum_count<CommandKind>() == 9 && static_cast<int>(CommandKind::kResumeSymbol) == 9);
static_assert(sm::enum_count<EventType>() == 15 && static_cast<int>(EventType::kTimeAdvanced) == 15);
static_assert(sm::enum_count<RejectReason>() == 34 && static_cast<int>(RejectReason::kTooManySlices) == 33);
static_assert(sm::enum_count<CancelReason>() == 9 && static_cast<int>(CancelReason::kQtyOverflow) == 8);
static_assert(sm::enum_count<OrderState>() == 6 && static_cast<int>(OrderState::kRejected) == 5);
static_assert(sm::enum_count<Stp>() == 5 && static_cast<int>(Stp::kDecrementBoth) == 4);
}  // namespace shanraq::book
