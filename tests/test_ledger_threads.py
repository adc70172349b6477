"""A Ledger is single-writer: while one thread is inside a call that released
the GIL (a batch), every other thread's call is refused with RuntimeError,
never run concurrently. Real threads; the refusal is proven by state, not by
timing: the prober's call is made while the batch thread is inside the
ledger, and the refusal itself is the observation (a call that is not
refused either ran before the batch entered or after it left, and must then
be fully accounted for)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from shanraq_core import LEDGER_COMMAND_DTYPE, TRANSFER_DTYPE, CreateTransferResult, Ledger

BATCH = 100_000
USD = 1


def _batch(first_id: int) -> np.ndarray:
    arr = np.zeros(BATCH, dtype=TRANSFER_DTYPE)
    arr["id"] = np.arange(first_id, first_id + BATCH, dtype=np.uint64)
    arr["debit_account_id"] = 1
    arr["credit_account_id"] = 2
    arr["amount"] = 1
    arr["ledger"] = USD
    arr["code"] = 1
    return arr


def _run_batch(led: Ledger, first_id: int, results: list[np.ndarray]) -> None:
    results.append(led.create_transfers(_batch(first_id)))


def _probes(led: Ledger, created: list[int]) -> dict[str, Callable[[], Any]]:
    def transfer() -> Any:
        tid = 10 * 40 * BATCH + len(created)  # above every batch's ids
        result = led.transfer(tid, 1, 2, 1, USD, 1)
        assert result == CreateTransferResult.CREATED
        created.append(tid)
        return result

    return {
        "transfer": transfer,
        "lookup_account": lambda: led.lookup_account(1),
        "balance": lambda: led.balance(1),
        "process": lambda: led.process(np.zeros(0, dtype=LEDGER_COMMAND_DTYPE)),
        "create_transfers": lambda: led.create_transfers(np.zeros(0, dtype=TRANSFER_DTYPE)),
        "snapshot": led.snapshot,
        "state_hash": led.state_hash,
        "next_seq": lambda: led.next_seq,
        "transfer_count": lambda: led.transfer_count,
        "advance_time": lambda: led.advance_time(0),
        "set_account_limit": lambda: led.set_account_limit(1, 0),
        "get_account_transfers": lambda: led.get_account_transfers(1, limit=1),
        "get_account_balances": lambda: led.get_account_balances(1, limit=1),
        "query_accounts": lambda: led.query_accounts(limit=1),
        "query_transfers": lambda: led.query_transfers(limit=1),
    }


@pytest.mark.parametrize(
    "probe",
    [
        "transfer",
        "lookup_account",
        "balance",
        "process",
        "create_transfers",
        "snapshot",
        "state_hash",
        "next_seq",
        "transfer_count",
        "advance_time",
        "set_account_limit",
        "get_account_transfers",
        "get_account_balances",
        "query_accounts",
        "query_transfers",
    ],
)
def test_a_call_while_a_batch_runs_is_refused_not_run_concurrently(probe: str) -> None:
    led = Ledger(4, 40 * BATCH, 4)
    assert led.create_account(1, USD, 1) == CreateTransferResult.CREATED
    assert led.create_account(2, USD, 1) == CreateTransferResult.CREATED
    created_per_call: list[int] = []
    call = _probes(led, created_per_call)[probe]
    refused: list[str] = []
    created_by_batches = 0
    for attempt in range(20):
        results: list[np.ndarray] = []
        worker = threading.Thread(target=_run_batch, args=(led, 1 + attempt * BATCH, results))
        worker.start()
        while worker.is_alive() and not refused:
            try:
                call()
            except RuntimeError as e:
                refused.append(str(e))
            # Hands the GIL to the worker, which then enters the ledger and
            # releases it for the batch: the next call finds it inside.
            time.sleep(0)
        worker.join()
        assert len(results) == 1
        created_by_batches += int((results[0]["status"] == CreateTransferResult.CREATED).sum())
        if refused:
            break
    assert refused, "no call was refused while a batch ran: the ledger let two threads in"
    assert "in use by another thread" in refused[0]
    # Nothing ran concurrently: every transfer is accounted for.
    total = created_by_batches + len(created_per_call)
    assert led.transfer_count == total
    acc = led.lookup_account(1)
    assert acc is not None
    assert acc.debits_posted == total
