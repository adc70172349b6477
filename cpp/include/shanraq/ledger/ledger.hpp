// An in-process double-entry ledger with TigerBeetle's semantics: accounts,
// single-phase and two-phase transfers, linked chains, balancing and closing
// transfers, exact idempotency, holds that expire as command time advances,
// per-account balance history, plus numeric overdraft / credit limits.
//
// The ledger core. Its state machine (machine.hpp: commands in, events out,
// sequence numbers, chains that span commands) wraps it and is what the
// bindings and the runner drive; this class stays a plain C++ API for C++
// callers (the exchange) that apply a request at a time.
//
// Deterministic and single-writer (docs/ledger.md): time arrives with every
// call (`now`, ns) and is never read from a clock; every event gets a
// timestamp max(now, last + 1), so timestamps strictly increase; equal call
// streams give equal state_hash() and snapshot() bytes. Not thread-safe: one
// thread at a time may call any member function.
//
// Memory is fixed by the capacities given to the constructor (records in
// lazily-committed arrays, open-addressing id maps, undo logs sized for the
// longest chain); nothing allocates after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "shanraq/common/errors.hpp"
#include "shanraq/common/hash.hpp"
#include "shanraq/common/id_map.hpp"
#include "shanraq/common/index_heap.hpp"
#include "shanraq/common/prefetch.hpp"
#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/common/zeroed.hpp"
#include "shanraq/ledger/types.hpp"

namespace shanraq::ledger {

class LedgerMachine;

struct LedgerCapacity {
  std::uint32_t accounts = 1U << 20;
  std::uint32_t transfers = 1U << 23;  // stored transfers plus remembered failed ids
  std::uint32_t history = 1U << 20;    // balance-history entries
  // Idempotency window in ns (0 = off: every id is kept for ever). With W > 0
  // transfer ids must carry their creation time (id_time_ns, types.hpp); ids
  // older than an event's timestamp - W are rejected, and eviction drops
  // them. Configuration that changes results, so snapshots record it.
  std::uint64_t idempotency_window_ns = 0;
  // Room for evicted transfers awaiting drain_evicted() (0 = none: evicted
  // transfers are dropped; archive them from the command journal). With
  // room, eviction never drops a transfer the service has not drained: when
  // the archive is full, eviction waits (stored transfers then grow towards
  // `transfers` and, at that capacity, commands raise CapacityError).
  // Configuration that changes results, so snapshots record it.
  std::uint32_t archive = 0;
};

class Ledger {
 public:
  // Largest capacity of each kind (index space of the id maps).
  static constexpr std::uint32_t kMaxCapacity = (1U << 31) - 1;

  // Throws std::invalid_argument for a zero or too large capacity,
  // std::bad_alloc if the address space cannot be reserved.
  explicit Ledger(const LedgerCapacity& capacity = {});
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  Ledger(Ledger&&) noexcept = default;
  Ledger& operator=(Ledger&&) noexcept = default;
  ~Ledger() = default;

  // ---- requests ----------------------------------------------------------------
  // A request of n records: one result per record, in order (`results` has n
  // entries), linked chains honoured (the last record's chain, if still
  // linked, answers LINKED_EVENT_CHAIN_OPEN, as does the kMaxChain-th member
  // of a chain that is still linked). `now` is the request's time in ns
  // (< 2^63). Throws CapacityError (nothing applied) if the request might
  // not fit, std::invalid_argument if `now` is out of range.
  //
  // Results are status codes (uint32_t) or TigerBeetle 0.17's results
  // (CreateResult: status and timestamp). The first record decides whether
  // the request imports (flags IMPORTED: records carry their own timestamps,
  // docs/ledger.md); records that disagree are refused.
  //
  // Time passes first: before each record or chain, holds whose timeout has
  // passed at the timestamp the record will take expire (in expiry order);
  // before each transfer or transfer chain of k members, with an
  // idempotency window, the eviction step runs over at most kEvictPerEvent
  // x k stored records (below).
  void create_accounts(const Account* accounts, std::size_t n, std::uint64_t now, std::uint32_t* results);
  void create_transfers(const Transfer* transfers, std::size_t n, std::uint64_t now, std::uint32_t* results);
  void create_accounts(const Account* accounts, std::size_t n, std::uint64_t now, CreateResult* results);
  void create_transfers(const Transfer* transfers, std::size_t n, std::uint64_t now, CreateResult* results);

  // One-record requests: the results, state and errors of a request of one;
  // `timestamp`, if given, receives the result's timestamp (CreateResult).
  // create_transfer skips the request pipeline (one record has nothing to
  // overlap) and answers a lone LINKED transfer without opening a chain.
  CreateAccountResult create_account(const Account& account, std::uint64_t now, std::uint64_t* timestamp = nullptr);
  CreateTransferResult create_transfer(const Transfer& transfer, std::uint64_t now, std::uint64_t* timestamp = nullptr);

  // A hint for the per-call path (the binding): starts loading the cache
  // lines create_transfer will need for a transfer with these ids (the id and
  // pending-id map slots, both account-map slots, and whatever records those
  // slots already name). With 1M accounts they are DRAM misses; issued before
  // the remaining arguments are converted, they overlap that work. Never
  // changes state or results; any ids are safe (0 for absent ones).
  void prefetch_transfer(std::uint64_t id, std::uint64_t debit_account_id, std::uint64_t credit_account_id,
                         std::uint64_t pending_id) const noexcept {
    const std::uint64_t hi = hash_id(id), hd = hash_id(debit_account_id), hc = hash_id(credit_account_id),
                        hp = hash_id(pending_id);
    transfer_map_.prefetch_h(hi);
    account_map_.prefetch_h(hd);
    account_map_.prefetch_h(hc);
    transfer_map_.prefetch_h(hp);
  }
  // The second stage: the account records (and the hold a post or void names)
  // that the slots prefetch_transfer loaded point at.
  void prefetch_transfer_records(std::uint64_t debit_account_id, std::uint64_t credit_account_id,
                                 std::uint64_t pending_id) const noexcept {
    prefetch_line(&accounts_[account_map_.home_index_h(hash_id(debit_account_id))]);
    prefetch_line(&accounts_[account_map_.home_index_h(hash_id(credit_account_id))]);
    prefetch_line(&transfers_[transfer_map_.home_index_h(hash_id(pending_id))]);
  }

  // Sets an account's overdraft / credit limit (an extension). An event like
  // a create: holds due at its time expire first, and it takes a timestamp
  // whatever its result. Takes effect for later transfers; balances already
  // beyond a lowered limit stay as they are and only block further movement
  // in that direction. std::invalid_argument if `now` is out of range.
  SetLimitResult set_account_limit(std::uint64_t id, std::uint64_t limit, std::uint64_t now);

  // Releases every hold whose timeout has passed at `now` (TigerBeetle's
  // expiry pulse), each taking a timestamp. Returns how many expired.
  // std::invalid_argument if `now` is out of range.
  std::size_t expire_pending_transfers(std::uint64_t now);

  // With an idempotency window, eviction runs by itself (docs/ledger.md):
  // before each transfer or transfer chain (k members), the ledger examines
  // up to kEvictPerEvent x k of its oldest stored records (in storage
  // order, i.e. timestamp order but for records moved back). A record whose
  // id's time is older than T - W, T being the timestamp the chain's first
  // event will take at the earliest, and that is not a live hold is
  // evicted: dropped from the id index and, with an archive, copied to it
  // (remembered failed ids are dropped without archiving). A record that
  // cannot be evicted yet (a live hold, or an id ahead of the window) but
  // whose timestamp is older than T - W is moved to the back; the first
  // other record stops the step. Later answers are the same whether or not
  // a record has been evicted yet: every evictable id is already answered
  // ID_OUTSIDE_IDEMPOTENCY_WINDOW. Bounded work per event; deterministic.
  static constexpr std::size_t kEvictPerEvent = 4;

  // Runs the eviction step over every stored record now (each examined at
  // most once) and returns how many were evicted: for quiet moments, or to
  // evict when no transfer is coming. O(stored transfers); takes no
  // timestamp and judges at last_timestamp(). 0 when the window is off.
  std::size_t evict() noexcept;

  // Moves up to `max` of the oldest archived (evicted) transfers into `out`,
  // oldest first, and returns how many. Each is the stored record as it was
  // evicted: timestamp, amount moved, `reserved` = its final PendingStatus.
  // Changes state (snapshots hold the archive).
  std::size_t drain_evicted(Transfer* out, std::size_t max) noexcept;
  // Evicted transfers waiting in the archive.
  std::size_t archived_count() const noexcept { return archive_count_; }

  // ---- queries (never change state) ----------------------------------------
  // The account's record as of now (a copy: accounts are stored split into
  // hot balances and cold fields, see AccountHot), or nothing if unknown.
  std::optional<Account> lookup_account(std::uint64_t id) const noexcept;
  // The same for callers without std::optional (the Cython binding): fills
  // `out` and returns true, or returns false and leaves `out` alone.
  bool lookup_account(std::uint64_t id, Account& out) const noexcept;
  // A stored transfer (a copy; its `reserved` field is its PendingStatus), or
  // nothing if the id is unknown, only remembered as failed, or evicted.
  std::optional<Transfer> lookup_transfer(std::uint64_t id) const noexcept;
  // The same without std::optional (the Cython binding).
  bool lookup_transfer(std::uint64_t id, Transfer& out) const noexcept;

  // Balances of a history account after each change with timestamp in
  // [since, until], oldest first: writes the oldest min(count, max) of them
  // into `out` and returns how many there are in the range (so out = nullptr,
  // max = 0 counts). 0 for an unknown account or one without the history flag.
  std::size_t account_history(std::uint64_t id, std::uint64_t since, std::uint64_t until, AccountBalance* out,
                              std::size_t max) const noexcept;

  // TigerBeetle 0.17's queries (docs/ledger.md). Each writes at most
  // query_room(filter.limit) records into `out` and returns how many; a
  // filter that is not is_valid() matches nothing. Transfers are the stored
  // ones (not remembered failures, not evicted ones), in timestamp order
  // (newest first with the reversed flag).
  //
  // Without an idempotency window the ledger keeps an index of each
  // account's transfers (a doubly linked list through a 16-byte side record
  // per stored transfer): get_account_transfers then reads the account's
  // transfers from the end the order starts at or, when the filter bounds
  // that end in time, from the account's first transfer past the bound
  // (a binary search of the store and a scan of up to 4,096 records near
  // it; the account's list end if the account is rarer than that there), so
  // its cost is the account's transfers it passes over: the answer, plus
  // those the direction, user-data or code filters skip.
  // get_account_balances adds one binary search of the history per result. query_transfers with user_data_128
  // or user_data_64 reads that value's chain in the user-data index (newest
  // first; oldest first it reads the whole chain within the time bounds):
  // the transfers with that value plus the few whose value shares its hash
  // head. Otherwise query_accounts and query_transfers find the time range
  // by binary search (records are stored in timestamp order) and read it
  // from the end the order starts at, so they cost the records they pass
  // over. With a window (eviction moves records) every query reads every
  // stored transfer. Allocates with a window, and for a user-data query in
  // timestamp order.
  std::size_t get_account_transfers(const AccountFilter& filter, Transfer* out) const;
  // The account's balances after each transfer the filter matches (only for
  // an account with the history flag; nothing otherwise). Expiries change no
  // historical balance, as in TigerBeetle.
  std::size_t get_account_balances(const AccountFilter& filter, AccountBalance* out) const;
  std::size_t query_accounts(const QueryFilter& filter, Account* out) const;
  std::size_t query_transfers(const QueryFilter& filter, Transfer* out) const;

  std::size_t account_count() const noexcept { return account_count_; }
  std::size_t transfer_count() const noexcept { return transfer_count_; }
  std::size_t history_count() const noexcept { return history_count_; }
  std::size_t expiry_count() const noexcept { return expiries_.size(); }
  std::uint64_t last_timestamp() const noexcept { return last_timestamp_; }
  const LedgerCapacity& capacity() const noexcept { return capacity_; }
  // Bytes of memory the ledger's arrays and maps span (address space; resident
  // memory grows with use up to this).
  std::size_t memory_bytes() const noexcept;

  // Commits every page of the ledger's reserved memory now, so the first use of
  // fresh capacity does not pay the kernel's first-touch page faults (about 1 µs
  // per 4 KiB) on the hot path. Does not change state. Call once after
  // construction or restore in a latency-sensitive process; takes
  // memory_bytes() of resident memory.
  void prefault() noexcept;

  // ---- balance-only operations (C++ only; for the exchange) --------------------------
  // The exchange (exchange/exchange.hpp) moves money between accounts it
  // created itself, several times per order, millions of times a second.
  // These operations move balances between accounts named by their index
  // (account_index) with double entry (one account debited and another
  // credited by the same amount, pending or posted) but store no transfer
  // record, take no timestamp and write no history: the exchange's command
  // stream is their record, and a record per move would grow without bound.
  // The caller guarantees the accounts exist, differ, share a ledger and have
  // neither the history, the closed nor the credits_must_not_exceed_debits
  // flag (debits_must_not_exceed_credits is honoured, with its limit). Each returns false and changes
  // nothing when it would break the balance rule (hold and move only) or a
  // precondition it checks (release and post: amount above the hold).
  //
  // Posted totals are turnover counters: when one is about to pass 2^64
  // (together with its pending side, which the snapshot checks), the account
  // is rebased first: both of its posted totals drop by the smaller of the
  // two. Its balance and every ledger's sums (debits = credits) are
  // unchanged; only its turnover since creation is forgotten.
  static constexpr std::uint32_t kNoAccount = IdMap::kNotFound;
  // Index of account `id`, or kNoAccount. Stable for the ledger's life
  // (accounts are never removed; a snapshot keeps the order).
  std::uint32_t account_index(std::uint64_t id) const noexcept { return account_map_.find(id, accounts_.get()); }
  // The account at `index` (< account_count()), as lookup_account gives it.
  Account account_by_index(std::uint32_t index) const noexcept { return account_at(index); }
  // A hold that is not stored: `amount` more pending on debit's debits and
  // credit's credits. False if debit's debit room is below `amount` or a
  // pending total would not fit (the room counts only on a debit-limited account).
  bool hold_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept;
  // Releases `amount` of such a hold (false if either pending total is below it).
  bool release_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept;
  // Posts `amount` of such a hold (debit -> credit) to `to`: the hold
  // shrinks by `amount` on both, debit's posted debits and to's posted
  // credits grow by it. False if either pending total is below `amount`.
  bool post_balance(std::uint32_t debit, std::uint32_t credit, std::uint32_t to, std::uint64_t amount) noexcept;
  // A single-phase transfer: posted debit on debit, posted credit on credit.
  // False if debit's debit room is below `amount`.
  bool move_balance(std::uint32_t debit, std::uint32_t credit, std::uint64_t amount) noexcept;

  // 64-bit hash of the state (records, balances, holds, history, archive,
  // clock). Capacities are configuration, not state: they do not enter it.
  std::uint64_t state_hash() const noexcept;
  // Checksummed bytes (common/snapshot_io.hpp); restore() gives a ledger
  // whose snapshot() is bit-identical. restore throws std::invalid_argument
  // on corrupt or truncated input and on any state the ledger could not
  // have reached (docs/ledger.md lists the checks: per-ledger totals of
  // debits equal credits, pending balances equal the live holds, ...).
  std::string snapshot() const;
  static Ledger restore(const std::uint8_t* data, std::size_t size);
  // The same fields inside another snapshot (the state machine's).
  void save(SnapshotWriter& w) const;
  static Ledger load(SnapshotReader& r);
  // Pending balances held by balance-only holds (hold_balance), which no
  // stored transfer accounts for: load() adds them to what the stored holds
  // hold before it checks the accounts' pending totals.
  struct ExternalPending {
    std::uint64_t account_id;
    std::uint64_t debits;
    std::uint64_t credits;
  };
  static Ledger load(SnapshotReader& r, const ExternalPending* external, std::size_t n);

 private:
  friend class LedgerMachine;

  // An account is stored in two arrays. The hot half holds everything a
  // transfer reads or writes (id for the map's check, balances, limit, ledger,
  // flags, history head) in one 64-byte cache line, aligned so it never
  // straddles two: with 1M accounts spread over ~100 MB every transfer's two
  // account loads are DRAM misses, and a 96-byte record would cost up to four
  // lines. The cold half (user data, creation time) is read only by
  // create_account's idempotency check and by lookups.
  struct alignas(64) AccountHot {
    std::uint64_t id;
    std::uint64_t debits_pending;
    std::uint64_t debits_posted;
    std::uint64_t credits_pending;
    std::uint64_t credits_posted;
    std::uint64_t limit;
    std::uint32_t ledger;
    std::uint16_t code;
    std::uint16_t flags;
    std::uint32_t history_head;  // newest history entry + 1; 0 = none
    // The account's newest transfer in the query index (a LinkRef, see
    // links_; 0 = none, and always 0 with a window), in the line a transfer
    // touches anyway.
    std::uint32_t transfers_tail;
  };
  static_assert(sizeof(AccountHot) == 64);
  // Hashed and snapshotted as raw bytes: no implicit padding allowed.
  static_assert(std::has_unique_object_representations_v<AccountHot>);
  struct AccountCold {
    std::uint64_t user_data_128[2];
    std::uint64_t user_data_64;
    std::uint32_t user_data_32;
    std::uint32_t pad;
    std::uint64_t timestamp;
  };
  static_assert(sizeof(AccountCold) == 40);
  static_assert(std::has_unique_object_representations_v<AccountCold>);
  // Hashes of a transfer's ids, computed once per transfer by the request
  // pipeline (run_transfers) for its prefetches and probes.
  struct IdHashes {
    std::uint64_t id;
    std::uint64_t debit;
    std::uint64_t credit;
    std::uint64_t pending;
    std::uint64_t hold_debit;  // the accounts of the hold a post/void names
    std::uint64_t hold_credit;
  };

  // Stored and archived transfers are hashed and snapshotted as raw bytes.
  static_assert(std::has_unique_object_representations_v<Transfer>);

  struct HistoryEntry {
    AccountBalance balance;
    std::uint32_t account;
    std::uint32_t prev;  // previous entry of the same account + 1; 0 = none
  };
  static_assert(sizeof(HistoryEntry) == 48);
  static_assert(std::has_unique_object_representations_v<HistoryEntry>);
  struct AccountUndo {
    std::uint32_t index;
    AccountHot old;
  };
  struct StatusUndo {
    std::uint32_t transfer;
    std::uint32_t status;
  };
  // A chain member's answer, held until the chain is decided.
  struct ChainResult {
    std::uint32_t code;
    std::uint64_t timestamp;
  };

  // The expiry heap orders timed holds by (expiry time, timestamp), both read
  // from the stored hold: an entry is just its 4-byte index. A timed hold in
  // the heap keeps its heap position + 1 in its stored pending_id (always 0
  // for a hold, so the field is free; 0 = not in the heap), so moving or
  // evicting it finds its entry in O(1). The policy holds the transfer
  // array's address, which a move of the ledger does not change.
  struct ExpiryPolicy {
    Transfer* transfers;
    bool less(std::uint32_t a, std::uint32_t b) const noexcept {
      const Transfer& x = transfers[a];
      const Transfer& y = transfers[b];
      const std::uint64_t ex = x.timestamp + x.timeout_ns;
      const std::uint64_t ey = y.timestamp + y.timeout_ns;
      return ex != ey ? ex < ey : x.timestamp < y.timestamp;
    }
    void placed(std::uint32_t item, std::uint32_t pos) noexcept { transfers[item].pending_id = pos + 1; }
  };

  // The client request a driver is inside: open after its first record,
  // closed by a record that ends it. Whether it imports is decided by its
  // first record (TigerBeetle: by the batch's first event).
  struct Request {
    bool open = false;
    bool imported = false;
  };

  // Request drivers (ledger_impl.hpp). A source gives n records and, for
  // each, its time (`now(i)`, nondecreasing, called in order) and whether
  // it ends a client's request (`ends_request(i)`: a still-linked record
  // there answers LINKED_EVENT_CHAIN_OPEN; the last record of a run always
  // does). A sink hears `expired(i, hold, ts)` for a hold that expired
  // before record i, and `result(i, code, id, ts)` once per record, in
  // order (a chain's members once the chain is decided), ts being the
  // result's timestamp (CreateResult). `request` carries the request the
  // run starts in and is left as the run leaves it.
  template <class Src, class Sink>
  void run_transfers(const Src& src, std::size_t n, Sink& sink, Request& request) noexcept;
  template <class Src, class Sink>
  void run_accounts(const Src& src, std::size_t n, Sink& sink, Request& request) noexcept;
  template <class Sink>
  std::size_t expire_due(std::uint64_t now, std::size_t at, Sink& sink) noexcept;
  template <class Sink>
  CreateTransferResult transfer_one(const Transfer& t, std::uint64_t now, std::size_t at, Sink& sink) noexcept;
  SetLimitResult apply_limit(std::uint64_t id, std::uint64_t limit) noexcept;

  std::uint64_t next_timestamp(std::uint64_t now) noexcept;
  bool outside_window(std::uint64_t id, std::uint64_t ts) const noexcept {
    return capacity_.idempotency_window_ns != 0 && id_time_ns(id) + capacity_.idempotency_window_ns < ts;
  }
  void check_time(std::uint64_t now, std::size_t events) const;
  // Throws CapacityError (nothing applied) unless `accounts` more accounts
  // and `transfers` more transfers fit, with the history entries they may
  // need (need_history(): the precise count, asked for only when the cheap
  // bound does not fit).
  template <class NeedHistory>
  void check_room(std::size_t accounts, std::size_t transfers, NeedHistory need_history) const;
  // History entries a transfer may take now and reserve for its expiry.
  std::uint64_t history_need(const Transfer& t) const noexcept;
  void expire_one(std::uint32_t index, std::uint64_t ts) noexcept;

  // `ts` comes in as the event's timestamp (in an imported request, the time
  // of validation) and leaves as the result's: the created record's, or the
  // existing one's for EXISTS.
  CreateAccountResult apply_account(const Account& a, bool imported_request, std::uint64_t& ts) noexcept;
  CreateTransferResult apply_transfer(const Transfer& t, const IdHashes& h, bool imported_request,
                                      std::uint64_t& ts) noexcept;
  CreateTransferResult apply_post_or_void(const Transfer& t, const IdHashes& h, std::size_t slot,
                                          std::uint64_t& ts) noexcept;
  Account account_at(std::uint32_t index) const noexcept;
  CreateTransferResult transfer_exists(const Transfer& t, const Transfer& e) const noexcept;
  void remember_failed(std::uint64_t id, std::uint64_t ts) noexcept;
  std::uint32_t append_transfer(const Transfer& t) noexcept;
  std::uint32_t append_transfer_at(const Transfer& t, std::size_t slot, std::uint64_t h) noexcept;
  void touch_account(std::uint32_t index) noexcept;
  void record_history(std::uint32_t index, std::uint64_t ts) noexcept;
  void set_status(std::uint32_t transfer, PendingStatus status) noexcept;
  void push_expiry(std::uint32_t transfer) noexcept;
  void remove_expiry(std::uint32_t pos) noexcept;

  // Transfers live in a ring: head_ is the oldest stored record, and the
  // record at logical position k (0 = oldest) is at slot_at(k). Without a
  // window nothing is evicted, so head_ stays 0 and the ring is an array.
  std::uint32_t slot_at(std::uint32_t k) const noexcept {
    const std::uint32_t room = capacity_.transfers - head_;
    return k < room ? head_ + k : k - room;
  }
  std::uint32_t logical_of(std::uint32_t slot) const noexcept {
    return slot >= head_ ? slot - head_ : slot + (capacity_.transfers - head_);
  }
  std::uint32_t next_slot(std::uint32_t slot) const noexcept { return slot + 1 == capacity_.transfers ? 0 : slot + 1; }
  // Examines up to `budget` of the oldest records against time `at` (the
  // timestamp the coming event will take, or last_timestamp_ for evict()).
  void evict_step(std::size_t budget, std::uint64_t at) noexcept;
  // The record as callers see it: a hold's pending_id is 0 (the field holds
  // the heap back-pointer), `reserved` is the bare PendingStatus.
  Transfer exported(const Transfer& t) const noexcept;
  static std::uint32_t history_entries_for(const AccountHot& a) noexcept {
    return (a.flags & account_flags::kHistory) ? 1U : 0U;
  }

  // The query index (no window only): each account's transfers in a doubly
  // linked list. A LinkRef is (slot + 1) * 2 + side, side 0 when the account
  // is the transfer's debit account, 1 when it is the credit account (so a
  // walk picks the right links without reading the transfer); 0 = none.
  // links_[slot].ref[2 * side] is the previous transfer of that side's
  // account, ref[2 * side + 1] the next. A walk forward stops at the
  // account's transfers_tail: a rolled-back chain leaves stale next links
  // past it, and a stale transfers_first_ only while the tail is 0.
  struct TransferLinks {
    std::uint32_t ref[4];
  };
  static_assert(sizeof(TransferLinks) == 16);
  bool indexed() const noexcept { return capacity_.idempotency_window_ns == 0; }
  // User-data indexes (no window only): for user_data_128 and user_data_64,
  // a hash table of chain heads (a power of two >= the transfer capacity of
  // 4-byte heads) and, per stored transfer, the previous transfer (slot + 1)
  // whose value hashed to the same head: newest first, so in timestamp
  // order. Transfers with the value 0 are not indexed (0 filters nothing).
  struct UserDataLinks {
    std::uint32_t prev128;
    std::uint32_t prev64;
  };
  static std::uint64_t ud128_hash(const std::uint64_t (&v)[2]) noexcept { return hash_id(v[0] ^ hash_id(v[1])); }
  std::uint32_t ud_bucket(std::uint64_t h) const noexcept { return static_cast<std::uint32_t>(h & (ud_buckets_ - 1)); }
  void index_user_data(std::uint32_t slot, const Transfer& t) noexcept;
  void unindex_user_data(std::uint32_t slot, const Transfer& t) noexcept;
  void link_transfer(std::uint32_t slot, std::uint32_t dr, std::uint32_t cr) noexcept;
  void link_side(std::uint32_t slot, std::uint32_t account, std::uint32_t side) noexcept;
  void rebuild_index() noexcept;
  template <class Visit>
  void walk_account(const AccountFilter& f, std::uint32_t account, Visit visit) const;
  // Logical positions [lo, hi) of the stored transfers / accounts whose
  // timestamps are within the filter's range (binary search).
  std::pair<std::uint32_t, std::uint32_t> transfer_range(std::uint64_t tmin, std::uint64_t tmax) const noexcept;
  std::pair<std::uint32_t, std::uint32_t> account_range(std::uint64_t tmin, std::uint64_t tmax) const noexcept;

  // Linked chains: changes made inside an open chain are logged so a failing
  // member rolls the whole chain back. The logs hold kMaxChain members'
  // worth (two account states, one status, one deferred expiry each). An
  // imported chain's rollback also rolls the clock back (its members took
  // no timestamps but the ones they imported).
  void chain_begin(bool imported) noexcept;
  void chain_commit() noexcept;
  void chain_rollback() noexcept;

  LedgerCapacity capacity_;
  RawArray<AccountHot> accounts_;
  RawArray<AccountCold> accounts_cold_;
  RawArray<Transfer> transfers_;
  RawArray<HistoryEntry> history_;
  // Binary min-heap of the indices of timed holds. 4 bytes per entry, not a
  // 16-byte (expiry, index) pair: a stored transfer stays <= 128 bytes with
  // its index even while it is a timed hold (the sift reads each key from
  // the hold's record, which the hot path has just touched).
  RawArray<std::uint32_t> expiry_storage_;
  IndexHeap<ExpiryPolicy> expiries_;
  RawArray<Transfer> archive_;  // ring of evicted transfers awaiting drain_evicted
  RawArray<TransferLinks> links_;            // per transfer slot (the query index)
  RawArray<std::uint32_t> transfers_first_;  // per account: its oldest transfer (a LinkRef)
  std::uint32_t ud_buckets_ = 1;
  RawArray<UserDataLinks> ud_links_;
  RawArray<std::uint32_t> ud128_heads_;
  RawArray<std::uint32_t> ud64_heads_;
  IdMap account_map_;
  IdMap transfer_map_;
  std::uint32_t account_count_ = 0;
  std::uint32_t transfer_count_ = 0;
  std::uint32_t history_count_ = 0;
  std::uint32_t head_ = 0;  // slot of the oldest stored transfer
  std::uint32_t archive_head_ = 0;
  std::uint32_t archive_count_ = 0;
  std::uint32_t history_accounts_ = 0;  // accounts with the history flag
  // History entries the live timed holds will need when they expire.
  std::uint64_t history_reserved_ = 0;
  std::uint64_t last_timestamp_ = 0;

  bool in_chain_ = false;
  bool chain_imported_ = false;
  std::uint64_t chain_last_timestamp_ = 0;
  std::uint32_t chain_account_count_ = 0;
  std::uint32_t chain_transfer_count_ = 0;
  std::uint32_t chain_history_count_ = 0;
  std::uint32_t chain_history_accounts_ = 0;
  std::uint64_t chain_history_reserved_ = 0;
  RawArray<AccountUndo> account_undo_;
  RawArray<StatusUndo> status_undo_;
  RawArray<std::uint32_t> deferred_expiries_;
  RawArray<ChainResult> chain_results_;
  std::uint32_t account_undo_count_ = 0;
  std::uint32_t status_undo_count_ = 0;
  std::uint32_t deferred_count_ = 0;
};

}  // namespace shanraq::ledger
