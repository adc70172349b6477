// Matching engine implementation. The rules live in docs/book.md and the
// executable specification in tests/book_reference.py; this file is the fast
// version of the same thing.
#include "shanraq/book/engine.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <new>
#include <stdexcept>
#include <utility>

#include "shanraq/common/checksum.hpp"
#include "shanraq/common/hash.hpp"
#include "shanraq/common/zeroed.hpp"
#include "shanraq/common/platform.hpp"

namespace shanraq::book {
namespace {

constexpr std::uint32_t kNil = 0xFFFFFFFFU;
// Id index refs at or above this point into the finished-id history ring.
constexpr std::uint32_t kHistoryBit = 0x80000000U;

enum class Live : std::uint8_t { kFree = 0, kInFlight = 1, kResting = 2, kPendingStop = 3 };

// 64 bytes: one cache line on x86-64. Rarely used fields (iceberg reserve,
// stop price, expiry) live in Ext so plain limit orders stay this small.
struct Order {
  std::uint64_t id;
  std::uint64_t account;
  std::int64_t price;    // limit price; 0 for market and stop-market
  std::int64_t visible;  // displayed open quantity (the whole open quantity unless iceberg)
  std::int64_t filled;
  std::uint32_t next, prev;  // neighbours in the level's FIFO (or the free list)
  std::uint32_t level;       // level pool index while resting or pending
  std::uint32_t ext;         // Ext pool index or kNil
  Side side;
  OrderType type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  Live live;
  std::uint16_t reserved;
};
static_assert(sizeof(Order) == 64);

struct Ext {
  std::int64_t hidden;      // iceberg reserve not yet displayed
  std::int64_t display;     // iceberg slice size (0: not an iceberg)
  std::int64_t stop_price;  // 0: not a stop
  std::int64_t expire_ns;   // 0: not GTD
  std::uint64_t accept_seq;  // acceptance order, breaks GTD expiry ties
  std::uint32_t heap_pos;    // position in the GTD heap or kNil
  std::uint32_t next_free;
};

// 24 bytes: a busy book has nearly as many levels as orders, so this counts
// toward the per-order memory budget. The price is the ladder's key.
struct Level {
  std::int64_t total;  // visible quantity
  std::uint32_t head, tail, count;
  std::uint32_t sym : 30;  // symbol index (max_symbols < 2^30)
  std::uint32_t book : 2;  // 0 bids, 1 asks, 2 buy stops, 3 sell stops
};
static_assert(sizeof(Level) == 24);

// A ladder keeps its levels sorted with the best (first to match or trigger)
// at the back, so the busy top of the book moves the fewest bytes on insert
// and erase. key = price for bids and sell stops, -price for asks and buy
// stops: every ladder is ascending by key.
struct LevelRef {
  std::int64_t key;
  std::uint32_t level;
  std::uint32_t reserved;
};

//
// A level that empties away from the back stays in the ladder, empty, so the
// next order at that price (quotes move back and forth over the same prices)
// finds it without an insert that shifts the array; the back is never left
// empty, so the best price stays O(1). Empty levels are compacted away when
// they outnumber live ones, or when the level pool runs out.
struct Ladder {
  std::vector<LevelRef> v;
  std::uint32_t empties = 0;
  bool negate = false;
  std::int64_t tick = 1;
  std::int64_t key(std::int64_t price) const noexcept { return negate ? -price : price; }
  std::int64_t price_at(std::size_t i) const noexcept { return negate ? -v[i].key : v[i].key; }
  std::int64_t best_price() const noexcept { return price_at(v.size() - 1); }
  // First position whose key is >= key(price).
  std::size_t lower(std::int64_t price) const noexcept {
    const std::int64_t k = key(price);
    const std::size_t size = v.size();
    if (size == 0) return 0;
    const std::int64_t top = v[size - 1].key;
    if (top < k) return size;
    // Keys are distinct multiples of the tick, so at most `ticks` levels lie
    // between k and the top: the answer is at or above g = size-1-ticks, and
    // exactly g where the ladder is dense (parked levels keep the busy top of
    // book one level per tick). Probe g, then gallop upwards over the gaps.
    const LevelRef* base = v.data();
    std::size_t n = size;
    const auto ticks = static_cast<std::uint64_t>(top - k) / static_cast<std::uint64_t>(tick);
    if (ticks < size) {
      const std::size_t g = size - 1 - static_cast<std::size_t>(ticks);
      if (v[g].key >= k) return g;
      std::size_t lo = g + 1;  // v[lo - 1].key < k <= v[size - 1].key
      std::size_t step = 1;
      while (lo + step < size && v[lo + step - 1].key < k) {
        lo += step;
        step *= 2;
      }
      base += lo;
      n = std::min(step, size - lo);
    }
    // Branch-free halving: the comparisons are unpredictable, a conditional
    // move is not.
    while (n > 1) {
      const std::size_t half = n / 2;
      base = base[half - 1].key < k ? base + half : base;
      n -= half;
    }
    return static_cast<std::size_t>(base - v.data()) + (base->key < k ? 1 : 0);
  }
  std::uint32_t find(std::int64_t price) const noexcept {
    const std::size_t i = lower(price);
    return i < v.size() && v[i].key == key(price) ? v[i].level : kNil;
  }
};

struct SymbolState {
  SymbolSpec spec;
  Ladder ladders[4];  // bids, asks, buy stops, sell stops
  std::int64_t last_price = 0;
  bool has_last = false;
};

inline int side_index(Side s) noexcept { return s == Side::kBuy ? 0 : 1; }
inline bool is_stop_type(OrderType t) noexcept { return t == OrderType::kStop || t == OrderType::kStopLimit; }
inline bool has_limit_price(OrderType t) noexcept {
  return t == OrderType::kLimit || t == OrderType::kStopLimit;
}

constexpr char kMagic[8] = {'S', 'H', 'Q', 'B', 'O', 'O', 'K', '1'};
// 2: evicted_max after the id history. 3: symbol specs field by field (the
// struct's padding made snapshots and state_hash depend on stack garbage).
constexpr std::uint32_t kSnapshotVersion = 3;

struct Writer {
  std::string s;
  template <class T>
  void put(const T& v) {
    // Raw bytes go into snapshots and state_hash: a type with padding would
    // leak indeterminate bytes and make equal engines hash differently.
    static_assert(std::has_unique_object_representations_v<T> || std::is_floating_point_v<T>,
                  "snapshot fields must have no padding");
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
};

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::size_t i = 0;
  template <class T>
  T get() {
    if (n - i < sizeof(T)) throw std::invalid_argument("book snapshot is truncated");
    T v;
    std::memcpy(&v, p + i, sizeof(T));
    i += sizeof(T);
    return v;
  }
};

// Order fields in a snapshot, in a fixed layout independent of pool indices.
struct OrderRecord {
  std::uint64_t id, account;
  std::int64_t price, visible, filled, hidden, display, stop_price, expire_ns;
  std::uint64_t accept_seq;
  Side side;
  OrderType type;
  TimeInForce tif;
  Stp stp;
  std::uint8_t flags;
  std::uint8_t reserved[3];
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
  // Id index: slot = (32-bit hash tag << 32) | (ref + 1), 0 = empty. The home
  // slot is a function of the tag, so deletion can shift entries without
  // re-hashing keys, and the tag answers most probes without touching the order.
  RawArray<std::uint64_t> slots;
  std::uint64_t slot_count = 0;
  // Finished ids, oldest first, with their final state.
  RawArray<std::uint64_t> hist_ids;
  RawArray<std::uint8_t> hist_state;
  std::uint32_t hist_head = 0, hist_size = 0;
  // Largest id ever evicted from the ring (or retired with id_history 0).
  // Ids <= this that are not in the index may have been used: the bounded
  // memory of the ring cannot tell, so they are rejected rather than risk
  // accepting a duplicate.
  std::uint64_t evicted_max = 0;
  // GTD min-heap of order indices by (expire_ns, accept_seq).
  RawArray<std::uint32_t> heap;
  std::uint32_t heap_size = 0;
  // Symbols, in registration order; an open-addressing map symbol -> index.
  std::vector<SymbolState> syms;
  RawArray<std::uint64_t> sym_slots;
  std::uint64_t sym_mask = 0;
  // Counters.
  std::uint64_t seq = 1;
  std::int64_t now = 0;
  std::uint64_t accept_counter = 0;
  // Per-command context.
  std::vector<Event>* out = nullptr;
  CommandKind cur_kind = CommandKind::kSubmit;

  explicit Impl(const EngineConfig& c) : cfg(c) {
    if (c.max_orders == 0 || c.max_orders >= (1U << 30) || c.id_history >= (1U << 30) || c.max_symbols == 0 ||
        c.max_symbols >= (1U << 30) || c.max_levels == 0 || c.max_levels >= (1U << 31)) {
      throw std::invalid_argument("book: capacities must be in 1..2^30 (id_history 0..2^30)");
    }
    orders = make_zeroed<Order>(c.max_orders);
    exts = make_zeroed<Ext>(c.max_orders);
    levels = make_zeroed<Level>(c.max_levels);
    heap = make_zeroed<std::uint32_t>(c.max_orders);
    hist_ids = make_zeroed<std::uint64_t>(c.id_history);
    hist_state = make_zeroed<std::uint8_t>(c.id_history);
    // Load <= 2/3 at full capacity, in a table of exactly that size (no
    // rounding up to a power of two): the index is a third of an order's memory.
    slot_count = std::max<std::uint64_t>(16, (3 * (std::uint64_t{c.max_orders} + c.id_history) + 1) / 2);
    slots = make_zeroed<std::uint64_t>(slot_count);
    std::uint64_t ssize = 16;
    while (ssize < 2 * std::uint64_t{c.max_symbols}) ssize <<= 1;
    sym_slots = make_zeroed<std::uint64_t>(ssize);
    sym_mask = ssize - 1;
    syms.reserve(std::min<std::uint32_t>(c.max_symbols, 4096));
  }

  std::size_t memory_reserved() const noexcept {
    return std::size_t{cfg.max_orders} * (sizeof(Order) + sizeof(Ext) + sizeof(std::uint32_t)) +
           std::size_t{cfg.max_levels} * sizeof(Level) + slot_count * sizeof(std::uint64_t) +
           std::size_t{cfg.id_history} * 9 + (sym_mask + 1) * 8;
  }

  // ---- symbols -------------------------------------------------------------
  std::uint32_t find_symbol(std::uint32_t symbol) const noexcept {
    for (std::uint64_t pos = fmix64(symbol) & sym_mask;; pos = (pos + 1) & sym_mask) {
      const std::uint64_t s = sym_slots[pos];
      if (s == 0) return kNil;
      if ((s >> 32) == symbol) return static_cast<std::uint32_t>(s) - 1;
    }
  }

  SymbolError add_symbol(const SymbolSpec& spec) {
    if (spec.tick_size <= 0 || spec.lot_size <= 0 || spec.min_price <= 0 || spec.max_price < spec.min_price ||
        spec.max_qty <= 0) {
      return SymbolError::kInvalidSpec;
    }
    if (find_symbol(spec.symbol) != kNil) return SymbolError::kDuplicate;
    if (syms.size() >= cfg.max_symbols) return SymbolError::kCapacity;
    const auto index = static_cast<std::uint32_t>(syms.size());
    SymbolState& s = syms.emplace_back();
    s.spec = spec;
    s.ladders[1].negate = true;  // asks: lowest price at the back
    s.ladders[2].negate = true;  // buy stops: lowest stop price triggers first
    for (Ladder& lad : s.ladders) lad.tick = spec.tick_size;
    std::uint64_t pos = fmix64(spec.symbol) & sym_mask;
    while (sym_slots[pos] != 0) pos = (pos + 1) & sym_mask;
    sym_slots[pos] = (std::uint64_t{spec.symbol} << 32) | (std::uint64_t{index} + 1);
    return SymbolError::kOk;
  }

  // ---- id index ------------------------------------------------------------
  std::uint64_t ref_id(std::uint32_t ref) const noexcept {
    return (ref & kHistoryBit) != 0 ? hist_ids[ref & ~kHistoryBit] : orders[ref].id;
  }

  // Home slot of a 32-bit tag: multiply-shift maps it onto [0, slot_count).
  std::uint64_t home(std::uint64_t tag) const noexcept { return (tag * slot_count) >> 32; }
  std::uint64_t next_slot(std::uint64_t pos) const noexcept { return pos + 1 == slot_count ? 0 : pos + 1; }

  void prefetch_slot(std::uint64_t id) const noexcept { __builtin_prefetch(&slots[home(fmix64(id) >> 32)]); }

  // Prefetches the order `id` most likely maps to (its home slot's, if the
  // tag matches); the slot itself should have been prefetched earlier.
  void prefetch_order(std::uint64_t id) const noexcept {
    const std::uint64_t tag = fmix64(id) >> 32;
    const std::uint64_t s = slots[home(tag)];
    const auto ref = static_cast<std::uint32_t>(s) - 1;
    if (s != 0 && (s >> 32) == tag && (ref & kHistoryBit) == 0) __builtin_prefetch(&orders[ref]);
  }

  // Slot position of `id`, or ~0 if absent.
  std::uint64_t find_slot(std::uint64_t id) const noexcept {
    const std::uint64_t tag = fmix64(id) >> 32;
    for (std::uint64_t pos = home(tag);; pos = next_slot(pos)) {
      const std::uint64_t s = slots[pos];
      if (s == 0) return ~std::uint64_t{0};
      if ((s >> 32) == tag && ref_id(static_cast<std::uint32_t>(s) - 1) == id) return pos;
    }
  }

  void index_insert(std::uint64_t id, std::uint32_t ref) noexcept {
    const std::uint64_t tag = fmix64(id) >> 32;
    std::uint64_t pos = home(tag);
    while (slots[pos] != 0) pos = next_slot(pos);
    slots[pos] = (tag << 32) | (std::uint64_t{ref} + 1);
  }

  void index_set(std::uint64_t pos, std::uint32_t ref) noexcept {
    slots[pos] = (slots[pos] & 0xFFFFFFFF00000000ULL) | (std::uint64_t{ref} + 1);
  }

  // Backward-shift deletion: no tombstones, so probe lengths never degrade.
  void index_erase(std::uint64_t hole) noexcept {
    for (std::uint64_t j = next_slot(hole);; j = next_slot(j)) {
      const std::uint64_t s = slots[j];
      if (s == 0) break;
      const std::uint64_t h = home(s >> 32);
      const bool stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
      if (!stays) {
        slots[hole] = s;
        hole = j;
      }
    }
    slots[hole] = 0;
  }

  // The live order with this id, or kNil.
  std::uint32_t find_live(std::uint64_t id) const noexcept {
    const std::uint64_t pos = find_slot(id);
    if (pos == ~std::uint64_t{0}) return kNil;
    const auto ref = static_cast<std::uint32_t>(slots[pos]) - 1;
    return (ref & kHistoryBit) != 0 ? kNil : ref;
  }

  // Moves a finished order's id from the live index to the history ring,
  // forgetting the oldest finished id when the ring is full.
  void retire_id(std::uint64_t id, OrderState state) noexcept {
    if (cfg.id_history == 0) {
      index_erase(find_slot(id));
      evicted_max = std::max(evicted_max, id);
      return;
    }
    std::uint32_t at;
    if (hist_size == cfg.id_history) {
      const std::uint64_t old = hist_ids[hist_head];
      index_erase(find_slot(old));
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
    index_set(pos, at | kHistoryBit);
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

  void link_back(std::uint32_t li, std::uint32_t oi) noexcept {
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
  }

  // Unlinks a resting or pending order; drops its level if it empties.
  void unlink(std::uint32_t oi) {
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
    if (l.count == 0) drop_level(o.level);
  }

  // ---- GTD heap --------------------------------------------------------------
  bool heap_less(std::uint32_t a, std::uint32_t b) const noexcept {
    const Ext& x = exts[orders[a].ext];
    const Ext& y = exts[orders[b].ext];
    return x.expire_ns != y.expire_ns ? x.expire_ns < y.expire_ns : x.accept_seq < y.accept_seq;
  }
  void heap_place(std::uint32_t pos, std::uint32_t oi) noexcept {
    heap[pos] = oi;
    exts[orders[oi].ext].heap_pos = pos;
  }
  void heap_up(std::uint32_t pos) noexcept {
    const std::uint32_t oi = heap[pos];
    while (pos > 0) {
      const std::uint32_t parent = (pos - 1) / 2;
      if (!heap_less(oi, heap[parent])) break;
      heap_place(pos, heap[parent]);
      pos = parent;
    }
    heap_place(pos, oi);
  }
  void heap_down(std::uint32_t pos) noexcept {
    const std::uint32_t oi = heap[pos];
    while (true) {
      std::uint32_t child = 2 * pos + 1;
      if (child >= heap_size) break;
      if (child + 1 < heap_size && heap_less(heap[child + 1], heap[child])) ++child;
      if (!heap_less(heap[child], oi)) break;
      heap_place(pos, heap[child]);
      pos = child;
    }
    heap_place(pos, oi);
  }
  void heap_push(std::uint32_t oi) noexcept {
    heap[heap_size] = oi;
    heap_up(heap_size++);
  }
  void heap_remove(std::uint32_t oi) noexcept {
    const std::uint32_t pos = exts[orders[oi].ext].heap_pos;
    exts[orders[oi].ext].heap_pos = kNil;
    const std::uint32_t last = heap[--heap_size];
    if (pos == heap_size) return;
    heap_place(pos, last);
    heap_up(pos);
    heap_down(exts[orders[last].ext].heap_pos);
  }

  // ---- events ----------------------------------------------------------------
  Event& emit(EventType t) {
    Event& e = out->emplace_back();
    e.seq = seq++;
    e.time_ns = now;
    e.type = t;
    e.command = cur_kind;
    return e;
  }
  std::int64_t leaves(const Order& o) const noexcept {
    return o.visible + (o.ext != kNil ? exts[o.ext].hidden : 0);
  }
  Event& emit_order(EventType t, const Order& o, std::uint32_t si) {
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
    while (heap_size > 0 && exts[orders[heap[0]].ext].expire_ns <= now) {
      cancel_linked(heap[0], CancelReason::kExpired);
    }
  }

  // ---- matching --------------------------------------------------------------
  static bool crosses(Side taker, bool market, std::int64_t limit, std::int64_t maker_price) noexcept {
    if (market) return true;
    return taker == Side::kBuy ? maker_price <= limit : maker_price >= limit;
  }

  // Whether the whole `need` would trade now (FOK), walking the book exactly
  // as match() would: an own order with a blocking STP mode stops the walk, and
  // iceberg reserves refill behind the rest of their level.
  bool fok_fillable(std::uint32_t si, const Order& t, std::int64_t need) const noexcept {
    const Ladder& lad = syms[si].ladders[side_index(t.side) ^ 1];
    const bool market = t.type == OrderType::kMarket;
    std::int64_t avail = 0;
    for (std::size_t i = lad.v.size(); i-- > 0;) {
      const Level& l = levels[lad.v[i].level];
      if (!crosses(t.side, market, t.price, lad.price_at(i))) break;
      std::int64_t reserve = 0;
      for (std::uint32_t oi = l.head; oi != kNil; oi = orders[oi].next) {
        const Order& m = orders[oi];
        if (t.stp != Stp::kNone && m.account == t.account) {
          if (t.stp == Stp::kCancelOldest) continue;
          return avail >= need;
        }
        avail += m.visible;
        if (avail >= need) return true;
        if (m.ext != kNil) reserve += exts[m.ext].hidden;
      }
      avail += reserve;
      if (avail >= need) return true;
    }
    return false;
  }

  // Matches taker `ti` (in flight, `rem` open) against the opposite book.
  // Returns the open quantity left, or -1 if STP cancelled the taker.
  std::int64_t match(std::uint32_t si, std::uint32_t ti, std::int64_t rem) {
    SymbolState& s = syms[si];
    Order& t = orders[ti];
    Ladder& lad = s.ladders[side_index(t.side) ^ 1];
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
          // Iceberg refill: a new slice from the reserve, at the back of the queue.
          const bool alone = l.count == 1;
          md(EventType::kMdDelete, m, si);
          Ext& x = exts[m.ext];
          if (!alone) {
            unlink(mi);
          }
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
      levels[m.level].total -= from_visible;
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
    const std::uint32_t li = level_for(si, side_index(t.side), t.price);
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
  RejectReason check_price(const SymbolSpec& sp, std::int64_t price) const noexcept {
    if (price <= 0) return RejectReason::kInvalidPrice;
    if (price < sp.min_price || price > sp.max_price) return RejectReason::kPriceOutOfBand;
    if (price % sp.tick_size != 0) return RejectReason::kPriceOffTick;
    return RejectReason::kNone;
  }
  RejectReason check_qty(const SymbolSpec& sp, std::int64_t qty) const noexcept {
    if (qty <= 0 || qty > sp.max_qty) return RejectReason::kInvalidQty;
    if (qty % sp.lot_size != 0) return RejectReason::kQtyOffLot;
    return RejectReason::kNone;
  }
  bool would_take(std::uint32_t si, Side side, std::int64_t price) const noexcept {
    const Ladder& lad = syms[si].ladders[side_index(side) ^ 1];
    return !lad.v.empty() && crosses(side, false, price, lad.best_price());
  }

  RejectReason validate_submit(const Command& c, std::uint32_t* out_si) {
    if (c.order_id == 0) return RejectReason::kInvalidOrderId;
    const std::uint32_t si = find_symbol(c.symbol);
    if (si == kNil) return RejectReason::kUnknownSymbol;
    *out_si = si;
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
    if (is_stop_type(c.order_type)) {
      if (check_price(sp, c.stop_price) != RejectReason::kNone) return RejectReason::kInvalidStopPrice;
    } else if (c.stop_price != 0) {
      return RejectReason::kInvalidStopPrice;
    }
    if (c.display_qty < 0 || (c.display_qty > 0 && c.display_qty % sp.lot_size != 0)) {
      return RejectReason::kInvalidDisplayQty;
    }
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
    if (find_slot(c.order_id) != ~std::uint64_t{0}) return RejectReason::kDuplicateOrderId;
    if (c.order_id <= evicted_max) return RejectReason::kIdOutsideWindow;
    if (!order_available()) return RejectReason::kOrderCapacity;
    if ((c.flags & kFlagPostOnly) != 0 && would_take(si, c.side, c.price)) {
      return RejectReason::kPostOnlyWouldTake;
    }
    if (!level_available()) {
      if (is_stop_type(c.order_type)) {
        if (!level_exists(si, 2 + side_index(c.side), c.stop_price)) return RejectReason::kLevelCapacity;
      } else if (resting_tif && !level_exists(si, side_index(c.side), c.price)) {
        return RejectReason::kLevelCapacity;
      }
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
    index_insert(c.order_id, oi);
    Event& e = emit_order(EventType::kAccepted, o, si);
    e.qty = c.qty;
    e.remaining = c.qty;
    if (c.tif == TimeInForce::kGtd) heap_push(oi);
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
    if (c.order_id == 0) return reject(c, RejectReason::kInvalidOrderId);
    const std::uint32_t oi = find_live(c.order_id);
    if (oi == kNil) return reject(c, RejectReason::kUnknownOrder);
    cancel_linked(oi, CancelReason::kUser);
  }

  void amend(const Command& c) {
    if (c.order_id == 0) return reject(c, RejectReason::kInvalidOrderId);
    if (c.flags != 0) return reject(c, RejectReason::kInvalidFlags);
    const std::uint32_t oi = find_live(c.order_id);
    if (oi == kNil) return reject(c, RejectReason::kUnknownOrder);
    Order& o = orders[oi];
    const std::uint32_t si = levels[o.level].sym;
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
        link_back(level_for(si, 2 + side_index(o.side), new_stop), oi);
      } else {
        levels[o.level].total += new_leaves - o.visible;
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
      if (!alone) unlink(oi);
      levels[li].total -= alone ? o.visible : 0;
      if (o.ext != kNil && exts[o.ext].display > 0) {
        o.visible = std::min(exts[o.ext].display, new_leaves);
        exts[o.ext].hidden = new_leaves - o.visible;
      } else {
        o.visible = new_leaves;
      }
      if (!alone) {
        link_back(li, oi);
      } else {
        levels[li].total += o.visible;
      }
      md(EventType::kMdAdd, o, si);
    } else if (new_leaves < old_leaves) {
      std::int64_t cut = old_leaves - new_leaves;
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

  void apply(const Command& c) {
    cur_kind = c.kind;
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
        return;
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
    Writer w;
    w.s.append(kMagic, sizeof(kMagic));
    w.put(kSnapshotVersion);
    w.put(cfg.max_orders);
    w.put(cfg.max_symbols);
    w.put(cfg.max_levels);
    w.put(cfg.id_history);
    w.put(static_cast<std::uint8_t>(cfg.market_data));
    w.put(seq);
    w.put(now);
    w.put(accept_counter);
    w.put(static_cast<std::uint32_t>(syms.size()));
    for (const SymbolState& s : syms) {
      // Field by field: SymbolSpec has padding after `symbol`, whose bytes
      // are whatever the caller's stack held.
      w.put(s.spec.symbol);
      w.put(s.spec.tick_size);
      w.put(s.spec.lot_size);
      w.put(s.spec.min_price);
      w.put(s.spec.max_price);
      w.put(s.spec.max_qty);
      w.put(s.last_price);
      w.put(static_cast<std::uint8_t>(s.has_last));
      for (const Ladder& lad : s.ladders) {
        w.put(static_cast<std::uint32_t>(lad.v.size() - lad.empties));
        for (std::size_t i = lad.v.size(); i-- > 0;) {
          const Level& l = levels[lad.v[i].level];
          if (l.count == 0) continue;
          w.put(lad.price_at(i));
          w.put(l.count);
          for (std::uint32_t oi = l.head; oi != kNil; oi = orders[oi].next) w.put(record_of(orders[oi]));
        }
      }
    }
    w.put(hist_size);
    for (std::uint32_t k = 0; k < hist_size; ++k) {
      std::uint32_t at = hist_head + k;
      if (at >= cfg.id_history) at -= cfg.id_history;
      w.put(hist_ids[at]);
      w.put(hist_state[at]);
    }
    w.put(evicted_max);
    w.put(checksum64(w.s.data(), w.s.size()));
    return std::move(w.s);
  }

  void restore_order(std::uint32_t si, int book, const OrderRecord& r) {
    const auto type = static_cast<std::uint8_t>(r.type);
    const auto tif = static_cast<std::uint8_t>(r.tif);
    const bool valid = (r.side == Side::kBuy || r.side == Side::kSell) && type >= 1 && type <= 4 && tif >= 1 &&
                       tif <= 4 && static_cast<std::uint8_t>(r.stp) <= 4 && r.visible > 0 && r.hidden >= 0 &&
                       r.filled >= 0 && (book < 2) != is_stop_type(r.type);
    if (!valid || r.id == 0 || find_slot(r.id) != ~std::uint64_t{0} || !order_available()) {
      throw std::invalid_argument("book snapshot: bad order record");
    }
    const std::uint32_t oi = alloc_order();
    Order& o = orders[oi];
    o = Order{};
    o.id = r.id;
    o.account = r.account;
    o.price = r.price;
    o.visible = r.visible;
    o.filled = r.filled;
    o.ext = kNil;
    o.side = r.side;
    o.type = r.type;
    o.tif = r.tif;
    o.stp = r.stp;
    o.flags = r.flags;
    o.live = book < 2 ? Live::kResting : Live::kPendingStop;
    if (r.display != 0 || r.stop_price != 0 || r.expire_ns != 0 || r.hidden != 0) {
      o.ext = alloc_ext();
      Ext& x = exts[o.ext];
      x.hidden = r.hidden;
      x.display = r.display;
      x.stop_price = r.stop_price;
      x.expire_ns = r.expire_ns;
      x.accept_seq = r.accept_seq;
    }
    index_insert(r.id, oi);
    const std::int64_t price = book < 2 ? r.price : r.stop_price;
    const std::uint32_t li = level_for(si, book, price);
    if (li == kNil) throw std::invalid_argument("book snapshot: more levels than the capacity");
    link_back(li, oi);
    if (o.tif == TimeInForce::kGtd) {
      if (o.ext == kNil) throw std::invalid_argument("book snapshot: GTD order without expiry");
      heap_push(oi);
    }
  }

  void restore_from(const std::uint8_t* data, std::size_t size) {
    Reader rd{data, size};
    char magic[sizeof(kMagic)];
    for (char& ch : magic) ch = static_cast<char>(rd.get<std::uint8_t>());
    if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) throw std::invalid_argument("not a book snapshot");
    if (size < sizeof(kMagic) + 8) throw std::invalid_argument("book snapshot is truncated");
    std::uint64_t stored;
    std::memcpy(&stored, data + size - 8, 8);
    if (stored != checksum64(data, size - 8)) throw std::invalid_argument("book snapshot checksum mismatch");
    rd.n = size - 8;
    if (rd.get<std::uint32_t>() != kSnapshotVersion) throw std::invalid_argument("unsupported book snapshot");
    rd.i += 16 + 1;  // configuration, already applied by the caller
    seq = rd.get<std::uint64_t>();
    now = rd.get<std::int64_t>();
    accept_counter = rd.get<std::uint64_t>();
    const auto n_syms = rd.get<std::uint32_t>();
    for (std::uint32_t k = 0; k < n_syms; ++k) {
      SymbolSpec spec;
      spec.symbol = rd.get<std::uint32_t>();
      spec.tick_size = rd.get<std::int64_t>();
      spec.lot_size = rd.get<std::int64_t>();
      spec.min_price = rd.get<std::int64_t>();
      spec.max_price = rd.get<std::int64_t>();
      spec.max_qty = rd.get<std::int64_t>();
      if (add_symbol(spec) != SymbolError::kOk) throw std::invalid_argument("book snapshot: bad symbol");
      SymbolState& s = syms.back();
      s.last_price = rd.get<std::int64_t>();
      s.has_last = rd.get<std::uint8_t>() != 0;
      for (int b = 0; b < 4; ++b) {
        const auto n_levels = rd.get<std::uint32_t>();
        for (std::uint32_t lv = 0; lv < n_levels; ++lv) {
          const auto price = rd.get<std::int64_t>();
          const auto count = rd.get<std::uint32_t>();
          if (count == 0) throw std::invalid_argument("book snapshot: empty level");
          for (std::uint32_t j = 0; j < count; ++j) {
            const auto r = rd.get<OrderRecord>();
            if ((b < 2 ? r.price : r.stop_price) != price) throw std::invalid_argument("book snapshot: bad level");
            restore_order(k, b, r);
          }
        }
      }
    }
    const auto n_hist = rd.get<std::uint32_t>();
    if (n_hist > cfg.id_history) throw std::invalid_argument("book snapshot: id history too long");
    for (std::uint32_t k = 0; k < n_hist; ++k) {
      const auto id = rd.get<std::uint64_t>();
      const auto st = rd.get<std::uint8_t>();
      if (id == 0 || find_slot(id) != ~std::uint64_t{0}) throw std::invalid_argument("book snapshot: bad id");
      hist_ids[k] = id;
      hist_state[k] = st;
      index_insert(id, k | kHistoryBit);
    }
    hist_size = n_hist;
    evicted_max = rd.get<std::uint64_t>();
    if (rd.i != rd.n) throw std::invalid_argument("book snapshot has trailing bytes");
  }
};

MatchingEngine::MatchingEngine(const EngineConfig& config) : impl_(std::make_unique<Impl>(config)) {}
MatchingEngine::~MatchingEngine() = default;
MatchingEngine::MatchingEngine(MatchingEngine&&) noexcept = default;
MatchingEngine& MatchingEngine::operator=(MatchingEngine&&) noexcept = default;

SymbolError MatchingEngine::add_symbol(const SymbolSpec& spec) { return impl_->add_symbol(spec); }

void MatchingEngine::apply(const Command& cmd, std::vector<Event>& out) {
  impl_->out = &out;
  impl_->apply(cmd);
}

void MatchingEngine::process(const Command* cmds, std::size_t n, std::vector<Event>& out) {
  Impl& m = *impl_;
  m.out = &out;
  // With a large book every command misses the caches on its id slot and
  // then on its order. Prefetch two commands ahead for the slot and one ahead
  // for the order the slot points to, so the misses overlap the work. (A
  // third stage for the order's level and neighbours measured no gain.)
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 2 < n) m.prefetch_slot(cmds[i + 2].order_id);
    if (i + 1 < n) m.prefetch_order(cmds[i + 1].order_id);
    m.apply(cmds[i]);
  }
}

CommandResult MatchingEngine::summarize(const Command& cmd, const Event* first, const Event* last) noexcept {
  CommandResult r;
  const std::uint64_t id = cmd.order_id;
  for (const Event* e = first; e != last; ++e) {
    if (e->type == EventType::kMassCancelled) {
      r.count = static_cast<std::uint64_t>(e->qty);
      continue;
    }
    const bool mine = e->order_id == id;
    const bool as_maker = e->type == EventType::kTrade && e->other_order_id == id;
    if (!mine && !as_maker) continue;
    switch (e->type) {
      case EventType::kRejected: {
        // Only the command itself is ever rejected; events before it (a GTD
        // expiry of the same id on this command's time step) do not count.
        CommandResult rej;
        rej.state = OrderState::kRejected;
        rej.reject = static_cast<RejectReason>(e->reason);
        return rej;
      }
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

Bbo MatchingEngine::bbo(std::uint32_t symbol) const noexcept {
  Bbo b;
  const std::uint32_t si = impl_->find_symbol(symbol);
  if (si == kNil) return b;
  const SymbolState& s = impl_->syms[si];
  if (!s.ladders[0].v.empty()) {
    const Level& l = impl_->levels[s.ladders[0].v.back().level];
    b.has_bid = true;
    b.bid_price = s.ladders[0].best_price();
    b.bid_qty = l.total;
  }
  if (!s.ladders[1].v.empty()) {
    const Level& l = impl_->levels[s.ladders[1].v.back().level];
    b.has_ask = true;
    b.ask_price = s.ladders[1].best_price();
    b.ask_qty = l.total;
  }
  return b;
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

std::vector<std::uint64_t> MatchingEngine::level_orders(std::uint32_t symbol, Side side,
                                                        std::int64_t price) const {
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
  if (pos == ~std::uint64_t{0}) return info;
  const auto ref = static_cast<std::uint32_t>(impl_->slots[pos]) - 1;
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

std::uint64_t MatchingEngine::next_seq() const noexcept { return impl_->seq; }
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
  return checksum64(s.data(), s.size() - 8, 0x5348514242303031ULL);
}

MatchingEngine MatchingEngine::restore(const std::uint8_t* data, std::size_t size) {
  if (size < sizeof(kMagic) + 8 || std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    throw std::invalid_argument("not a book snapshot");
  }
  // Verify before trusting the configuration: it sizes the allocations.
  std::uint64_t stored;
  std::memcpy(&stored, data + size - 8, 8);
  if (stored != checksum64(data, size - 8)) throw std::invalid_argument("book snapshot checksum mismatch");
  Reader rd{data, size - 8};
  rd.i = sizeof(kMagic) + 4;
  EngineConfig c;
  c.max_orders = rd.get<std::uint32_t>();
  c.max_symbols = rd.get<std::uint32_t>();
  c.max_levels = rd.get<std::uint32_t>();
  c.id_history = rd.get<std::uint32_t>();
  c.market_data = rd.get<std::uint8_t>() != 0;
  MatchingEngine e(c);
  e.impl_->restore_from(data, size);
  return e;
}

}  // namespace shanraq::book
