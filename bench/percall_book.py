"""Per-call cost of the matching engine's Python API against the cheapest call
of the same object, measured side by side in one process, and an A/B of the
batch path against another build of the book extension loaded beside this one.

    python bench/percall_book.py                       # per-call ratios
    python bench/percall_book.py --ab OTHER_BOOK_SO    # and the batch A/B

Per call (issue: "a submit of a resting order costs 5-11x a trivial method
call of the same object (has_symbol) measured in the same loop, and a crossing
submit with one trade 9-12x; bring these to at most 3x and 5x"): every round
times, interleaved on one engine holding exchange-core's book (1,000 resting
orders, bench/book_data.py), N calls of each of
* has_symbol(1): the floor (argument conversion, one C++ call, a bool back);
* a resting submit: a passive limit order joining an existing level;
* a crossing submit: a limit order that takes one resting order of equal
  size in full (one trade), the maker placed beforehand (not timed);
the orders placed are cancelled between rounds (not timed), so every round
sees the same book. Each figure is the median over rounds of ns per call
(thread CPU time), and the ratios are of those medians.

Batch A/B: process() of the exchange-core run (200,000 commands) on a fresh
filled engine of each build, runs alternating, median commands/s over thread
CPU time. OTHER_BOOK_SO is another build's shanraq_core/_core/book*.so (e.g.
the previous commit's, from `pip wheel . -w DIR` in a git worktree of it, or a
copy kept before rebuilding); its own layouts decide the records it is fed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads would spin on a 2-core machine

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.book_data import MID, filled_engine, workload
from shanraq_core import Side

N = 2_000
ROUNDS = 41


def per_call(rounds: int = ROUNDS, n: int = N, engine: Any = None) -> dict[str, float]:
    e = filled_engine(1, 1000) if engine is None else engine
    assert e.max_orders >= 1000 + n + 1, "the book must hold every order a round places"
    has, submit, cancel = e.has_symbol, e.submit, e.cancel
    buy, sell = Side.BUY, Side.SELL
    clock = time.thread_time_ns
    out: dict[str, list[float]] = {"has_symbol": [], "resting submit": [], "crossing submit": []}
    next_id = 1 << 40
    for _ in range(rounds):
        ids = range(next_id, next_id + n)
        makers = range(next_id + n, next_id + 2 * n)
        takers = range(next_id + 2 * n, next_id + 3 * n)
        next_id += 3 * n
        t = clock()
        for _oid in ids:
            has(1)
        out["has_symbol"].append((clock() - t) / n)
        t = clock()
        for oid in ids:
            submit(oid, 1, buy, MID - 300, 10)
        out["resting submit"].append((clock() - t) / n)
        assert e.live_orders >= 1000 + n - 60, "every resting submit must rest"
        for oid in ids:
            cancel(oid)
        for oid in makers:
            submit(oid, 1, sell, MID, 1)
        t = clock()
        for oid in takers:
            submit(oid, 1, buy, MID, 1)
        out["crossing submit"].append((clock() - t) / n)
        assert e.best_ask(1) != (MID, 1), "every crossing submit must take its maker"
    return {k: statistics.median(v) for k, v in out.items()}


def _old_dtypes(mod: Any) -> tuple[np.dtype[Any], np.dtype[Any]]:
    """The record dtypes of another build, from whichever tables it exports."""
    from shanraq_core._layout import dtype_from_layout

    if hasattr(mod, "layouts"):
        cmd, evt = mod.layouts()
        return dtype_from_layout(cmd), dtype_from_layout(evt)
    out = []
    for layout in (mod.command_layout(), mod.event_layout()):
        size = layout.pop("__size__")
        names = list(layout)
        formats = [
            "<i8" if n in ("time_ns", "price", "qty", "stop_price", "display_qty", "expire_ns", "remaining",
                           "other_remaining")
            else "<u4" if n == "symbol"
            else "<u8" if n in ("seq", "order_id", "account", "other_order_id", "other_account")
            else "u1"
            for n in names
        ]  # fmt: skip
        out.append(
            np.dtype({"names": names, "formats": formats, "offsets": list(layout.values()), "itemsize": size})
        )
    return out[0], out[1]


def _convert(records: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    out = np.zeros(len(records), dtype)
    assert dtype.names is not None
    for name in dtype.names:
        if records.dtype.names is not None and name in records.dtype.names and name != "seq":
            out[name] = records[name]
    return out


def load_other(other_so: str, fill: Any, run: Any) -> tuple[Any, Any, Any]:
    """Another build's book extension loaded beside this one: a factory of its
    engines (capacities as book_data.new_engine's, symbol 1, fill applied) and
    the fill and run converted to its record layout."""
    import importlib.machinery
    import importlib.util

    from shanraq_core import book as new

    loader = importlib.machinery.ExtensionFileLoader("ab_other.book", other_so)
    spec = importlib.util.spec_from_file_location("ab_other.book", other_so, loader=loader)
    assert spec is not None
    other = importlib.util.module_from_spec(spec)
    loader.exec_module(other)
    cmd_dt, evt_dt = _old_dtypes(other)
    if hasattr(other, "layouts"):
        other._register(new.Side, new.OrderState, new.RejectReason, new.CancelReason, cmd_dt, evt_dt, None)
    else:
        other._register(new.Side, new.OrderState, new.RejectReason, new.CancelReason, cmd_dt, evt_dt)
    old_fill, old_run = _convert(fill, cmd_dt), _convert(run, cmd_dt)
    caps = {"max_orders": 4096, "max_symbols": 1, "max_levels": 4096, "id_history": 4096}

    def old_engine() -> Any:
        e = other.MatchingEngineBase(**caps)
        e.add_symbol(1)
        e.process(old_fill)
        return e

    return old_engine, old_fill, old_run


def batch_ab(other_so: str, repeats: int = 9) -> None:
    fill, run = workload(1, 1000)
    old_engine, _old_fill, old_run = load_other(other_so, fill, run)

    def time_one(make: Any, cmds: np.ndarray[Any, Any]) -> float:
        e = make()
        e.process(cmds[:1000])  # warm the event buffer
        e = make()
        c = time.thread_time()
        e.process(cmds)
        return len(cmds) / (time.thread_time() - c)

    r = per_call(engine=old_engine())
    floor = r["has_symbol"]
    print("per call on the other build (same loops):")
    for name, ns in r.items():
        print(f"  {name:16s} {ns:7.1f} ns  {ns / floor:5.2f}x has_symbol")

    rates: dict[str, list[float]] = {"other": [], "this": []}
    for k in range(repeats):
        order = [
            ("other", lambda: time_one(old_engine, old_run)),
            ("this", lambda: time_one(filled_engine, run)),
        ]
        for name, fn in order if k % 2 == 0 else order[::-1]:
            rates[name].append(fn())
    a, b = statistics.median(rates["other"]), statistics.median(rates["this"])
    print(
        f"batch A/B (exchange-core run, {len(run):,} commands, same process, alternating, thread CPU time): "
        f"other build {a / 1e6:.2f} M cmd/s, this build {b / 1e6:.2f} M cmd/s: {b / a:.3f}x"
    )
    print(f"  other: {', '.join(f'{r / 1e6:.2f}' for r in rates['other'])}")
    print(f"  this:  {', '.join(f'{r / 1e6:.2f}' for r in rates['this'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--ab", metavar="OTHER_BOOK_SO", help="batch A/B against another build's book extension")
    args = ap.parse_args()
    r = per_call(args.rounds)
    floor = r["has_symbol"]
    print(f"per call, median of {args.rounds} interleaved rounds of {N:,} calls (thread CPU time):")
    for name, ns in r.items():
        print(f"  {name:16s} {ns:7.1f} ns  {ns / floor:5.2f}x has_symbol")
    if args.ab:
        batch_ab(args.ab)


if __name__ == "__main__":
    main()
