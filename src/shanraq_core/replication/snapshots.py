"""Snapshots for new standbys, stored in PostgreSQL beside the stream.

``shanraq_snapshot`` is keyed by (stream, seq): the machine's own snapshot
bytes (``machine.snapshot()``) after applying seq, their SHA-256, and the
stream's hash chain at seq. A snapshot is accepted only if its chain is the
one the journal stores at that seq (checked by the INSERT itself), and a
loaded one only if its bytes hash to the stored SHA-256, the restored machine
stands at seq, and the journal still has that chain there. A standby that
joins late restores the newest snapshot and replays only the records after
it (``Standby(..., chain=chain)`` checks the chain on from there).
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from shanraq_core.replication import pg
from shanraq_core.replication.errors import ContinuityError

__all__ = ["load_snapshot", "machine_type", "save_snapshot"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shanraq_snapshot (
    stream  text   NOT NULL,
    seq     bigint NOT NULL CHECK (seq >= 1),
    chain   bytea  NOT NULL,
    sha256  bytea  NOT NULL,
    data    bytea  NOT NULL,
    PRIMARY KEY (stream, seq)
)
"""


def machine_type(name: str) -> Any:
    """The class of a MACHINES name (its ``restore`` builds one from a snapshot)."""
    if name == "book":
        from shanraq_core.book import MatchingEngine

        return MatchingEngine
    if name == "exchange":
        from shanraq_core.exchange import Exchange

        return Exchange
    if name == "ledger":
        from shanraq_core.ledger import Ledger

        return Ledger
    raise ValueError(f"unknown machine {name!r}")


def _ensure(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shanraq_snapshot'))")
        conn.execute(_SCHEMA)


def _seq_of(machine: Any) -> int:
    next_seq = machine.next_seq
    return int(next_seq() if callable(next_seq) else next_seq) - 1


def save_snapshot(dsn: str, stream: str, machine: Any, chain: bytes) -> int:
    """Stores ``machine``'s snapshot (it stands at some seq of ``stream``,
    whose chain there is ``chain``); returns that seq. ContinuityError if the
    journal has no record there with that chain. Storing the same seq again
    is a no-op."""
    seq = _seq_of(machine)
    if seq < 1:
        raise ValueError("a machine that applied nothing has no snapshot to store")
    data = bytes(machine.snapshot())
    digest = hashlib.sha256(data).digest()
    with pg.connect(dsn, timeout=3.0) as conn:
        _ensure(conn)
        with conn.transaction():
            cur = conn.execute(
                "INSERT INTO shanraq_snapshot (stream, seq, chain, sha256, data) "
                "SELECT %(s)s, %(q)s, %(c)s, %(h)s, %(d)s WHERE EXISTS ("
                "  SELECT 1 FROM shanraq_journal WHERE stream = %(s)s AND seq = %(q)s AND chain = %(c)s) "
                "ON CONFLICT (stream, seq) DO NOTHING",
                {"s": stream, "q": seq, "c": chain, "h": digest, "d": data},
            )
            if cur.rowcount == 0:
                row = conn.execute(
                    "SELECT chain FROM shanraq_snapshot WHERE stream = %s AND seq = %s", (stream, seq)
                ).fetchone()
                if row is None or bytes(row[0]) != chain:
                    raise ContinuityError(
                        stream,
                        seq,
                        "the journal has no record with this chain there: not this stream's state",
                    )
    return seq


def load_snapshot(dsn: str, stream: str, machine_name: str) -> tuple[Any, int, bytes] | None:
    """The newest stored snapshot of ``stream`` restored: (machine, seq,
    chain at seq), or None if there is none. ContinuityError if it does not
    check (bytes, seq, or the journal's chain there)."""
    with pg.connect(dsn, timeout=3.0) as conn:
        _ensure(conn)
        row = conn.execute(
            "SELECT s.seq, s.chain, s.sha256, s.data, j.chain FROM shanraq_snapshot s "
            "LEFT JOIN shanraq_journal j ON j.stream = s.stream AND j.seq = s.seq "
            "WHERE s.stream = %s ORDER BY s.seq DESC LIMIT 1",
            (stream,),
        ).fetchone()
    if row is None:
        return None
    seq, chain, digest, data, journal_chain = int(row[0]), bytes(row[1]), bytes(row[2]), bytes(row[3]), row[4]
    if hashlib.sha256(data).digest() != digest:
        raise ContinuityError(stream, seq, "the stored snapshot's bytes do not match their SHA-256")
    if journal_chain is None or bytes(journal_chain) != chain:
        raise ContinuityError(stream, seq, "the snapshot's chain is not the journal's at its seq")
    machine = machine_type(machine_name).restore(data)
    if _seq_of(machine) != seq:
        raise ContinuityError(stream, seq, f"the restored machine stands at seq {_seq_of(machine)}")
    return machine, seq, chain
