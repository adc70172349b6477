"""Issue 16's seeded order flows, the Python twin of cpp/bench/flows.hpp (the
same algorithm; numpy's random stream, so not the same commands as C++).

* ``trade_heavy(cancels=True)``: one symbol, a mid walking -1/0/+1 tick per
  command; 69.5% passive limits, 2.5% marketable limits (priced through the
  opposite best), 2.5% market orders, 25.5% cancels of live orders (72%
  limit orders in all); 2,000 resting orders prefilled. Without cancels:
  95% passive, 2.5% marketable, 2.5% market.
* ``market_maker()``: one deep symbol (10,000 resting over +-500 ticks), a mid
  moving one tick with probability 1/100; 90% price amends of live orders
  (staying passive), 4% new passive orders, 4% cancels, 2% market orders.
* ``zipf_symbols()``: 1,000 symbols x 1,000 resting (1M), symbols chosen by
  Zipf(1.0), the trade-heavy mix with cancels balanced against adds (46%
  passive, 2.5% marketable, 2.5% market, 49% cancel).
* exchange-core's mix: bench/book_data.py's ``workload``.

Each returns ``(fill, run)`` as read-only ``BOOK_COMMAND_DTYPE`` arrays: fill
builds the initial book, run is timed. Every command is a GTC limit, an IOC
market order, a cancel or a price amend of a live order, so engines without
symbols' specs, STP, icebergs or stops run them too (bench/compare_flows.py).
Generators run the flow through an engine as they go, so cancels and amends
always name a live order. Deterministic and cached per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    CommandKind,
    EventType,
    MatchingEngine,
    OrderState,
    OrderType,
    Side,
)

Commands = npt.NDArray[np.void]
MID = 100_000
GTC, IOC = 1, 2
LIMIT, MARKET = int(OrderType.LIMIT), int(OrderType.MARKET)


class _Tracker:
    """Generates commands through an engine, keeping each symbol's live ids."""

    def __init__(self, symbols: int, max_orders: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.engine = MatchingEngine(
            max_orders=max_orders, max_symbols=symbols, max_levels=1 << 21, id_history=0
        )
        for s in range(1, symbols + 1):
            self.engine.add_symbol(s)
        self.live: list[list[int]] = [[] for _ in range(symbols)]
        self.where: dict[int, tuple[int, int]] = {}
        self.rows: list[tuple[int, ...]] = []
        self.next_id = 1

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

    def submit(self, sym: int, side: int, price: int, qty: int, account: int, market: bool = False) -> None:
        oid = self.next_id
        self.next_id += 1
        e = self.engine
        if market:
            self.rows.append((CommandKind.SUBMIT, oid, sym + 1, side, MARKET, IOC, 0, qty, account))
            e.submit(oid, sym + 1, side, None, qty, account=account, order_type=OrderType.MARKET)
        else:
            self.rows.append((CommandKind.SUBMIT, oid, sym + 1, side, LIMIT, GTC, price, qty, account))
            e.submit(oid, sym + 1, side, price, qty, account=account)
        self._after(e.last_events())
        if e.order(oid).state == OrderState.RESTING:
            self.live[sym].append(oid)
            self.where[oid] = (sym, len(self.live[sym]) - 1)

    def cancel(self, oid: int) -> None:
        self.rows.append((CommandKind.CANCEL, oid, 0, 0, 0, 0, 0, 0, 0))
        self.engine.cancel(oid)
        self._after(self.engine.last_events())

    def amend(self, oid: int, price: int) -> None:
        self.rows.append((CommandKind.AMEND, oid, 0, 0, 0, 0, price, 0, 0))
        self.engine.amend(oid, price=price)
        self._after(self.engine.last_events())

    def _after(self, ev: npt.NDArray[np.void]) -> None:
        for t, oid, other, rem, orem in zip(
            ev["type"].tolist(), ev["order_id"].tolist(), ev["other_order_id"].tolist(),
            ev["remaining"].tolist(), ev["other_remaining"].tolist(), strict=True,
        ):  # fmt: skip
            if t == EventType.TRADE:
                if orem == 0:
                    self.forget(other)
                if rem == 0:
                    self.forget(oid)  # an amended order filled
            elif t == EventType.CANCELLED and rem == 0:
                self.forget(oid)

    def array(self) -> Commands:
        out = np.zeros(len(self.rows), dtype=BOOK_COMMAND_DTYPE)
        names = ("kind", "order_id", "symbol", "side", "order_type", "tif", "price", "qty", "account")
        if self.rows:
            for name, column in zip(names, zip(*self.rows, strict=True), strict=True):
                out[name] = column
        self.rows = []
        out.flags.writeable = False
        return out


def _trade_family(
    symbols: int, prefill: int, n_run: int, mix: tuple[int, int, int], zipf: float, seed: int
) -> tuple[Commands, Commands]:
    t = _Tracker(symbols, symbols * prefill + n_run + 16, seed)
    e, rng = t.engine, t.rng
    mid = [MID] * symbols

    def passive(s: int) -> None:
        side = int(rng.integers(1, 3))
        off = int(rng.integers(1, 51))
        p = mid[s] - off if side == Side.BUY else mid[s] + off
        bid, ask = e.bbo(s + 1)
        if side == Side.BUY and ask is not None:
            p = min(p, ask[0] - 1)
        if side == Side.SELL and bid is not None:
            p = max(p, bid[0] + 1)
        t.submit(s, side, max(p, 1), int(rng.integers(1, 101)), int(rng.integers(0, 1000)))

    for s in range(symbols):
        for _ in range(prefill):
            passive(s)
    fill = t.array()
    if symbols == 1:
        picks = [0] * n_run
    else:
        w = 1.0 / np.arange(1, symbols + 1) ** zipf
        cdf = np.cumsum(w / w.sum())
        picks = np.minimum(np.searchsorted(cdf, rng.random(n_run)), symbols - 1).tolist()
    steps = rng.integers(-1, 2, n_run).tolist()
    rolls = rng.integers(0, 1000, n_run).tolist()
    p_passive, p_marketable, p_market = mix
    for s, step, r in zip(picks, steps, rolls, strict=True):
        mid[s] += step
        if r < p_passive:
            passive(s)
        elif r < p_passive + p_marketable:
            side = int(rng.integers(1, 3))
            bid, ask = e.bbo(s + 1)
            if side == Side.BUY:
                p = (ask[0] if ask is not None else mid[s]) + int(rng.integers(0, 3))
            else:
                p = (bid[0] if bid is not None else mid[s]) - int(rng.integers(0, 3))
            t.submit(s, side, max(p, 1), int(rng.integers(1, 101)), int(rng.integers(0, 1000)))
        elif r < p_passive + p_marketable + p_market:
            t.submit(
                s, int(rng.integers(1, 3)), 0, int(rng.integers(1, 101)), int(rng.integers(0, 1000)), True
            )
        elif not t.live[s]:
            passive(s)
        else:
            t.cancel(t.live[s][int(rng.integers(0, len(t.live[s])))])
    return fill, t.array()


@functools.cache
def trade_heavy(cancels: bool = True, n_run: int = 200_000, seed: int = 16001) -> tuple[Commands, Commands]:
    mix = (695, 25, 25) if cancels else (950, 25, 25)
    return _trade_family(1, 2000, n_run, mix, 0.0, seed)


@functools.cache
def zipf_symbols(
    n_run: int = 200_000, symbols: int = 1000, per_symbol: int = 1000, seed: int = 16003
) -> tuple[Commands, Commands]:
    return _trade_family(symbols, per_symbol, n_run, (460, 25, 25), 1.0, seed)


@functools.cache
def market_maker(n_run: int = 200_000, resting: int = 10_000, seed: int = 16002) -> tuple[Commands, Commands]:
    t = _Tracker(1, resting + n_run + 16, seed)
    e, rng = t.engine, t.rng
    mid = MID

    def quote(side: int) -> int:
        p = mid - int(rng.integers(1, 501)) if side == Side.BUY else mid + int(rng.integers(1, 501))
        bid, ask = e.bbo(1)
        if side == Side.BUY and ask is not None:
            p = min(p, ask[0] - 1)
        if side == Side.SELL and bid is not None:
            p = max(p, bid[0] + 1)
        return max(p, 1)

    def add() -> None:
        side = int(rng.integers(1, 3))
        t.submit(0, side, quote(side), int(rng.integers(1, 11)) * 10, int(rng.integers(0, 100)))

    for _ in range(resting):
        add()
    fill = t.array()
    moves = rng.integers(0, 100, n_run).tolist()
    rolls = rng.integers(0, 100, n_run).tolist()
    for move, r in zip(moves, rolls, strict=True):
        if move == 0:
            mid += 1 if rng.integers(0, 2) else -1
        live = t.live[0]
        if r < 4 or not live:
            add()
        elif r < 6:
            t.submit(
                0, int(rng.integers(1, 3)), 0, int(rng.integers(1, 11)) * 10, int(rng.integers(0, 100)), True
            )
        else:
            oid = live[int(rng.integers(0, len(live)))]
            if r < 10:
                t.cancel(oid)
            else:
                info = e.order(oid)
                assert info is not None
                assert info.side is not None
                p = quote(int(info.side))
                if p == info.price:
                    p += -1 if info.side == Side.BUY else 1
                t.amend(oid, p)
    return fill, t.array()


def exchange_core(n_run: int = 200_000) -> tuple[Commands, Commands]:
    from .book_data import workload

    return workload(1, 1000, n_run)


FLOWS: dict[str, Callable[[int], tuple[Commands, Commands]]] = {
    "trade_heavy": lambda n: trade_heavy(True, n),
    "trade_heavy_no_cancels": lambda n: trade_heavy(False, n),
    "market_maker": lambda n: market_maker(n),
    "zipf_1000_symbols": lambda n: zipf_symbols(n),
    "exchange_core": lambda n: exchange_core(n),
}


def symbols_of(name: str) -> int:
    return 1000 if name.startswith("zipf") else 1
