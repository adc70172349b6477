"""The PostgreSQL side: schema, connections with typed errors, claiming a
stream's epoch, appending a batch (one binary COPY, one transaction) and
reading records back (binary COPY out).

Fencing lives in the database, not in the client: ``shanraq_append`` and a
statement-level trigger on ``shanraq_journal`` refuse rows whose epoch is not
the stream's current one, rows that do not continue the stream exactly
(``head_seq + 1``, no gap, no duplicate), rows whose hash chain does not link
(``chain = sha256(previous chain || record)``, computed by PostgreSQL) and
any UPDATE, DELETE or TRUNCATE of the journal. A buggy or stale client can
fail to append; it cannot append out of turn.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from shanraq_core.replication.errors import (
    AuthenticationError,
    ContinuityError,
    ForeignStreamError,
    ReplicationError,
    SchemaMismatchError,
    ServerUnreachableError,
    StaleEpochError,
)
from shanraq_core.replication.records import Batch

__all__ = [
    "FORMAT",
    "SCHEMA_TAG",
    "StreamInfo",
    "append",
    "claim",
    "connect",
    "ensure_schema",
    "read_batch",
    "stream_info",
]

#: Format of the records' bytes as this code writes them (v1: the machine's
#: COMMAND_DTYPE bytes; CRC-32 zlib; chain SHA-256 over records).
FORMAT = 1
SCHEMA_TAG = "shanraq journal schema v1"
CHANNEL = "shanraq_journal"

# SQLSTATEs raised by our functions (class "SQ" is not used by PostgreSQL).
_STALE = "SQ001"
_FOREIGN = "SQ002"
_UNKNOWN = "SQ003"
_GAP = "SQ004"
_CHAIN = "SQ005"
_SHAPE = "SQ006"
_APPEND_ONLY = "SQ007"

_SCHEMA = r"""
CREATE TABLE shanraq_stream (
    stream       text PRIMARY KEY,
    machine      text NOT NULL,
    record_size  integer NOT NULL CHECK (record_size >= 16),
    format       integer NOT NULL,
    epoch        bigint NOT NULL DEFAULT 0,
    head_seq     bigint NOT NULL DEFAULT 0,
    head_chain   bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    head_time_ns bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shanraq_stream IS 'shanraq journal schema v1';

CREATE TABLE shanraq_journal (
    stream  text NOT NULL,
    seq     bigint NOT NULL,
    epoch   bigint NOT NULL,
    time_ns bigint NOT NULL,
    crc     bigint NOT NULL,
    chain   bytea NOT NULL,
    record  bytea NOT NULL,
    PRIMARY KEY (stream, seq)
);
COMMENT ON TABLE shanraq_journal IS 'shanraq journal schema v1';

-- The stream row never goes back: neither its epoch nor its head.
CREATE FUNCTION shanraq_stream_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.epoch < OLD.epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ001',
            MESSAGE = format('stream %s: epoch %s is stale (the stream''s epoch is %s)',
                             OLD.stream, NEW.epoch, OLD.epoch);
    END IF;
    IF NEW.head_seq < OLD.head_seq OR NEW.stream <> OLD.stream OR NEW.machine <> OLD.machine
       OR NEW.record_size <> OLD.record_size OR NEW.format <> OLD.format THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ007',
            MESSAGE = format('stream %s: its identity and head never go back', OLD.stream);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER shanraq_stream_guard BEFORE UPDATE ON shanraq_stream
    FOR EACH ROW EXECUTE FUNCTION shanraq_stream_guard();
CREATE FUNCTION shanraq_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'SQ007',
        MESSAGE = format('%s is append-only (%s refused)', TG_TABLE_NAME, TG_OP);
END $$;
CREATE TRIGGER shanraq_stream_no_delete BEFORE DELETE OR TRUNCATE ON shanraq_stream
    FOR EACH STATEMENT EXECUTE FUNCTION shanraq_no_delete();
CREATE TRIGGER shanraq_journal_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON shanraq_journal
    FOR EACH STATEMENT EXECUTE FUNCTION shanraq_no_delete();

-- Every insert into the journal, whoever makes it: the stream's current
-- epoch only, exactly head_seq+1.., the right sizes, a chain that links.
-- Then the head moves and standbys are woken (delivered at commit).
CREATE FUNCTION shanraq_journal_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    s shanraq_stream%ROWTYPE;
    bad bigint;
    last record;
BEGIN
    FOR r IN SELECT stream, count(*) AS n, min(seq) AS lo, max(seq) AS hi,
                    min(epoch) AS elo, max(epoch) AS ehi
             FROM new_rows GROUP BY stream LOOP
        SELECT * INTO s FROM shanraq_stream WHERE stream = r.stream FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ003', MESSAGE = format('stream %s is not claimed', r.stream);
        END IF;
        IF r.elo <> s.epoch OR r.ehi <> s.epoch THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ001', DETAIL = s.epoch::text,
                MESSAGE = format('stream %s: epoch %s is stale (the stream''s epoch is %s)',
                                 r.stream, r.elo, s.epoch);
        END IF;
        IF r.lo <> s.head_seq + 1 OR r.hi - r.lo + 1 <> r.n THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ004', DETAIL = (s.head_seq + 1)::text,
                MESSAGE = format('stream %s: records %s..%s (%s of them) do not continue head %s',
                                 r.stream, r.lo, r.hi, r.n, s.head_seq);
        END IF;
        SELECT seq INTO bad FROM new_rows
            WHERE stream = r.stream AND (octet_length(record) <> s.record_size OR octet_length(chain) <> 32)
            ORDER BY seq LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ006', DETAIL = bad::text,
                MESSAGE = format('stream %s: record %s is not %s bytes with a 32-byte chain',
                                 r.stream, bad, s.record_size);
        END IF;
        SELECT q.seq INTO bad FROM (
            SELECT seq, chain, record, coalesce(lag(chain) OVER (ORDER BY seq), s.head_chain) AS prev
            FROM new_rows WHERE stream = r.stream) q
            WHERE q.chain <> sha256(q.prev || q.record) ORDER BY q.seq LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ005', DETAIL = bad::text,
                MESSAGE = format('stream %s: record %s does not link to the hash chain', r.stream, bad);
        END IF;
        SELECT chain, time_ns INTO last FROM new_rows WHERE stream = r.stream AND seq = r.hi;
        UPDATE shanraq_stream SET head_seq = r.hi, head_chain = last.chain, head_time_ns = last.time_ns
            WHERE stream = r.stream;
        PERFORM pg_notify('shanraq_journal', r.stream);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER shanraq_journal_check AFTER INSERT ON shanraq_journal
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shanraq_journal_check();

-- A new leader claims the stream with its epoch (never lower than the
-- stream's); from then on no lower epoch can append. Returns the head.
CREATE FUNCTION shanraq_claim(p_stream text, p_epoch bigint, p_machine text,
                              p_record_size integer, p_format integer)
RETURNS TABLE (head_seq bigint, head_chain bytea, epoch bigint) LANGUAGE plpgsql AS $$
DECLARE
    s shanraq_stream%ROWTYPE;
BEGIN
    INSERT INTO shanraq_stream (stream, machine, record_size, format)
        VALUES (p_stream, p_machine, p_record_size, p_format) ON CONFLICT (stream) DO NOTHING;
    SELECT * INTO s FROM shanraq_stream WHERE stream = p_stream FOR UPDATE;
    IF s.machine <> p_machine OR s.record_size <> p_record_size OR s.format <> p_format THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ002',
            MESSAGE = format('stream %s holds %s records of %s bytes (format %s), '
                             'not %s records of %s bytes (format %s)',
                             p_stream, s.machine, s.record_size, s.format,
                             p_machine, p_record_size, p_format);
    END IF;
    IF p_epoch < s.epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ001', DETAIL = s.epoch::text,
            MESSAGE = format('stream %s: epoch %s is stale (the stream''s epoch is %s)',
                             p_stream, p_epoch, s.epoch);
    END IF;
    UPDATE shanraq_stream SET epoch = p_epoch WHERE stream = p_stream;
    RETURN QUERY SELECT s.head_seq, s.head_chain, p_epoch;
END $$;

-- A leader's batch: the rows its session COPYed into shanraq_incoming, under
-- its epoch. The epoch is checked under the stream's row lock before any row
-- is inserted (the trigger checks again, for any other path).
CREATE FUNCTION shanraq_append(p_stream text, p_epoch bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s shanraq_stream%ROWTYPE;
    bad bigint;
BEGIN
    SELECT * INTO s FROM shanraq_stream WHERE stream = p_stream FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ003', MESSAGE = format('stream %s is not claimed', p_stream);
    END IF;
    IF p_epoch <> s.epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ001', DETAIL = s.epoch::text,
            MESSAGE = format('stream %s: epoch %s is stale (the stream''s epoch is %s)',
                             p_stream, p_epoch, s.epoch);
    END IF;
    -- A retried batch (its commit's answer was lost): records already stored
    -- must be the very same (same chain); they are skipped, the rest appended.
    -- Only then is the journal probed, by its key (the common path never joins).
    EXECUTE 'SELECT min(seq) FROM pg_temp.shanraq_incoming' INTO bad;
    IF bad <= s.head_seq THEN
        EXECUTE 'SELECT min(i.seq) FROM pg_temp.shanraq_incoming i
                 WHERE i.seq <= $2 AND i.chain IS DISTINCT FROM
                       (SELECT j.chain FROM shanraq_journal j WHERE j.stream = $1 AND j.seq = i.seq)'
            INTO bad USING p_stream, s.head_seq;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ005', DETAIL = bad::text,
                MESSAGE = format('stream %s: record %s differs from the one stored (diverged history)',
                                 p_stream, bad);
        END IF;
        EXECUTE 'DELETE FROM pg_temp.shanraq_incoming WHERE seq <= $1' USING s.head_seq;
    END IF;
    EXECUTE 'INSERT INTO shanraq_journal (stream, seq, epoch, time_ns, crc, chain, record)
             SELECT $1, seq, $2, time_ns, crc, chain, record FROM pg_temp.shanraq_incoming ORDER BY seq'
        USING p_stream, p_epoch;
    RETURN (SELECT head_seq FROM shanraq_stream WHERE stream = p_stream);
END $$;
"""

_EXPECTED_COLUMNS = {
    "shanraq_stream": [
        ("stream", "text"),
        ("machine", "text"),
        ("record_size", "integer"),
        ("format", "integer"),
        ("epoch", "bigint"),
        ("head_seq", "bigint"),
        ("head_chain", "bytea"),
        ("head_time_ns", "bigint"),
    ],
    "shanraq_journal": [
        ("stream", "text"),
        ("seq", "bigint"),
        ("epoch", "bigint"),
        ("time_ns", "bigint"),
        ("crc", "bigint"),
        ("chain", "bytea"),
        ("record", "bytea"),
    ],
}


def connect(
    dsn: str, *, timeout: float = 3.0, autocommit: bool = False, **kwargs: Any
) -> psycopg.Connection[Any]:
    """A connection, or a typed error: AuthenticationError (credentials
    refused), ServerUnreachableError (refused, timed out, no such host).
    ``timeout``: seconds to connect (whole seconds, at least 1, libpq's rule)."""
    try:
        return psycopg.connect(dsn, connect_timeout=max(1, round(timeout)), autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as e:
        text = str(e)
        if (
            e.sqlstate in ("28P01", "28000")
            or "authentication failed" in text
            or "no password supplied" in text
        ):
            raise AuthenticationError(f"PostgreSQL refused the credentials: {text.strip()}") from e
        raise ServerUnreachableError("PostgreSQL", _where(dsn), text.strip()) from e


def _where(dsn: str) -> str:
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "?"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _check_columns(conn: psycopg.Connection[Any]) -> bool:
    """True if our tables exist with our layout, False if neither exists;
    SchemaMismatchError for anything else."""
    found = {}
    for table in _EXPECTED_COLUMNS:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), obj_description(c.oid, 'pg_class') "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.oid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (table,),
        ).fetchall()
        found[table] = rows
    if not any(found.values()):
        return False
    # A table that exists under another layout is the news; a missing one second.
    for table, want in sorted(_EXPECTED_COLUMNS.items(), key=lambda kv: not found[kv[0]]):
        rows = found[table]
        got = [(r[0], r[1]) for r in rows]
        comment = rows[0][2] if rows else None
        if got != want or comment != SCHEMA_TAG:
            raise SchemaMismatchError(
                f"table {table} is not a shanraq journal table of this version "
                f"(columns {got}, comment {comment!r}; expected {want}, comment {SCHEMA_TAG!r})"
            )
    return True


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Creates the tables, triggers and functions if absent; checks them if
    present (SchemaMismatchError for a foreign table of the same name)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shanraq_schema'))")
        if not _check_columns(conn):
            conn.execute(_SCHEMA)


def _raise_db(e: psycopg.Error, stream: str, epoch: int = 0) -> None:
    state = e.sqlstate
    diag = e.diag
    detail = diag.message_detail or ""
    msg = diag.message_primary or str(e)
    if state == _STALE:
        raise StaleEpochError(stream, epoch, int(detail) if detail.isdigit() else None, msg) from e
    if state == _FOREIGN:
        raise ForeignStreamError(msg) from e
    if state in (_GAP, _CHAIN, _SHAPE):
        raise ContinuityError(stream, int(detail) if detail.lstrip("-").isdigit() else -1, msg) from e
    if state == "42P01" or state == "42883":
        raise SchemaMismatchError(f"the database lacks the journal schema: {msg}") from e
    if state is not None and state.startswith("SQ"):
        raise ReplicationError(msg) from e


@dataclasses.dataclass(frozen=True, slots=True)
class StreamInfo:
    stream: str
    machine: str
    record_size: int
    format: int
    epoch: int
    head_seq: int
    head_chain: bytes
    head_time_ns: int


def stream_info(conn: psycopg.Connection[Any], stream: str) -> StreamInfo | None:
    row = conn.execute(
        "SELECT stream, machine, record_size, format, epoch, head_seq, head_chain, head_time_ns "
        "FROM shanraq_stream WHERE stream = %s",
        (stream,),
    ).fetchone()
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS and not conn.autocommit:
        conn.rollback()
    if row is None:
        return None
    return StreamInfo(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]), row[7])


def check_stream(info: StreamInfo | None, stream: str, machine: str, record_size: int) -> None:
    """ForeignStreamError if an existing stream is another machine's or format's."""
    if info is not None and (info.machine, info.record_size, info.format) != (machine, record_size, FORMAT):
        raise ForeignStreamError(
            f"stream {stream} holds {info.machine} records of {info.record_size} bytes "
            f"(format {info.format}), "
            f"not {machine} records of {record_size} bytes (format {FORMAT})"
        )


def claim(
    conn: psycopg.Connection[Any], stream: str, epoch: int, machine: str, record_size: int
) -> tuple[int, bytes]:
    """Raises the stream's epoch to ``epoch`` (creating the stream if new);
    returns (head_seq, head_chain) as of the claim. StaleEpochError if the
    stream already has a higher epoch; ForeignStreamError for another
    machine's stream."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT head_seq, head_chain FROM shanraq_claim(%s, %s, %s, %s, %s)",
                (stream, epoch, machine, record_size, FORMAT),
            ).fetchone()
    except psycopg.Error as e:
        _raise_db(e, stream, epoch)
        raise
    assert row is not None
    return int(row[0]), bytes(row[1])


_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)


def _tuple_dtype(record_size: int) -> np.dtype[Any]:
    return np.dtype(
        [
            ("nf", ">i2"),
            ("l_seq", ">i4"),
            ("seq", ">i8"),
            ("l_time", ">i4"),
            ("time_ns", ">i8"),
            ("l_crc", ">i4"),
            ("crc", ">i8"),
            ("l_chain", ">i4"),
            ("chain", "V32"),
            ("l_record", ">i4"),
            ("record", f"V{record_size}"),
        ]
    )


def encode_copy(batch: Batch) -> bytes:
    """The batch as PostgreSQL's binary COPY stream for (seq, time_ns, crc,
    chain, record): built with numpy, no per-row Python."""
    size = batch.records.shape[1]
    rows = np.empty(batch.count, dtype=_tuple_dtype(size))
    rows["nf"] = 5
    rows["l_seq"] = rows["l_time"] = rows["l_crc"] = 8
    rows["l_chain"] = 32
    rows["l_record"] = size
    rows["seq"] = np.arange(batch.first_seq, batch.first_seq + batch.count, dtype=np.int64)
    rows["time_ns"] = batch.time_ns
    rows["crc"] = batch.crcs.astype(np.int64)
    rows["chain"] = np.ascontiguousarray(batch.chains).view("V32").reshape(batch.count)
    rows["record"] = np.ascontiguousarray(batch.records).view(f"V{size}").reshape(batch.count)
    return _HEADER + rows.tobytes() + _TRAILER


def prepare_session(conn: psycopg.Connection[Any], *, idle_timeout_ms: int = 1000) -> None:
    """The session's staging table for shanraq_append (rows vanish at commit),
    and the server's guard against a paused shipper: a transaction left idle
    for ``idle_timeout_ms`` (the process stopped between its append and its
    commit, holding the stream's row lock) is aborted by the server, so a new
    leader's claim never waits on a frozen old one for longer than that."""
    with conn.transaction():
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_timeout_ms)}")
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS shanraq_incoming "
            "(seq bigint, time_ns bigint, crc bigint, chain bytea, record bytea) ON COMMIT DELETE ROWS"
        )


def append(conn: psycopg.Connection[Any], stream: str, epoch: int, batch: Batch) -> int:
    """Appends ``batch`` under ``epoch`` in one transaction (one binary COPY
    into the session's staging table, then ``shanraq_append``); returns the
    stream's head after it. StaleEpochError, ContinuityError as the
    database decides; psycopg.OperationalError if the connection failed (the
    commit may or may not have happened: read the head and retry the rest)."""
    data = encode_copy(batch)
    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                "COPY pg_temp.shanraq_incoming (seq, time_ns, crc, chain, record) FROM STDIN (FORMAT BINARY)"
            ) as cp:
                cp.write(data)
            row = cur.execute("SELECT shanraq_append(%s, %s)", (stream, epoch)).fetchone()
    except psycopg.OperationalError:
        raise
    except psycopg.Error as e:
        _raise_db(e, stream, epoch)
        raise
    assert row is not None
    return int(row[0])


def read_batch(
    conn: psycopg.Connection[Any], stream: str, after_seq: int, max_n: int, record_size: int
) -> Batch | None:
    """Up to ``max_n`` records with seq > ``after_seq``, in order (binary COPY
    out, parsed with numpy); None if there are none."""
    query = sql.SQL(
        "COPY (SELECT seq, time_ns, crc, chain, record FROM shanraq_journal "
        "WHERE stream = {} AND seq > {} ORDER BY seq LIMIT {}) TO STDOUT (FORMAT BINARY)"
    ).format(sql.Literal(stream), sql.Literal(after_seq), sql.Literal(max_n))
    chunks = []
    with conn.cursor() as cur, cur.copy(query) as cp:
        for chunk in cp:
            chunks.append(bytes(chunk))
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS and not conn.autocommit:
        conn.rollback()
    data = b"".join(chunks)
    return decode_copy(data, record_size, stream)


def decode_copy(data: bytes, record_size: int, stream: str = "") -> Batch | None:
    if not data.startswith(_HEADER[:11]):
        raise ReplicationError("not a binary COPY stream")
    ext = struct.unpack_from(">i", data, 15)[0]
    start = 19 + ext
    body = data[start : len(data) - 2]
    dt = _tuple_dtype(record_size)
    if len(body) % dt.itemsize:
        raise SchemaMismatchError(f"stream {stream}: rows are not {record_size}-byte records")
    rows = np.frombuffer(body, dtype=dt)
    if rows.size == 0:
        return None
    if (rows["l_record"] != record_size).any() or (rows["l_chain"] != 32).any():
        raise SchemaMismatchError(f"stream {stream}: rows are not {record_size}-byte records")
    first = int(rows["seq"][0])
    if not np.array_equal(rows["seq"], np.arange(first, first + rows.size, dtype=np.int64)):
        i = int(np.flatnonzero(rows["seq"] != np.arange(first, first + rows.size))[0])
        raise ContinuityError(stream, first + i, "gap in the stored stream")
    n = rows.size
    return Batch(
        first,
        np.frombuffer(rows["record"].tobytes(), dtype=np.uint8).reshape(n, record_size),
        rows["crc"].astype(np.uint32),
        np.frombuffer(rows["chain"].tobytes(), dtype=np.uint8).reshape(n, 32),
        rows["time_ns"].astype(np.int64),
    )
