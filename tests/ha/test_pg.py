"""The PostgreSQL side against a real server: appends, fencing and
continuity enforced by the database itself, retries, typed errors."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from shanraq_core.book import MatchingEngine
from shanraq_core.journal import Journal, TailReader
from shanraq_core.replication import (
    AuthenticationError,
    ContinuityError,
    ForeignStreamError,
    SchemaMismatchError,
    ServerUnreachableError,
    Shipper,
    StaleEpochError,
    Standby,
    pg,
    replay,
)
from shanraq_core.replication.load import BookLoad
from shanraq_core.replication.records import ZERO_CHAIN, Batch, TailSource
from shanraq_core.replication.testing import LocalPostgres, free_port

from .helpers import book_records, sealed, wait_for

BOOK = "book"
SIZE = MatchingEngine.COMMAND_DTYPE.itemsize


_open: list[psycopg.Connection] = []


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def _conn(dsn: str) -> psycopg.Connection:
    conn = pg.connect(dsn)
    _open.append(conn)
    pg.ensure_schema(conn)
    pg.prepare_session(conn)
    return conn


def _rows(dsn: str, stream: str) -> list[tuple[int, int]]:
    with psycopg.connect(dsn) as c:
        return c.execute(
            "SELECT seq, epoch FROM shanraq_journal WHERE stream = %s ORDER BY seq", (stream,)
        ).fetchall()


def test_append_then_read_back_verbatim(dsn: str) -> None:
    conn = _conn(dsn)
    assert pg.claim(conn, "s", 3, BOOK, SIZE) == (0, ZERO_CHAIN)
    b1 = sealed(1, 100, ZERO_CHAIN)
    b2 = sealed(101, 50, b1.last_chain, setup=False, seed=1)
    assert pg.append(conn, "s", 3, b1) == 100
    assert pg.append(conn, "s", 3, b2) == 150
    got = pg.read_batch(conn, "s", 0, 1000, SIZE)
    assert got is not None
    assert got.first_seq == 1
    assert got.count == 150
    assert got.records[:100].tobytes() == b1.records.tobytes()
    assert got.chains[100:].tobytes() == b2.chains.tobytes()
    assert (got.crcs[:100] == b1.crcs).all()
    info = pg.stream_info(conn, "s")
    assert info is not None
    assert (info.head_seq, info.head_chain, info.epoch) == (150, b2.last_chain, 3)
    assert pg.read_batch(conn, "s", 150, 10, SIZE) is None
    m = MatchingEngine()
    assert replay(dsn, "s", m, machine_name=BOOK) == (150, b2.last_chain)


def test_a_stale_epoch_is_refused_by_the_database(dsn: str) -> None:
    old, new = _conn(dsn), _conn(dsn)
    pg.claim(old, "s", 5, BOOK, SIZE)
    b1 = sealed(1, 10, ZERO_CHAIN)
    pg.append(old, "s", 5, b1)
    assert pg.claim(new, "s", 9, BOOK, SIZE) == (10, b1.last_chain)
    b2 = sealed(11, 10, b1.last_chain, setup=False)
    with pytest.raises(StaleEpochError) as e:
        pg.append(old, "s", 5, b2)
    assert (e.value.epoch, e.value.current) == (5, 9)
    with pytest.raises(StaleEpochError):
        pg.claim(old, "s", 8, BOOK, SIZE)
    pg.append(new, "s", 9, b2)
    assert [r[1] for r in _rows(dsn, "s")] == [5] * 10 + [9] * 10


def _insert(dsn: str, stream: str, epoch: int, batch: Batch) -> None:
    """A buggy client: inserts straight into the journal, bypassing shanraq_append."""
    with psycopg.connect(dsn) as c:
        c.execute(
            "INSERT INTO shanraq_journal SELECT %s, s, %s, 0, 0, %s, %s FROM unnest(%s::bigint[]) s",
            (stream, epoch, bytes(batch.chains[0]), batch.records[0].tobytes(), [batch.first_seq]),
        )


def test_direct_inserts_are_checked_by_the_trigger(dsn: str) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 5, BOOK, SIZE)
    b1 = sealed(1, 3, ZERO_CHAIN)
    pg.append(conn, "s", 5, b1)
    pg.claim(conn, "s", 6, BOOK, SIZE)
    nxt = sealed(4, 1, b1.last_chain, setup=False)
    with pytest.raises(psycopg.Error, match="stale") as e:
        _insert(dsn, "s", 5, nxt)
    assert e.value.sqlstate == "SQ001"
    gap = sealed(5, 1, b1.last_chain, setup=False)
    with pytest.raises(psycopg.Error, match="do not continue") as e:
        _insert(dsn, "s", 6, gap)
    assert e.value.sqlstate == "SQ004"
    forged = sealed(4, 1, bytes([7]) * 32, setup=False)
    with pytest.raises(psycopg.Error, match="hash chain") as e:
        _insert(dsn, "s", 6, forged)
    assert e.value.sqlstate == "SQ005"
    with psycopg.connect(dsn) as c:
        for stmt in (
            "UPDATE shanraq_journal SET epoch = 99",
            "DELETE FROM shanraq_journal",
            "TRUNCATE shanraq_journal",
            "UPDATE shanraq_stream SET epoch = 1",
        ):
            with pytest.raises(psycopg.Error) as e, c.transaction():
                c.execute(stmt)
            assert e.value.sqlstate in ("SQ007", "SQ001"), stmt
    _insert(dsn, "s", 6, nxt)
    assert [r[0] for r in _rows(dsn, "s")] == [1, 2, 3, 4]


def test_append_refuses_gaps_duplicates_and_broken_chains(dsn: str) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    b1 = sealed(1, 5, ZERO_CHAIN)
    pg.append(conn, "s", 1, b1)
    with pytest.raises(ContinuityError) as e:
        pg.append(conn, "s", 1, sealed(7, 2, b1.last_chain, setup=False))
    assert e.value.seq == 6
    pg.append(conn, "s", 1, b1)  # the same records again: nothing happens
    with pytest.raises(ContinuityError, match="diverged") as e:
        pg.append(conn, "s", 1, sealed(1, 5, ZERO_CHAIN, seed=9))
    assert e.value.seq == 2
    with pytest.raises(ContinuityError, match="hash chain") as e:
        pg.append(conn, "s", 1, sealed(6, 2, ZERO_CHAIN, setup=False))
    assert e.value.seq == 6
    assert len(_rows(dsn, "s")) == 5


def test_shipping_the_same_batch_again_is_a_no_op(dsn: str) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    conn.close()
    sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN)
    b1 = sealed(1, 20, ZERO_CHAIN)
    sh.ship(b1)
    # A commit whose answer was lost is shipped again: the database skips the
    # records it holds (after checking they are the same) and appends the rest.
    b2 = sealed(21, 10, b1.last_chain, setup=False)
    sh.ship(b1)
    assert [r[0] for r in _rows(dsn, "s")] == list(range(1, 21))
    overlap = Batch(
        11,
        np.concatenate([b1.records[10:], b2.records]),
        np.concatenate([b1.crcs[10:], b2.crcs]),
        np.concatenate([b1.chains[10:], b2.chains]),
        np.concatenate([b1.time_ns[10:], b2.time_ns]),
    )
    sh.ship(overlap)
    assert [r[0] for r in _rows(dsn, "s")] == list(range(1, 31))
    assert sh.durable() == (30, b2.last_chain)
    assert sh.retries == 0
    sh.close()


def test_a_diverged_history_is_refused_on_resync(dsn: str) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    pg.append(conn, "s", 1, sealed(1, 10, ZERO_CHAIN))
    sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN)
    with pytest.raises(ContinuityError, match="diverged"):
        sh.ship(sealed(1, 10, ZERO_CHAIN, seed=42))
    sh.close()


def test_postgres_restarted_mid_stream_loses_and_duplicates_nothing(
    pg_server: LocalPostgres, dsn: str
) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    conn.close()
    batches = []
    chain = ZERO_CHAIN
    for i in range(60):
        b = sealed(1 + 50 * i, 50, chain, setup=i == 0, seed=i)
        batches.append(b)
        chain = b.last_chain
    sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN, retry_for=120)
    done = threading.Event()
    errors: list[BaseException] = []

    def ship_all() -> None:
        try:
            for b in batches:
                sh.ship(b)
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=ship_all)
    t.start()
    wait_for(lambda: sh.durable_seq >= 500 or done.is_set(), "some batches shipped")
    pg_server.restart(mode="fast")
    wait_for(lambda: sh.durable_seq >= 1500 or done.is_set(), "more batches shipped")
    pg_server.restart(mode="immediate")
    t.join()
    sh.close()
    assert errors == []
    assert sh.retries >= 1
    assert [r[0] for r in _rows(dsn, "s")] == list(range(1, 3001))
    assert replay(dsn, "s", MatchingEngine(), machine_name=BOOK) == (3000, chain)


def test_wrong_credentials_are_an_authentication_error(pg_server: LocalPostgres) -> None:
    with pytest.raises(AuthenticationError, match="password"):
        pg.connect(pg_server.dsn(password="not-the-password"))


def test_an_unreachable_server_is_a_typed_error() -> None:
    port = free_port()
    with pytest.raises(ServerUnreachableError, match=f"127.0.0.1:{port}"):
        pg.connect(f"host=127.0.0.1 port={port} dbname=x user=x password=x", timeout=1)


def test_a_foreign_table_is_refused(dsn: str) -> None:
    with psycopg.connect(dsn) as c:
        c.execute("CREATE TABLE shanraq_journal (id integer PRIMARY KEY, payload text)")
    with pg.connect(dsn) as conn, pytest.raises(SchemaMismatchError, match="shanraq_journal"):
        pg.ensure_schema(conn)
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT count(*) FROM shanraq_journal").fetchone() == (0,)


def test_another_machines_stream_is_refused(dsn: str) -> None:
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, "ledger", 128)
    with pytest.raises(ForeignStreamError, match="ledger"):
        pg.claim(conn, "s", 2, BOOK, SIZE)
    with pytest.raises(ForeignStreamError, match="ledger"):
        replay(dsn, "s", MatchingEngine(), machine_name=BOOK)
    assert pg.stream_info(conn, "s") is not None
    assert book_records(1, 1).dtype.itemsize == SIZE


def test_with_a_synchronous_replica_a_shipped_batch_is_on_the_other_server(
    pg_server: LocalPostgres, dsn: str
) -> None:
    """synchronous_commit = remote_apply: when ship() returns, the replica
    already serves the batch (what `sync` mode's RPO 0 across machines rests on)."""
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    replica = LocalPostgres(replica_of=pg_server)
    try:
        pg_server.make_synchronous(replica)
        sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN)
        chain = ZERO_CHAIN
        with psycopg.connect(replica.dsn(str(dbname)), autocommit=True) as standby:
            for i in range(20):
                b = sealed(1 + 100 * i, 100, chain, setup=i == 0, seed=i)
                sh.ship(b)
                chain = b.last_chain
                row = standby.execute(
                    "SELECT head_seq, head_chain FROM shanraq_stream WHERE stream = 's'"
                ).fetchone()
                assert row == (b.last_seq, chain)
        sh.close()
        # A standby may follow the read replica: no LISTEN there, catch-up reads only.
        sb = Standby(replica.dsn(str(dbname)), "s", MatchingEngine(), machine_name=BOOK)
        try:
            sb.connect()
            assert sb.poll_only
            sb.wait(0.01)
            assert sb.catch_up() == 2000
            assert sb.chain == chain
        finally:
            sb.close()
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as c:
            c.execute("ALTER SYSTEM RESET synchronous_standby_names")
            c.execute("ALTER SYSTEM RESET synchronous_commit")
            c.execute("SELECT pg_reload_conf()")
        replica.close()


def test_a_restarted_primary_ships_its_local_journal_from_the_databases_head(
    dsn: str, tmp_path: pathlib.Path
) -> None:
    """The shipper's source is the local journal's tailing reader. The
    primary stops after shipping part of what its journal made durable
    (the last batch it shipped committed, and it recorded nothing of that),
    restarts on the same disk (the journal recovers), journals more, and
    ships from the database's head + 1: no gap, no duplicate, and the
    database's replay is the journal's machine."""
    conn = _conn(dsn)
    pg.claim(conn, "s", 1, BOOK, SIZE)
    path = tmp_path / "journal"
    load = BookLoad(1)
    j = Journal.open(path, MatchingEngine())
    j.process(load.setup())
    for _ in range(20):
        j.process(load.orders(100))
    assert j.wait_durable(j.last_seq, 60)
    reader = TailReader(path, MatchingEngine(), from_seq=1, live=j)
    sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN)
    source = TailSource(reader, next_seq=1, prev_chain=ZERO_CHAIN, stream="s", max_batch=300)
    for _ in range(3):
        batch = source.next_batch(5)
        assert batch is not None
        sh.ship(batch)
    sh.close()
    j.close()
    # The restart: what the shipper knew is gone; the database says where it stands.
    j = Journal.open(path, MatchingEngine())
    assert j.last_seq == 2001
    for _ in range(10):
        j.process(load.orders(100))
    assert j.wait_durable(j.last_seq, 60)
    info = pg.stream_info(conn, "s")
    conn.rollback()
    assert info is not None
    assert info.head_seq == 900
    reader = TailReader(path, MatchingEngine(), from_seq=info.head_seq + 1, live=j)
    sh = Shipper(dsn, "s", 1, durable_seq=info.head_seq, durable_chain=info.head_chain)
    source = TailSource(reader, next_seq=info.head_seq + 1, prev_chain=info.head_chain, stream="s")
    while (batch := source.next_batch(0.05)) is not None:
        sh.ship(batch)
    sh.close()
    assert [r[0] for r in _rows(dsn, "s")] == list(range(1, 3002))
    fresh = MatchingEngine()
    assert replay(dsn, "s", fresh, machine_name=BOOK)[0] == 3001
    assert fresh.state_hash() == j.machine.state_hash()
    j.close()


def test_a_failing_source_stops_the_shipper_with_its_error(dsn: str) -> None:
    """A local journal's error (here any exception from the source) ends the
    shipper with the error kept and reported, so the node fences; before, a
    non-replication error ended the thread and nothing was told."""

    class Broken:
        def next_batch(self, timeout: float) -> Batch | None:
            raise RuntimeError("the journal is damaged")

    seen: list[BaseException] = []
    sh = Shipper(dsn, "s", 1, durable_seq=0, durable_chain=ZERO_CHAIN)
    sh.run(Broken(), threading.Event(), on_error=seen.append)
    assert isinstance(sh.error, RuntimeError)
    assert seen == [sh.error]
    assert not sh.wait_durable(1, 0)
