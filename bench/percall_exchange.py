"""Per-call cost of the exchange's Python API against a trivial method call of
the same object, side by side in one loop, and the batch path against the
bare matching engine on the same commands in the same process.

    python bench/percall_exchange.py

Per call (issue 10: "a resting place at most 3x a trivial method call of the
same object, measured in the same loop"): each round times, interleaved on
one exchange holding exchange-core's book, N calls of
* ping(): the floor (the busy-flag check, no argument, None back);
* has_symbol(1): one converted argument, one C++ query (the book's
  per-call figures use this one as their trivial call);
* a resting place: a passive limit buy joining an existing level (it holds
  quote for its price x qty + the worst fee);
* the bare engine's resting submit of the same order, for reference;
the orders are cancelled between rounds (not timed). Figures are medians over
rounds of ns per call (thread CPU time); ratios are of those medians.

Batch: process() of the exchange-core run on a fresh filled exchange and a
fresh filled engine, alternating, median commands/s over thread CPU time.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.book_data import MID, filled_engine
from bench.exchange_data import SYMBOL, exchange_workload, filled_exchange
from shanraq_core import Side

N = 2_000
ROUNDS = 31


def per_call(rounds: int = ROUNDS, n: int = N) -> dict[str, float]:
    _f, _r, xfill, _xrun = exchange_workload(1000)
    x = filled_exchange(xfill)
    e = filled_engine(1, 1000)
    ping, has, place, cancel = x.ping, x.has_symbol, x.place, x.cancel
    submit, bcancel = e.submit, e.cancel
    buy = Side.BUY
    clock = time.thread_time_ns
    out: dict[str, list[float]] = {
        "ping": [],
        "has_symbol": [],
        "resting place": [],
        "book resting submit": [],
    }
    next_id = 1 << 40
    for _ in range(rounds):
        ids = range(next_id, next_id + n)
        next_id += n
        t = clock()
        for _oid in ids:
            ping()
        out["ping"].append((clock() - t) / n)
        t = clock()
        for _oid in ids:
            has(1)
        out["has_symbol"].append((clock() - t) / n)
        t = clock()
        for oid in ids:
            place(7, oid, SYMBOL, buy, MID - 300, 10)
        out["resting place"].append((clock() - t) / n)
        t = clock()
        for oid in ids:
            submit(oid, 1, buy, MID - 300, 10)
        out["book resting submit"].append((clock() - t) / n)
        for oid in ids:
            cancel(7, oid)
            bcancel(oid)
    med = {k: statistics.median(v) for k, v in out.items()}
    med["place / ping"] = med["resting place"] / med["ping"]
    med["place / has_symbol"] = med["resting place"] / med["has_symbol"]
    med["place / book submit"] = med["resting place"] / med["book resting submit"]
    return med


def batch(rounds: int = 5, n_run: int = 200_000) -> dict[str, float]:
    _fill, run, xfill, xrun = exchange_workload(n_run)
    book: list[float] = []
    exch: list[float] = []
    for _ in range(rounds):
        e = filled_engine(1, 1000)
        t = time.thread_time_ns()
        e.process(run)
        book.append(len(run) / (time.thread_time_ns() - t) * 1e3)
        x = filled_exchange(xfill)
        t = time.thread_time_ns()
        ev = x.process(xrun)
        exch.append(len(xrun) / (time.thread_time_ns() - t) * 1e3)
        assert x.check_invariants(), x.check_invariants().message
        assert (ev["type"] == 3).sum() > 0
    b, x_ = statistics.median(book), statistics.median(exch)
    return {"book M commands/s": b, "exchange M commands/s": x_, "exchange cost / book cost": b / x_}


if __name__ == "__main__":
    for name, v in per_call().items():
        print(f"{name:>24}: {v:8.2f}")
    for name, v in batch().items():
        print(f"{name:>24}: {v:8.2f}")
