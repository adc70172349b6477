"""Seeded order flows for the matching-engine benchmarks (bench_book.py and
compare_book.py), the Python twin of cpp/bench/bench_book.cpp's generator.

exchange-core's workload: one symbol, about 1,000 resting orders over about
750 price levels, 1,000 accounts; commands 9% GTC limit (a fifth of them
marketable), 3% IOC, 6% cancel, 82% move (amend price by 1..10 ticks on its
side of the mid). The generator runs the flow through an engine as it goes,
so every cancel and move names a live order and the resting count stays
near its target (adds become cancels above +5%, cancels adds below -5%).
The many-symbol flow does the same over 1,000 symbols of 1,000 orders each,
with Zipf(1) symbol activity. Every generator is deterministic and cached.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core import BOOK_COMMAND_DTYPE, CommandKind, EventType, MatchingEngine, OrderState, TimeInForce

SEED = 20240601
MID = 100_000
HALF_SPREAD = 750

Commands = npt.NDArray[np.void]


class _Gen:
    def __init__(self, symbols: int, per_symbol: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.symbols = symbols
        self.per_symbol = per_symbol
        self.engine = new_engine(symbols, symbols * per_symbol)
        self.live: list[list[int]] = [[] for _ in range(symbols)]
        self.where: dict[int, tuple[int, int]] = {}
        self.next_id = 1
        self.rows: list[tuple[Any, ...]] = []

    def rnd(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def forget(self, oid: int) -> None:
        loc = self.where.pop(oid, None)
        if loc is None:
            return
        s, i = loc
        v = self.live[s]
        last = v.pop()
        if last != oid:
            v[i] = last
            self.where[last] = (s, i)

    def emit(self, kind: int, oid: int, sym: int, side: int, price: int, qty: int, tif: int) -> None:
        account = self.rnd(0, 999)
        self.rows.append((oid, account, price, qty, sym + 1, kind, side, 1 if kind == 1 else 0, tif))
        e = self.engine
        if kind == CommandKind.SUBMIT:
            e.submit(oid, sym + 1, side, price, qty, account=account, tif=tif)
        elif kind == CommandKind.CANCEL:
            e.cancel(oid)
        else:
            e.amend(oid, price=price)
        ev = e.last_events()
        for t, other, orem, rem, o in zip(
            ev["type"].tolist(), ev["other_order_id"].tolist(), ev["other_remaining"].tolist(),
            ev["remaining"].tolist(), ev["order_id"].tolist(), strict=True,
        ):  # fmt: skip
            if t == EventType.TRADE and orem == 0:
                self.forget(other)
            elif t == EventType.CANCELLED and rem == 0:
                self.forget(o)
        if kind == CommandKind.SUBMIT and e.order(oid).state == OrderState.RESTING:
            self.live[sym].append(oid)
            self.where[oid] = (sym, len(self.live[sym]) - 1)

    def passive(self, sym: int, marketable: bool = False) -> None:
        side = self.rnd(1, 2)
        off = self.rnd(1, HALF_SPREAD)
        price = MID - off if side == 1 else MID + off
        if marketable:
            price = MID + self.rnd(0, 10) if side == 1 else MID - self.rnd(0, 10)
        self.emit(CommandKind.SUBMIT, self.next_id, sym, side, price, self.rnd(1, 100), TimeInForce.GTC)
        self.next_id += 1

    def array(self) -> Commands:
        out = np.zeros(len(self.rows), dtype=BOOK_COMMAND_DTYPE)
        fields = ("order_id", "account", "price", "qty", "symbol", "kind", "side", "order_type", "tif")
        for name, column in zip(fields, zip(*self.rows, strict=True), strict=True):
            out[name] = column
        self.rows = []
        out.flags.writeable = False
        return out


def new_engine(symbols: int = 1, resting: int = 1000) -> MatchingEngine:
    """An engine sized for `resting` orders, with symbols 1..symbols."""
    e = MatchingEngine(
        max_orders=max(2 * resting, 4096),
        max_symbols=symbols,
        max_levels=max(symbols * 2 * HALF_SPREAD + 1024, 4096),
        id_history=max(2 * resting, 4096),
    )
    for s in range(1, symbols + 1):
        e.add_symbol(s)
    return e


@functools.cache
def workload(
    symbols: int = 1, per_symbol: int = 1000, n_run: int = 200_000, zipf: float = 0.0
) -> tuple[Commands, Commands]:
    """(fill, run): the commands that build the initial book, and the mix."""
    g = _Gen(symbols, per_symbol, SEED)
    for s in range(symbols):
        while len(g.live[s]) < per_symbol:
            g.passive(s)
    fill = g.array()
    weights = 1.0 / np.arange(1, symbols + 1) ** zipf
    cdf = np.cumsum(weights / weights.sum())
    picks = np.minimum(np.searchsorted(cdf, g.rng.random(n_run)), symbols - 1).tolist()
    rolls = g.rng.integers(0, 100, n_run).tolist()
    for sym, roll in zip(picks, rolls, strict=True):
        r = roll
        n_live = len(g.live[sym])
        if n_live < per_symbol * 95 // 100 and 12 <= r < 18:
            r = 0
        if n_live > per_symbol * 105 // 100 and r < 9:
            r = 12
        if r < 9:
            g.passive(sym, marketable=g.rnd(0, 4) == 0)
        elif r < 12:
            side = g.rnd(1, 2)
            price = MID + g.rnd(0, 20) if side == 1 else MID - g.rnd(0, 20)
            g.emit(CommandKind.SUBMIT, g.next_id, sym, side, price, g.rnd(1, 100), TimeInForce.IOC)
            g.next_id += 1
        elif not g.live[sym]:
            g.passive(sym)
        else:
            oid = g.live[sym][g.rnd(0, len(g.live[sym]) - 1)]
            if r < 18:
                g.emit(CommandKind.CANCEL, oid, sym, 0, 0, 0, 0)
            else:
                info = g.engine.order(oid)
                p = info.price + g.rnd(-10, 10)
                if p == info.price:
                    p += 1
                lo, hi = (MID - HALF_SPREAD, MID - 1) if info.side == 1 else (MID + 1, MID + HALF_SPREAD)
                p = min(max(p, lo), hi)
                if p == info.price:
                    p = p - 1 if info.side == 1 else p + 1
                g.emit(CommandKind.AMEND, oid, sym, 0, p, 0, 0)
    return fill, g.array()


def filled_engine(
    symbols: int = 1, per_symbol: int = 1000, n_run: int = 200_000, zipf: float = 0.0
) -> MatchingEngine:
    """A fresh engine holding the workload's initial book."""
    fill, _ = workload(symbols, per_symbol, n_run, zipf)
    e = new_engine(symbols, symbols * per_symbol)
    e.process(fill)
    return e
