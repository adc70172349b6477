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
// through lookups).
struct ResultArray {
  std::uint32_t* results;
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t i, std::uint32_t code, std::uint64_t, std::uint64_t) noexcept { results[i] = code; }
};
struct Discard {
  void expired(std::size_t, const Transfer&, std::uint64_t) noexcept {}
  void result(std::size_t, std::uint32_t, std::uint64_t, std::uint64_t) noexcept {}
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

}  // namespace shanraq::ledger::detail

namespace shanraq::ledger {

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
CreateTransferResult Ledger::transfer_one(const Transfer& t, std::uint64_t now, std::size_t at,
                                          Sink& sink) noexcept {
  // Exactly run_transfers over this one record without the pipeline's
  // set-up (measured: the per-call binding spends most of its time around
  // this call; docs/perf_ledger.md). A lone LINKED transfer is a chain left
  // open: it changes nothing but takes its timestamp.
  if (!expiries_.empty()) [[unlikely]] expire_due(now, at, sink);
  if (capacity_.idempotency_window_ns != 0) evict_step(kEvictPerEvent, std::max(now, last_timestamp_ + 1));
  const std::uint64_t ts = next_timestamp(now);
  CreateTransferResult r = CreateTransferResult::kLinkedEventChainOpen;
  if (!detail::has(t.flags, transfer_flags::kLinked)) [[likely]] {
    const IdHashes h{hash_id(t.id), hash_id(t.debit_account_id), hash_id(t.credit_account_id),
                     hash_id(t.pending_id), 0, 0};
    r = apply_transfer(t, h, ts);
    if (r != CreateTransferResult::kOk && is_transient(r)) [[unlikely]] remember_failed(t.id, ts);
  }
  sink.result(at, static_cast<std::uint32_t>(r), t.id, ts);
  return r;
}

template <class Src, class Sink>
void Ledger::run_accounts(const Src& src, std::size_t n, Sink& sink) noexcept {
  using AR = CreateAccountResult;
  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t chain_start = kNone;
  bool broken = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Account& a = src.account(i);
    const bool linked = detail::has(a.flags, account_flags::kLinked);
    const std::uint64_t now = src.now(i);
    if (chain_start == kNone) {
      // Holds are released only between chains, so a chain's rollback never
      // has to undo an expiry.
      if (!expiries_.empty()) [[unlikely]] expire_due(now, i, sink);
      if (linked) {
        chain_start = i;
        chain_begin();
      }
    }
    const std::uint64_t ts = next_timestamp(now);
    const bool ends_chain = linked && (i + 1 == n || src.ends_request(i) || i + 1 - chain_start == kMaxChain);
    AR r;
    if (broken) {
      r = AR::kLinkedEventFailed;
    } else if (ends_chain) {
      r = AR::kLinkedEventChainOpen;
    } else {
      r = apply_account(a, ts);
    }
    if (r != AR::kOk && chain_start != kNone && !broken) {
      broken = true;
      chain_rollback();
      for (std::size_t j = chain_start; j < i; ++j) {
        chain_results_[j - chain_start].code = static_cast<std::uint32_t>(AR::kLinkedEventFailed);
      }
    }
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
void Ledger::run_transfers(const Src& src, std::size_t n, Sink& sink) noexcept {
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
  constexpr std::size_t kRing = 32;  // power of two > kSlotAhead
  static_assert((kRing & (kRing - 1)) == 0 && kRing > kSlotAhead && kSlotAhead > kRecordAhead &&
                kRecordAhead > kHoldSlotAhead && kHoldSlotAhead > kHoldRecordAhead);
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

  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t chain_start = kNone;
  bool broken = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kSlotAhead < n) hash_stage(i + kSlotAhead);
    if (i + kRecordAhead < n) record_stage(i + kRecordAhead);
    if (i + kHoldSlotAhead < n) hold_slot_stage(i + kHoldSlotAhead);
    if (i + kHoldRecordAhead < n) hold_record_stage(i + kHoldRecordAhead);
    const Transfer& t = src.transfer(i);
    const bool linked = detail::has(t.flags, transfer_flags::kLinked);
    const std::uint64_t now = src.now(i);
    if (chain_start == kNone) {
      // Holds are released only between chains, so a chain's rollback never
      // has to undo an expiry; eviction likewise (a chain's rollback drops
      // the records it appended, by position).
      if (!expiries_.empty()) [[unlikely]] expire_due(now, i, sink);
      if (capacity_.idempotency_window_ns != 0) {
        const std::size_t members =
            linked ? detail::chain_length(src, i, n, [&](std::size_t k) { return src.transfer(k).flags; }) : 1;
        evict_step(kEvictPerEvent * members, std::max(now, last_timestamp_ + 1));
      }
      if (linked) [[unlikely]] {
        chain_start = i;
        chain_begin();
      }
    }
    const std::uint64_t ts = next_timestamp(now);
    const bool ends_chain = linked && (i + 1 == n || src.ends_request(i) || i + 1 - chain_start == kMaxChain);
    TR r;
    if (broken) [[unlikely]] {
      r = TR::kLinkedEventFailed;
    } else if (ends_chain) [[unlikely]] {
      r = TR::kLinkedEventChainOpen;
    } else {
      r = apply_transfer(t, ring[i % kRing], ts);
    }
    if (r != TR::kOk) [[unlikely]] {
      if (chain_start != kNone && !broken) {
        broken = true;
        chain_rollback();
        for (std::size_t j = chain_start; j < i; ++j) {
          chain_results_[j - chain_start].code = static_cast<std::uint32_t>(TR::kLinkedEventFailed);
        }
      }
      if (is_transient(r)) remember_failed(t.id, ts);
    }
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
    throw CapacityError("ledger account capacity exceeded: " + std::to_string(accounts) +
                        " accounts need room, " + std::to_string(cap.accounts - account_count) + " of " +
                        std::to_string(cap.accounts) + " left; nothing was applied");
  }
  if (transfers > std::size_t{cap.transfers} - transfer_count) {
    throw CapacityError("ledger transfer capacity exceeded: " + std::to_string(transfers) +
                        " transfers need room, " + std::to_string(cap.transfers - transfer_count) + " of " +
                        std::to_string(cap.transfers) +
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
