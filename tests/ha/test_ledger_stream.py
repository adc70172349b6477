"""The replication layer is generic over the state-machine contract: a
Ledger's stream, taken from a Runner's stamped ring, shipped and replayed
by a standby into an identical state."""

from __future__ import annotations

import threading

import numpy as np

from shanraq_core.ledger import LEDGER_COMMAND_DTYPE, Ledger
from shanraq_core.queue import SpscRing
from shanraq_core.replication import Shipper, StampedRingSource, Standby, pg
from shanraq_core.runner import Runner

from .helpers import wait_for


def _ledger_commands(n_accounts: int, n_transfers: int) -> np.ndarray:
    cmds = np.zeros(n_accounts + n_transfers, dtype=LEDGER_COMMAND_DTYPE)
    acc = cmds[:n_accounts]
    acc["kind"] = 1
    acc["account"]["id"] = np.arange(1, n_accounts + 1)
    acc["account"]["ledger"] = 1
    acc["account"]["code"] = 1
    tr = cmds[n_accounts:]
    rng = np.random.default_rng(7)
    tr["kind"] = 2
    tr["transfer"]["id"] = np.arange(1000, 1000 + n_transfers)
    debit = rng.integers(1, n_accounts + 1, n_transfers)
    tr["transfer"]["debit_account_id"] = debit
    tr["transfer"]["credit_account_id"] = debit % n_accounts + 1
    tr["transfer"]["amount"] = rng.integers(1, 100, n_transfers)
    tr["transfer"]["ledger"] = 1
    tr["transfer"]["code"] = 1
    return cmds


def test_a_ledger_stream_ships_from_the_stamped_ring_and_replays(dsn: str) -> None:
    conn = pg.connect(dsn)
    pg.ensure_schema(conn)
    pg.claim(conn, "ledger", 1, "ledger", LEDGER_COMMAND_DTYPE.itemsize)
    conn.close()
    ledger = Ledger()
    commands = SpscRing(4096, LEDGER_COMMAND_DTYPE)
    events = SpscRing(1 << 16, Ledger.EVENT_DTYPE)
    stamped = SpscRing(4096, LEDGER_COMMAND_DTYPE)
    source = StampedRingSource(stamped, next_seq=1, prev_chain=bytes(32), stream="ledger")
    shipper = Shipper(dsn, "ledger", 1, durable_seq=0, durable_chain=bytes(32))
    stop = threading.Event()
    ship = threading.Thread(target=shipper.run, args=(source, stop))
    ship.start()
    cmds = _ledger_commands(20, 3000)
    with Runner(ledger, commands, events, batch=128, stamped=stamped) as runner:
        done = 0
        while done < len(cmds):
            done += commands.push_many(cmds[done:], timeout=1.0)
            events.pop_many(1 << 16, 0)
        wait_for(lambda: runner.commands_processed == len(cmds), "the runner to apply everything")
    stop.set()
    ship.join()
    shipper.close()
    assert shipper.error is None
    assert runner.stamped_dropped == 0
    assert shipper.durable_seq == len(cmds)
    standby = Standby(dsn, "ledger", Ledger(), machine_name="ledger", batch=700)
    try:
        standby.connect()
        assert standby.catch_up() == len(cmds)
        assert standby.state_hash() == ledger.state_hash()
        assert standby.read(lambda m: m.balance(1)) == ledger.balance(1)
    finally:
        standby.close()
