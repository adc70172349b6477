// Records, flags and result codes of the double-entry ledger. The records are
// the wire format of the batch API: numpy's ACCOUNT_DTYPE and TRANSFER_DTYPE
// (shanraq_core.ledger) mirror them byte for byte, so a numpy array is handed
// to C++ without conversion. Names, flag bits and result-code values follow
// TigerBeetle's (docs.tigerbeetle.com/reference), so its documents carry over;
// the differences are listed where they occur and in docs/ledger.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shanraq::ledger {

// ---- flags -------------------------------------------------------------------
// TigerBeetle's bit positions. Its `imported` bits (4 for accounts, 8 for
// transfers) are reserved here: this ledger always assigns timestamps itself.
namespace account_flags {
inline constexpr std::uint16_t kNone = 0;
inline constexpr std::uint16_t kLinked = 1U << 0;
inline constexpr std::uint16_t kDebitsMustNotExceedCredits = 1U << 1;
inline constexpr std::uint16_t kCreditsMustNotExceedDebits = 1U << 2;
inline constexpr std::uint16_t kHistory = 1U << 3;
inline constexpr std::uint16_t kClosed = 1U << 5;
inline constexpr std::uint16_t kKnown = kLinked | kDebitsMustNotExceedCredits | kCreditsMustNotExceedDebits |
                                        kHistory | kClosed;
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
inline constexpr std::uint16_t kKnown = kLinked | kPending | kPostPendingTransfer | kVoidPendingTransfer |
                                        kBalancingDebit | kBalancingCredit | kClosingDebit | kClosingCredit;
}  // namespace transfer_flags

// Reserved id value (TigerBeetle reserves 2^128 - 1; our ids are 64-bit).
inline constexpr std::uint64_t kIdMax = ~std::uint64_t{0};
// Timestamps and timeouts are nanoseconds and stay below 2^63 (TigerBeetle's
// u63), so `timestamp + timeout` is checked against this bound.
inline constexpr std::uint64_t kTimeMax = (std::uint64_t{1} << 63) - 1;

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
  std::uint64_t timestamp;  // ns; assigned by the ledger, must be 0 on input
  std::uint64_t limit;
};
static_assert(sizeof(Account) == 96);
static_assert(offsetof(Account, user_data_128) == 40 && offsetof(Account, ledger) == 72);
static_assert(offsetof(Account, timestamp) == 80 && offsetof(Account, limit) == 88);

// A transfer. `timeout` is in nanoseconds (the unit of the command stream's
// time), where TigerBeetle's is u32 seconds. In stored transfers `reserved`
// holds the pending status (PendingStatus); on input it must be 0.
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
  std::uint64_t timeout;
  std::uint64_t timestamp;
};
static_assert(sizeof(Transfer) == 96);
static_assert(offsetof(Transfer, ledger) == 68 && offsetof(Transfer, code) == 72);
static_assert(offsetof(Transfer, reserved) == 76 && offsetof(Transfer, timeout) == 80);

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
// Values are TigerBeetle's. Declared in descending precedence: when several
// apply, the first listed is returned. Extensions have values >= 100.
enum class CreateAccountResult : std::uint32_t {
  kOk = 0,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  kTimestampMustBeZero = 3,
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
};

enum class CreateTransferResult : std::uint32_t {
  kOk = 0,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  kTimestampMustBeZero = 3,
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
  // TigerBeetle's pre-0.16 code: here a single-phase or pending transfer must
  // move value unless it is balancing or closing.
  kAmountMustNotBeZero = 18,
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

}  // namespace shanraq::ledger
