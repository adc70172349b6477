#include "shanraq/ledger/ledger.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <cstring>
#include <string>

#include "shanraq/common/checksum.hpp"
#include "shanraq/common/platform.hpp"

namespace shanraq::ledger {

namespace af = account_flags;
namespace tf = transfer_flags;
using TR = CreateTransferResult;
using AR = CreateAccountResult;
using u128 = unsigned __int128;

namespace {

constexpr std::uint32_t kNotFound = IdMap::kNotFound;

inline bool has(std::uint16_t flags, std::uint16_t bit) noexcept { return (flags & bit) != 0; }

inline bool ud128_is_zero(const std::uint64_t (&v)[2]) noexcept { return (v[0] | v[1]) == 0; }
inline bool ud128_eq(const std::uint64_t (&a)[2], const std::uint64_t (&b)[2]) noexcept {
  return a[0] == b[0] && a[1] == b[1];
}

// A stored transfer's `reserved`: its PendingStatus in the low byte, and for
// a post or void the kSame* bits above it.
inline PendingStatus status_of(const Transfer& t) noexcept { return static_cast<PendingStatus>(t.reserved & 0xFFU); }
// A stored post or void records how it compares with its hold, so a retry of
// it is answered (transfer_exists) without reading the hold, which eviction
// may drop first: amount equal to the hold's, user data equal to the hold's.
constexpr std::uint32_t kSameAmount = 1U << 8;
constexpr std::uint32_t kSameUserData128 = 1U << 9;
constexpr std::uint32_t kSameUserData64 = 1U << 10;
constexpr std::uint32_t kSameUserData32 = 1U << 11;
constexpr std::uint32_t kSameBits = kSameAmount | kSameUserData128 | kSameUserData64 | kSameUserData32;
inline std::uint32_t same_bits(const Transfer& e, const Transfer& p) noexcept {
  return (e.amount == p.amount ? kSameAmount : 0) |
         (e.user_data_128[0] == p.user_data_128[0] && e.user_data_128[1] == p.user_data_128[1] ? kSameUserData128
                                                                                                : 0) |
         (e.user_data_64 == p.user_data_64 ? kSameUserData64 : 0) |
         (e.user_data_32 == p.user_data_32 ? kSameUserData32 : 0);
}
// A hold's stored pending_id is its expiry-heap back-pointer (ledger.hpp).
inline bool is_hold(const Transfer& t) noexcept { return (t.flags & tf::kPending) != 0; }

// Room a debit (credit) may still take before the account's balance flag and
// limit refuse it. u128 because credits_posted + limit may pass 2^64.
template <class A>
inline u128 debit_headroom(const A& a) noexcept {
  const u128 cap = u128{a.credits_posted} + (has(a.flags, af::kDebitsMustNotExceedCredits) ? a.limit : 0);
  const u128 used = u128{a.debits_posted} + a.debits_pending;
  return cap > used ? cap - used : 0;
}
template <class A>
inline u128 credit_headroom(const A& a) noexcept {
  const u128 cap = u128{a.debits_posted} + (has(a.flags, af::kCreditsMustNotExceedDebits) ? a.limit : 0);
  const u128 used = u128{a.credits_posted} + a.credits_pending;
  return cap > used ? cap - used : 0;
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

inline bool add_overflows(std::uint64_t a, std::uint64_t b) noexcept { return a > ~std::uint64_t{0} - b; }

constexpr std::uint64_t kSnapshotMagic = 0x01474C44514853ULL;  // "SHQLDG\x01"
// Version 2 follows the header with the idempotency window (u64 ns); version 3
// stores the expiry heap as 4-byte transfer indices instead of 16-byte
// (expires_at, index, pad) entries. Versions 1 (no window) and 2 are still read.
// Version 4 (automatic eviction) adds the archive (capacity, then count after
// the window; its records last), stores a hold's expiry-heap back-pointer in
// its pending_id and a post's or void's kSame* bits in its reserved field, and
// writes the transfer ring oldest first. Versions 1-3 are still read.
constexpr std::uint32_t kSnapshotVersion = 4;
// A version 1/2 expiry-heap entry, as it was written. (Version 3 stored
// 4-byte indices, as version 4 does.)
struct LegacyExpiry {
  std::uint64_t expires_at;
  std::uint32_t transfer;
  std::uint32_t pad;
};
static_assert(sizeof(LegacyExpiry) == 16);

struct SnapshotHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t accounts_capacity;
  std::uint32_t transfers_capacity;
  std::uint32_t history_capacity;
  std::uint32_t account_count;
  std::uint32_t transfer_count;
  std::uint32_t history_count;
  std::uint32_t expiry_count;
  std::uint32_t history_accounts;
  std::uint32_t pad;
  std::uint64_t history_reserved;
  std::uint64_t last_timestamp;
};
static_assert(sizeof(SnapshotHeader) == 64);

void check_capacity(std::uint32_t c, const char* what) {
  if (c == 0 || c > Ledger::kMaxCapacity) {
    throw std::invalid_argument(std::string("ledger ") + what + " capacity must be in 1.." +
                                std::to_string(Ledger::kMaxCapacity) + ", got " + std::to_string(c));
  }
}

void check_archive(std::uint32_t c) {
  if (c > Ledger::kMaxCapacity) {
    throw std::invalid_argument("ledger archive capacity must be in 0.." + std::to_string(Ledger::kMaxCapacity) +
                                ", got " + std::to_string(c));
  }
}

void check_window(std::uint64_t w) {
  if (w > kTimeMax) {
    throw std::invalid_argument("idempotency window must be below 2^63 ns, got " + std::to_string(w));
  }
}

}  // namespace

Ledger::Ledger(const LedgerCapacity& capacity)
    : capacity_((check_capacity(capacity.accounts, "accounts"), check_capacity(capacity.transfers, "transfers"),
                 check_capacity(capacity.history, "history"), check_window(capacity.idempotency_window),
                 check_archive(capacity.archive), capacity)),
      accounts_(make_zeroed<AccountHot>(capacity.accounts, HugePages::kYes)),
      accounts_cold_(make_zeroed<AccountCold>(capacity.accounts, HugePages::kYes)),
      transfers_(make_zeroed<Transfer>(capacity.transfers, HugePages::kYes)),
      history_(make_zeroed<HistoryEntry>(capacity.history, HugePages::kYes)),
      expiries_(make_zeroed<std::uint32_t>(capacity.transfers, HugePages::kYes)),
      archive_(make_zeroed<Transfer>(capacity.archive, HugePages::kYes)),
      // Load <= 1/3 (1M accounts: 0.24): every transfer probes two accounts,
      // and at load 1/2 over a quarter of them would not sit in their home
      // slot (measured), each a mispredicted branch and a wasted prefetch.
      // 24-48 B per account, so an account stays <= 152 B in all; the
      // transfer map stays at load <= 1/2 (<= 128 B per stored transfer).
      account_map_(capacity.accounts, 3),
      transfer_map_(capacity.transfers) {
  account_undo_.reserve(256);
  status_undo_.reserve(256);
  deferred_expiries_.reserve(256);
}

std::size_t Ledger::memory_bytes() const noexcept {
  return std::size_t{capacity_.accounts} * (sizeof(AccountHot) + sizeof(AccountCold)) +
         std::size_t{capacity_.transfers} * (sizeof(Transfer) + sizeof(std::uint32_t)) +
         std::size_t{capacity_.history} * sizeof(HistoryEntry) + std::size_t{capacity_.archive} * sizeof(Transfer) +
         account_map_.memory_bytes() +
         transfer_map_.memory_bytes();
}

void Ledger::prefault() noexcept {
  touch_pages(accounts_.get(), std::size_t{capacity_.accounts} * sizeof(AccountHot));
  touch_pages(accounts_cold_.get(), std::size_t{capacity_.accounts} * sizeof(AccountCold));
  touch_pages(transfers_.get(), std::size_t{capacity_.transfers} * sizeof(Transfer));
  touch_pages(history_.get(), std::size_t{capacity_.history} * sizeof(HistoryEntry));
  touch_pages(expiries_.get(), std::size_t{capacity_.transfers} * sizeof(std::uint32_t));
  touch_pages(archive_.get(), std::size_t{capacity_.archive} * sizeof(Transfer));
  account_map_.prefault();
  transfer_map_.prefault();
}

// ---- time ----------------------------------------------------------------------

std::uint64_t Ledger::next_timestamp(std::uint64_t now) noexcept {
  last_timestamp_ = std::max(now, last_timestamp_ + 1);
  return last_timestamp_;
}

void Ledger::check_time(std::uint64_t now, std::size_t events) const {
  if (now > kTimeMax) {
    throw std::invalid_argument("now must be below 2^63 ns, got " + std::to_string(now));
  }
  // Every event and every expiry takes one timestamp.
  const std::uint64_t first = std::max(now, last_timestamp_ + 1);
  if (first > kTimeMax - events - expiry_count_) {
    throw std::invalid_argument("timestamps would pass 2^63 ns");
  }
}

// ---- expiry heap ---------------------------------------------------------------

void Ledger::sift_up(std::uint32_t pos, std::uint32_t transfer) noexcept {
  while (pos > 0) {
    const std::uint32_t parent = (pos - 1) / 2;
    if (!expires_before(transfer, expiries_[parent])) break;
    heap_set(pos, expiries_[parent]);
    pos = parent;
  }
  heap_set(pos, transfer);
}

void Ledger::sift_down(std::uint32_t pos, std::uint32_t transfer) noexcept {
  const std::uint32_t n = expiry_count_;
  while (true) {
    std::uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && expires_before(expiries_[child + 1], expiries_[child])) ++child;
    if (!expires_before(expiries_[child], transfer)) break;
    heap_set(pos, expiries_[child]);
    pos = child;
  }
  heap_set(pos, transfer);
}

void Ledger::push_expiry(std::uint32_t transfer) noexcept {
  if (in_chain_) {
    deferred_expiries_.push_back(transfer);
    return;
  }
  sift_up(expiry_count_++, transfer);
}

void Ledger::pop_expiry() noexcept { remove_expiry(0); }

void Ledger::remove_expiry(std::uint32_t pos) noexcept {
  transfers_[expiries_[pos]].pending_id = 0;
  const std::uint32_t last = expiries_[--expiry_count_];
  if (pos == expiry_count_) return;
  if (pos > 0 && expires_before(last, expiries_[(pos - 1) / 2])) {
    sift_up(pos, last);
  } else {
    sift_down(pos, last);
  }
}

std::size_t Ledger::expire_due(std::uint64_t now) {
  std::size_t expired = 0;
  while (expiry_count_ > 0) {
    const std::uint32_t top = expiries_[0];
    const Transfer& hold = transfers_[top];
    // Holds posted or voided before their timeout leave a stale heap entry.
    if (status_of(hold) != PendingStatus::kPending) {
      pop_expiry();
      continue;
    }
    if (hold.timestamp + hold.timeout > std::max(now, last_timestamp_ + 1)) break;
    pop_expiry();
    expire_one(top, next_timestamp(now));
    ++expired;
  }
  return expired;
}

void Ledger::expire_one(std::uint32_t index, std::uint64_t ts) {
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

Transfer Ledger::exported(const Transfer& t) const noexcept {
  Transfer out = t;
  if (is_hold(t)) out.pending_id = 0;
  out.reserved &= 0xFFU;
  return out;
}

void Ledger::evict_step(std::size_t budget, std::uint64_t at) noexcept {
  const std::uint64_t w = capacity_.idempotency_window;
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
    if (is_hold(t) && t.pending_id != 0) expiries_[t.pending_id - 1] = to;
  }
}

std::size_t Ledger::evict() {
  if (capacity_.idempotency_window == 0) return 0;
  const std::size_t before = transfer_count_;
  evict_step(transfer_count_, last_timestamp_);
  return before - transfer_count_;
}

std::size_t Ledger::drain_evicted(Transfer* out, std::size_t max) noexcept {
  const std::size_t n = std::min<std::size_t>(max, archive_count_);
  for (std::size_t k = 0; k < n; ++k) {
    out[k] = archive_[archive_head_];
    archive_head_ = archive_head_ + 1 == capacity_.archive ? 0 : archive_head_ + 1;
  }
  archive_count_ -= static_cast<std::uint32_t>(n);
  if (archive_count_ == 0) archive_head_ = 0;
  return n;
}

std::size_t Ledger::expire_pending_transfers(std::uint64_t now) {
  check_time(now, 0);
  return expire_due(now);
}

// ---- chains ----------------------------------------------------------------------

void Ledger::chain_begin() noexcept {
  in_chain_ = true;
  chain_account_count_ = account_count_;
  chain_transfer_count_ = transfer_count_;
  chain_history_count_ = history_count_;
  chain_history_accounts_ = history_accounts_;
  chain_history_reserved_ = history_reserved_;
  account_undo_.clear();
  status_undo_.clear();
  deferred_expiries_.clear();
}

void Ledger::chain_commit() noexcept {
  in_chain_ = false;
  for (const std::uint32_t e : deferred_expiries_) push_expiry(e);
  deferred_expiries_.clear();
  account_undo_.clear();
  status_undo_.clear();
}

void Ledger::chain_rollback() noexcept {
  for (auto it = account_undo_.rbegin(); it != account_undo_.rend(); ++it) accounts_[it->index] = it->old;
  for (auto it = status_undo_.rbegin(); it != status_undo_.rend(); ++it) {
    transfers_[it->transfer].reserved = it->status;
  }
  while (history_count_ > chain_history_count_) {
    const HistoryEntry& e = history_[--history_count_];
    accounts_[e.account].history_head = e.prev;
  }
  while (transfer_count_ > chain_transfer_count_) {
    --transfer_count_;
    transfer_map_.erase(transfers_[slot_at(transfer_count_)].id, transfers_.get());
  }
  while (account_count_ > chain_account_count_) {
    --account_count_;
    account_map_.erase(accounts_[account_count_].id, accounts_.get());
  }
  history_accounts_ = chain_history_accounts_;
  history_reserved_ = chain_history_reserved_;
  deferred_expiries_.clear();
  account_undo_.clear();
  status_undo_.clear();
  in_chain_ = false;
}

// ---- helpers -----------------------------------------------------------------------

void Ledger::touch_account(std::uint32_t index) noexcept {
  if (in_chain_) account_undo_.push_back(AccountUndo{index, accounts_[index]});
}

void Ledger::set_status(std::uint32_t transfer, PendingStatus status) noexcept {
  if (in_chain_) status_undo_.push_back(StatusUndo{transfer, transfers_[transfer].reserved});
  transfers_[transfer].reserved = static_cast<std::uint32_t>(status);
}

void Ledger::record_history(std::uint32_t index, std::uint64_t ts) noexcept {
  AccountHot& a = accounts_[index];
  if (!has(a.flags, af::kHistory)) return;
  HistoryEntry& e = history_[history_count_];
  e.balance = AccountBalance{ts, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted};
  e.account = index;
  e.prev = a.history_head;
  a.history_head = ++history_count_;
}

std::uint32_t Ledger::append_transfer(const Transfer& t) noexcept {
  const std::uint32_t index = slot_at(transfer_count_++);
  transfers_[index] = t;
  transfer_map_.insert(t.id, index);
  return index;
}

std::uint32_t Ledger::append_transfer_at(const Transfer& t, std::size_t slot, std::uint64_t h) noexcept {
  const std::uint32_t index = slot_at(transfer_count_++);
  transfers_[index] = t;
  transfer_map_.insert_at(slot, h, index);
  return index;
}

void Ledger::remember_failed(std::uint64_t id, std::uint64_t ts) noexcept {
  Transfer t{};
  t.id = id;
  t.timestamp = ts;
  t.reserved = static_cast<std::uint32_t>(PendingStatus::kFailed);
  append_transfer(t);
}

void Ledger::check_transfer_room(const Transfer* transfers, std::size_t n) const {
  if (n > std::size_t{capacity_.transfers} - transfer_count_) {
    throw CapacityError("ledger transfer capacity exceeded: " + std::to_string(n) + " transfers need room, " +
                        std::to_string(capacity_.transfers - transfer_count_) + " of " +
                        std::to_string(capacity_.transfers) +
                        " left (stored transfers and remembered failed ids count); nothing was applied");
  }
  if (history_accounts_ == 0) return;
  // Keeps history_count_ + history_reserved_ <= capacity: an event adds at
  // most 2 entries now and reserves at most 2 for a timed hold's expiry.
  const std::uint64_t free = std::uint64_t{capacity_.history} - history_count_ - history_reserved_;
  if (4 * std::uint64_t{n} <= free) return;
  std::uint64_t need = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Transfer& t = transfers[i];
    if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) {
      need += 2;
      continue;
    }
    std::uint64_t entries = 0;
    const std::uint32_t dr = account_map_.find(t.debit_account_id, accounts_.get());
    const std::uint32_t cr = account_map_.find(t.credit_account_id, accounts_.get());
    if (dr != kNotFound) entries += history_entries_for(accounts_[dr]);
    if (cr != kNotFound) entries += history_entries_for(accounts_[cr]);
    need += (has(t.flags, tf::kPending) && t.timeout != 0) ? 2 * entries : entries;
  }
  if (need > free) {
    throw CapacityError("ledger history capacity exceeded: the batch may need " + std::to_string(need) +
                        " history entries, " + std::to_string(free) + " of " +
                        std::to_string(capacity_.history) +
                        " are free (entries reserved for timed holds on history accounts count as used); "
                        "nothing was applied");
  }
}

// ---- accounts ----------------------------------------------------------------------

AR Ledger::apply_account(const Account& a, std::uint64_t ts) noexcept {
  if (a.timestamp != 0) return AR::kTimestampMustBeZero;
  if (a.reserved != 0) return AR::kReservedField;
  if ((a.flags & ~af::kKnown) != 0) return AR::kReservedFlag;
  if (a.id == 0) return AR::kIdMustNotBeZero;
  if (a.id == kIdMax) return AR::kIdMustNotBeIntMax;
  const std::uint64_t h = hash_id(a.id);
  std::size_t slot = 0;
  const std::uint32_t found = account_map_.find_or_slot(a.id, h, accounts_.get(), &slot);
  if (found != kNotFound) {
    const AccountHot& e = accounts_[found];
    const AccountCold& ec = accounts_cold_[found];
    if (a.flags != e.flags) return AR::kExistsWithDifferentFlags;
    if (!ud128_eq(a.user_data_128, ec.user_data_128)) return AR::kExistsWithDifferentUserData128;
    if (a.user_data_64 != ec.user_data_64) return AR::kExistsWithDifferentUserData64;
    if (a.user_data_32 != ec.user_data_32) return AR::kExistsWithDifferentUserData32;
    if (a.ledger != e.ledger) return AR::kExistsWithDifferentLedger;
    if (a.code != e.code) return AR::kExistsWithDifferentCode;
    return AR::kExists;
  }
  if (has(a.flags, af::kDebitsMustNotExceedCredits) && has(a.flags, af::kCreditsMustNotExceedDebits)) {
    return AR::kFlagsAreMutuallyExclusive;
  }
  if (a.debits_pending != 0) return AR::kDebitsPendingMustBeZero;
  if (a.debits_posted != 0) return AR::kDebitsPostedMustBeZero;
  if (a.credits_pending != 0) return AR::kCreditsPendingMustBeZero;
  if (a.credits_posted != 0) return AR::kCreditsPostedMustBeZero;
  if (a.ledger == 0) return AR::kLedgerMustNotBeZero;
  if (a.code == 0) return AR::kCodeMustNotBeZero;
  if (a.limit != 0 && !has(a.flags, af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits)) {
    return AR::kLimitRequiresBalanceFlag;
  }
  const std::uint32_t index = account_count_++;
  accounts_[index] = AccountHot{a.id,    a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                                a.limit, a.ledger,         a.code,          a.flags,           0,
                                0};
  accounts_cold_[index] =
      AccountCold{{a.user_data_128[0], a.user_data_128[1]}, a.user_data_64, a.user_data_32, 0, ts};
  account_map_.insert_at(slot, h, index);
  if (has(a.flags, af::kHistory)) ++history_accounts_;
  return AR::kOk;
}

void Ledger::create_accounts(const Account* accounts, std::size_t n, std::uint64_t now, std::uint32_t* results) {
  check_time(now, n);
  if (n > std::size_t{capacity_.accounts} - account_count_) {
    throw CapacityError("ledger account capacity exceeded: " + std::to_string(n) + " accounts need room, " +
                        std::to_string(capacity_.accounts - account_count_) + " of " +
                        std::to_string(capacity_.accounts) + " left; nothing was applied");
  }
  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t chain_start = kNone;
  bool broken = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Account& a = accounts[i];
    const bool linked = has(a.flags, af::kLinked);
    if (chain_start == kNone && linked) {
      chain_start = i;
      chain_begin();
    }
    const std::uint64_t ts = next_timestamp(now);
    AR r;
    if (broken) {
      r = AR::kLinkedEventFailed;
    } else if (linked && i + 1 == n) {
      r = AR::kLinkedEventChainOpen;
    } else {
      r = apply_account(a, ts);
    }
    if (r != AR::kOk && chain_start != kNone && !broken) {
      broken = true;
      chain_rollback();
      for (std::size_t j = chain_start; j < i; ++j) results[j] = static_cast<std::uint32_t>(AR::kLinkedEventFailed);
    }
    results[i] = static_cast<std::uint32_t>(r);
    if (chain_start != kNone && (!linked || i + 1 == n)) {
      if (!broken) chain_commit();
      chain_start = kNone;
      broken = false;
    }
  }
}

AR Ledger::create_account(const Account& account, std::uint64_t now) {
  std::uint32_t r = 0;
  create_accounts(&account, 1, now, &r);
  return static_cast<AR>(r);
}

SetLimitResult Ledger::set_account_limit(std::uint64_t id, std::uint64_t limit) noexcept {
  if (id == 0) return SetLimitResult::kIdMustNotBeZero;
  const std::uint32_t index = account_map_.find(id, accounts_.get());
  if (index == kNotFound) return SetLimitResult::kAccountNotFound;
  AccountHot& a = accounts_[index];
  if (limit != 0 && !has(a.flags, af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits)) {
    return SetLimitResult::kLimitRequiresBalanceFlag;
  }
  if (has(a.flags, af::kClosed)) return SetLimitResult::kAccountClosed;
  a.limit = limit;
  return SetLimitResult::kOk;
}

// ---- transfers -------------------------------------------------------------------

TR Ledger::transfer_exists(const Transfer& t, const Transfer& e) const noexcept {
  if (t.flags != e.flags) return TR::kExistsWithDifferentFlags;
  if (t.pending_id != (is_hold(e) ? 0 : e.pending_id)) return TR::kExistsWithDifferentPendingId;
  if (t.timeout != e.timeout) return TR::kExistsWithDifferentTimeout;
  if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) {
    // Compared as against the hold it was created from, through the bits it
    // recorded then (the hold may have been evicted since).
    if (t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id) {
      return TR::kExistsWithDifferentDebitAccountId;
    }
    if (t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id) {
      return TR::kExistsWithDifferentCreditAccountId;
    }
    const bool full = has(t.flags, tf::kVoidPendingTransfer) ? t.amount == 0 : (t.amount == 0 || t.amount == kIdMax);
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

TR Ledger::apply_transfer(const Transfer& t, const IdHashes& h, std::uint64_t ts) noexcept {
  if (t.timestamp != 0) return TR::kTimestampMustBeZero;
  if ((t.flags & ~tf::kKnown) != 0) return TR::kReservedFlag;
  if (t.reserved != 0) return TR::kReservedField;
  if (t.id == 0) return TR::kIdMustNotBeZero;
  if (t.id == kIdMax) return TR::kIdMustNotBeIntMax;
  // Before the lookup, so the answer is the same whether evict() has dropped
  // the id yet or not.
  if (outside_window(t.id, ts)) [[unlikely]] return TR::kIdOutsideIdempotencyWindow;
  // One probe answers idempotency and, for a new id, where it will be stored.
  std::size_t slot = 0;
  const std::uint32_t found = transfer_map_.find_or_slot(t.id, h.id, transfers_.get(), &slot);
  if (found != kNotFound) [[unlikely]] {
    const Transfer& e = transfers_[found];
    if (status_of(e) == PendingStatus::kFailed) return TR::kIdAlreadyFailed;
    return transfer_exists(t, e);
  }
  if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) return apply_post_or_void(t, h, ts, slot);

  if (t.debit_account_id == 0) return TR::kDebitAccountIdMustNotBeZero;
  if (t.debit_account_id == kIdMax) return TR::kDebitAccountIdMustNotBeIntMax;
  if (t.credit_account_id == 0) return TR::kCreditAccountIdMustNotBeZero;
  if (t.credit_account_id == kIdMax) return TR::kCreditAccountIdMustNotBeIntMax;
  if (t.credit_account_id == t.debit_account_id) return TR::kAccountsMustBeDifferent;
  if (t.pending_id != 0) return TR::kPendingIdMustBeZero;
  const bool pending = has(t.flags, tf::kPending);
  if (!pending) {
    if (t.timeout != 0) return TR::kTimeoutReservedForPendingTransfer;
    if (has(t.flags, tf::kClosingDebit | tf::kClosingCredit)) return TR::kClosingTransferMustBePending;
  }
  if (t.amount == 0 &&
      !has(t.flags, tf::kBalancingDebit | tf::kBalancingCredit | tf::kClosingDebit | tf::kClosingCredit)) {
    return TR::kAmountMustNotBeZero;
  }
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
  if (has(d.flags, af::kClosed)) return TR::kDebitAccountAlreadyClosed;
  if (has(c.flags, af::kClosed)) return TR::kCreditAccountAlreadyClosed;

  std::uint64_t amount = t.amount;
  if (has(t.flags, tf::kBalancingDebit | tf::kBalancingCredit)) [[unlikely]] {
    if (has(t.flags, tf::kBalancingDebit)) {
      amount = static_cast<std::uint64_t>(std::min<u128>(amount, debit_headroom(d)));
    }
    if (has(t.flags, tf::kBalancingCredit)) {
      amount = static_cast<std::uint64_t>(std::min<u128>(amount, credit_headroom(c)));
    }
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
  if (t.timeout > kTimeMax - ts) return TR::kOverflowsTimeout;
  if (has(d.flags, af::kDebitsMustNotExceedCredits) && debits > u128{d.credits_posted} + d.limit) {
    return TR::kExceedsCredits;
  }
  if (has(c.flags, af::kCreditsMustNotExceedDebits) && credits > u128{c.debits_posted} + c.limit) {
    return TR::kExceedsDebits;
  }

  // Past every check: the transfer succeeds.
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
    if (pending && t.timeout != 0) {
      history_reserved_ += history_entries_for(d) + history_entries_for(c);
      push_expiry(index);
    }
  }
  return TR::kOk;
}

TR Ledger::apply_post_or_void(const Transfer& t, const IdHashes& h, std::uint64_t ts, std::size_t slot) noexcept {
  const bool post = has(t.flags, tf::kPostPendingTransfer);
  const bool is_void = has(t.flags, tf::kVoidPendingTransfer);
  if (post && is_void) return TR::kFlagsAreMutuallyExclusive;
  if (has(t.flags, tf::kPending | tf::kBalancingDebit | tf::kBalancingCredit | tf::kClosingDebit |
                       tf::kClosingCredit)) {
    return TR::kFlagsAreMutuallyExclusive;
  }
  if (t.pending_id == 0) return TR::kPendingIdMustNotBeZero;
  if (t.pending_id == kIdMax) return TR::kPendingIdMustNotBeIntMax;
  if (t.pending_id == t.id) return TR::kPendingIdMustBeDifferent;
  if (t.timeout != 0) return TR::kTimeoutReservedForPendingTransfer;

  const std::uint32_t pi = transfer_map_.find_h(t.pending_id, h.pending, transfers_.get());
  // evict() keeps live holds only, so outside the window anything else answers
  // this code, whether or not it has been dropped yet.
  if (outside_window(t.pending_id, ts) &&
      (pi == kNotFound || status_of(transfers_[pi]) != PendingStatus::kPending)) [[unlikely]] {
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
  // 0 means the full pending amount (TigerBeetle's rule before 0.16, and still
  // its rule for voids); for posts 2^64 - 1 does too (its rule since 0.16).
  std::uint64_t amount = t.amount;
  if (amount == 0 || (post && amount == kIdMax)) amount = p.amount;
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
  if (p.timeout != 0 && p.timestamp + p.timeout <= ts) return TR::kPendingTransferExpired;
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
  stored.timestamp = ts;
  stored.reserved = same_bits(stored, p);
  const std::uint64_t held = p.amount;
  const std::uint16_t p_flags = p.flags;
  const bool timed = p.timeout != 0;
  set_status(pi, post ? PendingStatus::kPosted : PendingStatus::kVoided);
  append_transfer_at(stored, slot, h.id);
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

void Ledger::create_transfers(const Transfer* transfers, std::size_t n, std::uint64_t now, std::uint32_t* results) {
  check_time(now, n);
  check_transfer_room(transfers, n);
  // Eviction for the whole batch up front, judged at the timestamp its first
  // event will take at the earliest (every event's is later): the same work
  // bound per transfer as per call, in one tight loop instead of a call per
  // event (measured: 120 -> 108 ms CPU per 1M transfers with eviction
  // running, BM_CreateTransfersEvicting).
  if (capacity_.idempotency_window != 0) evict_step(kEvictPerEvent * n, std::max(now, last_timestamp_ + 1));
  // A software pipeline over the batch (results are exactly those of applying
  // the transfers one by one: the stages only hash and prefetch). With 1M
  // accounts a transfer's map slots and account lines are DRAM misses, and
  // the ~150 instructions that apply one transfer are too many for the
  // out-of-order window to overlap the next transfer's misses, so:
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
    const Transfer& f = transfers[k];
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
    const Transfer& t = transfers[i];
    const bool linked = has(t.flags, tf::kLinked);
    if (chain_start == kNone) {
      // Holds are released only between chains, so a chain's rollback never
      // has to undo an expiry.
      if (expiry_count_ != 0) expire_due(now);
      if (linked) {
        chain_start = i;
        chain_begin();
      }
    }
    const std::uint64_t ts = next_timestamp(now);
    TR r;
    if (broken) [[unlikely]] {
      r = TR::kLinkedEventFailed;
    } else if (linked && i + 1 == n) [[unlikely]] {
      r = TR::kLinkedEventChainOpen;
    } else {
      r = apply_transfer(t, ring[i % kRing], ts);
    }
    if (r != TR::kOk) [[unlikely]] {
      if (chain_start != kNone && !broken) {
        broken = true;
        chain_rollback();
        for (std::size_t j = chain_start; j < i; ++j) {
          results[j] = static_cast<std::uint32_t>(TR::kLinkedEventFailed);
        }
      }
      if (is_transient(r)) remember_failed(t.id, ts);
    }
    results[i] = static_cast<std::uint32_t>(r);
    if (chain_start != kNone && (!linked || i + 1 == n)) {
      if (!broken) chain_commit();
      chain_start = kNone;
      broken = false;
    }
  }
}

TR Ledger::create_transfer(const Transfer& t, std::uint64_t now) {
  // Exactly create_transfers(&t, 1, ...) without the pipeline's set-up
  // (measured: the per-call binding spends most of its time around this
  // call; docs/perf_ledger.md). A lone LINKED transfer is a chain left open:
  // it changes nothing but takes its timestamp, as in a batch.
  check_time(now, 1);
  check_transfer_room(&t, 1);
  if (expiry_count_ != 0) expire_due(now);
  if (capacity_.idempotency_window != 0) evict_step(kEvictPerEvent, std::max(now, last_timestamp_ + 1));
  const std::uint64_t ts = next_timestamp(now);
  if (has(t.flags, tf::kLinked)) [[unlikely]] return TR::kLinkedEventChainOpen;
  const IdHashes h{hash_id(t.id), hash_id(t.debit_account_id), hash_id(t.credit_account_id), hash_id(t.pending_id),
                   0, 0};
  const TR r = apply_transfer(t, h, ts);
  if (r != TR::kOk && is_transient(r)) [[unlikely]] remember_failed(t.id, ts);
  return r;
}

// ---- queries -------------------------------------------------------------------------

Account Ledger::account_at(std::uint32_t index) const noexcept {
  const AccountHot& h = accounts_[index];
  const AccountCold& c = accounts_cold_[index];
  Account a{};
  a.id = h.id;
  a.debits_pending = h.debits_pending;
  a.debits_posted = h.debits_posted;
  a.credits_pending = h.credits_pending;
  a.credits_posted = h.credits_posted;
  a.user_data_128[0] = c.user_data_128[0];
  a.user_data_128[1] = c.user_data_128[1];
  a.user_data_64 = c.user_data_64;
  a.user_data_32 = c.user_data_32;
  a.ledger = h.ledger;
  a.code = h.code;
  a.flags = h.flags;
  a.timestamp = c.timestamp;
  a.limit = h.limit;
  return a;
}

bool Ledger::lookup_account(std::uint64_t id, Account& out) const noexcept {
  const std::uint32_t i = account_map_.find(id, accounts_.get());
  if (i == kNotFound) return false;
  out = account_at(i);
  return true;
}

std::optional<Account> Ledger::lookup_account(std::uint64_t id) const noexcept {
  Account a;
  if (!lookup_account(id, a)) return std::nullopt;
  return a;
}

bool Ledger::lookup_transfer(std::uint64_t id, Transfer& out) const noexcept {
  const std::uint32_t i = transfer_map_.find(id, transfers_.get());
  if (i == kNotFound || status_of(transfers_[i]) == PendingStatus::kFailed) return false;
  out = exported(transfers_[i]);
  return true;
}

std::optional<Transfer> Ledger::lookup_transfer(std::uint64_t id) const noexcept {
  Transfer t;
  if (!lookup_transfer(id, t)) return std::nullopt;
  return t;
}

std::size_t Ledger::account_history(std::uint64_t id, std::uint64_t since, std::uint64_t until, AccountBalance* out,
                                    std::size_t max) const noexcept {
  const std::uint32_t a = account_map_.find(id, accounts_.get());
  if (a == kNotFound || since > until) return 0;
  // Entries are linked newest first; count the range, then fill it oldest first.
  std::size_t count = 0;
  for (std::uint32_t e = accounts_[a].history_head; e != 0; e = history_[e - 1].prev) {
    const std::uint64_t ts = history_[e - 1].balance.timestamp;
    if (ts < since) break;
    if (ts <= until) ++count;
  }
  if (out == nullptr || max == 0) return count;
  std::size_t j = 0;
  for (std::uint32_t e = accounts_[a].history_head; e != 0; e = history_[e - 1].prev) {
    const AccountBalance& b = history_[e - 1].balance;
    if (b.timestamp < since) break;
    if (b.timestamp > until) continue;
    const std::size_t pos = count - 1 - j++;
    if (pos < max) out[pos] = b;
  }
  return count;
}

// ---- state hash and snapshots ---------------------------------------------------------

namespace {
// Feeds `count` records of a ring (`base`, `cap` slots, oldest at `head`) to
// `sink(const T*, n)` oldest first, in chunks of kChunk records whose
// boundaries depend only on logical positions: a chunk that wraps is copied
// to a buffer first. So a hash of the chunks does not depend on where the
// ring happens to start (a restored ledger starts at slot 0).
template <class T, class Sink>
void for_ring_chunks(const T* base, std::uint32_t cap, std::uint32_t head, std::uint32_t count, Sink sink) {
  constexpr std::uint32_t kChunk = 64;
  T buf[kChunk];
  for (std::uint32_t k = 0; k < count; k += kChunk) {
    const std::uint32_t n = std::min(kChunk, count - k);
    std::uint32_t first = head + k;
    if (first >= cap) first -= cap;
    if (first + n <= cap) {
      sink(base + first, n);
    } else {
      const std::uint32_t a = cap - first;
      std::memcpy(buf, base + first, std::size_t{a} * sizeof(T));
      std::memcpy(buf + a, base, std::size_t{n - a} * sizeof(T));
      sink(buf, n);
    }
  }
}
}  // namespace

std::uint64_t Ledger::state_hash() const noexcept {
  const std::uint64_t scalars[] = {account_count_,    transfer_count_,   history_count_,  expiry_count_,
                                   history_accounts_, history_reserved_, last_timestamp_, archive_count_};
  std::uint64_t h = checksum64(scalars, sizeof(scalars));
  // The hot and cold halves hold every account field, history heads included;
  // their padding is always zero.
  h = checksum64(accounts_.get(), std::size_t{account_count_} * sizeof(AccountHot), h);
  h = checksum64(accounts_cold_.get(), std::size_t{account_count_} * sizeof(AccountCold), h);
  // Transfers, heap entries and the archive by logical position (oldest
  // first), so where the rings start is not part of the state.
  for_ring_chunks(transfers_.get(), capacity_.transfers, head_, transfer_count_,
                  [&](const Transfer* p, std::uint32_t n) { h = checksum64(p, std::size_t{n} * sizeof(Transfer), h); });
  h = checksum64(history_.get(), std::size_t{history_count_} * sizeof(HistoryEntry), h);
  std::uint32_t buf[256];
  for (std::uint32_t k = 0; k < expiry_count_; k += 256) {
    const std::uint32_t n = std::min<std::uint32_t>(256, expiry_count_ - k);
    for (std::uint32_t j = 0; j < n; ++j) buf[j] = logical_of(expiries_[k + j]);
    h = checksum64(buf, std::size_t{n} * sizeof(std::uint32_t), h);
  }
  for_ring_chunks(archive_.get(), capacity_.archive, archive_head_, archive_count_,
                  [&](const Transfer* p, std::uint32_t n) { h = checksum64(p, std::size_t{n} * sizeof(Transfer), h); });
  return h;
}

std::string Ledger::snapshot() const {
  const SnapshotHeader hdr{kSnapshotMagic,   kSnapshotVersion, capacity_.accounts, capacity_.transfers,
                           capacity_.history, account_count_,  transfer_count_,    history_count_,
                           expiry_count_,     history_accounts_, 0,                history_reserved_,
                           last_timestamp_};
  const std::uint64_t window = capacity_.idempotency_window;
  const std::uint32_t archive_fields[2] = {capacity_.archive, archive_count_};
  const std::size_t total =
      sizeof(hdr) + sizeof(window) + sizeof(archive_fields) +
      std::size_t{account_count_} * (sizeof(Account) + sizeof(std::uint32_t)) +
      std::size_t{transfer_count_} * sizeof(Transfer) + std::size_t{history_count_} * sizeof(HistoryEntry) +
      std::size_t{expiry_count_} * sizeof(std::uint32_t) + std::size_t{archive_count_} * sizeof(Transfer) +
      sizeof(std::uint64_t);
  std::string out(total, '\0');
  char* p = out.data();
  auto put = [&p](const void* src, std::size_t n) {
    if (n != 0) std::memcpy(p, src, n);
    p += n;
  };
  put(&hdr, sizeof(hdr));
  put(&window, sizeof(window));
  put(archive_fields, sizeof(archive_fields));
  // The account sections keep the wire format (Account records, then the
  // history heads) whatever the in-memory split, so snapshots stay portable.
  for (std::uint32_t i = 0; i < account_count_; ++i) {
    const Account a = account_at(i);
    put(&a, sizeof(a));
  }
  for (std::uint32_t i = 0; i < account_count_; ++i) put(&accounts_[i].history_head, sizeof(std::uint32_t));
  // Rings oldest first; heap entries as logical positions (restore puts the
  // oldest transfer at slot 0).
  for_ring_chunks(transfers_.get(), capacity_.transfers, head_, transfer_count_,
                  [&](const Transfer* src, std::uint32_t n) { put(src, std::size_t{n} * sizeof(Transfer)); });
  put(history_.get(), std::size_t{history_count_} * sizeof(HistoryEntry));
  for (std::uint32_t k = 0; k < expiry_count_; ++k) {
    const std::uint32_t e = logical_of(expiries_[k]);
    put(&e, sizeof(e));
  }
  for_ring_chunks(archive_.get(), capacity_.archive, archive_head_, archive_count_,
                  [&](const Transfer* src, std::uint32_t n) { put(src, std::size_t{n} * sizeof(Transfer)); });
  const std::uint64_t sum = checksum64(out.data(), total - sizeof(std::uint64_t));
  put(&sum, sizeof(sum));
  return out;
}

Ledger Ledger::restore(const std::uint8_t* data, std::size_t size) {
  auto corrupt = [](const std::string& why) { return std::invalid_argument("corrupt ledger snapshot: " + why); };
  SnapshotHeader hdr{};
  if (size < sizeof(hdr) + sizeof(std::uint64_t)) throw corrupt("truncated header");
  std::memcpy(&hdr, data, sizeof(hdr));
  if (hdr.magic != kSnapshotMagic) throw corrupt("bad magic");
  if (hdr.version < 1 || hdr.version > kSnapshotVersion) {
    throw corrupt("unsupported version " + std::to_string(hdr.version));
  }
  std::uint64_t window = 0;
  std::uint32_t archive_fields[2] = {0, 0};
  const std::size_t extra =
      (hdr.version >= 2 ? sizeof(window) : 0) + (hdr.version >= 4 ? sizeof(archive_fields) : 0);
  if (size < sizeof(hdr) + extra + sizeof(std::uint64_t)) throw corrupt("truncated header");
  if (hdr.version >= 2) std::memcpy(&window, data + sizeof(hdr), sizeof(window));
  if (hdr.version >= 4) std::memcpy(archive_fields, data + sizeof(hdr) + sizeof(window), sizeof(archive_fields));
  const std::uint32_t archive_capacity = archive_fields[0], archive_count = archive_fields[1];
  if (window > kTimeMax) throw corrupt("bad idempotency window");
  for (std::uint32_t c : {hdr.accounts_capacity, hdr.transfers_capacity, hdr.history_capacity}) {
    if (c == 0 || c > kMaxCapacity) throw corrupt("bad capacity");
  }
  if (archive_capacity > kMaxCapacity || archive_count > archive_capacity) throw corrupt("bad archive");
  if (hdr.account_count > hdr.accounts_capacity || hdr.transfer_count > hdr.transfers_capacity ||
      hdr.history_count > hdr.history_capacity || hdr.expiry_count > hdr.transfers_capacity ||
      hdr.history_accounts > hdr.account_count || hdr.pad != 0 || hdr.last_timestamp > kTimeMax ||
      hdr.history_reserved > std::uint64_t{hdr.history_capacity} - hdr.history_count) {
    throw corrupt("counts out of range");
  }
  const std::size_t sizes[] = {std::size_t{hdr.account_count} * sizeof(Account),
                               std::size_t{hdr.account_count} * sizeof(std::uint32_t),
                               std::size_t{hdr.transfer_count} * sizeof(Transfer),
                               std::size_t{hdr.history_count} * sizeof(HistoryEntry),
                               std::size_t{hdr.expiry_count} *
                                   (hdr.version >= 3 ? sizeof(std::uint32_t) : sizeof(LegacyExpiry)),
                               std::size_t{archive_count} * sizeof(Transfer)};
  std::size_t total = sizeof(hdr) + extra + sizeof(std::uint64_t);
  for (std::size_t s : sizes) total += s;
  if (size != total) throw corrupt("size " + std::to_string(size) + " != expected " + std::to_string(total));
  std::uint64_t sum = 0;
  std::memcpy(&sum, data + total - sizeof(sum), sizeof(sum));
  if (sum != checksum64(data, total - sizeof(sum))) throw corrupt("checksum mismatch");

  Ledger l(LedgerCapacity{hdr.accounts_capacity, hdr.transfers_capacity, hdr.history_capacity, window,
                          archive_capacity});
  const std::uint8_t* accounts_data = data + sizeof(hdr) + extra;
  const std::uint8_t* p = accounts_data + sizes[0] + sizes[1];
  if (sizes[2] != 0) std::memcpy(l.transfers_.get(), p, sizes[2]);
  p += sizes[2];
  if (sizes[3] != 0) std::memcpy(l.history_.get(), p, sizes[3]);
  p += sizes[3];
  const std::uint8_t* expiry_data = p;
  p += sizes[4];
  if (sizes[5] != 0) std::memcpy(l.archive_.get(), p, sizes[5]);
  l.account_count_ = hdr.account_count;
  l.transfer_count_ = hdr.transfer_count;
  l.history_count_ = hdr.history_count;
  l.expiry_count_ = hdr.expiry_count;
  l.history_accounts_ = hdr.history_accounts;
  l.history_reserved_ = hdr.history_reserved;
  l.last_timestamp_ = hdr.last_timestamp;
  l.archive_count_ = archive_count;

  // The checksum guards against accidents; these checks make sure that even a
  // well-formed but inconsistent snapshot cannot send an index out of bounds.
  for (std::uint32_t i = 0; i < l.account_count_; ++i) {
    Account a;
    std::uint32_t head = 0;
    std::memcpy(&a, accounts_data + std::size_t{i} * sizeof(Account), sizeof(Account));
    std::memcpy(&head, accounts_data + sizes[0] + std::size_t{i} * sizeof(std::uint32_t), sizeof(head));
    // reserved is not stored, so a nonzero one could not be restored bit-identically.
    if (a.id == 0 || a.id == kIdMax || a.reserved != 0 ||
        l.account_map_.find(a.id, l.accounts_.get()) != kNotFound) {
      throw corrupt("bad or duplicate account id");
    }
    if (head > l.history_count_) throw corrupt("bad history head");
    l.accounts_[i] = AccountHot{a.id,    a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                                a.limit, a.ledger,         a.code,          a.flags,           head,
                                0};
    l.accounts_cold_[i] =
        AccountCold{{a.user_data_128[0], a.user_data_128[1]}, a.user_data_64, a.user_data_32, 0, a.timestamp};
    l.account_map_.insert(a.id, i);
  }
  const bool legacy = hdr.version < 4;
  std::uint32_t holds_in_heap = 0;
  for (std::uint32_t i = 0; i < l.transfer_count_; ++i) {
    Transfer& t = l.transfers_[i];
    const bool resolves = has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer);
    if (t.id == 0 || t.id == kIdMax || l.transfer_map_.find(t.id, l.transfers_.get()) != kNotFound ||
        (t.reserved & 0xFFU) > static_cast<std::uint32_t>(PendingStatus::kFailed) ||
        (t.reserved & ~(0xFFU | kSameBits)) != 0 || (!resolves && (t.reserved & kSameBits) != 0) ||
        (legacy && is_hold(t) && t.pending_id != 0)) {
      throw corrupt("bad or duplicate transfer");
    }
    if (is_hold(t) && t.pending_id != 0) ++holds_in_heap;
    l.transfer_map_.insert(t.id, i);
  }
  for (std::uint32_t i = 0; i < l.transfer_count_; ++i) {
    Transfer& t = l.transfers_[i];
    if (status_of(t) == PendingStatus::kFailed) continue;
    if (l.account_map_.find(t.debit_account_id, l.accounts_.get()) == kNotFound ||
        l.account_map_.find(t.credit_account_id, l.accounts_.get()) == kNotFound) {
      throw corrupt("transfer refers to an unknown account");
    }
    if (has(t.flags, tf::kPostPendingTransfer | tf::kVoidPendingTransfer)) {
      const std::uint32_t pi = l.transfer_map_.find(t.pending_id, l.transfers_.get());
      // Eviction may drop a hold before its post (only with a window).
      if (pi == kNotFound ? window == 0 : !is_hold(l.transfers_[pi])) {
        throw corrupt("post or void refers to an unknown pending transfer");
      }
      // Before version 4 a post compared against its hold, which was kept.
      if (legacy) {
        if (pi == kNotFound) throw corrupt("post or void refers to an unknown pending transfer");
        t.reserved |= same_bits(t, l.transfers_[pi]);
      }
    }
  }
  for (std::uint32_t i = 0; i < l.history_count_; ++i) {
    const HistoryEntry& e = l.history_[i];
    if (e.account >= l.account_count_ || e.prev > i) throw corrupt("bad history entry");
  }
  // The heap: read (converting entries older than version 3), then every
  // entry must name a distinct timed hold that points back at it, and the
  // array must be a heap (the keys live in the holds: a bad entry would
  // misorder expiries).
  for (std::uint32_t i = 0; i < l.expiry_count_; ++i) {
    std::uint32_t e = 0;
    if (hdr.version >= 3) {
      std::memcpy(&e, expiry_data + std::size_t{i} * sizeof(e), sizeof(e));
    } else {
      // The old entries' key is the hold's own timestamp + timeout and their
      // tie-break its index, i.e. its timestamp order: the same heap order.
      LegacyExpiry old;
      std::memcpy(&old, expiry_data + std::size_t{i} * sizeof(old), sizeof(old));
      if (old.pad != 0 || old.transfer >= l.transfer_count_) throw corrupt("bad expiry");
      const Transfer& t = l.transfers_[old.transfer];
      if (old.expires_at != t.timestamp + t.timeout) throw corrupt("bad expiry");
      e = old.transfer;
    }
    if (e >= l.transfer_count_) throw corrupt("bad expiry");
    Transfer& t = l.transfers_[e];
    if (!is_hold(t) || t.timeout == 0 || t.timeout > kTimeMax - t.timestamp) {
      throw corrupt("expiry names no timed hold");
    }
    if (legacy) {
      if (t.pending_id != 0) throw corrupt("duplicate expiry");
      t.pending_id = i + 1;
    } else if (t.pending_id != i + 1) {
      throw corrupt("expiry back-pointer mismatch");
    }
    l.expiries_[i] = e;
    if (i > 0 && l.expires_before(e, l.expiries_[(i - 1) / 2])) throw corrupt("expiries out of order");
  }
  if (!legacy && holds_in_heap != l.expiry_count_) throw corrupt("expiry back-pointer mismatch");
  for (std::uint32_t i = 0; i < l.archive_count_; ++i) {
    const Transfer& t = l.archive_[i];
    if (t.id == 0 || t.id == kIdMax || t.reserved >= static_cast<std::uint32_t>(PendingStatus::kFailed) ||
        (is_hold(t) && t.pending_id != 0)) {
      throw corrupt("bad archived transfer");
    }
  }
  return l;
}

}  // namespace shanraq::ledger
