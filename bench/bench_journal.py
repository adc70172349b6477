"""Journal benchmarks through the Python API: append (journal + apply +
fdatasync), replay (verify, and recovery without a snapshot) and snapshot
load (recovery from a snapshot of many resting orders or accounts).

    python -m bench.bench_journal            # one-process figures
    asv run --quick --python=same --bench bench_journal

The C++ figures (bench_journal in cpp/bench: the runner, open-loop latency,
RTO) are in docs/durability.md; these track the Python path. Journals live
in temporary directories on the same file system as tempfile.gettempdir():
point TMPDIR at the disk to measure (a tmpfs makes every fdatasync free).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    LEDGER_COMMAND_DTYPE,
    CommandKind,
    Journal,
    Ledger,
    LedgerCommandKind,
    MatchingEngine,
    OrderType,
    Side,
    TimeInForce,
)
from shanraq_core import journal as jm

SEED = 20261205
SYM = 1
ENGINE = {"max_orders": 1 << 20, "max_symbols": 4, "max_levels": 1 << 16, "id_history": 1 << 16}
Records = npt.NDArray[np.void]


def add_symbol() -> Records:
    c = np.zeros(1, dtype=BOOK_COMMAND_DTYPE)
    c["kind"] = int(CommandKind.ADD_SYMBOL)
    c["symbol"] = SYM
    c["tick_size"], c["lot_size"], c["min_price"], c["max_price"], c["max_qty"] = (
        1,
        1,
        1,
        1_000_000,
        1_000_000,
    )
    return c


@functools.cache
def crossing(n: int) -> Records:
    """Buy then sell at one price and size: every second command trades the
    one before away, so the book stays empty however often it runs."""
    c = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    c["kind"] = int(CommandKind.SUBMIT)
    c["symbol"] = SYM
    c["side"] = np.where(np.arange(n) % 2 == 0, int(Side.BUY), int(Side.SELL))
    c["order_type"] = int(OrderType.LIMIT)
    c["tif"] = int(TimeInForce.GTC)
    c["price"] = 1000
    c["qty"] = 10
    c["order_id"] = np.arange(1, n + 1, dtype=np.uint64)
    c["time_ns"] = np.arange(1, n + 1)
    return c


@functools.cache
def resting(n: int) -> Records:
    """n orders that rest (bids under asks, spread over 10,000 levels)."""
    rng = np.random.default_rng(SEED)
    c = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    c["kind"] = int(CommandKind.SUBMIT)
    c["symbol"] = SYM
    buy = rng.integers(0, 2, n) == 0
    c["side"] = np.where(buy, int(Side.BUY), int(Side.SELL))
    c["order_type"] = int(OrderType.LIMIT)
    c["tif"] = int(TimeInForce.GTC)
    c["price"] = np.where(buy, 1 + rng.integers(0, 5000, n), 5001 + rng.integers(0, 5000, n))
    c["qty"] = 1 + rng.integers(0, 100, n)
    c["order_id"] = np.arange(1, n + 1, dtype=np.uint64)
    return c


@functools.cache
def accounts(n: int) -> Records:
    c = np.zeros(n, dtype=LEDGER_COMMAND_DTYPE)
    c["kind"] = int(LedgerCommandKind.CREATE_ACCOUNT)
    c["time_ns"] = 1
    acc = c["account"]
    acc["id"] = np.arange(1, n + 1, dtype=np.uint64)
    acc["ledger"] = 1
    acc["code"] = 1
    return c


def new_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="shq-bench-journal-"))


def build(kind: str, n: int, snapshot: bool) -> str:
    """A closed journal of n commands (engine: resting orders; ledger:
    accounts), with a snapshot at its end or none."""
    d = new_dir() / "j"
    if kind == "engine":
        machine: Any = MatchingEngine(**ENGINE)
        cmds = resting(n)
    else:
        machine = Ledger(max_accounts=n + 16, max_transfers=16, max_history=16)
        cmds = accounts(n)
    with Journal.open(d, machine, durability="none") as j:
        if kind == "engine":
            j.process(add_symbol())
        for i in range(0, n, 65536):
            j.process(cmds[i : i + 65536])
        if snapshot:
            j.snapshot()
    return str(d)


def fresh(kind: str, n: int) -> Any:
    if kind == "engine":
        return MatchingEngine(**ENGINE)
    return Ledger(max_accounts=n + 16, max_transfers=16, max_history=16)


# ---- asv --------------------------------------------------------------------------------------
class Append:
    """Journal.process of a batch, then wait_durable: one group commit."""

    params = (["every_batch", "none"], [64, 4096])
    param_names = ("durability", "batch")
    timeout = 120

    def setup(self, durability: str, batch: int) -> None:
        self.dir = new_dir()
        self.journal = Journal.open(self.dir / "j", MatchingEngine(**ENGINE), durability=durability)
        self.journal.process(add_symbol())
        self.cmds = crossing(batch).copy()
        self.round = 0

    def teardown(self, durability: str, batch: int) -> None:
        self.journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def time_process_and_wait(self, durability: str, batch: int) -> None:
        self.round += 1
        self.cmds["order_id"] += len(self.cmds)
        self.journal.process(self.cmds)
        self.journal.wait_durable(self.journal.last_seq)


class Replay:
    """A 200,000-command journal without a snapshot: verify (every check)
    and recovery (Journal.open replays it all)."""

    timeout = 300
    N = 200_000

    def setup_cache(self) -> str:
        return build("engine", self.N, snapshot=False)

    def time_verify(self, path: str) -> None:
        jm.verify(path, MatchingEngine(**ENGINE))

    def time_recover(self, path: str) -> None:
        copy = new_dir() / "j"
        shutil.copytree(path, copy)
        try:
            Journal.open(copy, MatchingEngine(**ENGINE), preallocation="none").close()
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)


class SnapshotLoad:
    """Recovery from a snapshot of 200,000 resting orders or accounts
    (nothing to replay after it)."""

    params = (["engine", "ledger"],)
    param_names = ("machine",)
    timeout = 300
    N = 200_000

    def setup_cache(self) -> dict[str, str]:
        return {k: build(k, self.N, snapshot=True) for k in ("engine", "ledger")}

    def time_open_from_snapshot(self, paths: dict[str, str], machine: str) -> None:
        copy = new_dir() / "j"
        shutil.copytree(paths[machine], copy)
        try:
            Journal.open(copy, fresh(machine, self.N), preallocation="none").close()
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)


# ---- one-process figures ------------------------------------------------------------------------
def timed(f: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200_000, help="commands in the replay and snapshot journals")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    print(f"journals under {tempfile.gettempdir()}; medians of {a.repeat}")
    for durability in ("every_batch", "none"):
        for batch in (64, 4096):
            b = Append()
            b.setup(durability, batch)
            rounds = max(1, 200_000 // batch)
            t = timed(lambda b=b, d=durability, n=batch: b.time_process_and_wait(d, n), rounds)
            b.teardown(durability, batch)
            rate = batch / t / 1e6
            print(f"append {durability:<11} batch {batch:>5}: {t * 1e6:9.1f} us a batch, {rate:6.2f} M/s")
    path = build("engine", a.n, snapshot=False)
    t = timed(lambda: jm.verify(path, MatchingEngine(**ENGINE)), a.repeat)
    print(f"verify {a.n} commands: {t:.3f} s ({a.n / t / 1e6:.2f} M commands/s)")
    r = Replay()
    t = timed(lambda: r.time_recover(path), a.repeat)
    print(f"recover (replay) {a.n} commands: {t:.3f} s ({a.n / t / 1e6:.2f} M commands/s)")
    s = SnapshotLoad()
    paths = {k: build(k, a.n, snapshot=True) for k in ("engine", "ledger")}
    for k in ("engine", "ledger"):
        t = timed(lambda k=k: s.time_open_from_snapshot(paths, k), a.repeat)
        print(
            f"recover from a snapshot of {a.n} {'resting orders' if k == 'engine' else 'accounts'}: {t:.3f} s"
        )
    for d in [path, *paths.values()]:
        shutil.rmtree(Path(d).parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
