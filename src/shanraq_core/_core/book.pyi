"""Type stubs for the Cython matching-engine bindings (shanraq_core._core.book).

Units: prices in ticks, quantities in lots, times in ns, ids unsigned 64-bit
(order ids 1..2**63-1). Thread contract: single writer; one thread at a time
may call any method. While process() runs (GIL released), or a runner drives
the engine, every other call on the same engine raises RuntimeError instead of
racing it. Per-call methods raise TypeError for a non-integer argument and
ValueError for a value outside its field (negative id, unknown side/order
type/TIF/STP code); everything else becomes a REJECTED report with a
RejectReason.
"""

from typing import Any, Self, SupportsIndex

import numpy as np
import numpy.typing as npt

def layouts() -> tuple[Any, Any]: ...
def enums() -> tuple[Any, ...]: ...
def _register(
    side: Any,
    order_state: Any,
    reject_reason: Any,
    cancel_reason: Any,
    command_dtype: Any,
    event_dtype: Any,
    as_commands: Any,
) -> None: ...

class Trade:
    """One execution seen from a per-call report; price and qty are the
    maker's price and the traded lots; seq is the command's."""

    @property
    def seq(self) -> int: ...
    @property
    def symbol(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def taker_order_id(self) -> int: ...
    @property
    def maker_order_id(self) -> int: ...
    @property
    def taker_account(self) -> int: ...
    @property
    def maker_account(self) -> int: ...
    @property
    def aggressor(self) -> Any:
        """Side of the taker."""

class Report:
    """What one per-call command did."""

    @property
    def order_id(self) -> int: ...
    @property
    def status(self) -> Any:
        """OrderState after the command (REJECTED if refused; UNKNOWN for
        commands without an order)."""
    @property
    def reason(self) -> Any:
        """RejectReason if rejected, CancelReason if cancelled (fully or by an
        STP decrement), else None."""
    @property
    def accepted(self) -> bool: ...
    @property
    def filled(self) -> int:
        """Lots this order traded during the command (stop cascades included)."""
    @property
    def remaining(self) -> int:
        """Open lots after the command, iceberg reserve included."""
    @property
    def count(self) -> int:
        """mass_cancel: orders cancelled; advance_time: orders expired."""
    @property
    def trades(self) -> tuple[Trade, ...]:
        """Trades of this order during the command, in sequence order."""

class MatchingEngineBase:
    def __init__(
        self,
        *,
        max_orders: SupportsIndex = ...,
        max_symbols: SupportsIndex = ...,
        max_levels: SupportsIndex = ...,
        id_history: SupportsIndex = ...,
        market_data: bool = False,
    ) -> None: ...
    @property
    def max_orders(self) -> int: ...
    @property
    def max_symbols(self) -> int: ...
    @property
    def max_levels(self) -> int: ...
    @property
    def id_history(self) -> int: ...
    @property
    def market_data(self) -> bool: ...
    def submit(
        self,
        order_id: SupportsIndex,
        symbol: SupportsIndex,
        side: SupportsIndex,
        price: SupportsIndex | None,
        qty: SupportsIndex,
        *,
        account: SupportsIndex = 0,
        order_type: SupportsIndex = 1,
        tif: SupportsIndex | None = None,
        stp: SupportsIndex = 0,
        post_only: bool = False,
        display_qty: SupportsIndex = 0,
        stop_price: SupportsIndex = 0,
        expire_ns: SupportsIndex = 0,
        time_ns: SupportsIndex = 0,
    ) -> Report:
        """Submits an order. ``price`` is 0 or None for MARKET and STOP.
        ``tif`` None means GTC, or IOC for MARKET and STOP. ``display_qty`` > 0
        makes an iceberg. ``time_ns`` advances the engine clock (never back)."""
    def cancel(self, order_id: SupportsIndex, *, time_ns: SupportsIndex = 0) -> Report: ...
    def amend(
        self,
        order_id: SupportsIndex,
        *,
        price: SupportsIndex | None = None,
        qty: SupportsIndex | None = None,
        stop_price: SupportsIndex | None = None,
        time_ns: SupportsIndex = 0,
    ) -> Report:
        """Changes price and/or total quantity (filled + open) and/or a pending
        stop's trigger. A quantity decrease keeps time priority; a price change
        or an increase loses it. ValueError for an explicit 0."""
    def mass_cancel(
        self,
        *,
        account: SupportsIndex | None = None,
        symbol: SupportsIndex | None = None,
        tag: SupportsIndex = 0,
        time_ns: SupportsIndex = 0,
    ) -> Report:
        """Cancels every order of an account, a symbol or both; ``count`` says
        how many. ValueError without a filter."""
    def advance_time(self, time_ns: SupportsIndex) -> Report:
        """Moves the clock forward and expires due GTD orders; ``count`` says
        how many."""
    def _symbol_command(
        self,
        kind: SupportsIndex,
        symbol: SupportsIndex,
        tick_size: SupportsIndex,
        lot_size: SupportsIndex,
        min_price: SupportsIndex,
        max_price: SupportsIndex,
        max_qty: SupportsIndex,
        time_ns: SupportsIndex,
    ) -> Report: ...
    def _halt_command(self, kind: SupportsIndex, symbol: SupportsIndex, time_ns: SupportsIndex) -> Report: ...
    def last_events(self) -> npt.NDArray[np.void]:
        """Events of the last per-call command (BOOK_EVENT_DTYPE)."""
    def process(self, commands: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """Applies a BOOK_COMMAND_DTYPE array in order, GIL released; returns
        every event (BOOK_EVENT_DTYPE). Bad records become REJECTED events.
        SequenceError (nothing applied) if a stamped seq is out of place;
        TypeError for an array whose fields do not match, ValueError for a
        non-1-D array."""
    def best_bid(self, symbol: SupportsIndex) -> tuple[int, int] | None:
        """(price, visible qty) of the best bid, or None."""
    def best_ask(self, symbol: SupportsIndex) -> tuple[int, int] | None:
        """(price, visible qty) of the best ask, or None."""
    def has_symbol(self, symbol: SupportsIndex) -> bool: ...
    def _symbol_info(self, symbol: SupportsIndex) -> tuple[Any, ...] | None: ...
    def _depth(
        self, symbol: SupportsIndex, side: SupportsIndex, levels: SupportsIndex
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def level_orders(self, symbol: SupportsIndex, side: SupportsIndex, price: SupportsIndex) -> list[int]:
        """Order ids resting at one price, in priority order (L3)."""
    def _order(self, order_id: SupportsIndex) -> tuple[int, ...]: ...
    def last_trade_price(self, symbol: SupportsIndex) -> int | None: ...
    @property
    def next_seq(self) -> int:
        """The seq the next command takes (1 when new)."""
    @property
    def now_ns(self) -> int: ...
    @property
    def live_orders(self) -> int: ...
    @property
    def level_count(self) -> int: ...
    @property
    def symbol_count(self) -> int: ...
    @property
    def memory_reserved(self) -> int: ...
    @property
    def evicted_max(self) -> int:
        """Highest order id ever evicted from the id_history window (0 if
        none). A submit whose id is not live, not in the window and <= this
        is rejected ID_OUTSIDE_WINDOW: it may have been used, and the bounded
        window cannot prove otherwise. Increasing ids never hit it."""
    def snapshot(self) -> bytes:
        """Canonical, checksummed encoding of the whole state."""
    def state_hash(self) -> int:
        """64-bit hash of the state: equal for engines fed the same commands."""
    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> Self:
        """An engine in the snapshot's state. ValueError if corrupt, or if any
        invariant the engine relies on does not hold."""
    def __reduce__(self) -> tuple[Any, ...]: ...
