"""Order matching: a deterministic, single-writer, multi-symbol matching engine,
a machine of the state-machine contract (docs/architecture.md).

Commands in, events out. Prices are integer ticks, quantities integer lots,
times integer nanoseconds carried in the commands (the engine never reads a
clock). Every command takes one sequence number (``next_seq``) and yields at
least one event carrying it. Defining, changing, halting and resuming a
symbol, and the passage of time, are commands too. Two ways in, giving
identical events:

* per call: :meth:`MatchingEngine.submit`, ``cancel``, ``amend``,
  ``mass_cancel``, ``advance_time``, ``add_symbol``, ``update_symbol``,
  ``halt_symbol``, ``resume_symbol`` each return a :class:`Report`;
* batch: :meth:`MatchingEngine.process` takes a ``BOOK_COMMAND_DTYPE`` array
  and returns a ``BOOK_EVENT_DTYPE`` array, with the GIL released.

Business failures are reject codes (:class:`RejectReason`), never exceptions.
Not thread-safe: one thread at a time. See docs/book.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core._core import book as _book
from shanraq_core._core.book import MatchingEngineBase, Report, Trade
from shanraq_core._layout import check_enum, dtype_from_layout

__all__ = [
    "BOOK_COMMAND_DTYPE",
    "BOOK_EVENT_DTYPE",
    "CancelReason",
    "CommandKind",
    "EventType",
    "MatchingEngine",
    "OrderInfo",
    "OrderState",
    "OrderType",
    "RejectReason",
    "Report",
    "SelfTradePrevention",
    "Side",
    "SymbolInfo",
    "TimeInForce",
    "Trade",
]

INT64_MAX = (1 << 63) - 1


class CommandKind(IntEnum):
    """``BOOK_COMMAND_DTYPE['kind']``."""

    SUBMIT = 1
    CANCEL = 2
    AMEND = 3
    MASS_CANCEL = 4
    ADVANCE_TIME = 5  #: move the clock to ``time_ns``, expire due GTD orders; ends with TIME_ADVANCED
    ADD_SYMBOL = 6  #: register ``symbol`` with the spec in tick_size .. max_qty
    UPDATE_SYMBOL = 7  #: replace the spec (new orders and amends); resting orders keep theirs
    HALT_SYMBOL = 8  #: submits and amends are rejected SYMBOL_HALTED; cancels work
    RESUME_SYMBOL = 9


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2  #: fills what it can at any price; the rest is cancelled
    STOP = 3  #: becomes MARKET when the last trade price reaches stop_price
    STOP_LIMIT = 4  #: becomes LIMIT when the last trade price reaches stop_price


class TimeInForce(IntEnum):
    GTC = 1  #: good till cancelled
    IOC = 2  #: immediate or cancel: the unfilled rest is cancelled
    FOK = 3  #: fill or kill: fills completely at once, or does nothing
    GTD = 4  #: good till date: expires when the engine clock reaches expire_ns


class SelfTradePrevention(IntEnum):
    """Applied by an incoming order meeting a resting order of its own account."""

    NONE = 0
    CANCEL_NEWEST = 1  #: cancel the incoming order's remainder
    CANCEL_OLDEST = 2  #: cancel the resting order and keep matching
    CANCEL_BOTH = 3
    DECREMENT_BOTH = 4  #: reduce both by the smaller open quantity, no trade


class EventType(IntEnum):
    ACCEPTED = 1
    REJECTED = 2
    TRADE = 3
    CANCELLED = 4
    AMENDED = 5
    TRIGGERED = 6
    MASS_CANCELLED = 7  #: ends a mass cancel; qty = orders cancelled
    MD_ADD = 8  #: market data: order joins the back of its level, qty visible
    MD_MODIFY = 9  #: market data: order's visible qty is now qty, priority kept
    MD_DELETE = 10  #: market data: order leaves the book
    SYMBOL_ADDED = 11  #: symbol and its spec (tick_size .. max_qty)
    SYMBOL_UPDATED = 12  #: symbol and its new spec
    SYMBOL_HALTED = 13
    SYMBOL_RESUMED = 14
    TIME_ADVANCED = 15  #: ends an advance-time command; qty = orders it expired


class RejectReason(IntEnum):
    NONE = 0
    INVALID_COMMAND = 1  #: unknown command kind
    INVALID_ORDER_ID = 2  #: order id 0, or above 2**63-1
    DUPLICATE_ORDER_ID = 3  #: id is live or among the remembered finished ids
    UNKNOWN_SYMBOL = 4
    INVALID_SIDE = 5
    INVALID_ORDER_TYPE = 6
    INVALID_TIME_IN_FORCE = 7
    INVALID_QTY = 8  #: qty <= 0 or above the symbol's max_qty
    INVALID_PRICE = 9  #: price <= 0 (limit), or non-zero where none belongs (market, stop)
    PRICE_OUT_OF_BAND = 10  #: outside the symbol's [min_price, max_price]
    PRICE_OFF_TICK = 11  #: not a multiple of tick_size
    QTY_OFF_LOT = 12  #: not a multiple of lot_size
    NOTIONAL_OVERFLOW = 13  #: price x qty does not fit in int64
    INVALID_STOP_PRICE = 14  #: missing, off band/tick, or given for a non-stop order
    INVALID_DISPLAY_QTY = 15  #: negative or off the lot grid
    INVALID_EXPIRE_TIME = 16  #: GTD without a future expire_ns, or expire_ns without GTD
    INVALID_STP = 17
    INVALID_FLAGS = 18  #: unknown flag bits (or an empty mass-cancel filter)
    UNSUPPORTED_COMBINATION = 19  #: e.g. market GTC, post-only IOC, iceberg stop
    POST_ONLY_WOULD_TAKE = 20  #: a post-only order (or its amend) would trade
    UNKNOWN_ORDER = 21  #: cancel/amend of an order that is not resting or pending
    AMEND_BELOW_FILLED = 22  #: amended qty <= quantity already filled
    ORDER_CAPACITY = 23  #: max_orders live orders already
    LEVEL_CAPACITY = 24  #: the order may need a new price level and none is free
    INVALID_TIME = 25  #: time_ns < 0
    #: id at or below the highest id evicted from the duplicate-detection
    #: window (:attr:`MatchingEngine.evicted_max`); use increasing ids or a larger id_history
    ID_OUTSIDE_WINDOW = 26
    DUPLICATE_SYMBOL = 27  #: add of a registered symbol
    SYMBOL_CAPACITY = 28  #: add beyond max_symbols
    INVALID_SPEC = 29  #: tick/lot/min_price/max_qty <= 0, or min_price > max_price
    SYMBOL_HALTED = 30  #: submit or amend on a halted symbol, or halt of a halted one
    SYMBOL_NOT_HALTED = 31  #: resume of a symbol that is not halted
    #: the open quantity on the order's side of its symbol (or its stop book) would pass 2**63-1
    QTY_OVERFLOW = 32
    #: an iceberg's open quantity exceeds display_qty x 65,536 (one order could meet it that often)
    TOO_MANY_SLICES = 33


class CancelReason(IntEnum):
    NONE = 0
    USER = 1  #: cancel command
    IOC_REMAINDER = 2  #: unfilled rest of an IOC, FOK-after-check, market or stop order
    FOK_NOT_FILLABLE = 3  #: FOK could not fill completely; nothing traded
    SELF_TRADE = 4  #: self-trade prevention (partial when remaining > 0: decrement)
    EXPIRED = 5  #: GTD expiry
    MASS_CANCEL = 6
    CAPACITY = 7  #: a triggered stop-limit could not rest: no free price level
    QTY_OVERFLOW = 8  #: a triggered stop-limit could not rest: its side's open quantity would pass 2**63-1


class OrderState(IntEnum):
    UNKNOWN = 0  #: never seen, or older than the id history
    RESTING = 1
    PENDING_STOP = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5  #: reports only


# The values above are written down once, in C++ (cpp/include/shanraq/book/types.hpp):
# these classes exist for mypy and readers, and must match the C++ tables exactly.
for _cls, _exported in zip(
    (CommandKind, Side, OrderType, TimeInForce, SelfTradePrevention, EventType, RejectReason, CancelReason,
     OrderState),
    _book.enums(),
    strict=True,
):  # fmt: skip
    check_enum(_cls, _exported)

_command_layout, _event_layout = _book.layouts()

#: One command (88 bytes), built from ``RecordLayout<shanraq::book::Command>``.
#: The symbol commands' spec fields (tick_size, lot_size, min_price, max_price,
#: max_qty) are views of price, qty, stop_price, display_qty and expire_ns.
BOOK_COMMAND_DTYPE = dtype_from_layout(_command_layout)
#: One event (96 bytes), built from ``RecordLayout<shanraq::book::Event>``.
BOOK_EVENT_DTYPE = dtype_from_layout(_event_layout)

# Field name -> the field whose bytes it views (the spec aliases).
_ALIASES = {
    name: next(b for b, o, s, _f, a in _command_layout[1] if not a and o == off and s == size)
    for name, off, size, _fmt, alias in _command_layout[1]
    if alias
}
_BASE_FIELDS = [name for name, _o, _s, _f, alias in _command_layout[1] if not alias]


def _as_commands(commands: Any) -> npt.NDArray[np.void]:
    """A BOOK_COMMAND_DTYPE copy of a record array whose fields match it (for
    example the packed dtype ``np.concatenate`` gives two of them), or a
    TypeError/ValueError that says exactly what does not match."""
    want = BOOK_COMMAND_DTYPE
    if not isinstance(commands, np.ndarray) or commands.dtype.names is None:
        got = commands.dtype if isinstance(commands, np.ndarray) else type(commands).__name__
        raise TypeError(f"commands must be a numpy array of BOOK_COMMAND_DTYPE records, not {got}")
    fields = commands.dtype.fields
    assert fields is not None
    assert want.fields is not None
    unknown = sorted(set(fields) - set(want.fields))
    missing = sorted(set(_BASE_FIELDS) - set(fields))
    if unknown or missing:
        raise TypeError(
            f"commands' fields do not match BOOK_COMMAND_DTYPE: unknown {unknown}, missing {missing}"
        )
    for name, (dt, *_rest) in fields.items():
        if dt.base != want.fields[name][0].base:
            raise TypeError(
                f"commands' field {name!r} is {dt}, BOOK_COMMAND_DTYPE has {want.fields[name][0]}"
            )
    for alias, base in _ALIASES.items():
        if alias in fields:
            differ = np.flatnonzero(commands[alias] != commands[base])
            if differ.size:
                i = int(differ[0])
                raise ValueError(
                    f"commands[{i}]: {alias} ({commands[alias][i]}) and {base} ({commands[base][i]}) are one "
                    f"field in BOOK_COMMAND_DTYPE but differ here"
                )
    out = np.zeros(commands.shape, dtype=want)
    for name in _BASE_FIELDS:
        out[name] = commands[name]
    return out


_book._register(
    Side, OrderState, RejectReason, CancelReason, BOOK_COMMAND_DTYPE, BOOK_EVENT_DTYPE, _as_commands
)


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An order's state by id (:meth:`MatchingEngine.order`). For a finished
    order only ``state`` is known (FILLED or CANCELLED); the other fields are 0."""

    order_id: int
    state: OrderState
    symbol: int
    side: Side | None
    order_type: OrderType | None
    tif: TimeInForce | None
    account: int
    price: int
    stop_price: int
    qty: int  #: filled + remaining (as amended)
    filled: int
    remaining: int  #: open quantity, iceberg reserve included
    visible: int  #: displayed part of remaining
    expire_ns: int


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """A registered symbol's spec and state (:meth:`MatchingEngine.symbol_info`)."""

    symbol: int
    tick_size: int
    lot_size: int
    min_price: int
    max_price: int
    max_qty: int
    halted: bool
    last_trade_price: int | None


class MatchingEngine(MatchingEngineBase):
    """A multi-symbol limit order book with venue semantics (docs/book.md).

    Capacities are fixed at construction: ``max_orders`` live orders (resting
    plus pending stops), ``max_symbols``, ``max_levels`` price levels over all
    books, and ``id_history`` finished order ids remembered exactly so a reused
    id is rejected (DUPLICATE_ORDER_ID). Ids evicted from that window are
    summarised by their maximum, ``evicted_max``: a new id that is not live,
    not in the window and <= it is rejected (ID_OUTSIDE_WINDOW), so a
    duplicate is never accepted. Use increasing ids (a sequence or a
    time-ordered id) in 1..2**63-1 and nothing fresh is ever rejected; with
    id_history=0 increasing ids are required. ``market_data=True`` adds
    order-by-order MD_ADD / MD_MODIFY / MD_DELETE events, enough to rebuild the
    L3 book.

    Single writer: not thread-safe. ``process`` releases the GIL, so another
    Python thread may run meanwhile; a call on this engine from it raises
    RuntimeError until ``process`` returns.

    Raises:
        ValueError: a capacity outside its range (max_orders and max_symbols
            1..2**30-1, max_levels 1..2**31-1, id_history 0..2**30-1).
        TypeError: a non-integer capacity, or a non-bool market_data.
    """

    __slots__ = ()

    COMMAND_DTYPE = BOOK_COMMAND_DTYPE
    EVENT_DTYPE = BOOK_EVENT_DTYPE

    def __init__(
        self,
        *,
        max_orders: int = 1 << 20,
        max_symbols: int = 1024,
        max_levels: int = 1 << 18,
        id_history: int = 1 << 20,
        market_data: bool = False,
    ) -> None:
        super().__init__(
            max_orders=max_orders,
            max_symbols=max_symbols,
            max_levels=max_levels,
            id_history=id_history,
            market_data=market_data,
        )

    # submit, cancel, amend, mass_cancel, advance_time, process, best_bid,
    # best_ask, level_orders, snapshot, restore and state_hash are implemented
    # in the binding and documented in _core/book.pyi and docs/book.md.

    def add_symbol(
        self,
        symbol: int,
        *,
        tick_size: int = 1,
        lot_size: int = 1,
        min_price: int = 1,
        max_price: int = INT64_MAX,
        max_qty: int = INT64_MAX,
        time_ns: int = 0,
    ) -> Report:
        """Applies an ADD_SYMBOL command: prices must be multiples of
        ``tick_size`` within ``[min_price, max_price]``, quantities multiples
        of ``lot_size`` up to ``max_qty``. The report is rejected with
        DUPLICATE_SYMBOL, SYMBOL_CAPACITY or INVALID_SPEC (sizes <= 0,
        min_price > max_price)."""
        return self._symbol_command(
            CommandKind.ADD_SYMBOL, symbol, tick_size, lot_size, min_price, max_price, max_qty, time_ns
        )

    def update_symbol(
        self,
        symbol: int,
        *,
        tick_size: int | None = None,
        lot_size: int | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        max_qty: int | None = None,
        time_ns: int = 0,
    ) -> Report:
        """Applies an UPDATE_SYMBOL command carrying the whole new spec: each
        field given replaces the current one, each omitted one keeps it. The
        new spec applies to new orders and amends; resting orders and pending
        stops keep their prices and quantities. Rejected UNKNOWN_SYMBOL or
        INVALID_SPEC."""
        # An unknown symbol is the engine's to reject (UNKNOWN_SYMBOL); the
        # zeros it gets for the omitted fields are never looked at.
        cur = self.symbol_info(symbol) or SymbolInfo(0, 0, 0, 0, 0, 0, False, None)
        return self._symbol_command(
            CommandKind.UPDATE_SYMBOL,
            symbol,
            cur.tick_size if tick_size is None else tick_size,
            cur.lot_size if lot_size is None else lot_size,
            cur.min_price if min_price is None else min_price,
            cur.max_price if max_price is None else max_price,
            cur.max_qty if max_qty is None else max_qty,
            time_ns,
        )

    def halt_symbol(self, symbol: int, *, time_ns: int = 0) -> Report:
        """Applies a HALT_SYMBOL command: until resumed, submits and amends on
        the symbol are rejected SYMBOL_HALTED; cancels, mass cancels and GTD
        expiries go on. Rejected UNKNOWN_SYMBOL, or SYMBOL_HALTED if halted."""
        return self._halt_command(CommandKind.HALT_SYMBOL, symbol, time_ns)

    def resume_symbol(self, symbol: int, *, time_ns: int = 0) -> Report:
        """Applies a RESUME_SYMBOL command. Rejected UNKNOWN_SYMBOL, or
        SYMBOL_NOT_HALTED."""
        return self._halt_command(CommandKind.RESUME_SYMBOL, symbol, time_ns)

    def symbol_info(self, symbol: int) -> SymbolInfo | None:
        """The symbol's spec, halt state and last trade price, or None if it
        is not registered."""
        info = self._symbol_info(symbol)
        return None if info is None else SymbolInfo(*info)

    def depth(
        self, symbol: int, side: Side, levels: int | None = 10
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Aggregated L2 depth of one side, best level first: three int64
        arrays (prices, visible quantities, order counts) of at most ``levels``
        entries (None: every level). Empty for an unknown symbol. The arrays
        are sized by the book, never by ``levels``: asking for 2**63-1 levels
        costs what the book holds."""
        return self._depth(symbol, side, INT64_MAX if levels is None else levels)

    def order(self, order_id: int) -> OrderInfo:
        """The state of an order by id (UNKNOWN if never seen or forgotten)."""
        (state, symbol, side, otype, tif, account, price, stop, qty, filled, rem, vis, exp) = self._order(
            order_id
        )
        live = state in (OrderState.RESTING, OrderState.PENDING_STOP)
        return OrderInfo(
            order_id=order_id,
            state=OrderState(state),
            symbol=symbol,
            side=Side(side) if live else None,
            order_type=OrderType(otype) if live else None,
            tif=TimeInForce(tif) if live else None,
            account=account,
            price=price,
            stop_price=stop,
            qty=qty,
            filled=filled,
            remaining=rem,
            visible=vis,
            expire_ns=exp,
        )

    def bbo(self, symbol: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """``(best_bid(symbol), best_ask(symbol))``."""
        return self.best_bid(symbol), self.best_ask(symbol)

    def __repr__(self) -> str:
        return (
            f"MatchingEngine(symbols={self.symbol_count}, live_orders={self.live_orders}, "
            f"levels={self.level_count}, next_seq={self.next_seq}, now_ns={self.now_ns})"
        )
