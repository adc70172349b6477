"""A pure-Python reference matching engine: the executable specification the
C++ engine (shanraq_core.MatchingEngine) is tested against, event for event.

Written for clarity, not speed: books are dicts of price -> list of orders
(FIFO), every lookup is a scan or a sort. The rules, in the order they apply,
are those of docs/book.md.

Commands are dicts with the BOOK_COMMAND_DTYPE field names (the symbol
commands' spec in the order fields it views: tick_size = price, lot_size =
qty, min_price = stop_price, max_price = display_qty, max_qty = expire_ns);
events are dicts with the BOOK_EVENT_DTYPE field names (absent fields are 0).
Every command takes one sequence number and all its events carry it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Enum values (shanraq_core.book).
SUBMIT, CANCEL, AMEND, MASS_CANCEL, ADVANCE_TIME = 1, 2, 3, 4, 5
ADD_SYMBOL, UPDATE_SYMBOL, HALT_SYMBOL, RESUME_SYMBOL = 6, 7, 8, 9
SYMBOL_KINDS = (ADD_SYMBOL, UPDATE_SYMBOL, HALT_SYMBOL, RESUME_SYMBOL)
BUY, SELL = 1, 2
LIMIT, MARKET, STOP, STOP_LIMIT = 1, 2, 3, 4
GTC, IOC, FOK, GTD = 1, 2, 3, 4
STP_NONE, CANCEL_NEWEST, CANCEL_OLDEST, CANCEL_BOTH, DECREMENT_BOTH = 0, 1, 2, 3, 4
POST_ONLY = 1
BY_ACCOUNT, BY_SYMBOL = 1, 2
(
    ACCEPTED, REJECTED, TRADE, CANCELLED, AMENDED, TRIGGERED, MASS_CANCELLED, MD_ADD, MD_MODIFY, MD_DELETE,
    SYMBOL_ADDED, SYMBOL_UPDATED, SYMBOL_HALTED, SYMBOL_RESUMED, TIME_ADVANCED,
) = range(1, 16)  # fmt: skip
# Reject reasons.
(
    R_NONE, R_INVALID_COMMAND, R_INVALID_ORDER_ID, R_DUPLICATE_ORDER_ID, R_UNKNOWN_SYMBOL, R_INVALID_SIDE,
    R_INVALID_ORDER_TYPE, R_INVALID_TIF, R_INVALID_QTY, R_INVALID_PRICE, R_PRICE_OUT_OF_BAND,
    R_PRICE_OFF_TICK,
    R_QTY_OFF_LOT, R_NOTIONAL_OVERFLOW, R_INVALID_STOP_PRICE, R_INVALID_DISPLAY_QTY, R_INVALID_EXPIRE_TIME,
    R_INVALID_STP, R_INVALID_FLAGS, R_UNSUPPORTED_COMBINATION, R_POST_ONLY_WOULD_TAKE, R_UNKNOWN_ORDER,
    R_AMEND_BELOW_FILLED, R_ORDER_CAPACITY, R_LEVEL_CAPACITY, R_INVALID_TIME, R_ID_OUTSIDE_WINDOW,
    R_DUPLICATE_SYMBOL, R_SYMBOL_CAPACITY, R_INVALID_SPEC, R_SYMBOL_HALTED, R_SYMBOL_NOT_HALTED,
    R_QTY_OVERFLOW, R_TOO_MANY_SLICES,
) = range(34)  # fmt: skip
# Cancel reasons.
C_USER, C_IOC_REMAINDER, C_FOK, C_SELF_TRADE, C_EXPIRED, C_MASS_CANCEL, C_CAPACITY, C_QTY_OVERFLOW = range(
    1, 9
)
# Order states.
S_UNKNOWN, S_RESTING, S_PENDING_STOP, S_FILLED, S_CANCELLED = range(5)

COMMAND_FIELDS = (
    "seq", "time_ns", "kind", "side", "order_type", "tif", "stp", "flags", "reserved0", "symbol", "reserved1",
    "order_id", "account", "price", "qty", "stop_price", "display_qty", "expire_ns",
)  # fmt: skip
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
MAX_ORDER_ID = INT64_MAX
U64 = (1 << 64) - 1
MAX_ICEBERG_SLICES = 1 << 16


def too_many_slices(open_qty: int, display: int) -> bool:
    """An iceberg needs at most MAX_ICEBERG_SLICES slices of its display."""
    return display > 0 and open_qty > display and -(-open_qty // display) > MAX_ICEBERG_SLICES


@dataclass
class Spec:
    symbol: int
    tick_size: int = 1
    lot_size: int = 1
    min_price: int = 1
    max_price: int = INT64_MAX
    max_qty: int = INT64_MAX

    def valid(self) -> bool:
        return (
            self.tick_size > 0
            and self.lot_size > 0
            and self.min_price > 0
            and self.max_price >= self.min_price
            and self.max_qty > 0
        )


def spec_of(c: dict[str, int]) -> Spec:
    """The spec a symbol command carries in its order fields."""
    return Spec(c["symbol"], c["price"], c["qty"], c["stop_price"], c["display_qty"], c["expire_ns"])


def spec_fields(spec: Spec) -> dict[str, int]:
    """A spec at its event offsets (min_price and max_price in u64 fields)."""
    return {
        "price": spec.tick_size, "qty": spec.lot_size, "other_order_id": spec.min_price & U64,
        "other_account": spec.max_price & U64, "remaining": spec.max_qty,
    }  # fmt: skip


@dataclass
class Order:
    id: int
    account: int
    symbol: int
    side: int
    type: int
    tif: int
    stp: int
    flags: int
    price: int
    visible: int
    hidden: int = 0
    display: int = 0
    stop_price: int = 0
    expire_ns: int = 0
    filled: int = 0
    accept_seq: int = 0
    where: str = "in_flight"  # in_flight, book, stops

    @property
    def leaves(self) -> int:
        return self.visible + self.hidden


@dataclass
class Book:
    spec: Spec
    bids: dict[int, list[Order]] = field(default_factory=dict)
    asks: dict[int, list[Order]] = field(default_factory=dict)
    buy_stops: dict[int, list[Order]] = field(default_factory=dict)
    sell_stops: dict[int, list[Order]] = field(default_factory=dict)
    last_price: int | None = None
    halted: bool = False

    def open_qty(self, levels: dict[int, list[Order]]) -> int:
        """Open quantity (shown + hidden) waiting in one ladder."""
        return sum(o.leaves for q in levels.values() for o in q)

    def side(self, side: int) -> dict[int, list[Order]]:
        return self.bids if side == BUY else self.asks

    def stops(self, side: int) -> dict[int, list[Order]]:
        return self.buy_stops if side == BUY else self.sell_stops

    @staticmethod
    def best_first(side: int, prices: Any) -> list[int]:
        """Bids and sell stops: highest first; asks and buy stops: lowest first."""
        return sorted(prices, reverse=(side == BUY))


def crosses(side: int, market: bool, limit: int, maker_price: int) -> bool:
    if market:
        return True
    return maker_price <= limit if side == BUY else maker_price >= limit


class ReferenceEngine:
    def __init__(
        self,
        *,
        max_orders: int = 1 << 20,
        max_symbols: int = 1024,
        max_levels: int = 1 << 18,
        id_history: int = 1 << 20,
        market_data: bool = False,
    ) -> None:
        self.max_orders = max_orders
        self.max_symbols = max_symbols
        self.max_levels = max_levels
        self.market_data = market_data
        self.books: dict[int, Book] = {}  # registration order
        self.live: dict[int, Order] = {}
        self.history: deque[tuple[int, int]] = deque(maxlen=id_history) if id_history else deque(maxlen=0)
        # Largest id ever pushed out of the history (every finished id when
        # id_history is 0): ids at or below it cannot be proven fresh.
        self.evicted_max = 0
        self.seq = 1  # the next command's sequence number
        self.cur_seq = 0  # the current command's: every event it causes carries it
        self.now = 0
        self.accept_counter = 0
        self.kind = 0
        self.expired = 0  # GTD orders the current command expired
        self.events: list[dict[str, int]] = []

    # ---- configuration and queries -------------------------------------------------
    def add_symbol(self, symbol: int, **kw: int) -> list[dict[str, int]]:
        """Applies an ADD_SYMBOL command (it takes a sequence number)."""
        spec = Spec(symbol, **kw)
        c = dict.fromkeys(COMMAND_FIELDS, 0)
        c.update(kind=ADD_SYMBOL, symbol=symbol, price=spec.tick_size, qty=spec.lot_size,
                 stop_price=spec.min_price, display_qty=spec.max_price, expire_ns=spec.max_qty)  # fmt: skip
        return self.apply(c)

    def level_count(self) -> int:
        return sum(
            len(b.bids) + len(b.asks) + len(b.buy_stops) + len(b.sell_stops) for b in self.books.values()
        )

    def best(self, symbol: int, side: int) -> tuple[int, int] | None:
        levels = self.books[symbol].side(side)
        if not levels:
            return None
        price = max(levels) if side == BUY else min(levels)
        return price, sum(o.visible for o in levels[price])

    def depth(self, symbol: int, side: int) -> list[tuple[int, int, int]]:
        levels = self.books[symbol].side(side)
        return [(p, sum(o.visible for o in levels[p]), len(levels[p])) for p in Book.best_first(side, levels)]

    def level_orders(self, symbol: int, side: int, price: int) -> list[int]:
        return [o.id for o in self.books[symbol].side(side).get(price, [])]

    def state_of(self, order_id: int) -> int:
        if order_id in self.live:
            return S_PENDING_STOP if self.live[order_id].where == "stops" else S_RESTING
        for oid, state in self.history:
            if oid == order_id:
                return state
        return S_UNKNOWN

    # ---- events -----------------------------------------------------------------------
    def emit(self, type_: int, **fields: int) -> dict[str, int]:
        e = {"seq": self.cur_seq, "time_ns": self.now, "type": type_, "command": self.kind, **fields}
        self.events.append(e)
        return e

    def emit_order(self, type_: int, o: Order, **fields: int) -> dict[str, int]:
        base = {
            "order_id": o.id, "account": o.account, "price": o.price, "symbol": o.symbol, "side": o.side,
            "order_type": o.type, "tif": o.tif,
        }  # fmt: skip
        base.update(fields)
        return self.emit(type_, **base)

    def md(self, type_: int, o: Order) -> None:
        if self.market_data:
            self.emit_order(type_, o, qty=0 if type_ == MD_DELETE else o.visible, remaining=o.leaves)

    def reject(self, c: dict[str, int], reason: int) -> None:
        e = self.emit(
            REJECTED, order_id=c["order_id"], account=c["account"], price=c["price"], qty=c["qty"],
            symbol=c["symbol"], side=c["side"], order_type=c["order_type"], tif=c["tif"], reason=reason,
        )  # fmt: skip
        if c["kind"] in SYMBOL_KINDS:
            e.update(spec_fields(spec_of(c)))

    # ---- order lifecycle -----------------------------------------------------------------
    def finish(self, o: Order, state: int) -> None:
        del self.live[o.id]
        if not self.history.maxlen:
            self.evicted_max = max(self.evicted_max, o.id)
            return
        if len(self.history) == self.history.maxlen:
            self.evicted_max = max(self.evicted_max, self.history[0][0])
        self.history.append((o.id, state))

    def unlink(self, o: Order) -> None:
        book = self.books[o.symbol]
        levels = book.side(o.side) if o.where == "book" else book.stops(o.side)
        key = o.price if o.where == "book" else o.stop_price
        levels[key].remove(o)
        if not levels[key]:
            del levels[key]

    def cancel_unlinked(self, o: Order, qty: int, reason: int) -> None:
        self.emit_order(CANCELLED, o, qty=qty, remaining=0, reason=reason)
        self.finish(o, S_CANCELLED)

    def cancel_linked(self, o: Order, reason: int) -> None:
        in_book = o.where == "book"
        qty = o.leaves
        self.unlink(o)
        self.emit_order(CANCELLED, o, qty=qty, remaining=0, reason=reason)
        if in_book:
            self.md(MD_DELETE, o)
        self.finish(o, S_CANCELLED)

    def advance(self, t: int) -> None:
        self.now = t
        while True:
            due = [o for o in self.live.values() if o.tif == GTD and o.expire_ns <= self.now]
            if not due:
                return
            o = min(due, key=lambda x: (x.expire_ns, x.accept_seq, x.id))
            self.cancel_linked(o, C_EXPIRED)
            self.expired += 1

    # ---- matching ----------------------------------------------------------------------------
    def fok_fillable(self, t: Order, need: int) -> bool:
        book = self.books[t.symbol]
        opp = book.side(3 - t.side)
        avail = 0
        for price in Book.best_first(3 - t.side, opp):
            if not crosses(t.side, t.type == MARKET, t.price, price):
                break
            reserve = 0
            for m in opp[price]:
                if t.stp != STP_NONE and m.account == t.account:
                    if t.stp == CANCEL_OLDEST:
                        continue
                    return avail >= need
                avail += m.visible
                if avail >= need:
                    return True
                reserve += m.hidden
            avail += reserve
            if avail >= need:
                return True
        return False

    def match(self, t: Order, rem: int) -> int:
        """Returns the taker's open quantity, or -1 if STP cancelled it."""
        book = self.books[t.symbol]
        opp = book.side(3 - t.side)
        while rem > 0 and opp:
            price = Book.best_first(3 - t.side, opp)[0]
            if not crosses(t.side, t.type == MARKET, t.price, price):
                break
            m = opp[price][0]
            if t.stp != STP_NONE and m.account == t.account:
                rem = self.self_trade(t, m, rem)
                if rem <= 0:
                    return rem
                continue
            q = min(rem, m.visible)
            rem -= q
            t.filled += q
            m.visible -= q
            m.filled += q
            book.last_price = price
            self.emit(
                TRADE, order_id=t.id, account=t.account, other_order_id=m.id, other_account=m.account,
                price=price, qty=q, remaining=rem, other_remaining=m.leaves, symbol=t.symbol, side=t.side,
                order_type=t.type, tif=t.tif,
            )  # fmt: skip
            if m.visible > 0:
                self.md(MD_MODIFY, m)
            elif m.hidden > 0:
                # Iceberg refill: a new slice at the back of the queue.
                self.md(MD_DELETE, m)
                opp[price].remove(m)
                m.visible = min(m.display, m.hidden)
                m.hidden -= m.visible
                opp[price].append(m)
                self.md(MD_ADD, m)
            else:
                self.unlink(m)
                self.md(MD_DELETE, m)
                self.finish(m, S_FILLED)
        return rem

    def self_trade(self, t: Order, m: Order, rem: int) -> int:
        if t.stp == CANCEL_OLDEST:
            self.cancel_linked(m, C_SELF_TRADE)
            return rem
        if t.stp in (CANCEL_NEWEST, CANCEL_BOTH):
            if t.stp == CANCEL_BOTH:
                self.cancel_linked(m, C_SELF_TRADE)
            self.cancel_unlinked(t, rem, C_SELF_TRADE)
            return -1
        # DECREMENT_BOTH
        mleft = m.leaves
        d = min(rem, mleft)
        if d == mleft:
            self.cancel_linked(m, C_SELF_TRADE)
        else:
            from_hidden = min(m.hidden, d)
            m.hidden -= from_hidden
            from_visible = d - from_hidden
            m.visible -= from_visible
            self.emit_order(CANCELLED, m, qty=d, remaining=mleft - d, reason=C_SELF_TRADE)
            if from_visible > 0:
                self.md(MD_MODIFY, m)
        rem -= d
        self.emit_order(CANCELLED, t, qty=d, remaining=rem, reason=C_SELF_TRADE)
        if rem == 0:
            self.finish(t, S_CANCELLED)
            return -1
        return rem

    def execute(self, t: Order, rem: int) -> None:
        if t.tif == FOK and not self.fok_fillable(t, rem):
            self.cancel_unlinked(t, rem, C_FOK)
            return
        rem = self.match(t, rem)
        if rem < 0:
            return
        if rem == 0:
            t.visible = t.hidden = 0
            self.finish(t, S_FILLED)
            return
        if t.type == MARKET or t.tif in (IOC, FOK):
            self.cancel_unlinked(t, rem, C_IOC_REMAINDER)
            return
        book = self.books[t.symbol]
        levels = book.side(t.side)
        # Submits and amends were checked up front: this catches a triggered stop-limit.
        if book.open_qty(levels) + rem > INT64_MAX:
            self.cancel_unlinked(t, rem, C_QTY_OVERFLOW)
            return
        if t.price not in levels and self.level_count() >= self.max_levels:
            self.cancel_unlinked(t, rem, C_CAPACITY)
            return
        if t.display > 0:
            t.visible = min(t.display, rem)
            t.hidden = rem - t.visible
        else:
            t.visible = rem
        t.where = "book"
        levels.setdefault(t.price, []).append(t)
        self.md(MD_ADD, t)

    def trigger(self, o: Order) -> None:
        o.type = MARKET if o.type == STOP else LIMIT
        o.where = "in_flight"
        self.emit_order(TRIGGERED, o, price=o.stop_price, qty=o.visible, remaining=o.visible)
        self.execute(o, o.visible)

    def run_stops(self, symbol: int) -> None:
        book = self.books[symbol]
        while book.last_price is not None:
            last = book.last_price
            if book.buy_stops and min(book.buy_stops) <= last:
                o = book.buy_stops[min(book.buy_stops)][0]
            elif book.sell_stops and max(book.sell_stops) >= last:
                o = book.sell_stops[max(book.sell_stops)][0]
            else:
                return
            self.unlink(o)
            self.trigger(o)

    # ---- commands ------------------------------------------------------------------------------
    @staticmethod
    def check_price(spec: Spec, price: int) -> int:
        if price <= 0:
            return R_INVALID_PRICE
        if price < spec.min_price or price > spec.max_price:
            return R_PRICE_OUT_OF_BAND
        if price % spec.tick_size:
            return R_PRICE_OFF_TICK
        return R_NONE

    @staticmethod
    def check_qty(spec: Spec, qty: int) -> int:
        if qty <= 0 or qty > spec.max_qty:
            return R_INVALID_QTY
        if qty % spec.lot_size:
            return R_QTY_OFF_LOT
        return R_NONE

    def would_take(self, symbol: int, side: int, price: int) -> bool:
        best = self.best(symbol, 3 - side)
        return best is not None and crosses(side, False, price, best[0])

    def known_id(self, order_id: int) -> bool:
        return order_id in self.live or any(oid == order_id for oid, _ in self.history)

    def validate_submit(self, c: dict[str, int]) -> int:
        if not 0 < c["order_id"] <= MAX_ORDER_ID:
            return R_INVALID_ORDER_ID
        if c["symbol"] not in self.books:
            return R_UNKNOWN_SYMBOL
        if self.books[c["symbol"]].halted:
            return R_SYMBOL_HALTED
        spec = self.books[c["symbol"]].spec
        otype, tif, price, qty = c["order_type"], c["tif"], c["price"], c["qty"]
        if c["side"] not in (BUY, SELL):
            return R_INVALID_SIDE
        if otype not in (LIMIT, MARKET, STOP, STOP_LIMIT):
            return R_INVALID_ORDER_TYPE
        if tif not in (GTC, IOC, FOK, GTD):
            return R_INVALID_TIF
        if c["stp"] > DECREMENT_BOTH:
            return R_INVALID_STP
        if c["flags"] & ~POST_ONLY:
            return R_INVALID_FLAGS
        if r := self.check_qty(spec, qty):
            return r
        has_limit = otype in (LIMIT, STOP_LIMIT)
        if has_limit:
            if r := self.check_price(spec, price):
                return r
            if not INT64_MIN <= price * qty <= INT64_MAX:
                return R_NOTIONAL_OVERFLOW
        elif price != 0:
            return R_INVALID_PRICE
        if otype in (STOP, STOP_LIMIT):
            if self.check_price(spec, c["stop_price"]):
                return R_INVALID_STOP_PRICE
        elif c["stop_price"] != 0:
            return R_INVALID_STOP_PRICE
        display = c["display_qty"]
        if display < 0 or (display > 0 and display % spec.lot_size):
            return R_INVALID_DISPLAY_QTY
        if too_many_slices(qty, display):
            return R_TOO_MANY_SLICES
        if tif == GTD:
            if c["expire_ns"] <= self.now:
                return R_INVALID_EXPIRE_TIME
        elif c["expire_ns"] != 0:
            return R_INVALID_EXPIRE_TIME
        resting_tif = tif in (GTC, GTD)
        post_only = bool(c["flags"] & POST_ONLY)
        if not has_limit and resting_tif:
            return R_UNSUPPORTED_COMBINATION
        if post_only and (not resting_tif or otype != LIMIT):
            return R_UNSUPPORTED_COMBINATION
        if display > 0 and (not resting_tif or otype != LIMIT):
            return R_UNSUPPORTED_COMBINATION
        if self.known_id(c["order_id"]):
            return R_DUPLICATE_ORDER_ID
        if c["order_id"] <= self.evicted_max:
            return R_ID_OUTSIDE_WINDOW
        if len(self.live) >= self.max_orders:
            return R_ORDER_CAPACITY
        if post_only and self.would_take(c["symbol"], c["side"], price):
            return R_POST_ONLY_WOULD_TAKE
        if self.level_count() >= self.max_levels:
            book = self.books[c["symbol"]]
            if otype in (STOP, STOP_LIMIT):
                if c["stop_price"] not in book.stops(c["side"]):
                    return R_LEVEL_CAPACITY
            elif resting_tif and price not in book.side(c["side"]):
                return R_LEVEL_CAPACITY
        # The whole quantity must fit where the order would wait.
        book = self.books[c["symbol"]]
        if otype in (STOP, STOP_LIMIT):
            if book.open_qty(book.stops(c["side"])) + qty > INT64_MAX:
                return R_QTY_OVERFLOW
        elif resting_tif and book.open_qty(book.side(c["side"])) + qty > INT64_MAX:
            return R_QTY_OVERFLOW
        return R_NONE

    def submit(self, c: dict[str, int]) -> None:
        if r := self.validate_submit(c):
            self.reject(c, r)
            return
        iceberg = 0 < c["display_qty"] < c["qty"]
        o = Order(
            id=c["order_id"], account=c["account"], symbol=c["symbol"], side=c["side"], type=c["order_type"],
            tif=c["tif"], stp=c["stp"], flags=c["flags"], price=c["price"], visible=c["qty"],
            display=c["display_qty"] if iceberg else 0, stop_price=c["stop_price"],
            expire_ns=c["expire_ns"] if c["tif"] == GTD else 0, accept_seq=self.accept_counter,
        )  # fmt: skip
        self.accept_counter += 1
        self.live[o.id] = o
        self.emit_order(ACCEPTED, o, qty=c["qty"], remaining=c["qty"])
        book = self.books[o.symbol]
        if o.type in (STOP, STOP_LIMIT):
            last = book.last_price
            due = last is not None and (last >= o.stop_price if o.side == BUY else last <= o.stop_price)
            if due:
                self.trigger(o)
            else:
                o.where = "stops"
                book.stops(o.side).setdefault(o.stop_price, []).append(o)
        else:
            self.execute(o, c["qty"])
        self.run_stops(o.symbol)

    def cancel(self, c: dict[str, int]) -> None:
        if not 0 < c["order_id"] <= MAX_ORDER_ID:
            self.reject(c, R_INVALID_ORDER_ID)
        elif c["order_id"] not in self.live:
            self.reject(c, R_UNKNOWN_ORDER)
        else:
            self.cancel_linked(self.live[c["order_id"]], C_USER)

    def amend(self, c: dict[str, int]) -> None:
        if not 0 < c["order_id"] <= MAX_ORDER_ID:
            return self.reject(c, R_INVALID_ORDER_ID)
        if c["flags"] != 0:
            return self.reject(c, R_INVALID_FLAGS)
        o = self.live.get(c["order_id"])
        if o is None:
            return self.reject(c, R_UNKNOWN_ORDER)
        if self.books[o.symbol].halted:
            return self.reject(c, R_SYMBOL_HALTED)
        spec = self.books[o.symbol].spec
        pending = o.where == "stops"
        has_limit = o.type in (LIMIT, STOP_LIMIT)
        if c["price"] != 0:
            if not has_limit:
                return self.reject(c, R_INVALID_PRICE)
            if r := self.check_price(spec, c["price"]):
                return self.reject(c, r)
        old_leaves = o.leaves
        if c["qty"] != 0:
            if r := self.check_qty(spec, c["qty"]):
                return self.reject(c, r)
            if c["qty"] <= o.filled:
                return self.reject(c, R_AMEND_BELOW_FILLED)
            if too_many_slices(c["qty"] - o.filled, o.display):
                return self.reject(c, R_TOO_MANY_SLICES)
        new_price = c["price"] or o.price
        new_total = c["qty"] or (o.filled + old_leaves)
        if has_limit and not INT64_MIN <= new_price * new_total <= INT64_MAX:
            return self.reject(c, R_NOTIONAL_OVERFLOW)
        if c["stop_price"] != 0 and (not pending or self.check_price(spec, c["stop_price"])):
            return self.reject(c, R_INVALID_STOP_PRICE)
        old_stop = o.stop_price if pending else 0
        new_stop = c["stop_price"] or old_stop
        price_moves = new_price != o.price
        new_leaves = new_total - o.filled
        if (
            not pending
            and price_moves
            and o.flags & POST_ONLY
            and self.would_take(o.symbol, o.side, new_price)
        ):
            return self.reject(c, R_POST_ONLY_WOULD_TAKE)
        if self.level_count() >= self.max_levels:
            book = self.books[o.symbol]
            if pending and new_stop != old_stop and new_stop not in book.stops(o.side):
                return self.reject(c, R_LEVEL_CAPACITY)
            if not pending and price_moves and new_price not in book.side(o.side):
                return self.reject(c, R_LEVEL_CAPACITY)
        book = self.books[o.symbol]
        ladder = book.stops(o.side) if pending else book.side(o.side)
        if new_leaves > old_leaves and book.open_qty(ladder) + new_leaves - old_leaves > INT64_MAX:
            return self.reject(c, R_QTY_OVERFLOW)
        self.emit_order(
            AMENDED, o, price=new_price, qty=new_total, remaining=new_leaves, other_remaining=old_leaves
        )
        book = self.books[o.symbol]
        if pending:
            o.price = new_price
            if new_stop != old_stop or new_leaves > old_leaves:
                self.unlink(o)
                o.stop_price = new_stop
                o.visible = new_leaves
                book.stops(o.side).setdefault(new_stop, []).append(o)
            else:
                o.visible = new_leaves
            self.run_stops(o.symbol)
            return None
        if price_moves:
            self.unlink(o)
            self.md(MD_DELETE, o)
            o.price = new_price
            o.where = "in_flight"
            self.execute(o, new_leaves)
            self.run_stops(o.symbol)
            return None
        if new_leaves > old_leaves:
            self.md(MD_DELETE, o)
            queue = book.side(o.side)[o.price]
            queue.remove(o)
            if o.display > 0:
                o.visible = min(o.display, new_leaves)
                o.hidden = new_leaves - o.visible
            else:
                o.visible = new_leaves
            queue.append(o)
            self.md(MD_ADD, o)
        elif new_leaves < old_leaves:
            cut = old_leaves - new_leaves
            from_hidden = min(o.hidden, cut)
            o.hidden -= from_hidden
            cut -= from_hidden
            if cut > 0:
                o.visible -= cut
                self.md(MD_MODIFY, o)
        return None

    def mass_cancel(self, c: dict[str, int]) -> None:
        flags = c["flags"]
        if flags == 0 or flags & ~(BY_ACCOUNT | BY_SYMBOL):
            return self.reject(c, R_INVALID_FLAGS)
        if flags & BY_SYMBOL and c["symbol"] not in self.books:
            return self.reject(c, R_UNKNOWN_SYMBOL)
        symbols = [c["symbol"]] if flags & BY_SYMBOL else list(self.books)
        count = 0
        for symbol in symbols:
            book = self.books[symbol]
            for side, levels in (
                (BUY, book.bids),
                (SELL, book.asks),
                (SELL, book.buy_stops),
                (BUY, book.sell_stops),
            ):
                # buy stops trigger lowest first (ordered like asks), sell stops highest first.
                for price in Book.best_first(side, list(levels)):
                    for o in list(levels.get(price, [])):
                        if not flags & BY_ACCOUNT or o.account == c["account"]:
                            self.cancel_linked(o, C_MASS_CANCEL)
                            count += 1
        self.emit(
            MASS_CANCELLED, order_id=c["order_id"], account=c["account"] if flags & BY_ACCOUNT else 0,
            symbol=c["symbol"] if flags & BY_SYMBOL else 0, qty=count,
        )  # fmt: skip
        return None

    # ---- symbols and time ------------------------------------------------------------------
    def add_symbol_cmd(self, c: dict[str, int]) -> None:
        spec = spec_of(c)
        if not spec.valid():
            return self.reject(c, R_INVALID_SPEC)
        if spec.symbol in self.books:
            return self.reject(c, R_DUPLICATE_SYMBOL)
        if len(self.books) >= self.max_symbols:
            return self.reject(c, R_SYMBOL_CAPACITY)
        self.books[spec.symbol] = Book(spec)
        self.emit(SYMBOL_ADDED, symbol=spec.symbol, **spec_fields(spec))
        return None

    def update_symbol_cmd(self, c: dict[str, int]) -> None:
        """The new spec applies to new orders and amends; resting orders keep theirs."""
        if c["symbol"] not in self.books:
            return self.reject(c, R_UNKNOWN_SYMBOL)
        spec = spec_of(c)
        if not spec.valid():
            return self.reject(c, R_INVALID_SPEC)
        self.books[spec.symbol].spec = spec
        self.emit(SYMBOL_UPDATED, symbol=spec.symbol, **spec_fields(spec))
        return None

    def set_halted(self, c: dict[str, int], halt: bool) -> None:
        book = self.books.get(c["symbol"])
        if book is None:
            return self.reject(c, R_UNKNOWN_SYMBOL)
        if book.halted == halt:
            return self.reject(c, R_SYMBOL_HALTED if halt else R_SYMBOL_NOT_HALTED)
        book.halted = halt
        self.emit(SYMBOL_HALTED if halt else SYMBOL_RESUMED, symbol=c["symbol"])
        return None

    def apply(self, c: dict[str, int]) -> list[dict[str, int]]:
        """Applies one command; returns its events."""
        self.events = []
        self.kind = c["kind"]
        self.cur_seq = self.seq
        self.seq += 1
        self.expired = 0
        if c["time_ns"] < 0:
            self.reject(c, R_INVALID_TIME)
            return self.events
        if c["time_ns"] > self.now:
            self.advance(c["time_ns"])
        handler = {
            SUBMIT: self.submit, CANCEL: self.cancel, AMEND: self.amend, MASS_CANCEL: self.mass_cancel,
            ADVANCE_TIME: lambda _c: self.emit(TIME_ADVANCED, qty=self.expired),
            ADD_SYMBOL: self.add_symbol_cmd, UPDATE_SYMBOL: self.update_symbol_cmd,
            HALT_SYMBOL: lambda c: self.set_halted(c, True),
            RESUME_SYMBOL: lambda c: self.set_halted(c, False),
        }.get(c["kind"])  # fmt: skip
        if handler is None:
            self.reject(c, R_INVALID_COMMAND)
        else:
            handler(c)
        return self.events
