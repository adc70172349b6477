"""A short latency-histogram demo: times real operations, prints a
percentile table, and shows the interchange and Prometheus forms.

Run with ``python -m shanraq_core``. A later release replaces this with the
full benchmark of matching, ledger and queues.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import numpy as np

from shanraq_core import LatencyHistogram, Recorder, __version__

_PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


def _measure(op: Callable[[], object], n: int) -> LatencyHistogram:
    h = LatencyHistogram()
    clock = time.perf_counter_ns
    record = h.record
    for _ in range(n):
        start = clock()
        op()
        record(clock() - start)
    return h


def _row(name: str, h: LatencyHistogram) -> str:
    ps = h.percentiles(_PERCENTILES)
    cells = "".join(f"{v / 1000:>10.2f}" for v in ps)
    return f"{name:<34}{h.total_count:>9,}{cells}{h.max / 1000:>10.2f}{h.mean / 1000:>10.2f}"


def main() -> int:
    order = {"id": 123456789, "symbol": "KZTUSD", "side": "buy", "price": 4_812_500, "qty": 1_000}
    blob = bytes(range(256))
    ops: list[tuple[str, Callable[[], object], int]] = [
        ("json.dumps(order)", lambda: json.dumps(order), 100_000),
        ("sha256(256 bytes)", lambda: hashlib.sha256(blob).digest(), 100_000),
        ("dict build + lookup", lambda: {"a": 1, "b": 2}["b"], 200_000),
        ("time.sleep(0)", lambda: time.sleep(0), 20_000),
    ]
    print(f"shanraq_core {__version__}: latency histogram demo (microseconds)\n")
    header = "".join(f"{'p' + format(p, 'g'):>10}" for p in _PERCENTILES)
    print(f"{'operation':<34}{'count':>9}{header}{'max':>10}{'mean':>10}")
    total = LatencyHistogram()
    for name, op, n in ops:
        h = _measure(op, n)
        total += h
        print(_row(name, h))

    # The histogram's own cost, measured with itself.
    h = LatencyHistogram()
    clock = time.perf_counter_ns
    scratch = LatencyHistogram()
    for i in range(200_000):
        start = clock()
        scratch.record(1000 + (i & 1023))
        h.record(clock() - start)
    print(_row("LatencyHistogram.record (+clock)", h))
    values = np.random.default_rng(7).lognormal(10.0, 1.0, 10_000_000).astype(np.int64)
    batch = LatencyHistogram()
    runs = []
    for _ in range(5):
        start = time.perf_counter_ns()
        batch.record_many(values)
        runs.append(time.perf_counter_ns() - start)
    elapsed = sorted(runs)[len(runs) // 2]
    print(
        f"\nrecord_many: 10,000,000 values in {elapsed / 1e6:.1f} ms "
        f"({elapsed / 1e7:.2f} ns/value, median of 5)"
    )

    rec = Recorder()
    with total.time():
        rec.record_many(values[:1_000_000])
    print(f"Recorder interval: {rec.interval_histogram().total_count:,} values")
    encoded = total.encode()
    print(f"HdrHistogram V2 encoding of all {total.total_count:,} timings: {len(encoded)} base64 chars")
    assert LatencyHistogram.decode(encoded).total_count == total.total_count
    print("\nPrometheus exposition (first lines):")
    text = total.to_prometheus("demo_op_latency_seconds", "Demo operation latency", quantiles=[0.99])
    lines = text.splitlines()
    print("\n".join([*lines[:6], "...", *lines[-4:]]))
    return 0
