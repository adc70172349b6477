"""Ring benchmarks: asv classes, and a one-process comparison with
multiprocessing.Queue and faster-fifo (when installed: ``pip install faster-fifo``).

    python -m bench.bench_queue                                  # prints the comparison
    python -m bench.bench_queue --json docs/plots/queue_roundtrip.json   # ... and saves it

Records are 64 bytes (a numpy structured dtype; the baselines carry the same
64 bytes as a ``bytes`` object, which they pickle). "Cross-process" means a
forked producer (or echo) process and the benchmark process as consumer,
through a named shared-memory ring. Every figure of one run comes from the
same process on the same machine state, so the ratios are meaningful even
when the absolute numbers move with the load.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pathlib
import platform
import time
import uuid
from typing import Any

import numpy as np

from shanraq_core import MpmcRing, MpscRing, SpscRing

from .machine import cpu_model

try:
    import faster_fifo
except ImportError:  # optional baseline
    faster_fifo = None

REC = np.dtype([("id", "<u8"), ("ts", "<i8"), ("payload", "<u8", (6,))])
assert REC.itemsize == 64
FORK = mp.get_context("fork")
WAITS = ("spin", "yield", "blocking")
#: Percentiles saved for the latency plot (docs/plots/plot_queue_latency.py).
PERCENTILES = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)


def _name(tag: str) -> str:
    return f"/shq_bench_{tag}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


# ---- child processes --------------------------------------------------------------
def _produce_single(name: str, n: int) -> None:
    ring = SpscRing.attach(name)
    rec = np.zeros(1, REC)[0].tobytes()
    push = ring.push
    for _ in range(n):
        push(rec)


def _produce_batched(name: str, n: int, batch: int) -> None:
    ring = SpscRing.attach(name)
    arr = np.zeros(batch, REC)
    sent = 0
    while sent < n:
        sent += ring.push_many(arr[: min(batch, n - sent)], timeout=None)


def _echo(there: str, back: str, n: int, wait: str) -> None:
    a, b = SpscRing.attach(there, wait=wait), SpscRing.attach(back, wait=wait)  # type: ignore[arg-type]
    for _ in range(n):
        b.push(a.pop())


def _mpq_produce(q: Any, n: int) -> None:
    rec = np.zeros(1, REC)[0].tobytes()
    for _ in range(n):
        q.put(rec)


def _mpq_echo(there: Any, back: Any, n: int) -> None:
    for _ in range(n):
        back.put(there.get())


def _ff_produce(q: Any, n: int) -> None:
    rec = np.zeros(1, REC)[0].tobytes()
    for _ in range(n):
        q.put(rec, timeout=60)


def _ff_produce_batched(q: Any, n: int, batch: int) -> None:
    recs = [np.zeros(1, REC)[0].tobytes()] * batch
    sent = 0
    while sent < n:
        k = min(batch, n - sent)
        q.put_many(recs[:k], timeout=60)
        sent += k


def _ff_echo(there: Any, back: Any, n: int) -> None:
    for _ in range(n):
        back.put(there.get(timeout=60), timeout=60)


# ---- measurements -------------------------------------------------------------------
def ring_single_rate(n: int = 400_000) -> float:
    name = _name("single")
    ring = SpscRing.create(name, 4096, REC)
    p = FORK.Process(target=_produce_single, args=(name, n))
    t0 = time.perf_counter()
    p.start()
    pop = ring.pop
    for _ in range(n):
        pop()
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def ring_batched_rate(n: int = 20_000_000, batch: int = 4096, view: bool = False) -> float:
    """Records/s from a forked push_many producer, consumed with pop_many
    (copies) or, with `view`, pop_view (reads in place; each view is dropped
    before the next pop)."""
    name = _name("batch")
    ring = SpscRing.create(name, 16384, REC)
    p = FORK.Process(target=_produce_batched, args=(name, n, batch))
    t0 = time.perf_counter()
    p.start()
    got = 0
    checksum = 0
    pop = ring.pop_view if view else ring.pop_many
    while got < n:
        out = pop(batch)
        got += len(out)
        if len(out):
            checksum += int(out["id"][0])  # touch the records, as a consumer would
        del out
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def ring_pingpong(n: int = 20_000, wait: str = "blocking") -> np.ndarray[Any, np.dtype[np.float64]]:
    """Round trips in ns: push a record, the echo process pops it and pushes
    it back on a second ring, pop it; both sides use wait strategy `wait`."""
    there, back = _name("there"), _name("back")
    a = SpscRing.create(there, 64, REC, wait=wait)  # type: ignore[arg-type]
    b = SpscRing.create(back, 64, REC, wait=wait)  # type: ignore[arg-type]
    p = FORK.Process(target=_echo, args=(there, back, n, wait))
    p.start()
    rec = np.zeros(1, REC)[0].tobytes()
    rt = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        a.push(rec)
        b.pop()
        rt[i] = time.perf_counter_ns() - t0
    p.join()
    return rt


def mpq_single_rate(n: int = 100_000) -> float:
    q: Any = FORK.Queue(4096)
    p = FORK.Process(target=_mpq_produce, args=(q, n))
    t0 = time.perf_counter()
    p.start()
    for _ in range(n):
        q.get()
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def mpq_pingpong(n: int = 5_000) -> np.ndarray[Any, np.dtype[np.float64]]:
    there: Any = FORK.Queue()
    back: Any = FORK.Queue()
    p = FORK.Process(target=_mpq_echo, args=(there, back, n))
    p.start()
    rec = np.zeros(1, REC)[0].tobytes()
    rt = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        there.put(rec)
        back.get()
        rt[i] = time.perf_counter_ns() - t0
    p.join()
    return rt


def ff_single_rate(n: int = 100_000) -> float:
    q = faster_fifo.Queue(max_size_bytes=1 << 20)
    p = FORK.Process(target=_ff_produce, args=(q, n))
    t0 = time.perf_counter()
    p.start()
    for _ in range(n):
        q.get(timeout=60)
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def ff_batched_rate(n: int = 2_000_000, batch: int = 4096) -> float:
    q = faster_fifo.Queue(max_size_bytes=16 << 20)
    p = FORK.Process(target=_ff_produce_batched, args=(q, n, batch))
    t0 = time.perf_counter()
    p.start()
    got = 0
    while got < n:
        got += len(q.get_many(timeout=60, max_messages_to_get=batch))
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def ff_pingpong(n: int = 5_000) -> np.ndarray[Any, np.dtype[np.float64]]:
    there = faster_fifo.Queue(max_size_bytes=1 << 20)
    back = faster_fifo.Queue(max_size_bytes=1 << 20)
    p = FORK.Process(target=_ff_echo, args=(there, back, n))
    p.start()
    rec = np.zeros(1, REC)[0].tobytes()
    rt = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        there.put(rec, timeout=60)
        back.get(timeout=60)
        rt[i] = time.perf_counter_ns() - t0
    p.join()
    return rt


# ---- asv ------------------------------------------------------------------------------
class InProcess:
    """Per-call cost of push+pop on one thread (no contention): ns per pair is
    time / N."""

    N = 10_000
    params = (["spsc", "mpsc", "mpmc"], ["bytes", "void", "tuple"])
    param_names = ("ring", "record")

    def setup(self, ring: str, record: str) -> None:
        self.ring = {"spsc": SpscRing, "mpsc": MpscRing, "mpmc": MpmcRing}[ring](1024, REC)
        arr = np.zeros(1, REC)
        self.rec: Any = {"bytes": arr.tobytes(), "void": arr[0], "tuple": arr[0].item()}[record]

    def time_push_pop(self, ring: str, record: str) -> None:
        push, pop, rec = self.ring.push, self.ring.pop, self.rec
        for _ in range(self.N):
            push(rec)
            pop()


class Batched:
    """push_many + pop_many of 1024 records on one thread."""

    def setup(self) -> None:
        self.ring = SpscRing(4096, REC)
        self.arr = np.zeros(1024, REC)

    def time_push_pop_many(self) -> None:
        self.ring.push_many(self.arr)
        self.ring.pop_many(1024)

    def time_push_pop_view(self) -> None:
        self.ring.push_many(self.arr)
        view = self.ring.pop_view(1024)
        del view


class CrossProcess:
    """Records per second from a forked producer; round trips in ns."""

    timeout = 120
    number = 1
    repeat = 1

    def track_single_records_per_s(self) -> float:
        return ring_single_rate(200_000)

    track_single_records_per_s.unit = "records/s"  # type: ignore[attr-defined]

    def track_batched_records_per_s(self) -> float:
        return ring_batched_rate(5_000_000)

    track_batched_records_per_s.unit = "records/s"  # type: ignore[attr-defined]

    def track_pingpong_p50_ns(self) -> float:
        return float(np.percentile(ring_pingpong(5_000), 50))

    track_pingpong_p50_ns.unit = "ns"  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures and percentiles here")
    args = parser.parse_args()
    have_ff = faster_fifo is not None
    load = os.getloadavg()[0]
    print(f"64-byte records, {cpu_model()}, cpu count {os.cpu_count()}, load {load:.2f}")
    if not have_ff:
        print("faster-fifo is not installed (pip install faster-fifo): its rows are skipped")

    rates: dict[str, float] = {}
    rates["SpscRing single"] = ring_single_rate()
    rates["multiprocessing.Queue single"] = mpq_single_rate()
    if have_ff:
        rates["faster-fifo single"] = ff_single_rate()
    rates["SpscRing batched"] = ring_batched_rate()
    rates["SpscRing batched, pop_view"] = ring_batched_rate(view=True)
    if have_ff:
        rates["faster-fifo batched"] = ff_batched_rate()

    base = rates["multiprocessing.Queue single"]
    print("cross-process records/s (x multiprocessing.Queue one per call):")
    for label, r in rates.items():
        print(f"  {label:30s} {r / 1e6:9.3f} M/s  {r / base:8.1f}x")

    trips: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for wait in WAITS:
        trips[f"SpscRing wait={wait}"] = ring_pingpong(wait=wait)
    trips["multiprocessing.Queue"] = mpq_pingpong()
    if have_ff:
        trips["faster-fifo"] = ff_pingpong()
    print("cross-process ping-pong round trip:")
    for label, rt in trips.items():
        p50, p99, p999 = np.percentile(rt, [50, 99, 99.9])
        print(
            f"  {label:24s} p50 {p50 / 1e3:7.1f} us  p99 {p99 / 1e3:7.1f} us  p99.9 {p999 / 1e3:7.1f} us"
            f"  ({len(rt)} round trips)"
        )

    if args.json is not None:
        doc = {
            "machine": cpu_model(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load,
            "python": platform.python_version(),
            "command": "python -m bench.bench_queue --json " + str(args.json),
            "rates_per_s": rates,
            "percentiles": list(PERCENTILES),
            "round_trip_ns": {
                label: [float(v) for v in np.percentile(rt, PERCENTILES)] for label, rt in trips.items()
            },
            "round_trips": {label: len(rt) for label, rt in trips.items()},
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
