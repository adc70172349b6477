"""Interchange with the PyPI `hdrhistogram` package (HdrHistogram's Python
implementation), in both directions, plus corrupt encodings."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import LatencyHistogram

HOUR_NS = 3_600_000_000_000


@given(
    st.lists(st.integers(1, 10**11), min_size=1, max_size=200),
    st.sampled_from([(1, HOUR_NS, 3), (1, 10**11, 2), (1000, HOUR_NS, 4)]),
)
def test_hdrhistogram_decodes_what_we_encode(values: list[int], config: tuple[int, int, int]) -> None:
    ours = LatencyHistogram(*config)
    theirs = HdrHistogram(*config)
    for v in values:
        ours.record(v)
        theirs.record_value(v)
    decoded = HdrHistogram.decode(ours.encode())
    assert decoded.get_total_count() == ours.total_count
    for p in (0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0):
        assert (
            decoded.get_value_at_percentile(p)
            == ours.value_at_percentile(p)
            == theirs.get_value_at_percentile(p)
        )
    assert decoded.lowest_trackable_value == config[0]
    assert decoded.highest_trackable_value == config[1]


@given(
    st.lists(st.integers(1, 10**11), min_size=1, max_size=200),
    st.sampled_from([(1, HOUR_NS, 3), (1, 60 * 60 * 1000 * 1000, 2), (10, 10**12, 5)]),
)
def test_we_decode_what_hdrhistogram_encodes(values: list[int], config: tuple[int, int, int]) -> None:
    theirs = HdrHistogram(*config)
    for v in values:
        if v <= config[1]:
            theirs.record_value(v)
    if theirs.get_total_count() == 0:
        theirs.record_value(1)
    ours = LatencyHistogram.decode(theirs.encode())
    assert ours.total_count == theirs.get_total_count()
    assert ours.significant_figures == config[2]
    assert ours.highest_trackable_value == config[1]
    for p in (0.0, 25.0, 50.0, 75.0, 99.0, 100.0):
        assert ours.value_at_percentile(p) == theirs.get_value_at_percentile(p)
    # str and bytes both accepted
    encoded = theirs.encode()
    assert LatencyHistogram.decode(encoded if isinstance(encoded, str) else encoded.decode()) == ours


def test_java_style_cookies_and_python_style_cookies() -> None:
    h = LatencyHistogram()
    h.record_many(np.arange(1, 5000, dtype=np.int64))
    raw = base64.b64decode(h.encode())
    # Written as Java writes them (bit 4 set), so strict readers accept them.
    assert struct.unpack(">I", raw[:4])[0] == 0x1C849314
    payload = zlib.decompress(raw[8:])
    assert struct.unpack(">I", payload[:4])[0] == 0x1C849313
    # Readers ignore bits 4..7: the bare base cookies decode too.
    payload_bare = struct.pack(">I", 0x1C849303) + payload[4:]
    c = zlib.compress(payload_bare)
    framed = struct.pack(">II", 0x1C849304, len(c)) + c
    assert LatencyHistogram.decode(base64.b64encode(framed)) == LatencyHistogram.decode(h.encode())


def _frame(payload: bytes, cookie: int = 0x1C849304) -> str:
    c = zlib.compress(payload)
    return base64.b64encode(struct.pack(">II", cookie, len(c)) + c).decode()


@pytest.fixture
def payload() -> bytes:
    h = LatencyHistogram()
    h.record(12345)
    return zlib.decompress(base64.b64decode(h.encode())[8:])


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p[:20], "header"),
        (lambda p: p[:-1], "length"),
        (lambda p: b"\x00" + p[1:], "cookie"),
        (lambda p: p[:15] + b"\x09" + p[16:], "significant_figures"),
        (lambda p: p[:11] + b"\x01" + p[12:], "normalizing"),
        (lambda p: p[:23] + b"\x00" + p[24:], "lowest"),
        (lambda p: p + b"\xff", "length|truncated"),
    ],
)
def test_corrupt_payloads(payload: bytes, mutate: object, match: str) -> None:
    bad = mutate(payload)  # type: ignore[operator]
    with pytest.raises(ValueError, match=match):
        LatencyHistogram.decode(_frame(bad))


@pytest.mark.parametrize(
    ("encoded", "match"),
    [
        ("", "header"),
        ("not base64!!", "base64"),
        ("AAAA", "header"),
        (base64.b64encode(struct.pack(">II", 0x1C849304, 5) + b"abcde").decode(), "zlib"),
        (base64.b64encode(struct.pack(">II", 0x1C849304, 99) + b"abcde").decode(), "compressed bytes"),
        (base64.b64encode(struct.pack(">II", 0x12345678, 5) + b"abcde").decode(), "cookie"),
        ("é", "base64"),
    ],
)
def test_corrupt_framing(encoded: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LatencyHistogram.decode(encoded)


def test_decode_wrong_type() -> None:
    with pytest.raises(TypeError):
        LatencyHistogram.decode(12)  # type: ignore[arg-type]


def test_truncated_encodings_are_errors() -> None:
    h = LatencyHistogram()
    h.record_many(np.arange(1, 100_000, 37, dtype=np.int64))
    raw = base64.b64decode(h.encode())
    for cut in range(0, len(raw), max(1, len(raw) // 50)):
        with pytest.raises(ValueError, match="HdrHistogram encoding"):
            LatencyHistogram.decode(base64.b64encode(raw[:cut]))
