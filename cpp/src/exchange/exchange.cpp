#include "shanraq/exchange/exchange.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "shanraq/common/checksum.hpp"
#include "shanraq/common/hash.hpp"
#include "shanraq/common/snapshot_io.hpp"

namespace shanraq::exchange {

namespace {

using u128 = unsigned __int128;
using i128 = __int128;

constexpr char kSnapshotMagic[9] = "SHQEXCHG";
constexpr std::uint32_t kSnapshotVersion = 1;
constexpr std::uint32_t kNone32 = IdMap::kNotFound;
// The latest time a command may carry (2^62 ns, the ledger machine's bound):
// ledger timestamps grow by one per event past it and must stay below 2^63.
constexpr std::int64_t kMaxTime = std::int64_t{1} << 62;

// Ledger codes of the exchange's accounts.
constexpr std::uint16_t kCodeUser = 10;
constexpr std::uint16_t kCodeFee = 1;
constexpr std::uint16_t kCodeExternal = 2;
constexpr std::uint16_t kCodeEscrow = 3;
constexpr std::uint16_t kCodeDeposit = 1;
constexpr std::uint16_t kCodeWithdrawal = 2;

// Records of the exchange's own tables. Each starts with the u64 key IdMap
// compares, has no implicit padding (snapshots write them raw) and stays a
// fraction of a cache line.
struct AssetRec {
  std::uint64_t id;  // asset id
  std::uint32_t fee;  // ledger account indices
  std::uint32_t external;
  std::uint32_t escrow;
  std::uint32_t pad;
};
struct SymbolRec {
  std::uint64_t id;  // symbol id
  std::uint32_t base;  // asset indices
  std::uint32_t quote;
  std::uint32_t base_scale;
  std::uint32_t quote_scale;
  std::uint16_t maker_bps;
  std::uint16_t taker_bps;
  std::uint32_t pad;
};
struct UserRec {
  std::uint64_t id;
  std::uint32_t open_orders;
  std::uint32_t max_open_orders;  // 0 = no limit
  std::int64_t max_notional;      // 0 = no limit
};
// One (user, asset): its ledger account and position limit; `incoming` is
// the base its open buy orders could still bring (for the position limit).
struct HoldingRec {
  std::uint64_t id;  // holding_key(user index, asset index)
  std::uint32_t account;
  std::uint32_t pad;
  std::int64_t max_position;  // 0 = no limit
  std::uint64_t incoming;
};
struct OrderRec {
  std::uint64_t id;
  std::uint32_t user;     // user index
  std::uint32_t symbol;   // symbol index
  std::int64_t price;     // the limit (or protection price) the hold is sized at; 0 for a market sell
  std::int64_t remaining;
  std::uint64_t hold;
  std::uint32_t account;  // ledger index of the account held (quote for a buy, base for a sell)
  std::uint32_t escrow;   // ledger index of that asset's escrow account
  std::uint32_t recv;     // ledger index of the account that receives (base for a buy, quote for a sell)
  std::uint32_t holding;  // index of the base holding (a buy's incoming)
  std::uint16_t bps;      // fee bps the hold is sized with: max(maker, taker)
  Side side;
  OrderType type;  // as placed (market / stop buys run in the book as limit / stop-limit)
  std::uint32_t pad;
};
static_assert(sizeof(OrderRec) == 64 && std::has_unique_object_representations_v<OrderRec>);
static_assert(std::has_unique_object_representations_v<AssetRec> &&
              std::has_unique_object_representations_v<SymbolRec> &&
              std::has_unique_object_representations_v<UserRec> &&
              std::has_unique_object_representations_v<HoldingRec>);

constexpr std::uint64_t holding_key(std::uint32_t user, std::uint32_t asset) noexcept {
  return (std::uint64_t{user} + 1) << 32 | asset;
}
// Ledger account ids: users' are their holding keys (>= 2^32); the system
// accounts of asset index a are 4a + 1..3.
constexpr std::uint64_t system_account_id(std::uint32_t asset, std::uint16_t code) noexcept {
  return (std::uint64_t{asset} << 2) | code;
}

void check_cap(std::uint64_t v, std::uint64_t max, const char* what) {
  if (v == 0 || v > max) {
    throw std::invalid_argument(std::string("exchange ") + what + " must be in 1.." + std::to_string(max) + ", got " +
                                std::to_string(v));
  }
}

// What an order could still spend: for a buy the notional at its limit plus
// the fee at `bps`, for a sell its base. false when above kMaxAmount.
bool cost(const SymbolRec& s, Side side, std::int64_t price, std::int64_t open, std::uint16_t bps,
          std::uint64_t* out) noexcept {
  if (open < 0 || price < 0) return false;
  if (side == Side::kSell) {
    const u128 b = u128(static_cast<std::uint64_t>(open)) * s.base_scale;
    if (b > kMaxAmount) return false;
    *out = static_cast<std::uint64_t>(b);
    return true;
  }
  const u128 n = u128(static_cast<std::uint64_t>(price)) * static_cast<std::uint64_t>(open);
  if (n > kMaxAmount) return false;
  const u128 q = n * s.quote_scale;
  if (q > kMaxAmount) return false;
  const u128 total = q + q * bps / 10000;
  if (total > kMaxAmount) return false;
  *out = static_cast<std::uint64_t>(total);
  return true;
}

}  // namespace

struct Exchange::Impl {
  ExchangeConfig cfg;
  book::MatchingEngine engine;
  ledger::Ledger ledger;
  RawArray<AssetRec> assets;
  RawArray<SymbolRec> symbols;
  RawArray<UserRec> users;
  RawArray<HoldingRec> holdings;
  RawArray<OrderRec> orders;
  RawArray<std::uint32_t> free_orders;  // stack of free order slots
  IdMap asset_map, symbol_map, user_map, holding_map, order_map;
  std::uint32_t asset_count = 0, symbol_count = 0, user_count = 0, holding_count = 0;
  std::uint32_t order_count = 0, free_count = 0, order_slots_used = 0;
  std::uint64_t next_seq = 1;
  std::int64_t clock = 0;
  std::uint64_t faults = 0;  // ledger operations a settlement could not make (never, unless a bug)
  // Not state: order()'s one-entry cache.
  std::uint64_t hot_id = 0;
  std::uint32_t hot_slot = 0;
  // Not state: the engine's events of the command being applied.
  std::vector<book::Event> scratch;

  static ledger::LedgerCapacity ledger_capacity(const ExchangeConfig& c) {
    ledger::LedgerCapacity lc;
    lc.accounts = c.max_accounts;
    lc.transfers = c.max_transfers;
    lc.history = 1;
    return lc;
  }
  static book::EngineConfig engine_config(const ExchangeConfig& c) {
    book::EngineConfig e;
    e.max_orders = c.max_orders;
    e.max_symbols = c.max_symbols;
    e.max_levels = c.max_levels;
    e.id_history = c.id_history;
    e.market_data = false;
    return e;
  }
  static const ExchangeConfig& checked(const ExchangeConfig& c) {
    check_cap(c.max_users, (1U << 31) - 2, "max_users");
    check_cap(c.max_assets, 1U << 28, "max_assets");
    check_cap(c.max_symbols, 1U << 24, "max_symbols");
    check_cap(c.max_orders, (1U << 30) - 1, "max_orders");
    check_cap(c.max_accounts, ledger::Ledger::kMaxCapacity, "max_accounts");
    check_cap(c.max_transfers, ledger::Ledger::kMaxCapacity, "max_transfers");
    return c;
  }

  explicit Impl(const ExchangeConfig& c)
      : cfg(checked(c)),
        engine(engine_config(c)),
        ledger(ledger_capacity(c)),
        assets(make_zeroed<AssetRec>(c.max_assets)),
        symbols(make_zeroed<SymbolRec>(c.max_symbols)),
        users(make_zeroed<UserRec>(c.max_users, HugePages::kYes)),
        holdings(make_zeroed<HoldingRec>(c.max_accounts, HugePages::kYes)),
        orders(make_zeroed<OrderRec>(std::size_t{c.max_orders} + 1, HugePages::kYes)),
        free_orders(make_zeroed<std::uint32_t>(std::size_t{c.max_orders} + 1, HugePages::kYes)),
        asset_map(c.max_assets),
        symbol_map(c.max_symbols),
        user_map(c.max_users),
        holding_map(c.max_accounts),
        order_map(c.max_orders + 1) {
    scratch.reserve(256);
  }

  // ---- lookups ------------------------------------------------------------------------
  std::uint32_t user_index(std::uint64_t id) const noexcept { return user_map.find(id, users.get()); }
  std::uint32_t asset_index(std::uint32_t id) const noexcept { return asset_map.find(id, assets.get()); }
  std::uint32_t symbol_index(std::uint32_t id) const noexcept { return symbol_map.find(id, symbols.get()); }
  std::uint32_t holding_index(std::uint32_t user, std::uint32_t asset) const noexcept {
    return holding_map.find(holding_key(user, asset), holdings.get());
  }
  // The last order found: a command's events name its own order again and
  // again (accepted, each trade as taker, its remainder).
  OrderRec* order(std::uint64_t id) noexcept {
    if (id == hot_id && id != 0) return &orders[hot_slot];
    const std::uint32_t i = order_map.find(id, orders.get());
    if (i == kNone32) return nullptr;
    hot_id = id;
    hot_slot = i;
    return &orders[i];
  }
  const OrderRec* order(std::uint64_t id) const noexcept {
    const std::uint32_t i = order_map.find(id, orders.get());
    return i == kNone32 ? nullptr : &orders[i];
  }

  // ---- events -----------------------------------------------------------------------------
  static Event& push(std::vector<Event>& out, std::uint64_t seq, std::int64_t t, const Command& c, EventType type) {
    Event& e = out.emplace_back();
    std::memset(&e, 0, sizeof(e));
    e.seq = seq;
    e.time_ns = t;
    e.type = type;
    e.command = c.kind;
    e.side = c.side;
    e.order_type = c.order_type;
    e.tif = c.tif;
    e.symbol = c.symbol;
    e.asset = c.asset;
    e.order_id = c.order_id;
    e.user = c.user;
    e.price = c.price;
    e.qty = c.qty;
    return e;
  }
  static void reject(std::vector<Event>& out, std::uint64_t seq, std::int64_t t, const Command& c, RejectReason r,
                     std::uint64_t amount = 0) {
    Event& e = push(out, seq, t, c, EventType::kRejected);
    e.reason = static_cast<std::uint8_t>(r);
    e.amount = amount;
  }

  // ---- holds ----------------------------------------------------------------------------------
  void set_remaining(OrderRec& o, std::int64_t r) noexcept {
    if (o.side == Side::kBuy && r != o.remaining) {
      const std::uint64_t bs = symbols[o.symbol].base_scale;
      HoldingRec& h = holdings[o.holding];
      if (r > o.remaining) {
        h.incoming += static_cast<std::uint64_t>(r - o.remaining) * bs;
      } else {
        h.incoming -= static_cast<std::uint64_t>(o.remaining - r) * bs;
      }
    }
    o.remaining = r;
  }
  // Brings o's hold down to what it could still spend.
  void reconcile(OrderRec& o) noexcept {
    std::uint64_t target = 0;
    if (!cost(symbols[o.symbol], o.side, o.price, o.remaining, o.bps, &target) || target > o.hold) {
      ++faults;
      return;
    }
    if (target < o.hold) {
      if (!ledger.release_balance(o.account, o.escrow, o.hold - target)) ++faults;
      o.hold = target;
    }
  }
  void finish_if_done(OrderRec* p) noexcept {
    if (p == nullptr || p->remaining != 0) return;
    OrderRec& o = *p;
    const auto i = static_cast<std::uint32_t>(p - orders.get());
    const std::uint64_t id = o.id;
    if (hot_id == id) hot_id = 0;
    if (o.hold != 0) {
      if (!ledger.release_balance(o.account, o.escrow, o.hold)) ++faults;
      ++faults;  // a finished order with a hold left: cost() of 0 open is 0
      o.hold = 0;
    }
    --users[o.user].open_orders;
    order_map.erase(id, orders.get());
    o = OrderRec{};
    free_orders[free_count++] = i;
    --order_count;
  }
  void drop_order(OrderRec& o) noexcept {
    if (o.hold != 0 && !ledger.release_balance(o.account, o.escrow, o.hold)) ++faults;
    o.hold = 0;
    set_remaining(o, 0);
    finish_if_done(&o);
  }

  // ---- settlement -------------------------------------------------------------------------------
  // Settles one trade; returns its taker and maker (null if unknown: a fault).
  std::pair<OrderRec*, OrderRec*> settle(const book::Event& be, Event& e) noexcept {
    OrderRec* mk = order(be.other_order_id);
    OrderRec* tk = order(be.order_id);
    if (tk == nullptr || mk == nullptr) {
      ++faults;
      return {nullptr, nullptr};
    }
    OrderRec& buyer = be.side == Side::kBuy ? *tk : *mk;
    OrderRec& seller = be.side == Side::kBuy ? *mk : *tk;
    const SymbolRec& s = symbols[tk->symbol];
    const AssetRec& qa = assets[s.quote];
    const std::uint64_t base = static_cast<std::uint64_t>(be.qty) * s.base_scale;
    const std::uint64_t n = static_cast<std::uint64_t>(u128(static_cast<std::uint64_t>(be.price)) *
                                                       static_cast<std::uint64_t>(be.qty) * s.quote_scale);
    const std::uint64_t taker_fee = static_cast<std::uint64_t>(u128(n) * s.taker_bps / 10000);
    const std::uint64_t maker_fee = static_cast<std::uint64_t>(u128(n) * s.maker_bps / 10000);
    const std::uint64_t fee_b = &buyer == tk ? taker_fee : maker_fee;
    const std::uint64_t fee_s = &buyer == tk ? maker_fee : taker_fee;
    if (seller.hold < base || buyer.hold < n || buyer.hold - n < fee_b) {
      ++faults;
      return {nullptr, nullptr};
    }
    bool ok = ledger.post_balance(seller.account, seller.escrow, buyer.recv, base);
    ok &= ledger.post_balance(buyer.account, buyer.escrow, seller.recv, n);
    if (fee_b != 0) ok &= ledger.post_balance(buyer.account, buyer.escrow, qa.fee, fee_b);
    if (fee_s != 0) ok &= ledger.move_balance(seller.recv, qa.fee, fee_s);
    if (!ok) ++faults;
    seller.hold -= base;
    buyer.hold -= n + fee_b;
    set_remaining(*tk, be.remaining);
    set_remaining(*mk, be.other_remaining);
    reconcile(buyer);
    reconcile(seller);
    e.amount = n;
    e.fee = taker_fee;
    e.other_fee = maker_fee;
    e.hold = tk->hold;
    e.other_hold = mk->hold;
    return {tk, mk};
  }

  // Translates the engine's events of one command into ours, settling and
  // adjusting holds as they come.
  void absorb(std::uint64_t seq, const Command& c, std::vector<Event>& out) {
    for (const book::Event& be : scratch) {
      EventType type;
      switch (be.type) {
        case book::EventType::kAccepted:
          type = EventType::kAccepted;
          break;
        case book::EventType::kRejected:
          type = EventType::kRejected;
          break;
        case book::EventType::kTrade:
          type = EventType::kTrade;
          break;
        case book::EventType::kCancelled:
          type = EventType::kCancelled;
          break;
        case book::EventType::kAmended:
          type = EventType::kAmended;
          break;
        case book::EventType::kTriggered:
          type = EventType::kTriggered;
          break;
        case book::EventType::kMassCancelled:
          type = EventType::kMassCancelled;
          break;
        case book::EventType::kTimeAdvanced:
          type = EventType::kTimeAdvanced;
          break;
        case book::EventType::kSymbolAdded:
          type = EventType::kSymbolAdded;
          break;
        case book::EventType::kSymbolHalted:
          type = EventType::kSymbolHalted;
          break;
        case book::EventType::kSymbolResumed:
          type = EventType::kSymbolResumed;
          break;
        default:
          continue;  // market data is off; symbol updates are not offered
      }
      Event& e = out.emplace_back();
      std::memset(&e, 0, sizeof(e));
      e.seq = seq;
      e.time_ns = be.time_ns;
      e.type = type;
      e.reason = be.reason;
      e.side = be.side;
      e.order_type = be.order_type;
      e.command = c.kind;
      e.tif = be.tif;
      e.symbol = be.symbol;
      e.order_id = be.order_id;
      e.user = be.account;
      e.price = be.price;
      e.qty = be.qty;
      e.other_order_id = be.other_order_id;
      e.other_user = be.other_account;
      e.remaining = be.remaining;
      e.other_remaining = be.other_remaining;
      OrderRec* o = nullptr;
      switch (type) {
        case EventType::kTrade: {
          const auto [tk, mk] = settle(be, e);
          finish_if_done(mk);
          finish_if_done(tk);
          continue;
        }
        case EventType::kRejected:
          o = order(be.order_id);
          if (o != nullptr && c.kind == CommandKind::kPlace) {
            drop_order(*o);
          } else if (o != nullptr && c.kind == CommandKind::kAmend) {
            reconcile(*o);
            e.hold = o->hold;
          }
          if (c.kind == CommandKind::kPlace) {
            e.order_type = c.order_type;
            e.price = c.price;
          }
          continue;
        case EventType::kCancelled:
        case EventType::kAmended:
          o = order(be.order_id);
          if (o == nullptr) break;
          if (type == EventType::kAmended) o->price = be.price;
          set_remaining(*o, be.remaining);
          reconcile(*o);
          e.hold = o->hold;
          e.order_type = o->type;
          finish_if_done(o);
          continue;
        case EventType::kAccepted:
        case EventType::kTriggered:
          o = order(be.order_id);
          if (o == nullptr) break;
          e.hold = o->hold;
          e.order_type = o->type;
          continue;
        case EventType::kSymbolAdded: {
          const std::uint32_t si = symbol_index(be.symbol);
          if (si != kNone32) e.asset = static_cast<std::uint32_t>(assets[symbols[si].base].id);
          continue;
        }
        default:
          continue;
      }
    }
  }

  // ---- commands -------------------------------------------------------------------------------
  void run_book(const book::Command& bc, std::uint64_t seq, const Command& c, std::vector<Event>& out) {
    scratch.clear();
    engine.apply(bc, scratch);
    absorb(seq, c, out);
  }

  static book::Command book_command(book::CommandKind kind, std::int64_t t) noexcept {
    book::Command b{};
    b.kind = kind;
    b.time_ns = t;
    return b;
  }

  void place(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    const std::uint32_t ui = user_index(c.user);
    if (ui == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownUser);
    const std::uint32_t si = symbol_index(c.symbol);
    if (si == kNone32) return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kUnknownSymbol));
    if (c.order_id == 0 || c.order_id > book::kMaxOrderId) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidOrderId));
    }
    if (c.side != Side::kBuy && c.side != Side::kSell) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidSide));
    }
    const auto ot = static_cast<std::uint8_t>(c.order_type);
    if (ot < 1 || ot > 4)
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidOrderType));
    if (c.qty <= 0) return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidQty));
    if (c.price < 0) return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidPrice));
    // One probe proves the id new and finds the slot its entry will take
    // (nothing else inserts or erases before it is filled below).
    const std::uint64_t id_hash = hash_id(c.order_id);
    std::size_t id_slot = 0;
    if (order_map.find_or_slot(c.order_id, id_hash, orders.get(), &id_slot) != kNone32) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kDuplicateOrderId));
    }
    const SymbolRec& s = symbols[si];
    const bool market = c.order_type == OrderType::kMarket || c.order_type == OrderType::kStop;
    book::Command b = book_command(book::CommandKind::kSubmit, t);
    b.side = c.side;
    b.order_type = c.order_type;
    b.tif = c.tif;
    b.stp = c.stp;
    b.flags = c.flags;
    b.symbol = c.symbol;
    b.order_id = c.order_id;
    b.account = c.user;
    b.price = c.price;
    b.qty = c.qty;
    b.stop_price = c.stop_price;
    b.display_qty = c.display_qty;
    b.expire_ns = c.expire_ns;
    if (market) {
      // A protection price turns a market (stop) order into a limit
      // (stop-limit) one that may not rest; a buy must have one, since its
      // hold is sized at it.
      if (c.price == 0 && c.side == Side::kBuy) return reject(out, seq, t, c, RejectReason::kProtectionPriceRequired);
      if (c.price != 0) {
        if (c.tif != TimeInForce::kIoc && c.tif != TimeInForce::kFok) {
          return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidTimeInForce));
        }
        b.order_type = c.order_type == OrderType::kMarket ? OrderType::kLimit : OrderType::kStopLimit;
      }
    }
    const std::uint16_t bps = std::max(s.maker_bps, s.taker_bps);
    std::uint64_t hold = 0;
    if (!cost(s, c.side, c.price, c.qty, bps, &hold)) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kNotionalOverflow));
    }
    UserRec& u = users[ui];
    if (u.max_open_orders != 0 && u.open_orders >= u.max_open_orders) {
      return reject(out, seq, t, c, RejectReason::kMaxOpenOrders);
    }
    if (u.max_notional != 0 && c.price != 0 &&
        u128(static_cast<std::uint64_t>(c.price)) * static_cast<std::uint64_t>(c.qty) * s.quote_scale >
            static_cast<std::uint64_t>(u.max_notional)) {
      return reject(out, seq, t, c, RejectReason::kMaxNotional);
    }
    const std::uint32_t hb = holding_index(ui, s.base);
    const std::uint32_t hq = holding_index(ui, s.quote);
    const std::uint64_t base_amount = static_cast<std::uint64_t>(c.qty) * s.base_scale;  // <= kMaxAmount for a sell
    if (c.side == Side::kBuy && holdings[hb].max_position != 0) {
      const ledger::Account a = ledger.account_by_index(holdings[hb].account);
      const u128 pos = u128(a.credits_posted - a.debits_posted) + holdings[hb].incoming +
                       u128(static_cast<std::uint64_t>(c.qty)) * s.base_scale;
      if (pos > static_cast<std::uint64_t>(holdings[hb].max_position)) {
        return reject(out, seq, t, c, RejectReason::kMaxPosition);
      }
    }
    if (order_count >= cfg.max_orders) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kOrderCapacity));
    }
    const AssetRec& held_asset = assets[c.side == Side::kBuy ? s.quote : s.base];
    const std::uint32_t account = holdings[c.side == Side::kBuy ? hq : hb].account;
    if (!ledger.hold_balance(account, held_asset.escrow, hold)) {
      return reject(out, seq, t, c, RejectReason::kInsufficientBalance);
    }
    const std::uint32_t slot = free_count != 0 ? free_orders[--free_count] : order_slots_used++;
    OrderRec& o = orders[slot];
    o.id = c.order_id;
    o.user = ui;
    o.symbol = si;
    o.price = c.price;
    o.remaining = c.qty;
    o.hold = hold;
    o.account = account;
    o.escrow = held_asset.escrow;
    o.recv = holdings[c.side == Side::kBuy ? hb : hq].account;
    o.holding = hb;
    o.bps = bps;
    o.side = c.side;
    o.type = c.order_type;
    o.pad = 0;
    order_map.insert_at(id_slot, id_hash, slot);
    ++order_count;
    ++u.open_orders;
    if (c.side == Side::kBuy) holdings[hb].incoming += base_amount;
    run_book(b, seq, c, out);
  }

  // The user's own open order named by c, or a reject.
  OrderRec* owned(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    // The usual case in one probe: the user's own order (so the user exists).
    OrderRec* mine = order(c.order_id);
    if (mine != nullptr && users[mine->user].id == c.user) return mine;
    if (user_index(c.user) == kNone32) {
      reject(out, seq, t, c, RejectReason::kUnknownUser);
      return nullptr;
    }
    OrderRec* o = order(c.order_id);
    if (o == nullptr) {
      reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kUnknownOrder));
      return nullptr;
    }
    if (users[o->user].id != c.user) {
      reject(out, seq, t, c, RejectReason::kNotOwner);
      return nullptr;
    }
    return o;
  }

  void cancel(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    if (owned(c, seq, t, out) == nullptr) return;
    book::Command b = book_command(book::CommandKind::kCancel, t);
    b.order_id = c.order_id;
    run_book(b, seq, c, out);
  }

  void amend(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    OrderRec* o = owned(c, seq, t, out);
    if (o == nullptr) return;
    book::Command b = book_command(book::CommandKind::kAmend, t);
    b.order_id = c.order_id;
    b.price = c.price;
    b.qty = c.qty;
    b.stop_price = c.stop_price;
    b.flags = c.flags;
    const std::int64_t price = c.price > 0 ? c.price : o->price;
    // A new total quantity keeps what is filled (the engine knows how much).
    const std::int64_t open = c.qty > 0 ? c.qty - engine.order(c.order_id).filled : o->remaining;
    // Values the engine will refuse are left to it (its reject releases nothing).
    if (c.price >= 0 && c.qty >= 0 && open > 0) {
      const SymbolRec& s = symbols[o->symbol];
      std::uint64_t target = 0;
      if (!cost(s, o->side, price, open, o->bps, &target)) {
        return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kNotionalOverflow));
      }
      const UserRec& u = users[o->user];
      if (u.max_notional != 0 && price != 0 &&
          u128(static_cast<std::uint64_t>(price)) * static_cast<std::uint64_t>(open) * s.quote_scale >
              static_cast<std::uint64_t>(u.max_notional)) {
        return reject(out, seq, t, c, RejectReason::kMaxNotional);
      }
      if (o->side == Side::kBuy && open > o->remaining && holdings[o->holding].max_position != 0) {
        const HoldingRec& h = holdings[o->holding];
        const ledger::Account a = ledger.account_by_index(h.account);
        const u128 pos = u128(a.credits_posted - a.debits_posted) + h.incoming +
                         u128(static_cast<std::uint64_t>(open - o->remaining)) * s.base_scale;
        if (pos > static_cast<std::uint64_t>(h.max_position)) return reject(out, seq, t, c, RejectReason::kMaxPosition);
      }
      if (target > o->hold) {
        if (!ledger.hold_balance(o->account, o->escrow, target - o->hold)) {
          return reject(out, seq, t, c, RejectReason::kInsufficientBalance);
        }
        o->hold = target;
      }
    }
    run_book(b, seq, c, out);
  }

  void mass_cancel(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    if (user_index(c.user) == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownUser);
    if ((c.flags & ~kFlagMassBySymbol) != 0) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidFlags));
    }
    book::Command b = book_command(book::CommandKind::kMassCancel, t);
    b.flags = static_cast<std::uint8_t>(book::kFlagMassByAccount | (c.flags & kFlagMassBySymbol));
    b.account = c.user;
    b.symbol = c.symbol;
    b.order_id = c.order_id;
    run_book(b, seq, c, out);
  }

  // A new ledger account; false (nothing created) if the ledger refused.
  bool new_account(std::uint64_t id, std::uint32_t ledger_id, std::uint16_t code, std::uint16_t flags, std::int64_t t) {
    ledger::Account a{};
    a.id = id;
    a.ledger = ledger_id;
    a.code = code;
    a.flags = flags;
    return ledger.create_account(a, static_cast<std::uint64_t>(t)) == ledger::CreateAccountResult::kOk;
  }
  void new_holding(std::uint32_t ui, std::uint32_t ai, std::int64_t t) {
    const std::uint64_t key = holding_key(ui, ai);
    if (!new_account(key, ai + 1, kCodeUser, ledger::account_flags::kDebitsMustNotExceedCredits, t)) ++faults;
    HoldingRec& h = holdings[holding_count];
    h = HoldingRec{};
    h.id = key;
    h.account = ledger.account_index(key);
    holding_map.insert(key, holding_count);
    ++holding_count;
  }

  void add_asset(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    if (c.asset == 0) return reject(out, seq, t, c, RejectReason::kInvalidAssetId);
    if (asset_index(c.asset) != kNone32) return reject(out, seq, t, c, RejectReason::kDuplicateAsset);
    if (asset_count >= cfg.max_assets) return reject(out, seq, t, c, RejectReason::kAssetCapacity);
    if (std::uint64_t{ledger.account_count()} + 3 + user_count > cfg.max_accounts) {
      return reject(out, seq, t, c, RejectReason::kAccountCapacity);
    }
    const std::uint32_t ai = asset_count;
    AssetRec& a = assets[ai];
    a = AssetRec{};
    a.id = c.asset;
    bool ok = new_account(system_account_id(ai, kCodeFee), ai + 1, kCodeFee,
                          ledger::account_flags::kDebitsMustNotExceedCredits, t);
    ok &= new_account(system_account_id(ai, kCodeExternal), ai + 1, kCodeExternal, 0, t);
    ok &= new_account(system_account_id(ai, kCodeEscrow), ai + 1, kCodeEscrow, 0, t);
    if (!ok) ++faults;
    a.fee = ledger.account_index(system_account_id(ai, kCodeFee));
    a.external = ledger.account_index(system_account_id(ai, kCodeExternal));
    a.escrow = ledger.account_index(system_account_id(ai, kCodeEscrow));
    asset_map.insert(c.asset, ai);
    ++asset_count;
    for (std::uint32_t ui = 0; ui < user_count; ++ui) new_holding(ui, ai, t);
    push(out, seq, t, c, EventType::kAssetAdded);
  }

  void add_user(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    if (c.user == 0) return reject(out, seq, t, c, RejectReason::kInvalidUserId);
    if (user_index(c.user) != kNone32) return reject(out, seq, t, c, RejectReason::kDuplicateUser);
    if (user_count >= cfg.max_users) return reject(out, seq, t, c, RejectReason::kUserCapacity);
    if (std::uint64_t{ledger.account_count()} + asset_count > cfg.max_accounts) {
      return reject(out, seq, t, c, RejectReason::kAccountCapacity);
    }
    const std::uint32_t ui = user_count;
    users[ui] = UserRec{c.user, 0, 0, 0};
    user_map.insert(c.user, ui);
    ++user_count;
    for (std::uint32_t ai = 0; ai < asset_count; ++ai) new_holding(ui, ai, t);
    push(out, seq, t, c, EventType::kUserAdded);
  }

  void add_symbol(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    std::uint32_t quote_id;
    std::uint16_t maker, taker;
    std::uint32_t base_scale, quote_scale;
    std::memcpy(&quote_id, reinterpret_cast<const char*>(&c.user), 4);
    std::memcpy(&maker, reinterpret_cast<const char*>(&c.user) + 4, 2);
    std::memcpy(&taker, reinterpret_cast<const char*>(&c.user) + 6, 2);
    std::memcpy(&base_scale, reinterpret_cast<const char*>(&c.order_id), 4);
    std::memcpy(&quote_scale, reinterpret_cast<const char*>(&c.order_id) + 4, 4);
    if (symbol_index(c.symbol) != kNone32) {
      return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kDuplicateSymbol));
    }
    const std::uint32_t bi = asset_index(c.asset), qi = asset_index(quote_id);
    if (bi == kNone32 || qi == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownAsset);
    if (bi == qi) return reject(out, seq, t, c, RejectReason::kSameAsset);
    if (maker > kMaxFeeBps || taker > kMaxFeeBps) return reject(out, seq, t, c, RejectReason::kInvalidFee);
    if (base_scale == 0 || quote_scale == 0) return reject(out, seq, t, c, RejectReason::kInvalidScale);
    book::SymbolSpec spec;
    spec.symbol = c.symbol;
    spec.tick_size = c.price;
    spec.lot_size = c.qty;
    spec.min_price = c.stop_price;
    spec.max_price = c.display_qty;
    spec.max_qty = c.expire_ns;
    const book::Command b = book::make_add_symbol(spec, t);
    scratch.clear();
    engine.apply(b, scratch);
    if (scratch.empty() || scratch.front().type != book::EventType::kSymbolAdded) {
      const auto r = scratch.empty() ? book::RejectReason::kInvalidCommand
                                     : static_cast<book::RejectReason>(scratch.front().reason);
      return reject(out, seq, t, c, static_cast<RejectReason>(r));
    }
    const std::uint32_t si = symbol_count;
    symbols[si] = SymbolRec{c.symbol, bi, qi, base_scale, quote_scale, maker, taker, 0};
    symbol_map.insert(c.symbol, si);
    ++symbol_count;
    Event& e = push(out, seq, t, c, EventType::kSymbolAdded);
    e.user = c.user;  // the alias fields, echoed
    e.order_id = c.order_id;
  }

  void halt(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out, bool resume) {
    book::Command b = book_command(resume ? book::CommandKind::kResumeSymbol : book::CommandKind::kHaltSymbol, t);
    b.symbol = c.symbol;
    run_book(b, seq, c, out);
  }

  void advance(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out) {
    run_book(book_command(book::CommandKind::kAdvanceTime, t), seq, c, out);
  }

  void money(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out, bool deposit) {
    const std::uint32_t ui = user_index(c.user);
    if (ui == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownUser);
    const std::uint32_t ai = asset_index(c.asset);
    if (ai == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownAsset);
    if (c.order_id == 0 || c.order_id == ledger::kIdMax)
      return reject(out, seq, t, c, RejectReason::kInvalidTransferId);
    if (c.qty <= 0 || static_cast<std::uint64_t>(c.qty) > kMaxAmount) {
      return reject(out, seq, t, c, RejectReason::kInvalidAmount);
    }
    const std::uint64_t amount = static_cast<std::uint64_t>(c.qty);
    const AssetRec& a = assets[ai];
    const std::uint32_t acct = holdings[holding_index(ui, ai)].account;
    if (deposit) {
      const ledger::Account ext = ledger.account_by_index(a.external);
      if (u128(ext.debits_posted - ext.credits_posted) + amount > kMaxAmount) {
        return reject(out, seq, t, c, RejectReason::kSupplyLimit);
      }
    }
    if (ledger.transfer_count() >= cfg.max_transfers) return reject(out, seq, t, c, RejectReason::kTransferCapacity);
    ledger::Transfer tr{};
    tr.id = c.order_id;
    tr.debit_account_id = ledger.account_by_index(deposit ? a.external : acct).id;
    tr.credit_account_id = ledger.account_by_index(deposit ? acct : a.external).id;
    tr.amount = amount;
    tr.ledger = ai + 1;
    tr.code = deposit ? kCodeDeposit : kCodeWithdrawal;
    using TR = ledger::CreateTransferResult;
    const TR r = ledger.create_transfer(tr, static_cast<std::uint64_t>(t));
    if (r != TR::kOk) {
      if (r == TR::kExists || (static_cast<std::uint32_t>(r) >= 36 && static_cast<std::uint32_t>(r) <= 46) ||
          r == TR::kExistsWithDifferentLedger || r == TR::kIdAlreadyFailed) {
        return reject(out, seq, t, c, RejectReason::kDuplicateTransfer);
      }
      if (r == TR::kExceedsCredits) return reject(out, seq, t, c, RejectReason::kInsufficientBalance);
      return reject(out, seq, t, c, RejectReason::kLedgerRejected, static_cast<std::uint64_t>(r));
    }
    Event& e = push(out, seq, t, c, deposit ? EventType::kDeposited : EventType::kWithdrawn);
    e.amount = amount;
    const ledger::Account u = ledger.account_by_index(acct);
    e.hold = u.credits_posted - u.debits_posted - u.debits_pending;
  }

  void limits(const Command& c, std::uint64_t seq, std::int64_t t, std::vector<Event>& out, bool position) {
    const std::uint32_t ui = user_index(c.user);
    if (ui == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownUser);
    if (position) {
      const std::uint32_t ai = asset_index(c.asset);
      if (ai == kNone32) return reject(out, seq, t, c, RejectReason::kUnknownAsset);
      if (c.stop_price < 0)
        return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidCommand));
      holdings[holding_index(ui, ai)].max_position = c.stop_price;
    } else {
      if (c.price < 0 || c.qty < 0 || c.qty > static_cast<std::int64_t>(UINT32_MAX)) {
        return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidCommand));
      }
      users[ui].max_notional = c.price;
      users[ui].max_open_orders = static_cast<std::uint32_t>(c.qty);
    }
    push(out, seq, t, c, EventType::kLimitsSet);
  }

  void apply_one(const Command& c, std::vector<Event>& out) {
    const std::uint64_t seq = next_seq++;
    if (c.time_ns < 0 || c.time_ns > kMaxTime) {
      return reject(out, seq, clock, c, static_cast<RejectReason>(book::RejectReason::kInvalidTime));
    }
    if (c.time_ns > clock) clock = c.time_ns;
    const std::int64_t t = clock;
    if (c.reserved0 != 0) return reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidCommand));
    switch (c.kind) {
      case CommandKind::kPlace:
        return place(c, seq, t, out);
      case CommandKind::kCancel:
        return cancel(c, seq, t, out);
      case CommandKind::kAmend:
        return amend(c, seq, t, out);
      case CommandKind::kMassCancel:
        return mass_cancel(c, seq, t, out);
      case CommandKind::kAdvanceTime:
        return advance(c, seq, t, out);
      case CommandKind::kAddAsset:
        return add_asset(c, seq, t, out);
      case CommandKind::kAddSymbol:
        return add_symbol(c, seq, t, out);
      case CommandKind::kAddUser:
        return add_user(c, seq, t, out);
      case CommandKind::kDeposit:
        return money(c, seq, t, out, true);
      case CommandKind::kWithdraw:
        return money(c, seq, t, out, false);
      case CommandKind::kSetLimits:
        return limits(c, seq, t, out, false);
      case CommandKind::kSetPositionLimit:
        return limits(c, seq, t, out, true);
      case CommandKind::kHaltSymbol:
        return halt(c, seq, t, out, false);
      case CommandKind::kResumeSymbol:
        return halt(c, seq, t, out, true);
    }
    reject(out, seq, t, c, static_cast<RejectReason>(book::RejectReason::kInvalidCommand));
  }

  // ---- persistence -------------------------------------------------------------------------------
  // The exchange's own state, canonical: tables in index order (creation
  // order, which commands fix), orders by id.
  void save_own(SnapshotWriter& w) const {
    w.put(next_seq);
    w.put(clock);
    w.put(faults);
    w.put(std::uint64_t{asset_count});
    w.put_array(assets.get(), asset_count);
    w.put(std::uint64_t{symbol_count});
    w.put_array(symbols.get(), symbol_count);
    w.put(std::uint64_t{user_count});
    w.put_array(users.get(), user_count);
    w.put(std::uint64_t{holding_count});
    w.put_array(holdings.get(), holding_count);
    std::vector<OrderRec> live;
    live.reserve(order_count);
    for (std::uint32_t i = 0; i < order_slots_used; ++i) {
      if (orders[i].id != 0) live.push_back(orders[i]);
    }
    std::sort(live.begin(), live.end(), [](const OrderRec& a, const OrderRec& b) { return a.id < b.id; });
    w.put(std::uint64_t{live.size()});
    w.put_array(live.data(), live.size());
  }
};

// ---- Exchange ---------------------------------------------------------------------------------------

Exchange::Exchange(const ExchangeConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Exchange::Exchange(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Exchange::~Exchange() = default;
Exchange::Exchange(Exchange&&) noexcept = default;
Exchange& Exchange::operator=(Exchange&&) noexcept = default;

void Exchange::process(const Command* cmds, std::size_t n, std::vector<Event>& out) {
  sm::check_sequence(cmds, n, impl_->next_seq);
  for (std::size_t i = 0; i < n; ++i) impl_->apply_one(cmds[i], out);
}

std::uint64_t Exchange::next_seq() const noexcept { return impl_->next_seq; }
std::int64_t Exchange::now_ns() const noexcept { return impl_->clock; }
const book::MatchingEngine& Exchange::engine() const noexcept { return impl_->engine; }
const ledger::Ledger& Exchange::ledger() const noexcept { return impl_->ledger; }
const ExchangeConfig& Exchange::config() const noexcept { return impl_->cfg; }
std::size_t Exchange::user_count() const noexcept { return impl_->user_count; }
std::size_t Exchange::order_count() const noexcept { return impl_->order_count; }
bool Exchange::has_user(std::uint64_t user) const noexcept { return impl_->user_index(user) != kNone32; }
bool Exchange::has_asset(std::uint32_t asset) const noexcept { return impl_->asset_index(asset) != kNone32; }
bool Exchange::has_symbol(std::uint32_t symbol) const noexcept { return impl_->symbol_index(symbol) != kNone32; }

std::size_t Exchange::memory_reserved() const noexcept {
  const Impl& m = *impl_;
  const ExchangeConfig& c = m.cfg;
  return zeroed_bytes<AssetRec>(c.max_assets) + zeroed_bytes<SymbolRec>(c.max_symbols) +
         zeroed_bytes<UserRec>(c.max_users) + zeroed_bytes<HoldingRec>(c.max_accounts) +
         zeroed_bytes<OrderRec>(std::size_t{c.max_orders} + 1) +
         zeroed_bytes<std::uint32_t>(std::size_t{c.max_orders} + 1) + m.asset_map.memory_bytes() +
         m.symbol_map.memory_bytes() + m.user_map.memory_bytes() + m.holding_map.memory_bytes() +
         m.order_map.memory_bytes() + m.engine.memory_reserved() + m.ledger.memory_bytes();
}

Balance Exchange::balance(std::uint64_t user, std::uint32_t asset) const noexcept {
  const Impl& m = *impl_;
  Balance b;
  const std::uint32_t ui = m.user_index(user), ai = m.asset_index(asset);
  if (ui == kNone32 || ai == kNone32) return b;
  const ledger::Account a = m.ledger.account_by_index(m.holdings[m.holding_index(ui, ai)].account);
  b.known = true;
  b.total = a.credits_posted - a.debits_posted;
  b.held = a.debits_pending;
  b.available = b.total - b.held;
  return b;
}

bool Exchange::fee_balance(std::uint32_t asset, std::uint64_t* total) const noexcept {
  const std::uint32_t ai = impl_->asset_index(asset);
  if (ai == kNone32) return false;
  const ledger::Account a = impl_->ledger.account_by_index(impl_->assets[ai].fee);
  *total = a.credits_posted - a.debits_posted;
  return true;
}

bool Exchange::external_balance(std::uint32_t asset, std::int64_t* total) const noexcept {
  const std::uint32_t ai = impl_->asset_index(asset);
  if (ai == kNone32) return false;
  const ledger::Account a = impl_->ledger.account_by_index(impl_->assets[ai].external);
  *total = static_cast<std::int64_t>(i128(a.credits_posted) - i128(a.debits_posted));
  return true;
}

OrderHold Exchange::order_hold(std::uint64_t order_id) const noexcept {
  const Impl& m = *impl_;
  OrderHold h;
  const OrderRec* o = m.order(order_id);
  if (o == nullptr) return h;
  const SymbolRec& s = m.symbols[o->symbol];
  h.open = true;
  h.user = m.users[o->user].id;
  h.symbol = static_cast<std::uint32_t>(s.id);
  h.asset = static_cast<std::uint32_t>(m.assets[o->side == Side::kBuy ? s.quote : s.base].id);
  h.hold = o->hold;
  h.remaining = o->remaining;
  return h;
}

std::vector<std::uint64_t> Exchange::open_orders(std::uint64_t user) const {
  const Impl& m = *impl_;
  std::vector<std::uint64_t> ids;
  const std::uint32_t ui = m.user_index(user);
  if (ui == kNone32) return ids;
  for (std::uint32_t i = 0; i < m.order_slots_used; ++i) {
    if (m.orders[i].id != 0 && m.orders[i].user == ui) ids.push_back(m.orders[i].id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::uint32_t Exchange::open_order_count(std::uint64_t user) const noexcept {
  const std::uint32_t ui = impl_->user_index(user);
  return ui == kNone32 ? 0 : impl_->users[ui].open_orders;
}

InvariantReport Exchange::check_invariants() const {
  const Impl& m = *impl_;
  InvariantReport r;
  auto fail = [&r](Violation v, std::string msg) {
    r.violation = v;
    r.message = std::move(msg);
    return r;
  };
  if (m.faults != 0) return fail(Violation::kSettlementFault, std::to_string(m.faults) + " ledger operations refused");
  // Per asset: posted and pending debits equal credits.
  std::vector<i128> posted(m.asset_count), pending(m.asset_count), holds(m.asset_count);
  for (std::uint32_t i = 0; i < m.ledger.account_count(); ++i) {
    const ledger::Account a = m.ledger.account_by_index(i);
    const std::uint32_t ai = a.ledger - 1;
    if (ai >= m.asset_count) continue;
    posted[ai] += i128(a.credits_posted) - i128(a.debits_posted);
    pending[ai] += i128(a.credits_pending) - i128(a.debits_pending);
  }
  for (std::uint32_t ai = 0; ai < m.asset_count; ++ai) {
    if (posted[ai] != 0 || pending[ai] != 0) {
      r.asset = static_cast<std::uint32_t>(m.assets[ai].id);
      return fail(Violation::kConservation,
                  "asset " + std::to_string(r.asset) +
                      ": posted credits - debits = " + std::to_string(static_cast<long long>(posted[ai])) +
                      ", pending credits - debits = " + std::to_string(static_cast<long long>(pending[ai])));
    }
  }
  // Orders: each hold is its cost; sums per account and per escrow.
  std::vector<u128> held(m.ledger.account_count());
  std::vector<std::uint32_t> per_user(m.user_count);
  for (std::uint32_t i = 0; i < m.order_slots_used; ++i) {
    const OrderRec& o = m.orders[i];
    if (o.id == 0) continue;
    const SymbolRec& s = m.symbols[o.symbol];
    std::uint64_t want = 0;
    const book::OrderInfo info = m.engine.order(o.id);
    const bool live = info.state == book::OrderState::kResting || info.state == book::OrderState::kPendingStop;
    if (!cost(s, o.side, o.price, o.remaining, o.bps, &want) || want != o.hold || !live ||
        info.remaining != o.remaining || info.account != m.users[o.user].id) {
      r.order_id = o.id;
      r.user = m.users[o.user].id;
      return fail(Violation::kOrderHold, "order " + std::to_string(o.id) + ": hold " + std::to_string(o.hold) +
                                             ", cost of its open quantity " + std::to_string(want) + ", open " +
                                             std::to_string(o.remaining) + ", the book's " +
                                             std::to_string(info.remaining));
    }
    held[o.account] += o.hold;
    held[o.escrow] += o.hold;
    ++per_user[o.user];
  }
  for (std::uint32_t ui = 0; ui < m.user_count; ++ui) {
    if (per_user[ui] != m.users[ui].open_orders) {
      r.user = m.users[ui].id;
      return fail(Violation::kOpenOrderCount, "user " + std::to_string(r.user) + " counts " +
                                                  std::to_string(m.users[ui].open_orders) + " open orders, has " +
                                                  std::to_string(per_user[ui]));
    }
  }
  for (std::uint32_t hi = 0; hi < m.holding_count; ++hi) {
    const HoldingRec& h = m.holdings[hi];
    const ledger::Account a = m.ledger.account_by_index(h.account);
    const std::uint32_t ui = static_cast<std::uint32_t>((h.id >> 32) - 1);
    const std::uint32_t ai = static_cast<std::uint32_t>(h.id);
    r.user = m.users[ui].id;
    r.asset = static_cast<std::uint32_t>(m.assets[ai].id);
    if (i128(a.credits_posted) - i128(a.debits_posted) - i128(a.debits_pending) < 0) {
      return fail(Violation::kNegativeAvailable,
                  "user " + std::to_string(r.user) + " asset " + std::to_string(r.asset) + ": available is negative");
    }
    if (held[h.account] != a.debits_pending) {
      return fail(Violation::kHeldMismatch, "user " + std::to_string(r.user) + " asset " + std::to_string(r.asset) +
                                                ": held " + std::to_string(a.debits_pending) + ", open orders hold " +
                                                std::to_string(static_cast<std::uint64_t>(held[h.account])));
    }
  }
  r.user = 0;
  r.asset = 0;
  for (std::uint32_t ai = 0; ai < m.asset_count; ++ai) {
    const ledger::Account e = m.ledger.account_by_index(m.assets[ai].escrow);
    if (held[m.assets[ai].escrow] != e.credits_pending || e.debits_pending != 0) {
      r.asset = static_cast<std::uint32_t>(m.assets[ai].id);
      return fail(Violation::kEscrowMismatch,
                  "asset " + std::to_string(r.asset) + ": escrow holds " + std::to_string(e.credits_pending) +
                      ", orders hold " + std::to_string(static_cast<std::uint64_t>(held[m.assets[ai].escrow])));
    }
  }
  return r;
}

std::string Exchange::snapshot() const {
  const Impl& m = *impl_;
  SnapshotWriter w(kSnapshotMagic, kSnapshotVersion);
  const ExchangeConfig& c = m.cfg;
  w.put(c.max_users);
  w.put(c.max_assets);
  w.put(c.max_symbols);
  w.put(c.max_orders);
  w.put(c.max_levels);
  w.put(c.id_history);
  w.put(c.max_accounts);
  w.put(c.max_transfers);
  m.save_own(w);
  m.ledger.save(w);
  const std::string book = m.engine.snapshot();
  w.put(std::uint64_t{book.size()});
  w.put_array(reinterpret_cast<const std::uint8_t*>(book.data()), book.size());
  return w.finish();
}

std::uint64_t Exchange::state_hash() const {
  const Impl& m = *impl_;
  SnapshotWriter w(kSnapshotMagic, kSnapshotVersion);
  m.save_own(w);
  const std::string own = w.finish();
  std::uint64_t h = checksum64(own.data(), own.size());
  h = fmix64(h ^ m.ledger.state_hash());
  return fmix64(h ^ m.engine.state_hash());
}

Exchange Exchange::restore(const std::uint8_t* data, std::size_t size) {
  return std::move(*restore_unique(data, size));
}

std::unique_ptr<Exchange> Exchange::restore_unique(const std::uint8_t* data, std::size_t size) {
  SnapshotReader r(data, size, kSnapshotMagic, kSnapshotVersion, kSnapshotVersion, "exchange snapshot");
  ExchangeConfig c;
  c.max_users = r.get<std::uint32_t>();
  c.max_assets = r.get<std::uint32_t>();
  c.max_symbols = r.get<std::uint32_t>();
  c.max_orders = r.get<std::uint32_t>();
  c.max_levels = r.get<std::uint32_t>();
  c.id_history = r.get<std::uint32_t>();
  c.max_accounts = r.get<std::uint32_t>();
  c.max_transfers = r.get<std::uint32_t>();
  std::unique_ptr<Impl> m;
  try {
    m = std::make_unique<Impl>(c);
  } catch (const std::invalid_argument& e) {
    r.fail(e.what());
  }
  m->next_seq = r.get<std::uint64_t>();
  m->clock = r.get<std::int64_t>();
  m->faults = r.get<std::uint64_t>();
  if (m->next_seq == 0 || m->clock < 0 || m->clock > kMaxTime) r.fail("bad sequence or clock");
  // A settlement fault is a bug's trace (check_invariants reports it); a
  // state carrying one is not restored as if it were sound.
  if (m->faults != 0) r.fail("the exchange recorded settlement faults");
  m->asset_count = static_cast<std::uint32_t>(r.get_count(c.max_assets, sizeof(AssetRec), "asset"));
  r.get_array(m->assets.get(), m->asset_count);
  m->symbol_count = static_cast<std::uint32_t>(r.get_count(c.max_symbols, sizeof(SymbolRec), "symbol"));
  r.get_array(m->symbols.get(), m->symbol_count);
  m->user_count = static_cast<std::uint32_t>(r.get_count(c.max_users, sizeof(UserRec), "user"));
  r.get_array(m->users.get(), m->user_count);
  m->holding_count = static_cast<std::uint32_t>(r.get_count(c.max_accounts, sizeof(HoldingRec), "holding"));
  r.get_array(m->holdings.get(), m->holding_count);
  const auto n_orders = static_cast<std::uint32_t>(r.get_count(c.max_orders, sizeof(OrderRec), "order"));
  r.get_array(m->orders.get(), n_orders);
  // Keys unique and in range; records consistent with each other.
  for (std::uint32_t i = 0; i < m->asset_count; ++i) {
    const AssetRec& a = m->assets[i];
    if (a.id == 0 || a.id > UINT32_MAX || a.pad != 0 || m->asset_map.find(a.id, m->assets.get()) != kNone32) {
      r.fail("bad asset " + std::to_string(i));
    }
    m->asset_map.insert(a.id, i);
  }
  for (std::uint32_t i = 0; i < m->symbol_count; ++i) {
    const SymbolRec& s = m->symbols[i];
    if (s.id > UINT32_MAX || s.base >= m->asset_count || s.quote >= m->asset_count || s.base == s.quote ||
        s.base_scale == 0 || s.quote_scale == 0 || s.maker_bps > kMaxFeeBps || s.taker_bps > kMaxFeeBps || s.pad != 0 ||
        m->symbol_map.find(s.id, m->symbols.get()) != kNone32) {
      r.fail("bad symbol " + std::to_string(i));
    }
    m->symbol_map.insert(s.id, i);
  }
  for (std::uint32_t i = 0; i < m->user_count; ++i) {
    const UserRec& u = m->users[i];
    if (u.id == 0 || u.max_notional < 0 || m->user_map.find(u.id, m->users.get()) != kNone32) {
      r.fail("bad user " + std::to_string(i));
    }
    m->user_map.insert(u.id, i);
  }
  if (std::uint64_t{m->user_count} * m->asset_count != m->holding_count) r.fail("holdings do not cover every user");
  for (std::uint32_t i = 0; i < m->holding_count; ++i) {
    const HoldingRec& h = m->holdings[i];
    if ((h.id >> 32) == 0 || (h.id >> 32) > m->user_count || static_cast<std::uint32_t>(h.id) >= m->asset_count ||
        h.pad != 0 || h.max_position < 0 || m->holding_map.find(h.id, m->holdings.get()) != kNone32) {
      r.fail("bad holding " + std::to_string(i));
    }
    m->holding_map.insert(h.id, i);
  }
  std::vector<std::uint32_t> stored_open(m->user_count);
  for (std::uint32_t i = 0; i < m->user_count; ++i) {
    stored_open[i] = m->users[i].open_orders;
    m->users[i].open_orders = 0;
  }
  std::vector<ledger::Ledger::ExternalPending> external;
  std::vector<std::uint64_t> incoming(m->holding_count);
  for (std::uint32_t i = 0; i < n_orders; ++i) {
    OrderRec& o = m->orders[i];
    if (o.id == 0 || o.id > book::kMaxOrderId || (i > 0 && o.id <= m->orders[i - 1].id) || o.user >= m->user_count ||
        o.symbol >= m->symbol_count || (o.side != Side::kBuy && o.side != Side::kSell) || o.remaining <= 0 ||
        o.pad != 0) {
      r.fail("bad order " + std::to_string(i));
    }
    const SymbolRec& s = m->symbols[o.symbol];
    std::uint64_t want = 0;
    if (!cost(s, o.side, o.price, o.remaining, o.bps, &want) || want != o.hold ||
        o.bps != std::max(s.maker_bps, s.taker_bps)) {
      r.fail("order " + std::to_string(o.id) + ": hold differs from what it could spend");
    }
    const std::uint32_t hb = m->holding_index(o.user, s.base), hq = m->holding_index(o.user, s.quote);
    if (hb == kNone32 || hq == kNone32 || o.holding != hb) r.fail("order " + std::to_string(o.id) + ": bad holding");
    const bool buy = o.side == Side::kBuy;
    const AssetRec& held = m->assets[buy ? s.quote : s.base];
    if (o.account != m->holdings[buy ? hq : hb].account || o.recv != m->holdings[buy ? hb : hq].account ||
        o.escrow != held.escrow) {
      r.fail("order " + std::to_string(o.id) + ": bad accounts");
    }
    if (buy) incoming[hb] += static_cast<std::uint64_t>(o.remaining) * s.base_scale;
    m->order_map.insert(o.id, i);
    ++m->users[o.user].open_orders;
    external.push_back({m->holdings[buy ? hq : hb].id, o.hold, 0});
    external.push_back({system_account_id(buy ? s.quote : s.base, kCodeEscrow), 0, o.hold});
  }
  for (std::uint32_t i = 0; i < m->holding_count; ++i) {
    if (incoming[i] != m->holdings[i].incoming) r.fail("holding " + std::to_string(i) + ": bad incoming");
  }
  for (std::uint32_t i = 0; i < m->user_count; ++i) {
    if (stored_open[i] != m->users[i].open_orders) r.fail("user " + std::to_string(i) + ": bad open-order count");
  }
  m->order_count = n_orders;
  m->order_slots_used = n_orders;
  m->ledger = ledger::Ledger::load(r, external.data(), external.size());
  const std::uint64_t book_size = r.get_count(r.remaining(), 1, "book snapshot byte");
  std::vector<std::uint8_t> book(book_size);
  r.get_array(book.data(), book.size());
  r.expect_end();
  m->engine = book::MatchingEngine::restore(book.data(), book.size());
  // The parts must have the capacities the exchange was configured with:
  // its capacity checks stand in for theirs.
  const ledger::LedgerCapacity& lc = m->ledger.capacity();
  const book::EngineConfig& ec = m->engine.config();
  if (lc.accounts != c.max_accounts || lc.transfers != c.max_transfers || lc.idempotency_window_ns != 0 ||
      lc.archive != 0 || ec.max_orders != c.max_orders || ec.max_symbols != c.max_symbols ||
      ec.max_levels != c.max_levels || ec.id_history != c.id_history || ec.market_data) {
    r.fail("the ledger's or the engine's configuration differs from the exchange's");
  }
  // Every order is in the book as the exchange has it; the ledger's system
  // and user accounts are where the tables say.
  for (std::uint32_t i = 0; i < n_orders; ++i) {
    const OrderRec& o = m->orders[i];
    const book::OrderInfo info = m->engine.order(o.id);
    if ((info.state != book::OrderState::kResting && info.state != book::OrderState::kPendingStop) ||
        info.remaining != o.remaining || info.account != m->users[o.user].id || info.side != o.side) {
      r.fail("order " + std::to_string(o.id) + " disagrees with the book");
    }
  }
  if (m->engine.live_orders() != n_orders) r.fail("the book has orders the exchange does not");
  for (std::uint32_t i = 0; i < m->holding_count; ++i) {
    if (m->ledger.account_index(m->holdings[i].id) != m->holdings[i].account) r.fail("holding account mismatch");
  }
  for (std::uint32_t i = 0; i < m->asset_count; ++i) {
    const AssetRec& a = m->assets[i];
    if (m->ledger.account_index(system_account_id(i, kCodeFee)) != a.fee ||
        m->ledger.account_index(system_account_id(i, kCodeExternal)) != a.external ||
        m->ledger.account_index(system_account_id(i, kCodeEscrow)) != a.escrow) {
      r.fail("asset accounts mismatch");
    }
  }
  for (std::uint32_t i = 0; i < m->symbol_count; ++i) {
    if (!m->engine.has_symbol(static_cast<std::uint32_t>(m->symbols[i].id))) r.fail("symbol missing from the book");
  }
  if (m->engine.symbol_count() != m->symbol_count) r.fail("the book has symbols the exchange does not");
  return std::unique_ptr<Exchange>(new Exchange(std::move(m)));
}

}  // namespace shanraq::exchange
