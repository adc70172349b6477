"""Batches: CRC-32 and the SHA-256 chain over stamped records (no servers)."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core.errors import JournalCorruptionError
from shanraq_core.replication import ContinuityError
from shanraq_core.replication.records import ZERO_CHAIN, TailSource, seal, verify

from .helpers import book_records


def test_chain_is_sha256_of_previous_chain_and_record() -> None:
    recs = book_records(1, 5)
    batch = seal(recs, ZERO_CHAIN)
    chain = ZERO_CHAIN
    for i in range(5):
        row = recs[i : i + 1].tobytes()
        chain = hashlib.sha256(chain + row).digest()
        assert bytes(batch.chains[i]) == chain
        assert int(batch.crcs[i]) == zlib.crc32(row)
    assert batch.first_seq == 1
    assert batch.last_seq == 5


def test_split_batches_chain_like_one() -> None:
    recs = book_records(1, 10)
    whole = seal(recs, ZERO_CHAIN)
    first = seal(recs[:4], ZERO_CHAIN)
    second = seal(recs[4:], first.last_chain)
    assert np.array_equal(np.concatenate([first.chains, second.chains]), whole.chains)


def test_seq_out_of_place_is_refused() -> None:
    recs = book_records(1, 4)
    recs["seq"][2] = 9
    with pytest.raises(ContinuityError, match="seq 3") as e:
        seal(recs, ZERO_CHAIN)
    assert e.value.seq == 3


@given(st.integers(0, 7), st.integers(0, 87), st.integers(1, 255))
def test_any_flipped_byte_is_found_at_its_record(index: int, offset: int, flip: int) -> None:
    recs = book_records(1, 8)
    batch = seal(recs, ZERO_CHAIN)
    batch.records[index, offset] ^= flip
    with pytest.raises(ContinuityError) as e:
        verify(batch, ZERO_CHAIN)
    assert e.value.seq == 1 + index


def test_wrong_previous_chain_is_refused_at_the_first_record() -> None:
    batch = seal(book_records(5, 3), bytes([1]) * 32)
    with pytest.raises(ContinuityError) as e:
        verify(batch, ZERO_CHAIN)
    assert e.value.seq == 5


class _Reader:
    """A journal tailing reader's contract: what is there, in order, never blocking."""

    def __init__(self, records: np.ndarray, chunks: list[int]) -> None:
        self.records = records
        self.chunks = chunks  # how many more records become durable at each read
        self.durable = 0
        self.pos = 0

    def read(self, max_records: int = 65536) -> np.ndarray:
        self.durable += self.chunks.pop(0) if self.chunks else 0
        n = min(self.durable - self.pos, max_records)
        out = self.records[self.pos : self.pos + n]
        self.pos += n
        return out


def test_tail_source_chains_across_reads_like_one_batch() -> None:
    recs = book_records(11, 30)
    prev = bytes([3]) * 32
    src = TailSource(_Reader(recs, [0, 7, 0, 0, 23]), next_seq=11, prev_chain=prev, max_batch=10)
    got = []
    for _ in range(100):
        b = src.next_batch(0.001)
        if b is not None:
            got.append(b)
    assert [(b.first_seq, b.count) for b in got] == [(11, 7), (18, 10), (28, 10), (38, 3)]
    whole = seal(recs, prev)
    assert np.array_equal(np.concatenate([b.chains for b in got]), whole.chains)
    assert src.next_batch(0) is None


def test_tail_source_refuses_records_that_do_not_continue() -> None:
    src = TailSource(_Reader(book_records(12, 3), [3]), next_seq=11, prev_chain=ZERO_CHAIN)
    with pytest.raises(ContinuityError) as e:
        src.next_batch(0.01)
    assert e.value.seq == 11


class _TornReader:
    """Gives ``records`` from ``start`` on, after raising ``errors`` times."""

    def __init__(self, records: np.ndarray, start: int, errors: int) -> None:
        self.records = records[records["seq"] >= start]
        self.errors = errors

    def read(self, max_records: int = 65536) -> np.ndarray:
        if self.errors:
            self.errors -= 1
            raise JournalCorruptionError("zeros where a frame belongs")
        out, self.records = self.records[:max_records], self.records[max_records:]
        return out


def test_a_tail_source_reopens_its_reader_after_a_torn_read() -> None:
    recs = book_records(1, 100)
    opened: list[int] = []

    def reopen(seq: int) -> _TornReader:
        opened.append(seq)
        return _TornReader(recs, seq, 0)

    first = _TornReader(recs, 1, 0)
    src = TailSource(first, next_seq=1, prev_chain=ZERO_CHAIN, max_batch=40, reopen=reopen)
    assert src.next_batch(0).last_seq == 40  # type: ignore[union-attr]
    first.errors = 1
    batch = src.next_batch(0)
    assert batch is not None
    assert (batch.first_seq, batch.last_seq) == (41, 80)
    assert opened == [41]
    assert src.reopened == 1
    # The chain runs on unbroken across the new reader.
    assert batch.last_chain == seal(recs[:80], ZERO_CHAIN).last_chain


def test_a_tail_source_raises_damage_that_persists_or_without_reopen() -> None:
    recs = book_records(1, 10)
    src = TailSource(_TornReader(recs, 1, 1), next_seq=1, prev_chain=ZERO_CHAIN)
    with pytest.raises(JournalCorruptionError):
        src.next_batch(0)
    src = TailSource(
        _TornReader(recs, 1, 1),
        next_seq=1,
        prev_chain=ZERO_CHAIN,
        reopen=lambda seq: _TornReader(recs, seq, 1),
        reopen_for=0.0,
    )
    with pytest.raises(JournalCorruptionError):
        src.next_batch(0)
    assert src.reopened == 1
