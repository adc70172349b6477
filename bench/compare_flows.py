"""Issue 16 from Python: the matching engine per call and in batch against
limit-order-book 3.1.0 per call, on the flows of bench/flows.py, all in one
process, after checking that they end with the same book.

    python bench/compare_flows.py [--rounds 5] [--n 200000] [--flow NAME]

limit-order-book needs Python >= 3.13: run this script with an interpreter
that has both packages (a benchmark environment of its own, e.g. a 3.13
virtualenv with ``pip install limit-order-book==3.1.0`` and this package
built there); without it the limit-order-book rows are left out. It is never
a dependency of this package.

Per call, both engines run the same Python loop over the commands (tuples
prepared beforehand): our ``submit``/``cancel``/``amend`` returning a
``Report``, against limit-order-book's ``limit``/``market``/``cancel``
returning nothing. limit-order-book has no symbols (one book per symbol, the
symbol of a cancel looked up in a list), no amend and no way to read an
order's open quantity from Python, so flows with amends (market-maker,
exchange-core) are not run on it per call. It reports no trades: it is
checked on the final book (every level's volume, each side's order count,
each of our resting ids present). Our per-call engine must end in the same
state (``state_hash``) as our batch one. Figures: median over rounds of ns
per command over thread CPU time, each round running every contender once
on a fresh engine holding the flow's prefill (not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.flows import FLOWS, symbols_of
from shanraq_core import MatchingEngine, OrderType, Side, TimeInForce

try:
    from limit_order_book import LimitOrderBook  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Python < 3.13, or not installed
    LimitOrderBook = None

MARKET = OrderType.MARKET
IOC = TimeInForce.IOC


def fresh_engine(symbols: int, fill: Any) -> MatchingEngine:
    e = MatchingEngine(max_symbols=max(1024, symbols))
    for s in range(1, symbols + 1):
        e.add_symbol(s)
    e.process(fill)
    return e


def as_tuples(cmds: Any) -> list[tuple[int, ...]]:
    cols = [
        cmds[n].tolist()
        for n in ("kind", "order_id", "symbol", "side", "order_type", "price", "qty", "account", "tif")
    ]
    return list(zip(*cols, strict=True))


def ours_per_call(e: MatchingEngine, run: list[tuple[int, ...]]) -> None:
    submit, cancel, amend = e.submit, e.cancel, e.amend
    for kind, oid, sym, side, otype, price, qty, acct, tif in run:
        if kind == 1:
            if otype == 2:
                submit(oid, sym, side, None, qty, account=acct, order_type=MARKET)
            elif tif == 2:
                submit(oid, sym, side, price, qty, account=acct, tif=IOC)
            else:
                submit(oid, sym, side, price, qty, account=acct)
        elif kind == 2:
            cancel(oid)
        else:
            amend(oid, price=price)


def lob_books(symbols: int, fill: list[tuple[int, ...]], sym_of: list[int]) -> list[Any]:
    assert LimitOrderBook is not None
    books = [LimitOrderBook() for _ in range(symbols)]
    lob_per_call(books, fill, sym_of)
    return books


def lob_per_call(books: list[Any], run: list[tuple[int, ...]], sym_of: list[int]) -> None:
    for kind, oid, sym, side, otype, price, qty, _acct, tif in run:
        if kind == 1:
            if otype == 2:
                books[sym - 1].market(side == 1, oid, qty)
            else:
                books[sym - 1].limit(side == 1, oid, qty, price)
                if tif == 2:
                    books[sym - 1].cancel(
                        oid
                    )  # no IOC there: what rests is cancelled (unknown ids are ignored)
        else:
            books[sym_of[oid]].cancel(oid)


def lob_differs(books: list[Any], e: MatchingEngine, symbols: int) -> str:
    for s in range(1, symbols + 1):
        b = books[s - 1]
        for side, vol, count in (
            (Side.BUY, b.volume_buy, b.count_buy),
            (Side.SELL, b.volume_sell, b.count_sell),
        ):
            prices, _qtys, counts = e.depth(s, side, None)
            orders = 0
            for p, n in zip(prices.tolist(), counts.tolist(), strict=True):
                total = sum(e.order(i).remaining for i in e.level_orders(s, side, p))
                if vol(p) != total:
                    return f"symbol {s} {side.name} {p}: volume {vol(p)} vs {total}"
                for i in e.level_orders(s, side, p):
                    if not b.has(i):
                        return f"order {i} missing"
                orders += n
            if count() != orders:
                return f"symbol {s} {side.name}: {count()} orders vs {orders}"
    return ""


def measure(name: str, n: int, rounds: int) -> None:
    fill, run = FLOWS[name](n)
    symbols = symbols_of(name)
    run_t, fill_t = as_tuples(run), as_tuples(fill)
    has_amend = any(t[0] == 3 for t in run_t)
    print(f"\n## {name}: {len(fill)} prefill, {len(run)} timed commands, {symbols} symbol(s)", flush=True)
    # Equivalence first.
    batch = fresh_engine(symbols, fill)
    batch.process(run)
    pc = fresh_engine(symbols, fill)
    ours_per_call(pc, run_t)
    assert pc.state_hash() == batch.state_hash(), "per-call and batch engines differ"
    use_lob = LimitOrderBook is not None and not has_amend
    sym_of: list[int] = []
    if use_lob:
        sym_of = [0] * (max(t[1] for t in fill_t + run_t) + 1)
        for t in fill_t + run_t:
            if t[0] == 1:
                sym_of[t[1]] = t[2] - 1
        books = lob_books(symbols, fill_t, sym_of)
        lob_per_call(books, run_t, sym_of)
        why = lob_differs(books, batch, symbols)
        assert not why, f"limit-order-book ends with another book: {why}"
        print("equivalent: per call = batch (state_hash); limit-order-book's final book = ours", flush=True)
    else:
        print("equivalent: per call = batch (state_hash)", flush=True)
    del batch, pc

    clock = time.thread_time_ns
    rows: dict[str, list[float]] = {
        "has_symbol(1), the floor": [],
        "ours per call": [],
        "ours process() batch": [],
    }
    if use_lob:
        rows["limit-order-book 3.1.0 per call"] = []
    for _ in range(rounds):
        e = fresh_engine(symbols, fill)
        has = e.has_symbol
        t0 = clock()
        for _t in run_t:
            has(1)
        rows["has_symbol(1), the floor"].append((clock() - t0) / len(run_t))
        t0 = clock()
        ours_per_call(e, run_t)
        rows["ours per call"].append((clock() - t0) / len(run_t))
        del e
        e = fresh_engine(symbols, fill)
        t0 = clock()
        e.process(run)
        rows["ours process() batch"].append((clock() - t0) / len(run_t))
        del e
        if use_lob:
            books = lob_books(symbols, fill_t, sym_of)
            t0 = clock()
            lob_per_call(books, run_t, sym_of)
            rows["limit-order-book 3.1.0 per call"].append((clock() - t0) / len(run_t))
            del books
    med = {k: statistics.median(v) for k, v in rows.items()}
    base = med["ours per call"]
    print(
        f"| Python {sys.version.split()[0]} | ns per command (median of {rounds}) | against ours per call |"
    )
    print("| --- | ---: | ---: |")
    for k, v in med.items():
        print(f"| {k} | {v:.0f} | {v / base:.2f} |")
    print(f"ours per call / floor: {base / med['has_symbol(1), the floor']:.2f}x; "
          f"batch speed-up over per call: {base / med['ours process() batch']:.2f}x", end="")  # fmt: skip
    if use_lob:
        lob = med["limit-order-book 3.1.0 per call"]
        print(f"; limit-order-book per call / ours per call: {lob / base:.2f}x")
    else:
        print()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200_000, help="timed commands per flow")
    ap.add_argument("--flow", choices=sorted(FLOWS), action="append")
    a = ap.parse_args(argv)
    if LimitOrderBook is None:
        print("limit-order-book is not importable here (it needs Python >= 3.13): its rows are left out")
    for name in a.flow or list(FLOWS):
        measure(name, a.n, a.rounds)


if __name__ == "__main__":
    main()
