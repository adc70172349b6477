"""The hot standby: follows a stream in PostgreSQL and replays it into its own
machine (any object with ``COMMAND_DTYPE``, ``process(commands) -> events``,
``next_seq()`` and ``state_hash()``: MatchingEngine, Ledger, the exchange).

LISTEN/NOTIFY only wakes it up; correctness comes from catch-up reads (every
read asks for ``seq > applied``), so a lost notification costs at most one
poll interval, never a record. Every record is checked before it is applied:
consecutive seq, CRC-32, hash chain from the previous record, and the
machine itself refuses a stamped seq out of place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg

from shanraq_core.replication import pg
from shanraq_core.replication.errors import ContinuityError, ReplicationError
from shanraq_core.replication.records import ZERO_CHAIN, verify

__all__ = ["Lag", "Standby"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Lag:
    applied_seq: int
    head_seq: int  #: the newest record known in the database
    commands: int  #: head_seq - applied_seq
    #: time_ns of the head record minus that of the last applied one, in ms
    #: (0 when caught up, and before the first record is applied)
    ms: float


class Standby:
    """Replays ``stream`` from ``dsn`` into ``machine`` (fresh, or restored
    at some seq with ``chain`` the stream's chain there).

    ``poll``/``catch_up``/``run`` from one thread; ``read``, ``lag``,
    ``applied_seq`` from any thread (``read`` runs a function on the machine
    between two batches).
    """

    def __init__(
        self,
        dsn: str,
        stream: str,
        machine: Any,
        *,
        machine_name: str,
        chain: bytes = ZERO_CHAIN,
        batch: int = 8192,
        connect_timeout: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.stream = stream
        self.machine = machine
        self.machine_name = machine_name
        self.dtype = machine.COMMAND_DTYPE
        self.record_size = int(self.dtype.itemsize)
        self.batch = batch
        self.connect_timeout = connect_timeout
        self.chain = chain
        next_seq = machine.next_seq
        self._applied = int(next_seq() if callable(next_seq) else next_seq) - 1
        self._applied_time_ns = 0
        self._head_seq = self._applied
        self._head_time_ns = 0
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._listen: psycopg.Connection[Any] | None = None
        self.poll_only = False  #: connected to a read replica: no LISTEN, catch-up reads only

    @property
    def applied_seq(self) -> int:
        return self._applied

    def close(self) -> None:
        for c in (self._conn, self._listen):
            if c is not None:
                c.close()
        self._conn = self._listen = None

    def connect(self) -> None:
        """Connects (typed errors from pg.connect), checks the schema and the
        stream's identity, and listens for wake-ups."""
        if self._conn is None or self._conn.closed:
            self._conn = pg.connect(self.dsn, timeout=self.connect_timeout, autocommit=True)
            pg.ensure_schema(self._conn)
            pg.check_stream(
                pg.stream_info(self._conn, self.stream), self.stream, self.machine_name, self.record_size
            )
        row = self._conn.execute("SELECT pg_is_in_recovery()").fetchone()
        # A read replica cannot LISTEN (and its primary's NOTIFYs do not
        # replicate): there the catch-up reads, every ``idle`` seconds, are all.
        self.poll_only = bool(row and row[0])
        if not self.poll_only and (self._listen is None or self._listen.closed):
            self._listen = pg.connect(self.dsn, timeout=self.connect_timeout, autocommit=True)
            self._listen.execute("LISTEN " + pg.CHANNEL)

    def _refresh_head(self) -> None:
        assert self._conn is not None
        info = pg.stream_info(self._conn, self.stream)
        if info is not None:
            pg.check_stream(info, self.stream, self.machine_name, self.record_size)
            self._head_seq, self._head_time_ns = info.head_seq, info.head_time_ns

    def poll(self) -> int:
        """Reads and applies what the database has past ``applied_seq`` (at
        most ``batch`` records); returns how many were applied."""
        self.connect()
        assert self._conn is not None
        self._refresh_head()
        got = pg.read_batch(self._conn, self.stream, self._applied, self.batch, self.record_size)
        if got is None:
            return 0
        if got.first_seq != self._applied + 1:
            raise ContinuityError(
                self.stream, self._applied + 1, f"the database's next record is seq {got.first_seq}"
            )
        verify(got, self.chain, stream=self.stream)
        commands = np.frombuffer(got.records.tobytes(), dtype=self.dtype)
        with self._lock:
            self.machine.process(commands)
            self._applied = got.last_seq
            self._applied_time_ns = int(got.time_ns[-1])
            self.chain = got.last_chain
        self._head_seq = max(self._head_seq, got.last_seq)
        return got.count

    def catch_up(self, until_seq: int | None = None) -> int:
        """Applies everything the database has (or up to ``until_seq``, which
        must exist); returns the number applied."""
        total = 0
        while until_seq is None or self._applied < until_seq:
            n = self.poll()
            total += n
            if n == 0:
                if until_seq is not None and self._applied < until_seq:
                    raise ContinuityError(
                        self.stream, self._applied + 1, f"the database ends before seq {until_seq}"
                    )
                break
        return total

    def wait(self, timeout: float) -> None:
        """Sleeps until a NOTIFY for the journal arrives or ``timeout`` passes."""
        self.connect()
        if self._listen is None:
            time.sleep(timeout)
            return
        for _ in self._listen.notifies(timeout=timeout, stop_after=1):
            pass

    def run(
        self,
        stop: threading.Event,
        idle: float = 0.2,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Follows the stream until ``stop`` is set; connection failures are
        retried (the standby just falls behind and catches up)."""
        while not stop.is_set():
            try:
                if self.poll() == 0:
                    self.wait(idle)
            except (psycopg.OperationalError, ReplicationError) as e:
                if isinstance(e, ContinuityError):
                    if on_error is not None:
                        on_error(e)
                    raise
                self.close()
                stop.wait(0.1)

    def read(self, fn: Callable[[Any], T]) -> T:
        """Runs ``fn(machine)`` between batches (a consistent state)."""
        with self._lock:
            return fn(self.machine)

    def lag(self) -> Lag:
        applied, head = self._applied, max(self._head_seq, self._applied)
        # Measured between records' own times; before its first record a
        # standby has no time of its own to compare, and reports commands only.
        behind = head != applied and self._applied_time_ns > 0
        ms = max(0.0, (self._head_time_ns - self._applied_time_ns) / 1e6) if behind else 0.0
        return Lag(applied, head, head - applied, ms)

    def state_hash(self) -> int:
        return self.read(lambda m: int(m.state_hash()))


def replay(
    dsn: str, stream: str, machine: Any, *, machine_name: str, until_seq: int | None = None
) -> tuple[int, bytes]:
    """A fresh replay of the stream from the database into ``machine``
    (verifying everything); returns (last applied seq, chain there)."""
    sb = Standby(dsn, stream, machine, machine_name=machine_name, batch=65536)
    try:
        sb.connect()
        sb.catch_up(until_seq)
        return sb.applied_seq, sb.chain
    finally:
        sb.close()
