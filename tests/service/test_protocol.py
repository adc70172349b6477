"""Properties of the gateway's frame codec (shanraq_core.service.protocol)."""

from __future__ import annotations

import struct
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core.service import protocol as p

_RANGES = {"B": (0, 2**8 - 1), "H": (0, 2**16 - 1), "I": (0, 2**32 - 1), "Q": (0, 2**64 - 1)}
_RANGES |= {"q": (-(2**63), 2**63 - 1)}


def _field_strategies(cls: type[p.Message]) -> list[st.SearchStrategy[Any]]:
    codes = [c for c in cls.BODY.format if c.isalpha() and c != "x"]
    return [st.integers(*_RANGES[c]) for c in codes]


@st.composite
def messages(draw: st.DrawFn) -> p.Message:
    cls = draw(st.sampled_from(sorted(p.MESSAGES.values(), key=lambda c: c.KIND)))
    rid = draw(st.integers(0, 2**64 - 1))
    if cls is p.ErrorFrame:
        return p.ErrorFrame(rid, draw(st.integers(0, 2**16 - 1)), draw(st.text(max_size=60)))
    values = [draw(s) for s in _field_strategies(cls)]
    assert len(values) == len(fields(cls)) - 1
    return cls(rid, *values)


@given(messages())
def test_round_trip(msg: p.Message) -> None:
    frame = p.encode(msg)
    assert p.decode_frame(frame) == (msg, len(frame))
    # Every proper prefix is "need more bytes", never an error.
    for cut in (0, 1, 3, 4, len(frame) - 1):
        assert p.decode_frame(frame[:cut]) is None


@given(st.lists(messages(), max_size=8), st.integers(1, 64))
def test_pipelined_stream_in_any_chunks(msgs: list[p.Message], chunk: int) -> None:
    stream = b"".join(p.encode(m) for m in msgs)
    dec = p.FrameDecoder()
    out: list[p.Message] = []
    for i in range(0, len(stream), chunk):
        dec.feed(stream[i : i + chunk])
        while (m := dec.next()) is not None:
            out.append(m)
    assert out == msgs
    assert dec.buffered == 0


@given(st.binary(max_size=2048))
def test_any_bytes_give_a_frame_none_or_a_typed_error(data: bytes) -> None:
    error: p.ProtocolError | None = None
    got = None
    try:
        got = p.decode_frame(data)
    except p.ProtocolError as err:
        error = err
    if error is not None:
        assert isinstance(error.code, p.ErrorCode)
        assert error.fatal == (error.code is p.ErrorCode.OVERSIZED)
    elif got is not None:
        msg, used = got
        assert 16 <= used <= len(data)
        # What was read re-encodes to a frame that reads back the same.
        again = p.encode(msg)
        assert p.decode_frame(again) == (msg, len(again))


@given(st.binary(max_size=600))
def test_decoder_never_raises_anything_but_protocol_errors(data: bytes) -> None:
    dec = p.FrameDecoder()
    dec.feed(data)
    for _ in range(len(data) + 1):
        try:
            if dec.next() is None:
                break
        except p.ProtocolError as err:
            if err.fatal:
                break


def _raw(kind: int, body: bytes, *, version: int = p.VERSION, rid: int = 7) -> bytes:
    payload = p.HEADER.pack(version, kind, 0, rid) + body
    return struct.pack("<I", len(payload)) + payload


@pytest.mark.parametrize(
    ("frame", "code", "fatal"),
    [
        (struct.pack("<I", p.MAX_FRAME + 1), p.ErrorCode.OVERSIZED, True),
        (_raw(p.Kind.CANCEL, b"\0" * 15), p.ErrorCode.MALFORMED, False),
        (_raw(200, b""), p.ErrorCode.UNKNOWN_KIND, False),
        (_raw(p.Kind.CANCEL, b"\0" * 16, version=9), p.ErrorCode.BAD_VERSION, False),
        (struct.pack("<I", 3) + b"abc", p.ErrorCode.MALFORMED, False),
    ],
)
def test_errors_have_codes_and_keep_sync(frame: bytes, code: p.ErrorCode, fatal: bool) -> None:
    good = p.encode(p.Cancel(9, 1, 2))
    dec = p.FrameDecoder()
    dec.feed(frame + good)
    with pytest.raises(p.ProtocolError) as info:
        dec.next()
    assert info.value.code is code
    assert info.value.fatal is fatal
    if code is not p.ErrorCode.MALFORMED or len(frame) > 8:
        assert info.value.request_id in (0, 7)
    if not fatal:
        assert dec.next() == p.Cancel(9, 1, 2)


def test_out_of_range_field_is_a_value_error() -> None:
    with pytest.raises(struct.error):
        p.encode(p.Cancel(1, -1, 2))
