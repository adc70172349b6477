"""The journal shipper: batches from a `BatchSource` into PostgreSQL, under
the leader's epoch, exactly once and without gaps.

Each batch is one transaction (binary COPY + ``shanraq_append``). When the
connection fails mid-batch the commit may or may not have happened, so after
reconnecting the shipper reads the stream's head: records at or below it are
already stored (their chain must equal ours: anything else is a diverged
history, ContinuityError), the rest is shipped again. The database refuses a
stale epoch (StaleEpochError) whatever the client does; the shipper then
stops for good (the node fences itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from shanraq_core.replication import pg
from shanraq_core.replication.errors import (
    ContinuityError,
    ServerUnreachableError,
    StaleEpochError,
)
from shanraq_core.replication.records import Batch, BatchSource

__all__ = ["Shipper"]


class Shipper:
    """Ships one stream's batches under one epoch.

    Args:
        dsn: libpq connection string.
        stream: the stream name.
        epoch: the leadership epoch (claimed in the database beforehand).
        retry_for: seconds a batch keeps being retried across connection
            failures before ServerUnreachableError stops the shipper.
        connect_timeout: seconds per connection attempt.

    ``durable_seq``/``durable_chain`` (committed in PostgreSQL) are readable
    from any thread; ``wait_durable(seq, timeout)`` waits for one. ``run`` on
    one thread at a time.
    """

    def __init__(
        self,
        dsn: str,
        stream: str,
        epoch: int,
        *,
        durable_seq: int,
        durable_chain: bytes,
        retry_for: float = 30.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.stream = stream
        self.epoch = epoch
        self.retry_for = retry_for
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._cond = threading.Condition()
        self._durable_seq = durable_seq
        self._durable_chain = durable_chain
        self.error: BaseException | None = None
        self.batches = 0
        self.retries = 0

    @property
    def durable_seq(self) -> int:
        return self._durable_seq

    def durable(self) -> tuple[int, bytes]:
        with self._cond:
            return self._durable_seq, self._durable_chain

    def wait_durable(self, seq: int, timeout: float | None) -> bool:
        """True once ``seq`` is committed; False on timeout or if the shipper
        stopped with an error before reaching it."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._durable_seq >= seq or self.error is not None, timeout
            ) and (self._durable_seq >= seq)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = pg.connect(
                self.dsn, timeout=self.connect_timeout, application_name=f"shanraq-shipper-{self.stream}"
            )
            try:
                pg.prepare_session(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _resync(self, batch: Batch) -> Batch:
        """After a failure: drop what the database already holds (checking it
        is ours) and return what is left to ship."""
        conn = self._connection()
        info = pg.stream_info(conn, self.stream)
        if info is None:
            raise ContinuityError(self.stream, batch.first_seq, "the stream vanished from the database")
        if info.epoch != self.epoch:
            raise StaleEpochError(self.stream, self.epoch, info.epoch, "a newer leader claimed the stream")
        if info.head_seq < batch.first_seq - 1:
            raise ContinuityError(
                self.stream, info.head_seq + 1, f"the database's head {info.head_seq} is behind the batch"
            )
        if info.head_seq >= batch.first_seq:
            probe = min(info.head_seq, batch.last_seq)
            row = conn.execute(
                "SELECT chain FROM shanraq_journal WHERE stream = %s AND seq = %s", (self.stream, probe)
            ).fetchone()
            conn.rollback()
            if row is None or bytes(row[0]) != bytes(batch.chains[probe - batch.first_seq]):
                raise ContinuityError(
                    self.stream, probe, "the stored record differs from the one shipped (diverged)"
                )
        return batch.tail(info.head_seq)

    def ship(self, batch: Batch) -> None:
        """Ships one batch (retrying connection failures); returns once it is
        committed. Raises StaleEpochError, ContinuityError,
        AuthenticationError, or ServerUnreachableError after ``retry_for``."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.02
        pending = batch
        failed = False
        while True:
            try:
                if failed:
                    pending = self._resync(pending)
                if pending.count:
                    pg.append(self._connection(), self.stream, self.epoch, pending)
                break
            except (psycopg.OperationalError, ServerUnreachableError) as e:
                failed = True
                self.retries += 1
                self.close()
                if time.monotonic() + delay > deadline:
                    raise ServerUnreachableError("PostgreSQL", pg._where(self.dsn), str(e).strip()) from e
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        with self._cond:
            self._durable_seq = batch.last_seq
            self._durable_chain = batch.last_chain
            self.batches += 1
            self._cond.notify_all()

    def run(
        self,
        source: BatchSource,
        stop: threading.Event,
        on_error: Callable[[BaseException], None] | None = None,
        poll: float = 0.02,
    ) -> None:
        """Ships batches from ``source`` until ``stop`` is set and the source
        is drained, or an error (kept in ``error``, passed to ``on_error``)."""
        try:
            while True:
                batch = source.next_batch(poll)
                if batch is None:
                    if stop.is_set():
                        return
                    continue
                self.ship(batch)
        except Exception as e:
            # Whatever stops shipping (the database, or the source: a local
            # journal's error) must fence the node, not end a thread quietly.
            with self._cond:
                self.error = e
                self._cond.notify_all()
            if on_error is not None:
                on_error(e)
        finally:
            self.close()
