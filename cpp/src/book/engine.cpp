// Matching engine implementation. The rules live in docs/book.md and the
// executable specification in tests/book_reference.py; this file is the fast
// version of the same thing. Private layout: records.hpp (pools),
// ladder.hpp (price ladders), id_index.hpp (order ids).
#include "shanraq/book/engine.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "id_index.hpp"
#include "ladder.hpp"
#include "records.hpp"
#include "shanraq/common/checksum.hpp"
#include "shanraq/common/hash.hpp"
#include "shanraq/common/index_heap.hpp"
#include "shanraq/common/platform.hpp"
#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/common/zeroed.hpp"

namespace shanraq::book {

using detail::Ext;
using detail::IdIndex;
using detail::kHistoryBit;
using detail::kNil;
using detail::Ladder;
using detail::Level;
using detail::LevelRef;
using detail::Live;
using detail::Order;
using detail::OrderRecord;

namespace {

constexpr std::int64_t kMaxQty = INT64_MAX;

struct SymbolState {
  SymbolSpec spec;
  Ladder ladders[4];  // bids, asks, buy stops, sell stops
  // Open quantity (shown + hidden) of the orders in each ladder. Every rule
  // that lets an order join or grow keeps it <= 2^63-1, and every level
  // total, FOK sum and depth sum is bounded by it, so none can overflow.
  std::int64_t open[4] = {0, 0, 0, 0};
  std::int64_t last_price = 0;
  bool has_last = false;
  bool halted = false;
};

inline int side_index(Side s) noexcept { return s == Side::kBuy ? 0 : 1; }
inline bool is_stop_type(OrderType t) noexcept { return t == OrderType::kStop || t == OrderType::kStopLimit; }
inline bool has_limit_price(OrderType t) noexcept { return t == OrderType::kLimit || t == OrderType::kStopLimit; }
inline bool is_symbol_kind(CommandKind k) noexcept {
  return k == CommandKind::kAddSymbol || k == CommandKind::kUpdateSymbol || k == CommandKind::kHaltSymbol ||
         k == CommandKind::kResumeSymbol;
}
inline bool valid_spec(const SymbolSpec& s) noexcept {
  return s.tick_size > 0 && s.lot_size > 0 && s.min_price > 0 && s.max_price >= s.min_price && s.max_qty > 0;
}
// The spec at the command's offsets (types.hpp): tick_size = price, lot_size
// = qty, min_price = other_order_id, max_price = other_account, max_qty =
// remaining.
inline void write_spec(Event& e, const SymbolSpec& s) noexcept {
  e.price = s.tick_size;
  e.qty = s.lot_size;
  e.other_order_id = static_cast<std::uint64_t>(s.min_price);
  e.other_account = static_cast<std::uint64_t>(s.max_price);
  e.remaining = s.max_qty;
}

constexpr char kMagic[9] = "SHQBOOK1";
// The only format this build reads: the package has not been released, so
// formats that never shipped have no readers.
constexpr std::uint32_t kSnapshotVersion = 4;
// Bytes of the envelope and configuration before the state (state_hash
// leaves them out: capacities are configuration).
constexpr std::size_t kConfigEnd = 8 + 4 + 4 * 4 + 1;

void check_config(const EngineConfig& c) {
  if (c.max_orders == 0 || c.max_orders >= (1U << 30) || c.id_history >= (1U << 30) || c.max_symbols == 0 ||
      c.max_symbols >= (1U << 30) || c.max_levels == 0 || c.max_levels >= (1U << 31)) {
    throw std::invalid_argument("book: capacities must be in 1..2^30-1 (max_levels 1..2^31-1, id_history 0..2^30-1)");
  }
}

const EngineConfig& checked(const EngineConfig& c) {
  check_config(c);
  return c;
}

// GTD expiries: a min-heap of order indices by (expire_ns, acceptance
// order, id); the id makes the order total even for a restored state.
struct GtdPolicy {
  const Order* orders;
  Ext* exts;
  bool less(std::uint32_t a, std::uint32_t b) const noexcept {
    const Ext& x = exts[orders[a].ext];
    const Ext& y = exts[orders[b].ext];
    if (x.expire_ns != y.expire_ns) return x.expire_ns < y.expire_ns;
    if (x.accept_seq != y.accept_seq) return x.accept_seq < y.accept_seq;
    return orders[a].id < orders[b].id;
  }
  void placed(std::uint32_t item, std::uint32_t pos) noexcept { exts[orders[item].ext].heap_pos = pos; }
};

}  // namespace

struct MatchingEngine::Impl {
  EngineConfig cfg;
  // Pools.
  RawArray<Order> orders;
  std::uint32_t order_hwm = 0, order_free = kNil, orders_live = 0;
  RawArray<Ext> exts;
  std::uint32_t ext_hwm = 0, ext_free = kNil;
  RawArray<Level> levels;
  std::uint32_t level_hwm = 0, level_free = kNil, levels_live = 0;
  std::uint64_t empty_total = 0;  // empty levels parked in ladders
  IdIndex index;
  // Finished ids, oldest first, with their final state.
  RawArray<std::uint64_t> hist_ids;
  RawArray<std::uint8_t> hist_state;
  std::uint32_t hist_head = 0, hist_size = 0;
  // Largest id ever evicted from the ring (or retired with id_history 0).
  // Ids <= this that are not in the index may have been used: the bounded
  // memory of the ring cannot tell, so they are rejected rather than risk
  // accepting a duplicate.
  std::uint64_t evicted_max = 0;
  RawArray<std::uint32_t> heap_storage;
  IndexHeap<GtdPolicy> gtd;
  // Symbols, in registration order; an open-addressing map symbol -> index.
  std::vector<SymbolState> syms;
  RawArray<std::uint64_t> sym_slots;
  std::uint64_t sym_mask = 0;
  // Counters.
  std::uint64_t next_seq = 1;
  std::int64_t now = 0;
  std::uint64_t accept_counter = 0;
  // Per-command context.
  std::vector<Event>* out = nullptr;
  CommandKind cur_kind = CommandKind::kSubmit;
  std::uint64_t cur_seq = 0;
  std::int64_t expired = 0;  // GTD orders the current command expired
  std::uint64_t new_id_slot = 0;  // validate_submit -> submit: where the new id goes

  explicit Impl(const EngineConfig& c)
      : cfg(checked(c)),
        orders(make_zeroed<Order>(c.max_orders)),
        exts(make_zeroed<Ext>(c.max_orders)),
        levels(make_zeroed<Level>(c.max_levels)),
        index(std::uint64_t{c.max_orders} + c.id_history),
        hist_ids(make_zeroed<std::uint64_t>(c.id_history)),
        hist_state(make_zeroed<std::uint8_t>(c.id_history)),
        heap_storage(make_zeroed<std::uint32_t>(c.max_orders)),
        gtd(heap_storage.get(), GtdPolicy{orders.get(), exts.get()}) {
    std::uint64_t ssize = 16;
    while (ssize < 2 * std::uint64_t{c.max_symbols}) ssize <<= 1;
    sym_slots = make_zeroed<std::uint64_t>(ssize);
    sym_mask = ssize - 1;
    syms.reserve(std::min<std::uint32_t>(c.max_symbols, 4096));
  }

  std::size_t memory_reserved() const noexcept {
    return std::size_t{cfg.max_orders} * (sizeof(Order) + sizeof(Ext) + sizeof(std::uint32_t)) +
           std::size_t{cfg.max_levels} * sizeof(Level) + index.memory_bytes() + std::size_t{cfg.id_history} * 9 +
           (sym_mask + 1) * 8;
  }

  // ---- symbols -------------------------------------------------------------
  std::uint32_t find_symbol(std::uint32_t symbol) const noexcept {
    for (std::uint64_t pos = fmix64(symbol) & sym_mask;; pos = (pos + 1) & sym_mask) {
      const std::uint64_t s = sym_slots[pos];
      if (s == 0) return kNil;
      if ((s >> 32) == symbol) return static_cast<std::uint32_t>(s) - 1;
    }
  }

  // Registers a valid, new symbol within capacity.
  std::uint32_t register_symbol(const SymbolSpec& spec) {
    const auto index_of = static_cast<std::uint32_t>(syms.size());
    SymbolState& s = syms.emplace_back();
    s.spec = spec;
    s.ladders[1].negate = true;  // asks: lowest price at the back
    s.ladders[2].negate = true;  // buy stops: lowest stop price triggers first
    for (Ladder& lad : s.ladders) lad.tick = spec.tick_size;
    std::uint64_t pos = fmix64(spec.symbol) & sym_mask;
    while (sym_slots[pos] != 0) pos = (pos + 1) & sym_mask;
    sym_slots[pos] = (std::uint64_t{spec.symbol} << 32) | (std::uint64_t{index_of} + 1);
    return index_of;
  }

  // ---- id index ------------------------------------------------------------
  std::uint64_t ref_id(std::uint32_t ref) const noexcept {
    return (ref & kHistoryBit) != 0 ? hist_ids[ref & ~kHistoryBit] : orders[ref].id;
  }
  std::uint64_t find_slot(std::uint64_t id) const noexcept {
    return index.find(id, [this](std::uint32_t ref) { return ref_id(ref); });
  }
  // Prefetches the order `id` most likely maps to; its slot should have been
  // prefetched earlier.
  void prefetch_order(std::uint64_t id) const noexcept {
    const std::uint32_t ref = index.home_ref(id);
    if ((ref & kHistoryBit) == 0) __builtin_prefetch(&orders[ref]);
  }

  // The live order with this id, or kNil.
  std::uint32_t find_live(std::uint64_t id) const noexcept {
    const std::uint64_t pos = find_slot(id);
    if (pos == IdIndex::kAbsent) return kNil;
    const std::uint32_t ref = index.ref_at(pos);
    return (ref & kHistoryBit) != 0 ? kNil : ref;
  }

  // Moves a finished order's id from the live index to the history ring,
  // forgetting the oldest finished id when the ring is full.
  void retire_id(std::uint64_t id, OrderState state) noexcept {
    if (cfg.id_history == 0) {
      index.erase(find_slot(id));
      evicted_max = std::max(evicted_max, id);
      return;
    }
    std::uint32_t at;
    if (hist_size == cfg.id_history) {
      const std::uint64_t old = hist_ids[hist_head];
      index.erase(find_slot(old));
      evicted_max = std::max(evicted_max, old);
      at = hist_head;
      hist_head = hist_head + 1 == cfg.id_history ? 0 : hist_head + 1;
    } else {
      at = hist_head + hist_size;
      if (at >= cfg.id_history) at -= cfg.id_history;
      ++hist_size;
    }
    // Erasing above may have shifted this id's slot: look it up afterwards.
    const std::uint64_t pos = find_slot(id);
    hist_ids[at] = id;
    hist_state[at] = static_cast<std::uint8_t>(state);
    index.set(pos, at | kHistoryBit);
  }

  // ---- pools ---------------------------------------------------------------
  bool order_available() const noexcept { return order_free != kNil || order_hwm < cfg.max_orders; }
  std::uint32_t alloc_order() noexcept {
    std::uint32_t i;
    if (order_free != kNil) {
      i = order_free;
      order_free = orders[i].next;
    } else {
      i = order_hwm++;
    }
    ++orders_live;
    return i;
  }
  void free_order(std::uint32_t i) noexcept {
    orders[i].live = Live::kFree;
    orders[i].next = order_free;
    order_free = i;
    --orders_live;
  }
  std::uint32_t alloc_ext() noexcept {
    std::uint32_t i;
    if (ext_free != kNil) {
      i = ext_free;
      ext_free = exts[i].next_free;
    } else {
      i = ext_hwm++;
    }
    exts[i] = Ext{};
    exts[i].heap_pos = kNil;
    return i;
  }
  void free_ext(std::uint32_t i) noexcept {
    exts[i].next_free = ext_free;
    ext_free = i;
  }
  // Whether a new level can be made; reclaims parked empty levels first if
  // the pool is exhausted, so capacity depends on live levels only.
  bool level_available() {
    if (level_free != kNil || level_hwm < cfg.max_levels) return true;
    if (empty_total == 0) return false;
    for (SymbolState& s : syms) {
      for (Ladder& lad : s.ladders) {
        if (lad.empties > 0) compact(lad);
      }
    }
    return level_free != kNil;
  }

  void free_level(std::uint32_t li) noexcept {
    levels[li].head = level_free;
    level_free = li;
  }

  std::uint32_t new_level(std::uint32_t si, int book) noexcept {
    std::uint32_t li;
    if (level_free != kNil) {
      li = level_free;
      level_free = levels[li].head;
    } else {
      li = level_hwm++;
    }
    ++levels_live;
    Level& l = levels[li];
    l = Level{};
    l.head = l.tail = kNil;
    l.sym = si & 0x3FFFFFFFU;
    l.book = static_cast<std::uint32_t>(book) & 3U;
    return li;
  }

  void compact(Ladder& lad) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < lad.v.size(); ++r) {
      if (levels[lad.v[r].level].count == 0) {
        free_level(lad.v[r].level);
      } else {
        lad.v[w++] = lad.v[r];
      }
    }
    lad.v.resize(w);
    empty_total -= lad.empties;
    lad.empties = 0;
  }

  // The level at `price` in ladder `book` of symbol `si`, created if needed;
  // kNil when a new one is needed and the pool is exhausted.
  std::uint32_t level_for(std::uint32_t si, int book, std::int64_t price) {
    Ladder& lad = syms[si].ladders[book];
    std::size_t pos = lad.lower(price);
    const std::int64_t key = lad.key(price);
    if (pos < lad.v.size() && lad.v[pos].key == key) {
      const std::uint32_t li = lad.v[pos].level;
      if (levels[li].count == 0) {
        --lad.empties;
        --empty_total;
        ++levels_live;
      }
      return li;
    }
    if (!level_available()) return kNil;
    pos = lad.lower(price);  // compaction may have moved it
    const std::uint32_t li = new_level(si, book);
    lad.v.insert(lad.v.begin() + static_cast<std::ptrdiff_t>(pos), LevelRef{key, li, 0});
    return li;
  }

  // A level just became empty.
  void drop_level(std::uint32_t li) {
    Level& l = levels[li];
    Ladder& lad = syms[l.sym].ladders[l.book];
    --levels_live;
    if (lad.v.back().level != li) {
      ++lad.empties;
      ++empty_total;
      // Parked levels may reach twice the live ones before a compaction.
      if (lad.empties > 2 * (lad.v.size() - lad.empties) + 64) compact(lad);
      return;
    }
    lad.v.pop_back();
    free_level(li);
    while (!lad.v.empty() && levels[lad.v.back().level].count == 0) {
      free_level(lad.v.back().level);
      lad.v.pop_back();
      --lad.empties;
      --empty_total;
    }
  }

  bool level_exists(std::uint32_t si, int book, std::int64_t price) const noexcept {
    const std::uint32_t li = syms[si].ladders[book].find(price);
    return li != kNil && levels[li].count > 0;
  }

  SHANRAQ_ALWAYS_INLINE std::int64_t leaves(const Order& o) const noexcept {
    return o.visible + (o.ext != kNil ? exts[o.ext].hidden : 0);
  }

  SHANRAQ_ALWAYS_INLINE void link_back(std::uint32_t li, std::uint32_t oi) noexcept {
    Level& l = levels[li];
    Order& o = orders[oi];
    o.level = li;
    o.next = kNil;
    o.prev = l.tail;
    if (l.tail != kNil) {
      orders[l.tail].next = oi;
    } else {
      l.head = oi;
    }
    l.tail = oi;
    ++l.count;
    l.total += o.visible;
    syms[l.sym].open[l.book] += leaves(o);
  }

  // Unlinks a resting or pending order; drops its level if it empties.
  SHANRAQ_ALWAYS_INLINE void unlink(std::uint32_t oi) {
    Order& o = orders[oi];
    Level& l = levels[o.level];
    if (o.prev != kNil) {
      orders[o.prev].next = o.next;
    } else {
      l.head = o.next;
    }
    if (o.next != kNil) {
      orders[o.next].prev = o.prev;
    } else {
      l.tail = o.prev;
    }
    --l.count;
    l.total -= o.visible;
    syms[l.sym].open[l.book] -= leaves(o);
    if (l.count == 0) drop_level(o.level);
  }

  // Whether `more` lots fit in ladder `book` of symbol `si` (open quantity
  // stays <= 2^63-1).
  SHANRAQ_ALWAYS_INLINE bool room(std::uint32_t si, int book, std::int64_t more) const noexcept {
    return more <= 0 || syms[si].open[book] <= kMaxQty - more;
  }

  // ---- GTD heap --------------------------------------------------------------
  void heap_remove(std::uint32_t oi) noexcept {
    Ext& x = exts[orders[oi].ext];
    gtd.remove_at(x.heap_pos);
    x.heap_pos = kNil;
  }

  // ---- events ----------------------------------------------------------------
  SHANRAQ_ALWAYS_INLINE Event& emit(EventType t) {
    Event& e = out->emplace_back();
    e.seq = cur_seq;
    e.time_ns = now;
    e.type = t;
    e.command = cur_kind;
    return e;
  }
  SHANRAQ_ALWAYS_INLINE Event& emit_order(EventType t, const Order& o, std::uint32_t si) {
    Event& e = emit(t);
    e.order_id = o.id;
    e.account = o.account;
    e.price = o.price;
    e.symbol = syms[si].spec.symbol;
    e.side = o.side;
    e.order_type = o.type;
    e.tif = o.tif;
    return e;
  }
  void md(EventType t, const Order& o, std::uint32_t si) {
    if (!cfg.market_data) return;
    Event& e = emit_order(t, o, si);
    e.qty = t == EventType::kMdDelete ? 0 : o.visible;
    e.remaining = leaves(o);
  }
  // The command's own refusal: its fields echoed (a symbol command's spec at
  // the spec offsets), nothing changed.
  void reject(const Command& c, RejectReason r) {
    Event& e = emit(EventType::kRejected);
    e.order_id = c.order_id;
    e.account = c.account;
    e.price = c.price;
    e.qty = c.qty;
    e.symbol = c.symbol;
    e.side = c.side;
    e.order_type = c.order_type;
    e.tif = c.tif;
    e.reason = static_cast<std::uint8_t>(r);
    if (is_symbol_kind(c.kind)) write_spec(e, spec_of(c));
  }

  // Order leaves the engine: out of the GTD heap, its id into history.
  void finish(std::uint32_t oi, OrderState state) {
    Order& o = orders[oi];
    if (o.ext != kNil) {
      if (exts[o.ext].heap_pos != kNil) heap_remove(oi);
      free_ext(o.ext);
      o.ext = kNil;
    }
    retire_id(o.id, state);
    free_order(oi);
  }

  // Cancels an order that is not linked anywhere (in flight or just unlinked).
  void cancel_unlinked(std::uint32_t oi, std::uint32_t si, std::int64_t qty, CancelReason reason) {
    Order& o = orders[oi];
    Event& e = emit_order(EventType::kCancelled, o, si);
    e.qty = qty;
    e.remaining = 0;
    e.reason = static_cast<std::uint8_t>(reason);
    finish(oi, OrderState::kCancelled);
  }

  // Removes a resting or pending order in full, with its cancel event.
  void cancel_linked(std::uint32_t oi, CancelReason reason) {
    Order& o = orders[oi];
    const std::uint32_t si = levels[o.level].sym;
    const bool in_book = o.live == Live::kResting;
    const std::int64_t qty = leaves(o);
    unlink(oi);
    Event& e = emit_order(EventType::kCancelled, o, si);
    e.qty = qty;
    e.remaining = 0;
    e.reason = static_cast<std::uint8_t>(reason);
    if (in_book) md(EventType::kMdDelete, o, si);
    finish(oi, OrderState::kCancelled);
  }

  // ---- time ------------------------------------------------------------------
  void advance(std::int64_t t) {
    now = t;
    while (!gtd.empty() && exts[orders[gtd.top()].ext].expire_ns <= now) {
      cancel_linked(gtd.top(), CancelReason::kExpired);
      ++expired;
    }
  }

  // ---- matching --------------------------------------------------------------
  static bool crosses(Side taker, bool market, std::int64_t limit, std::int64_t maker_price) noexcept {
    if (market) return true;
    return taker == Side::kBuy ? maker_price <= limit : maker_price >= limit;
  }

  // Whether the whole `need` would trade now (FOK), walking the book exactly
  // as match() would: an own order with a blocking STP mode stops the walk, and
  // iceberg reserves refill behind the rest of their level. Counts down what
  // is still needed, so no sum is ever formed.
  bool fok_fillable(std::uint32_t si, const Order& t, std::int64_t need) const noexcept {
    const Ladder& lad = syms[si].ladders[side_index(t.side) ^ 1];
    const bool market = t.type == OrderType::kMarket;
    for (std::size_t i = lad.v.size(); i-- > 0;) {
      const Level& l = levels[lad.v[i].level];
      if (!crosses(t.side, market, t.price, lad.price_at(i))) break;
      std::int64_t reserve = 0;  // <= the side's open quantity: cannot overflow
      for (std::uint32_t oi = l.head; oi != kNil; oi = orders[oi].next) {
        const Order& m = orders[oi];
        if (t.stp != Stp::kNone && m.account == t.account) {
          if (t.stp == Stp::kCancelOldest) continue;
          return false;
        }
        if (m.visible >= need) return true;
        need -= m.visible;
        if (m.ext != kNil) reserve += exts[m.ext].hidden;
      }
      if (reserve >= need) return true;
      need -= reserve;
    }
    return false;
  }

  // Matches taker `ti` (in flight, `rem` open) against the opposite book.
  // Returns the open quantity left, or -1 if STP cancelled the taker.
  std::int64_t match(std::uint32_t si, std::uint32_t ti, std::int64_t rem) {
    SymbolState& s = syms[si];
    Order& t = orders[ti];
    const int opp = side_index(t.side) ^ 1;
    Ladder& lad = s.ladders[opp];
    const bool market = t.type == OrderType::kMarket;
    while (rem > 0 && !lad.v.empty()) {
      const std::uint32_t li = lad.v.back().level;
      Level& l = levels[li];
      const std::int64_t px = lad.best_price();
      if (!crosses(t.side, market, t.price, px)) break;
      while (rem > 0) {
        const std::uint32_t mi = l.head;  // the level may be dropped below: re-read each time
        Order& m = orders[mi];
        if (SHANRAQ_UNLIKELY(t.stp != Stp::kNone && m.account == t.account)) {
          const bool level_goes = l.count == 1;
          rem = self_trade(si, ti, mi, rem);
          if (rem <= 0) return rem;
          if (level_goes) break;
          continue;
        }
        const std::int64_t q = std::min(rem, m.visible);
        rem -= q;
        t.filled += q;
        m.visible -= q;
        m.filled += q;
        l.total -= q;
        s.open[opp] -= q;
        s.last_price = px;
        s.has_last = true;
        const std::int64_t hidden = m.ext != kNil ? exts[m.ext].hidden : 0;
        Event& e = emit(EventType::kTrade);
        e.order_id = t.id;
        e.account = t.account;
        e.other_order_id = m.id;
        e.other_account = m.account;
        e.price = px;
        e.qty = q;
        e.remaining = rem;
        e.other_remaining = m.visible + hidden;
        e.symbol = s.spec.symbol;
        e.side = t.side;
        e.order_type = t.type;
        e.tif = t.tif;
        if (m.visible > 0) {
          md(EventType::kMdModify, m, si);
          continue;  // the taker is exhausted
        }
        if (hidden > 0) {
          // Iceberg refill: a new slice from the reserve, at the back of the
          // queue. Open quantity is unchanged (reserve becomes shown).
          const bool alone = l.count == 1;
          md(EventType::kMdDelete, m, si);
          Ext& x = exts[m.ext];
          if (!alone) unlink(mi);
          m.visible = std::min(x.display, x.hidden);
          x.hidden -= m.visible;
          if (!alone) {
            link_back(li, mi);
          } else {
            l.total += m.visible;
          }
          md(EventType::kMdAdd, m, si);
          continue;
        }
        const bool level_goes = l.count == 1;
        unlink(mi);
        md(EventType::kMdDelete, m, si);
        finish(mi, OrderState::kFilled);
        if (level_goes) break;
      }
    }
    return rem;
  }

  // Applies the taker's STP mode against own resting order `mi`. Returns the
  // taker's open quantity afterwards, or -1 if the taker was cancelled.
  std::int64_t self_trade(std::uint32_t si, std::uint32_t ti, std::uint32_t mi, std::int64_t rem) {
    const Stp mode = orders[ti].stp;
    switch (mode) {
      case Stp::kCancelOldest:
        cancel_linked(mi, CancelReason::kSelfTrade);
        return rem;
      case Stp::kCancelBoth:
        cancel_linked(mi, CancelReason::kSelfTrade);
        [[fallthrough]];
      case Stp::kCancelNewest:
        cancel_unlinked(ti, si, rem, CancelReason::kSelfTrade);
        return -1;
      case Stp::kDecrementBoth:
      case Stp::kNone:
        break;
    }
    Order& m = orders[mi];
    const std::int64_t mleft = leaves(m);
    const std::int64_t d = std::min(rem, mleft);
    if (d == mleft) {
      cancel_linked(mi, CancelReason::kSelfTrade);
    } else {
      // A decrease keeps priority: the hidden reserve goes first.
      std::int64_t from_visible = d;
      if (m.ext != kNil) {
        Ext& x = exts[m.ext];
        const std::int64_t h = std::min(x.hidden, d);
        x.hidden -= h;
        from_visible -= h;
      }
      m.visible -= from_visible;
      Level& ml = levels[m.level];
      ml.total -= from_visible;
      syms[si].open[ml.book] -= d;
      Event& e = emit_order(EventType::kCancelled, m, si);
      e.qty = d;
      e.remaining = mleft - d;
      e.reason = static_cast<std::uint8_t>(CancelReason::kSelfTrade);
      if (from_visible > 0) md(EventType::kMdModify, m, si);
    }
    rem -= d;
    Order& t = orders[ti];
    Event& e = emit_order(EventType::kCancelled, t, si);
    e.qty = d;
    e.remaining = rem;
    e.reason = static_cast<std::uint8_t>(CancelReason::kSelfTrade);
    if (rem == 0) {
      finish(ti, OrderState::kCancelled);
      return -1;
    }
    return rem;
  }

  // Runs an in-flight order as taker: FOK check, match, then rest or cancel the rest.
  void execute(std::uint32_t si, std::uint32_t ti, std::int64_t rem) {
    Order& t = orders[ti];
    if (t.tif == TimeInForce::kFok && !fok_fillable(si, t, rem)) {
      cancel_unlinked(ti, si, rem, CancelReason::kFokNotFillable);
      return;
    }
    rem = match(si, ti, rem);
    if (rem < 0) return;
    if (rem == 0) {
      orders[ti].visible = 0;
      if (orders[ti].ext != kNil) exts[orders[ti].ext].hidden = 0;
      finish(ti, OrderState::kFilled);
      return;
    }
    if (t.type == OrderType::kMarket || t.tif == TimeInForce::kIoc || t.tif == TimeInForce::kFok) {
      cancel_unlinked(ti, si, rem, CancelReason::kIocRemainder);
      return;
    }
    // Submits and amends were checked up front; a triggered stop-limit is
    // checked here, where it would join its side.
    const int book = side_index(t.side);
    if (!room(si, book, rem)) {
      cancel_unlinked(ti, si, rem, CancelReason::kQtyOverflow);
      return;
    }
    const std::uint32_t li = level_for(si, book, t.price);
    if (li == kNil) {
      cancel_unlinked(ti, si, rem, CancelReason::kCapacity);
      return;
    }
    if (t.ext != kNil && exts[t.ext].display > 0) {
      t.visible = std::min(exts[t.ext].display, rem);
      exts[t.ext].hidden = rem - t.visible;
    } else {
      t.visible = rem;
    }
    t.live = Live::kResting;
    link_back(li, ti);
    md(EventType::kMdAdd, t, si);
  }

  bool triggers(const SymbolState& s, Side side, std::int64_t stop) const noexcept {
    if (!s.has_last) return false;
    return side == Side::kBuy ? s.last_price >= stop : s.last_price <= stop;
  }

  void trigger(std::uint32_t si, std::uint32_t oi) {
    Order& o = orders[oi];
    o.type = o.type == OrderType::kStop ? OrderType::kMarket : OrderType::kLimit;
    o.live = Live::kInFlight;
    Event& e = emit_order(EventType::kTriggered, o, si);
    e.price = exts[o.ext].stop_price;
    e.qty = o.visible;
    e.remaining = o.visible;
    execute(si, oi, o.visible);
  }

  // Triggers pending stops one at a time, always the first in trigger order
  // under the current last trade price, until none is due (cascades included).
  void run_stops(std::uint32_t si) {
    SymbolState& s = syms[si];
    while (s.has_last) {
      Ladder& buys = s.ladders[2];
      Ladder& sells = s.ladders[3];
      std::uint32_t li = kNil;
      if (!buys.v.empty() && buys.best_price() <= s.last_price) {
        li = buys.v.back().level;
      } else if (!sells.v.empty() && sells.best_price() >= s.last_price) {
        li = sells.v.back().level;
      } else {
        break;
      }
      const std::uint32_t oi = levels[li].head;
      unlink(oi);
      trigger(si, oi);
    }
  }

  // ---- commands --------------------------------------------------------------
  static RejectReason check_price(const SymbolSpec& sp, std::int64_t price) noexcept {
    if (price <= 0) return RejectReason::kInvalidPrice;
    if (price < sp.min_price || price > sp.max_price) return RejectReason::kPriceOutOfBand;
    // Most instruments trade on a grid of 1: skip the 64-bit division (tens
    // of cycles) on every submit and amend for them.
    if (sp.tick_size != 1 && price % sp.tick_size != 0) return RejectReason::kPriceOffTick;
    return RejectReason::kNone;
  }
  static RejectReason check_qty(const SymbolSpec& sp, std::int64_t qty) noexcept {
    if (qty <= 0 || qty > sp.max_qty) return RejectReason::kInvalidQty;
    if (sp.lot_size != 1 && qty % sp.lot_size != 0) return RejectReason::kQtyOffLot;
    return RejectReason::kNone;
  }
  static bool valid_id(std::uint64_t id) noexcept { return id != 0 && id <= kMaxOrderId; }
  // Whether `open` lots shown `display` at a time need more slices than allowed.
  static bool too_many_slices(std::int64_t open, std::int64_t display) noexcept {
    return display > 0 && open > display && (open - 1) / display >= kMaxIcebergSlices;
  }
  bool would_take(std::uint32_t si, Side side, std::int64_t price) const noexcept {
    const Ladder& lad = syms[si].ladders[side_index(side) ^ 1];
    return !lad.v.empty() && crosses(side, false, price, lad.best_price());
  }

  RejectReason validate_submit(const Command& c, std::uint32_t* out_si) {
    if (!valid_id(c.order_id)) return RejectReason::kInvalidOrderId;
    const std::uint32_t si = find_symbol(c.symbol);
    if (si == kNil) return RejectReason::kUnknownSymbol;
    *out_si = si;
    if (syms[si].halted) return RejectReason::kSymbolHalted;
    const SymbolSpec& sp = syms[si].spec;
    if (c.side != Side::kBuy && c.side != Side::kSell) return RejectReason::kInvalidSide;
    const auto type = static_cast<std::uint8_t>(c.order_type);
    if (type < 1 || type > 4) return RejectReason::kInvalidOrderType;
    const auto tif = static_cast<std::uint8_t>(c.tif);
    if (tif < 1 || tif > 4) return RejectReason::kInvalidTimeInForce;
    if (static_cast<std::uint8_t>(c.stp) > 4) return RejectReason::kInvalidStp;
    if ((c.flags & ~kFlagPostOnly) != 0) return RejectReason::kInvalidFlags;
    if (const RejectReason r = check_qty(sp, c.qty); r != RejectReason::kNone) return r;
    if (has_limit_price(c.order_type)) {
      if (const RejectReason r = check_price(sp, c.price); r != RejectReason::kNone) return r;
      std::int64_t notional;
      if (__builtin_mul_overflow(c.price, c.qty, &notional)) return RejectReason::kNotionalOverflow;
    } else if (c.price != 0) {
      return RejectReason::kInvalidPrice;
    }
    const bool stop = is_stop_type(c.order_type);
    if (stop) {
      if (check_price(sp, c.stop_price) != RejectReason::kNone) return RejectReason::kInvalidStopPrice;
    } else if (c.stop_price != 0) {
      return RejectReason::kInvalidStopPrice;
    }
    if (c.display_qty < 0 || (c.display_qty > 0 && c.display_qty % sp.lot_size != 0)) {
      return RejectReason::kInvalidDisplayQty;
    }
    if (too_many_slices(c.qty, c.display_qty)) return RejectReason::kTooManySlices;
    if (c.tif == TimeInForce::kGtd) {
      if (c.expire_ns <= now) return RejectReason::kInvalidExpireTime;
    } else if (c.expire_ns != 0) {
      return RejectReason::kInvalidExpireTime;
    }
    const bool resting_tif = c.tif == TimeInForce::kGtc || c.tif == TimeInForce::kGtd;
    const bool no_limit = !has_limit_price(c.order_type);
    if (no_limit && resting_tif) return RejectReason::kUnsupportedCombination;
    if ((c.flags & kFlagPostOnly) != 0 && (!resting_tif || c.order_type != OrderType::kLimit)) {
      return RejectReason::kUnsupportedCombination;
    }
    if (c.display_qty > 0 && (!resting_tif || c.order_type != OrderType::kLimit)) {
      return RejectReason::kUnsupportedCombination;
    }
    // The probe that proves the id new also finds the slot submit() fills.
    const auto id_of = [this](std::uint32_t ref) { return ref_id(ref); };
    if (index.find_or_empty(c.order_id, id_of, &new_id_slot) != IdIndex::kAbsent) {
      return RejectReason::kDuplicateOrderId;
    }
    if (c.order_id <= evicted_max) return RejectReason::kIdOutsideWindow;
    if (!order_available()) return RejectReason::kOrderCapacity;
    if ((c.flags & kFlagPostOnly) != 0 && would_take(si, c.side, c.price)) {
      return RejectReason::kPostOnlyWouldTake;
    }
    if (!level_available()) {
      if (stop) {
        if (!level_exists(si, 2 + side_index(c.side), c.stop_price)) return RejectReason::kLevelCapacity;
      } else if (resting_tif && !level_exists(si, side_index(c.side), c.price)) {
        return RejectReason::kLevelCapacity;
      }
    }
    // Up front, as for levels: the whole quantity must fit where the order
    // would wait (its stop book, or its side if it may rest), even if it
    // might trade in full.
    if (stop) {
      if (!room(si, 2 + side_index(c.side), c.qty)) return RejectReason::kQtyOverflow;
    } else if (resting_tif && !room(si, side_index(c.side), c.qty)) {
      return RejectReason::kQtyOverflow;
    }
    return RejectReason::kNone;
  }

  void submit(const Command& c) {
    std::uint32_t si = kNil;
    if (const RejectReason r = validate_submit(c, &si); r != RejectReason::kNone) {
      reject(c, r);
      return;
    }
    const std::uint32_t oi = alloc_order();
    Order& o = orders[oi];
    o.id = c.order_id;
    o.account = c.account;
    o.price = c.price;
    o.visible = c.qty;
    o.filled = 0;
    o.next = o.prev = o.level = kNil;
    o.ext = kNil;
    o.side = c.side;
    o.type = c.order_type;
    o.tif = c.tif;
    o.stp = c.stp;
    o.flags = c.flags;
    o.live = Live::kInFlight;
    const bool iceberg = c.display_qty > 0 && c.display_qty < c.qty;
    const bool stop = is_stop_type(c.order_type);
    const std::uint64_t accept_seq = accept_counter++;
    if (iceberg || stop || c.tif == TimeInForce::kGtd) {
      o.ext = alloc_ext();
      Ext& x = exts[o.ext];
      x.display = iceberg ? c.display_qty : 0;
      x.stop_price = c.stop_price;
      x.expire_ns = c.tif == TimeInForce::kGtd ? c.expire_ns : 0;
      x.accept_seq = accept_seq;
    }
    index.insert_at(new_id_slot, c.order_id, oi);  // nothing touched the index since validate_submit
    Event& e = emit_order(EventType::kAccepted, o, si);
    e.qty = c.qty;
    e.remaining = c.qty;
    if (c.tif == TimeInForce::kGtd) gtd.push(oi);
    if (stop) {
      if (triggers(syms[si], o.side, c.stop_price)) {
        trigger(si, oi);
      } else {
        const std::uint32_t li = level_for(si, 2 + side_index(o.side), c.stop_price);
        o.live = Live::kPendingStop;
        link_back(li, oi);
      }
    } else {
      execute(si, oi, c.qty);
    }
    run_stops(si);
  }

  void cancel(const Command& c) {
    if (!valid_id(c.order_id)) return reject(c, RejectReason::kInvalidOrderId);
    const std::uint32_t oi = find_live(c.order_id);
    if (oi == kNil) return reject(c, RejectReason::kUnknownOrder);
    cancel_linked(oi, CancelReason::kUser);
  }

  void amend(const Command& c) {
    if (!valid_id(c.order_id)) return reject(c, RejectReason::kInvalidOrderId);
    if (c.flags != 0) return reject(c, RejectReason::kInvalidFlags);
    const std::uint32_t oi = find_live(c.order_id);
    if (oi == kNil) return reject(c, RejectReason::kUnknownOrder);
    Order& o = orders[oi];
    const std::uint32_t si = levels[o.level].sym;
    if (syms[si].halted) return reject(c, RejectReason::kSymbolHalted);
    const SymbolSpec& sp = syms[si].spec;
    const bool pending = o.live == Live::kPendingStop;
    if (c.price != 0) {
      if (!has_limit_price(o.type)) return reject(c, RejectReason::kInvalidPrice);
      if (const RejectReason r = check_price(sp, c.price); r != RejectReason::kNone) return reject(c, r);
    }
    const std::int64_t old_leaves = leaves(o);
    const std::int64_t old_total = o.filled + old_leaves;
    if (c.qty != 0) {
      if (const RejectReason r = check_qty(sp, c.qty); r != RejectReason::kNone) return reject(c, r);
      if (c.qty <= o.filled) return reject(c, RejectReason::kAmendBelowFilled);
      if (o.ext != kNil && too_many_slices(c.qty - o.filled, exts[o.ext].display)) {
        return reject(c, RejectReason::kTooManySlices);
      }
    }
    const std::int64_t new_price = c.price != 0 ? c.price : o.price;
    const std::int64_t new_total = c.qty != 0 ? c.qty : old_total;
    if (has_limit_price(o.type)) {
      std::int64_t notional;
      if (__builtin_mul_overflow(new_price, new_total, &notional)) {
        return reject(c, RejectReason::kNotionalOverflow);
      }
    }
    if (c.stop_price != 0) {
      if (!pending || check_price(sp, c.stop_price) != RejectReason::kNone) {
        return reject(c, RejectReason::kInvalidStopPrice);
      }
    }
    const std::int64_t old_stop = pending ? exts[o.ext].stop_price : 0;
    const std::int64_t new_stop = c.stop_price != 0 ? c.stop_price : old_stop;
    const bool price_moves = new_price != o.price;
    const std::int64_t new_leaves = new_total - o.filled;
    if (!pending && price_moves && (o.flags & kFlagPostOnly) != 0 && would_take(si, o.side, new_price)) {
      return reject(c, RejectReason::kPostOnlyWouldTake);
    }
    if (!level_available()) {
      if (pending && new_stop != old_stop && !level_exists(si, 2 + side_index(o.side), new_stop)) {
        return reject(c, RejectReason::kLevelCapacity);
      }
      if (!pending && price_moves && !level_exists(si, side_index(o.side), new_price)) {
        return reject(c, RejectReason::kLevelCapacity);
      }
    }
    const int book = (pending ? 2 : 0) + side_index(o.side);
    if (!room(si, book, new_leaves - old_leaves)) return reject(c, RejectReason::kQtyOverflow);
    Event& e = emit_order(EventType::kAmended, o, si);
    e.price = new_price;
    e.qty = new_total;
    e.remaining = new_leaves;
    e.other_remaining = old_leaves;
    if (pending) {
      // Stops have no reserve: visible is the whole open quantity.
      o.price = new_price;
      const bool requeue = new_stop != old_stop || new_leaves > old_leaves;
      if (requeue) {
        unlink(oi);
        exts[o.ext].stop_price = new_stop;
        o.visible = new_leaves;
        link_back(level_for(si, book, new_stop), oi);
      } else {
        levels[o.level].total += new_leaves - o.visible;
        syms[si].open[book] += new_leaves - old_leaves;
        o.visible = new_leaves;
      }
      // A moved stop may already be due.
      run_stops(si);
      return;
    }
    if (price_moves) {
      unlink(oi);
      md(EventType::kMdDelete, o, si);
      o.price = new_price;
      o.live = Live::kInFlight;
      execute(si, oi, new_leaves);
      run_stops(si);
      return;
    }
    if (new_leaves > old_leaves) {
      const std::uint32_t li = o.level;
      const bool alone = levels[li].count == 1;
      md(EventType::kMdDelete, o, si);
      if (alone) {
        levels[li].total -= o.visible;
        syms[si].open[book] += new_leaves - old_leaves;
      } else {
        unlink(oi);
      }
      if (o.ext != kNil && exts[o.ext].display > 0) {
        o.visible = std::min(exts[o.ext].display, new_leaves);
        exts[o.ext].hidden = new_leaves - o.visible;
      } else {
        o.visible = new_leaves;
      }
      if (alone) {
        levels[li].total += o.visible;
      } else {
        link_back(li, oi);
      }
      md(EventType::kMdAdd, o, si);
    } else if (new_leaves < old_leaves) {
      std::int64_t cut = old_leaves - new_leaves;
      syms[si].open[book] -= cut;
      if (o.ext != kNil) {
        const std::int64_t h = std::min(exts[o.ext].hidden, cut);
        exts[o.ext].hidden -= h;
        cut -= h;
      }
      if (cut > 0) {
        o.visible -= cut;
        levels[o.level].total -= cut;
        md(EventType::kMdModify, o, si);
      }
    }
  }

  void mass_cancel(const Command& c) {
    const std::uint8_t known = kFlagMassByAccount | kFlagMassBySymbol;
    if (c.flags == 0 || (c.flags & ~known) != 0) return reject(c, RejectReason::kInvalidFlags);
    const bool by_account = (c.flags & kFlagMassByAccount) != 0;
    const bool by_symbol = (c.flags & kFlagMassBySymbol) != 0;
    std::uint32_t only = kNil;
    if (by_symbol) {
      only = find_symbol(c.symbol);
      if (only == kNil) return reject(c, RejectReason::kUnknownSymbol);
    }
    std::uint64_t count = 0;
    const auto n_syms = static_cast<std::uint32_t>(syms.size());
    for (std::uint32_t si = by_symbol ? only : 0; si < (by_symbol ? only + 1 : n_syms); ++si) {
      for (int b = 0; b < 4; ++b) {
        Ladder& lad = syms[si].ladders[b];
        for (std::size_t i = lad.v.size(); i-- > 0;) {
          // Emptying the back level also pops the empty levels below it.
          if (i >= lad.v.size()) continue;
          std::uint32_t oi = levels[lad.v[i].level].head;
          while (oi != kNil) {
            const std::uint32_t next = orders[oi].next;
            if (!by_account || orders[oi].account == c.account) {
              cancel_linked(oi, CancelReason::kMassCancel);
              ++count;
            }
            oi = next;
          }
        }
      }
    }
    // The summary echoes the filter that was applied, nothing else.
    Event& e = emit(EventType::kMassCancelled);
    e.order_id = c.order_id;
    e.account = by_account ? c.account : 0;
    e.symbol = by_symbol ? c.symbol : 0;
    e.qty = static_cast<std::int64_t>(count);
  }

  // ---- symbol commands -----------------------------------------------------------
  void add_symbol(const Command& c) {
    const SymbolSpec sp = spec_of(c);
    if (!valid_spec(sp)) return reject(c, RejectReason::kInvalidSpec);
    if (find_symbol(sp.symbol) != kNil) return reject(c, RejectReason::kDuplicateSymbol);
    if (syms.size() >= cfg.max_symbols) return reject(c, RejectReason::kSymbolCapacity);
    register_symbol(sp);
    Event& e = emit(EventType::kSymbolAdded);
    e.symbol = sp.symbol;
    write_spec(e, sp);
  }

  // The new spec applies to new orders and amends; resting orders and pending
  // stops keep their prices and quantities even where it would refuse them.
  void update_symbol(const Command& c) {
    const std::uint32_t si = find_symbol(c.symbol);
    if (si == kNil) return reject(c, RejectReason::kUnknownSymbol);
    const SymbolSpec sp = spec_of(c);
    if (!valid_spec(sp)) return reject(c, RejectReason::kInvalidSpec);
    SymbolState& s = syms[si];
    s.spec = sp;
    for (Ladder& lad : s.ladders) lad.retick(sp.tick_size);
    Event& e = emit(EventType::kSymbolUpdated);
    e.symbol = sp.symbol;
    write_spec(e, sp);
  }

  void set_halted(const Command& c, bool halt) {
    const std::uint32_t si = find_symbol(c.symbol);
    if (si == kNil) return reject(c, RejectReason::kUnknownSymbol);
    SymbolState& s = syms[si];
    if (s.halted == halt) return reject(c, halt ? RejectReason::kSymbolHalted : RejectReason::kSymbolNotHalted);
    s.halted = halt;
    Event& e = emit(halt ? EventType::kSymbolHalted : EventType::kSymbolResumed);
    e.symbol = c.symbol;
  }

  SHANRAQ_ALWAYS_INLINE void apply(const Command& c) {
    cur_kind = c.kind;
    cur_seq = next_seq++;
    expired = 0;
    if (c.time_ns < 0) return reject(c, RejectReason::kInvalidTime);
    if (c.time_ns > now) advance(c.time_ns);
    switch (c.kind) {
      case CommandKind::kSubmit:
        return submit(c);
      case CommandKind::kCancel:
        return cancel(c);
      case CommandKind::kAmend:
        return amend(c);
      case CommandKind::kMassCancel:
        return mass_cancel(c);
      case CommandKind::kAdvanceTime:
        emit(EventType::kTimeAdvanced).qty = expired;
        return;
      case CommandKind::kAddSymbol:
        return add_symbol(c);
      case CommandKind::kUpdateSymbol:
        return update_symbol(c);
      case CommandKind::kHaltSymbol:
        return set_halted(c, true);
      case CommandKind::kResumeSymbol:
        return set_halted(c, false);
    }
    reject(c, RejectReason::kInvalidCommand);
  }

  // ---- persistence -------------------------------------------------------------
  OrderRecord record_of(const Order& o) const noexcept {
    OrderRecord r{};
    r.id = o.id;
    r.account = o.account;
    r.price = o.price;
    r.visible = o.visible;
    r.filled = o.filled;
    if (o.ext != kNil) {
      const Ext& x = exts[o.ext];
      r.hidden = x.hidden;
      r.display = x.display;
      r.stop_price = x.stop_price;
      r.expire_ns = x.expire_ns;
      r.accept_seq = x.accept_seq;
    }
    r.side = o.side;
    r.type = o.type;
    r.tif = o.tif;
    r.stp = o.stp;
    r.flags = o.flags;
    return r;
  }

  std::string snapshot() const {
    SnapshotWriter w(kMagic, kSnapshotVersion, std::size_t{orders_live} * (sizeof(OrderRecord) + 4));
    w.put(cfg.max_orders);
    w.put(cfg.max_symbols);
    w.put(cfg.max_levels);
    w.put(cfg.id_history);
    w.put(static_cast<std::uint8_t>(cfg.market_data));
    w.put(next_seq);
    w.put(now);
    w.put(accept_counter);
    w.put(static_cast<std::uint64_t>(syms.size()));
    for (const SymbolState& s : syms) {
      // Field by field: SymbolSpec has padding after `symbol`.
      w.put(s.spec.symbol);
      w.put(s.spec.tick_size);
      w.put(s.spec.lot_size);
      w.put(s.spec.min_price);
      w.put(s.spec.max_price);
      w.put(s.spec.max_qty);
      w.put(s.last_price);
      w.put(static_cast<std::uint8_t>(s.has_last));
      w.put(static_cast<std::uint8_t>(s.halted));
      for (const Ladder& lad : s.ladders) {
        w.put(static_cast<std::uint64_t>(lad.live()));
        for (std::size_t i = lad.v.size(); i-- > 0;) {
          const Level& l = levels[lad.v[i].level];
          if (l.count == 0) continue;
          w.put(lad.price_at(i));
          w.put(static_cast<std::uint64_t>(l.count));
          for (std::uint32_t oi = l.head; oi != kNil; oi = orders[oi].next) w.put(record_of(orders[oi]));
        }
      }
    }
    w.put(static_cast<std::uint64_t>(hist_size));
    for (std::uint32_t k = 0; k < hist_size; ++k) {
      std::uint32_t at = hist_head + k;
      if (at >= cfg.id_history) at -= cfg.id_history;
      w.put(hist_ids[at]);
      w.put(hist_state[at]);
    }
    w.put(evicted_max);
    return w.finish();
  }

  // One order record of level `li` (price `price`) in ladder `book` of symbol
  // `si`, checked against every rule the engine keeps for a live order.
  void restore_order(SnapshotReader& r, std::uint32_t si, int book, std::uint32_t li, std::int64_t price,
                     const OrderRecord& rec) {
    const auto bad = [&](const char* why) {
      r.fail("order " + std::to_string(rec.id) + " of symbol " + std::to_string(syms[si].spec.symbol) + ": " + why);
    };
    if (!valid_id(rec.id)) bad("id outside 1..2^63-1");
    if (find_slot(rec.id) != IdIndex::kAbsent) bad("id appears twice");
    if (rec.side != ((book & 1) == 0 ? Side::kBuy : Side::kSell)) bad("side does not match its book");
    if (static_cast<std::uint8_t>(rec.stp) > 4) bad("unknown self-trade prevention mode");
    if (rec.reserved[0] != 0 || rec.reserved[1] != 0 || rec.reserved[2] != 0) bad("reserved bytes set");
    if ((rec.flags & ~kFlagPostOnly) != 0) bad("unknown flags");
    const bool gtc_gtd = rec.tif == TimeInForce::kGtc || rec.tif == TimeInForce::kGtd;
    const bool tif_ok = gtc_gtd || rec.tif == TimeInForce::kIoc || rec.tif == TimeInForce::kFok;
    if (!tif_ok) bad("unknown time in force");
    if (rec.visible <= 0 || rec.hidden < 0 || rec.filled < 0 || rec.display < 0) bad("negative or zero quantity");
    std::int64_t open, total;
    if (__builtin_add_overflow(rec.visible, rec.hidden, &open) || __builtin_add_overflow(open, rec.filled, &total)) {
      bad("quantities overflow");
    }
    if (rec.hidden > 0 && rec.display == 0) bad("hidden quantity without a display size");
    if (rec.display > 0 && rec.visible > rec.display) bad("shows more than its display size");
    if (too_many_slices(open, rec.display)) bad("an iceberg with more slices than allowed");
    if (book < 2) {
      if (rec.type != OrderType::kLimit) bad("only limit orders rest");
      if (!gtc_gtd) bad("a resting order must be GTC or GTD");
      if (rec.price != price) bad("price differs from its level");
      if (rec.stop_price < 0) bad("negative stop price");
    } else {
      if (!is_stop_type(rec.type)) bad("only stops wait in a stop book");
      if (rec.stop_price != price) bad("stop price differs from its level");
      if (rec.hidden != 0 || rec.display != 0) bad("a stop cannot be an iceberg");
      if (rec.type == OrderType::kStop ? (rec.price != 0 || gtc_gtd) : rec.price <= 0) {
        bad("price or time in force does not fit its type");
      }
    }
    if ((rec.flags & kFlagPostOnly) != 0 && (book >= 2 || !gtc_gtd)) bad("post-only on an order that cannot be");
    std::int64_t notional;
    if (has_limit_price(rec.type) && __builtin_mul_overflow(rec.price, total, &notional)) bad("notional overflows");
    if ((rec.tif == TimeInForce::kGtd) != (rec.expire_ns != 0) || rec.expire_ns < 0) bad("bad expiry");
    if ((rec.display != 0 || rec.stop_price != 0 || rec.expire_ns != 0) && rec.accept_seq >= accept_counter) {
      bad("acceptance number from the future");
    }
    if (!order_available()) bad("more orders than max_orders");
    if (!room(si, book, open)) bad("its side's open quantity overflows");
    const std::uint32_t oi = alloc_order();
    Order& o = orders[oi];
    o = Order{};
    o.id = rec.id;
    o.account = rec.account;
    o.price = rec.price;
    o.visible = rec.visible;
    o.filled = rec.filled;
    o.ext = kNil;
    o.side = rec.side;
    o.type = rec.type;
    o.tif = rec.tif;
    o.stp = rec.stp;
    o.flags = rec.flags;
    o.live = book < 2 ? Live::kResting : Live::kPendingStop;
    if (rec.display != 0 || rec.stop_price != 0 || rec.expire_ns != 0 || rec.hidden != 0) {
      o.ext = alloc_ext();
      Ext& x = exts[o.ext];
      x.hidden = rec.hidden;
      x.display = rec.display;
      x.stop_price = rec.stop_price;
      x.expire_ns = rec.expire_ns;
      x.accept_seq = rec.accept_seq;
    }
    index.insert(rec.id, oi);
    link_back(li, oi);
    if (o.tif == TimeInForce::kGtd) gtd.push(oi);
  }

  void restore_from(SnapshotReader& r) {
    next_seq = r.get<std::uint64_t>();
    now = r.get<std::int64_t>();
    accept_counter = r.get<std::uint64_t>();
    if (next_seq == 0) r.fail("next_seq is 0");
    if (now < 0) r.fail("negative clock");
    constexpr std::size_t kSymbolBytes = 4 + 6 * 8 + 2 + 4 * 8;  // with empty books
    constexpr std::size_t kLevelBytes = 8 + 8 + sizeof(OrderRecord);
    const std::uint64_t n_syms = r.get_count(cfg.max_symbols, kSymbolBytes, "symbol");
    for (std::uint64_t k = 0; k < n_syms; ++k) {
      SymbolSpec spec;
      spec.symbol = r.get<std::uint32_t>();
      spec.tick_size = r.get<std::int64_t>();
      spec.lot_size = r.get<std::int64_t>();
      spec.min_price = r.get<std::int64_t>();
      spec.max_price = r.get<std::int64_t>();
      spec.max_qty = r.get<std::int64_t>();
      const std::string name = "symbol " + std::to_string(spec.symbol);
      if (!valid_spec(spec)) r.fail(name + ": invalid spec");
      if (find_symbol(spec.symbol) != kNil) r.fail(name + " appears twice");
      const std::uint32_t si = register_symbol(spec);
      SymbolState& s = syms[si];
      s.last_price = r.get<std::int64_t>();
      const auto has_last = r.get<std::uint8_t>();
      const auto halted = r.get<std::uint8_t>();
      if (has_last > 1 || halted > 1) r.fail(name + ": flag byte not 0 or 1");
      s.has_last = has_last != 0;
      s.halted = halted != 0;
      if (s.has_last ? s.last_price <= 0 : s.last_price != 0) r.fail(name + ": bad last trade price");
      for (int b = 0; b < 4; ++b) {
        Ladder& lad = s.ladders[b];
        // Resting prices may lie on an older tick grid (update_symbol): the
        // search spacing is the gcd of every key, computed below.
        lad.tick = 1;
        const std::uint64_t n_levels = r.get_count(cfg.max_levels, kLevelBytes, "level");
        for (std::uint64_t lv = 0; lv < n_levels; ++lv) {
          const auto price = r.get<std::int64_t>();
          if (price <= 0) r.fail(name + ": level price <= 0");
          // Written best first, so keys strictly descend.
          if (!lad.v.empty() && lad.key(price) >= lad.v.back().key) r.fail(name + ": levels out of order");
          const std::uint64_t count = r.get_count(cfg.max_orders, sizeof(OrderRecord), "order");
          if (count == 0) r.fail(name + ": empty level");
          if (level_hwm >= cfg.max_levels) r.fail("more levels than max_levels");
          const std::uint32_t li = new_level(si, b);
          lad.v.push_back(LevelRef{lad.key(price), li, 0});
          for (std::uint64_t j = 0; j < count; ++j) restore_order(r, si, b, li, price, r.get<OrderRecord>());
        }
        std::reverse(lad.v.begin(), lad.v.end());
        std::int64_t g = spec.tick_size;
        for (const LevelRef& ref : lad.v) g = std::gcd(g, ref.key);
        lad.tick = g;
      }
      // The states no command sequence can leave behind.
      if (!s.ladders[0].v.empty() && !s.ladders[1].v.empty() &&
          s.ladders[0].best_price() >= s.ladders[1].best_price()) {
        r.fail(name + ": book is crossed");
      }
      if (s.has_last && ((!s.ladders[2].v.empty() && s.ladders[2].best_price() <= s.last_price) ||
                         (!s.ladders[3].v.empty() && s.ladders[3].best_price() >= s.last_price))) {
        r.fail(name + ": a pending stop is already due");
      }
    }
    const std::uint64_t n_hist = r.get_count(cfg.id_history, 9, "finished id");
    for (std::uint64_t k = 0; k < n_hist; ++k) {
      const auto id = r.get<std::uint64_t>();
      const auto st = r.get<std::uint8_t>();
      if (!valid_id(id) || find_slot(id) != IdIndex::kAbsent) r.fail("finished id " + std::to_string(id) + " is bad");
      if (st != static_cast<std::uint8_t>(OrderState::kFilled) &&
          st != static_cast<std::uint8_t>(OrderState::kCancelled)) {
        r.fail("finished id " + std::to_string(id) + " has state " + std::to_string(st));
      }
      hist_ids[k] = id;
      hist_state[k] = st;
      index.insert(id, static_cast<std::uint32_t>(k) | kHistoryBit);
    }
    hist_size = static_cast<std::uint32_t>(n_hist);
    evicted_max = r.get<std::uint64_t>();
    if (evicted_max > kMaxOrderId) r.fail("evicted_max outside the id space");
    r.expect_end();
  }
};

MatchingEngine::MatchingEngine(const EngineConfig& config) : impl_(std::make_unique<Impl>(config)) {}
MatchingEngine::MatchingEngine(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
MatchingEngine::~MatchingEngine() = default;
MatchingEngine::MatchingEngine(MatchingEngine&&) noexcept = default;
MatchingEngine& MatchingEngine::operator=(MatchingEngine&&) noexcept = default;

RejectReason MatchingEngine::add_symbol(const SymbolSpec& spec, std::int64_t time_ns) {
  std::vector<Event> ev;
  ev.reserve(4);
  apply(make_add_symbol(spec, time_ns), ev);
  const Event& last = ev.back();
  return last.type == EventType::kRejected ? static_cast<RejectReason>(last.reason) : RejectReason::kNone;
}

void MatchingEngine::apply(const Command& cmd, std::vector<Event>& out) { process(&cmd, 1, out); }

void MatchingEngine::process(const Command* cmds, std::size_t n, std::vector<Event>& out) {
  Impl& m = *impl_;
  sm::check_sequence(cmds, n, m.next_seq);
  m.out = &out;
  // With a large book every command misses the caches on its id slot and
  // then on its order. Prefetch two commands ahead for the slot and one ahead
  // for the order the slot points to, so the misses overlap the work.
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 2 < n) m.index.prefetch(cmds[i + 2].order_id);
    if (i + 1 < n) m.prefetch_order(cmds[i + 1].order_id);
    m.apply(cmds[i]);
  }
}

CommandResult MatchingEngine::apply_summarized(const Command& cmd, std::vector<Event>& out,
                                               std::vector<Event>* trades) {
  Impl& m = *impl_;
  sm::check_sequence(&cmd, 1, m.next_seq);
  const std::size_t first = out.size();
  m.out = &out;
  m.apply(cmd);
  return summarize(cmd, out.data() + first, out.data() + out.size(), trades);
}

CommandResult MatchingEngine::summarize(const Command& cmd, const Event* first, const Event* last,
                                        std::vector<Event>* trades) {
  CommandResult r;
  if (first == last) return r;
  // A refusal is always the command's last event (expiries may precede it).
  const Event& tail = last[-1];
  if (tail.type == EventType::kRejected) {
    r.state = OrderState::kRejected;
    r.reject = static_cast<RejectReason>(tail.reason);
    return r;
  }
  switch (cmd.kind) {
    case CommandKind::kMassCancel:     // ends with kMassCancelled
    case CommandKind::kAdvanceTime:    // ends with kTimeAdvanced
      r.count = static_cast<std::uint64_t>(tail.qty);
      return r;
    case CommandKind::kSubmit:
    case CommandKind::kCancel:
    case CommandKind::kAmend:
      break;
    default:
      return r;
  }
  const std::uint64_t id = cmd.order_id;
  for (const Event* e = first; e != last; ++e) {
    const bool mine = e->order_id == id;
    const bool as_maker = e->type == EventType::kTrade && e->other_order_id == id;
    if (!mine && !as_maker) continue;
    switch (e->type) {
      case EventType::kAccepted:
      case EventType::kAmended:
        r.state = is_stop_type(e->order_type) ? OrderState::kPendingStop : OrderState::kResting;
        r.remaining = e->remaining;
        break;
      case EventType::kTriggered:
        r.state = OrderState::kResting;
        r.remaining = e->remaining;
        break;
      case EventType::kTrade:
        r.filled += e->qty;
        ++r.trades;
        r.remaining = mine ? e->remaining : e->other_remaining;
        if (r.remaining == 0) r.state = OrderState::kFilled;
        if (trades != nullptr) trades->push_back(*e);
        break;
      case EventType::kCancelled:
        r.cancel = static_cast<CancelReason>(e->reason);
        r.remaining = e->remaining;
        if (r.remaining == 0) r.state = OrderState::kCancelled;
        break;
      default:
        break;
    }
  }
  return r;
}

bool MatchingEngine::has_symbol(std::uint32_t symbol) const noexcept { return impl_->find_symbol(symbol) != kNil; }

SymbolInfo MatchingEngine::symbol_info(std::uint32_t symbol) const noexcept {
  SymbolInfo info;
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil) return info;
  const SymbolState& s = impl_->syms[si];
  info.known = true;
  info.halted = s.halted;
  info.has_last = s.has_last;
  info.spec = s.spec;
  info.last_price = s.last_price;
  return info;
}

Bbo MatchingEngine::bbo(std::uint32_t symbol) const noexcept {
  Bbo b;
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil) return b;
  const SymbolState& s = impl_->syms[si];
  if (!s.ladders[0].v.empty()) {
    b.has_bid = true;
    b.bid_price = s.ladders[0].best_price();
    b.bid_qty = impl_->levels[s.ladders[0].v.back().level].total;
  }
  if (!s.ladders[1].v.empty()) {
    b.has_ask = true;
    b.ask_price = s.ladders[1].best_price();
    b.ask_qty = impl_->levels[s.ladders[1].v.back().level].total;
  }
  return b;
}

std::size_t MatchingEngine::side_levels(std::uint32_t symbol, Side side) const noexcept {
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil || (side != Side::kBuy && side != Side::kSell)) return 0;
  return impl_->syms[si].ladders[side_index(side)].live();
}

std::size_t MatchingEngine::depth(std::uint32_t symbol, Side side, LevelInfo* out, std::size_t n) const noexcept {
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil || (side != Side::kBuy && side != Side::kSell)) return 0;
  const Ladder& lad = impl_->syms[si].ladders[side_index(side)];
  std::size_t k = 0;
  for (std::size_t i = lad.v.size(); i-- > 0 && k < n;) {
    const Level& l = impl_->levels[lad.v[i].level];
    if (l.count > 0) out[k++] = LevelInfo{lad.price_at(i), l.total, l.count};
  }
  return k;
}

std::vector<std::uint64_t> MatchingEngine::level_orders(std::uint32_t symbol, Side side, std::int64_t price) const {
  std::vector<std::uint64_t> ids;
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil || (side != Side::kBuy && side != Side::kSell)) return ids;
  const std::uint32_t li = impl_->syms[si].ladders[side_index(side)].find(price);
  if (li == kNil) return ids;
  for (std::uint32_t oi = impl_->levels[li].head; oi != kNil; oi = impl_->orders[oi].next) {
    ids.push_back(impl_->orders[oi].id);
  }
  return ids;
}

OrderInfo MatchingEngine::order(std::uint64_t order_id) const noexcept {
  OrderInfo info;
  if (order_id == 0) return info;
  const std::uint64_t pos = impl_->find_slot(order_id);
  if (pos == IdIndex::kAbsent) return info;
  const std::uint32_t ref = impl_->index.ref_at(pos);
  if ((ref & kHistoryBit) != 0) {
    info.state = static_cast<OrderState>(impl_->hist_state[ref & ~kHistoryBit]);
    return info;
  }
  const Order& o = impl_->orders[ref];
  const Level& l = impl_->levels[o.level];
  info.state = o.live == Live::kPendingStop ? OrderState::kPendingStop : OrderState::kResting;
  info.symbol = impl_->syms[l.sym].spec.symbol;
  info.side = o.side;
  info.order_type = o.type;
  info.tif = o.tif;
  info.account = o.account;
  info.price = o.price;
  info.filled = o.filled;
  info.remaining = impl_->leaves(o);
  info.visible = o.visible;
  info.qty = o.filled + info.remaining;
  if (o.ext != kNil) {
    info.stop_price = impl_->exts[o.ext].stop_price;
    info.expire_ns = impl_->exts[o.ext].expire_ns;
  }
  return info;
}

bool MatchingEngine::last_trade_price(std::uint32_t symbol, std::int64_t* price) const noexcept {
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil || !impl_->syms[si].has_last) return false;
  *price = impl_->syms[si].last_price;
  return true;
}

std::uint64_t MatchingEngine::next_seq() const noexcept { return impl_->next_seq; }
std::int64_t MatchingEngine::now_ns() const noexcept { return impl_->now; }
std::size_t MatchingEngine::live_orders() const noexcept { return impl_->orders_live; }
std::size_t MatchingEngine::level_count() const noexcept { return impl_->levels_live; }
std::size_t MatchingEngine::symbol_count() const noexcept { return impl_->syms.size(); }
const EngineConfig& MatchingEngine::config() const noexcept { return impl_->cfg; }
std::uint64_t MatchingEngine::evicted_max() const noexcept { return impl_->evicted_max; }
std::size_t MatchingEngine::memory_reserved() const noexcept { return impl_->memory_reserved(); }

std::string MatchingEngine::snapshot() const { return impl_->snapshot(); }

std::uint64_t MatchingEngine::state_hash() const {
  const std::string s = impl_->snapshot();
  return checksum64(s.data() + kConfigEnd, s.size() - kConfigEnd - 8, 0x5348514242303031ULL);
}

std::unique_ptr<MatchingEngine> MatchingEngine::restore_unique(const std::uint8_t* data, std::size_t size) {
  SnapshotReader r(data, size, kMagic, kSnapshotVersion, kSnapshotVersion, "book snapshot");
  EngineConfig c;
  c.max_orders = r.get<std::uint32_t>();
  c.max_symbols = r.get<std::uint32_t>();
  c.max_levels = r.get<std::uint32_t>();
  c.id_history = r.get<std::uint32_t>();
  const auto md = r.get<std::uint8_t>();
  if (md > 1) r.fail("market_data flag not 0 or 1");
  c.market_data = md != 0;
  try {
    check_config(c);
  } catch (const std::invalid_argument& e) {
    r.fail(e.what());
  }
  auto impl = std::make_unique<Impl>(c);
  impl->restore_from(r);
  return std::unique_ptr<MatchingEngine>(new MatchingEngine(std::move(impl)));
}

MatchingEngine MatchingEngine::restore(const std::uint8_t* data, std::size_t size) {
  return std::move(*restore_unique(data, size));
}

}  // namespace shanraq::book
