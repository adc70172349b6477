// Private to the ledger module: helpers shared by ledger.cpp and
// machine.cpp, and the request drivers (Ledger::run_transfers,
// run_accounts, transfer_one, expire_due), templates over where records
// come from and where answers go, so the core's requests and the state
// machine's commands run the same code.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "shanraq/ledger/ledger.hpp"

namespace shanraq::ledger::detail {

namespace af = account_flags;
namespace tf = transfer_flags;

inline bool has(std::uint16_t flags, std::uint16_t bit) noexcept { return (flags & bit) != 0; }

// A stored transfer's `reserved`: its PendingStatus in the low byte, and for
// a post or void the kSame* bits above it.
inline PendingStatus status_of(const Transfer& t) noexcept { return static_cast<PendingStatus>(t.reserved & 0xFFU); }
// A stored post or void records how it compares with its hold, so a retry of
// it is answered (transfer_exists) without reading the hold, which eviction
// may drop first: amount equal to the hold's, user data equal to the hold's.
inline constexpr std::uint32_t kSameAmount = 1U << 8;
inline constexpr std::uint32_t kSameUserData128 = 1U << 9;
inline constexpr std::uint32_t kSameUserData64 = 1U << 10;
inline constexpr std::uint32_t kSameUserData32 = 1U << 11;
inline constexpr std::uint32_t kSameBits = kSameAmount | kSameUserData128 | kSameUserData64 | kSameUserData32;
// A hold's stored pending_id is its expiry-heap back-pointer (ledger.hpp).
inline bool is_hold(const Transfer& t) noexcept { return (t.flags & tf::kPending) != 0; }
inline bool resolves_hold(const Transfer& t) noexcept {
  return (t.flags & (tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) != 0;
}

// Where a request's records come from: an array with one time for all (the
// core's requests, the state machine's conveniences).
struct TransferArray {
  const Transfer* records;
  std::uint64_t time;
  const Transfer& transfer(std::size_t i) const noexcept { return records[i]; }
  std::uint64_t now(std::size_t) const noexcept { return time; }
  bool ends_request(std::size_t) const noexcept { return false; }
};
struct AccountArray {
  const Account* records;
  std::uint64_t time;
  const Account& account(std::size_t i) const noexcept { return records[i]; }
  std::uint64_t now(std::size_t) const noexcept { return time; }
  bool ends_request(std::size_t) const noexcept { return false; }
};

// Where answers go: nowhere but the results array (expired holds are seen
// through lookups): status codes only, or TigerBeetle 0.17's results
// (status and timestamp).
struct ResultArray {
  std::uint32_t* results;
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t i, std::uint32_t code, std::uint64_t, std::uint64_t) noexcept { results[i] = code; }
};
struct CreateResultArray {
  CreateResult* results;
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t i, std::uint32_t code, std::uint64_t, std::uint64_t ts) noexcept {
    results[i] = CreateResult{ts, code, 0};
  }
};
struct Discard {
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t, std::uint32_t, std::uint64_t, std::uint64_t) noexcept {}
};
// The timestamp of the one result of a one-record request.
struct TimestampOut {
  std::uint64_t* timestamp;
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t, std::uint32_t, std::uint64_t, std::uint64_t ts) noexcept {
    if (timestamp != nullptr) *timestamp = ts;
  }
};

// Members of the chain starting at i (all linked but the last), as the
// drivers will delimit it: up to the first unlinked record, a record that
// ends the request, the run's last record or the kMaxChain-th member.
template <class Src, class Get>
std::size_t chain_length(const Src& src, std::size_t i, std::size_t n, Get flags_of) noexcept {
  std::size_t members = 1;
  for (std::size_t k = i; has(flags_of(k), tf::kLinked) && k + 1 < n && !src.ends_request(k) && members < kMaxChain;
       ++k) {
    ++members;
  }
  return members;
}

// A 96-byte record copy as six 16-byte moves: a plain struct assignment
// compiles to `rep movs`, whose start-up costs tens of cycles per transfer.
inline void copy_transfer(Transfer& dst, const Transfer& src) noexcept {
  using V = std::uint64_t __attribute__((vector_size(16), aligned(8)));
  static_assert(sizeof(Transfer) == 6 * sizeof(V));
  V v[6];
  std::memcpy(v, &src, sizeof(v));
  std::memcpy(&dst, v, sizeof(v));
}

using TR = CreateTransferResult;
using AR = CreateAccountResult;
using u128 = unsigned __int128;
inline constexpr std::uint32_t kNotFound = IdMap::kNotFound;

inline bool add_overflows(std::uint64_t a, std::uint64_t b) noexcept { return a > ~std::uint64_t{0} - b; }

inline bool ud128_is_zero(const std::uint64_t (&v)[2]) noexcept { return (v[0] | v[1]) == 0; }
inline bool ud128_eq(const std::uint64_t (&a)[2], const std::uint64_t (&b)[2]) noexcept {
  return a[0] == b[0] && a[1] == b[1];
}

inline std::uint32_t same_bits(const Transfer& e, const Transfer& p) noexcept {
  return (e.amount == p.amount ? kSameAmount : 0) |
         (e.user_data_128[0] == p.user_data_128[0] && e.user_data_128[1] == p.user_data_128[1] ? kSameUserData128 : 0) |
         (e.user_data_64 == p.user_data_64 ? kSameUserData64 : 0) |
         (e.user_data_32 == p.user_data_32 ? kSameUserData32 : 0);
}

// min(amount, max(0, room)): what a balancing transfer may move.
inline std::uint64_t clamp_room(std::uint64_t amount, __int128 room) noexcept {
  if (room <= 0) return 0;
  return room < static_cast<__int128>(amount) ? static_cast<std::uint64_t>(room) : amount;
}

}  // namespace shanraq::ledger::detail

namespace shanraq::ledger {

// The code every event runs is defined here, inline, so that both
// translation units that instantiate the request drivers (ledger.cpp for the
// core's requests, machine.cpp for the machine's commands and conveniences)
// inline it: out-of-line calls cost the batch path 4% (measured,
// docs/perf_ledger.md). The module's private names are used unqualified.
using namespace detail;

// ---- per-event code --------------------------------------------------------------

inline std::uint64_t Ledger::next_timestamp(std::uint64_t now) noexcept {
  last_timestamp_ = std::max(now, last_timestamp_ + 1);
  return last_timestamp_;
}

inline void Ledger::push_expiry(std::uint32_t transfer) noexcept {
  if (in_chain_) {
    deferred_expiries_[deferred_count_++] = transfer;
    return;
  }
  expiries_.push(transfer);
}

inline void Ledger::remove_expiry(std::uint32_t pos) noexcept {
  transfers_[expiries_.at(pos)].pending_id = 0;
  expiries_.remove_at(pos);
}

inline void Ledger::expire_one(std::uint32_t index, std::uint64_t ts) noexcept {
  Transfer& p = transfers_[index];
  const std::uint32_t dr = account_map_.find(p.debit_account_id, accounts_.get());
  const std::uint32_t cr = account_map_.find(p.credit_account_id, accounts_.get());
  AccountHot& d = accounts_[dr];
  AccountHot& c = accounts_[cr];
  d.debits_pending -= p.amount;
  c.credits_pending -= p.amount;
  if (has(p.flags, tf::kClosingDebit)) d.flags &= static_cast<std::uint16_t>(~af::kClosed);
  if (has(p.flags, tf::kClosingCredit)) c.flags &= static_cast<std::uint16_t>(~af::kClosed);
  p.reserved = static_cast<std::uint32_t>(PendingStatus::kExpired);
  history_reserved_ -= history_entries_for(d) + history_entries_for(c);
  record_history(dr, ts);
  record_history(cr, ts);
}

inline Transfer Ledger::exported(const Transfer& t) const noexcept {
  Transfer out = t;
  if (is_hold(t)) out.pending_id = 0;
  out.reserved &= 0xFFU;
  return out;
}

inline void Ledger::evict_step(std::size_t budget, std::uint64_t at) noexcept {
  const std::uint64_t w = capacity_.idempotency_window_ns;
  // Evicting a record erases its id from the map: a DRAM miss for its slot
  // and one per record the backward shift reads. The records to evict next
  // are the ones behind the head, so prefetch their slots kSlotAhead records
  // ahead and, once those are cached, the cluster's records kClusterAhead
  // ahead (measured: docs/perf_ledger.md).
  constexpr std::uint32_t kRecordAhead = 48;
  constexpr std::uint32_t kSlotAhead = 24;
  constexpr std::uint32_t kClusterAhead = 12;
  for (; budget > 0 && transfer_count_ > 0; --budget) {
    const std::uint32_t from = head_;
    const Transfer& t = transfers_[from];
    const bool live = status_of(t) == PendingStatus::kPending;
    if (!live && outside_window(t.id, at)) {
      // Once per eviction (not per examined record): the pipeline advances
      // by one record each time the head does.
      if (transfer_count_ > kRecordAhead) [[likely]] {
        // The old records themselves first: reading one to hash its id
        // would otherwise be a demand miss.
        const char* rec = reinterpret_cast<const char*>(&transfers_[slot_at(kRecordAhead)]);
        prefetch_line(rec);
        prefetch_line(rec + sizeof(Transfer) - 1);
        transfer_map_.prefetch_h(hash_id(transfers_[slot_at(kSlotAhead)].id));
        transfer_map_.prefetch_cluster(hash_id(transfers_[slot_at(kClusterAhead)].id), transfers_.get());
      }
      // Every later event has a timestamp of at least `at`, so this id is
      // outside the window for every later command too.
      const bool archived = capacity_.archive != 0 && status_of(t) != PendingStatus::kFailed;
      if (archived && archive_count_ == capacity_.archive) return;  // wait for drain_evicted
      if (archived) {
        std::uint32_t slot = archive_head_ + archive_count_;
        if (slot >= capacity_.archive) slot -= capacity_.archive;
        archive_[slot] = exported(t);
        ++archive_count_;
      }
      // A posted or voided timed hold may still have its (stale) heap entry.
      if (is_hold(t) && t.pending_id != 0) remove_expiry(static_cast<std::uint32_t>(t.pending_id - 1));
      transfer_map_.erase(t.id, transfers_.get());
      head_ = next_slot(head_);
      --transfer_count_;
      continue;
    }
    // Not evictable yet (a live hold, or an id not yet outside the window).
    // A record created inside the window stops the step: the records behind
    // it were created later (but for ones already moved back, which wait at
    // most W longer). An older one is a hold still pending or an id ahead of
    // its timestamp: move it to the back, so it never holds up the others.
    if (t.timestamp + w >= at) return;
    const std::uint32_t to = slot_at(transfer_count_);  // == from when the ring is full: a rotation
    head_ = next_slot(head_);
    if (to == from) continue;
    transfers_[to] = t;
    transfer_map_.reindex(t.id, transfers_.get(), to);
    if (is_hold(t) && t.pending_id != 0) expiries_.data()[t.pending_id - 1] = to;
  }
}

inline void Ledger::touch_account(std::uint32_t index) noexcept {
  if (in_chain_) account_undo_[account_undo_count_++] = AccountUndo{index, accounts_[index]};
}

inline void Ledger::set_status(std::uint32_t transfer, PendingStatus status) noexcept {
  if (in_chain_) status_undo_[status_undo_count_++] = StatusUndo{transfer, transfers_[transfer].reserved};
  transfers_[transfer].reserved = static_cast<std::uint32_t>(status);
}

inline void Ledger::link_side(std::uint32_t slot, std::uint32_t account, std::uint32_t side) noexcept {
  AccountHot& a = accounts_[account];
  const std::uint32_t me = (slot + 1) * 2 + side;
  const std::uint32_t old = a.transfers_tail;
  TransferLinks& l = links_[slot];
  l.ref[2 * side] = old;
  l.ref[2 * side + 1] = 0;
  if (old != 0) {
    links_[(old >> 1) - 1].ref[2 * (old & 1) + 1] = me;
  } else {
    transfers_first_[account] = me;
  }
  a.transfers_tail = me;
}

// Called once the transfer is stored and its accounts were touched (a
// chain's rollback restores their tails).
inline void Ledger::link_transfer(std::uint32_t slot, std::uint32_t dr, std::uint32_t cr) noexcept {
  if (!indexed()) [[unlikely]]
    return;
  link_side(slot, dr, 0);
  link_side(slot, cr, 1);
}

inline void Ledger::index_user_data(std::uint32_t slot, const Transfer& t) noexcept {
  if (!indexed()) [[unlikely]]
    return;
  if (!ud128_is_zero(t.user_data_128)) {
    std::uint32_t& head = ud128_heads_[ud_bucket(ud128_hash(t.user_data_128))];
    ud_links_[slot].prev128 = head;
    head = slot + 1;
  }
  if (t.user_data_64 != 0) {
    std::uint32_t& head = ud64_heads_[ud_bucket(hash_id(t.user_data_64))];
    ud_links_[slot].prev64 = head;
    head = slot + 1;
  }
}

// Undoes index_user_data for the newest stored transfer (a chain's rollback
// removes members newest first, so each is its chains' head).
inline void Ledger::unindex_user_data(std::uint32_t slot, const Transfer& t) noexcept {
  if (!indexed() || status_of(t) == PendingStatus::kFailed) return;
  if (!ud128_is_zero(t.user_data_128)) ud128_heads_[ud_bucket(ud128_hash(t.user_data_128))] = ud_links_[slot].prev128;
  if (t.user_data_64 != 0) ud64_heads_[ud_bucket(hash_id(t.user_data_64))] = ud_links_[slot].prev64;
}

inline void Ledger::record_history(std::uint32_t index, std::uint64_t ts) noexcept {
  AccountHot& a = accounts_[index];
  if (!has(a.flags, af::kHistory)) return;
  HistoryEntry& e = history_[history_count_];
  e.balance = AccountBalance{ts, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted};
  e.account = index;
  e.prev = a.history_head;
  a.history_head = ++history_count_;
}

inline std::uint32_t Ledger::append_transfer(const Transfer& t) noexcept {
  const std::uint32_t index = slot_at(transfer_count_++);
  transfers_[index] = t;
  transfer_map_.insert(t.id, index);
  return index;
}

inline std::uint32_t Ledger::append_transfer_at(const Transfer& t, std::size_t slot, std::uint64_t h) noexcept {
  const std::uint32_t index = slot_at(transfer_count_++);
  transfers_[index] = t;
  transfer_map_.insert_at(slot, h, index);
  return index;
}

inline void Ledger::remember_failed(std::uint64_t id, std::uint64_t ts) noexcept {
  Transfer t{};
  t.id = id;
  t.timestamp = ts;
  t.reserved = static_cast<std::uint32_t>(PendingStatus::kFailed);
  append_transfer(t);
}

inline CreateTransferResult Ledger::transfer_exists(const Transfer& t, const Transfer& e) const noexcept {
  if (t.flags != e.flags) return TR::kExistsWithDifferentFlags;
  if (t.pending_id != (is_hold(e) ? 0 : e.pending_id)) return TR::kExistsWithDifferentPendingId;
  if (t.timeout_ns != e.timeout_ns) return TR::kExistsWithDifferentTimeout;
  if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) {
    // Compared as against the hold it was created from, through the bits it
    // recorded then (the hold may have been evicted since).
    if (t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id) {
      return TR::kExistsWithDifferentDebitAccountId;
    }
    if (t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id) {
      return TR::kExistsWithDifferentCreditAccountId;
    }
    // TigerBeetle >= 0.16: a void's 0 and a post's AMOUNT_MAX mean "the whole
    // hold" (the retry matches if the original moved the whole hold); any
    // other amount, a post's 0 included, must equal what moved.
    const bool full = has(t.flags, tf::kVoidPendingTransfer) ? t.amount == 0 : t.amount == kAmountMax;
    if (full ? (e.reserved & kSameAmount) == 0 : t.amount != e.amount) return TR::kExistsWithDifferentAmount;
    if (ud128_is_zero(t.user_data_128) ? (e.reserved & kSameUserData128) == 0
                                       : !ud128_eq(t.user_data_128, e.user_data_128)) {
      return TR::kExistsWithDifferentUserData128;
    }
    if (t.user_data_64 == 0 ? (e.reserved & kSameUserData64) == 0 : t.user_data_64 != e.user_data_64) {
      return TR::kExistsWithDifferentUserData64;
    }
    if (t.user_data_32 == 0 ? (e.reserved & kSameUserData32) == 0 : t.user_data_32 != e.user_data_32) {
      return TR::kExistsWithDifferentUserData32;
    }
    if (t.ledger != 0 && t.ledger != e.ledger) return TR::kExistsWithDifferentLedger;
    if (t.code != 0 && t.code != e.code) return TR::kExistsWithDifferentCode;
    return TR::kExists;
  }
  if (t.debit_account_id != e.debit_account_id) return TR::kExistsWithDifferentDebitAccountId;
  if (t.credit_account_id != e.credit_account_id) return TR::kExistsWithDifferentCreditAccountId;
  // A balancing transfer's amount is an upper bound: a retry matches if the
  // amount actually moved is within it.
  if (has(t.flags, tf::kBalancingDebit | tf::kBalancingCredit) ? t.amount < e.amount : t.amount != e.amount) {
    return TR::kExistsWithDifferentAmount;
  }
  if (!ud128_eq(t.user_data_128, e.user_data_128)) return TR::kExistsWithDifferentUserData128;
  if (t.user_data_64 != e.user_data_64) return TR::kExistsWithDifferentUserData64;
  if (t.user_data_32 != e.user_data_32) return TR::kExistsWithDifferentUserData32;
  if (t.ledger != e.ledger) return TR::kExistsWithDifferentLedger;
  if (t.code != e.code) return TR::kExistsWithDifferentCode;
  return TR::kExists;
}

inline CreateTransferResult Ledger::apply_transfer(const Transfer& t, const IdHashes& h, bool imported_request,
                                                   std::uint64_t& ts) noexcept {
  // One branch for every non-imported transfer in a non-imported request.
  if (((t.flags & tf::kImported) != 0) | imported_request) [[unlikely]] {
    if (!imported_request) return TR::kImportedEventNotExpected;
    if (!has(t.flags, tf::kImported)) return TR::kImportedEventExpected;
    if (t.timestamp == 0 || t.timestamp > kTimeMax) return TR::kImportedEventTimestampOutOfRange;
    if (t.timestamp >= ts) return TR::kImportedEventTimestampMustNotAdvance;
  } else if (t.timestamp != 0) {
    return TR::kTimestampMustBeZero;
  }
  if ((t.flags & ~tf::kKnown) != 0) return TR::kReservedFlag;
  if (t.reserved != 0) return TR::kReservedField;
  if (t.id == 0) return TR::kIdMustNotBeZero;
  if (t.id == kIdMax) return TR::kIdMustNotBeIntMax;
  // Before the lookup, so the answer is the same whether evict() has dropped
  // the id yet or not.
  if (outside_window(t.id, ts)) [[unlikely]]
    return TR::kIdOutsideIdempotencyWindow;
  // One probe answers idempotency and, for a new id, where it will be stored.
  std::size_t slot = 0;
  const std::uint32_t found = transfer_map_.find_or_slot(t.id, h.id, transfers_.get(), &slot);
  if (found != kNotFound) [[unlikely]] {
    const Transfer& e = transfers_[found];
    if (status_of(e) == PendingStatus::kFailed) return TR::kIdAlreadyFailed;
    const CreateTransferResult r = transfer_exists(t, e);
    if (r == TR::kExists) ts = e.timestamp;  // TigerBeetle 0.17: the original's
    return r;
  }
  if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) return apply_post_or_void(t, h, slot, ts);

  if (t.debit_account_id == 0) return TR::kDebitAccountIdMustNotBeZero;
  if (t.debit_account_id == kIdMax) return TR::kDebitAccountIdMustNotBeIntMax;
  if (t.credit_account_id == 0) return TR::kCreditAccountIdMustNotBeZero;
  if (t.credit_account_id == kIdMax) return TR::kCreditAccountIdMustNotBeIntMax;
  if (t.credit_account_id == t.debit_account_id) return TR::kAccountsMustBeDifferent;
  if (t.pending_id != 0) return TR::kPendingIdMustBeZero;
  const bool pending = has(t.flags, tf::kPending);
  if (!pending) {
    if (t.timeout_ns != 0) return TR::kTimeoutReservedForPendingTransfer;
    if (has(t.flags, tf::kClosingDebit | tf::kClosingCredit)) return TR::kClosingTransferMustBePending;
  }
  // Amount 0 is valid (TigerBeetle >= 0.16): such a transfer moves nothing.
  if (t.ledger == 0) return TR::kLedgerMustNotBeZero;
  if (t.code == 0) return TR::kCodeMustNotBeZero;

  const std::uint32_t dr = account_map_.find_h(t.debit_account_id, h.debit, accounts_.get());
  if (dr == kNotFound) return TR::kDebitAccountNotFound;
  const std::uint32_t cr = account_map_.find_h(t.credit_account_id, h.credit, accounts_.get());
  if (cr == kNotFound) return TR::kCreditAccountNotFound;
  AccountHot& d = accounts_[dr];
  AccountHot& c = accounts_[cr];
  if (d.ledger != c.ledger) return TR::kAccountsMustHaveTheSameLedger;
  if (t.ledger != d.ledger) return TR::kTransferMustHaveTheSameLedgerAsAccounts;
  if (imported_request) [[unlikely]] {
    // One timeline (docs/ledger.md): an imported timestamp must be later
    // than every timestamp the ledger has taken, its accounts' included, so
    // TigerBeetle's IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_*_ACCOUNT cannot
    // arise after this check.
    if (t.timestamp <= last_timestamp_) return TR::kImportedEventTimestampMustNotRegress;
    if (t.timeout_ns != 0) return TR::kImportedEventTimeoutMustBeZero;
  }
  if (has(d.flags, af::kClosed)) return TR::kDebitAccountAlreadyClosed;
  if (has(c.flags, af::kClosed)) return TR::kCreditAccountAlreadyClosed;

  std::uint64_t amount = t.amount;
  if (has(t.flags, tf::kBalancingDebit | tf::kBalancingCredit)) [[unlikely]] {
    // At most the room the balance rule (types.hpp) leaves, and never less than 0.
    if (has(t.flags, tf::kBalancingDebit)) amount = clamp_room(amount, debit_room(d));
    if (has(t.flags, tf::kBalancingCredit)) amount = clamp_room(amount, credit_room(c));
  }

  // Overflow checks in TigerBeetle's order. Each sum is formed once; the
  // "debits" / "credits" totals are pending + posted + amount.
  std::uint64_t sum = 0;
  if (pending) {
    if (__builtin_add_overflow(d.debits_pending, amount, &sum)) return TR::kOverflowsDebitsPending;
    if (__builtin_add_overflow(c.credits_pending, amount, &sum)) return TR::kOverflowsCreditsPending;
  }
  if (__builtin_add_overflow(d.debits_posted, amount, &sum)) return TR::kOverflowsDebitsPosted;
  if (__builtin_add_overflow(c.credits_posted, amount, &sum)) return TR::kOverflowsCreditsPosted;
  const u128 debits = u128{d.debits_pending} + d.debits_posted + amount;
  const u128 credits = u128{c.credits_pending} + c.credits_posted + amount;
  if (debits > ~std::uint64_t{0}) return TR::kOverflowsDebits;
  if (credits > ~std::uint64_t{0}) return TR::kOverflowsCredits;
  if (t.timeout_ns > kTimeMax - ts) return TR::kOverflowsTimeout;
  // The balance rule (types.hpp): the constrained side's room must cover the amount.
  if (has(d.flags, af::kDebitsMustNotExceedCredits) && debits > u128{d.credits_posted} + d.limit) {
    return TR::kExceedsCredits;
  }
  if (has(c.flags, af::kCreditsMustNotExceedDebits) && credits > u128{c.debits_posted} + c.limit) {
    return TR::kExceedsDebits;
  }

  // Past every check: the transfer succeeds.
  if (imported_request) [[unlikely]]
    ts = last_timestamp_ = t.timestamp;
  if (in_chain_) [[unlikely]] {
    touch_account(dr);
    touch_account(cr);
  }
  const std::uint32_t index = slot_at(transfer_count_++);
  Transfer& stored = transfers_[index];
  copy_transfer(stored, t);
  stored.amount = amount;
  stored.timestamp = ts;
  stored.reserved = static_cast<std::uint32_t>(pending ? PendingStatus::kPending : PendingStatus::kNone);
  transfer_map_.insert_at(slot, h.id, index);
  link_transfer(index, dr, cr);
  index_user_data(index, stored);
  if (pending) {
    d.debits_pending += amount;
    c.credits_pending += amount;
  } else {
    d.debits_posted += amount;
    c.credits_posted += amount;
  }
  if (has(t.flags, tf::kClosingDebit | tf::kClosingCredit | tf::kPending) || has(d.flags | c.flags, af::kHistory))
      [[unlikely]] {
    if (has(t.flags, tf::kClosingDebit)) d.flags |= af::kClosed;
    if (has(t.flags, tf::kClosingCredit)) c.flags |= af::kClosed;
    record_history(dr, ts);
    record_history(cr, ts);
    if (pending && t.timeout_ns != 0) {
      history_reserved_ += history_entries_for(d) + history_entries_for(c);
      push_expiry(index);
    }
  }
  return TR::kOk;
}

inline CreateTransferResult Ledger::apply_post_or_void(const Transfer& t, const IdHashes& h, std::size_t slot,
                                                       std::uint64_t& ts) noexcept {
  const bool post = has(t.flags, tf::kPostPendingTransfer);
  const bool is_void = has(t.flags, tf::kVoidPendingTransfer);
  if (post && is_void) return TR::kFlagsAreMutuallyExclusive;
  if (has(t.flags,
          tf::kPending | tf::kBalancingDebit | tf::kBalancingCredit | tf::kClosingDebit | tf::kClosingCredit)) {
    return TR::kFlagsAreMutuallyExclusive;
  }
  if (t.pending_id == 0) return TR::kPendingIdMustNotBeZero;
  if (t.pending_id == kIdMax) return TR::kPendingIdMustNotBeIntMax;
  if (t.pending_id == t.id) return TR::kPendingIdMustBeDifferent;
  if (t.timeout_ns != 0) return TR::kTimeoutReservedForPendingTransfer;

  const std::uint32_t pi = transfer_map_.find_h(t.pending_id, h.pending, transfers_.get());
  // evict() keeps live holds only, so outside the window anything else answers
  // this code, whether or not it has been dropped yet.
  if (outside_window(t.pending_id, ts) && (pi == kNotFound || status_of(transfers_[pi]) != PendingStatus::kPending))
      [[unlikely]] {
    return TR::kPendingIdOutsideIdempotencyWindow;
  }
  if (pi == kNotFound || status_of(transfers_[pi]) == PendingStatus::kFailed) return TR::kPendingTransferNotFound;
  const Transfer& p = transfers_[pi];
  if (!has(p.flags, tf::kPending)) return TR::kPendingTransferNotPending;
  const std::uint32_t dr = account_map_.find(p.debit_account_id, accounts_.get());
  const std::uint32_t cr = account_map_.find(p.credit_account_id, accounts_.get());
  AccountHot& d = accounts_[dr];
  AccountHot& c = accounts_[cr];
  if (t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id) {
    return TR::kPendingTransferHasDifferentDebitAccountId;
  }
  if (t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id) {
    return TR::kPendingTransferHasDifferentCreditAccountId;
  }
  if (t.ledger != 0 && t.ledger != p.ledger) return TR::kPendingTransferHasDifferentLedger;
  if (t.code != 0 && t.code != p.code) return TR::kPendingTransferHasDifferentCode;
  // TigerBeetle >= 0.16: a void of 0 and a post of AMOUNT_MAX (2^64 - 1) take
  // the whole hold; a post of 0 posts 0 (and releases the hold).
  std::uint64_t amount = t.amount;
  if (is_void ? amount == 0 : amount == kAmountMax) amount = p.amount;
  if (amount > p.amount) return TR::kExceedsPendingTransferAmount;
  if (is_void && amount < p.amount) return TR::kPendingTransferHasDifferentAmount;
  switch (status_of(p)) {
    case PendingStatus::kPosted:
      return TR::kPendingTransferAlreadyPosted;
    case PendingStatus::kVoided:
      return TR::kPendingTransferAlreadyVoided;
    case PendingStatus::kExpired:
      return TR::kPendingTransferExpired;
    default:
      break;
  }
  // The hold may be due but not yet released (its expiry waits for the end of
  // the linked chain being applied): it is expired all the same.
  if (p.timeout_ns != 0 && p.timestamp + p.timeout_ns <= ts) return TR::kPendingTransferExpired;
  const bool imported = has(t.flags, tf::kImported);
  if (imported) [[unlikely]] {
    if (t.timestamp <= last_timestamp_) return TR::kImportedEventTimestampMustNotRegress;
  }
  // The only movement a closed account allows is voiding a hold.
  if (!is_void) {
    if (has(d.flags, af::kClosed)) return TR::kDebitAccountAlreadyClosed;
    if (has(c.flags, af::kClosed)) return TR::kCreditAccountAlreadyClosed;
  }

  touch_account(dr);
  touch_account(cr);
  Transfer stored{};
  stored.id = t.id;
  stored.debit_account_id = p.debit_account_id;
  stored.credit_account_id = p.credit_account_id;
  stored.amount = amount;
  stored.pending_id = t.pending_id;
  if (ud128_is_zero(t.user_data_128)) {
    stored.user_data_128[0] = p.user_data_128[0];
    stored.user_data_128[1] = p.user_data_128[1];
  } else {
    stored.user_data_128[0] = t.user_data_128[0];
    stored.user_data_128[1] = t.user_data_128[1];
  }
  stored.user_data_64 = t.user_data_64 != 0 ? t.user_data_64 : p.user_data_64;
  stored.user_data_32 = t.user_data_32 != 0 ? t.user_data_32 : p.user_data_32;
  stored.ledger = p.ledger;
  stored.code = p.code;
  stored.flags = t.flags;
  if (imported) [[unlikely]]
    ts = last_timestamp_ = t.timestamp;
  stored.timestamp = ts;
  stored.reserved = same_bits(stored, p);
  const std::uint64_t held = p.amount;
  const std::uint16_t p_flags = p.flags;
  const bool timed = p.timeout_ns != 0;
  set_status(pi, post ? PendingStatus::kPosted : PendingStatus::kVoided);
  const std::uint32_t index = append_transfer_at(stored, slot, h.id);
  link_transfer(index, dr, cr);
  index_user_data(index, stored);
  d.debits_pending -= held;
  c.credits_pending -= held;
  if (post) {
    d.debits_posted += amount;
    c.credits_posted += amount;
  } else {
    if (has(p_flags, tf::kClosingDebit)) d.flags &= static_cast<std::uint16_t>(~af::kClosed);
    if (has(p_flags, tf::kClosingCredit)) c.flags &= static_cast<std::uint16_t>(~af::kClosed);
  }
  if (timed) history_reserved_ -= history_entries_for(d) + history_entries_for(c);
  record_history(dr, ts);
  record_history(cr, ts);
  return TR::kOk;
}

// ---- request drivers ---------------------------------------------------------------

template <class Sink>
std::size_t Ledger::expire_due(std::uint64_t now, std::size_t at, Sink& sink) noexcept {
  std::size_t expired = 0;
  while (!expiries_.empty()) {
    const std::uint32_t top = expiries_.top();
    const Transfer& hold = transfers_[top];
    // Holds posted or voided before their timeout leave a stale heap entry.
    if (detail::status_of(hold) != PendingStatus::kPending) {
      remove_expiry(0);
      continue;
    }
    if (hold.timestamp + hold.timeout_ns > std::max(now, last_timestamp_ + 1)) break;
    remove_expiry(0);
    const std::uint64_t ts = next_timestamp(now);
    expire_one(top, ts);
    sink.expired(at, exported(transfers_[top]), ts);
    ++expired;
  }
  return expired;
}

template <class Sink>
CreateTransferResult Ledger::transfer_one(const Transfer& t, std::uint64_t now, std::size_t at, Sink& sink) noexcept {
  // Exactly run_transfers over this one record (a request of its own) without
  // the pipeline's set-up (measured: the per-call binding spends most of its
  // time around this call; docs/perf_ledger.md). A lone LINKED transfer is a
  // chain left open: it changes nothing but takes its timestamp.
  if (!expiries_.empty()) [[unlikely]]
    expire_due(now, at, sink);
  if (capacity_.idempotency_window_ns != 0) evict_step(kEvictPerEvent, std::max(now, last_timestamp_ + 1));
  const bool imported = detail::has(t.flags, transfer_flags::kImported);
  std::uint64_t ts = imported ? std::max(now, last_timestamp_ + 1) : next_timestamp(now);
  CreateTransferResult r = CreateTransferResult::kLinkedEventChainOpen;
  if (!detail::has(t.flags, transfer_flags::kLinked)) [[likely]] {
    const IdHashes h{
        hash_id(t.id), hash_id(t.debit_account_id), hash_id(t.credit_account_id), hash_id(t.pending_id), 0, 0};
    r = apply_transfer(t, h, imported, ts);
    if (r != CreateTransferResult::kCreated && is_transient(r)) [[unlikely]] {
      remember_failed(t.id, imported ? last_timestamp_ : ts);
    }
  }
  sink.result(at, static_cast<std::uint32_t>(r), t.id, ts);
  return r;
}

template <class Src, class Sink>
void Ledger::run_accounts(const Src& src, std::size_t n, Sink& sink, Request& request) noexcept {
  using AR = CreateAccountResult;
  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t chain_start = kNone;
  bool broken = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Account& a = src.account(i);
    const bool linked = detail::has(a.flags, account_flags::kLinked);
    const std::uint64_t now = src.now(i);
    // The first record of a request decides whether it imports (TigerBeetle:
    // the first event of the batch).
    if (!request.open) request = Request{true, detail::has(a.flags, account_flags::kImported)};
    const bool imported = request.imported;
    if (chain_start == kNone) {
      // Holds are released only between chains, so a chain's rollback never
      // has to undo an expiry.
      if (!expiries_.empty()) [[unlikely]]
        expire_due(now, i, sink);
      if (linked) {
        chain_start = i;
        chain_begin(imported);
      }
    }
    // An imported request takes no timestamp but the ones it imports; its
    // other answers carry the time they were validated.
    std::uint64_t ts = imported ? std::max(now, last_timestamp_ + 1) : next_timestamp(now);
    const bool ends_chain = linked && (i + 1 == n || src.ends_request(i) || i + 1 - chain_start == kMaxChain);
    AR r;
    // TigerBeetle's order: a chain left open is answered as such even when
    // the chain has already failed.
    if (ends_chain) {
      r = AR::kLinkedEventChainOpen;
    } else if (broken) {
      r = AR::kLinkedEventFailed;
    } else {
      r = apply_account(a, imported, ts);
    }
    if (r != AR::kCreated && chain_start != kNone && !broken) {
      broken = true;
      chain_rollback();
      for (std::size_t j = chain_start; j < i; ++j) {
        chain_results_[j - chain_start].code = static_cast<std::uint32_t>(AR::kLinkedEventFailed);
      }
    }
    if (src.ends_request(i)) request.open = false;
    if (chain_start == kNone) {
      sink.result(i, static_cast<std::uint32_t>(r), a.id, ts);
      continue;
    }
    chain_results_[i - chain_start] = ChainResult{static_cast<std::uint32_t>(r), ts};
    if (!linked || ends_chain) {
      if (!broken) chain_commit();
      for (std::size_t j = chain_start; j <= i; ++j) {
        const ChainResult& c = chain_results_[j - chain_start];
        sink.result(j, c.code, src.account(j).id, c.timestamp);
      }
      chain_start = kNone;
      broken = false;
    }
  }
}

template <class Src, class Sink>
void Ledger::run_transfers(const Src& src, std::size_t n, Sink& sink, Request& request) noexcept {
  using TR = CreateTransferResult;
  // A software pipeline over the request (results are exactly those of
  // applying the transfers one by one: the stages only hash and prefetch).
  // With 1M accounts a transfer's map slots and account lines are DRAM
  // misses, and the ~150 instructions that apply one transfer are too many
  // for the out-of-order window to overlap the next transfer's misses, so:
  //   kSlotAhead transfers ahead: hash the ids once, prefetch the transfer-id
  //     slot, both account-map slots and the pending id's slot;
  //   kRecordAhead ahead: read those home slots, now cached, and prefetch the
  //     records they name (one 64-byte line per account, the hold's record);
  //   kHoldSlotAhead / kHoldRecordAhead ahead: the same for the accounts of
  //     the hold a post or void names;
  //   now: apply, with the hashes already computed.
  // Measured (docs/perf_ledger.md): the record stage makes a transfer 2.3x
  // faster than slot prefetches alone (183 -> 79 ns); slot/record distances
  // from 8/4 to 32/16 measure within noise of each other (77-85 ns).
  constexpr std::size_t kSlotAhead = 16;
  constexpr std::size_t kRecordAhead = 8;
  constexpr std::size_t kHoldSlotAhead = 5;
  constexpr std::size_t kHoldRecordAhead = 2;
  constexpr std::size_t kTailAhead = 4;
  constexpr std::size_t kRing = 32;  // power of two > kSlotAhead
  static_assert((kRing & (kRing - 1)) == 0 && kRing > kSlotAhead && kSlotAhead > kRecordAhead &&
                kRecordAhead > kHoldSlotAhead && kHoldSlotAhead > kHoldRecordAhead && kRecordAhead > kTailAhead);
  IdHashes ring[kRing];
  const AccountHot* accounts = accounts_.get();
  const Transfer* stored = transfers_.get();
  // Branch-free: a post's account ids and a payment's pending id are 0, and
  // prefetching the (cached) slot of id 0 costs less than a mispredicted
  // branch on the ~10% of posts; a home slot naming another id (or none)
  // prefetches a useless line, never a wrong result.
  auto hash_stage = [&](std::size_t k) {
    const Transfer& f = src.transfer(k);
    IdHashes& h = ring[k % kRing];
    h.id = hash_id(f.id);
    h.debit = hash_id(f.debit_account_id);
    h.credit = hash_id(f.credit_account_id);
    h.pending = hash_id(f.pending_id);
    transfer_map_.prefetch_h(h.id);
    account_map_.prefetch_h(h.debit);
    account_map_.prefetch_h(h.credit);
    transfer_map_.prefetch_h(h.pending);
  };
  auto record_stage = [&](std::size_t k) {
    const IdHashes& h = ring[k % kRing];
    prefetch_line(&accounts[account_map_.home_index_h(h.debit)]);
    prefetch_line(&accounts[account_map_.home_index_h(h.credit)]);
    const char* r = reinterpret_cast<const char*>(&stored[transfer_map_.home_index_h(h.pending)]);
    prefetch_line(r);
    prefetch_line(r + sizeof(Transfer) - 1);
    // The query indexes (no window): the user-data chain heads the transfer
    // will take (random lines of tables as large as the store).
    if (indexed()) {
      const Transfer& f = src.transfer(k);
      if (!ud128_is_zero(f.user_data_128)) prefetch_line(&ud128_heads_[ud_bucket(ud128_hash(f.user_data_128))]);
      if (f.user_data_64 != 0) prefetch_line(&ud64_heads_[ud_bucket(hash_id(f.user_data_64))]);
    }
  };
  // Once the account lines are cached: the link records of the accounts'
  // newest transfers, whose `next` the transfer will set (a random line
  // each). The tail read here may change before the transfer runs (a
  // transfer in between touching the same account); that only wastes the
  // prefetch.
  auto tail_stage = [&](std::size_t k) {
    const IdHashes& h = ring[k % kRing];
    const std::uint32_t td = accounts[account_map_.home_index_h(h.debit)].transfers_tail;
    const std::uint32_t tc = accounts[account_map_.home_index_h(h.credit)].transfers_tail;
    if (td != 0) prefetch_line(&links_[(td >> 1) - 1]);
    if (tc != 0) prefetch_line(&links_[(tc >> 1) - 1]);
  };
  // A post or void names its accounts only through its hold, so its account
  // lines take two more stages once the hold's record is cached.
  auto hold_slot_stage = [&](std::size_t k) {
    IdHashes& h = ring[k % kRing];
    const Transfer& p = stored[transfer_map_.home_index_h(h.pending)];
    h.hold_debit = hash_id(p.debit_account_id);
    h.hold_credit = hash_id(p.credit_account_id);
    account_map_.prefetch_h(h.hold_debit);
    account_map_.prefetch_h(h.hold_credit);
  };
  auto hold_record_stage = [&](std::size_t k) {
    const IdHashes& h = ring[k % kRing];
    prefetch_line(&accounts[account_map_.home_index_h(h.hold_debit)]);
    prefetch_line(&accounts[account_map_.home_index_h(h.hold_credit)]);
  };
  for (std::size_t k = 0; k < std::min(n, kSlotAhead); ++k) hash_stage(k);
  for (std::size_t k = 0; k < std::min(n, kRecordAhead); ++k) record_stage(k);
  for (std::size_t k = 0; k < std::min(n, kHoldSlotAhead); ++k) hold_slot_stage(k);
  for (std::size_t k = 0; k < std::min(n, kHoldRecordAhead); ++k) hold_record_stage(k);
  const bool links = indexed();
  for (std::size_t k = 0; links && k < std::min(n, kTailAhead); ++k) tail_stage(k);

  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t chain_start = kNone;
  bool broken = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kSlotAhead < n) hash_stage(i + kSlotAhead);
    if (i + kRecordAhead < n) record_stage(i + kRecordAhead);
    if (i + kHoldSlotAhead < n) hold_slot_stage(i + kHoldSlotAhead);
    if (i + kHoldRecordAhead < n) hold_record_stage(i + kHoldRecordAhead);
    if (links && i + kTailAhead < n) tail_stage(i + kTailAhead);
    const Transfer& t = src.transfer(i);
    const bool linked = detail::has(t.flags, transfer_flags::kLinked);
    const std::uint64_t now = src.now(i);
    // The first record of a request decides whether it imports.
    if (!request.open) request = Request{true, detail::has(t.flags, transfer_flags::kImported)};
    const bool imported = request.imported;
    if (chain_start == kNone) {
      // Holds are released only between chains, so a chain's rollback never
      // has to undo an expiry; eviction likewise (a chain's rollback drops
      // the records it appended, by position).
      if (!expiries_.empty()) [[unlikely]]
        expire_due(now, i, sink);
      if (capacity_.idempotency_window_ns != 0) {
        const std::size_t members =
            linked ? detail::chain_length(src, i, n, [&](std::size_t k) { return src.transfer(k).flags; }) : 1;
        evict_step(kEvictPerEvent * members, std::max(now, last_timestamp_ + 1));
      }
      if (linked) [[unlikely]] {
        chain_start = i;
        chain_begin(imported);
      }
    }
    // An imported request takes no timestamp but the ones it imports; its
    // other answers carry the time they were validated.
    std::uint64_t ts = imported ? std::max(now, last_timestamp_ + 1) : next_timestamp(now);
    const bool ends_chain = linked && (i + 1 == n || src.ends_request(i) || i + 1 - chain_start == kMaxChain);
    TR r;
    // TigerBeetle's order: a chain left open is answered as such even when
    // the chain has already failed.
    if (ends_chain) [[unlikely]] {
      r = TR::kLinkedEventChainOpen;
    } else if (broken) [[unlikely]] {
      r = TR::kLinkedEventFailed;
    } else {
      r = apply_transfer(t, ring[i % kRing], imported, ts);
    }
    if (r != TR::kCreated) [[unlikely]] {
      if (chain_start != kNone && !broken) {
        broken = true;
        chain_rollback();
        for (std::size_t j = chain_start; j < i; ++j) {
          chain_results_[j - chain_start].code = static_cast<std::uint32_t>(TR::kLinkedEventFailed);
        }
      }
      if (is_transient(r)) remember_failed(t.id, imported ? last_timestamp_ : ts);
    }
    if (src.ends_request(i)) [[unlikely]]
      request.open = false;
    if (chain_start == kNone) [[likely]] {
      sink.result(i, static_cast<std::uint32_t>(r), t.id, ts);
      continue;
    }
    chain_results_[i - chain_start] = ChainResult{static_cast<std::uint32_t>(r), ts};
    if (!linked || ends_chain) {
      if (!broken) chain_commit();
      for (std::size_t j = chain_start; j <= i; ++j) {
        const ChainResult& c = chain_results_[j - chain_start];
        sink.result(j, c.code, src.transfer(j).id, c.timestamp);
      }
      chain_start = kNone;
      broken = false;
    }
  }
}

// Throws CapacityError unless `accounts` more accounts and `transfers` more
// transfers (stored or remembered as failed) fit, and the history entries
// they may need: at most 2 each now and 2 more reserved for a timed hold's
// expiry, so 4 per transfer unless the precise count (need_history(), a
// scan of the request) shows fewer. Nothing is applied before it passes.
template <class NeedHistory>
void ledger_check_room(const LedgerCapacity& cap, std::size_t account_count, std::size_t transfer_count,
                       std::uint64_t history_used, bool any_history, std::size_t accounts, std::size_t transfers,
                       NeedHistory need_history) {
  if (accounts > std::size_t{cap.accounts} - account_count) {
    throw CapacityError("ledger account capacity exceeded: " + std::to_string(accounts) + " accounts need room, " +
                        std::to_string(cap.accounts - account_count) + " of " + std::to_string(cap.accounts) +
                        " left; nothing was applied");
  }
  if (transfers > std::size_t{cap.transfers} - transfer_count) {
    throw CapacityError("ledger transfer capacity exceeded: " + std::to_string(transfers) + " transfers need room, " +
                        std::to_string(cap.transfers - transfer_count) + " of " + std::to_string(cap.transfers) +
                        " left (stored transfers and remembered failed ids count); nothing was applied");
  }
  if (!any_history || transfers == 0) return;
  const std::uint64_t free = std::uint64_t{cap.history} - history_used;
  if (4 * std::uint64_t{transfers} <= free) return;
  const std::uint64_t need = need_history();
  if (need > free) {
    throw CapacityError("ledger history capacity exceeded: the request may need " + std::to_string(need) +
                        " history entries, " + std::to_string(free) + " of " + std::to_string(cap.history) +
                        " are free (entries reserved for timed holds on history accounts count as used); "
                        "nothing was applied");
  }
}

template <class NeedHistory>
void Ledger::check_room(std::size_t accounts, std::size_t transfers, NeedHistory need_history) const {
  ledger_check_room(capacity_, account_count_, transfer_count_, std::uint64_t{history_count_} + history_reserved_,
                    history_accounts_ != 0, accounts, transfers, need_history);
}

}  // namespace shanraq::ledger
