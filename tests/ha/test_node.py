"""Nodes in this process against real servers: sync acknowledgement, the hot
standby (lag, reads, falling behind and catching up), self-fencing when etcd
is unreachable, operator commands."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from shanraq_core.book import MatchingEngine
from shanraq_core.replication import FencedError, Node, NodeConfig, NotLeaderError, Standby, pg, replay
from shanraq_core.replication.cli import main as cluster
from shanraq_core.replication.load import BookLoad
from shanraq_core.replication.testing import LocalEtcd, LocalPostgres, TcpProxy, free_port

from .helpers import PATIENCE, wait_for

_nodes: list[Node] = []


@pytest.fixture(autouse=True)
def _stop_nodes() -> Iterator[None]:
    yield
    while _nodes:
        _nodes.pop().stop()


def _node(dsn: str, etcd: str, stream: str, node_id: str, **kw: object) -> Node:
    n = Node(NodeConfig(stream=stream, dsn=dsn, etcd=etcd, node_id=node_id, etcd_timeout=0.3, **kw))  # type: ignore[arg-type]
    _nodes.append(n)
    n.start()
    return n


def _feed(node: Node, batches: int, size: int = 200) -> int:
    assert node.election is not None
    load = BookLoad(node.election.epoch)
    last = node.submit(load.setup())[1]
    for _ in range(batches):
        last = node.submit(load.orders(size))[1]
    return last


def _primary_and_standby(dsn: str, etcd: str, stream: str) -> tuple[Node, Node]:
    a = _node(dsn, etcd, stream, "a")
    assert a.wait_role("primary", PATIENCE), a.health()
    b = _node(dsn, etcd, stream, "b")
    assert b.wait_role("standby", PATIENCE), b.health()
    return a, b


def test_sync_acknowledged_means_committed_in_postgres(dsn: str, etcd_server: LocalEtcd, stream: str) -> None:
    a, b = _primary_and_standby(dsn, etcd_server.endpoint, stream)
    with pytest.raises(NotLeaderError):
        b.submit(BookLoad(1).setup())
    last = _feed(a, 20)
    assert a.wait_acked(last, PATIENCE)
    with psycopg.connect(dsn) as c:
        head = c.execute("SELECT head_seq FROM shanraq_stream WHERE stream = %s", (stream,)).fetchone()
    assert head is not None
    assert head[0] >= last
    h = a.health()
    assert (h.role, h.epoch, h.mode) == ("primary", a.election.epoch if a.election else -1, "sync")
    assert h.acked_seq >= last
    assert json.loads(h.to_json())["role"] == "primary"
    # The standby follows, serves reads, and reports no lag once caught up.
    wait_for(lambda: b.health().applied_seq >= last, "the standby to catch up")
    assert b.read(lambda m: m.bbo(1)) is not None
    assert b.health().lag_commands == b.health().head_seq - b.health().applied_seq
    with pytest.raises(NotLeaderError):
        a.read(lambda m: m.bbo(1))


def test_a_standby_behind_reports_lag_and_catches_up(dsn: str, etcd_server: LocalEtcd, stream: str) -> None:
    a = _node(dsn, etcd_server.endpoint, stream, "a")
    assert a.wait_role("primary", PATIENCE)
    last = _feed(a, 30)
    assert a.wait_acked(last, PATIENCE)
    sb = Standby(dsn, stream, MatchingEngine(), machine_name="book", batch=500)
    try:
        assert sb.poll() == 500
        lag = sb.lag()
        assert (lag.applied_seq, lag.head_seq, lag.commands) == (500, last, last - 500)
        assert lag.ms >= 0
        sb.catch_up()
        assert sb.lag().commands == 0
        assert sb.lag().ms == 0
        fresh = MatchingEngine()
        replay(dsn, stream, fresh, machine_name="book")
        assert sb.state_hash() == fresh.state_hash()
    finally:
        sb.close()


def test_a_leader_cut_off_from_etcd_fences_itself_and_the_standby_takes_over(
    dsn: str, etcd_server: LocalEtcd, stream: str
) -> None:
    proxy = TcpProxy(etcd_server.port)
    try:
        a = _node(dsn, f"http://127.0.0.1:{proxy.port}", stream, "a")
        assert a.wait_role("primary", PATIENCE)
        b = _node(dsn, etcd_server.endpoint, stream, "b")
        assert b.wait_role("standby", PATIENCE)
        last = _feed(a, 10)
        assert a.wait_acked(last, PATIENCE)
        acked_by_a = a.acked_seq
        proxy.block()
        assert b.wait_role("primary", PATIENCE), b.health()
        # a stopped acknowledging before b took over: everything it acknowledged
        # is at or below the head b claimed.
        assert a.role != "primary"
        assert acked_by_a <= b.claimed_head
        with pytest.raises((FencedError, NotLeaderError)):
            a.submit(BookLoad(1).orders(1))
        assert "TTL" in a.health().error or "lease" in a.health().error
        proxy.unblock()
        assert a.wait_role("standby", PATIENCE), a.health()
        last_b = _feed(b, 5)
        assert b.wait_acked(last_b, PATIENCE)
        wait_for(lambda: a.health().applied_seq >= last_b, "the old leader to follow as standby")
    finally:
        proxy.close()


def test_operator_commands(
    dsn: str, etcd_server: LocalEtcd, stream: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _primary_and_standby(dsn, etcd_server.endpoint, stream)
    last = _feed(a, 5)
    assert a.wait_acked(last, PATIENCE)
    base = ["--stream", stream, "--json"]
    assert cluster(["status", *base, "--dsn", dsn, "--etcd", etcd_server.endpoint]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["leader"] == "a"
    assert status["leader_epoch"] == status["database_epoch"] == a.election.epoch if a.election else False
    assert status["head_seq"] >= last
    # Planned switchover to b.
    assert cluster(["promote", *base, "--etcd", etcd_server.endpoint, "--node", "b"]) == 0
    assert json.loads(capsys.readouterr().out)["demoted"] == "a"
    assert b.wait_role("primary", PATIENCE), b.health()
    assert a.wait_role("standby", PATIENCE), a.health()
    last = _feed(b, 5)
    assert b.wait_acked(last, PATIENCE)
    assert cluster(["demote", *base, "--etcd", etcd_server.endpoint]) == 0
    assert json.loads(capsys.readouterr().out)["demoted"] == "b"
    wait_for(lambda: a.role == "primary" or b.role == "primary", "a new primary")
    assert cluster(["verify", *base, "--dsn", dsn]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"]
    assert report["records"] >= last


def test_cli_errors_are_reported_not_raised(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cluster(["verify", "--stream", "nothing-here", "--dsn", dsn]) == 2
    assert "SchemaMismatchError" in capsys.readouterr().err
    conn = pg.connect(dsn)
    pg.ensure_schema(conn)
    conn.close()
    assert cluster(["verify", "--stream", "nothing-here", "--dsn", dsn]) == 1
    bad = dsn.replace("password=", "password=wrong")
    assert cluster(["verify", "--stream", "x", "--dsn", bad]) == 2
    assert "AuthenticationError" in capsys.readouterr().err


def test_a_node_with_wrong_credentials_stops_and_says_why(
    pg_server: LocalPostgres, dsn: str, etcd_server: LocalEtcd, stream: str
) -> None:
    bad = dsn.replace(f"password={pg_server.password}", "password=wrong")
    n = _node(bad, etcd_server.endpoint, stream, "a")
    assert n.wait_role("stopped", PATIENCE), n.health()
    assert "AuthenticationError" in n.health().error
    assert not n.health().ok


def test_a_node_without_etcd_stays_standby_and_says_why(dsn: str, stream: str) -> None:
    n = _node(dsn, f"http://127.0.0.1:{free_port()}", stream, "a")
    wait_for(lambda: "etcd" in n.health().error, "the etcd error in health()")
    assert n.role == "standby"
    assert "EtcdUnavailableError" in n.health().error
