"""Engine runner benchmarks: asv classes, and a one-process comparison with
calling ``MatchingEngine.process`` directly.

    python -m bench.bench_runner                 # prints the comparison
    asv run --quick --python=same --bench bench_runner

Workload: exchange-core's single-symbol mix (bench/book_data.py: 1,000
resting orders over ~750 levels; 9% GTC, 3% IOC, 6% cancel, 82% move),
200,000 commands, command i stamped ``time_ns = TIME_BASE + i`` so that each
event names its command (the engine clock takes the command's time).

Measured in one run, so the ratios hold even when the machine's load moves
the absolute figures:

* **direct**: ``MatchingEngine.process(run)`` in this process (the
  baseline for throughput), and ``process(run[i:i+1])`` per command (the
  baseline for latency).
* **runner throughput**: forked producer processes push their commands with
  ``push_many`` into a shared-memory ``MpscRing``; the ``Runner``'s
  C++ thread, in this process, applies them; this process's main thread pops
  the events (``pop_view``). Timed from the producers' start signal until the
  event ring closes behind the last event. With one producer the commands go
  in the workload's order and the engine must end in the direct run's state
  (checked).
* **round trip**: push one command, wait for its first event (the rest of
  its events are drained untimed before the next command): with the runner
  as a thread of this process, and in another process (shared-memory rings);
  for the ``blocking`` (futex) and ``spin`` wait strategies.

Pinning: the runner's thread (or the engine process) gets the second
allowed CPU to itself; producer processes, the event consumer and the
round-trip client share the first. On the 2-core machine the figures were
taken on, throughput runs three busy threads (producer process, runner
thread, event consumer) on two cores, and round trips two (client, runner).
main() prints how many.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import statistics
import time
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    Closed,
    MatchingEngine,
    MpscRing,
    Runner,
    SpscRing,
)

from .book_data import filled_engine, workload
from .machine import cpu_model

FORK = mp.get_context("fork")
N_RUN = 200_000
TIME_BASE = 1_000_000
#: Round trips timed per configuration, after WARMUP untimed ones.
N_ROUND_TRIPS = 20_000
WARMUP = 1_000
PERCENTILES = (50.0, 90.0, 99.0, 99.9)

Commands = npt.NDArray[np.void]


@functools.cache
def stamped_run(n: int = N_RUN) -> tuple[Commands, npt.NDArray[np.int64], int, int]:
    """(commands, events per command, total events, state hash after the run
    applied directly) for the first `n` commands of the workload."""
    _, run = workload(1, 1000, n)
    out = np.zeros(n, BOOK_COMMAND_DTYPE)  # a fresh array: zeroed padding, writable
    for field in BOOK_COMMAND_DTYPE.names or ():
        out[field] = run[field]
    out["time_ns"] = TIME_BASE + np.arange(n)
    out.flags.writeable = False
    eng = filled_engine(1, 1000, n)
    events = eng.process(out)
    counts = np.bincount(events["time_ns"] - TIME_BASE, minlength=n).astype(np.int64)
    assert counts.min() >= 1  # every command answers
    return out, counts, len(events), eng.state_hash()


def _name(tag: str) -> str:
    return f"/shq_bench_runner_{tag}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _as_ring_records(ring: MpscRing | SpscRing, cmds: Commands) -> Commands:
    # attach() returns the creator's dtype (BOOK_COMMAND_DTYPE, padding included).
    assert ring.dtype == cmds.dtype
    return cmds


# ---- child processes --------------------------------------------------------------
def _produce(name: str, cmds: Commands, chunk: int, start: Any) -> None:
    ring = MpscRing.attach(name)
    recs = _as_ring_records(ring, cmds)
    start.wait()
    if chunk == 1:
        push = ring.push
        for i in range(len(recs)):
            push(recs[i])
        return
    for i in range(0, len(recs), chunk):
        ring.push_many(recs[i : i + chunk], timeout=None)


def _serve(commands_name: str, events_name: str, wait: str) -> None:
    """Child: the engine process. Runs until the command ring is closed."""
    commands = SpscRing.attach(commands_name, wait=wait)  # type: ignore[arg-type]
    events = SpscRing.attach(events_name, wait=wait)  # type: ignore[arg-type]
    runner = Runner(filled_engine(), commands, events)
    runner.start()
    runner.join()


# ---- pinning ------------------------------------------------------------------------
class _Pinned:
    """Runs the engine on its own CPU: while the block is entered the calling
    thread sits on the second allowed CPU, so a runner thread started (or an
    engine process forked) then inherits that CPU; the block's body runs on
    the first, and so does every process forked from it (producers). The
    previous affinity comes back on exit. A no-op with fewer than two CPUs."""

    enabled = True  # main(): --no-pin

    def __init__(self) -> None:
        self.old = os.sched_getaffinity(0)
        self.cpus = sorted(self.old) if self.enabled else []

    def engine_cpu(self) -> None:
        if len(self.cpus) >= 2:
            os.sched_setaffinity(0, {self.cpus[1]})

    def client_cpu(self) -> None:
        if len(self.cpus) >= 2:
            os.sched_setaffinity(0, {self.cpus[0]})

    def __enter__(self) -> _Pinned:
        return self

    def __exit__(self, *exc: object) -> None:
        os.sched_setaffinity(0, self.old)


# ---- measurements -------------------------------------------------------------------
def direct_rate(n: int = N_RUN) -> float:
    """Commands/s of one ``process`` call over the run, in this process."""
    run, _, _, _ = stamped_run(n)
    eng = filled_engine(1, 1000, n)
    t0 = time.perf_counter()
    eng.process(run)
    return n / (time.perf_counter() - t0)


def direct_single_ns(n: int = N_ROUND_TRIPS) -> npt.NDArray[np.float64]:
    """ns per ``process(run[i:i+1])`` call: the latency baseline."""
    run, _, _, _ = stamped_run()
    eng: MatchingEngine = filled_engine()
    process = eng.process
    for i in range(WARMUP):
        process(run[i : i + 1])
    out = np.empty(n)
    clock = time.perf_counter_ns
    for j, i in enumerate(range(WARMUP, WARMUP + n)):
        t0 = clock()
        process(run[i : i + 1])
        out[j] = clock() - t0
    return out


def runner_rate(producers: int = 1, chunk: int = 256, n: int = N_RUN) -> tuple[float, float]:
    """(commands/s, events/s) through the runner, commands pushed by
    `producers` forked processes (contiguous shares of the run; push_many of
    `chunk`, or push() per command if chunk is 1)."""
    run, _, n_events, final_hash = stamped_run(n)
    name = _name("rate")
    commands = MpscRing.create(name, 8192, BOOK_COMMAND_DTYPE)
    events = SpscRing(1 << 16, BOOK_EVENT_DTYPE)
    # The commands' own times: the run is checked against direct processing,
    # and the engine's clock (stamped by the runner otherwise) is part of its
    # state hash.
    runner = Runner(filled_engine(1, 1000, n), commands, events, time_source="command")
    with _Pinned() as pin:
        pin.engine_cpu()
        runner.start()
        pin.client_cpu()
        return _run_rate(runner, commands, events, run, name, producers, chunk, n, n_events, final_hash)


def _run_rate(
    runner: Runner,
    commands: MpscRing,
    events: SpscRing,
    run: Commands,
    name: str,
    producers: int,
    chunk: int,
    n: int,
    n_events: int,
    final_hash: int,
) -> tuple[float, float]:
    start = FORK.Event()
    bounds = np.linspace(0, n, producers + 1).astype(int)
    procs = [
        FORK.Process(target=_produce, args=(name, run[bounds[p] : bounds[p + 1]], chunk, start))
        for p in range(producers)
    ]
    for p in procs:
        p.start()
    time.sleep(0.2)  # let them attach: fork and attach are not the runner's cost
    got = 0
    t0 = time.perf_counter()
    start.set()
    while runner.commands_processed < n:
        view = events.pop_view(8192, timeout=30)
        if len(view) == 0:
            raise RuntimeError(f"stalled at {runner.commands_processed}/{n} commands")
        got += len(view)
        del view
    commands.close()  # the runner drains the rest, then closes events
    while True:
        try:
            view = events.pop_view(8192, timeout=30)
        except Closed:
            break
        got += len(view)
        del view
    dt = time.perf_counter() - t0
    runner.join()
    for p in procs:
        p.join()
    if producers == 1 and (got != n_events or runner.machine.state_hash() != final_hash):
        raise RuntimeError("the runner's outcome differs from direct processing")
    return n / dt, got / dt


def _round_trips(commands: SpscRing, events: SpscRing, n: int) -> npt.NDArray[np.float64]:
    run, counts, _, _ = stamped_run()
    push, pop, pop_many = commands.push, events.pop, events.pop_many
    clock = time.perf_counter_ns
    out = np.empty(n)
    for j, i in enumerate(range(WARMUP + n)):
        rec = run[i]
        t0 = clock()
        push(rec)
        pop(timeout=30)
        t1 = clock()
        rest = int(counts[i]) - 1
        while rest > 0:
            rest -= len(pop_many(rest, timeout=30))
        if i >= WARMUP:
            out[j - WARMUP] = t1 - t0
    return out


def runner_round_trip_thread(wait: str = "blocking", n: int = N_ROUND_TRIPS) -> npt.NDArray[np.float64]:
    """ns from push(command) to its first event popped; the runner is a
    thread of this process."""
    commands = SpscRing(1024, BOOK_COMMAND_DTYPE, wait=wait)  # type: ignore[arg-type]
    events = SpscRing(4096, BOOK_EVENT_DTYPE, wait=wait)  # type: ignore[arg-type]
    runner = Runner(filled_engine(), commands, events)
    with _Pinned() as pin:
        pin.engine_cpu()
        runner.start()
        pin.client_cpu()
        try:
            return _round_trips(commands, events, n)
        finally:
            runner.stop()


def runner_round_trip_process(wait: str = "blocking", n: int = N_ROUND_TRIPS) -> npt.NDArray[np.float64]:
    """The same, with the runner in another (forked) process: the LMAX
    layout for a Python service talking to an engine process."""
    cname, ename = _name("cmd"), _name("ev")
    commands = SpscRing.create(cname, 1024, BOOK_COMMAND_DTYPE, wait=wait)  # type: ignore[arg-type]
    events = SpscRing.create(ename, 4096, BOOK_EVENT_DTYPE, wait=wait)  # type: ignore[arg-type]
    server = FORK.Process(target=_serve, args=(cname, ename, wait), daemon=True)
    with _Pinned() as pin:
        pin.engine_cpu()
        server.start()
        pin.client_cpu()
        try:
            return _round_trips(commands, events, n)
        finally:
            commands.close()
            server.join(30)


# ---- asv ------------------------------------------------------------------------------
class DirectProcess:
    """The baseline: one process() call over the run (commands/s = N_RUN /
    time). process() changes the engine, so every sample gets a fresh one
    (number 1: asv runs setup before each repeat) and there is no warm-up."""

    number = 1
    repeat = 5
    warmup_time = 0.0

    def setup(self) -> None:
        self.run = stamped_run()[0]
        self.eng = filled_engine()

    def time_process(self) -> None:
        self.eng.process(self.run)


class ThroughRunner:
    """Through the runner: commands/s from a producer process, round trip p50."""

    timeout = 300
    number = 1
    repeat = 1

    def setup(self) -> None:
        stamped_run()

    def track_commands_per_s(self) -> float:
        return runner_rate(1, 256)[0]

    track_commands_per_s.unit = "commands/s"  # type: ignore[attr-defined]

    def track_direct_commands_per_s(self) -> float:
        return direct_rate()

    track_direct_commands_per_s.unit = "commands/s"  # type: ignore[attr-defined]

    def track_round_trip_p50_ns(self) -> float:
        return float(np.percentile(runner_round_trip_process("blocking", 5_000), 50))

    track_round_trip_p50_ns.unit = "ns"  # type: ignore[attr-defined]


# ---- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per throughput figure (median)")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place every thread")
    args = parser.parse_args()
    _Pinned.enabled = not args.no_pin
    stamped_run()
    load = os.getloadavg()[0]
    pinning = "runner pinned to its own CPU" if _Pinned.enabled else "unpinned"
    print(
        f"exchange-core mix, {N_RUN} commands; {cpu_model()}, cpu count {os.cpu_count()}, "
        f"load {load:.2f}; {pinning}"
    )

    rates: dict[str, tuple[float, float, str]] = {}

    def median_rate(label: str, threads: str, fn: Any) -> None:
        runs = [fn() for _ in range(args.repeat)]
        cmds = statistics.median(r[0] if isinstance(r, tuple) else r for r in runs)
        evs = statistics.median(r[1] if isinstance(r, tuple) else float("nan") for r in runs)
        rates[label] = (cmds, evs, threads)

    median_rate("direct process(), one call", "1 thread", direct_rate)
    median_rate("runner, 1 producer, push_many(256)", "3 (producer proc, runner, consumer)", runner_rate)
    median_rate(
        "runner, 2 producers, push_many(256)",
        "4 (2 producer procs, runner, consumer)",
        lambda: runner_rate(2, 256),
    )
    median_rate(
        "runner, 1 producer, push() each", "3 (producer proc, runner, consumer)", lambda: runner_rate(1, 1)
    )
    base = rates["direct process(), one call"][0]
    print(f"throughput, median of {args.repeat} (x direct process()):")
    for label, (cmds, evs, threads) in rates.items():
        ev = f"{evs / 1e6:7.2f} M ev/s" if evs == evs else " " * 14
        print(f"  {label:38s} {cmds / 1e6:7.2f} M cmd/s {ev}  {cmds / base:5.2f}x  threads: {threads}")

    trips: dict[str, npt.NDArray[np.float64]] = {"direct process(run[i:i+1])": direct_single_ns()}
    for wait in ("blocking", "spin"):
        trips[f"runner thread, wait={wait}"] = runner_round_trip_thread(wait)
        trips[f"runner process, wait={wait}"] = runner_round_trip_process(wait)
    base_p50 = float(np.percentile(trips["direct process(run[i:i+1])"], 50))
    print(f"single command, push -> first event popped, {N_ROUND_TRIPS} each (p50 x direct call):")
    for label, rt in trips.items():
        p = np.percentile(rt, PERCENTILES)
        cells = "  ".join(f"p{q:g} {v / 1e3:7.2f} us" for q, v in zip(PERCENTILES, p, strict=True))
        print(f"  {label:30s} {cells}  {p[0] / base_p50:5.1f}x")


if __name__ == "__main__":
    main()
