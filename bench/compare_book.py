"""One-process measurement of the matching engine against the issue's bars and
the pure-Python reference matcher.

    python bench/compare_book.py                  # print the table
    python bench/compare_book.py --quick          # fewer repeats

Everything runs in this one process, medians of several repeats (the machine
is shared and noisy):
* batch: ``process`` over the exchange-core mix (wall-clock and thread-CPU rates) (200,000 commands on a
  1,000-order book) and the 1,000-symbol Zipf mix (1M resting orders);
  a fresh, filled engine per repeat, after one warm-up batch;
* per call: loops of 10,000 ``submit`` (passive), ``cancel`` and ``amend``
  (price move) calls, ops/s; and each call timed alone with
  ``time.perf_counter_ns`` into a LatencyHistogram for P50/P99 (the figures
  include one clock read, reported as ``timer``);
* the binding floor: the cheapest method (``has_symbol``) and a command that
  only builds its report (``cancel`` of an unknown id), same loops;
* the reference matcher on 5,000 commands of the same mix, against the engine
  on the same slice;
* resident memory per resting order: RSS growth while 1M orders come to rest
  over 1,000 symbols, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.book_data import MID, filled_engine, workload
from shanraq_core import LatencyHistogram, Side

N_RUN = 200_000
N_CALLS = 10_000
N_REFERENCE = 5_000


def batch(symbols: int, zipf: float, repeats: int) -> tuple[float, float]:
    """Median commands/s over wall-clock time and over this thread's CPU time
    (on a shared machine the wall clock also counts other processes' turns)."""
    _, run = workload(symbols, 1000, N_RUN, zipf)
    filled_engine(symbols, 1000, N_RUN, zipf).process(run)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        e = filled_engine(symbols, 1000, N_RUN, zipf)
        gc.collect()
        c = time.thread_time()
        t = time.perf_counter()
        e.process(run)
        wall.append(len(run) / (time.perf_counter() - t))
        cpu.append(len(run) / (time.thread_time() - c))
    return statistics.median(wall), statistics.median(cpu)


def per_call(repeats: int) -> dict[str, tuple[float, int, int]]:
    """ops/s (loop), P50 and P99 ns (each call timed alone) per operation."""
    out: dict[str, list[float]] = {"submit": [], "cancel": [], "amend": []}
    hists = {k: LatencyHistogram() for k in out}
    next_id = 10_000_000
    offsets = [1 + (i * 7919) % 700 for i in range(N_CALLS)]
    clock = time.perf_counter_ns
    for _ in range(repeats):
        e = filled_engine(1, 1000, N_RUN)
        submit, cancel, amend = e.submit, e.cancel, e.amend
        ids = list(range(next_id, next_id + N_CALLS))
        next_id += N_CALLS
        t = time.perf_counter()
        for oid, off in zip(ids, offsets, strict=True):
            submit(oid, 1, Side.BUY, MID - off, 10)
        out["submit"].append(N_CALLS / (time.perf_counter() - t))
        t = time.perf_counter()
        for k, off in enumerate(offsets):
            amend(ids[k], price=MID - 1 - (off + 3) % 700)
        out["amend"].append(N_CALLS / (time.perf_counter() - t))
        t = time.perf_counter()
        for oid in ids:
            cancel(oid)
        out["cancel"].append(N_CALLS / (time.perf_counter() - t))
        # The same calls again, each timed alone.
        ids = list(range(next_id, next_id + N_CALLS))
        next_id += N_CALLS
        hs, ha, hc = hists["submit"], hists["amend"], hists["cancel"]
        for oid, off in zip(ids, offsets, strict=True):
            t0 = clock()
            submit(oid, 1, Side.BUY, MID - off, 10)
            hs.record(clock() - t0)
        for k, off in enumerate(offsets):
            t0 = clock()
            amend(ids[k], price=MID - 1 - (off + 3) % 700)
            ha.record(clock() - t0)
        for oid in ids:
            t0 = clock()
            cancel(oid)
            hc.record(clock() - t0)
    return {
        k: (statistics.median(v), hists[k].value_at_percentile(50.0), hists[k].value_at_percentile(99.0))
        for k, v in out.items()
    }


def binding_floor(repeats: int) -> tuple[float, float]:
    """ns per call of the cheapest method taking an int (has_symbol) and of a
    command that does nothing but build its Report (cancel of an unknown id),
    in the same kind of loop as the per-call figures."""
    e = filled_engine(1, 1000, N_RUN)
    has, cancel = e.has_symbol, e.cancel
    ids = list(range(1 << 40, (1 << 40) + N_CALLS))
    floor, report = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for oid in ids:
            has(oid & 0xFFFF)
        floor.append((time.perf_counter() - t) / N_CALLS * 1e9)
        t = time.perf_counter()
        for oid in ids:
            cancel(oid)
        report.append((time.perf_counter() - t) / N_CALLS * 1e9)
    return statistics.median(floor), statistics.median(report)


def reference_ratio(repeats: int) -> tuple[float, float]:
    """(reference commands/s, engine commands/s) on the same 5,000 commands."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.book_reference import ReferenceEngine

    fill, run = workload(1, 1000, N_RUN)
    names = run.dtype.names or ()
    fill_d = [dict(zip(names, map(int, r), strict=True)) for r in fill.tolist()]
    run_d = [dict(zip(names, map(int, r), strict=True)) for r in run[:N_REFERENCE].tolist()]
    ref_rates, eng_rates = [], []
    for _ in range(repeats):
        ref = ReferenceEngine(max_orders=4096, max_symbols=1, max_levels=4096, id_history=4096)
        ref.add_symbol(1)
        for c in fill_d:
            ref.apply(c)
        t = time.perf_counter()
        for c in run_d:
            ref.apply(c)
        ref_rates.append(N_REFERENCE / (time.perf_counter() - t))
        e = filled_engine(1, 1000, N_RUN)
        t = time.perf_counter()
        e.process(run[:N_REFERENCE])
        eng_rates.append(N_REFERENCE / (time.perf_counter() - t))
    return statistics.median(ref_rates), statistics.median(eng_rates)


_MEMORY_CHILD = """
import os, sys, numpy as np
from shanraq_core import BOOK_COMMAND_DTYPE, MatchingEngine
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
with open(sys.argv[1], 'rb') as f:
    fill = np.frombuffer(f.read(), BOOK_COMMAND_DTYPE)
e = MatchingEngine(max_symbols=1000, max_levels=1 << 21)
for s in range(1, 1001):
    e.add_symbol(s)
before = rss()
e.process(fill)
print((rss() - before) / e.live_orders, e.live_orders)
"""


def memory_per_order() -> tuple[float, int]:
    """RSS growth per resting order while 1M orders come to rest, measured in
    a fresh interpreter (this one's freed memory would blur it), with the
    engine's default capacities except max_levels."""
    fill, _ = workload(1000, 1000, N_RUN, 1.0)
    with tempfile.TemporaryDirectory() as d:
        # Raw records: np.save cannot write a dtype with overlapping (alias) fields.
        path = os.path.join(d, "fill.bin")
        with open(path, "wb") as f:
            f.write(fill.tobytes())
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, path], check=True, capture_output=True, text=True
        ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    clock_cost = statistics.median(
        [-(time.perf_counter_ns() - time.perf_counter_ns()) for _ in range(10_000)]
    )
    ec = batch(1, 0.0, repeats)
    many = batch(1000, 1.0, max(2, repeats // 2))
    calls = per_call(repeats)
    ref, eng = reference_ratio(max(2, repeats // 2))
    mem, n = memory_per_order()
    bar = ">= 10 M cmd/s"
    rows = [
        ("batch, exchange-core mix (wall clock)", f"{ec[0] / 1e6:.2f} M cmd/s", bar, ec[0] >= 10e6),
        ("batch, exchange-core mix (thread CPU time)", f"{ec[1] / 1e6:.2f} M cmd/s", bar, ec[1] >= 10e6),
        ("batch, 1,000 symbols / 1M resting (wall)", f"{many[0] / 1e6:.2f} M cmd/s", "(growth)", None),
        ("batch, 1,000 symbols / 1M resting (CPU)", f"{many[1] / 1e6:.2f} M cmd/s", "(growth)", None),
    ]
    for k, (ops, p50, p99) in calls.items():
        rows.append(
            (
                f"per call {k}",
                f"{ops / 1e6:.2f} M ops/s (P50 {p50} ns, P99 {p99} ns)",
                ">= 2 M ops/s",
                ops >= 2e6,
            )
        )
    floor, report = binding_floor(repeats)
    rows.append(("binding floor: has_symbol(int), loop", f"{floor:.0f} ns/call", "", None))
    rows.append(("command + Report, no work: cancel(unknown id), loop", f"{report:.0f} ns/call", "", None))
    rows.append(("reference matcher (pure Python)", f"{ref / 1e3:.1f} k cmd/s", "baseline", None))
    rows.append(("engine / reference, same 5,000 commands", f"{eng / ref:.0f}x", "", None))
    rows.append((f"RSS per resting order ({n:,} orders)", f"{mem:.0f} B", "<= 128 B", mem <= 128))
    print(f"per-call timer (perf_counter_ns pair): {clock_cost:.0f} ns, included in P50/P99")
    print("| measurement | median | bar | met |")
    print("| --- | --- | --- | --- |")
    for name, value, bar, met in rows:
        print(f"| {name} | {value} | {bar} | {'' if met is None else ('yes' if met else 'NO')} |")


if __name__ == "__main__":
    main()
