"""Deterministic load for failover tests and measurements: order-book
commands (``BookLoad``) or exchange commands (``ExchangeLoad``: the same
orders, with the users, assets and deposits whose holds they need).

Order ids (and the exchange's deposit ids) are ``epoch << 32 | n``:
increasing across leaders (the epoch only grows), so the engine never
refuses a fresh id. Prices wander around 1000 so orders both rest and trade
(the state hash depends on every command).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LOADS", "BookLoad", "ExchangeLoad", "make_load"]


class BookLoad:
    def __init__(self, epoch: int, seed: int = 0) -> None:
        from shanraq_core.book import BOOK_COMMAND_DTYPE

        self.dtype = BOOK_COMMAND_DTYPE
        self.epoch = epoch
        self.n = 0
        self.rng = np.random.default_rng([seed, epoch])

    def setup(self) -> npt.NDArray[Any]:
        """ADD_SYMBOL 1 (a repeat is rejected DUPLICATE_SYMBOL: harmless)."""
        c = np.zeros(1, dtype=self.dtype)
        c["kind"] = 6
        c["symbol"] = 1
        c["tick_size"] = 1
        c["lot_size"] = 1
        c["min_price"] = 1
        c["max_price"] = 1_000_000
        c["max_qty"] = 1_000_000
        return c

    def orders(self, count: int) -> npt.NDArray[Any]:
        c = np.zeros(count, dtype=self.dtype)
        c["kind"] = 1
        c["symbol"] = 1
        c["side"] = self.rng.integers(1, 3, count)
        c["order_type"] = 1
        c["tif"] = 1
        c["order_id"] = (self.epoch << 32) | np.arange(self.n + 1, self.n + 1 + count, dtype=np.uint64)
        c["account"] = self.rng.integers(1, 50, count)
        c["price"] = 1000 + self.rng.integers(-20, 21, count)
        c["qty"] = self.rng.integers(1, 10, count)
        self.n += count
        return c


class ExchangeLoad:
    """Asset 1 (base) and 2 (quote), symbol 1 between them without fees, users
    1..49 each given ``DEPOSIT`` of both assets on every new leadership, then
    limit orders as `BookLoad`'s. A repeated setup is harmless: the assets,
    symbol and users already there are rejected as duplicates, the deposits
    (fresh ids) add money."""

    USERS = 49
    DEPOSIT = 10_000_000_000

    def __init__(self, epoch: int, seed: int = 0) -> None:
        from shanraq_core.exchange import EXCHANGE_COMMAND_DTYPE

        self.dtype = EXCHANGE_COMMAND_DTYPE
        self.epoch = epoch
        self.n = 0
        self.rng = np.random.default_rng([seed, epoch])

    def setup(self) -> npt.NDArray[Any]:
        from shanraq_core.exchange import ExchangeCommandKind as K

        users = np.arange(1, self.USERS + 1, dtype=np.uint64)
        c = np.zeros(3 + 3 * self.USERS, dtype=self.dtype)
        c["kind"][:2] = K.ADD_ASSET
        c["asset"][:2] = (1, 2)
        s = c[2:3]
        s["kind"] = K.ADD_SYMBOL
        s["symbol"] = 1
        s["asset"] = 1
        s["user"] = 2  # quote asset; maker and taker fees (bits 32.., 48..) 0
        s["order_id"] = 1 | 1 << 32  # base and quote scales
        s["price"] = 1  # tick size
        s["qty"] = 1  # lot size
        s["stop_price"] = 1  # min price
        s["display_qty"] = 1_000_000  # max price
        s["expire_ns"] = 1_000_000  # max qty
        u = c[3 : 3 + self.USERS]
        u["kind"] = K.ADD_USER
        u["user"] = users
        d = c[3 + self.USERS :]
        d["kind"] = K.DEPOSIT
        d["user"] = np.concatenate([users, users])
        d["asset"] = np.repeat(np.array([1, 2], dtype=np.uint64), self.USERS)
        d["order_id"] = (self.epoch << 32) | np.arange(1, 2 * self.USERS + 1, dtype=np.uint64)
        d["qty"] = self.DEPOSIT
        return c

    def orders(self, count: int) -> npt.NDArray[Any]:
        from shanraq_core.exchange import ExchangeCommandKind as K

        c = np.zeros(count, dtype=self.dtype)
        c["kind"] = K.PLACE
        c["symbol"] = 1
        c["side"] = self.rng.integers(1, 3, count)
        c["order_type"] = 1
        c["tif"] = 1
        c["order_id"] = (self.epoch << 32) | np.arange(self.n + 1, self.n + 1 + count, dtype=np.uint64)
        c["user"] = self.rng.integers(1, self.USERS + 1, count)
        c["price"] = 1000 + self.rng.integers(-20, 21, count)
        c["qty"] = self.rng.integers(1, 10, count)
        self.n += count
        return c


#: Machine name (replication.node.MACHINES) -> its load.
LOADS: dict[str, type[BookLoad] | type[ExchangeLoad]] = {"book": BookLoad, "exchange": ExchangeLoad}


def make_load(machine: str, epoch: int, seed: int = 0) -> BookLoad | ExchangeLoad:
    try:
        return LOADS[machine](epoch, seed)
    except KeyError:
        raise ValueError(f"no load for machine {machine!r}; loads exist for {sorted(LOADS)}") from None
