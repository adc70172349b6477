"""Helpers for the replication tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shanraq_core.replication.load import BookLoad
from shanraq_core.replication.records import Batch, seal

#: Generous: these are deadlines for a condition to become true on a busy
#: shared machine, never a bound the test asserts.
PATIENCE = 60.0


def wait_for(cond: Callable[[], Any], what: str, timeout: float = PATIENCE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def book_records(first_seq: int, count: int, epoch: int = 1, seed: int = 0, setup: bool = True) -> np.ndarray:
    """``count`` stamped order-book commands from ``first_seq`` (the first one
    adds the symbol when ``setup``)."""
    load = BookLoad(epoch, seed)
    recs = np.zeros(count, dtype=load.dtype)
    if setup:
        recs[:1] = load.setup()
        recs[1:] = load.orders(count - 1)
    else:
        recs[:] = load.orders(count)
    recs["seq"] = np.arange(first_seq, first_seq + count, dtype=np.uint64)
    recs["time_ns"] = 1_700_000_000_000_000_000 + recs["seq"].astype(np.int64)
    return recs


def sealed(first_seq: int, count: int, prev_chain: bytes, **kw: Any) -> Batch:
    return seal(book_records(first_seq, count, **kw), prev_chain, first_seq=first_seq)
