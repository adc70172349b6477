// The exchange: the matching engine and the ledger in one deterministic
// machine of the state-machine contract (common/state_machine.hpp). No
// order rests or trades unless the money behind it is held, and every trade
// moves balances exactly once, inside the command that made it.
// docs/exchange.md states every rule; tests/exchange_reference.py is the
// executable specification.
//
// Composition. The exchange owns a book::MatchingEngine (every order is a
// command to it; its events are the one source of matching truth, read back
// to settle) and a ledger::Ledger (the one source of truth for money: each
// (user, asset) is a ledger account with debits_must_not_exceed_credits;
// each asset is a ledger with the exchange's fee, external (bank) and escrow
// accounts). Deposits and withdrawals are stored ledger transfers. An open
// order's hold is a pending amount from the user's account to the asset's
// escrow account, sized to exactly what the order could still spend; it is
// a balance-only hold (Ledger::hold_balance: double entry, not stored as a
// transfer record; the exchange's order table is its record and the command
// stream its journal). A trade posts from the holds: base from seller to
// buyer, notional from buyer to seller, the buyer's fee from its hold and
// the seller's fee from what it just received to the fee account, and
// releases what the buyer's hold no longer needs.
//
// Holds and fees (integer, per trade): notional = price x qty x quote_scale,
// fee = floor(notional x bps / 10,000) (rounded down: the sum of per-trade
// fees then never exceeds the fee of their total, which is what makes a hold
// sized at the order's limit price exact and sufficient; docs/exchange.md).
// A buy holds cost(limit, open) = n + floor(n x max(maker, taker) bps /
// 10,000) with n = limit x open x quote_scale; a sell holds open x
// base_scale. A market or stop buy names a protection price, its limit for
// the hold and for matching.
//
// Memory is fixed by ExchangeConfig at construction (pools and maps for
// users, assets, symbols, holdings and orders; the engine's and ledger's
// own); nothing allocates per command after warm-up except the caller's
// event vector when it must grow.
//
// Thread safety: none (single writer); queries are const.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shanraq/book/engine.hpp"
#include "shanraq/common/id_map.hpp"
#include "shanraq/common/state_machine.hpp"
#include "shanraq/common/zeroed.hpp"
#include "shanraq/exchange/types.hpp"
#include "shanraq/ledger/ledger.hpp"

namespace shanraq::exchange {

struct ExchangeConfig {
  std::uint32_t max_users = 1U << 16;
  std::uint32_t max_assets = 64;
  std::uint32_t max_symbols = 256;
  std::uint32_t max_orders = 1U << 20;  // open orders (resting + pending stops + the one in flight)
  std::uint32_t max_levels = 1U << 18;  // the engine's price levels
  std::uint32_t id_history = 1U << 20;  // the engine's finished-id window
  // Ledger accounts: every user has one per asset, every asset three.
  std::uint32_t max_accounts = 1U << 20;
  // Stored deposits and withdrawals (ledger transfer records).
  std::uint32_t max_transfers = 1U << 20;
};

// A user's balance of one asset, in its minor units.
struct Balance {
  bool known = false;         // false: unknown user or asset
  std::uint64_t total = 0;    // credits_posted - debits_posted
  std::uint64_t held = 0;     // held by open orders (the account's pending debits)
  std::uint64_t available = 0;  // total - held
};

// What an open order holds and for whom.
struct OrderHold {
  bool open = false;
  std::uint64_t user = 0;
  std::uint32_t symbol = 0;
  std::uint32_t asset = 0;  // the asset held
  std::uint64_t hold = 0;
  std::int64_t remaining = 0;
};

// The first broken invariant check_invariants() found.
enum class Violation : std::uint8_t {
  kNone = 0,
  kConservation = 1,       // an asset's posted debits differ from its posted credits (or pending)
  kNegativeAvailable = 2,  // a user's available balance is negative
  kHeldMismatch = 3,       // a user's held amount differs from what their open orders hold
  kOrderHold = 4,          // an order's hold differs from cost(price, open), or the book disagrees
  kEscrowMismatch = 5,     // an asset's escrow pending credits differ from all holds of that asset
  kSettlementFault = 6,    // a ledger operation of a settlement was refused (a bug)
  kOpenOrderCount = 7,     // a user's open-order count differs from their orders
};

struct InvariantReport {
  Violation violation = Violation::kNone;
  std::uint64_t user = 0;
  std::uint32_t asset = 0;
  std::uint64_t order_id = 0;
  std::string message;  // empty when all hold
};

class Exchange {
 public:
  using Command = ExchangeCommand;
  using Event = ExchangeEvent;
  static constexpr std::uint32_t kMachineTag = sm::machine_tag("EXCH");
  static constexpr std::uint32_t kWireVersion = 1;

  // Throws std::invalid_argument for a zero or too large capacity.
  explicit Exchange(const ExchangeConfig& config = {});
  ~Exchange();
  Exchange(Exchange&&) noexcept;
  Exchange& operator=(Exchange&&) noexcept;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // ---- the contract -------------------------------------------------------------
  void apply(const Command& c, std::vector<Event>& out) { process(&c, 1, out); }
  // SequenceError before anything is applied; otherwise never throws for bad
  // input (a REJECTED event), only std::bad_alloc when `out` cannot grow.
  void process(const Command* cmds, std::size_t n, std::vector<Event>& out);
  std::uint64_t next_seq() const noexcept;
  std::int64_t now_ns() const noexcept;
  std::string snapshot() const;
  // std::invalid_argument for corrupt input or a state no command stream
  // could reach (the engine's and ledger's checks, and every hold).
  static Exchange restore(const std::uint8_t* data, std::size_t size);
  static std::unique_ptr<Exchange> restore_unique(const std::uint8_t* data, std::size_t size);
  std::uint64_t state_hash() const;

  // ---- invariants (the "part of the API") ---------------------------------
  // Per asset, posted debits = posted credits and pending debits = pending
  // credits over all its accounts; no user's available balance is negative;
  // each user's held amount equals the sum of their open orders' holds of
  // that asset, each order's hold equals cost(price, open) and its open
  // quantity the engine's; each escrow account's pending credits equal the
  // holds of its asset. Returns the first violation, precisely. O(accounts +
  // orders); allocates.
  InvariantReport check_invariants() const;

  // ---- queries ---------------------------------------------------------------------
  Balance balance(std::uint64_t user, std::uint32_t asset) const noexcept;
  // The exchange's fee and external accounts of an asset (total = posted
  // credits - debits, as signed: the external account is negative by what
  // was deposited).
  bool fee_balance(std::uint32_t asset, std::uint64_t* total) const noexcept;
  bool external_balance(std::uint32_t asset, std::int64_t* total) const noexcept;
  OrderHold order_hold(std::uint64_t order_id) const noexcept;
  // Ids of a user's open orders, ascending.
  std::vector<std::uint64_t> open_orders(std::uint64_t user) const;
  std::uint32_t open_order_count(std::uint64_t user) const noexcept;
  bool has_user(std::uint64_t user) const noexcept;
  bool has_asset(std::uint32_t asset) const noexcept;
  bool has_symbol(std::uint32_t symbol) const noexcept;
  // The engine, for the book's queries (L1 bbo, L2 depth, L3 level_orders,
  // order): the exchange's books are its books. Accounts are user ids.
  const book::MatchingEngine& engine() const noexcept;
  const ledger::Ledger& ledger() const noexcept;
  const ExchangeConfig& config() const noexcept;
  std::size_t user_count() const noexcept;
  std::size_t order_count() const noexcept;
  // Bytes reserved by the exchange's own tables, the engine and the ledger.
  std::size_t memory_reserved() const noexcept;

  struct Impl;

 private:
  explicit Exchange(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

static_assert(sm::StateMachine<Exchange>);

}  // namespace shanraq::exchange

template <>
struct shanraq::sm::EnumTable<shanraq::exchange::Violation> {
  static constexpr const char* kName = "Violation";
  static constexpr EnumMember kMembers[] = {
      {"NONE", 0},       {"CONSERVATION", 1},    {"NEGATIVE_AVAILABLE", 2}, {"HELD_MISMATCH", 3},
      {"ORDER_HOLD", 4}, {"ESCROW_MISMATCH", 5}, {"SETTLEMENT_FAULT", 6},   {"OPEN_ORDER_COUNT", 7},
  };
};
