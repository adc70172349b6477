// TigerBeetle 0.17's queries: get_account_transfers, get_account_balances,
// query_accounts, query_transfers (ledger.hpp says what each costs).
#include <algorithm>
#include <utility>
#include <vector>

#include "ledger_impl.hpp"
#include "shanraq/ledger/ledger.hpp"

namespace shanraq::ledger {

namespace {

namespace ff = account_filter_flags;

// Inclusive bounds with 0 meaning "unbounded" (TigerBeetle's convention).
std::uint64_t upper(std::uint64_t tmax) noexcept { return tmax == 0 ? ~std::uint64_t{0} : tmax; }

template <class R>
bool user_data_matches(const R& r, const std::uint64_t (&ud128)[2], std::uint64_t ud64, std::uint32_t ud32) noexcept {
  if (!ud128_is_zero(ud128) && !ud128_eq(r.user_data_128, ud128)) return false;
  if (ud64 != 0 && r.user_data_64 != ud64) return false;
  return ud32 == 0 || r.user_data_32 == ud32;
}

bool matches(const Transfer& t, const AccountFilter& f) noexcept {
  if (t.timestamp < f.timestamp_min || t.timestamp > upper(f.timestamp_max)) return false;
  if (f.code != 0 && t.code != f.code) return false;
  return user_data_matches(t, f.user_data_128, f.user_data_64, f.user_data_32);
}

template <class R>
bool matches(const R& r, const QueryFilter& f) noexcept {
  if (r.timestamp < f.timestamp_min || r.timestamp > upper(f.timestamp_max)) return false;
  if (f.ledger != 0 && r.ledger != f.ledger) return false;
  if (f.code != 0 && r.code != f.code) return false;
  return user_data_matches(r, f.user_data_128, f.user_data_64, f.user_data_32);
}

}  // namespace

std::pair<std::uint32_t, std::uint32_t> Ledger::transfer_range(std::uint64_t tmin, std::uint64_t tmax) const noexcept {
  // Without a window logical position k is slot k and timestamps never
  // decrease along it.
  const Transfer* base = transfers_.get();
  const Transfer* end = base + transfer_count_;
  const Transfer* lo = std::partition_point(base, end, [&](const Transfer& t) { return t.timestamp < tmin; });
  const Transfer* hi = std::partition_point(lo, end, [&](const Transfer& t) { return t.timestamp <= upper(tmax); });
  return {static_cast<std::uint32_t>(lo - base), static_cast<std::uint32_t>(hi - base)};
}

std::pair<std::uint32_t, std::uint32_t> Ledger::account_range(std::uint64_t tmin, std::uint64_t tmax) const noexcept {
  // Accounts are never removed and take increasing timestamps.
  const AccountCold* base = accounts_cold_.get();
  const AccountCold* end = base + account_count_;
  const AccountCold* lo = std::partition_point(base, end, [&](const AccountCold& a) { return a.timestamp < tmin; });
  const AccountCold* hi =
      std::partition_point(lo, end, [&](const AccountCold& a) { return a.timestamp <= upper(tmax); });
  return {static_cast<std::uint32_t>(lo - base), static_cast<std::uint32_t>(hi - base)};
}

// Calls visit(slot) for the account's transfers that the filter matches, in
// the filter's order, until visit returns false.
template <class Visit>
void Ledger::walk_account(const AccountFilter& f, std::uint32_t account, Visit visit) const {
  const bool reversed = (f.flags & ff::kReversed) != 0;
  const std::uint32_t tail = accounts_[account].transfers_tail;
  if (indexed()) {
    if (tail == 0) return;
    std::uint32_t ref = reversed ? tail : transfers_first_[account];
    // A page that starts at a time bound (the next page of a statement)
    // starts at the account's first transfer past it: the store is in
    // timestamp order, so a binary search finds the bound and a short
    // sequential scan of the store (cheap next to the list's cache misses)
    // usually finds the account there. Only if the account is rarer than
    // that near the bound does the walk start from the end of the list.
    const std::uint64_t bound = reversed ? f.timestamp_max : f.timestamp_min;
    if (bound != 0) {
      constexpr std::uint32_t kScan = 4096;
      const std::uint64_t id = accounts_[account].id;
      const std::uint32_t first_slot = (transfers_first_[account] >> 1) - 1;
      const std::uint32_t last_slot = (tail >> 1) - 1;
      const auto [lo, hi] = transfer_range(f.timestamp_min, f.timestamp_max);
      const std::uint32_t span = hi - lo;
      std::uint32_t k = 0;
      for (; k < kScan && k < span; ++k) {
        const std::uint32_t slot = reversed ? hi - 1 - k : lo + k;
        // Past the account's last (first) transfer: none in the range.
        if (reversed ? slot < first_slot : slot > last_slot) return;
        const Transfer& t = transfers_[slot];
        if (status_of(t) == PendingStatus::kFailed) continue;
        if (t.debit_account_id == id || t.credit_account_id == id) {
          ref = (slot + 1) * 2 + (t.debit_account_id == id ? 0 : 1);
          break;
        }
      }
      if (k == span) return;  // the whole range scanned: none in it
    }
    while (ref != 0) {
      const std::uint32_t slot = (ref >> 1) - 1;
      const std::uint32_t side = ref & 1;
      const Transfer& t = transfers_[slot];
      // Past the bound the walk started from, nothing more can match.
      if (reversed ? t.timestamp < f.timestamp_min : t.timestamp > upper(f.timestamp_max)) return;
      if ((f.flags & (side == 0 ? ff::kDebits : ff::kCredits)) != 0 && matches(t, f) && !visit(slot)) return;
      if (!reversed && ref == tail) return;
      ref = links_[slot].ref[2 * side + (reversed ? 0 : 1)];
    }
    return;
  }
  // With a window: every stored transfer, sorted by timestamp (eviction
  // moves records to the back of the store).
  const std::uint64_t id = accounts_[account].id;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> found;
  for (std::uint32_t k = 0; k < transfer_count_; ++k) {
    const std::uint32_t slot = slot_at(k);
    const Transfer& t = transfers_[slot];
    if (status_of(t) == PendingStatus::kFailed) continue;
    const bool debit = (f.flags & ff::kDebits) != 0 && t.debit_account_id == id;
    const bool credit = (f.flags & ff::kCredits) != 0 && t.credit_account_id == id;
    if ((debit || credit) && matches(t, f)) found.emplace_back(t.timestamp, slot);
  }
  std::sort(found.begin(), found.end());
  if (reversed) std::reverse(found.begin(), found.end());
  for (const auto& [ts, slot] : found) {
    if (!visit(slot)) return;
  }
}

std::size_t Ledger::get_account_transfers(const AccountFilter& filter, Transfer* out) const {
  if (!is_valid(filter)) return 0;
  const std::uint32_t a = account_map_.find(filter.account_id, accounts_.get());
  if (a == kNotFound) return 0;
  const std::size_t room = query_room(filter.limit);
  std::size_t n = 0;
  walk_account(filter, a, [&](std::uint32_t slot) {
    out[n++] = exported(transfers_[slot]);
    return n < room;
  });
  return n;
}

std::size_t Ledger::get_account_balances(const AccountFilter& filter, AccountBalance* out) const {
  if (!is_valid(filter)) return 0;
  const std::uint32_t a = account_map_.find(filter.account_id, accounts_.get());
  if (a == kNotFound || !has(accounts_[a].flags, af::kHistory)) return 0;
  const std::size_t room = query_room(filter.limit);
  const HistoryEntry* base = history_.get();
  const HistoryEntry* end = base + history_count_;
  std::size_t n = 0;
  walk_account(filter, a, [&](std::uint32_t slot) {
    // History entries are appended in timestamp order; a transfer's entries
    // (one per history account it touched) share its timestamp.
    const std::uint64_t ts = transfers_[slot].timestamp;
    const HistoryEntry* e =
        std::partition_point(base, end, [&](const HistoryEntry& h) { return h.balance.timestamp < ts; });
    for (; e != end && e->balance.timestamp == ts; ++e) {
      if (e->account == a) {
        out[n++] = e->balance;
        break;
      }
    }
    return n < room;
  });
  return n;
}

std::size_t Ledger::query_accounts(const QueryFilter& filter, Account* out) const {
  if (!is_valid(filter)) return 0;
  const std::size_t room = query_room(filter.limit);
  const auto [lo, hi] = account_range(filter.timestamp_min, filter.timestamp_max);
  const bool reversed = (filter.flags & query_filter_flags::kReversed) != 0;
  std::size_t n = 0;
  for (std::uint32_t k = 0; k < hi - lo && n < room; ++k) {
    const std::uint32_t i = reversed ? hi - 1 - k : lo + k;
    const AccountHot& h = accounts_[i];
    if ((filter.ledger != 0 && h.ledger != filter.ledger) || (filter.code != 0 && h.code != filter.code)) continue;
    const Account acc = account_at(i);
    if (matches(acc, filter)) out[n++] = acc;
  }
  return n;
}

std::size_t Ledger::query_transfers(const QueryFilter& filter, Transfer* out) const {
  if (!is_valid(filter)) return 0;
  const std::size_t room = query_room(filter.limit);
  const bool reversed = (filter.flags & query_filter_flags::kReversed) != 0;
  std::size_t n = 0;
  auto take = [&](const Transfer& t) {
    if (status_of(t) != PendingStatus::kFailed && matches(t, filter)) out[n++] = exported(t);
  };
  if (indexed() && (!ud128_is_zero(filter.user_data_128) || filter.user_data_64 != 0)) {
    // A user-data chain holds the value's transfers (and any whose value
    // shares its head), newest first.
    const bool by128 = !ud128_is_zero(filter.user_data_128);
    std::uint32_t ref = by128 ? ud128_heads_[ud_bucket(ud128_hash(filter.user_data_128))]
                              : ud64_heads_[ud_bucket(hash_id(filter.user_data_64))];
    std::vector<std::uint32_t> ascending;
    for (; ref != 0; ref = by128 ? ud_links_[ref - 1].prev128 : ud_links_[ref - 1].prev64) {
      const Transfer& t = transfers_[ref - 1];
      if (t.timestamp > upper(filter.timestamp_max)) continue;
      if (t.timestamp < filter.timestamp_min) break;
      if (!matches(t, filter)) continue;
      if (reversed) {
        out[n++] = exported(t);
        if (n == room) break;
      } else {
        ascending.push_back(ref - 1);
      }
    }
    for (std::size_t k = ascending.size(); k-- > 0 && n < room;) out[n++] = exported(transfers_[ascending[k]]);
    return n;
  }
  if (indexed()) {
    const auto [lo, hi] = transfer_range(filter.timestamp_min, filter.timestamp_max);
    for (std::uint32_t k = 0; k < hi - lo && n < room; ++k) take(transfers_[reversed ? hi - 1 - k : lo + k]);
    return n;
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> found;
  for (std::uint32_t k = 0; k < transfer_count_; ++k) {
    const std::uint32_t slot = slot_at(k);
    const Transfer& t = transfers_[slot];
    if (status_of(t) != PendingStatus::kFailed && matches(t, filter)) found.emplace_back(t.timestamp, slot);
  }
  std::sort(found.begin(), found.end());
  if (reversed) std::reverse(found.begin(), found.end());
  for (std::size_t k = 0; k < found.size() && n < room; ++k) take(transfers_[found[k].second]);
  return n;
}

}  // namespace shanraq::ledger
