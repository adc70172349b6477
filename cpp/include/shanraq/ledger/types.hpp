// Records, flags and result codes of the double-entry ledger. The records are
// the wire format of the batch API: numpy's ACCOUNT_DTYPE and TRANSFER_DTYPE
// (shanraq_core.ledger) are built from the RecordLayout tables below, so a
// numpy array is handed to C++ without conversion. Names, flag bits and
// result-code values are TigerBeetle 0.17's (docs.tigerbeetle.com/reference),
// so its documents carry over; the differences are listed where they occur
// and in one table in docs/ledger.md. Enum values are written once, here; the
// Python enums are checked against the EnumTables at import.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shanraq/common/state_machine.hpp"

namespace shanraq::ledger {

// ---- flags -------------------------------------------------------------------
// TigerBeetle's bit positions. `imported`: the record carries its own
// timestamp (a migration from another system; docs/ledger.md).
namespace account_flags {
inline constexpr std::uint16_t kNone = 0;
inline constexpr std::uint16_t kLinked = 1U << 0;
inline constexpr std::uint16_t kDebitsMustNotExceedCredits = 1U << 1;
inline constexpr std::uint16_t kCreditsMustNotExceedDebits = 1U << 2;
inline constexpr std::uint16_t kHistory = 1U << 3;
inline constexpr std::uint16_t kImported = 1U << 4;
inline constexpr std::uint16_t kClosed = 1U << 5;
inline constexpr std::uint16_t kKnown = kLinked | kDebitsMustNotExceedCredits | kCreditsMustNotExceedDebits | kHistory |
                                        kImported | kClosed;
}  // namespace account_flags

namespace transfer_flags {
inline constexpr std::uint16_t kNone = 0;
inline constexpr std::uint16_t kLinked = 1U << 0;
inline constexpr std::uint16_t kPending = 1U << 1;
inline constexpr std::uint16_t kPostPendingTransfer = 1U << 2;
inline constexpr std::uint16_t kVoidPendingTransfer = 1U << 3;
inline constexpr std::uint16_t kBalancingDebit = 1U << 4;
inline constexpr std::uint16_t kBalancingCredit = 1U << 5;
inline constexpr std::uint16_t kClosingDebit = 1U << 6;
inline constexpr std::uint16_t kClosingCredit = 1U << 7;
inline constexpr std::uint16_t kImported = 1U << 8;
inline constexpr std::uint16_t kKnown = kLinked | kPending | kPostPendingTransfer | kVoidPendingTransfer |
                                        kBalancingDebit | kBalancingCredit | kClosingDebit | kClosingCredit | kImported;
}  // namespace transfer_flags

// Reserved id value (TigerBeetle reserves 2^128 - 1; our ids are 64-bit).
inline constexpr std::uint64_t kIdMax = ~std::uint64_t{0};
// TigerBeetle's AMOUNT_MAX (2^128 - 1 there, 2^64 - 1 here): a post of this
// amount posts the whole hold.
inline constexpr std::uint64_t kAmountMax = ~std::uint64_t{0};
// Timestamps and timeouts are nanoseconds and stay below 2^63 (TigerBeetle's
// u63), so `timestamp + timeout` is checked against this bound.
inline constexpr std::uint64_t kTimeMax = (std::uint64_t{1} << 63) - 1;
// The longest linked chain (TigerBeetle's batch size, 8190 events): the
// member at this position that is still linked ends the chain as a chain
// left open at the end of a batch (LINKED_EVENT_CHAIN_OPEN), as TigerBeetle's
// batch limit would. Bounds the undo logs, which are sized once.
inline constexpr std::size_t kMaxChain = 8190;

// The idempotency window (docs/ledger.md) reads a creation time from every
// transfer id: the high 42 bits are milliseconds since the Unix epoch (a
// 64-bit form of TigerBeetle's recommended ULID-like ids; good until 2109),
// the low 22 bits are the caller's sequence or random bits. Returns ns.
inline constexpr unsigned kIdTimeShift = 22;
constexpr std::uint64_t id_time_ns(std::uint64_t id) noexcept { return (id >> kIdTimeShift) * 1'000'000; }

// ---- records -----------------------------------------------------------------
// An account. Balances are u64 minor units. `limit` is our extension
// (TigerBeetle #2955): with debits_must_not_exceed_credits it is an overdraft,
// debits may exceed credits by up to `limit`; with credits_must_not_exceed_debits
// it is a credit line. It must be 0 on an account with neither flag.
struct Account {
  std::uint64_t id;
  std::uint64_t debits_pending;
  std::uint64_t debits_posted;
  std::uint64_t credits_pending;
  std::uint64_t credits_posted;
  std::uint64_t user_data_128[2];  // little-endian words: [0] low, [1] high
  std::uint64_t user_data_64;
  std::uint32_t user_data_32;
  std::uint32_t reserved;
  std::uint32_t ledger;
  std::uint16_t code;
  std::uint16_t flags;
  std::uint64_t timestamp;  // ns; assigned by the ledger (0 on input) unless imported
  std::uint64_t limit;
};
static_assert(sizeof(Account) == 96);
static_assert(offsetof(Account, user_data_128) == 40 && offsetof(Account, ledger) == 72);
static_assert(offsetof(Account, timestamp) == 80 && offsetof(Account, limit) == 88);

// A transfer. `timeout_ns` is in nanoseconds (the unit of the command
// stream's time), where TigerBeetle's `timeout` is u32 seconds. In stored
// transfers `reserved` holds the pending status (PendingStatus); on input it
// must be 0. `timestamp` must be 0 on input unless the transfer is imported.
struct Transfer {
  std::uint64_t id;
  std::uint64_t debit_account_id;
  std::uint64_t credit_account_id;
  std::uint64_t amount;
  std::uint64_t pending_id;
  std::uint64_t user_data_128[2];
  std::uint64_t user_data_64;
  std::uint32_t user_data_32;
  std::uint32_t ledger;
  std::uint16_t code;
  std::uint16_t flags;
  std::uint32_t reserved;
  std::uint64_t timeout_ns;
  std::uint64_t timestamp;
};
static_assert(sizeof(Transfer) == 96);
static_assert(offsetof(Transfer, ledger) == 68 && offsetof(Transfer, code) == 72);
static_assert(offsetof(Transfer, reserved) == 76 && offsetof(Transfer, timeout_ns) == 80);

// Balances of one account after one change (TigerBeetle's AccountBalance),
// kept for accounts with the history flag.
struct AccountBalance {
  std::uint64_t timestamp;
  std::uint64_t debits_pending;
  std::uint64_t debits_posted;
  std::uint64_t credits_pending;
  std::uint64_t credits_posted;
};
static_assert(sizeof(AccountBalance) == 40);

// ---- the balance rule -----------------------------------------------------------
// How much more an account may be debited (debit_room) or credited
// (credit_room) before its balance flag and limit refuse it:
//   debit_room  = credits_posted + limit - debits_posted - debits_pending
//   credit_room = debits_posted + limit - credits_posted - credits_pending
// where `limit` counts only on the side its flag constrains
// (debits_must_not_exceed_credits for debits, credits_must_not_exceed_debits
// for credits). Signed and 128-bit: credits_posted + limit may pass 2^64,
// and a room is negative when a lowered limit left the account beyond it.
// A transfer is refused with EXCEEDS_CREDITS (EXCEEDS_DEBITS) when the
// constrained side's room is below its amount; a balancing transfer moves
// at most max(0, room); an account's `balance` (the amount it can still
// move) is its credit_room if it is credit-limited, else its debit_room.
template <class A>
constexpr __int128 debit_room(const A& a) noexcept {
  const bool limited = (a.flags & account_flags::kDebitsMustNotExceedCredits) != 0;
  return static_cast<__int128>(a.credits_posted) + static_cast<__int128>(limited ? a.limit : 0) -
         static_cast<__int128>(a.debits_posted) - static_cast<__int128>(a.debits_pending);
}
template <class A>
constexpr __int128 credit_room(const A& a) noexcept {
  const bool limited = (a.flags & account_flags::kCreditsMustNotExceedDebits) != 0;
  return static_cast<__int128>(a.debits_posted) + static_cast<__int128>(limited ? a.limit : 0) -
         static_cast<__int128>(a.credits_posted) - static_cast<__int128>(a.credits_pending);
}
template <class A>
constexpr __int128 available_balance(const A& a) noexcept {
  return (a.flags & account_flags::kCreditsMustNotExceedDebits) != 0 ? credit_room(a) : debit_room(a);
}
// available_balance as sign and magnitude (two little-endian words), for
// bindings without a 128-bit integer type. |balance| < 2^66.
struct SignedAmount {
  std::uint64_t magnitude[2];
  bool negative;
};
constexpr SignedAmount split_signed(__int128 v) noexcept {
  const bool negative = v < 0;
  const unsigned __int128 m = negative ? static_cast<unsigned __int128>(-v) : static_cast<unsigned __int128>(v);
  return SignedAmount{{static_cast<std::uint64_t>(m), static_cast<std::uint64_t>(m >> 64)}, negative};
}
constexpr SignedAmount account_balance(const Account& a) noexcept { return split_signed(available_balance(a)); }

// TigerBeetle's TransferPendingStatus, plus kFailed: the id of a transfer that
// failed for a transient reason, remembered so a retry answers id_already_failed.
enum class PendingStatus : std::uint8_t {
  kNone = 0,  // a single-phase, post or void transfer
  kPending = 1,
  kPosted = 2,
  kVoided = 3,
  kExpired = 4,
  kFailed = 5,
};

// ---- result codes ------------------------------------------------------------
// Values are TigerBeetle 0.17's (its CreateAccountStatus and
// CreateTransferStatus): CREATED is 2^32 - 1 there and here. Declared in
// descending precedence: when several apply, the first listed is returned.
// Extensions have values >= 100. kOk is a C++ alias of kCreated (the name
// before 0.17; TigerBeetle's value 0, `deprecated_ok`, is never returned).
inline constexpr std::uint32_t kCreatedStatus = 0xFFFFFFFFU;

enum class CreateAccountResult : std::uint32_t {
  kCreated = kCreatedStatus,
  kOk = kCreated,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  kImportedEventExpected = 22,
  kImportedEventNotExpected = 23,
  kTimestampMustBeZero = 3,
  kImportedEventTimestampOutOfRange = 24,
  kImportedEventTimestampMustNotAdvance = 25,
  kReservedField = 4,
  kReservedFlag = 5,
  kIdMustNotBeZero = 6,
  kIdMustNotBeIntMax = 7,
  kExistsWithDifferentFlags = 15,
  kExistsWithDifferentUserData128 = 16,
  kExistsWithDifferentUserData64 = 17,
  kExistsWithDifferentUserData32 = 18,
  kExistsWithDifferentLedger = 19,
  kExistsWithDifferentCode = 20,
  kExists = 21,
  kFlagsAreMutuallyExclusive = 8,
  kDebitsPendingMustBeZero = 9,
  kDebitsPostedMustBeZero = 10,
  kCreditsPendingMustBeZero = 11,
  kCreditsPostedMustBeZero = 12,
  kLedgerMustNotBeZero = 13,
  kCodeMustNotBeZero = 14,
  // Extension: a nonzero limit needs a balance flag to apply to.
  kLimitRequiresBalanceFlag = 100,
  kImportedEventTimestampMustNotRegress = 26,
};

enum class CreateTransferResult : std::uint32_t {
  kCreated = kCreatedStatus,
  kOk = kCreated,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  kImportedEventExpected = 56,
  kImportedEventNotExpected = 57,
  kTimestampMustBeZero = 3,
  kImportedEventTimestampOutOfRange = 58,
  kImportedEventTimestampMustNotAdvance = 59,
  kReservedFlag = 4,
  kReservedField = 100,  // extension: Transfer.reserved must be 0
  kIdMustNotBeZero = 5,
  kIdMustNotBeIntMax = 6,
  // Extension: with an idempotency window W, an id whose embedded time is
  // older than the event's timestamp - W (docs/ledger.md). Not transient.
  kIdOutsideIdempotencyWindow = 101,
  kExistsWithDifferentFlags = 36,
  kExistsWithDifferentPendingId = 40,
  kExistsWithDifferentTimeout = 44,
  kExistsWithDifferentDebitAccountId = 37,
  kExistsWithDifferentCreditAccountId = 38,
  kExistsWithDifferentAmount = 39,
  kExistsWithDifferentUserData128 = 41,
  kExistsWithDifferentUserData64 = 42,
  kExistsWithDifferentUserData32 = 43,
  kExistsWithDifferentLedger = 67,
  kExistsWithDifferentCode = 45,
  kExists = 46,
  kIdAlreadyFailed = 68,
  kFlagsAreMutuallyExclusive = 7,
  kDebitAccountIdMustNotBeZero = 8,
  kDebitAccountIdMustNotBeIntMax = 9,
  kCreditAccountIdMustNotBeZero = 10,
  kCreditAccountIdMustNotBeIntMax = 11,
  kAccountsMustBeDifferent = 12,
  kPendingIdMustBeZero = 13,
  kPendingIdMustNotBeZero = 14,
  kPendingIdMustNotBeIntMax = 15,
  kPendingIdMustBeDifferent = 16,
  kTimeoutReservedForPendingTransfer = 17,
  // Extension: a post/void whose pending_id's embedded time is outside the
  // window and which names no live hold (the hold may have been evicted).
  kPendingIdOutsideIdempotencyWindow = 102,
  kClosingTransferMustBePending = 64,
  kLedgerMustNotBeZero = 19,
  kCodeMustNotBeZero = 20,
  kDebitAccountNotFound = 21,
  kCreditAccountNotFound = 22,
  kAccountsMustHaveTheSameLedger = 23,
  kTransferMustHaveTheSameLedgerAsAccounts = 24,
  kPendingTransferNotFound = 25,
  kPendingTransferNotPending = 26,
  kPendingTransferHasDifferentDebitAccountId = 27,
  kPendingTransferHasDifferentCreditAccountId = 28,
  kPendingTransferHasDifferentLedger = 29,
  kPendingTransferHasDifferentCode = 30,
  kExceedsPendingTransferAmount = 31,
  kPendingTransferHasDifferentAmount = 32,
  kPendingTransferAlreadyPosted = 33,
  kPendingTransferAlreadyVoided = 34,
  kPendingTransferExpired = 35,
  kImportedEventTimestampMustNotRegress = 60,
  kImportedEventTimestampMustPostdateDebitAccount = 61,
  kImportedEventTimestampMustPostdateCreditAccount = 62,
  kImportedEventTimeoutMustBeZero = 63,
  kDebitAccountAlreadyClosed = 65,
  kCreditAccountAlreadyClosed = 66,
  kOverflowsDebitsPending = 47,
  kOverflowsCreditsPending = 48,
  kOverflowsDebitsPosted = 49,
  kOverflowsCreditsPosted = 50,
  kOverflowsDebits = 51,
  kOverflowsCredits = 52,
  kOverflowsTimeout = 53,
  kExceedsCredits = 54,
  kExceedsDebits = 55,
};

// Result of set_account_limit (an extension; TigerBeetle has no such command).
enum class SetLimitResult : std::uint32_t {
  kOk = 0,
  kIdMustNotBeZero = 1,
  kAccountNotFound = 2,
  kLimitRequiresBalanceFlag = 3,
  kAccountClosed = 4,
};

// A create's answer as TigerBeetle 0.17 returns it (CreateAccountResult /
// CreateTransferResult there, 16 bytes): the status (a CreateAccountResult
// or CreateTransferResult value) and a timestamp: the created record's, the
// existing record's for EXISTS, otherwise the time the create was validated.
struct CreateResult {
  std::uint64_t timestamp;
  std::uint32_t status;
  std::uint32_t reserved;
};
static_assert(sizeof(CreateResult) == 16);

// ---- queries ------------------------------------------------------------------------
// TigerBeetle 0.17's AccountFilter and QueryFilter (u64 ids; 64 bytes each
// here). A field left 0 does not filter; timestamps bound the range
// inclusively (0: unbounded). A filter that breaks a constraint (is_valid
// below) matches nothing, as in TigerBeetle.
namespace account_filter_flags {
inline constexpr std::uint32_t kDebits = 1U << 0;    // transfers where the account is debited
inline constexpr std::uint32_t kCredits = 1U << 1;   // transfers where it is credited
inline constexpr std::uint32_t kReversed = 1U << 2;  // newest first
inline constexpr std::uint32_t kKnown = kDebits | kCredits | kReversed;
}  // namespace account_filter_flags
namespace query_filter_flags {
inline constexpr std::uint32_t kReversed = 1U << 0;  // newest first
inline constexpr std::uint32_t kKnown = kReversed;
}  // namespace query_filter_flags
// The most results one query returns (TigerBeetle's: the 128-byte records one
// 1 MiB reply holds); a larger limit is clamped to it.
inline constexpr std::uint32_t kQueryLimitMax = 8190;

struct AccountFilter {
  std::uint64_t account_id;
  std::uint64_t user_data_128[2];
  std::uint64_t user_data_64;
  std::uint32_t user_data_32;
  std::uint16_t code;
  std::uint16_t reserved;  // must be 0
  std::uint64_t timestamp_min;
  std::uint64_t timestamp_max;
  std::uint32_t limit;
  std::uint32_t flags;  // account_filter_flags
};
static_assert(sizeof(AccountFilter) == 64);

struct QueryFilter {
  std::uint64_t user_data_128[2];
  std::uint64_t user_data_64;
  std::uint32_t user_data_32;
  std::uint32_t ledger;
  std::uint16_t code;
  std::uint16_t reserved[3];  // must be 0
  std::uint64_t timestamp_min;
  std::uint64_t timestamp_max;
  std::uint32_t limit;
  std::uint32_t flags;  // query_filter_flags
};
static_assert(sizeof(QueryFilter) == 64);

// TigerBeetle's constraints: a valid account id, time bounds below 2^63 and
// in order, a nonzero limit, at least one of debits / credits, no unknown
// flag, reserved bytes 0.
constexpr bool is_valid(const AccountFilter& f) noexcept {
  namespace ff = account_filter_flags;
  return f.account_id != 0 && f.account_id != kIdMax && f.timestamp_min <= kTimeMax && f.timestamp_max <= kTimeMax &&
         (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max) && f.limit != 0 &&
         (f.flags & (ff::kDebits | ff::kCredits)) != 0 && (f.flags & ~ff::kKnown) == 0 && f.reserved == 0;
}
constexpr bool is_valid(const QueryFilter& f) noexcept {
  return f.timestamp_min <= kTimeMax && f.timestamp_max <= kTimeMax &&
         (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max) && f.limit != 0 &&
         (f.flags & ~query_filter_flags::kKnown) == 0 && (f.reserved[0] | f.reserved[1] | f.reserved[2]) == 0;
}
// Room a query's output needs: its limit, clamped to kQueryLimitMax.
constexpr std::size_t query_room(std::uint32_t limit) noexcept {
  return limit < kQueryLimitMax ? limit : kQueryLimitMax;
}

// True for failures that depend on the ledger's state (TigerBeetle's
// `transient()`): the id is then remembered, and a retry of the same id answers
// id_already_failed instead of succeeding later.
constexpr bool is_transient(CreateTransferResult r) noexcept {
  switch (r) {
    case CreateTransferResult::kDebitAccountNotFound:
    case CreateTransferResult::kCreditAccountNotFound:
    case CreateTransferResult::kPendingTransferNotFound:
    case CreateTransferResult::kExceedsCredits:
    case CreateTransferResult::kExceedsDebits:
    case CreateTransferResult::kDebitAccountAlreadyClosed:
    case CreateTransferResult::kCreditAccountAlreadyClosed:
      return true;
    default:
      return false;
  }
}

// ---- tables for the bindings (state_machine.hpp) -----------------------------------
struct AccountFlagBits;   // tags naming the flag tables
struct TransferFlagBits;

}  // namespace shanraq::ledger

namespace shanraq::sm {

template <>
struct RecordLayout<ledger::Account> {
  static constexpr const char* kName = "Account";
  // numpy has no 128-bit integer: user_data_128 is two little-endian words.
  static constexpr FieldInfo kFields[] = {
      {"id", 0, 8, "<u8"},
      {"debits_pending", 8, 8, "<u8"},
      {"debits_posted", 16, 8, "<u8"},
      {"credits_pending", 24, 8, "<u8"},
      {"credits_posted", 32, 8, "<u8"},
      {"user_data_128_lo", 40, 8, "<u8"},
      {"user_data_128_hi", 48, 8, "<u8"},
      {"user_data_64", 56, 8, "<u8"},
      {"user_data_32", 64, 4, "<u4"},
      {"reserved", 68, 4, "<u4"},
      {"ledger", 72, 4, "<u4"},
      {"code", 76, 2, "<u2"},
      {"flags", 78, 2, "<u2"},
      {"timestamp", 80, 8, "<u8"},
      {"limit", 88, 8, "<u8"},
  };
};

template <>
struct RecordLayout<ledger::Transfer> {
  static constexpr const char* kName = "Transfer";
  static constexpr FieldInfo kFields[] = {
      {"id", 0, 8, "<u8"},
      {"debit_account_id", 8, 8, "<u8"},
      {"credit_account_id", 16, 8, "<u8"},
      {"amount", 24, 8, "<u8"},
      {"pending_id", 32, 8, "<u8"},
      {"user_data_128_lo", 40, 8, "<u8"},
      {"user_data_128_hi", 48, 8, "<u8"},
      {"user_data_64", 56, 8, "<u8"},
      {"user_data_32", 64, 4, "<u4"},
      {"ledger", 68, 4, "<u4"},
      {"code", 72, 2, "<u2"},
      {"flags", 74, 2, "<u2"},
      {"reserved", 76, 4, "<u4"},
      {"timeout_ns", 80, 8, "<u8"},
      {"timestamp", 88, 8, "<u8"},
  };
};

template <>
struct RecordLayout<ledger::AccountBalance> {
  static constexpr const char* kName = "AccountBalance";
  static constexpr FieldInfo kFields[] = {
      {"timestamp", 0, 8, "<u8"},        {"debits_pending", 8, 8, "<u8"},  {"debits_posted", 16, 8, "<u8"},
      {"credits_pending", 24, 8, "<u8"}, {"credits_posted", 32, 8, "<u8"},
  };
};

template <>
struct RecordLayout<ledger::CreateResult> {
  static constexpr const char* kName = "CreateResult";
  static constexpr FieldInfo kFields[] = {
      {"timestamp", 0, 8, "<u8"}, {"status", 8, 4, "<u4"}, {"reserved", 12, 4, "<u4"}};
};

template <>
struct RecordLayout<ledger::AccountFilter> {
  static constexpr const char* kName = "AccountFilter";
  static constexpr FieldInfo kFields[] = {
      {"account_id", 0, 8, "<u8"},    {"user_data_128_lo", 8, 8, "<u8"}, {"user_data_128_hi", 16, 8, "<u8"},
      {"user_data_64", 24, 8, "<u8"}, {"user_data_32", 32, 4, "<u4"},    {"code", 36, 2, "<u2"},
      {"reserved", 38, 2, "<u2"},     {"timestamp_min", 40, 8, "<u8"},   {"timestamp_max", 48, 8, "<u8"},
      {"limit", 56, 4, "<u4"},        {"flags", 60, 4, "<u4"},
  };
};

template <>
struct RecordLayout<ledger::QueryFilter> {
  static constexpr const char* kName = "QueryFilter";
  static constexpr FieldInfo kFields[] = {
      {"user_data_128_lo", 0, 8, "<u8"}, {"user_data_128_hi", 8, 8, "<u8"}, {"user_data_64", 16, 8, "<u8"},
      {"user_data_32", 24, 4, "<u4"},    {"ledger", 28, 4, "<u4"},          {"code", 32, 2, "<u2"},
      {"reserved", 34, 6, "V6"},         {"timestamp_min", 40, 8, "<u8"},   {"timestamp_max", 48, 8, "<u8"},
      {"limit", 56, 4, "<u4"},           {"flags", 60, 4, "<u4"},
  };
};

template <>
struct EnumTable<ledger::CreateAccountResult> {
  static constexpr const char* kName = "CreateAccountResult";
  static constexpr EnumMember kMembers[] = {
      {"CREATED", ledger::kCreatedStatus},
      {"LINKED_EVENT_FAILED", 1},
      {"LINKED_EVENT_CHAIN_OPEN", 2},
      {"IMPORTED_EVENT_EXPECTED", 22},
      {"IMPORTED_EVENT_NOT_EXPECTED", 23},
      {"TIMESTAMP_MUST_BE_ZERO", 3},
      {"IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE", 24},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE", 25},
      {"RESERVED_FIELD", 4},
      {"RESERVED_FLAG", 5},
      {"ID_MUST_NOT_BE_ZERO", 6},
      {"ID_MUST_NOT_BE_INT_MAX", 7},
      {"EXISTS_WITH_DIFFERENT_FLAGS", 15},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_128", 16},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_64", 17},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_32", 18},
      {"EXISTS_WITH_DIFFERENT_LEDGER", 19},
      {"EXISTS_WITH_DIFFERENT_CODE", 20},
      {"EXISTS", 21},
      {"FLAGS_ARE_MUTUALLY_EXCLUSIVE", 8},
      {"DEBITS_PENDING_MUST_BE_ZERO", 9},
      {"DEBITS_POSTED_MUST_BE_ZERO", 10},
      {"CREDITS_PENDING_MUST_BE_ZERO", 11},
      {"CREDITS_POSTED_MUST_BE_ZERO", 12},
      {"LEDGER_MUST_NOT_BE_ZERO", 13},
      {"CODE_MUST_NOT_BE_ZERO", 14},
      {"LIMIT_REQUIRES_BALANCE_FLAG", 100},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS", 26},
  };
};

template <>
struct EnumTable<ledger::CreateTransferResult> {
  static constexpr const char* kName = "CreateTransferResult";
  static constexpr EnumMember kMembers[] = {
      {"CREATED", ledger::kCreatedStatus},
      {"LINKED_EVENT_FAILED", 1},
      {"LINKED_EVENT_CHAIN_OPEN", 2},
      {"IMPORTED_EVENT_EXPECTED", 56},
      {"IMPORTED_EVENT_NOT_EXPECTED", 57},
      {"TIMESTAMP_MUST_BE_ZERO", 3},
      {"IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE", 58},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE", 59},
      {"RESERVED_FLAG", 4},
      {"RESERVED_FIELD", 100},
      {"ID_MUST_NOT_BE_ZERO", 5},
      {"ID_MUST_NOT_BE_INT_MAX", 6},
      {"ID_OUTSIDE_IDEMPOTENCY_WINDOW", 101},
      {"EXISTS_WITH_DIFFERENT_FLAGS", 36},
      {"EXISTS_WITH_DIFFERENT_PENDING_ID", 40},
      {"EXISTS_WITH_DIFFERENT_TIMEOUT", 44},
      {"EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID", 37},
      {"EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID", 38},
      {"EXISTS_WITH_DIFFERENT_AMOUNT", 39},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_128", 41},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_64", 42},
      {"EXISTS_WITH_DIFFERENT_USER_DATA_32", 43},
      {"EXISTS_WITH_DIFFERENT_LEDGER", 67},
      {"EXISTS_WITH_DIFFERENT_CODE", 45},
      {"EXISTS", 46},
      {"ID_ALREADY_FAILED", 68},
      {"FLAGS_ARE_MUTUALLY_EXCLUSIVE", 7},
      {"DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO", 8},
      {"DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX", 9},
      {"CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO", 10},
      {"CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX", 11},
      {"ACCOUNTS_MUST_BE_DIFFERENT", 12},
      {"PENDING_ID_MUST_BE_ZERO", 13},
      {"PENDING_ID_MUST_NOT_BE_ZERO", 14},
      {"PENDING_ID_MUST_NOT_BE_INT_MAX", 15},
      {"PENDING_ID_MUST_BE_DIFFERENT", 16},
      {"TIMEOUT_RESERVED_FOR_PENDING_TRANSFER", 17},
      {"PENDING_ID_OUTSIDE_IDEMPOTENCY_WINDOW", 102},
      {"CLOSING_TRANSFER_MUST_BE_PENDING", 64},
      {"LEDGER_MUST_NOT_BE_ZERO", 19},
      {"CODE_MUST_NOT_BE_ZERO", 20},
      {"DEBIT_ACCOUNT_NOT_FOUND", 21},
      {"CREDIT_ACCOUNT_NOT_FOUND", 22},
      {"ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER", 23},
      {"TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS", 24},
      {"PENDING_TRANSFER_NOT_FOUND", 25},
      {"PENDING_TRANSFER_NOT_PENDING", 26},
      {"PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID", 27},
      {"PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID", 28},
      {"PENDING_TRANSFER_HAS_DIFFERENT_LEDGER", 29},
      {"PENDING_TRANSFER_HAS_DIFFERENT_CODE", 30},
      {"EXCEEDS_PENDING_TRANSFER_AMOUNT", 31},
      {"PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT", 32},
      {"PENDING_TRANSFER_ALREADY_POSTED", 33},
      {"PENDING_TRANSFER_ALREADY_VOIDED", 34},
      {"PENDING_TRANSFER_EXPIRED", 35},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS", 60},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_DEBIT_ACCOUNT", 61},
      {"IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_CREDIT_ACCOUNT", 62},
      {"IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO", 63},
      {"DEBIT_ACCOUNT_ALREADY_CLOSED", 65},
      {"CREDIT_ACCOUNT_ALREADY_CLOSED", 66},
      {"OVERFLOWS_DEBITS_PENDING", 47},
      {"OVERFLOWS_CREDITS_PENDING", 48},
      {"OVERFLOWS_DEBITS_POSTED", 49},
      {"OVERFLOWS_CREDITS_POSTED", 50},
      {"OVERFLOWS_DEBITS", 51},
      {"OVERFLOWS_CREDITS", 52},
      {"OVERFLOWS_TIMEOUT", 53},
      {"EXCEEDS_CREDITS", 54},
      {"EXCEEDS_DEBITS", 55},
  };
};

template <>
struct EnumTable<ledger::SetLimitResult> {
  static constexpr const char* kName = "SetLimitResult";
  static constexpr EnumMember kMembers[] = {
      {"OK", 0},
      {"ID_MUST_NOT_BE_ZERO", 1},
      {"ACCOUNT_NOT_FOUND", 2},
      {"LIMIT_REQUIRES_BALANCE_FLAG", 3},
      {"ACCOUNT_CLOSED", 4},
  };
};

// PendingStatus as callers see it; kFailed never leaves the ledger.
template <>
struct EnumTable<ledger::PendingStatus> {
  static constexpr const char* kName = "PendingStatus";
  static constexpr EnumMember kMembers[] = {
      {"NONE", 0}, {"PENDING", 1}, {"POSTED", 2}, {"VOIDED", 3}, {"EXPIRED", 4},
  };
};

// The flag bits (Python's IntFlag lists its single-bit members).
template <>
struct EnumTable<ledger::AccountFlagBits> {
  static constexpr const char* kName = "AccountFlags";
  static constexpr EnumMember kMembers[] = {
      {"LINKED", ledger::account_flags::kLinked},
      {"DEBITS_MUST_NOT_EXCEED_CREDITS", ledger::account_flags::kDebitsMustNotExceedCredits},
      {"CREDITS_MUST_NOT_EXCEED_DEBITS", ledger::account_flags::kCreditsMustNotExceedDebits},
      {"HISTORY", ledger::account_flags::kHistory},
      {"IMPORTED", ledger::account_flags::kImported},
      {"CLOSED", ledger::account_flags::kClosed},
  };
};

template <>
struct EnumTable<ledger::TransferFlagBits> {
  static constexpr const char* kName = "TransferFlags";
  static constexpr EnumMember kMembers[] = {
      {"LINKED", ledger::transfer_flags::kLinked},
      {"PENDING", ledger::transfer_flags::kPending},
      {"POST_PENDING_TRANSFER", ledger::transfer_flags::kPostPendingTransfer},
      {"VOID_PENDING_TRANSFER", ledger::transfer_flags::kVoidPendingTransfer},
      {"BALANCING_DEBIT", ledger::transfer_flags::kBalancingDebit},
      {"BALANCING_CREDIT", ledger::transfer_flags::kBalancingCredit},
      {"CLOSING_DEBIT", ledger::transfer_flags::kClosingDebit},
      {"CLOSING_CREDIT", ledger::transfer_flags::kClosingCredit},
      {"IMPORTED", ledger::transfer_flags::kImported},
  };
};

}  // namespace shanraq::sm

namespace shanraq::ledger {
static_assert(sm::tiles(sm::RecordLayout<Account>::kFields, sizeof(Account)));
static_assert(sm::tiles(sm::RecordLayout<Transfer>::kFields, sizeof(Transfer)));
static_assert(sm::tiles(sm::RecordLayout<AccountBalance>::kFields, sizeof(AccountBalance)));
static_assert(sm::tiles(sm::RecordLayout<CreateResult>::kFields, sizeof(CreateResult)));
static_assert(sm::tiles(sm::RecordLayout<AccountFilter>::kFields, sizeof(AccountFilter)));
static_assert(sm::tiles(sm::RecordLayout<QueryFilter>::kFields, sizeof(QueryFilter)));
namespace detail {
// The tables' offsets are the structs' (tiles() checks only that they cover
// every byte once).
template <class T>
consteval std::uint32_t offset_of(const char* name) {
  for (const sm::FieldInfo& f : sm::RecordLayout<T>::kFields) {
    const char* a = f.name;
    const char* b = name;
    while (*a != 0 && *a == *b) {
      ++a;
      ++b;
    }
    if (*a == *b) return f.offset;
  }
  return ~std::uint32_t{0};
}
}  // namespace detail
static_assert(detail::offset_of<Account>("user_data_128_lo") == offsetof(Account, user_data_128) &&
              detail::offset_of<Account>("user_data_32") == offsetof(Account, user_data_32) &&
              detail::offset_of<Account>("reserved") == offsetof(Account, reserved) &&
              detail::offset_of<Account>("ledger") == offsetof(Account, ledger) &&
              detail::offset_of<Account>("code") == offsetof(Account, code) &&
              detail::offset_of<Account>("flags") == offsetof(Account, flags) &&
              detail::offset_of<Account>("timestamp") == offsetof(Account, timestamp) &&
              detail::offset_of<Account>("limit") == offsetof(Account, limit));
static_assert(detail::offset_of<Transfer>("pending_id") == offsetof(Transfer, pending_id) &&
              detail::offset_of<Transfer>("user_data_128_lo") == offsetof(Transfer, user_data_128) &&
              detail::offset_of<Transfer>("user_data_32") == offsetof(Transfer, user_data_32) &&
              detail::offset_of<Transfer>("ledger") == offsetof(Transfer, ledger) &&
              detail::offset_of<Transfer>("code") == offsetof(Transfer, code) &&
              detail::offset_of<Transfer>("flags") == offsetof(Transfer, flags) &&
              detail::offset_of<Transfer>("reserved") == offsetof(Transfer, reserved) &&
              detail::offset_of<Transfer>("timeout_ns") == offsetof(Transfer, timeout_ns) &&
              detail::offset_of<Transfer>("timestamp") == offsetof(Transfer, timestamp));
}  // namespace shanraq::ledger
