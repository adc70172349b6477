"""Batches: CRC-32 and the SHA-256 chain over stamped records (no servers)."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core.replication import ContinuityError
from shanraq_core.replication.records import ZERO_CHAIN, seal, verify

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
