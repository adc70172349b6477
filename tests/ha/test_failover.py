"""Failover with real processes: SIGKILL of the primary mid-load, a paused
and revived old primary fenced by the database. (scripts/failover.py runs
the long version and measures RTO/RPO.)"""

from __future__ import annotations

import pathlib
import random
import signal
from collections.abc import Iterator

import psycopg
import pytest

from shanraq_core.journal import TailReader
from shanraq_core.replication import replay
from shanraq_core.replication.node import make_machine
from shanraq_core.replication.testing import LocalEtcd, NodeProcess

from .helpers import wait_for

#: SIGKILLs per run in the suite (scripts/failover.py runs the long loops).
KILLS = {"book": 5, "exchange": 3}

_procs: list[NodeProcess] = []


@pytest.fixture(autouse=True)
def _stop_processes() -> Iterator[None]:
    yield
    while _procs:
        _procs.pop().stop()


_logs: list[str] = []


@pytest.fixture(autouse=True)
def _log_dir(tmp_path: pathlib.Path) -> Iterator[None]:
    _logs.append(str(tmp_path))
    yield
    _logs.clear()


def _spawn(dsn: str, etcd: LocalEtcd, stream: str, node_id: str, **kw: object) -> NodeProcess:
    p = NodeProcess(stream=stream, dsn=dsn, etcd=etcd.endpoint, node_id=node_id, log_dir=_logs[-1], **kw)  # type: ignore[arg-type]
    _procs.append(p)
    return p


def _the_primary(procs: list[NodeProcess]) -> NodeProcess:
    def find() -> NodeProcess | None:
        for p in procs:
            if not p.alive:
                raise AssertionError(f"node {p.node_id} died:\n{p.log_tail()}")
        live = [p for p in procs if p.role == "primary"]
        return live[0] if len(live) == 1 else None

    return wait_for(find, "exactly one primary")  # type: ignore[no-any-return]


def _acks_new_commands(p: NodeProcess) -> bool:
    since = p.primary_since()
    return since is not None and any(seq > since[2] and t >= since[0] for t, seq, _e in p.acks)


def _journal(dsn: str, stream: str) -> dict[int, int]:
    with psycopg.connect(dsn) as c:
        return dict(
            c.execute("SELECT seq, epoch FROM shanraq_journal WHERE stream = %s", (stream,)).fetchall()
        )


def _check_acks(all_procs: list[NodeProcess], journal: dict[int, int]) -> int:
    """Every acknowledged command is in the journal, and past its leader's
    claim it is the very record that leader shipped (its epoch)."""
    head = max(journal) if journal else 0
    checked = 0
    for p in all_procs:
        promotions = [(t, epoch, claimed) for t, role, epoch, claimed in p.roles if role == "primary"]
        for t, seq, epoch in p.acks:
            assert seq <= head, (
                f"{p.node_id} acknowledged seq {seq} (epoch {epoch}); the journal ends at {head}"
            )
            claimed = max((c for tp, e, c in promotions if e == epoch and tp <= t), default=0)
            if seq > claimed:
                assert journal[seq] == epoch, (
                    f"seq {seq}: acknowledged under epoch {epoch}, stored {journal[seq]}"
                )
            checked += 1
    return checked


def _check_local_journals(
    dsn: str, stream: str, machine: str, final: NodeProcess, disk: pathlib.Path
) -> None:
    """The final primary shipped exactly what its local journal holds: its
    epoch's journal starts at the head it claimed (its snapshot) and every
    record after it is the one in PostgreSQL, byte for byte, to the end; the
    older epochs' journals on that disk were removed at its promotion."""
    since = [(e, c) for _t, r, e, c in final.roles if r == "primary"][-1]
    epoch, claimed = since
    journals = sorted(p.name for p in (disk / stream).iterdir())
    assert journals == [f"epoch-{epoch}"]
    kind = make_machine(machine)
    reader = TailReader(disk / stream / f"epoch-{epoch}", kind, from_seq=claimed + 1)
    local = reader.read(1 << 20)
    with psycopg.connect(dsn) as c:
        stored = c.execute(
            "SELECT seq, record FROM shanraq_journal WHERE stream = %s AND seq > %s ORDER BY seq",
            (stream, claimed),
        ).fetchall()
    assert len(local) == len(stored) > 0
    assert [int(s) for s in local["seq"]] == [seq for seq, _r in stored]
    assert local.tobytes() == b"".join(bytes(r) for _s, r in stored)


@pytest.mark.parametrize(("machine", "local_journal"), [("book", False), ("exchange", True)])
def test_sigkill_the_primary_mid_load(
    dsn: str, etcd_server: LocalEtcd, stream: str, machine: str, local_journal: bool, tmp_path: pathlib.Path
) -> None:
    """With ``local_journal`` each node journals on its own disk (a directory)
    and ships from it; a killed primary restarts on its disk as a standby."""
    rng = random.Random(13)
    disks = {}

    def spawn(node_id: str, disk: str) -> NodeProcess:
        extra = ["--machine", machine]
        if local_journal:
            disks[node_id] = disk
            extra += ["--journal-dir", str(tmp_path / disk)]
        return _spawn(dsn, etcd_server, stream, node_id, extra=extra)

    procs = [spawn("n0", "disk0"), spawn("n1", "disk1")]
    everyone = list(procs)
    for kill in range(KILLS[machine]):
        primary = _the_primary(procs)
        wait_for(lambda p=primary: _acks_new_commands(p), "the primary to acknowledge")
        # A random moment: after a random number of further acknowledgements.
        target = primary.acks[-1][1] + rng.randrange(1, 3000)
        wait_for(lambda p=primary, t=target: p.acks[-1][1] >= t, "more acknowledgements")
        primary.kill(signal.SIGKILL)
        procs.remove(primary)
        standby = procs[0]
        wait_for(lambda s=standby: s.role == "primary" or not s.alive, "the standby to be elected")
        wait_for(lambda s=standby: _acks_new_commands(s), "the new primary to acknowledge new commands")
        revived = spawn(f"n{kill + 2}", disks.get(primary.node_id, ""))
        procs.append(revived)
        everyone.append(revived)
        wait_for(lambda r=revived: r.role == "standby", "the revived node to rejoin as standby")
    final = _the_primary(procs)
    # Standbys first: a standby still running when the primary stops would
    # take over and append past the state the stopped primary reports.
    for p in sorted(procs, key=lambda p: p is final):
        p.stop()
    assert final.stopped is not None
    journal = _journal(dsn, stream)
    assert sorted(journal) == list(range(1, len(journal) + 1))
    assert _check_acks(everyone, journal) > 0
    fresh = make_machine(machine)
    seq, _chain = replay(dsn, stream, fresh, machine_name=machine)
    assert seq == len(journal)
    assert final.stopped[2] == seq
    assert final.stopped[0] == fresh.state_hash()
    if machine == "exchange":
        assert fresh.check_invariants(), fresh.check_invariants().message
    if local_journal:
        _check_local_journals(dsn, stream, machine, final, tmp_path / disks[final.node_id])


def test_a_paused_old_primary_is_fenced_when_it_wakes(dsn: str, etcd_server: LocalEtcd, stream: str) -> None:
    old = _spawn(dsn, etcd_server, stream, "old")
    wait_for(lambda: old.role == "primary", "the first primary")
    new = _spawn(dsn, etcd_server, stream, "new")
    wait_for(lambda: new.role == "standby", "the standby")
    wait_for(lambda: _acks_new_commands(old), "the first primary to acknowledge")
    old.kill(signal.SIGSTOP)
    wait_for(lambda: _acks_new_commands(new), "the standby to take over and acknowledge")
    since = new.primary_since()
    assert since is not None
    old.kill(signal.SIGCONT)
    wait_for(lambda: any(r == "fenced" for _t, r, _e, _c in old.roles), "the old primary to fence itself")
    wait_for(lambda: old.role == "standby", "the old primary to rejoin as standby")
    old_epoch = next(e for _t, r, e, _c in old.roles if r == "primary")
    for p in (old, new):
        p.stop()
    journal = _journal(dsn, stream)
    # Nothing of the old epoch landed after the new leader's claim, and the
    # old leader acknowledged nothing past it.
    assert all(journal[s] != old_epoch for s in journal if s > since[2])
    assert all(seq <= since[2] for _t, seq, e in old.acks if e == old_epoch)
    _check_acks([old, new], journal)
