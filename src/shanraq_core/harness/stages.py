"""The harness's stages: one way of driving one machine with a command stream
on an open-loop schedule, each measuring latency from every command's
scheduled time (so a stall delays, and is charged to, every command scheduled
behind it: no coordinated omission).

A stage is a `Stage`: ``needs`` names the components it uses (see
components.py), ``run`` drives a fresh machine and returns a `StageResult`
with the latency histogram, the achieved throughput, the machine's state hash
and its snapshot. The exchange's, the engine's and the ledger's stages are
these classes over their machines (components.py), listed in
`cli.default_stages`.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core.errors import Closed
from shanraq_core.hist import LatencyHistogram
from shanraq_core.queue import SpscRing
from shanraq_core.runner import Runner

__all__ = [
    "BatchStage",
    "DurableStage",
    "PerCallBookStage",
    "PerCallExchangeStage",
    "PerCallLedgerStage",
    "RingStage",
    "Stage",
    "StageResult",
    "Stream",
]

#: A progress callback: commands done so far.
Progress = Callable[[int], None]
#: How far behind schedule a stage may fall (as a multiple of the scheduled
#: span, plus a second) before it stops issuing: a stage that cannot keep up
#: must not turn a 10-second run into 10 minutes. Commands not completed are
#: recorded with their latency so far, so the percentiles still show it.
GIVE_UP_FACTOR = 3.0
MAX_BATCH = 4096
#: The ring stage's producer waits at least this long for events between
#: pushes (so it batches commands that fall due meanwhile, as a gateway does);
#: shorter waits spin and take the runner's CPU on a small machine.
MIN_WAIT_NS = 50_000


@dataclass
class Stream:
    """One machine's input: setup (untimed) then ``commands`` at ``sched_ns``."""

    machine: Any  # BookMachine or LedgerMachine
    setup: npt.NDArray[np.void]
    commands: npt.NDArray[np.void]
    sched_ns: npt.NDArray[np.int64]
    rate: float


@dataclass
class StageResult:
    key: str
    title: str
    component: str
    available: bool
    note: str = ""
    offered_rate: float = 0.0
    commands: int = 0
    completed: int = 0
    elapsed_s: float = 0.0
    hist: LatencyHistogram | None = None
    state_hash: int | None = None
    snapshot: bytes | None = None
    recorded: npt.NDArray[np.void] | None = None  # commands as applied (stamped), if recorded
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Stage:
    key = ""
    title = ""
    component = ""
    needs: tuple[str, ...] = ()

    def missing(self, components: dict[str, bool]) -> list[str]:
        return [n for n in self.needs if not components.get(n, False)]

    def run(self, stream: Stream, progress: Progress, workdir: Path) -> StageResult:
        raise NotImplementedError

    def unavailable(self, why: str) -> StageResult:
        return StageResult(self.key, self.title, self.component, available=False, note=why)


def _deadline(sched: npt.NDArray[np.int64]) -> int:
    span = int(sched[-1]) if len(sched) else 0
    return int(span * GIVE_UP_FACTOR) + 1_000_000_000


def _finish(
    lat: npt.NDArray[np.int64], done: int, sched: npt.NDArray[np.int64], now: int
) -> tuple[LatencyHistogram, int]:
    """A histogram of the completed commands' latencies, plus, for the ones
    given up on, the time they had waited when the stage stopped."""
    h = LatencyHistogram()
    h.record_many(np.maximum(lat[:done], 1))
    if done < len(sched):
        h.record_many(np.maximum(now - sched[done:], 1))
    return h, done


class BatchStage(Stage):
    """The machine's batch API on one thread: whenever commands are due, all
    of them (up to 4,096) go to ``process`` in one call (GIL released), as a
    sequencer's loop would; each command's latency is the call's end minus
    its scheduled time."""

    def __init__(self, key: str, title: str, component: str, needs: tuple[str, ...]) -> None:
        self.key, self.title, self.component, self.needs = key, title, component, needs

    def run(self, stream: Stream, progress: Progress, workdir: Path) -> StageResult:
        machine = stream.machine.new(stream.setup)
        cmds, sched = stream.commands, stream.sched_ns
        n = len(cmds)
        lat = np.zeros(n, dtype=np.int64)
        process = machine.process
        clock = time.perf_counter_ns
        events = 0
        i = 0
        start = clock() + 1_000_000
        give_up = start + _deadline(sched)
        next_report = 0
        while i < n:
            now = clock()
            if now > give_up:
                break
            k = int(np.searchsorted(sched, now - start, side="right"))
            if k <= i:
                continue
            k = min(k, i + MAX_BATCH)
            events += len(process(cmds[i:k]))
            lat[i:k] = clock() - start - sched[i:k]
            i = k
            if i >= next_report:
                progress(i)
                next_report = i + 8192
        end = clock()
        hist, done = _finish(lat, i, sched, end - start)
        progress(n)
        res = StageResult(self.key, self.title, self.component, True, offered_rate=stream.rate, commands=n)
        res.completed, res.elapsed_s, res.hist = done, (end - start) / 1e9, hist
        if done < n:
            res.note = f"fell behind: stopped after {res.elapsed_s:.1f} s with {done:,} of {n:,} done"
        res.state_hash = machine.state_hash() if done == n else None
        res.snapshot = machine.snapshot() if done == n else None
        res.extra["events"] = events
        res.extra["capacity_tps"] = _capacity(stream)
        return res


def _capacity(stream: Stream) -> float:
    """Closed loop: the whole stream through ``process`` in 4,096-command
    batches as fast as it goes, on a fresh machine (commands per second)."""
    machine = stream.machine.new(stream.setup)
    cmds = stream.commands
    t0 = time.perf_counter_ns()
    for j in range(0, len(cmds), MAX_BATCH):
        machine.process(cmds[j : j + MAX_BATCH])
    dt = time.perf_counter_ns() - t0
    return len(cmds) / (dt / 1e9) if dt > 0 else 0.0


class _PerCall(Stage):
    """The machine's per-call Python API, one call per command, from one
    thread that waits (spins) until each command is due."""

    def calls(self, machine: Any, cmds: npt.NDArray[np.void]) -> Callable[[int], object]:
        raise NotImplementedError

    def run(self, stream: Stream, progress: Progress, workdir: Path) -> StageResult:
        machine = stream.machine.new(stream.setup)
        cmds, sched = stream.commands, stream.sched_ns
        n = len(cmds)
        apply = self.calls(machine, cmds)
        lat = np.zeros(n, dtype=np.int64)
        sched_l = sched.tolist()
        clock = time.perf_counter_ns
        start = clock() + 1_000_000
        give_up = start + _deadline(sched)
        i = 0
        while i < n:
            due = start + sched_l[i]
            now = clock()
            while now < due:
                now = clock()
            if now > give_up:
                break
            apply(i)
            lat[i] = clock() - due
            i += 1
            if not i & 8191:
                progress(i)
        end = clock()
        hist, done = _finish(lat, i, sched, end - start)
        progress(n)
        res = StageResult(self.key, self.title, self.component, True, offered_rate=stream.rate, commands=n)
        res.completed, res.elapsed_s, res.hist = done, (end - start) / 1e9, hist
        if done < n:
            res.note = f"fell behind: stopped after {res.elapsed_s:.1f} s with {done:,} of {n:,} done"
        else:
            res.state_hash = machine.state_hash()
            res.snapshot = machine.snapshot()
        # Closed loop on a fresh machine: the per-call API's capacity.
        fresh = stream.machine.new(stream.setup)
        apply = self.calls(fresh, cmds)
        t0 = clock()
        for j in range(n):
            apply(j)
        dt = clock() - t0
        res.extra["capacity_tps"] = n / (dt / 1e9) if dt > 0 else 0.0
        return res


class PerCallBookStage(_PerCall):
    key, title, component, needs = "engine_per_call", "per-call Python API", "engine", ("matching_engine",)

    def calls(self, machine: Any, cmds: npt.NDArray[np.void]) -> Callable[[int], object]:
        kind = cmds["kind"].tolist()
        oid = cmds["order_id"].tolist()
        sym = cmds["symbol"].tolist()
        side = cmds["side"].tolist()
        price = [p or None for p in cmds["price"].tolist()]
        qty = cmds["qty"].tolist()
        acct = cmds["account"].tolist()
        otype = cmds["order_type"].tolist()
        tif = cmds["tif"].tolist()
        disp = cmds["display_qty"].tolist()
        stop = cmds["stop_price"].tolist()
        t = cmds["time_ns"].tolist()
        amend_qty = [q or None for q in qty]
        submit, cancel, amend = machine.submit, machine.cancel, machine.amend

        def apply(i: int) -> object:
            k = kind[i]
            if k == 1:
                return submit(
                    oid[i], sym[i], side[i], price[i], qty[i], account=acct[i], order_type=otype[i],
                    tif=tif[i], display_qty=disp[i], stop_price=stop[i], time_ns=t[i],
                )  # fmt: skip
            if k == 2:
                return cancel(oid[i], time_ns=t[i])
            return amend(oid[i], price=price[i], qty=amend_qty[i], time_ns=t[i])

        return apply


class PerCallExchangeStage(_PerCall):
    key, title, component, needs = "exchange_per_call", "per-call Python API", "exchange", ("exchange",)

    def calls(self, machine: Any, cmds: npt.NDArray[np.void]) -> Callable[[int], object]:
        kind = cmds["kind"].tolist()
        user = cmds["user"].tolist()
        oid = cmds["order_id"].tolist()
        sym = cmds["symbol"].tolist()
        side = cmds["side"].tolist()
        price = cmds["price"].tolist()
        qty = cmds["qty"].tolist()
        otype = cmds["order_type"].tolist()
        tif = cmds["tif"].tolist()
        disp = cmds["display_qty"].tolist()
        stop = cmds["stop_price"].tolist()
        t = cmds["time_ns"].tolist()
        place, cancel, amend = machine.place, machine.cancel, machine.amend

        def apply(i: int) -> object:
            k = kind[i]
            if k == 1:
                return place(
                    user[i], oid[i], sym[i], side[i], price[i], qty[i], order_type=otype[i], tif=tif[i],
                    stop_price=stop[i], display_qty=disp[i], time_ns=t[i],
                )  # fmt: skip
            if k == 2:
                return cancel(user[i], oid[i], time_ns=t[i])
            return amend(user[i], oid[i], price=price[i], qty=qty[i], stop_price=stop[i], time_ns=t[i])

        return apply


class PerCallLedgerStage(_PerCall):
    key, title, component, needs = "ledger_per_call", "per-call Python API", "ledger", ("ledger",)

    def calls(self, machine: Any, cmds: npt.NDArray[np.void]) -> Callable[[int], object]:
        tr = cmds["transfer"]
        cols = [
            tr[f].tolist()
            for f in ("id", "debit_account_id", "credit_account_id", "amount", "ledger", "code", "flags")
        ]
        ids, dr, cr, amount, led, code, flags = cols
        pending = tr["pending_id"].tolist()
        t = cmds["time_ns"].tolist()
        transfer = machine.transfer

        def apply(i: int) -> object:
            return transfer(
                ids[i], dr[i], cr[i], amount[i], led[i], code[i], flags=flags[i], pending_id=pending[i],
                now_ns=t[i],
            )  # fmt: skip

        return apply


def _ring_runner_child(
    machine: Any,
    setup: npt.NDArray[np.void],
    commands: SpscRing,
    events: SpscRing,
    stamped: SpscRing,
    conn: Any,
    out: str,
    journal_dir: str | None = None,
) -> None:
    """The runner process: its own machine, driven by a Runner from the
    shared command ring to the shared event ring; every stamped batch is
    kept and written to ``out`` (the run's command record). With
    ``journal_dir``, the Runner also writes a journal there."""
    m = machine.new(setup)
    extra: dict[str, Any] = {"stamped": stamped}
    journal: Any = None
    first_seq = m.next_seq
    if journal_dir is not None:
        # The journal takes the sink's seat (a Runner has one): the run's
        # command record is read back from the journal itself below.
        try:
            import shanraq_core

            journal = shanraq_core.Journal.open(journal_dir, m)
            extra = {"journal": journal}
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"))
            return
    chunks: list[npt.NDArray[np.void]] = []
    stop = threading.Event()

    def drain() -> None:
        while True:
            try:
                got = stamped.pop_many(1 << 16, timeout=0.01)
            except Closed:
                return
            if len(got):
                chunks.append(got)
            elif stop.is_set():
                return

    keeper = threading.Thread(target=drain, daemon=True)
    keeper.start()
    try:
        runner = Runner(m, commands, events, batch=256, time_source="command", **extra)
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", m.next_seq))
    runner.start()
    runner.join()
    stop.set()
    keeper.join()
    while True:
        try:
            got = stamped.pop_many(1 << 16, timeout=0)
        except Closed:
            break
        if not len(got):
            break
        chunks.append(got)
    if journal is not None:
        journal.close()
        import shanraq_core

        assert journal_dir is not None  # journal is set only with it
        reader = shanraq_core.TailReader(journal_dir, m, from_seq=first_seq)
        while True:
            got = reader.read()
            if not len(got):
                break
            chunks.append(np.array(got, copy=True))
    # Raw records: np.save cannot describe a dtype with aliased fields, and
    # concatenating such arrays packs their dtype; bytes are what is kept.
    raw = np.dtype(f"V{m.COMMAND_DTYPE.itemsize}")
    record = np.concatenate([c.view(raw) for c in chunks]) if chunks else np.zeros(0, dtype=raw)
    np.save(out, record)
    conn.send(("done", m.state_hash(), runner.commands_processed, runner.stamped_dropped))
    conn.close()


def _receive(conn: Any, proc: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not proc.is_alive():
            raise RuntimeError(f"the runner process died (exit code {proc.exitcode}) before it could {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the runner process did not {what} within {timeout:g} s")
    return conn.recv()


class RingStage(Stage):
    """Commands pushed into a shared-memory SpscRing, applied by a Runner
    thread in another process, events back through another shared ring; a
    command's latency is the moment this process pops its first event minus
    its scheduled time (a full round trip between processes)."""

    journal = False

    def __init__(self, key: str, title: str, component: str, needs: tuple[str, ...]) -> None:
        self.key, self.title, self.component, self.needs = key, title, component, needs

    def run(self, stream: Stream, progress: Progress, workdir: Path) -> StageResult:
        res, state_hash, record = self._session(stream, stream.sched_ns, progress, workdir, self.key)
        if res.completed == res.commands:
            res.state_hash = state_hash
            res.recorded = record
        res.extra["capacity_tps"] = self.capacity(stream, workdir)
        return res

    def capacity(self, stream: Stream, workdir: Path) -> float | None:
        """Closed loop: the whole stream pushed into the ring as fast as the
        runner in the other process takes it (every command due at once), to
        the last command's first event back (commands per second); None if
        that run did not complete. With the journal, every batch is durable
        before its events are published, so this is the durable capacity."""
        zero = np.zeros(len(stream.commands), dtype=np.int64)
        res, _h, _r = self._session(stream, zero, lambda _n: None, workdir, f"{self.key}_capacity")
        if res.completed != res.commands or res.elapsed_s <= 0:
            return None
        return res.completed / res.elapsed_s

    def _session(
        self,
        stream: Stream,
        sched: npt.NDArray[np.int64],
        progress: Progress,
        workdir: Path,
        name: str,
    ) -> tuple[StageResult, int, npt.NDArray[np.void]]:
        """One runner process driven with ``stream``'s commands on ``sched``:
        the result, the runner's final state hash and its command record."""
        dtype = stream.commands.dtype
        probe = stream.machine.new(stream.setup)
        event_dtype = probe.EVENT_DTYPE
        del probe
        tag = f"shq-bench-{os.getpid()}-{name}"
        # Raw records of the machine's record sizes: a shared segment's header
        # holds a dtype descriptor of at most 1,023 characters, and the
        # ledger's (nested payload views) is longer. Pops are viewed back.
        cmd_ring = SpscRing.create(f"/{tag}-c", 1 << 16, dtype.itemsize)
        ev_ring = SpscRing.create(f"/{tag}-e", 1 << 18, event_dtype.itemsize)
        st_ring = SpscRing.create(f"/{tag}-s", 1 << 17, dtype.itemsize)
        out = str(workdir / f"{name}_record.npy")
        journal_dir = str(workdir / f"{name}_journal") if self.journal else None
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_ring_runner_child,
            args=(stream.machine, stream.setup, cmd_ring, ev_ring, st_ring, child, out, journal_dir),
            daemon=True,
        )
        proc.start()
        try:
            msg, base = _receive(parent, proc, 60, "start")
            if msg == "error":
                raise RunnerSetupError(base)
            res = self._drive(stream, sched, cmd_ring, ev_ring, event_dtype, int(base), progress)
            msg, state_hash, processed, dropped = _receive(parent, proc, 120, "finish")
            proc.join(30)
        finally:
            if proc.is_alive():
                proc.kill()
                proc.join()
            for r in (cmd_ring, ev_ring, st_ring):
                r.close()
        res.extra["runner_commands_processed"] = processed
        res.extra["stamped_dropped"] = dropped
        return res, int(state_hash), np.load(out).view(dtype)

    def _drive(
        self,
        stream: Stream,
        sched: npt.NDArray[np.int64],
        cmd_ring: SpscRing,
        ev_ring: SpscRing,
        event_dtype: np.dtype[Any],
        base: int,
        progress: Progress,
    ) -> StageResult:
        cmds = stream.commands
        n = len(cmds)
        lat = np.zeros(n, dtype=np.int64)
        seen = np.zeros(n, dtype=bool)
        clock = time.perf_counter_ns
        start = clock() + 1_000_000
        # The stream's schedule bounds the wait, also for a closed-loop run
        # (every command due at once).
        give_up = start + _deadline(stream.sched_ns)
        pushed = 0
        completed = 0
        events = 0
        closed_cmds = False
        next_report = 0
        while completed < n:
            now = clock()
            if now > give_up:
                break
            if pushed < n:
                k = int(np.searchsorted(sched, now - start, side="right"))
                if k > pushed:
                    pushed += cmd_ring.push_many(cmds[pushed : min(k, pushed + MAX_BATCH)], timeout=0)
            elif not closed_cmds:
                cmd_ring.close()
                closed_cmds = True
            # Wait for events (asleep, GIL released) until the next command is
            # due rather than spin: a spinning producer would take a whole
            # core from the runner on a 2-core machine and delay it by the
            # scheduler's time slices. A late wake-up is charged as latency.
            if pushed < n:
                wait_ns = start + int(sched[pushed]) - clock()
                timeout = max(wait_ns, MIN_WAIT_NS) / 1e9
            else:
                timeout = 0.01
            try:
                ev = ev_ring.pop_many(MAX_BATCH, timeout=timeout)
            except Closed:
                break
            if len(ev):
                t = clock() - start
                events += len(ev)
                idx = ev.view(event_dtype)["seq"].astype(np.int64) - base
                idx = idx[(idx >= 0) & (idx < n)]
                idx = np.unique(idx)
                idx = idx[~seen[idx]]
                seen[idx] = True
                lat[idx] = t - sched[idx]
                completed += len(idx)
                if completed >= next_report:
                    progress(completed)
                    next_report = completed + 8192
        end = clock()
        if not closed_cmds:
            cmd_ring.close()
        # Drain what is left so the runner can finish (it closes the event
        # ring when it has applied the last command).
        drain_until = time.monotonic() + 60
        while time.monotonic() < drain_until:
            try:
                ev_ring.pop_many(MAX_BATCH, timeout=0.05)
            except Closed:
                break
        # Latency of every command in its own slot; not-yet-acknowledged ones
        # count with how long they had waited.
        h = LatencyHistogram()
        h.record_many(np.maximum(lat[seen], 1))
        if completed < n:
            h.record_many(np.maximum((end - start) - sched[~seen], 1))
        progress(n)
        res = StageResult(self.key, self.title, self.component, True, offered_rate=stream.rate, commands=n)
        res.completed, res.elapsed_s, res.hist = completed, (end - start) / 1e9, h
        res.extra["events"] = events
        if completed < n:
            res.note = f"fell behind: stopped after {res.elapsed_s:.1f} s with {completed:,} of {n:,} done"
        return res


class RunnerSetupError(RuntimeError):
    """The runner process could not build its Runner (or journal)."""


class DurableStage(RingStage):
    """The ring stage with the journal: the runner process opens
    ``Journal.open(<workdir>/durable_ack_journal, machine)`` and hands it to
    its Runner. The sequencer publishes a batch's events only after the
    journal says the batch is durable (append, apply, await_durable,
    publish), so the first event of a command is its durable
    acknowledgement. The run's command record is read back from the journal
    (TailReader), so the proof replays what the journal holds. Needs
    `shanraq_core.Journal` and a Runner that takes ``journal``; a build
    without them reports the stage, not runs it."""

    journal = True

    def __init__(
        self,
        key: str = "durable_ack",
        component: str = "engine",
        machine_needs: tuple[str, ...] = ("matching_engine",),
    ) -> None:
        super().__init__(
            key, "to durable ack (journal)", component, (*machine_needs, "journal", "runner_journal")
        )

    def run(self, stream: Stream, progress: Progress, workdir: Path) -> StageResult:
        try:
            return super().run(stream, progress, workdir)
        except RunnerSetupError as e:
            return self.unavailable(f"the journal is in this build, but the harness could not use it: {e}")
