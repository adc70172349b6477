"""Shared pieces of the ring tests: a 64-byte self-checking record, and child
process entry points (module-level so that spawn can import them)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core.queue import MpscRing, SpscRing

# 64-byte record whose `check` and `pad` are functions of (producer, seq), so
# a torn record (half old, half new bytes) fails `intact`.
REC = np.dtype(
    [("producer", "<u4"), ("flags", "<u4"), ("seq", "<u8"), ("check", "<u8"), ("pad", "<u8", (5,))]
)
assert REC.itemsize == 64
_MUL = np.uint64(0x9E3779B97F4A7C15)


# Long enough for any wait in these tests to succeed on a slow, loaded
# machine; a wait that needs it has hung.
PATIENCE = 60.0


def eventually(pred: Callable[[], bool], patience: float = PATIENCE) -> bool:
    """Polls pred() until it holds; False if it never does (a hang)."""
    until = time.monotonic() + patience
    while not pred():
        if time.monotonic() > until:
            return False
        time.sleep(0.0002)
    return True


def unique_name(tag: str) -> str:
    return f"/shq_{tag}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def make_records(producer: int, start: int, n: int) -> npt.NDArray[Any]:
    a = np.zeros(n, REC)
    seq = np.arange(start, start + n, dtype=np.uint64)
    a["producer"] = producer
    a["seq"] = seq
    with np.errstate(over="ignore"):
        a["check"] = (seq * _MUL) ^ np.uint64(producer)
    a["pad"] = (seq ^ np.uint64(producer << 32))[:, None]
    return a


def intact(a: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    seq = a["seq"].astype(np.uint64)
    prod = a["producer"].astype(np.uint64)
    with np.errstate(over="ignore"):
        ok = a["check"] == (seq * _MUL) ^ prod
    return ok & np.all(a["pad"] == (seq ^ (prod << np.uint64(32)))[:, None], axis=1)


def produce(kind: str, name: str, producer: int, n: int, batch: int) -> None:
    """Child: attach and push n records, singly (batch 1) or in batches."""
    cls = SpscRing if kind == "spsc" else MpscRing
    ring = cls.attach(name, REC)
    recs = make_records(producer, 0, n)
    i = 0
    while i < n:
        if batch == 1:
            ring.push(recs[i], timeout=PATIENCE)
            i += 1
        else:
            i += ring.push_many(recs[i : i + batch], timeout=PATIENCE)


# produce_forever's batches (push_many) are this long.
FOREVER_BATCH = 5


def produce_forever(kind: str, name: str, producer: int) -> None:
    """Child: push until killed, alternating single pushes and batches of
    FOREVER_BATCH."""
    cls = SpscRing if kind == "spsc" else MpscRing
    ring = cls.attach(name, REC)
    i = 0
    while True:
        recs = make_records(producer, i, 2 + FOREVER_BATCH)
        ring.push(recs[0])
        ring.push(tuple(recs[1].item()))
        i += 2 + ring.push_many(recs[2:], timeout=None)


def produce_via_pickle(ring: SpscRing | MpscRing, producer: int, n: int) -> None:
    """Child started with spawn: the ring arrives pickled (by name) and attaches."""
    ring.push_many(make_records(producer, 0, n), timeout=PATIENCE)
