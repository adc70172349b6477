"""Batches of sequenced command records, the unit the shipper ships and the
standby applies.

A record is a machine's command exactly as the sequencer stamped it (its
``COMMAND_DTYPE`` bytes, ``seq`` at offset 0, ``time_ns`` at offset 8). Each
record carries a CRC-32 (zlib's polynomial) of its bytes and the stream's
hash chain after it: ``chain[s] = SHA-256(chain[s-1] || record[s])``, from 32
zero bytes before seq 1. The chain is defined over records alone, not over
how a local journal framed them, so the primary, the database and every
standby compute the same value whichever process wrote which part (the
local journal has its own, per-frame chain). The database checks the chain
on every insert; the standby checks CRC, chain and continuity as it applies.

Sources: anything with ``next_batch(timeout) -> Batch | None``. Today that is
`StampedRingSource` (the Runner's ``stamped=`` ring); the journal's tailing
reader plugs in the same way (see `RecordsSource`).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shanraq_core.replication.errors import ContinuityError

__all__ = [
    "ZERO_CHAIN",
    "Batch",
    "BatchSource",
    "RecordsSource",
    "StampedRingSource",
    "TailSource",
    "seal",
    "verify",
]

ZERO_CHAIN = bytes(32)


@dataclass(frozen=True, slots=True)
class Batch:
    """``count`` consecutive records from ``first_seq``.

    records: uint8 (count, record_size); crcs: uint32 (count,); chains:
    uint8 (count, 32), the chain after each record; time_ns: int64 (count,).
    """

    first_seq: int
    records: npt.NDArray[np.uint8]
    crcs: npt.NDArray[np.uint32]
    chains: npt.NDArray[np.uint8]
    time_ns: npt.NDArray[np.int64]

    @property
    def count(self) -> int:
        return int(self.records.shape[0])

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def last_chain(self) -> bytes:
        return bytes(self.chains[-1])

    def tail(self, after_seq: int) -> Batch:
        """The records with seq > after_seq."""
        k = max(0, after_seq - self.first_seq + 1)
        return Batch(self.first_seq + k, self.records[k:], self.crcs[k:], self.chains[k:], self.time_ns[k:])


def _as_bytes_2d(records: Any) -> npt.NDArray[np.uint8]:
    arr = np.ascontiguousarray(records)
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return arr
    if arr.ndim != 1 or arr.dtype.itemsize == 0:
        raise TypeError(
            f"records must be a 1-d record array or a 2-d uint8 array, not {arr.dtype} {arr.shape}"
        )
    return arr.view(np.uint8).reshape(arr.shape[0], arr.dtype.itemsize)


def seal(records: Any, prev_chain: bytes, *, stream: str = "", first_seq: int | None = None) -> Batch:
    """Computes CRCs and the chain of consecutive stamped records following
    ``prev_chain``. The records' own ``seq`` fields must be consecutive (and
    start at ``first_seq`` if given): ContinuityError otherwise."""
    rec = _as_bytes_2d(records)
    n, size = rec.shape
    if size < 16:
        raise ValueError(f"a record is at least 16 bytes (seq, time_ns), not {size}")
    if len(prev_chain) != 32:
        raise ValueError(f"prev_chain must be 32 bytes, not {len(prev_chain)}")
    seqs = rec[:, 0:8].copy().view("<u8").reshape(n)
    times = rec[:, 8:16].copy().view("<i8").reshape(n).astype(np.int64)
    if n == 0:
        raise ValueError("an empty batch")
    start = int(seqs[0]) if first_seq is None else first_seq
    expect = np.arange(start, start + n, dtype=np.uint64)
    bad = np.flatnonzero(seqs != expect)
    if bad.size:
        i = int(bad[0])
        raise ContinuityError(stream, start + i, f"record carries seq {int(seqs[i])}")
    # One bytes object and Python lists: per-record numpy indexing cost more
    # than the hashing itself.
    raw = rec.tobytes()
    sha = hashlib.sha256
    crc32 = zlib.crc32
    crc_list = []
    digests = []
    chain = prev_chain
    for o in range(0, n * size, size):
        row = raw[o : o + size]
        crc_list.append(crc32(row))
        chain = sha(chain + row).digest()
        digests.append(chain)
    crcs = np.array(crc_list, dtype=np.uint32)
    chains = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, 32)
    return Batch(start, rec, crcs, chains, times)


def verify(batch: Batch, prev_chain: bytes, *, stream: str = "") -> None:
    """Checks a batch read back from elsewhere: seq fields, CRCs and chain
    against ``prev_chain``; ContinuityError naming the first bad record."""
    again = seal(batch.records, prev_chain, stream=stream, first_seq=batch.first_seq)
    bad = np.flatnonzero(again.crcs != batch.crcs)
    if bad.size:
        raise ContinuityError(stream, batch.first_seq + int(bad[0]), "CRC mismatch")
    bad = np.flatnonzero((again.chains != batch.chains).any(axis=1))
    if bad.size:
        raise ContinuityError(stream, batch.first_seq + int(bad[0]), "hash chain mismatch")
    if not np.array_equal(again.time_ns, batch.time_ns):
        i = int(np.flatnonzero(again.time_ns != batch.time_ns)[0])
        raise ContinuityError(stream, batch.first_seq + i, "time_ns column differs from the record's")


class BatchSource(Protocol):
    """Where a shipper takes batches from: consecutive, each exactly once."""

    def next_batch(self, timeout: float) -> Batch | None:
        """The next batch, or None if none came within ``timeout`` seconds."""
        ...


class RecordsSource(Protocol):
    """What the journal's tailing reader (``shanraq_core.journal.TailReader``)
    gives: the next durable stamped commands in order, each once (an array of
    the machine's COMMAND_DTYPE; empty when none are there yet; never blocks)."""

    def read(self, max_records: int = 65536) -> npt.NDArray[Any]: ...


class _ChainedSource:
    def __init__(self, prev_chain: bytes, next_seq: int, stream: str) -> None:
        self.chain = prev_chain
        self.next_seq = next_seq
        self.stream = stream

    def _seal(self, records: npt.NDArray[Any]) -> Batch:
        batch = seal(records, self.chain, stream=self.stream, first_seq=self.next_seq)
        self.chain = batch.last_chain
        self.next_seq = batch.last_seq + 1
        return batch


class StampedRingSource(_ChainedSource):
    """Batches from a Runner's ``stamped=`` ring (its only consumer).

    ``next_seq``/``prev_chain`` are where the stream stands in the database
    when the runner starts (the runner continues the machine's next_seq).
    """

    def __init__(
        self, ring: Any, *, next_seq: int, prev_chain: bytes, stream: str = "", max_batch: int = 65536
    ):
        super().__init__(prev_chain, next_seq, stream)
        self.ring = ring
        self.max_batch = max_batch

    def next_batch(self, timeout: float) -> Batch | None:
        records = self.ring.pop_many(self.max_batch, timeout)
        if len(records) == 0:
            return None
        return self._seal(records)


class TailSource(_ChainedSource):
    """Batches from a journal tailing reader (any `RecordsSource`), e.g.
    ``TailSource(TailReader(dir, machine, from_seq=head + 1, live=journal),
    next_seq=head + 1, prev_chain=head_chain)``: the primary then ships what
    its journal made durable, and a restarted primary resumes from the
    database's head. ``poll``: seconds between reads while the journal has
    nothing new."""

    def __init__(
        self,
        reader: RecordsSource,
        *,
        next_seq: int,
        prev_chain: bytes,
        stream: str = "",
        max_batch: int = 4096,
        poll: float = 0.0005,
        reopen: Callable[[int], RecordsSource] | None = None,
        reopen_for: float = 2.0,
    ):
        super().__init__(prev_chain, next_seq, stream)
        self.reader = reader
        self.max_batch = max_batch
        self.poll = poll
        self.reopen = reopen
        self.reopen_for = reopen_for
        self.reopened = 0

    def _read(self) -> npt.NDArray[Any]:
        """A read; with ``reopen`` (a new reader at a seq), a corruption error
        is retried on new readers (at least one) for ``reopen_for`` seconds
        before it is raised: a reader racing the journal's writer can see a frame's pages
        out of order (zeros, then a later frame) and call it damage."""
        from shanraq_core.errors import JournalCorruptionError

        give_up: float | None = None
        while True:
            try:
                return self.reader.read(self.max_batch)
            except JournalCorruptionError:
                if self.reopen is None:
                    raise
                now = time.monotonic()
                if give_up is None:
                    give_up = now + self.reopen_for
                elif now >= give_up:
                    raise
                time.sleep(0.005)
                self.reader = self.reopen(self.next_seq)
                self.reopened += 1

    def next_batch(self, timeout: float) -> Batch | None:
        deadline = time.monotonic() + timeout
        while True:
            records = self._read()
            if len(records):
                return self._seal(records)
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.poll)
