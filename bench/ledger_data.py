"""Seeded workloads for the ledger benchmarks (asv bench_ledger.py and the
one-process comparison compare_ledger.py), so both measure the same inputs.

The issue's workload: N_ACCOUNTS accounts on one ledger, transfers between
uniformly random distinct pairs, and 10% of payments two-phase: a hold
(PENDING) that a later transfer posts. Every transfer in the stream succeeds.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core.ledger import (
    ACCOUNT_DTYPE,
    AMOUNT_MAX,
    LEDGER_COMMAND_DTYPE,
    TRANSFER_DTYPE,
    Ledger,
    LedgerCommandKind,
    TransferFlags,
)

SEED = 20240602
N_ACCOUNTS = 1_000_000
#: Transfers per create_transfers call: TigerBeetle's batch size.
BATCH = 8190
#: Share of payments that are holds posted later.
PENDING_SHARE = 0.10
#: A hold is posted this many events after it was placed.
POST_LAG = 2000


def accounts(n: int = N_ACCOUNTS) -> npt.NDArray[np.void]:
    arr = np.zeros(n, dtype=ACCOUNT_DTYPE)
    arr["id"] = np.arange(1, n + 1, dtype=np.uint64)
    arr["ledger"] = 1
    arr["code"] = 1
    return arr


@functools.cache
def transfers(n: int, n_accounts: int = N_ACCOUNTS, seed: int = SEED) -> npt.NDArray[np.void]:
    """n transfers (about PENDING_SHARE of them holds, each posted POST_LAG
    events later), ids 1..n in order."""
    rng = np.random.default_rng(seed)
    arr = np.zeros(n, dtype=TRANSFER_DTYPE)
    arr["id"] = np.arange(1, n + 1, dtype=np.uint64)
    dr = rng.integers(1, n_accounts + 1, size=n, dtype=np.uint64)
    cr = rng.integers(1, n_accounts, size=n, dtype=np.uint64)
    cr[cr >= dr] += 1  # uniform over the other accounts
    arr["debit_account_id"] = dr
    arr["credit_account_id"] = cr
    arr["amount"] = rng.integers(1, 10_000, size=n, dtype=np.uint64)
    arr["ledger"] = 1
    arr["code"] = 1
    # Pick holds, then turn the event POST_LAG later into the post of each.
    holds = np.flatnonzero(rng.random(n - POST_LAG) < PENDING_SHARE / (1 + PENDING_SHARE))
    posts = holds + POST_LAG
    keep = ~np.isin(holds, posts)  # a hold's own slot must not also be a post
    holds, posts = holds[keep], posts[keep]
    _, first = np.unique(posts, return_index=True)
    holds, posts = holds[first], posts[first]
    arr["flags"][holds] = TransferFlags.PENDING
    p = arr[posts]
    p["debit_account_id"] = 0
    p["credit_account_id"] = 0
    p["amount"] = AMOUNT_MAX  # the whole hold (TigerBeetle >= 0.16: 0 would post 0)
    p["ledger"] = 0
    p["code"] = 0
    p["flags"] = TransferFlags.POST_PENDING_TRANSFER
    p["pending_id"] = arr["id"][holds]
    arr[posts] = p
    return arr


def loaded_ledger(n_accounts: int = N_ACCOUNTS, max_transfers: int = 1 << 23) -> Ledger:
    led = Ledger(max_accounts=n_accounts, max_transfers=max_transfers, max_history=1)
    res = led.create_accounts(accounts(n_accounts))
    assert all_created(res)
    return led


def all_created(results: npt.NDArray[Any]) -> bool:
    """Every result CREATED: TigerBeetle 0.17's results (a ``status`` field,
    CREATED = 2**32 - 1), or a build before them (codes, CREATED = 0)."""
    if results.dtype.names is not None:
        return bool((results["status"] == 0xFFFFFFFF).all())
    return not results.any()


def transfer_commands(transfers: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """The transfers as CREATE_TRANSFER commands (seq 0, time 0), as a runner
    would hand them to Ledger.process."""
    cmds = np.zeros(len(transfers), dtype=LEDGER_COMMAND_DTYPE)
    cmds["kind"] = LedgerCommandKind.CREATE_TRANSFER
    cmds["transfer"] = transfers
    return cmds
