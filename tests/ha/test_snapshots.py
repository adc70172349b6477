"""Snapshots in PostgreSQL for standbys that join late: stored by a
following standby, checked against the journal's chain, restored by a new
node which then replays only the records after it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from shanraq_core.replication import ContinuityError, Node, NodeConfig, Standby, replay
from shanraq_core.replication.load import ExchangeLoad
from shanraq_core.replication.node import make_machine
from shanraq_core.replication.snapshots import load_snapshot, save_snapshot
from shanraq_core.replication.testing import LocalEtcd

from .helpers import PATIENCE, wait_for

_nodes: list[Node] = []


@pytest.fixture(autouse=True)
def _stop_nodes() -> Iterator[None]:
    yield
    while _nodes:
        _nodes.pop().stop()


def _node(dsn: str, etcd: str, stream: str, node_id: str, **kw: object) -> Node:
    n = Node(
        NodeConfig(stream=stream, dsn=dsn, etcd=etcd, node_id=node_id, machine="exchange", **kw)  # type: ignore[arg-type]
    )
    _nodes.append(n)
    n.start()
    return n


def _snapshots(dsn: str, stream: str) -> list[int]:
    with psycopg.connect(dsn) as c:
        return [r[0] for r in c.execute("SELECT seq FROM shanraq_snapshot WHERE stream = %s", (stream,))]


def _newest_snapshot(dsn: str, stream: str) -> int:
    try:
        return max(_snapshots(dsn, stream), default=0)
    except psycopg.errors.UndefinedTable:
        return 0


def _feed(node: Node, load: ExchangeLoad, batches: int) -> int:
    last = 0
    for _ in range(batches):
        last = node.submit(load.orders(250))[1]
    assert node.wait_acked(last, PATIENCE)
    return last


def test_a_late_standby_starts_from_the_newest_snapshot(
    dsn: str, etcd_server: LocalEtcd, stream: str
) -> None:
    a = _node(dsn, etcd_server.endpoint, stream, "a")
    assert a.wait_role("primary", PATIENCE)
    assert a.election is not None
    load = ExchangeLoad(a.election.epoch)
    a.submit(load.setup())
    b = _node(dsn, etcd_server.endpoint, stream, "b", snapshot_every=1000)
    assert b.wait_role("standby", PATIENCE)
    last = _feed(a, load, 20)
    wait_for(lambda: b.health().applied_seq >= last, "the standby to follow")
    newest = wait_for(lambda: _newest_snapshot(dsn, stream), "the standby to store a snapshot")
    last = _feed(a, load, 4)
    late = _node(dsn, etcd_server.endpoint, stream, "late")
    assert late.wait_role("standby", PATIENCE)
    # It started from a stored snapshot, the newest when it started.
    assert late.snapshot_seq >= newest
    assert late.snapshot_seq in _snapshots(dsn, stream)
    wait_for(lambda: late.health().applied_seq >= last, "the late standby to catch up")
    assert late.standby is not None
    late_hash = late.standby.state_hash()
    # The primary at the same seq: stop the standbys first (no takeover), then it.
    b.stop()
    late.stop()
    a.stop()
    assert a.final_seq == last
    assert a.final_state_hash == late_hash
    fresh = make_machine("exchange")
    assert replay(dsn, stream, fresh, machine_name="exchange")[0] == last
    assert fresh.state_hash() == late_hash


def test_a_snapshot_that_does_not_check_is_refused(dsn: str, etcd_server: LocalEtcd, stream: str) -> None:
    a = _node(dsn, etcd_server.endpoint, stream, "a")
    assert a.wait_role("primary", PATIENCE)
    assert a.election is not None
    load = ExchangeLoad(a.election.epoch)
    a.submit(load.setup())
    last = _feed(a, load, 4)
    a.stop()
    machine = make_machine("exchange")
    seq, chain = replay(dsn, stream, machine, machine_name="exchange")
    assert seq == last
    with pytest.raises(ContinuityError, match="chain"):
        save_snapshot(dsn, stream, machine, bytes(32))
    assert load_snapshot(dsn, stream, "exchange") is None
    assert save_snapshot(dsn, stream, machine, chain) == seq
    assert save_snapshot(dsn, stream, machine, chain) == seq  # again: a no-op
    restored, at, got_chain = load_snapshot(dsn, stream, "exchange")  # type: ignore[misc]
    assert (at, got_chain, restored.state_hash()) == (seq, chain, machine.state_hash())
    # A restored standby continues from it and checks the chain on.
    sb = Standby(dsn, stream, restored, machine_name="exchange", chain=got_chain)
    assert sb.catch_up() == 0
    sb.close()
    with psycopg.connect(dsn) as c:
        c.execute("UPDATE shanraq_snapshot SET data = data || '\\x00'::bytea WHERE stream = %s", (stream,))
    with pytest.raises(ContinuityError, match="SHA-256"):
        load_snapshot(dsn, stream, "exchange")
    # A node falls back to a full replay.
    n = _node(dsn, etcd_server.endpoint, stream, "n")
    wait_for(lambda: n.role in ("standby", "primary"), "the node to start")
    assert n.snapshot_seq == 0
