"""Ring benchmarks: asv classes, and a one-process comparison with
multiprocessing.Queue (and faster-fifo when installed).

    python -m bench.bench_queue          # prints the comparison table

Records are 64 bytes (a numpy structured dtype). "Cross-process" means a
forked producer (or echo) process and the benchmark process as consumer,
through a named shared-memory ring.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from typing import Any

import numpy as np

from shanraq_core import MpscRing, SpscRing

REC = np.dtype([("id", "<u8"), ("ts", "<i8"), ("payload", "<u8", (6,))])
assert REC.itemsize == 64
FORK = mp.get_context("fork")


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


def _echo(there: str, back: str, n: int) -> None:
    a, b = SpscRing.attach(there), SpscRing.attach(back)
    for _ in range(n):
        b.push(a.pop())


def _mpq_produce(q: Any, n: int) -> None:
    rec = np.zeros(1, REC)[0].tobytes()
    for _ in range(n):
        q.put(rec)


def _mpq_echo(there: Any, back: Any, n: int) -> None:
    for _ in range(n):
        back.put(there.get())


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


def ring_batched_rate(n: int = 20_000_000, batch: int = 4096) -> float:
    name = _name("batch")
    ring = SpscRing.create(name, 16384, REC)
    p = FORK.Process(target=_produce_batched, args=(name, n, batch))
    t0 = time.perf_counter()
    p.start()
    got = 0
    while got < n:
        got += len(ring.pop_many(batch))
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def ring_pingpong(n: int = 20_000) -> np.ndarray[Any, np.dtype[np.float64]]:
    there, back = _name("there"), _name("back")
    a, b = SpscRing.create(there, 64, REC), SpscRing.create(back, 64, REC)
    p = FORK.Process(target=_echo, args=(there, back, n))
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


# ---- asv ------------------------------------------------------------------------------
class InProcess:
    """Per-call cost of push+pop on one thread (no contention): ns per pair is
    time / N."""

    N = 10_000
    params = (["spsc", "mpsc"], ["bytes", "void", "tuple"])
    param_names = ("ring", "record")

    def setup(self, ring: str, record: str) -> None:
        self.ring = (SpscRing if ring == "spsc" else MpscRing)(1024, REC)
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
    print(f"64-byte records, cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    r1 = ring_single_rate()
    rb = ring_batched_rate()
    m1 = mpq_single_rate()
    print(
        f"cross-process, one record per call: SpscRing {r1 / 1e6:.2f} M/s, "
        f"multiprocessing.Queue {m1 / 1e6:.3f} M/s ({r1 / m1:.0f}x)"
    )
    print(f"cross-process, push_many/pop_many:  SpscRing {rb / 1e6:.1f} M/s")
    pr = ring_pingpong()
    pm = mpq_pingpong()
    for label, rt in (("SpscRing", pr), ("multiprocessing.Queue", pm)):
        p50, p99, p999 = np.percentile(rt, [50, 99, 99.9])
        print(
            f"ping-pong round trip {label:22s} p50 {p50 / 1e3:7.1f} us  p99 {p99 / 1e3:7.1f} us  "
            f"p99.9 {p999 / 1e3:7.1f} us"
        )


if __name__ == "__main__":
    main()
