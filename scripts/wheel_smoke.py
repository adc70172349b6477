#!/usr/bin/env python3
"""A quick smoke test of an installed shanraq_core: every compiled module is imported and used once.

    python scripts/wheel_smoke.py

Run against a wheel installed in a fresh environment (scripts/aarch64_wheel.sh runs it under
qemu-aarch64). It needs only shanraq_core and numpy, and checks results, not timings: a histogram's
percentiles and its HdrHistogram round trip, records through each ring kind between two threads and
through shared memory, a trade in the matching engine, a two-phase ledger payment, the Runner
giving the same events as direct processing, and the main job's quick run proving itself. Prints one
line per check; exit status 1 on the first failure.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

import shanraq_core as sc

Check = Callable[[], str]


def expect(condition: bool, message: object) -> None:
    """Like assert, but not removed by python -O."""
    if not condition:
        raise AssertionError(message)


def push_all(ring: Any, records: np.ndarray[Any, Any]) -> threading.Thread:
    """Pushes each record from a new thread, as a producer would."""

    def produce() -> None:
        for i in range(len(records)):
            ring.push(records[i])

    thread = threading.Thread(target=produce)
    thread.start()
    return thread


def pop_all(ring: Any, n: int) -> np.ndarray[Any, Any]:
    parts: list[np.ndarray[Any, Any]] = []
    total = 0
    while total < n:
        part = np.array(ring.pop_many(64, timeout=30.0), copy=True)
        expect(len(part) > 0, "no record for 30 s")
        parts.append(part)
        total += len(part)
    return np.concatenate(parts)


def check_hist() -> str:
    h = sc.LatencyHistogram()
    h.record_many(np.arange(1, 10_001, dtype=np.int64))
    p50, p99 = (int(v) for v in h.percentiles([50, 99]))
    expect(h.total_count == 10_000, h.total_count)
    expect(abs(p50 - 5_000) <= 5 and abs(p99 - 9_900) <= 10, (p50, p99))
    back = sc.LatencyHistogram.decode(h.encode())
    expect(back.total_count == h.total_count, back.total_count)
    expect(
        [int(v) for v in back.percentiles([50, 99])] == [p50, p99], "percentiles changed in the round trip"
    )
    return f"10,000 values, p50 {p50} p99 {p99}, V2 encoding round trip"


def check_rings() -> str:
    n = 20_000
    for cls in (sc.SpscRing, sc.MpscRing, sc.MpmcRing):
        ring = cls(64, np.dtype(np.uint64))
        values = np.arange(n, dtype=np.uint64)
        producer = push_all(ring, values)
        got = pop_all(ring, n)
        producer.join()
        expect(np.array_equal(got, values), f"{cls.__name__}: records out of order")
    name = f"/shanraq_smoke_{os.getpid()}"
    owner = sc.SpscRing.create(name, 16, np.dtype(np.uint64))
    try:
        peer = sc.SpscRing.attach(name)
        owner.push(np.uint64(42))
        expect(int(peer.pop(timeout=5.0)) == 42, "shared-memory record lost")
    finally:
        owner.close()
        del owner
    return f"{n:,} records in order through SpscRing, MpscRing and MpmcRing; shared-memory attach"


def _engine() -> sc.MatchingEngine:
    eng = sc.MatchingEngine(max_orders=1024, max_symbols=4, max_levels=256, id_history=4096)
    eng.add_symbol(7, min_price=1, max_price=1_000_000, max_qty=1_000_000)
    return eng


def check_book() -> str:
    eng = _engine()
    maker = eng.submit(1, 7, sc.Side.SELL, 100, 5, account=1)
    expect(maker.accepted, maker)
    taker = eng.submit(2, 7, sc.Side.BUY, 101, 3, account=2)
    expect(len(taker.trades) == 1, taker)
    trade = taker.trades[0]
    expect((trade.price, trade.qty, trade.maker_order_id) == (100, 3, 1), trade)
    expect((taker.filled, taker.remaining) == (3, 0), taker)
    return "a crossing buy trades 3 lots at the resting price"


def check_ledger() -> str:
    led = sc.Ledger(16, 64, 64)
    created = sc.CreateAccountResult.CREATED
    expect(led.create_account(1, 840, 1) == created, "account 1")
    flags = sc.AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    expect(led.create_account(2, 840, 1, flags=flags) == created, "account 2")
    ok = sc.CreateTransferResult.CREATED
    expect(led.transfer(10, 1, 2, 500, 840, 1) == ok, "funding")
    hold = led.transfer(11, 2, 1, 400, 840, 1, flags=sc.TransferFlags.PENDING, timeout_ns=10**9)
    expect(hold == ok, hold)
    overdraft = led.transfer(12, 2, 1, 101, 840, 1)
    expect(overdraft == sc.CreateTransferResult.EXCEEDS_CREDITS, overdraft)
    expect(led.post_pending(13, 11, 350) == ok, "post")
    expect(led.balance(2) == 150, led.balance(2))
    return "two-phase payment: hold 400, post 350, overdraft refused, balance 150"


def check_runner() -> str:
    n = 2_000
    rng = np.random.default_rng(3)
    cmds = np.zeros(n, dtype=sc.BOOK_COMMAND_DTYPE)
    cmds["kind"] = int(sc.CommandKind.SUBMIT)
    cmds["order_id"] = np.arange(1, n + 1)
    cmds["time_ns"] = 1_000 + np.arange(n)
    cmds["symbol"] = 7
    cmds["account"] = rng.integers(1, 5, n)
    cmds["side"] = np.where(rng.integers(0, 2, n) == 0, int(sc.Side.BUY), int(sc.Side.SELL))
    cmds["order_type"] = int(sc.OrderType.LIMIT)
    cmds["tif"] = int(sc.TimeInForce.GTC)
    cmds["price"] = 95 + rng.integers(0, 11, n)
    cmds["qty"] = 1 + rng.integers(0, 20, n)
    want = _engine().process(cmds)
    commands = sc.SpscRing(64, sc.BOOK_COMMAND_DTYPE)
    events = sc.SpscRing(64, sc.BOOK_EVENT_DTYPE)
    with sc.Runner(_engine(), commands, events, batch=16, time_source="command"):
        producer = push_all(commands, cmds)
        got = pop_all(events, len(want))
        producer.join()
    np.testing.assert_array_equal(got, want)
    return f"{n:,} commands through Runner: {len(want):,} events equal to direct processing"


def check_exchange() -> str:
    x = sc.Exchange(max_users=8, max_assets=4, max_symbols=4, max_orders=64, max_levels=64, id_history=64,
                    max_accounts=64, max_transfers=64)  # fmt: skip
    x.add_asset(1)
    x.add_asset(2)
    x.add_symbol(10, 1, 2)
    for user in (1, 2):
        x.add_user(user)
    expect(not x.deposit(1, 1, 1, 5).rejected, "deposit base")
    expect(not x.deposit(2, 2, 2, 1_000).rejected, "deposit quote")
    sell = x.place(1, 1, 10, sc.Side.SELL, 100, 5)
    expect(not sell.rejected, sell)
    expect(x.balance(1, 1).held == 5, x.balance(1, 1))
    greedy = x.place(2, 2, 10, sc.Side.BUY, 100, 11)
    expect(greedy.reason == sc.ExchangeRejectReason.INSUFFICIENT_BALANCE, greedy.reason)
    buy = x.place(2, 3, 10, sc.Side.BUY, 100, 3)
    expect(buy.trades == 1, buy)
    expect(x.balance(2, 1).total == 3 and x.balance(2, 2).total == 700, x.balance(2, 2))
    expect(bool(x.check_invariants()), x.check_invariants())
    expect(sc.Exchange.restore(x.snapshot()).state_hash() == x.state_hash(), "snapshot/restore")
    return "balance holds: an unfunded buy refused, a funded one trades 3 lots, invariants hold"


def check_journal() -> str:
    """The journal (libcrypto's SHA-256, ISA-L's CRC32C) over the exchange:
    commands written durably, then recovered into a fresh exchange."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        j = sc.Exchange.open(tmp, max_users=8, max_assets=4, max_symbols=4, max_accounts=64,
                             max_transfers=64)  # fmt: skip
        x = j.machine
        cmds = np.zeros(4, dtype=sc.EXCHANGE_COMMAND_DTYPE)
        cmds["kind"] = [int(sc.ExchangeCommandKind.ADD_ASSET)] * 2 + [
            int(sc.ExchangeCommandKind.ADD_USER)
        ] * 2
        cmds["asset"][:2] = [1, 2]
        cmds["user"][2:] = [1, 2]
        j.process(cmds)
        j.snapshot()
        j.process(cmds[:1])  # a duplicate asset: rejected, and journaled all the same
        want = x.state_hash()
        j.close()
        again = sc.Exchange.open(tmp, create=False, max_users=8, max_assets=4, max_symbols=4,
                                 max_accounts=64, max_transfers=64)  # fmt: skip
        got = again.machine.state_hash()
        users = again.machine.user_count
        again.close()
    expect(got == want, f"recovered {got:016x}, wrote {want:016x}")
    expect(users == 2, users)
    return "exchange journaled (snapshot + 1 command after it) recovers to the same state hash"


def check_bench() -> str:
    """The main job in-process, on the stages that need no second
    interpreter (under qemu-user an emulated program cannot start another):
    it must finish and prove its run."""
    import contextlib
    import io
    import json

    from shanraq_core.harness import cli

    out = io.StringIO()
    stages = "exchange_batch,exchange_per_call,engine_batch,engine_per_call,ledger_batch,ledger_per_call"
    with contextlib.redirect_stdout(out):
        rc = cli.main(["--quick", "--json", "--no-progress", "--stages", stages])
    doc = json.loads(out.getvalue())
    expect(rc == 0 and doc["ok"], doc["proof"])
    done = sum(s["completed"] for s in doc["stages"])
    checks = len(doc["proof"]["checks"])
    return f"bench --quick: {done:,} commands over 6 stages, {checks} correctness checks ok"


def main() -> int:
    print(
        f"shanraq_core {sc.__version__} on {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, from {os.path.dirname(sc.__file__)}"
    )
    checks: list[tuple[str, Check]] = [
        ("hist", check_hist),
        ("queue", check_rings),
        ("book", check_book),
        ("ledger", check_ledger),
        ("runner", check_runner),
        ("exchange", check_exchange),
        ("journal", check_journal),
        ("bench", check_bench),
    ]
    for name, check in checks:
        try:
            detail = check()
        except Exception as e:
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            return 1
        print(f"ok   {name}: {detail}")
    print(f"smoke test: {len(checks)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
