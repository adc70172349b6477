"""Cross-process ping-pong when a third process holds one of two cores.

    python -m bench.pingpong_colocated same    # ping and echo share CPU 0
    python -m bench.pingpong_colocated split   # echo shares CPU 1 with the hog

A busy-loop "hog" process is pinned to CPU 1 and the ping process to CPU 0;
the echo process goes to CPU 0 ("same") or CPU 1 ("split"). Prints
round-trip percentiles for each wait strategy of SpscRing and, measured in
the same run, for multiprocessing.Queue and faster-fifo (if installed).
Needs at least two CPUs. docs/perf_queue.md has the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import bench_queue as bq

_ECHO_CPU = 0


def _pinned(f: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        os.sched_setaffinity(0, {_ECHO_CPU})
        return f(*args, **kwargs)

    return run


def _hog() -> None:
    os.sched_setaffinity(0, {1})
    while True:
        pass


def _report(label: str, rt: np.ndarray[Any, np.dtype[np.float64]]) -> None:
    p50, p90, p99 = np.percentile(rt, [50, 90, 99]) / 1000
    print(f"  {label:24s} p50 {p50:7.1f} us  p90 {p90:7.1f} us  p99 {p99:7.1f} us", flush=True)


def main() -> None:
    global _ECHO_CPU
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", choices=("same", "split"))
    parser.add_argument("--round-trips", type=int, default=3000)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two CPUs")
    _ECHO_CPU = 0 if args.config == "same" else 1
    # The echo functions run in forked children, which look them up here.
    bq._echo = _pinned(bq._echo)
    bq._mpq_echo = _pinned(bq._mpq_echo)
    bq._ff_echo = _pinned(bq._ff_echo)
    hog = mp.Process(target=_hog, daemon=True)
    hog.start()
    time.sleep(0.2)
    os.sched_setaffinity(0, {0})
    print(f"config {args.config}: ping on CPU 0, echo on CPU {_ECHO_CPU}, busy hog on CPU 1")
    try:
        for wait in ("spin", "yield", "blocking"):
            _report(f"SpscRing wait={wait}", bq.ring_pingpong(args.round_trips, wait))
        _report("multiprocessing.Queue", bq.mpq_pingpong(min(args.round_trips, 2000)))
        if bq.faster_fifo is None:
            print("  faster-fifo              not installed")
        else:
            _report("faster-fifo", bq.ff_pingpong(min(args.round_trips, 2000)))
    finally:
        hog.terminate()


if __name__ == "__main__":
    main()
