#include "shanraq/ledger/ledger.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "ledger_impl.hpp"
#include "shanraq/common/checksum.hpp"

namespace shanraq::ledger {

namespace {

constexpr char kSnapshotMagic[9] = "SHQLEDGR";
// The one format this build writes and reads (the package has not shipped
// another): SnapshotWriter's envelope around the fields save() writes.
constexpr std::uint32_t kSnapshotVersion = 1;

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
                 check_capacity(capacity.history, "history"), check_window(capacity.idempotency_window_ns),
                 check_archive(capacity.archive), capacity)),
      accounts_(make_zeroed<AccountHot>(capacity.accounts, HugePages::kYes)),
      accounts_cold_(make_zeroed<AccountCold>(capacity.accounts, HugePages::kYes)),
      transfers_(make_zeroed<Transfer>(capacity.transfers, HugePages::kYes)),
      history_(make_zeroed<HistoryEntry>(capacity.history, HugePages::kYes)),
      expiry_storage_(make_zeroed<std::uint32_t>(capacity.transfers, HugePages::kYes)),
      expiries_(expiry_storage_.get(), ExpiryPolicy{transfers_.get()}),
      archive_(make_zeroed<Transfer>(capacity.archive, HugePages::kYes)),
      links_(make_zeroed<TransferLinks>(capacity.idempotency_window_ns == 0 ? capacity.transfers : 1, HugePages::kYes)),
      transfers_first_(
          make_zeroed<std::uint32_t>(capacity.idempotency_window_ns == 0 ? capacity.accounts : 1, HugePages::kYes)),
      ud_buckets_(capacity.idempotency_window_ns == 0 ? std::bit_ceil(capacity.transfers) : 1),
      ud_links_(
          make_zeroed<UserDataLinks>(capacity.idempotency_window_ns == 0 ? capacity.transfers : 1, HugePages::kYes)),
      ud128_heads_(make_zeroed<std::uint32_t>(ud_buckets_, HugePages::kYes)),
      ud64_heads_(make_zeroed<std::uint32_t>(ud_buckets_, HugePages::kYes)),
      // Load <= 1/3 (1M accounts: 0.24): every transfer probes two accounts,
      // and at load 1/2 over a quarter of them would not sit in their home
      // slot (measured), each a mispredicted branch and a wasted prefetch.
      // 24-48 B per account, so an account stays <= 152 B in all; the
      // transfer map stays at load <= 1/2 (<= 128 B per stored transfer).
      account_map_(capacity.accounts, 3),
      transfer_map_(capacity.transfers),
      // Sized for the longest chain: a member logs at most two account
      // states, one hold status and one deferred expiry. Lazily committed,
      // so only what long chains use becomes resident.
      account_undo_(make_zeroed<AccountUndo>(2 * kMaxChain)),
      status_undo_(make_zeroed<StatusUndo>(kMaxChain)),
      deferred_expiries_(make_zeroed<std::uint32_t>(kMaxChain)),
      chain_results_(make_zeroed<ChainResult>(kMaxChain)) {}

std::size_t Ledger::memory_bytes() const noexcept {
  return std::size_t{capacity_.accounts} * (sizeof(AccountHot) + sizeof(AccountCold)) +
         std::size_t{capacity_.transfers} * (sizeof(Transfer) + sizeof(std::uint32_t)) +
         std::size_t{capacity_.history} * sizeof(HistoryEntry) + std::size_t{capacity_.archive} * sizeof(Transfer) +
         account_map_.memory_bytes() + transfer_map_.memory_bytes() +
         (indexed() ? std::size_t{capacity_.transfers} * sizeof(TransferLinks) +
                          std::size_t{capacity_.accounts} * sizeof(std::uint32_t) +
                          std::size_t{capacity_.transfers} * sizeof(UserDataLinks) +
                          std::size_t{ud_buckets_} * 2 * sizeof(std::uint32_t)
                    : 0);
}

void Ledger::prefault() noexcept {
  touch_pages(accounts_.get(), std::size_t{capacity_.accounts} * sizeof(AccountHot));
  touch_pages(accounts_cold_.get(), std::size_t{capacity_.accounts} * sizeof(AccountCold));
  touch_pages(transfers_.get(), std::size_t{capacity_.transfers} * sizeof(Transfer));
  touch_pages(history_.get(), std::size_t{capacity_.history} * sizeof(HistoryEntry));
  touch_pages(expiry_storage_.get(), std::size_t{capacity_.transfers} * sizeof(std::uint32_t));
  touch_pages(archive_.get(), std::size_t{capacity_.archive} * sizeof(Transfer));
  if (indexed()) {
    touch_pages(links_.get(), std::size_t{capacity_.transfers} * sizeof(TransferLinks));
    touch_pages(transfers_first_.get(), std::size_t{capacity_.accounts} * sizeof(std::uint32_t));
    touch_pages(ud_links_.get(), std::size_t{capacity_.transfers} * sizeof(UserDataLinks));
    touch_pages(ud128_heads_.get(), std::size_t{ud_buckets_} * sizeof(std::uint32_t));
    touch_pages(ud64_heads_.get(), std::size_t{ud_buckets_} * sizeof(std::uint32_t));
  }
  account_map_.prefault();
  transfer_map_.prefault();
}

// ---- time ----------------------------------------------------------------------

void Ledger::check_time(std::uint64_t now, std::size_t events) const {
  if (now > kTimeMax) {
    throw std::invalid_argument("now must be below 2^63 ns, got " + std::to_string(now));
  }
  // Every event and every expiry takes one timestamp.
  const std::uint64_t first = std::max(now, last_timestamp_ + 1);
  if (events > kTimeMax || first > kTimeMax - events - expiries_.size()) {
    throw std::invalid_argument("timestamps would pass 2^63 ns");
  }
}

// ---- expiry heap ---------------------------------------------------------------

std::size_t Ledger::evict() noexcept {
  if (capacity_.idempotency_window_ns == 0) return 0;
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
  Discard sink;
  return expire_due(now, 0, sink);
}

// ---- chains ----------------------------------------------------------------------

void Ledger::chain_begin(bool imported) noexcept {
  in_chain_ = true;
  chain_imported_ = imported;
  chain_last_timestamp_ = last_timestamp_;
  chain_account_count_ = account_count_;
  chain_transfer_count_ = transfer_count_;
  chain_history_count_ = history_count_;
  chain_history_accounts_ = history_accounts_;
  chain_history_reserved_ = history_reserved_;
  account_undo_count_ = 0;
  status_undo_count_ = 0;
  deferred_count_ = 0;
}

void Ledger::chain_commit() noexcept {
  in_chain_ = false;
  for (std::uint32_t k = 0; k < deferred_count_; ++k) expiries_.push(deferred_expiries_[k]);
  deferred_count_ = 0;
  account_undo_count_ = 0;
  status_undo_count_ = 0;
}

void Ledger::chain_rollback() noexcept {
  for (std::uint32_t k = account_undo_count_; k-- > 0;) accounts_[account_undo_[k].index] = account_undo_[k].old;
  for (std::uint32_t k = status_undo_count_; k-- > 0;) {
    transfers_[status_undo_[k].transfer].reserved = status_undo_[k].status;
  }
  while (history_count_ > chain_history_count_) {
    const HistoryEntry& e = history_[--history_count_];
    accounts_[e.account].history_head = e.prev;
  }
  while (transfer_count_ > chain_transfer_count_) {
    --transfer_count_;
    const std::uint32_t slot = slot_at(transfer_count_);
    unindex_user_data(slot, transfers_[slot]);
    transfer_map_.erase(transfers_[slot].id, transfers_.get());
  }
  while (account_count_ > chain_account_count_) {
    --account_count_;
    account_map_.erase(accounts_[account_count_].id, accounts_.get());
  }
  history_accounts_ = chain_history_accounts_;
  history_reserved_ = chain_history_reserved_;
  // So a failed import can be resubmitted with the same timestamps
  // (TigerBeetle's advice: import a batch as one chain).
  if (chain_imported_) last_timestamp_ = chain_last_timestamp_;
  deferred_count_ = 0;
  account_undo_count_ = 0;
  status_undo_count_ = 0;
  in_chain_ = false;
}

// ---- helpers -----------------------------------------------------------------------

std::uint64_t Ledger::history_need(const Transfer& t) const noexcept {
  if (history_accounts_ == 0) return 0;
  if (resolves_hold(t)) return 2;
  std::uint64_t entries = 0;
  const std::uint32_t dr = account_map_.find(t.debit_account_id, accounts_.get());
  const std::uint32_t cr = account_map_.find(t.credit_account_id, accounts_.get());
  if (dr != kNotFound) entries += history_entries_for(accounts_[dr]);
  if (cr != kNotFound) entries += history_entries_for(accounts_[cr]);
  return (has(t.flags, tf::kPending) && t.timeout_ns != 0) ? 2 * entries : entries;
}

// ---- accounts ----------------------------------------------------------------------

AR Ledger::apply_account(const Account& a, bool imported_request, std::uint64_t& ts) noexcept {
  if (has(a.flags, af::kImported) || imported_request) {
    if (!imported_request) return AR::kImportedEventNotExpected;
    if (!has(a.flags, af::kImported)) return AR::kImportedEventExpected;
    if (a.timestamp == 0 || a.timestamp > kTimeMax) return AR::kImportedEventTimestampOutOfRange;
    if (a.timestamp >= ts) return AR::kImportedEventTimestampMustNotAdvance;
  } else if (a.timestamp != 0) {
    return AR::kTimestampMustBeZero;
  }
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
    ts = ec.timestamp;  // TigerBeetle 0.17: the original's
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
  if (imported_request) {
    // One timeline (docs/ledger.md): later than every timestamp taken.
    if (a.timestamp <= last_timestamp_) return AR::kImportedEventTimestampMustNotRegress;
    ts = last_timestamp_ = a.timestamp;
  }
  const std::uint32_t index = account_count_++;
  accounts_[index] = AccountHot{a.id,    a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                                a.limit, a.ledger,         a.code,          a.flags,           0,
                                0};
  accounts_cold_[index] = AccountCold{{a.user_data_128[0], a.user_data_128[1]}, a.user_data_64, a.user_data_32, 0, ts};
  account_map_.insert_at(slot, h, index);
  if (has(a.flags, af::kHistory)) ++history_accounts_;
  return AR::kOk;
}

void Ledger::create_accounts(const Account* accounts, std::size_t n, std::uint64_t now, std::uint32_t* results) {
  check_time(now, n);
  check_room(n, 0, [] { return std::uint64_t{0}; });
  const AccountArray src{accounts, now};
  ResultArray sink{results};
  Request request;
  run_accounts(src, n, sink, request);
}

void Ledger::create_accounts(const Account* accounts, std::size_t n, std::uint64_t now, CreateResult* results) {
  check_time(now, n);
  check_room(n, 0, [] { return std::uint64_t{0}; });
  const AccountArray src{accounts, now};
  CreateResultArray sink{results};
  Request request;
  run_accounts(src, n, sink, request);
}

AR Ledger::create_account(const Account& account, std::uint64_t now, std::uint64_t* timestamp) {
  CreateResult r{};
  create_accounts(&account, 1, now, &r);
  if (timestamp != nullptr) *timestamp = r.timestamp;
  return static_cast<AR>(r.status);
}

SetLimitResult Ledger::apply_limit(std::uint64_t id, std::uint64_t limit) noexcept {
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

SetLimitResult Ledger::set_account_limit(std::uint64_t id, std::uint64_t limit, std::uint64_t now) {
  check_time(now, 1);
  Discard sink;
  if (!expiries_.empty()) expire_due(now, 0, sink);
  next_timestamp(now);
  return apply_limit(id, limit);
}

// ---- transfers -------------------------------------------------------------------

void Ledger::create_transfers(const Transfer* transfers, std::size_t n, std::uint64_t now, std::uint32_t* results) {
  check_time(now, n);
  check_room(0, n, [&] {
    std::uint64_t need = 0;
    for (std::size_t i = 0; i < n; ++i) need += history_need(transfers[i]);
    return need;
  });
  const TransferArray src{transfers, now};
  ResultArray sink{results};
  Request request;
  run_transfers(src, n, sink, request);
}

void Ledger::create_transfers(const Transfer* transfers, std::size_t n, std::uint64_t now, CreateResult* results) {
  check_time(now, n);
  check_room(0, n, [&] {
    std::uint64_t need = 0;
    for (std::size_t i = 0; i < n; ++i) need += history_need(transfers[i]);
    return need;
  });
  const TransferArray src{transfers, now};
  CreateResultArray sink{results};
  Request request;
  run_transfers(src, n, sink, request);
}

TR Ledger::create_transfer(const Transfer& t, std::uint64_t now, std::uint64_t* timestamp) {
  check_time(now, 1);
  check_room(0, 1, [&] { return history_need(t); });
  TimestampOut sink{timestamp};
  return transfer_one(t, now, 0, sink);
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
  const std::uint64_t scalars[] = {account_count_,    transfer_count_,   history_count_,  expiries_.size(),
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
  for (std::uint32_t k = 0; k < expiries_.size(); k += 256) {
    const std::uint32_t n = std::min<std::uint32_t>(256, expiries_.size() - k);
    for (std::uint32_t j = 0; j < n; ++j) buf[j] = logical_of(expiries_.at(k + j));
    h = checksum64(buf, std::size_t{n} * sizeof(std::uint32_t), h);
  }
  for_ring_chunks(archive_.get(), capacity_.archive, archive_head_, archive_count_,
                  [&](const Transfer* p, std::uint32_t n) { h = checksum64(p, std::size_t{n} * sizeof(Transfer), h); });
  return h;
}

// The fields, in order: capacities and window; the clock; accounts (the wire
// record); stored transfers oldest first (holds carry their heap
// back-pointers, posts and voids their kSame* bits); history entries as
// (balances, account index), the per-account links being rebuilt; heap
// entries as logical positions; the archive oldest first. What can be
// derived (history heads and links, counts of history accounts and of
// history entries reserved for timed holds) is not written, so it can never
// disagree with the rest.
void Ledger::save(SnapshotWriter& w) const {
  w.put(capacity_.accounts);
  w.put(capacity_.transfers);
  w.put(capacity_.history);
  w.put(capacity_.archive);
  w.put(capacity_.idempotency_window_ns);
  w.put(last_timestamp_);
  w.put(std::uint64_t{account_count_});
  for (std::uint32_t i = 0; i < account_count_; ++i) w.put(account_at(i));
  w.put(std::uint64_t{transfer_count_});
  for_ring_chunks(transfers_.get(), capacity_.transfers, head_, transfer_count_,
                  [&](const Transfer* p, std::uint32_t n) { w.put_array(p, n); });
  w.put(std::uint64_t{history_count_});
  for (std::uint32_t i = 0; i < history_count_; ++i) {
    w.put(history_[i].balance);
    w.put(history_[i].account);
  }
  w.put(std::uint64_t{expiries_.size()});
  for (std::uint32_t k = 0; k < expiries_.size(); ++k) w.put(logical_of(expiries_.at(k)));
  w.put(std::uint64_t{archive_count_});
  for_ring_chunks(archive_.get(), capacity_.archive, archive_head_, archive_count_,
                  [&](const Transfer* p, std::uint32_t n) { w.put_array(p, n); });
}

std::string Ledger::snapshot() const {
  SnapshotWriter w(kSnapshotMagic, kSnapshotVersion,
                   std::size_t{account_count_} * sizeof(Account) + std::size_t{transfer_count_} * sizeof(Transfer) +
                       std::size_t{history_count_} * (sizeof(AccountBalance) + 4) + std::size_t{expiries_.size()} * 4 +
                       std::size_t{archive_count_} * sizeof(Transfer) + 128);
  save(w);
  return w.finish();
}

Ledger Ledger::restore(const std::uint8_t* data, std::size_t size) {
  SnapshotReader r(data, size, kSnapshotMagic, kSnapshotVersion, kSnapshotVersion, "ledger snapshot");
  Ledger l = load(r);
  r.expect_end();
  return l;
}

// The checksum guards against accidents; these checks make sure that even a
// well-formed snapshot (a valid checksum over bytes no ledger wrote) is
// refused unless it is a state the ledger could have reached in every way
// the code relies on: no index out of bounds, no balance that a hold's
// release would wrap, no expiry that would write past the history array,
// and money conserved.
Ledger Ledger::load(SnapshotReader& r) { return load(r, nullptr, 0); }

Ledger Ledger::load(SnapshotReader& r, const ExternalPending* external, std::size_t n_external) {
  LedgerCapacity cap;
  cap.accounts = r.get<std::uint32_t>();
  cap.transfers = r.get<std::uint32_t>();
  cap.history = r.get<std::uint32_t>();
  cap.archive = r.get<std::uint32_t>();
  cap.idempotency_window_ns = r.get<std::uint64_t>();
  for (std::uint32_t c : {cap.accounts, cap.transfers, cap.history}) {
    if (c == 0 || c > kMaxCapacity) r.fail("capacity " + std::to_string(c) + " out of range");
  }
  if (cap.archive > kMaxCapacity) r.fail("archive capacity out of range");
  if (cap.idempotency_window_ns > kTimeMax) r.fail("idempotency window out of range");
  const std::uint64_t last = r.get<std::uint64_t>();
  if (last > kTimeMax) r.fail("clock out of range");
  // Counts are checked against the bytes left before anything is allocated.
  const std::uint64_t account_count = r.get_count(cap.accounts, sizeof(Account), "account");
  std::vector<Account> accounts(account_count);
  r.get_array(accounts.data(), accounts.size());
  const std::uint64_t transfer_count = r.get_count(cap.transfers, sizeof(Transfer), "transfer");
  std::vector<Transfer> transfers(transfer_count);
  r.get_array(transfers.data(), transfers.size());
  const std::uint64_t history_count =
      r.get_count(cap.history, sizeof(AccountBalance) + sizeof(std::uint32_t), "history entry");
  std::vector<HistoryEntry> history(history_count);
  for (HistoryEntry& e : history) {
    e.balance = r.get<AccountBalance>();
    e.account = r.get<std::uint32_t>();
    e.prev = 0;
  }
  const std::uint64_t expiry_count = r.get_count(transfer_count, sizeof(std::uint32_t), "expiry");
  std::vector<std::uint32_t> expiries(expiry_count);
  r.get_array(expiries.data(), expiries.size());
  const std::uint64_t archive_count = r.get_count(cap.archive, sizeof(Transfer), "archived transfer");
  std::vector<Transfer> archive(archive_count);
  r.get_array(archive.data(), archive.size());

  Ledger l(cap);
  l.last_timestamp_ = last;
  auto valid_id = [](std::uint64_t id) { return id != 0 && id != kIdMax; };
  auto fail_at = [&r](const char* what, std::uint64_t i, const char* why) {
    r.fail(std::string(what) + " " + std::to_string(i) + ": " + why);
  };

  // Accounts.
  for (std::uint32_t i = 0; i < account_count; ++i) {
    const Account& a = accounts[i];
    if (!valid_id(a.id) || l.account_map_.find(a.id, l.accounts_.get()) != kNotFound) {
      fail_at("account", i, "bad or duplicate id");
    }
    if (a.reserved != 0 || (a.flags & ~af::kKnown) != 0 || a.ledger == 0 || a.code == 0) {
      fail_at("account", i, "a field no created account has");
    }
    const bool debit_limited = has(a.flags, af::kDebitsMustNotExceedCredits);
    const bool credit_limited = has(a.flags, af::kCreditsMustNotExceedDebits);
    if ((debit_limited && credit_limited) || (a.limit != 0 && !debit_limited && !credit_limited)) {
      fail_at("account", i, "flags and limit disagree");
    }
    if (add_overflows(a.debits_pending, a.debits_posted) || add_overflows(a.credits_pending, a.credits_posted)) {
      fail_at("account", i, "debits or credits overflow");
    }
    if (a.timestamp == 0 || a.timestamp > last) fail_at("account", i, "timestamp after the clock");
    l.accounts_[i] = AccountHot{a.id,    a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                                a.limit, a.ledger,         a.code,          a.flags,           0,
                                0};
    l.accounts_cold_[i] =
        AccountCold{{a.user_data_128[0], a.user_data_128[1]}, a.user_data_64, a.user_data_32, 0, a.timestamp};
    l.account_map_.insert(a.id, i);
    if (has(a.flags, af::kHistory)) ++l.history_accounts_;
  }
  l.account_count_ = static_cast<std::uint32_t>(account_count);

  // Transfers: written oldest first, restored from slot 0.
  for (std::uint32_t i = 0; i < transfer_count; ++i) {
    const Transfer& t = transfers[i];
    if (!valid_id(t.id) || l.transfer_map_.find(t.id, l.transfers_.get()) != kNotFound) {
      fail_at("transfer", i, "bad or duplicate id");
    }
    // Stored in timestamp order without a window (the queries rely on it;
    // eviction moves records, so not with one).
    if (cap.idempotency_window_ns == 0 && i > 0 && t.timestamp < transfers[i - 1].timestamp) {
      fail_at("transfer", i, "out of time order");
    }
    l.transfers_[i] = t;
    l.transfer_map_.insert(t.id, i);
  }
  l.transfer_count_ = static_cast<std::uint32_t>(transfer_count);
  // What the live holds hold, per account, to compare with the pending balances.
  std::vector<u128> held_debits(account_count), held_credits(account_count);
  std::uint64_t holds_in_heap = 0;
  for (std::uint32_t i = 0; i < transfer_count; ++i) {
    const Transfer& t = l.transfers_[i];
    const PendingStatus status = status_of(t);
    if (status > PendingStatus::kFailed || (t.reserved & ~(0xFFU | kSameBits)) != 0 ||
        (!resolves_hold(t) && (t.reserved & kSameBits) != 0)) {
      fail_at("transfer", i, "bad status");
    }
    // A remembered failed id of an imported request takes the clock as it
    // was, which may still be 0.
    if ((t.timestamp == 0 && status != PendingStatus::kFailed) || t.timestamp > last) {
      fail_at("transfer", i, "timestamp after the clock");
    }
    if (status == PendingStatus::kFailed) {
      // A remembered failed id is its id, timestamp and status only.
      Transfer bare{};
      bare.id = t.id;
      bare.timestamp = t.timestamp;
      bare.reserved = t.reserved;
      if (std::memcmp(&bare, &t, sizeof(Transfer)) != 0) fail_at("transfer", i, "failed id with fields");
      continue;
    }
    if ((t.flags & ~tf::kKnown) != 0) fail_at("transfer", i, "bad flags");
    const std::uint32_t dr = l.account_map_.find(t.debit_account_id, l.accounts_.get());
    const std::uint32_t cr = l.account_map_.find(t.credit_account_id, l.accounts_.get());
    if (dr == kNotFound || cr == kNotFound || dr == cr) fail_at("transfer", i, "unknown or equal accounts");
    const AccountHot& d = l.accounts_[dr];
    const AccountHot& c = l.accounts_[cr];
    if (d.ledger != t.ledger || c.ledger != t.ledger) fail_at("transfer", i, "ledger differs from its accounts'");
    if (is_hold(t)) {
      if (resolves_hold(t) || status == PendingStatus::kNone) fail_at("transfer", i, "bad hold");
      if (t.timeout_ns > kTimeMax - t.timestamp) fail_at("transfer", i, "timeout overflows");
      if (t.timeout_ns != 0 && has(t.flags, tf::kImported)) fail_at("transfer", i, "an imported hold with a timeout");
      if (t.pending_id != 0) ++holds_in_heap;
      if (status != PendingStatus::kPending) continue;
      if (t.timeout_ns != 0) {
        if (t.pending_id == 0) fail_at("transfer", i, "a live timed hold is not in the expiry heap");
        l.history_reserved_ += history_entries_for(d) + history_entries_for(c);
      }
      held_debits[dr] += t.amount;
      held_credits[cr] += t.amount;
      if ((has(t.flags, tf::kClosingDebit) && !has(d.flags, af::kClosed)) ||
          (has(t.flags, tf::kClosingCredit) && !has(c.flags, af::kClosed))) {
        fail_at("transfer", i, "a live closing hold's account is open");
      }
    } else if (resolves_hold(t)) {
      if (status != PendingStatus::kNone || t.timeout_ns != 0 || !valid_id(t.pending_id) ||
          has(t.flags, tf::kBalancingDebit | tf::kBalancingCredit | tf::kClosingDebit | tf::kClosingCredit) ||
          (has(t.flags, tf::kPostPendingTransfer) && has(t.flags, tf::kVoidPendingTransfer))) {
        fail_at("transfer", i, "bad post or void");
      }
      const std::uint32_t pi = l.transfer_map_.find(t.pending_id, l.transfers_.get());
      if (pi == kNotFound) {
        // Eviction may drop a hold before its post (only with a window).
        if (cap.idempotency_window_ns == 0) fail_at("transfer", i, "names an unknown hold");
        continue;
      }
      const Transfer& p = l.transfers_[pi];
      const PendingStatus want = has(t.flags, tf::kPostPendingTransfer) ? PendingStatus::kPosted
                                                                        : PendingStatus::kVoided;
      if (!is_hold(p) || status_of(p) != want || p.debit_account_id != t.debit_account_id ||
          p.credit_account_id != t.credit_account_id || t.amount > p.amount) {
        fail_at("transfer", i, "disagrees with its hold");
      }
    } else if (status != PendingStatus::kNone || t.pending_id != 0 || t.timeout_ns != 0) {
      fail_at("transfer", i, "bad single-phase transfer");
    }
  }
  for (std::size_t k = 0; k < n_external; ++k) {
    const std::uint32_t i = l.account_map_.find(external[k].account_id, l.accounts_.get());
    if (i == kNotFound) r.fail("a balance-only hold names an unknown account");
    held_debits[i] += external[k].debits;
    held_credits[i] += external[k].credits;
  }
  for (std::uint32_t i = 0; i < account_count; ++i) {
    if (held_debits[i] != l.accounts_[i].debits_pending || held_credits[i] != l.accounts_[i].credits_pending) {
      fail_at("account", i, "pending balances differ from its live holds");
    }
  }
  // Double entry: per ledger, debits equal credits, posted and pending.
  // Sums of up to 2^31 balances below 2^64 stay below 2^95: u128 cannot
  // overflow, and the adds are checked all the same.
  {
    std::vector<std::uint32_t> order(account_count);
    for (std::uint32_t i = 0; i < account_count; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return l.accounts_[a].ledger < l.accounts_[b].ledger; });
    for (std::size_t k = 0; k < order.size();) {
      const std::uint32_t ledger = l.accounts_[order[k]].ledger;
      u128 sums[4] = {0, 0, 0, 0};
      for (; k < order.size() && l.accounts_[order[k]].ledger == ledger; ++k) {
        const AccountHot& a = l.accounts_[order[k]];
        const std::uint64_t parts[4] = {a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending};
        for (int j = 0; j < 4; ++j) {
          if (__builtin_add_overflow(sums[j], u128{parts[j]}, &sums[j])) r.fail("ledger totals overflow");
        }
      }
      if (sums[0] != sums[1]) r.fail("ledger " + std::to_string(ledger) + ": debits posted differ from credits posted");
      if (sums[2] != sums[3]) {
        r.fail("ledger " + std::to_string(ledger) + ": debits pending differ from credits pending");
      }
    }
  }

  // History: entries in time order per account, links rebuilt.
  std::vector<std::uint64_t> last_entry(account_count, 0);
  for (std::uint32_t i = 0; i < history_count; ++i) {
    HistoryEntry& e = history[i];
    if (e.account >= account_count || !has(l.accounts_[e.account].flags, af::kHistory)) {
      fail_at("history entry", i, "names no history account");
    }
    if (e.balance.timestamp <= last_entry[e.account] || e.balance.timestamp > last) {
      fail_at("history entry", i, "out of time order");
    }
    last_entry[e.account] = e.balance.timestamp;
    e.prev = l.accounts_[e.account].history_head;
    l.accounts_[e.account].history_head = i + 1;
    l.history_[i] = e;
  }
  l.history_count_ = static_cast<std::uint32_t>(history_count);
  if (l.history_reserved_ > std::uint64_t{cap.history} - history_count) {
    r.fail("no room for the history entries the timed holds will need");
  }

  // The expiry heap: every entry a distinct timed hold still in it that
  // points back at it, in heap order (the keys live in the holds: a bad
  // entry would misorder expiries).
  if (holds_in_heap != expiry_count) r.fail("expiry back-pointers disagree with the heap");
  for (std::uint32_t i = 0; i < expiry_count; ++i) {
    const std::uint32_t e = expiries[i];
    if (e >= transfer_count) fail_at("expiry", i, "out of range");
    const Transfer& t = l.transfers_[e];
    if (!is_hold(t) || t.timeout_ns == 0 || t.pending_id != i + 1 || status_of(t) == PendingStatus::kExpired) {
      fail_at("expiry", i, "names no timed hold or disagrees with its back-pointer");
    }
    if (i > 0 && ExpiryPolicy{l.transfers_.get()}.less(e, expiries[(i - 1) / 2])) fail_at("expiry", i, "out of order");
    l.expiry_storage_[i] = e;
  }
  // A valid heap: assign() keeps its order and rewrites the same back-pointers.
  l.expiries_.assign(static_cast<std::uint32_t>(expiry_count));

  for (std::uint32_t i = 0; i < archive_count; ++i) {
    const Transfer& t = archive[i];
    if (!valid_id(t.id) || t.reserved >= static_cast<std::uint32_t>(PendingStatus::kFailed) ||
        (is_hold(t) && t.pending_id != 0) || t.timestamp == 0 || t.timestamp > last) {
      fail_at("archived transfer", i, "not a record eviction could have archived");
    }
    l.archive_[i] = t;
  }
  l.archive_count_ = static_cast<std::uint32_t>(archive_count);
  l.rebuild_index();
  return l;
}

// ---- balance-only operations -----------------------------------------------------------

namespace {
// Room for `add` more on one side whose pending and posted totals are
// `pending` and `posted` (the snapshot requires their sum below 2^64).
bool fits(std::uint64_t pending, std::uint64_t posted, std::uint64_t add) noexcept {
  return u128{pending} + posted + add <= ~std::uint64_t{0};
}

// Whether `debit` more posted debits and `credit` more posted credits fit
// on `a`, rebasing it if they need to; *rebase is what to take off both of
// its posted totals first (0: nothing). Changes nothing itself.
template <class A>
bool posted_room(const A& a, std::uint64_t debit, std::uint64_t credit, std::uint64_t* rebase) noexcept {
  *rebase = 0;
  if (fits(a.debits_pending, a.debits_posted, debit) && fits(a.credits_pending, a.credits_posted, credit)) {
    return true;
  }
  const std::uint64_t m = std::min(a.debits_posted, a.credits_posted);
  *rebase = m;
  return fits(a.debits_pending, a.debits_posted - m, debit) && fits(a.credits_pending, a.credits_posted - m, credit);
}

template <class A>
void rebase_posted(A& a, std::uint64_t m) noexcept {
  a.debits_posted -= m;
  a.credits_posted -= m;
}
}  // namespace

bool Ledger::hold_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept {
  AccountHot& d = accounts_[debit];
  AccountHot& c = accounts_[credit];
  if ((d.flags & account_flags::kDebitsMustNotExceedCredits) != 0 && debit_room(d) < static_cast<__int128>(amount)) {
    return false;
  }
  if (!fits(d.debits_pending, d.debits_posted, amount) || !fits(c.credits_pending, c.credits_posted, amount)) {
    return false;
  }
  d.debits_pending += amount;
  c.credits_pending += amount;
  return true;
}

bool Ledger::release_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept {
  AccountHot& d = accounts_[debit];
  AccountHot& c = accounts_[credit];
  if (d.debits_pending < amount || c.credits_pending < amount) return false;
  d.debits_pending -= amount;
  c.credits_pending -= amount;
  return true;
}

bool Ledger::post_balance(std::uint32_t debit, std::uint32_t credit, std::uint32_t to, std::uint64_t amount) noexcept {
  AccountHot& d = accounts_[debit];
  AccountHot& c = accounts_[credit];
  AccountHot& t = accounts_[to];
  if (d.debits_pending < amount || c.credits_pending < amount) return false;
  // The debit side's pending + posted total does not change (pending becomes posted).
  std::uint64_t rebase = 0;
  if (!posted_room(t, 0, amount, &rebase)) return false;
  rebase_posted(t, rebase);
  d.debits_pending -= amount;
  d.debits_posted += amount;
  c.credits_pending -= amount;
  t.credits_posted += amount;
  return true;
}

bool Ledger::move_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept {
  AccountHot& d = accounts_[debit];
  AccountHot& c = accounts_[credit];
  if ((d.flags & account_flags::kDebitsMustNotExceedCredits) != 0 && debit_room(d) < static_cast<__int128>(amount)) {
    return false;
  }
  std::uint64_t rebase_d = 0, rebase_c = 0;
  if (!posted_room(d, amount, 0, &rebase_d) || !posted_room(c, 0, amount, &rebase_c)) return false;
  rebase_posted(d, rebase_d);
  rebase_posted(c, rebase_c);
  d.debits_posted += amount;
  c.credits_posted += amount;
  return true;
}

// The query index is derived from the stored transfers (in storage order,
// which is timestamp order without a window), so snapshots do not hold it.
void Ledger::rebuild_index() noexcept {
  if (!indexed()) return;
  for (std::uint32_t i = 0; i < account_count_; ++i) accounts_[i].transfers_tail = 0;
  for (std::uint32_t k = 0; k < transfer_count_; ++k) {
    const std::uint32_t slot = slot_at(k);
    const Transfer& t = transfers_[slot];
    if (status_of(t) == PendingStatus::kFailed) continue;
    link_transfer(slot, account_map_.find(t.debit_account_id, accounts_.get()),
                  account_map_.find(t.credit_account_id, accounts_.get()));
    index_user_data(slot, t);
  }
}

}  // namespace shanraq::ledger
