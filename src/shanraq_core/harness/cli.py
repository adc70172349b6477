"""``python -m shanraq_core bench`` (also ``shanraq-bench``): the package's
main job. See docs/mainjob.md.

Simulates a market (users with deposits, Zipf-active symbols, a venue's
order mix) and drives it, open loop at a fixed offered rate, through every
stage this build has: the exchange (balance checks and holds on every order)
through its batch API, its per-call Python API, a shared-memory ring to a
runner in another process and that ring with the journal (durable
acknowledgement); then the matching engine and the ledger (on the balance
movements of the engine's events) the same ways; and the recovery of what
the run wrote. It reports latency percentiles from each command's scheduled
time and throughput (and closed-loop capacity) against the platform's
targets, then proves the run: every stage's state hash equals a replay of
the recorded (or journaled) commands and a snapshot/restore round trip, and
the exchange's invariants hold. A mismatch exits 1; a bad flag exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import shanraq_core
from shanraq_core._version import __version__
from shanraq_core.harness.components import BookMachine, Components, ExchangeMachine, LedgerMachine, detect
from shanraq_core.harness.exchange_flow import exchange_commands, exchange_setup
from shanraq_core.harness.ledger_flow import accounts_and_deposits, ledger_commands
from shanraq_core.harness.market import T0_NS, MarketSpec, Workload, generate, schedule
from shanraq_core.harness.stages import (
    MAX_BATCH,
    BatchStage,
    DurableStage,
    PerCallBookStage,
    PerCallExchangeStage,
    PerCallLedgerStage,
    RingStage,
    Stage,
    StageResult,
    Stream,
)
from shanraq_core.hist import LatencyHistogram

__all__ = ["main"]

#: The platform's targets (docs/mainjob.md).
TARGETS: dict[str, float] = {
    "p50_ns": 100_000,
    "p95_ns": 500_000,
    "p99_ns": 1_000_000,
    "tps": 100_000,
    "rto_s": 60.0,
}
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
    ("p99_99", 99.99),
)
SWEEP_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99_99", 99.99),
)


def default_stages() -> list[Stage]:
    """Every stage, in the order they run: the exchange (the market's default
    path: balance checks and holds on every order) first, then the matching
    engine and the ledger on their own. A stage whose components this build
    lacks is reported as not available."""
    ring = "shared-memory ring to a runner process"
    return [
        BatchStage("exchange_batch", "in the exchange (batch)", "exchange", ("exchange",)),
        PerCallExchangeStage(),
        RingStage("exchange_ring", ring, "exchange", ("exchange", "runner")),
        DurableStage("exchange_durable_ack", "exchange", ("exchange",)),
        BatchStage("engine_batch", "in the engine (batch)", "engine", ("matching_engine",)),
        PerCallBookStage(),
        RingStage(
            "engine_ring", "shared-memory ring to a runner process", "engine", ("matching_engine", "runner")
        ),
        DurableStage(),
        BatchStage("ledger_batch", "in the ledger (batch)", "ledger", ("ledger",)),
        PerCallLedgerStage(),
        RingStage("ledger_ring", "shared-memory ring to a runner process", "ledger", ("ledger", "runner")),
    ]


class UsageError(Exception):
    pass


def _rate(text: str) -> float:
    t = text.strip().lower().replace("_", "")
    mult = 1.0
    if t.endswith("k"):
        mult, t = 1e3, t[:-1]
    elif t.endswith("m"):
        mult, t = 1e6, t[:-1]
    try:
        v = float(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (e.g. 100000, 100k, 1.5m)") from None
    if not (v > 0 and v <= 50e6):
        raise argparse.ArgumentTypeError(f"rate must be in (0, 50m] commands/s, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (v > 0 and v <= 3600):
        raise argparse.ArgumentTypeError(f"must be in (0, 3600], got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be in 0..2**63-1, got {text!r}")
    return v


def build_parser(prog: str = "python -m shanraq_core bench") -> argparse.ArgumentParser:
    keys = [s.key for s in default_stages()]
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Simulate a market and measure shanraq_core's latency (from each command's scheduled time, "
            "open loop) and throughput at every stage against the platform's targets, then prove the "
            "run's state equals a replay and a snapshot/restore round trip."
        ),
        epilog="exit status: 0 ok; 1 a correctness check failed (or --strict and a target missed); 2 usage",
    )
    p.add_argument(
        "--duration", type=_positive_float, default=2.0, help="seconds of load per stage (default 2)"
    )
    p.add_argument("--rate", type=_rate, default=100_000.0, help="offered commands/s (default 100k)")
    p.add_argument("--seed", type=_seed, default=12, help="workload seed (default 12)")
    p.add_argument("--users", type=_positive_int, default=1_000, help="simulated users (default 1000)")
    p.add_argument("--symbols", type=_positive_int, default=200, help="symbols, Zipf-active (default 200)")
    p.add_argument(
        "--stages",
        default="all",
        help=f"comma-separated stages to run (default all): {','.join(keys)}",
    )
    p.add_argument(
        "--quick", action="store_true", help="a few-second smoke run (small market, 0.25 s per stage)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of tables")
    p.add_argument("--plot", metavar="FILE.png", help="write a latency percentile plot (needs matplotlib)")
    p.add_argument(
        "--sweep",
        nargs="?",
        const="25k,50k,100k,200k,400k,800k,1.6m",
        metavar="RATES",
        help="offered rate against P50/P90/P99/P99.99/worst for the engine's stages "
        "(default rates 25k,50k,100k,200k,400k,800k,1.6m; each for --sweep-duration)",
    )
    p.add_argument(
        "--sweep-duration", type=_positive_float, default=1.5, help="seconds per sweep point (1.5)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="exit 1 if any target is missed too")
    p.add_argument("--workdir", help="directory for the run's files (default: a temporary directory)")
    return p


@dataclass
class Config:
    duration: float
    rate: float
    seed: int
    users: int
    symbols: int
    stages: list[str]
    sweep: list[float] | None
    sweep_duration: float
    quick: bool


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Config:
    keys = [s.key for s in default_stages()]
    if args.stages == "all":
        stages = keys
    else:
        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        bad = [s for s in stages if s not in keys]
        if bad or not stages:
            parser.error(f"unknown stage(s) {bad or args.stages!r}; choose from {','.join(keys)}")
    sweep = None
    if args.sweep is not None:
        try:
            sweep = [_rate(r) for r in args.sweep.split(",") if r.strip()]
        except argparse.ArgumentTypeError as e:
            parser.error(f"--sweep: {e}")
        if not sweep:
            parser.error("--sweep: no rates")
    cfg = Config(
        args.duration, args.rate, args.seed, args.users, args.symbols, stages, sweep, args.sweep_duration,
        args.quick,
    )  # fmt: skip
    if args.quick:
        cfg.duration = min(cfg.duration, 0.25)
        cfg.rate = min(cfg.rate, 20_000.0)
        cfg.users = min(cfg.users, 100)
        cfg.symbols = min(cfg.symbols, 20)
        cfg.sweep_duration = min(cfg.sweep_duration, 0.1)
        if cfg.sweep:
            cfg.sweep = cfg.sweep[:3]
    return cfg


# --- progress ----------------------------------------------------------------------------------------


class _Bar:
    """A progress bar on stderr: rich if installed, else one line per step.

    It redraws when a step starts and when it ends, never inside a measured
    loop: one redraw of this bar costs rich 11 ms at the median on the loaded
    development VM (23 ms at p99; 10 tasks), a stall the open-loop accounting
    would charge to every command due meanwhile. During a stage the bar shows
    the stage running; the count moves when it is done.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._rich: Any = None
        if enabled:
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:
                self._rich = None
            else:
                from rich.console import Console

                self._rich = Progress(
                    TextColumn("{task.description:<50}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=False,
                    auto_refresh=False,
                )

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda _n: None
            return
        if self._rich is None:
            print(f"... {description}", file=sys.stderr, flush=True)
            yield lambda _n: None
            return
        tid = self._rich.add_task(description, total=max(total, 1))
        self._rich.refresh()

        def update(n: int) -> None:
            self._rich.update(tid, completed=n)

        yield update
        self._rich.update(tid, completed=max(total, 1))
        self._rich.refresh()

    def __enter__(self) -> _Bar:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Streams:
    workload: Workload
    engine: Stream
    ledger: Stream
    exchange: Stream

    def of(self, component: str) -> Stream:
        return {"engine": self.engine, "ledger": self.ledger, "exchange": self.exchange}[component]


def build_streams(cfg: Config, rate: float, n: int) -> Streams:
    spec = MarketSpec(users=cfg.users, symbols=cfg.symbols)
    w = generate(spec, n, rate, cfg.seed)
    book = BookMachine(orders=len(w) + 1, symbols=spec.symbols)
    engine = Stream(book, w.setup, w.commands, w.sched_ns, rate)
    # The ledger's commands are the balance movements of the engine's events
    # on this very stream (cut to the same length, so both run as long).
    replay = book.new(w.setup)
    events = [replay.process(w.commands[i : i + (1 << 16)]) for i in range(0, len(w), 1 << 16)]
    all_events = np.concatenate(events) if events else np.zeros(0, dtype=replay.EVENT_DTYPE)
    lcmds = ledger_commands(all_events, spec.users)[:n]
    lsched = schedule(len(lcmds), rate)
    lcmds["time_ns"] = T0_NS + lsched
    lsetup = accounts_and_deposits(spec.users, T0_NS)
    ledger = Stream(LedgerMachine(2 * spec.users + 2, len(lcmds)), lsetup, lcmds, lsched, rate)
    exchange = Stream(
        ExchangeMachine(spec.users, spec.symbols, len(w) + 1),
        exchange_setup(spec),
        exchange_commands(w.commands),
        w.sched_ns,
        rate,
    )
    return Streams(w, engine, ledger, exchange)


def _latency(h: LatencyHistogram | None) -> dict[str, int] | None:
    if h is None or h.total_count == 0:
        return None
    values = h.percentiles([p for _, p in PERCENTILES])
    # A percentile is its bucket's highest equivalent value (within 0.1% at 3
    # significant digits), which can pass the exact maximum: cap it there.
    top = int(h.max)
    out = {name: min(int(v), top) for (name, _), v in zip(PERCENTILES, values, strict=True)}
    out["max"] = top
    out["mean"] = int(h.mean)
    return out


def _verdicts(res: StageResult) -> dict[str, bool | None]:
    lat = _latency(res.hist)
    if lat is None:
        return {}
    v: dict[str, bool | None] = {
        "p50": lat["p50"] < TARGETS["p50_ns"],
        "p95": lat["p95"] < TARGETS["p95_ns"],
        "p99": lat["p99"] < TARGETS["p99_ns"],
    }
    cap = res.extra.get("capacity_tps")
    if cap is not None:
        v["tps"] = cap >= TARGETS["tps"]
    elif res.offered_rate >= TARGETS["tps"]:
        # No closed-loop figure: the stage passes if it kept up with an
        # offered rate at or above the target.
        v["tps"] = res.completed == res.commands and res.throughput >= 0.99 * res.offered_rate
    else:
        v["tps"] = None
    return v


def stage_json(res: StageResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": res.key,
        "component": res.component,
        "title": res.title,
        "available": res.available,
        "note": res.note,
    }
    if not res.available:
        return out
    out.update(
        offered_rate=res.offered_rate,
        commands=res.commands,
        completed=res.completed,
        elapsed_s=round(res.elapsed_s, 6),
        throughput_tps=round(res.throughput, 1),
        capacity_tps=None if res.extra.get("capacity_tps") is None else round(res.extra["capacity_tps"], 1),
        latency_ns=_latency(res.hist),
        verdicts=_verdicts(res),
        state_hash=None if res.state_hash is None else f"{res.state_hash:016x}",
        hdr_histogram=res.hist.encode() if res.hist is not None else None,
    )
    return out


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def recovery(stream: Stream, want_hash: int | None, workdir: Path, component: str) -> dict[str, Any]:
    """Writes the stream through the journal (``every_batch``: each batch on
    disk before the next), with a snapshot halfway, closes it, then times a
    recovery with `Journal.open` on a fresh machine (the newest snapshot,
    then a replay of every command after it, each record's checksum and the
    hash chain verified) and compares the state hash with the batch stage's.
    A build without the journal times the harness's own snapshot + command
    log instead (written with fsync, read back, restored, replayed)."""
    n = len(stream.commands)
    half = n // 2
    journal_cls = getattr(shanraq_core, "Journal", None)
    if journal_cls is not None:
        jdir = workdir / f"{component}_recovery_journal"
        j = journal_cls.open(jdir, stream.machine.new(stream.setup))
        for lo, hi in ((0, half), (half, n)):
            for i in range(lo, hi, MAX_BATCH):
                j.process(stream.commands[i : min(hi, i + MAX_BATCH)])
            if lo == 0:
                j.snapshot()
        j.close()
        size = max(jdir.glob("snap-*.snap")).stat().st_size  # the newest snapshot, the one recovery reads
        blank = stream.machine.new(stream.setup[:0])
        t0 = time.perf_counter_ns()
        j = journal_cls.open(jdir, blank, create=False)
        got = j.machine.state_hash()
        rto = (time.perf_counter_ns() - t0) / 1e9
        info = j.recovery
        j.close()
        return {
            "component": component,
            "source": "journal (newest snapshot + verified replay)",
            "snapshot_bytes": size,
            "replayed_commands": int(info["replayed"]),
            "rto_s": round(rto, 6),
            "state_hash": f"{got:016x}",
            "matches_run": want_hash is not None and got == want_hash,
            "verdict": rto < TARGETS["rto_s"],
        }
    m = stream.machine.new(stream.setup)
    for i in range(0, half, MAX_BATCH):
        m.process(stream.commands[i : min(half, i + MAX_BATCH)])
    snap_path = workdir / f"{component}_snapshot.bin"
    log_path = workdir / f"{component}_log.npy"
    _write_durably(snap_path, m.snapshot())
    dtype = stream.commands.dtype
    # Raw records: np.save cannot describe a dtype with aliased fields.
    np.save(log_path, np.ascontiguousarray(stream.commands[half:]).view(f"V{dtype.itemsize}"))
    with open(log_path, "rb+") as f:
        os.fsync(f.fileno())
    del m
    t0 = time.perf_counter_ns()
    data = snap_path.read_bytes()
    r = stream.machine.restore(data)
    log = np.load(log_path).view(dtype)
    for i in range(0, len(log), 1 << 16):
        r.process(log[i : i + (1 << 16)])
    got = r.state_hash()
    rto = (time.perf_counter_ns() - t0) / 1e9
    return {
        "component": component,
        "source": "harness snapshot + command log (no journal in this build)",
        "snapshot_bytes": len(data),
        "replayed_commands": len(log),
        "rto_s": round(rto, 6),
        "state_hash": f"{got:016x}",
        "matches_run": want_hash is not None and got == want_hash,
        "verdict": rto < TARGETS["rto_s"],
    }


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def prove(streams: Streams, results: list[StageResult], rec: list[dict[str, Any]]) -> list[Check]:
    """The run's correctness: per component, every stage's final state equals
    a fresh replay of the stream's commands, a restore of its snapshot, and
    (for the ring stage) a replay of the commands it recorded as applied."""
    checks: list[Check] = []
    by_component: dict[str, list[StageResult]] = {}
    for r in results:
        if r.available:
            by_component.setdefault(r.component, []).append(r)
    for comp, rs in by_component.items():
        stream = streams.of(comp)
        replay = stream.machine.new(stream.setup)
        for i in range(0, len(stream.commands), 1 << 16):
            replay.process(stream.commands[i : i + (1 << 16)])
        want = replay.state_hash()
        checks.append(
            Check(f"{comp}: replay", True, f"replay of {len(stream.commands):,} commands: {want:016x}")
        )
        check_invariants = getattr(replay, "check_invariants", None)
        if check_invariants is not None:
            # The exchange's own books: conservation per asset, holds equal to
            # what the open orders could spend, no negative available balance.
            inv = check_invariants()
            checks.append(
                Check(
                    f"{comp}: balance invariants after the run",
                    bool(inv),
                    "every invariant holds" if inv else f"{inv.violation.name}: {inv.message}",
                )
            )
        for r in rs:
            if r.state_hash is None:
                checks.append(
                    Check(f"{comp}/{r.key}: state", False, f"no final state ({r.note or 'incomplete'})")
                )
                continue
            checks.append(
                Check(
                    f"{comp}/{r.key}: state = replay",
                    r.state_hash == want,
                    f"{r.state_hash:016x} vs {want:016x}",
                )
            )
            if r.snapshot is not None:
                restored = stream.machine.restore(r.snapshot).state_hash()
                checks.append(
                    Check(
                        f"{comp}/{r.key}: snapshot/restore",
                        restored == r.state_hash,
                        f"{len(r.snapshot):,}-byte snapshot restores to {restored:016x}",
                    )
                )
            if r.recorded is not None:
                rr = stream.machine.new(stream.setup)
                for i in range(0, len(r.recorded), 1 << 16):
                    rr.process(r.recorded[i : i + (1 << 16)])
                got = rr.state_hash()
                checks.append(
                    Check(
                        f"{comp}/{r.key}: replay of the recorded (stamped) commands",
                        got == r.state_hash,
                        f"{len(r.recorded):,} commands replay to {got:016x}",
                    )
                )
    for item in rec:
        checks.append(
            Check(
                f"{item['component']}: recovery from disk",
                bool(item["matches_run"]),
                f"snapshot + {item['replayed_commands']:,} logged commands recover to {item['state_hash']}",
            )
        )
    return checks


def sweep(cfg: Config, bar: _Bar, workdir: Path, comps: dict[str, bool]) -> list[dict[str, Any]]:
    """exchange-core's table for our engine: each offered rate, run for
    sweep_duration seconds through the engine's batch and per-call stages."""
    assert cfg.sweep is not None
    rows: list[dict[str, Any]] = []
    top = max(cfg.sweep)
    n_max = max(1, int(top * cfg.sweep_duration))
    spec = MarketSpec(users=cfg.users, symbols=cfg.symbols)
    w = generate(spec, n_max, top, cfg.seed)
    stages: list[Stage] = [
        s for s in default_stages() if s.key in ("engine_batch", "engine_per_call") and not s.missing(comps)
    ]
    for rate in cfg.sweep:
        n = max(1, int(rate * cfg.sweep_duration))
        wr = w.prefix(n).at_rate(rate)
        stream = Stream(BookMachine(n + 1, spec.symbols), wr.setup, wr.commands, wr.sched_ns, rate)
        for st in stages:
            with bar.task(f"sweep {st.key} at {rate:,.0f}/s", n) as upd:
                res = st.run(stream, upd, workdir)
            lat = _latency(res.hist) or {}
            rows.append(
                {
                    "stage": st.key,
                    "offered_rate": rate,
                    "commands": n,
                    "completed": res.completed,
                    "throughput_tps": round(res.throughput, 1),
                    "latency_ns": {k: lat.get(k) for k, _ in SWEEP_PERCENTILES} | {"worst": lat.get("max")},
                }
            )
    return rows


# --- output ------------------------------------------------------------------------------------------


def _us(ns: float | None) -> str:
    if ns is None:
        return "-"
    us = ns / 1000
    if us >= 10_000:
        return f"{us / 1000:,.0f}ms"
    if us >= 100:
        return f"{us:,.0f}"
    return f"{us:.1f}"


def _mark(v: bool | None) -> str:
    return "-" if v is None else ("PASS" if v else "FAIL")


def print_report(doc: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    w = out.write
    m = doc["machine"]
    c = doc["config"]
    w(
        f"shanraq_core {doc['version']} bench: {c['users']:,} users, {c['symbols']:,} symbols (Zipf), "
        f"offered {c['rate']:,.0f} commands/s for {c['duration']} s per stage, seed {c['seed']}\n"
    )
    load = ", ".join(f"{x:g}" for x in m["load_average"])
    w(f"machine: {m['cpus']} CPUs (load average {load}), {m['platform']}, ")
    w(f"Python {m['python']}, numpy {m['numpy']}\n")
    comps = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in doc["components"].items())
    w(f"components: {comps}\n")
    mix = ", ".join(f"{k} {v:,}" for k, v in doc["workload"]["counts"].items())
    w(f"order mix: {mix}\n\n")
    w("latency from each command's scheduled time (open loop), microseconds\n")
    hdr = f"{'stage':<50}{'done':>10}{'TPS':>11}{'capacity':>11}"
    hdr += "".join(f"{n:>9}" for n, _ in PERCENTILES) + f"{'max':>9}\n"
    w(hdr)
    for s in doc["stages"]:
        name = f"{s['component']}: {s['title']}"
        if not s["available"]:
            w(f"{name:<50}  {s['note']}\n")
            continue
        lat = s["latency_ns"] or {}
        cap = s["capacity_tps"]
        row = f"{name:<50}{s['completed']:>10,}{s['throughput_tps']:>11,.0f}"
        row += f"{cap:>11,.0f}" if cap is not None else f"{'-':>11}"
        row += "".join(f"{_us(lat.get(n)):>9}" for n, _ in PERCENTILES) + f"{_us(lat.get('max')):>9}\n"
        w(row)
        if s["note"]:
            w(f"{'':<50}  {s['note']}\n")
    t = doc["targets"]
    w(
        f"\ntargets: P50 < {t['p50_ns'] / 1e6:g} ms, P95 < {t['p95_ns'] / 1e6:g} ms, "
        f"P99 < {t['p99_ns'] / 1e6:g} ms, throughput >= {t['tps']:,.0f} TPS (closed-loop capacity where "
        f"measured, else the offered rate sustained), RTO < {t['rto_s']:g} s\n"
    )
    w(f"{'stage':<50}{'P50':>7}{'P95':>7}{'P99':>7}{'TPS':>7}\n")
    for s in doc["stages"]:
        if not s["available"]:
            continue
        v = s["verdicts"]
        name = f"{s['component']}: {s['title']}"
        w(f"{name:<50}" + "".join(f"{_mark(v.get(k)):>7}" for k in ("p50", "p95", "p99", "tps")) + "\n")
    for r in doc["recovery"]:
        w(
            f"{r['component'] + ': recovery (RTO)':<50}{r['rto_s']:>10.3f} s  {_mark(r['verdict'])}  "
            f"({r['snapshot_bytes']:,}-byte snapshot + {r['replayed_commands']:,} commands; {r['source']})\n"
        )
    if doc.get("sweep"):
        w("\nsweep: offered rate against latency (microseconds), exchange-core's table\n")
        w(f"{'stage':<18}{'rate':>11}{'TPS':>11}{'P50':>9}{'P90':>9}{'P99':>9}{'P99.99':>9}{'worst':>9}\n")
        for r in doc["sweep"]:
            lat = r["latency_ns"]
            w(
                f"{r['stage']:<18}{r['offered_rate']:>11,.0f}{r['throughput_tps']:>11,.0f}"
                + "".join(f"{_us(lat.get(k)):>9}" for k in ("p50", "p90", "p99", "p99_99", "worst"))
                + "\n"
            )
    w("\ncorrectness:\n")
    for ch in doc["proof"]["checks"]:
        w(f"  {'ok  ' if ch['ok'] else 'FAIL'} {ch['name']}: {ch['detail']}\n")
    w(f"\n{'all correctness checks passed' if doc['proof']['ok'] else 'CORRECTNESS CHECK FAILED'}; ")
    w(f"targets: {doc['targets_met']} of {doc['targets_total']} met\n")


def plot(doc: dict[str, Any], results: list[StageResult], path: str) -> None:
    """HdrHistogram's percentile plot: latency against 1/(1-p) on log axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    ps = 100.0 - 100.0 / np.logspace(0, 6, 200)
    # One line style per component and a colour per stage: eleven lines would
    # repeat matplotlib's ten default colours.
    styles = {"exchange": "-", "engine": "--", "ledger": ":"}
    cmap = plt.get_cmap("tab20")
    for i, r in enumerate(results):
        if not r.available or r.hist is None or r.hist.total_count == 0:
            continue
        ys = np.asarray(r.hist.percentiles(list(ps)), dtype=np.float64) / 1000.0
        ax.plot(
            1.0 / (1.0 - ps / 100.0),
            ys,
            styles.get(r.component, "-"),
            color=cmap(((2 * i) % 20 + (i // 10) % 2) / 20),
            label=f"{r.component}: {r.title}",
        )
    for name, ns in (("P50 target", TARGETS["p50_ns"]), ("P99 target", TARGETS["p99_ns"])):
        ax.axhline(ns / 1000.0, linestyle="--", linewidth=0.8, color="grey")
        ax.text(1.05, ns / 1000.0, name, fontsize=8, va="bottom", color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency from scheduled time (µs)")
    c = doc["config"]
    ax.set_title(f"shanraq_core bench: offered {c['rate']:,.0f}/s, {c['duration']} s per stage (open loop)")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- entry point -------------------------------------------------------------------------------------


def run(
    cfg: Config, *, progress: bool, workdir: Path, comps: Components
) -> tuple[dict[str, Any], list[StageResult]]:
    have = comps.as_dict()
    n = max(1, int(cfg.rate * cfg.duration))
    with _Bar(progress) as bar:
        with bar.task("generating the market", 1):
            streams = build_streams(cfg, cfg.rate, n)
        results: list[StageResult] = []
        for st in default_stages():
            if st.key not in cfg.stages:
                continue
            missing = st.missing(have)
            if missing:
                results.append(st.unavailable(f"not available in this build (needs {', '.join(missing)})"))
                continue
            stream = streams.of(st.component)
            with bar.task(f"{st.component}: {st.title}", len(stream.commands)) as upd:
                # A stage that raises is reported and fails the proof; the
                # other stages still run.
                try:
                    results.append(st.run(stream, upd, workdir))
                except Exception as e:
                    results.append(
                        StageResult(
                            st.key, st.title, st.component, True, note=f"error: {type(e).__name__}: {e}"
                        )
                    )
        rec: list[dict[str, Any]] = []
        for comp in ("exchange", "engine", "ledger"):
            stream = streams.of(comp)
            batch = next((r for r in results if r.key == f"{comp}_batch" and r.available), None)
            if batch is None:
                continue
            with bar.task(f"{comp}: recovery from disk", 1):
                rec.append(recovery(stream, batch.state_hash, workdir, comp))
        with bar.task("correctness: replay, snapshot/restore", 1):
            checks = prove(streams, results, rec)
        sweep_rows = sweep(cfg, bar, workdir, have) if cfg.sweep else []

    stages = [stage_json(r) for r in results]
    verdicts = [v for s in stages if s["available"] for v in s["verdicts"].values() if v is not None]
    verdicts += [r["verdict"] for r in rec]
    ok = all(c.ok for c in checks) and bool(checks)
    doc: dict[str, Any] = {
        "version": __version__,
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            # Figures from a loaded machine are not the machine's: say how loaded.
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "config": {
            "duration": cfg.duration,
            "rate": cfg.rate,
            "seed": cfg.seed,
            "users": cfg.users,
            "symbols": cfg.symbols,
            "stages": cfg.stages,
            "quick": cfg.quick,
        },
        "components": have,
        "workload": {
            "commands": len(streams.workload),
            "ledger_commands": len(streams.ledger.commands),
            "exchange_commands": len(streams.exchange.commands),
            "exchange_setup_commands": len(streams.exchange.setup),
            "counts": streams.workload.counts,
            "mix": streams.workload.spec.mix,
        },
        "targets": TARGETS,
        "stages": stages,
        "recovery": rec,
        "sweep": sweep_rows,
        "proof": {"ok": ok, "checks": [c.__dict__ for c in checks]},
        "targets_met": sum(1 for v in verdicts if v),
        "targets_total": len(verdicts),
        "ok": ok,
    }
    return doc, results


def main(argv: Sequence[str] | None = None, prog: str = "python -m shanraq_core bench") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)  # exits 2 with a usage message on a bad flag
    cfg = _config(args, parser)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'shanraq_core[bench]'")
    comps = detect()
    # With --json the bar would go to stderr; only draw it for a person watching.
    progress = not args.no_progress and (not args.json or sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="shanraq-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        doc, results = run(cfg, progress=progress, workdir=workdir, comps=comps)
    if args.plot:
        plot(doc, results, args.plot)
        doc["plot"] = args.plot
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(doc)
        if args.plot:
            print(f"percentile plot: {args.plot}")
    if not doc["ok"]:
        return 1
    if args.strict and doc["targets_met"] < doc["targets_total"]:
        return 1
    return 0


def console_main() -> None:
    """The ``shanraq-bench`` console script."""
    raise SystemExit(main(prog="shanraq-bench"))
