"""The exchange: the matching engine and the ledger in one deterministic
state machine (docs/exchange.md).

No order rests or trades unless the money behind it is held, and every trade
moves balances exactly once, inside the command that made it. Everything is a
command (assets, symbols, users, deposits, withdrawals, limits, halts, time,
orders); every command yields at least one event; a rejected command changes
nothing. Per-call methods return an :class:`ExchangeReport`; ``process``
takes a numpy array of ``EXCHANGE_COMMAND_DTYPE`` records and returns the
``EXCHANGE_EVENT_DTYPE`` events, with the GIL released.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from shanraq_core._core import exchange as _exchange
from shanraq_core._core.exchange import ExchangeBase, ExchangeReport
from shanraq_core._layout import check_enum, dtype_from_layout

if TYPE_CHECKING:
    from shanraq_core.journal import Journal

__all__ = [
    "EXCHANGE_COMMAND_DTYPE",
    "EXCHANGE_EVENT_DTYPE",
    "Balance",
    "Exchange",
    "ExchangeCommandKind",
    "ExchangeEventType",
    "ExchangeRejectReason",
    "ExchangeReport",
    "InvariantReport",
    "OrderHold",
    "Violation",
]


class ExchangeCommandKind(IntEnum):
    PLACE = 1
    CANCEL = 2
    AMEND = 3
    MASS_CANCEL = 4
    ADVANCE_TIME = 5
    ADD_ASSET = 6
    ADD_SYMBOL = 7
    ADD_USER = 8
    DEPOSIT = 9
    WITHDRAW = 10
    SET_LIMITS = 11
    SET_POSITION_LIMIT = 12
    HALT_SYMBOL = 13
    RESUME_SYMBOL = 14


class ExchangeEventType(IntEnum):
    ACCEPTED = 1
    REJECTED = 2
    TRADE = 3
    CANCELLED = 4
    AMENDED = 5
    TRIGGERED = 6
    MASS_CANCELLED = 7
    TIME_ADVANCED = 8
    ASSET_ADDED = 9
    SYMBOL_ADDED = 10
    USER_ADDED = 11
    DEPOSITED = 12
    WITHDRAWN = 13
    LIMITS_SET = 14
    SYMBOL_HALTED = 15
    SYMBOL_RESUMED = 16


class ExchangeRejectReason(IntEnum):
    """The matching engine's reasons (1..33, same meanings) and the exchange's (64..)."""

    NONE = 0
    INVALID_COMMAND = 1
    INVALID_ORDER_ID = 2
    DUPLICATE_ORDER_ID = 3
    UNKNOWN_SYMBOL = 4
    INVALID_SIDE = 5
    INVALID_ORDER_TYPE = 6
    INVALID_TIME_IN_FORCE = 7
    INVALID_QTY = 8
    INVALID_PRICE = 9
    PRICE_OUT_OF_BAND = 10
    PRICE_OFF_TICK = 11
    QTY_OFF_LOT = 12
    NOTIONAL_OVERFLOW = 13
    INVALID_STOP_PRICE = 14
    INVALID_DISPLAY_QTY = 15
    INVALID_EXPIRE_TIME = 16
    INVALID_STP = 17
    INVALID_FLAGS = 18
    UNSUPPORTED_COMBINATION = 19
    POST_ONLY_WOULD_TAKE = 20
    UNKNOWN_ORDER = 21
    AMEND_BELOW_FILLED = 22
    ORDER_CAPACITY = 23
    LEVEL_CAPACITY = 24
    INVALID_TIME = 25
    ID_OUTSIDE_WINDOW = 26
    DUPLICATE_SYMBOL = 27
    SYMBOL_CAPACITY = 28
    INVALID_SPEC = 29
    SYMBOL_HALTED = 30
    SYMBOL_NOT_HALTED = 31
    QTY_OVERFLOW = 32
    TOO_MANY_SLICES = 33
    UNKNOWN_USER = 64
    UNKNOWN_ASSET = 65
    DUPLICATE_USER = 66
    DUPLICATE_ASSET = 67
    INSUFFICIENT_BALANCE = 68
    NOT_OWNER = 69
    MAX_OPEN_ORDERS = 70
    MAX_NOTIONAL = 71
    MAX_POSITION = 72
    PROTECTION_PRICE_REQUIRED = 73
    INVALID_AMOUNT = 74
    SUPPLY_LIMIT = 75
    INVALID_FEE = 76
    INVALID_SCALE = 77
    SAME_ASSET = 78
    DUPLICATE_TRANSFER = 79
    LEDGER_REJECTED = 80
    USER_CAPACITY = 81
    ASSET_CAPACITY = 82
    ACCOUNT_CAPACITY = 83
    TRANSFER_CAPACITY = 84
    INVALID_TRANSFER_ID = 85
    INVALID_USER_ID = 86
    INVALID_ASSET_ID = 87


class Violation(IntEnum):
    NONE = 0
    CONSERVATION = 1
    NEGATIVE_AVAILABLE = 2
    HELD_MISMATCH = 3
    ORDER_HOLD = 4
    ESCROW_MISMATCH = 5
    SETTLEMENT_FAULT = 6
    OPEN_ORDER_COUNT = 7


for _cls, _exported in zip(
    (ExchangeCommandKind, ExchangeEventType, ExchangeRejectReason, Violation), _exchange.enums(), strict=True
):
    check_enum(_cls, _exported)

_command_layout, _event_layout = _exchange.layouts()
#: One command (88 bytes), from ``RecordLayout<shanraq::exchange::ExchangeCommand>``;
#: the configuration commands' fields are views of the order fields (types.hpp).
EXCHANGE_COMMAND_DTYPE = dtype_from_layout(_command_layout)
#: One event (136 bytes), from ``RecordLayout<shanraq::exchange::ExchangeEvent>``.
EXCHANGE_EVENT_DTYPE = dtype_from_layout(_event_layout)

_BASE_FIELDS = [name for name, _o, _s, _f, alias in _command_layout[1] if not alias]


def _as_commands(commands: Any) -> npt.NDArray[np.void]:
    """An EXCHANGE_COMMAND_DTYPE copy of a record array with the same base
    fields, or a TypeError saying what does not match."""
    want = EXCHANGE_COMMAND_DTYPE
    if not isinstance(commands, np.ndarray) or commands.dtype.names is None:
        got = commands.dtype if isinstance(commands, np.ndarray) else type(commands).__name__
        raise TypeError(f"commands must be a numpy array of EXCHANGE_COMMAND_DTYPE records, not {got}")
    fields = commands.dtype.fields
    assert fields is not None
    assert want.fields is not None
    missing = sorted(set(_BASE_FIELDS) - set(fields))
    if missing:
        raise TypeError(f"commands' fields do not match EXCHANGE_COMMAND_DTYPE: missing {missing}")
    for name in _BASE_FIELDS:
        if fields[name][0].base != want.fields[name][0].base:
            raise TypeError(
                f"commands' field {name!r} is {fields[name][0]}, EXCHANGE_COMMAND_DTYPE has "
                f"{want.fields[name][0]}"
            )
    out = np.zeros(commands.shape, dtype=want)
    for name in _BASE_FIELDS:
        out[name] = commands[name]
    return out


_exchange._register(EXCHANGE_COMMAND_DTYPE, EXCHANGE_EVENT_DTYPE, _as_commands, ExchangeRejectReason)


@dataclass(frozen=True, slots=True)
class Balance:
    """A user's balance of one asset in its minor units: ``total`` (posted),
    ``held`` by open orders, ``available`` = total - held."""

    total: int
    held: int
    available: int


@dataclass(frozen=True, slots=True)
class OrderHold:
    """What an open order holds: ``hold`` of ``asset`` for ``remaining`` open lots."""

    user: int
    symbol: int
    asset: int
    hold: int
    remaining: int


@dataclass(frozen=True, slots=True)
class InvariantReport:
    """The first broken invariant (``violation`` NONE and an empty message when all hold)."""

    violation: Violation
    user: int
    asset: int
    order_id: int
    message: str

    def __bool__(self) -> bool:
        return self.violation == Violation.NONE


class Exchange(ExchangeBase):
    """Balance holds wired into matching (docs/exchange.md).

    Capacities are fixed at construction: ``max_users``, ``max_assets``,
    ``max_symbols``, ``max_orders`` open orders, ``max_levels`` price levels
    and ``id_history`` finished order ids (the matching engine's),
    ``max_accounts`` ledger accounts (one per user and asset, three per
    asset) and ``max_transfers`` stored deposits and withdrawals.

    Per-call methods (``place``, ``cancel``, ``amend``, ``mass_cancel``,
    ``deposit``, ``withdraw``, the configuration commands) return an
    ExchangeReport; bad argument types raise TypeError, out-of-range integers
    ValueError, and business failures are reject reasons in the report.
    ``process`` applies a numpy batch with the GIL released and never raises
    mid-batch (a bad record becomes a REJECTED event); a stamped seq out of
    place raises SequenceError before anything is applied.

    Single writer: not thread-safe. While ``process`` runs (or a Runner drives
    the exchange), every other call on it raises RuntimeError.
    """

    __slots__ = ()

    COMMAND_DTYPE = EXCHANGE_COMMAND_DTYPE
    EVENT_DTYPE = EXCHANGE_EVENT_DTYPE

    def __init__(
        self,
        *,
        max_users: int = 1 << 16,
        max_assets: int = 64,
        max_symbols: int = 256,
        max_orders: int = 1 << 20,
        max_levels: int = 1 << 18,
        id_history: int = 1 << 20,
        max_accounts: int = 1 << 20,
        max_transfers: int = 1 << 20,
    ) -> None:
        super().__init__(
            max_users=max_users,
            max_assets=max_assets,
            max_symbols=max_symbols,
            max_orders=max_orders,
            max_levels=max_levels,
            id_history=id_history,
            max_accounts=max_accounts,
            max_transfers=max_transfers,
        )

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> Journal:
        """Opens the journal in directory ``path`` (creating it unless
        ``create=False``) over a new Exchange built with the capacities among
        ``options``, recovered from it: the newest valid snapshot, then a
        replay of every command after it. The other options are
        `Journal.open`'s (durability, keys, key_id, ...). Returns the
        `Journal`; the exchange is ``journal.machine``. Journal errors as
        `Journal.open`."""
        from shanraq_core.journal import Journal, split_options

        journal_options, capacities = split_options(options)
        return Journal.open(path, cls(**capacities), **journal_options)

    def balance(self, user: int, asset: int) -> Balance:
        """The user's balance of the asset; ValueError if either is unknown."""
        b = self._balance(user, asset)
        if b is None:
            raise ValueError(f"unknown user {user} or asset {asset}")
        return Balance(*b)

    def order_hold(self, order_id: int) -> OrderHold | None:
        """What an open order holds, or None if it is not open."""
        h = self._order_hold(order_id)
        return None if h is None else OrderHold(*h)

    def check_invariants(self) -> InvariantReport:
        """Checks every invariant (docs/exchange.md) and reports the first violation."""
        v, user, asset, order_id, message = self._check_invariants()
        return InvariantReport(Violation(v), user, asset, order_id, message)
