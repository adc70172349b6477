"""asv benchmarks for the ledger (shanraq_core.ledger).

    asv run --quick --python=same --bench bench_ledger

Workload (bench/ledger_data.py): 1M accounts, uniformly random pairs, ~10%
of payments two-phase. Batch benchmarks time create_transfers over
N_BATCH transfers in 8190-transfer batches (transfers/s = N_BATCH / time);
per-call benchmarks time a Python loop of N_CALLS Ledger.transfer calls
(ns per call = time / N_CALLS). The baseline is the pure-Python reference
ledger (tests/ledger_reference.py) on N_REFERENCE transfers. Evict times
evict() with an idempotency window over N_BATCH stored transfers;
CreateTransfersEvicting the batch path while it evicts by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from tests.ledger_reference import ReferenceLedger

from bench import ledger_data as data
from shanraq_core import TRANSFER_DTYPE, Ledger

N_BATCH = 1_000_000
N_CALLS = 10_000
N_REFERENCE = 2_000


class CreateTransfersBatch:
    timeout = 600
    number = 1
    repeat = 5

    def setup(self) -> None:
        self.stream = data.transfers(N_BATCH)
        self.ledger = data.loaded_ledger(max_transfers=N_BATCH)
        self.ledger.prefault()

    def time_create_transfers(self) -> None:
        # number = 1: each sample gets a fresh ledger from setup, so ids are new.
        for i in range(0, N_BATCH, data.BATCH):
            self.ledger.create_transfers(self.stream[i : i + data.BATCH])


def _time_ordered(n: int) -> tuple[Any, Any]:
    """The workload with time-ordered ids, 1000 transfers per ms of command
    time; returns the records and each one's ms."""
    stream = data.transfers(n).copy()
    ms = 1_000_000 + np.arange(n, dtype=np.uint64) // 1000
    ids = (ms << np.uint64(22)) | (np.arange(n, dtype=np.uint64) % 1000)
    posts = stream["pending_id"] != 0
    stream["pending_id"][posts] = ids[stream["pending_id"][posts].astype(np.int64) - 1]
    stream["id"] = ids
    return stream, ms


class ProcessCommands:
    """The batch workload as CREATE_TRANSFER commands through process()
    (128-byte commands in, 128-byte events out), in 8190-command batches;
    compare with CreateTransfersBatch (the same transfers, results only)."""

    timeout = 600
    number = 1
    repeat = 5

    def setup(self) -> None:
        self.commands = data.transfer_commands(data.transfers(N_BATCH))
        self.ledger = data.loaded_ledger(max_transfers=N_BATCH)
        self.ledger.prefault()

    def time_process(self) -> None:
        for i in range(0, N_BATCH, data.BATCH):
            self.ledger.process(self.commands[i : i + data.BATCH])


class Evict:
    """evict() at a quiet moment: N_BATCH stored time-ordered transfers, then
    time moves on (an account event) so the older half is outside the window."""

    timeout = 600
    number = 1
    repeat = 5

    def setup(self) -> None:
        stream, ms = _time_ordered(N_BATCH)
        window_ns = N_BATCH // 2 // 1000 * 1_000_000
        self.ledger = Ledger(data.N_ACCOUNTS + 1, N_BATCH, 1, idempotency_window_ns=window_ns)
        self.ledger.create_accounts(data.accounts())
        # All inside the window while they arrive: nothing is evicted yet.
        t_end = int(ms[-1]) * 1_000_000
        for i in range(0, N_BATCH, data.BATCH):
            self.ledger.create_transfers(stream[i : i + data.BATCH], now_ns=t_end - window_ns)
        self.ledger.create_account(data.N_ACCOUNTS + 1, 1, 1, now_ns=t_end)

    def time_evict(self) -> None:
        # number = 1: each sample evicts from a fresh ledger built by setup.
        self.ledger.evict()


class CreateTransfersEvicting:
    """create_transfers of N_BATCH time-ordered transfers into a ledger whose
    idempotency window is full, so every event also evicts (automatic
    eviction, no archive); compare with CreateTransfersBatch."""

    timeout = 600
    number = 1
    repeat = 5

    def setup(self) -> None:
        stream, ms = _time_ordered(2 * N_BATCH)
        self.stream, self.ms = stream[N_BATCH:], ms[N_BATCH:]
        window_ns = N_BATCH // 1000 * 1_000_000
        self.ledger = Ledger(data.N_ACCOUNTS, 2 * N_BATCH, 1, idempotency_window_ns=window_ns)
        self.ledger.create_accounts(data.accounts())
        self.ledger.prefault()
        for i in range(0, N_BATCH, data.BATCH):
            j = min(i + data.BATCH, N_BATCH)
            self.ledger.create_transfers(stream[i:j], now_ns=int(ms[j - 1]) * 1_000_000)

    def time_create_transfers_evicting(self) -> None:
        for i in range(0, N_BATCH, data.BATCH):
            j = min(i + data.BATCH, N_BATCH)
            self.ledger.create_transfers(self.stream[i:j], now_ns=int(self.ms[j - 1]) * 1_000_000)


class TransferPerCall:
    timeout = 600
    number = 1
    repeat = 10

    def setup(self) -> None:
        self.rows: list[Any] = data.transfers(N_CALLS, seed=11).tolist()
        self.ledger = data.loaded_ledger(max_transfers=N_CALLS)

    def time_transfer(self) -> None:
        tr = self.ledger.transfer
        for t in self.rows:
            tr(t[0], t[1], t[2], t[3], t[9], t[10], flags=t[11], pending_id=t[4])

    def time_lookup_account(self) -> None:
        look = self.ledger.lookup_account
        for t in self.rows:
            look(t[1] or 1)


class ReferenceBaseline:
    timeout = 600
    number = 1
    repeat = 3

    def setup(self) -> None:
        stream = data.transfers(N_REFERENCE, n_accounts=1000, seed=7).tolist()
        names = TRANSFER_DTYPE.names
        assert names is not None
        self.rows = [dict(zip(names, t, strict=True)) for t in stream]
        self.ref = ReferenceLedger()
        for aid in range(1, 1001):
            self.ref.create_account(id=aid, ledger=1, code=1)

    def time_reference_create_transfers(self) -> None:
        self.ref.create_transfers(self.rows)
