"""Order matching: a deterministic, single-writer, multi-symbol matching engine.

Commands in, events out. Prices are integer ticks, quantities integer lots,
times integer nanoseconds carried in the commands (the engine never reads a
clock). Two ways in, giving identical events:

* per call: :meth:`MatchingEngine.submit`, ``cancel``, ``amend``,
  ``mass_cancel``, ``advance_time`` each return a :class:`Report`;
* batch: :meth:`MatchingEngine.process` takes a ``COMMAND_DTYPE`` array and
  returns an ``EVENT_DTYPE`` array, with the GIL released.

Business failures are reject codes (:class:`RejectReason`), never exceptions.
Not thread-safe: one thread at a time. See docs/book.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from shanraq_core._core import book as _book
from shanraq_core._core.book import MatchingEngineBase, Report, Trade

__all__ = [
    "COMMAND_DTYPE",
    "EVENT_DTYPE",
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
    "TimeInForce",
    "Trade",
]


class CommandKind(IntEnum):
    """``COMMAND_DTYPE['kind']``."""

    SUBMIT = 1
    CANCEL = 2
    AMEND = 3
    MASS_CANCEL = 4
    ADVANCE_TIME = 5  #: move the clock to ``time_ns`` and expire due GTD orders


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


class RejectReason(IntEnum):
    NONE = 0
    INVALID_COMMAND = 1  #: unknown command kind
    INVALID_ORDER_ID = 2  #: order id 0
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


class CancelReason(IntEnum):
    NONE = 0
    USER = 1  #: cancel command
    IOC_REMAINDER = 2  #: unfilled rest of an IOC, FOK-after-check, market or stop order
    FOK_NOT_FILLABLE = 3  #: FOK could not fill completely; nothing traded
    SELF_TRADE = 4  #: self-trade prevention (partial when remaining > 0: decrement)
    EXPIRED = 5  #: GTD expiry
    MASS_CANCEL = 6
    CAPACITY = 7  #: a triggered stop-limit could not rest: no free price level


class OrderState(IntEnum):
    UNKNOWN = 0  #: never seen, or older than the id history
    RESTING = 1
    PENDING_STOP = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5  #: reports only


_CMD = _book.command_layout()
_EVT = _book.event_layout()

#: One command (80 bytes), mirroring ``shanraq::book::Command``.
COMMAND_DTYPE = np.dtype(
    {
        "names": [
            "order_id", "account", "price", "qty", "stop_price", "display_qty", "expire_ns",
            "time_ns", "symbol", "kind", "side", "order_type", "tif", "stp", "flags",
        ],
        "formats": [
            "<u8", "<u8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<u4", "u1", "u1", "u1", "u1", "u1", "u1",
        ],
        "offsets": [
            _CMD[n] for n in (
                "order_id", "account", "price", "qty", "stop_price", "display_qty", "expire_ns",
                "time_ns", "symbol", "kind", "side", "order_type", "tif", "stp", "flags",
            )
        ],
        "itemsize": _CMD["__size__"],
    }
)  # fmt: skip

#: One event (96 bytes), mirroring ``shanraq::book::Event``.
EVENT_DTYPE = np.dtype(
    {
        "names": [
            "seq", "time_ns", "order_id", "account", "other_order_id", "other_account", "price", "qty",
            "remaining", "other_remaining", "symbol", "type", "reason", "side", "order_type", "command",
            "tif",
        ],
        "formats": [
            "<u8", "<i8", "<u8", "<u8", "<u8", "<u8", "<i8", "<i8", "<i8", "<i8", "<u4", "u1", "u1", "u1",
            "u1", "u1", "u1",
        ],
        "offsets": [
            _EVT[n] for n in (
                "seq", "time_ns", "order_id", "account", "other_order_id", "other_account", "price", "qty",
                "remaining", "other_remaining", "symbol", "type", "reason", "side", "order_type", "command",
                "tif",
            )
        ],
        "itemsize": _EVT["__size__"],
    }
)  # fmt: skip

_book._register(Side, OrderState, RejectReason, CancelReason, COMMAND_DTYPE, EVENT_DTYPE)


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


class MatchingEngine(MatchingEngineBase):
    """A multi-symbol limit order book with venue semantics (docs/book.md).

    Capacities are fixed at construction: ``max_orders`` live orders (resting
    plus pending stops), ``max_symbols``, ``max_levels`` price levels over all
    books, and ``id_history`` finished order ids remembered exactly so a reused
    id is rejected (DUPLICATE_ORDER_ID). Ids evicted from that window are
    summarised by their maximum, ``evicted_max``: a new id that is not live,
    not in the window and <= it is rejected (ID_OUTSIDE_WINDOW), so a
    duplicate is never accepted. Use increasing ids (a sequence or a
    time-ordered id) and nothing fresh is ever rejected; with id_history=0
    increasing ids are required. ``market_data=True`` adds order-by-order MD_ADD / MD_MODIFY /
    MD_DELETE events, enough to rebuild the L3 book.

    Single writer: not thread-safe. ``process`` releases the GIL, so another
    Python thread may run meanwhile; a call on this engine from it raises
    RuntimeError until ``process`` returns.

    Raises:
        ValueError: a capacity outside its range (max_orders and max_symbols
            1..2**30-1, max_levels 1..2**31-1, id_history 0..2**30-1).
        TypeError: a non-integer capacity.
    """

    __slots__ = ()

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

    def depth(
        self, symbol: int, side: Side, levels: int = 10
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Aggregated L2 depth of one side, best level first: three int64
        arrays (prices, visible quantities, order counts) of at most ``levels``
        entries. Empty for an unknown symbol."""
        return self._depth(symbol, side, levels)

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
