// Wire types of the exchange (exchange.hpp): the fixed-size ExchangeCommand it
// consumes, the fixed-size ExchangeEvent it emits, their enumerations and the
// tables that describe them (common/state_machine.hpp). The numpy dtypes and
// the Python IntEnums are built from these tables.
//
// Units: prices in ticks and quantities in lots as in the matching engine
// (int64, > 0); asset amounts in the asset's minor units (the ledger's u64,
// carried as int64 in [1, kMaxAmount]); a symbol converts between them with
// two scales: base amount = qty x base_scale, quote amount (notional) =
// price x qty x quote_scale. Fees are basis points of the notional.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "shanraq/book/types.hpp"
#include "shanraq/common/state_machine.hpp"

namespace shanraq::exchange {

using book::OrderType;
using book::Side;
using book::Stp;
using book::TimeInForce;

enum class CommandKind : std::uint8_t {
  kPlace = 1,
  kCancel = 2,
  kAmend = 3,
  kMassCancel = 4,    // the user's orders, optionally of one symbol (kFlagMassBySymbol)
  kAdvanceTime = 5,   // moves the clock, expires due GTD orders
  kAddAsset = 6,      // asset: a ledger of its own, with fee, external and escrow accounts
  kAddSymbol = 7,     // symbol over base `asset` and `quote_asset` (aliases below)
  kAddUser = 8,       // user: one account per asset, now and for assets added later
  kDeposit = 9,       // external -> user, `amount` of `asset`, ledger transfer id `transfer_id`
  kWithdraw = 10,     // user -> external, only from the available balance
  kSetLimits = 11,    // user's max_open_orders and max_notional (0 = no limit)
  kSetPositionLimit = 12,  // user's max_position in `asset` (0 = no limit)
  kHaltSymbol = 13,
  kResumeSymbol = 14,
};

// Command::flags bits (the matching engine's values).
inline constexpr std::uint8_t kFlagPostOnly = book::kFlagPostOnly;          // place
inline constexpr std::uint8_t kFlagMassBySymbol = book::kFlagMassBySymbol;  // mass cancel: only `symbol`

// The largest amount of an asset anything may hold, move or total: deposits
// are refused past a supply of this per asset, so no sum of balances, holds
// or fees of one asset can reach 2^63, and a hold computed for an order is
// refused (NOTIONAL_OVERFLOW) above it.
inline constexpr std::uint64_t kMaxAmount = std::uint64_t{1} << 62;
// Fees are at most 100% (10,000 bp) of the notional.
inline constexpr std::uint16_t kMaxFeeBps = 10000;

enum class EventType : std::uint8_t {
  kAccepted = 1,
  kRejected = 2,
  kTrade = 3,
  kCancelled = 4,
  kAmended = 5,
  kTriggered = 6,
  kMassCancelled = 7,  // qty = orders cancelled
  kTimeAdvanced = 8,   // qty = orders expired
  kAssetAdded = 9,
  kSymbolAdded = 10,
  kUserAdded = 11,
  kDeposited = 12,   // amount; hold = the user's available balance after it
  kWithdrawn = 13,   // likewise
  kLimitsSet = 14,
  kSymbolHalted = 15,
  kSymbolResumed = 16,
};

// Reject reasons: the matching engine's (1..33, same values and meanings,
// book::RejectReason) and the exchange's own (64 and up).
enum class RejectReason : std::uint8_t {
  kNone = 0,
  // 1..33: book::RejectReason
  kUnknownUser = 64,
  kUnknownAsset = 65,
  kDuplicateUser = 66,
  kDuplicateAsset = 67,
  kInsufficientBalance = 68,  // the order's hold (or the withdrawal) exceeds the available balance
  kNotOwner = 69,             // cancel/amend of another user's order
  kMaxOpenOrders = 70,
  kMaxNotional = 71,
  kMaxPosition = 72,
  kProtectionPriceRequired = 73,  // market or stop buy without a protection price
  kInvalidAmount = 74,            // deposit/withdraw amount outside [1, kMaxAmount]
  kSupplyLimit = 75,              // a deposit would take the asset's supply past kMaxAmount
  kInvalidFee = 76,               // fee bps above kMaxFeeBps
  kInvalidScale = 77,             // base_scale or quote_scale 0
  kSameAsset = 78,                // base and quote are one asset
  kDuplicateTransfer = 79,        // deposit/withdraw id already used (ledger: exists)
  kLedgerRejected = 80,           // another ledger result (event amount = CreateTransferResult)
  kUserCapacity = 81,
  kAssetCapacity = 82,
  kAccountCapacity = 83,  // the ledger has no room for the accounts
  kTransferCapacity = 84,  // the ledger has no room for the deposit/withdraw record
  kInvalidTransferId = 85,
  kInvalidUserId = 86,
  kInvalidAssetId = 87,
};

// One instruction (88 bytes, as the matching engine's: every field is one
// an order needs, and the configuration commands reuse them under alias
// names, so nothing is carried that some kind does not use).
//   place: user, symbol, order_id, side, order_type, tif, stp, flags, price
//     (limit; for a market or stop buy the protection price, required:
//     the worst price it may trade at, which sizes its hold), qty,
//     stop_price, display_qty, expire_ns
//   cancel: user, order_id;  amend: user, order_id, price/qty/stop_price (0 = keep)
//   mass cancel: user (+ symbol with kFlagMassBySymbol), order_id = a tag echoed
//   add asset: asset;  add user: user;  halt/resume: symbol
//   add symbol: symbol, asset (base), quote_asset, maker_fee_bps,
//     taker_fee_bps, base_scale, quote_scale, tick_size .. max_qty
//   deposit/withdraw: user, asset, transfer_id, amount
//   set limits: user, max_notional, max_open_orders
//   set position limit: user, asset, max_position
struct ExchangeCommand {
  std::uint64_t seq;
  std::int64_t time_ns;
  CommandKind kind;
  Side side;
  OrderType order_type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  std::uint16_t reserved0;
  std::uint32_t symbol;
  std::uint32_t asset;
  std::uint64_t user;
  std::uint64_t order_id;
  std::int64_t price;
  std::int64_t qty;
  std::int64_t stop_price;
  std::int64_t display_qty;
  std::int64_t expire_ns;
};
static_assert(sizeof(ExchangeCommand) == 88 && alignof(ExchangeCommand) == 8);
static_assert(offsetof(ExchangeCommand, symbol) == 24 && offsetof(ExchangeCommand, user) == 32 &&
              offsetof(ExchangeCommand, order_id) == 40 && offsetof(ExchangeCommand, price) == 48 &&
              offsetof(ExchangeCommand, expire_ns) == 80);

// One outcome (128 bytes). The order events are the matching engine's
// (same meanings of price, qty, remaining, other_*), with the owner's user
// id for account, plus what the exchange did with the money:
//   trade: amount = notional (quote), fee = the taker's fee, other_fee = the
//     maker's fee (both quote), hold = the taker's hold after it, other_hold
//     the maker's
//   accepted/cancelled/amended/triggered: hold = the order's hold after it
//   deposited/withdrawn: amount, hold = the user's available balance after
//   rejected with kLedgerRejected: amount = the ledger's CreateTransferResult
struct ExchangeEvent {
  std::uint64_t seq;
  std::int64_t time_ns;
  EventType type;
  std::uint8_t reason;  // rejected: RejectReason; cancelled: book::CancelReason
  Side side;
  OrderType order_type;
  CommandKind command;
  TimeInForce tif;
  std::uint16_t reserved0;
  std::uint32_t symbol;
  std::uint32_t asset;
  std::uint64_t order_id;
  std::uint64_t user;
  std::int64_t price;
  std::int64_t qty;
  std::uint64_t other_order_id;
  std::uint64_t other_user;
  std::int64_t remaining;
  std::int64_t other_remaining;
  std::uint64_t amount;
  std::uint64_t fee;
  std::uint64_t other_fee;
  std::uint64_t hold;
  std::uint64_t other_hold;
};
static_assert(sizeof(ExchangeEvent) == 136 && alignof(ExchangeEvent) == 8);
static_assert(offsetof(ExchangeEvent, order_id) == 32 && offsetof(ExchangeEvent, amount) == 96 &&
              offsetof(ExchangeEvent, other_hold) == 128);

}  // namespace shanraq::exchange

template <>
struct shanraq::sm::RecordLayout<shanraq::exchange::ExchangeCommand> {
  static constexpr const char* kName = "ExchangeCommand";
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
      {"asset", 28, 4, "<u4"},
      {"user", 32, 8, "<u8"},
      {"order_id", 40, 8, "<u8"},
      {"price", 48, 8, "<i8"},
      {"qty", 56, 8, "<i8"},
      {"stop_price", 64, 8, "<i8"},
      {"display_qty", 72, 8, "<i8"},
      {"expire_ns", 80, 8, "<i8"},
      // add symbol
      {"quote_asset", 32, 4, "<u4", nullptr, 0, true},
      {"maker_fee_bps", 36, 2, "<u2", nullptr, 0, true},
      {"taker_fee_bps", 38, 2, "<u2", nullptr, 0, true},
      {"base_scale", 40, 4, "<u4", nullptr, 0, true},
      {"quote_scale", 44, 4, "<u4", nullptr, 0, true},
      {"tick_size", 48, 8, "<i8", nullptr, 0, true},
      {"lot_size", 56, 8, "<i8", nullptr, 0, true},
      {"min_price", 64, 8, "<i8", nullptr, 0, true},
      {"max_price", 72, 8, "<i8", nullptr, 0, true},
      {"max_qty", 80, 8, "<i8", nullptr, 0, true},
      // deposit / withdraw
      {"transfer_id", 40, 8, "<u8", nullptr, 0, true},
      {"amount", 56, 8, "<i8", nullptr, 0, true},
      // limits
      {"max_notional", 48, 8, "<i8", nullptr, 0, true},
      {"max_open_orders", 56, 8, "<i8", nullptr, 0, true},
      {"max_position", 64, 8, "<i8", nullptr, 0, true},
  };
};

template <>
struct shanraq::sm::RecordLayout<shanraq::exchange::ExchangeEvent> {
  static constexpr const char* kName = "ExchangeEvent";
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
      {"asset", 28, 4, "<u4"},
      {"order_id", 32, 8, "<u8"},
      {"user", 40, 8, "<u8"},
      {"price", 48, 8, "<i8"},
      {"qty", 56, 8, "<i8"},
      {"other_order_id", 64, 8, "<u8"},
      {"other_user", 72, 8, "<u8"},
      {"remaining", 80, 8, "<i8"},
      {"other_remaining", 88, 8, "<i8"},
      {"amount", 96, 8, "<u8"},
      {"fee", 104, 8, "<u8"},
      {"other_fee", 112, 8, "<u8"},
      {"hold", 120, 8, "<u8"},
      {"other_hold", 128, 8, "<u8"},
  };
};

template <>
struct shanraq::sm::EnumTable<shanraq::exchange::CommandKind> {
  static constexpr const char* kName = "ExchangeCommandKind";
  static constexpr EnumMember kMembers[] = {
      {"PLACE", 1},        {"CANCEL", 2},         {"AMEND", 3},       {"MASS_CANCEL", 4},
      {"ADVANCE_TIME", 5}, {"ADD_ASSET", 6},      {"ADD_SYMBOL", 7},  {"ADD_USER", 8},
      {"DEPOSIT", 9},      {"WITHDRAW", 10},      {"SET_LIMITS", 11}, {"SET_POSITION_LIMIT", 12},
      {"HALT_SYMBOL", 13}, {"RESUME_SYMBOL", 14},
  };
};
template <>
struct shanraq::sm::EnumTable<shanraq::exchange::EventType> {
  static constexpr const char* kName = "ExchangeEventType";
  static constexpr EnumMember kMembers[] = {
      {"ACCEPTED", 1},    {"REJECTED", 2},      {"TRADE", 3},          {"CANCELLED", 4},
      {"AMENDED", 5},     {"TRIGGERED", 6},     {"MASS_CANCELLED", 7}, {"TIME_ADVANCED", 8},
      {"ASSET_ADDED", 9}, {"SYMBOL_ADDED", 10}, {"USER_ADDED", 11},    {"DEPOSITED", 12},
      {"WITHDRAWN", 13},  {"LIMITS_SET", 14},   {"SYMBOL_HALTED", 15}, {"SYMBOL_RESUMED", 16},
  };
};
// The book's reasons 0..33, then the exchange's.
template <>
struct shanraq::sm::EnumTable<shanraq::exchange::RejectReason> {
  static constexpr const char* kName = "ExchangeRejectReason";
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
      {"UNKNOWN_USER", 64},
      {"UNKNOWN_ASSET", 65},
      {"DUPLICATE_USER", 66},
      {"DUPLICATE_ASSET", 67},
      {"INSUFFICIENT_BALANCE", 68},
      {"NOT_OWNER", 69},
      {"MAX_OPEN_ORDERS", 70},
      {"MAX_NOTIONAL", 71},
      {"MAX_POSITION", 72},
      {"PROTECTION_PRICE_REQUIRED", 73},
      {"INVALID_AMOUNT", 74},
      {"SUPPLY_LIMIT", 75},
      {"INVALID_FEE", 76},
      {"INVALID_SCALE", 77},
      {"SAME_ASSET", 78},
      {"DUPLICATE_TRANSFER", 79},
      {"LEDGER_REJECTED", 80},
      {"USER_CAPACITY", 81},
      {"ASSET_CAPACITY", 82},
      {"ACCOUNT_CAPACITY", 83},
      {"TRANSFER_CAPACITY", 84},
      {"INVALID_TRANSFER_ID", 85},
      {"INVALID_USER_ID", 86},
      {"INVALID_ASSET_ID", 87},
  };
};

namespace shanraq::exchange {
static_assert(sm::tiles(sm::RecordLayout<ExchangeCommand>::kFields, sizeof(ExchangeCommand)));
static_assert(sm::tiles(sm::RecordLayout<ExchangeEvent>::kFields, sizeof(ExchangeEvent)));
static_assert(sm::CommandRecord<ExchangeCommand> && sm::EventRecord<ExchangeEvent>);
static_assert(sm::enum_count<CommandKind>() == 14 && static_cast<int>(CommandKind::kResumeSymbol) == 14);
static_assert(sm::enum_count<EventType>() == 16 && static_cast<int>(EventType::kSymbolResumed) == 16);
static_assert(sm::enum_count<RejectReason>() == 58 && static_cast<int>(RejectReason::kInvalidAssetId) == 87);

// The exchange passes the book's reject reasons through unchanged, so its
// table starts with the book's, member for member: a reason added to or
// renamed in the book fails the build here instead of drifting.
constexpr bool starts_with_the_books_reasons() noexcept {
  using Book = sm::EnumTable<book::RejectReason>;
  using Ours = sm::EnumTable<RejectReason>;
  if (std::size(Ours::kMembers) < std::size(Book::kMembers)) return false;
  for (std::size_t i = 0; i < std::size(Book::kMembers); ++i) {
    if (std::string_view(Book::kMembers[i].name) != Ours::kMembers[i].name ||
        Book::kMembers[i].value != Ours::kMembers[i].value) {
      return false;
    }
  }
  return true;
}
static_assert(starts_with_the_books_reasons());
}  // namespace shanraq::exchange
