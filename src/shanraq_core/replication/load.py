"""Deterministic order-book load for failover tests and measurements.

Order ids are ``epoch << 32 | n``: increasing across leaders (the epoch only
grows), so the engine never refuses a fresh id. Prices wander around 1000 so
orders both rest and trade (the state hash depends on every command).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["BookLoad"]


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
