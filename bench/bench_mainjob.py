"""asv: the main job's stages as tracked benchmarks, and peak memory for every
component (the per-operation timings live in bench_hist, bench_queue,
bench_book, bench_ledger and bench_runner).

``Stages`` runs the harness of ``python -m shanraq_core bench`` once per asv
run (setup_cache) on a smaller market at an offered 50,000 commands/s for 1 s
per stage, and tracks, per stage, the open-loop latency percentiles (from each
command's scheduled time), the achieved throughput and the closed-loop
capacity. A stage this build lacks (the journal's durable acknowledgement
until it lands) tracks NaN, which asv shows as a missing point.

The ``peakmem_`` functions build each component at a realistic size: asv
reports the process's peak RSS, so a change in a component's footprint shows
in the dashboard.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from shanraq_core import (
    ACCOUNT_DTYPE,
    BOOK_COMMAND_DTYPE,
    Closed,
    LatencyHistogram,
    Ledger,
    MatchingEngine,
    Runner,
    SpscRing,
)
from shanraq_core.harness import cli
from shanraq_core.harness.components import detect
from shanraq_core.harness.market import MarketSpec, generate

RATE = 50_000.0
DURATION = 1.0
STAGE_KEYS = [s.key for s in cli.default_stages()]


def _run_harness() -> dict[str, Any]:
    cfg = cli.Config(DURATION, RATE, 12, 500, 100, STAGE_KEYS, None, 0.1, False)
    with tempfile.TemporaryDirectory(prefix="asv-shanraq-") as tmp:
        doc, _ = cli.run(cfg, progress=False, workdir=Path(tmp), comps=detect())
    if not doc["ok"]:
        raise RuntimeError(f"the harness's correctness proof failed: {doc['proof']}")
    return {s["key"]: s for s in doc["stages"]} | {"_recovery": doc["recovery"]}


def _latency(cache: dict[str, Any], stage: str, name: str) -> float:
    s = cache[stage]
    if not s["available"] or s["latency_ns"] is None:
        return float("nan")
    return s["latency_ns"][name] / 1000.0


class Stages:
    """Open-loop latency (µs) and throughput of every stage of the main job."""

    params = tuple(STAGE_KEYS)
    param_names = ("stage",)
    timeout = 600
    number = 1
    repeat = 1

    def setup_cache(self) -> dict[str, Any]:
        return _run_harness()

    def track_p50_us(self, cache: dict[str, Any], stage: str) -> float:
        return _latency(cache, stage, "p50")

    track_p50_us.unit = "µs"  # type: ignore[attr-defined]

    def track_p99_us(self, cache: dict[str, Any], stage: str) -> float:
        return _latency(cache, stage, "p99")

    track_p99_us.unit = "µs"  # type: ignore[attr-defined]

    def track_p99_99_us(self, cache: dict[str, Any], stage: str) -> float:
        return _latency(cache, stage, "p99_99")

    track_p99_99_us.unit = "µs"  # type: ignore[attr-defined]

    def track_max_us(self, cache: dict[str, Any], stage: str) -> float:
        return _latency(cache, stage, "max")

    track_max_us.unit = "µs"  # type: ignore[attr-defined]

    def track_throughput(self, cache: dict[str, Any], stage: str) -> float:
        s = cache[stage]
        return float(s["throughput_tps"]) if s["available"] else float("nan")

    track_throughput.unit = "commands/s"  # type: ignore[attr-defined]

    def track_capacity(self, cache: dict[str, Any], stage: str) -> float:
        s = cache[stage]
        cap = s.get("capacity_tps") if s["available"] else None
        return float(cap) if cap is not None else float("nan")

    track_capacity.unit = "commands/s"  # type: ignore[attr-defined]


class Recovery:
    """Seconds to recover each component from what the harness wrote (a
    snapshot taken halfway and the command log after it)."""

    params = ("exchange", "engine", "ledger")
    param_names = ("component",)
    timeout = 600
    number = 1
    repeat = 1

    def setup_cache(self) -> dict[str, Any]:
        return _run_harness()

    def track_rto_s(self, cache: dict[str, Any], component: str) -> float:
        for r in cache["_recovery"]:
            if r["component"] == component:
                return float(r["rto_s"])
        return float("nan")

    track_rto_s.unit = "s"  # type: ignore[attr-defined]


class Generate:
    """The market simulation itself (100,000 commands, 200 symbols)."""

    number = 1
    repeat = 3

    def time_generate(self) -> None:
        generate(MarketSpec(), 100_000, RATE, 12)


def peakmem_hist_default() -> None:
    """A default histogram (1 ns .. 1 h, 3 digits) with 1 M values."""
    h = LatencyHistogram()
    h.record_many(np.random.default_rng(1).lognormal(10.0, 1.0, 1_000_000).astype(np.int64))


def peakmem_ring_book_commands() -> None:
    """An SpscRing of 65,536 book commands (88 bytes each), filled once."""
    ring = SpscRing(1 << 16, BOOK_COMMAND_DTYPE)
    ring.push_many(np.zeros(1 << 16, dtype=BOOK_COMMAND_DTYPE))


def peakmem_engine_market_400k() -> None:
    """The engine after 400,000 commands of the main job's market."""
    w = generate(MarketSpec(), 400_000, 100_000.0, 12)
    e = MatchingEngine(max_orders=1 << 19, max_symbols=200, max_levels=1 << 19, id_history=1 << 19)
    e.process(w.setup)
    e.process(w.commands)


def peakmem_ledger_1m_accounts() -> None:
    """The ledger with 1,000,000 accounts created."""
    led = Ledger(max_accounts=1_000_000, max_transfers=1 << 16, max_history=1)
    acc = np.zeros(1_000_000, dtype=ACCOUNT_DTYPE)
    acc["id"] = np.arange(1, 1_000_001)
    acc["ledger"] = 1
    acc["code"] = 1
    led.create_accounts(acc)


def peakmem_runner_engine() -> None:
    """A runner thread driving the engine between two in-process rings."""
    w = generate(MarketSpec(), 50_000, 100_000.0, 12)
    e = MatchingEngine(max_orders=1 << 17, max_symbols=200, max_levels=1 << 17, id_history=1 << 17)
    e.process(w.setup)
    commands = SpscRing(1 << 12, BOOK_COMMAND_DTYPE)
    events = SpscRing(1 << 14, e.EVENT_DTYPE)
    with Runner(e, commands, events, time_source="command"):
        done = 0
        while done < len(w.commands):
            done += commands.push_many(w.commands[done : done + 1024], timeout=0)
            events.pop_many(1 << 14, timeout=0)
        commands.close()
        while True:
            try:
                events.pop_many(1 << 14, timeout=0.1)
            except Closed:
                break
