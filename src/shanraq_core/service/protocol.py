"""The gateway's binary protocol (docs/service.md, "Protocol").

A stream of frames over TCP (TLS 1.3). Every frame is a little-endian
``u32`` length (of what follows it), then a 12-byte header::

    version u8 | kind u8 | flags u16 | request_id u64

then the kind's fixed body. A client sends commands and queries, each with
its own ``request_id`` (the client order id space of the connection); the
gateway answers every frame with exactly one frame carrying the same
``request_id``, in the order the frames arrived (pipelining: a client may
have any number in flight). Commands are answered with a ``Report`` once the
command is durable; queries with ``BalanceReply``/``OrderReply``; anything
refused with an ``ErrorFrame`` and an `ErrorCode`.

Everything here is pure: `encode` turns a message into bytes, `decode_frame`
takes bytes and returns ``(message, consumed)``, ``None`` when more bytes
are needed, or raises `ProtocolError` with a code; no byte string makes it
raise anything else.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, Final

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "VERSION",
    "AddAsset",
    "AddSymbol",
    "AddUser",
    "Amend",
    "BalanceReply",
    "Cancel",
    "Deposit",
    "ErrorCode",
    "ErrorFrame",
    "FrameDecoder",
    "HaltSymbol",
    "Kind",
    "MassCancel",
    "Message",
    "OrderReply",
    "Place",
    "ProtocolError",
    "QueryBalance",
    "QueryOrder",
    "Report",
    "ResumeSymbol",
    "SetLimits",
    "Withdraw",
    "decode_frame",
    "encode",
]

VERSION: Final = 1
#: Largest frame (length prefix excluded) the gateway reads; larger is OVERSIZED.
MAX_FRAME: Final = 1024
HEADER: Final = struct.Struct("<BBHQ")
_LEN: Final = struct.Struct("<I")


class Kind(IntEnum):
    """Frame kinds: 1..63 commands, 64..127 queries, 128.. the gateway's answers."""

    PLACE = 1
    CANCEL = 2
    AMEND = 3
    MASS_CANCEL = 4
    DEPOSIT = 5
    WITHDRAW = 6
    ADD_SYMBOL = 7
    ADD_ASSET = 8
    ADD_USER = 9
    SET_LIMITS = 10
    HALT_SYMBOL = 11
    RESUME_SYMBOL = 12
    QUERY_BALANCE = 64
    QUERY_ORDER = 65
    REPORT = 128
    BALANCE = 129
    ORDER = 130
    ERROR = 131


class ErrorCode(IntEnum):
    """Why a frame was refused (the ``code`` label of shanraq_frame_errors_total)."""

    MALFORMED = 1  #: the body does not match its kind, or a field is out of range
    OVERSIZED = 2  #: length > MAX_FRAME (the connection is closed after the answer)
    UNKNOWN_KIND = 3
    BAD_VERSION = 4
    UNAUTHORISED = 5  #: the principal's role or account does not allow it
    RATE_LIMITED = 6
    UNAVAILABLE = 7  #: not primary, fenced, or the backend failed
    INTERNAL = 8

    @property
    def label(self) -> str:
        return self.name.lower()


class ProtocolError(Exception):
    """A frame that cannot be read: its `ErrorCode`, the request id when the
    header was readable (else 0) and whether the stream is still in sync
    (``fatal``: the frame's end is unknown, so the connection must close)."""

    def __init__(self, code: ErrorCode, message: str, request_id: int = 0, *, fatal: bool = False) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.fatal = fatal
        #: bytes the refused frame took (0 when fatal: its end is unknown)
        self.consumed = 0


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every frame: the header's request id."""

    KIND: ClassVar[Kind]
    BODY: ClassVar[struct.Struct]
    request_id: int

    def _body(self) -> tuple[int | bytes, ...]:
        return tuple(getattr(self, f.name) for f in fields(self)[1:])

    @classmethod
    def _from_body(cls, request_id: int, body: bytes) -> Message:
        return cls(request_id, *cls.BODY.unpack(body))


@dataclass(frozen=True, slots=True)
class Place(Message):
    KIND: ClassVar[Kind] = Kind.PLACE
    BODY: ClassVar[struct.Struct] = struct.Struct("<QQIBBBBBxxxqqqqq")
    user: int
    order_id: int
    symbol: int
    side: int
    order_type: int
    tif: int
    stp: int
    post_only: int
    price: int
    qty: int
    stop_price: int
    display_qty: int
    expire_ns: int


@dataclass(frozen=True, slots=True)
class Cancel(Message):
    KIND: ClassVar[Kind] = Kind.CANCEL
    BODY: ClassVar[struct.Struct] = struct.Struct("<QQ")
    user: int
    order_id: int


@dataclass(frozen=True, slots=True)
class Amend(Message):
    KIND: ClassVar[Kind] = Kind.AMEND
    BODY: ClassVar[struct.Struct] = struct.Struct("<QQqqq")
    user: int
    order_id: int
    price: int
    qty: int
    stop_price: int


@dataclass(frozen=True, slots=True)
class MassCancel(Message):
    """``symbol`` 0 cancels the user's orders on every symbol."""

    KIND: ClassVar[Kind] = Kind.MASS_CANCEL
    BODY: ClassVar[struct.Struct] = struct.Struct("<QIxxxxQ")
    user: int
    symbol: int
    tag: int


@dataclass(frozen=True, slots=True)
class Deposit(Message):
    KIND: ClassVar[Kind] = Kind.DEPOSIT
    BODY: ClassVar[struct.Struct] = struct.Struct("<QIxxxxQq")
    user: int
    asset: int
    transfer_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class Withdraw(Message):
    KIND: ClassVar[Kind] = Kind.WITHDRAW
    BODY: ClassVar[struct.Struct] = struct.Struct("<QIxxxxQq")
    user: int
    asset: int
    transfer_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class AddSymbol(Message):
    KIND: ClassVar[Kind] = Kind.ADD_SYMBOL
    BODY: ClassVar[struct.Struct] = struct.Struct("<IIIHHIIqqqqq")
    symbol: int
    base: int
    quote: int
    maker_fee_bps: int
    taker_fee_bps: int
    base_scale: int
    quote_scale: int
    tick_size: int
    lot_size: int
    min_price: int
    max_price: int
    max_qty: int


@dataclass(frozen=True, slots=True)
class AddAsset(Message):
    KIND: ClassVar[Kind] = Kind.ADD_ASSET
    BODY: ClassVar[struct.Struct] = struct.Struct("<I")
    asset: int


@dataclass(frozen=True, slots=True)
class AddUser(Message):
    KIND: ClassVar[Kind] = Kind.ADD_USER
    BODY: ClassVar[struct.Struct] = struct.Struct("<Q")
    user: int


@dataclass(frozen=True, slots=True)
class SetLimits(Message):
    KIND: ClassVar[Kind] = Kind.SET_LIMITS
    BODY: ClassVar[struct.Struct] = struct.Struct("<Qqq")
    user: int
    max_open_orders: int
    max_notional: int


@dataclass(frozen=True, slots=True)
class HaltSymbol(Message):
    KIND: ClassVar[Kind] = Kind.HALT_SYMBOL
    BODY: ClassVar[struct.Struct] = struct.Struct("<I")
    symbol: int


@dataclass(frozen=True, slots=True)
class ResumeSymbol(Message):
    KIND: ClassVar[Kind] = Kind.RESUME_SYMBOL
    BODY: ClassVar[struct.Struct] = struct.Struct("<I")
    symbol: int


@dataclass(frozen=True, slots=True)
class QueryBalance(Message):
    KIND: ClassVar[Kind] = Kind.QUERY_BALANCE
    BODY: ClassVar[struct.Struct] = struct.Struct("<QI")
    user: int
    asset: int


@dataclass(frozen=True, slots=True)
class QueryOrder(Message):
    """The order's owner is named so that a trader can be checked before the lookup."""

    KIND: ClassVar[Kind] = Kind.QUERY_ORDER
    BODY: ClassVar[struct.Struct] = struct.Struct("<QQ")
    user: int
    order_id: int


@dataclass(frozen=True, slots=True)
class Report(Message):
    """One command's execution report, sent once the command is durable.
    ``reason`` is the exchange's `ExchangeRejectReason` (0 when accepted)."""

    KIND: ClassVar[Kind] = Kind.REPORT
    BODY: ClassVar[struct.Struct] = struct.Struct("<QBBxxIqqQQQQ")
    seq: int
    rejected: int
    reason: int
    trades: int
    filled: int
    remaining: int
    hold: int
    fees: int
    available: int
    count: int


@dataclass(frozen=True, slots=True)
class BalanceReply(Message):
    KIND: ClassVar[Kind] = Kind.BALANCE
    BODY: ClassVar[struct.Struct] = struct.Struct("<BxxxxxxxQQQ")
    found: int
    total: int
    held: int
    available: int


@dataclass(frozen=True, slots=True)
class OrderReply(Message):
    KIND: ClassVar[Kind] = Kind.ORDER
    BODY: ClassVar[struct.Struct] = struct.Struct("<BxxxIIxxxxQQq")
    found: int
    symbol: int
    asset: int
    user: int
    hold: int
    remaining: int


@dataclass(frozen=True, slots=True)
class ErrorFrame(Message):
    """A refused frame: its code and a short UTF-8 message (at most 256 bytes)."""

    KIND: ClassVar[Kind] = Kind.ERROR
    BODY: ClassVar[struct.Struct] = struct.Struct("<H")
    code: int
    message: str = ""

    def _body(self) -> tuple[int | bytes, ...]:
        return (self.code,)

    @classmethod
    def _from_body(cls, request_id: int, body: bytes) -> Message:
        (code,) = cls.BODY.unpack_from(body)
        try:
            text = body[cls.BODY.size :].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(ErrorCode.MALFORMED, "error text is not UTF-8", request_id) from e
        if len(body) - cls.BODY.size > 256:
            raise ProtocolError(ErrorCode.MALFORMED, "error text longer than 256 bytes", request_id)
        return cls(request_id, code, text)


MESSAGES: Final[dict[int, type[Message]]] = {
    cls.KIND: cls
    for cls in (
        Place,
        Cancel,
        Amend,
        MassCancel,
        Deposit,
        Withdraw,
        AddSymbol,
        AddAsset,
        AddUser,
        SetLimits,
        HaltSymbol,
        ResumeSymbol,
        QueryBalance,
        QueryOrder,
        Report,
        BalanceReply,
        OrderReply,
        ErrorFrame,
    )
}


# Field readers per class: dataclasses.fields() per encode cost more than the packing.
def _getter(cls: type[Message]) -> Callable[[Message], tuple[Any, ...]]:
    names = [f.name for f in fields(cls)[1:]]
    if len(names) == 1:
        name = names[0]
        return lambda m: (getattr(m, name),)
    get: Callable[[Message], tuple[Any, ...]] = operator.attrgetter(*names)
    return get


_GETTERS: Final = {cls: _getter(cls) for cls in MESSAGES.values()}
COMMANDS: Final = frozenset(k for k in MESSAGES if k < 64)
QUERIES: Final = frozenset(k for k in MESSAGES if 64 <= k < 128)


def encode(msg: Message) -> bytes:
    """The frame of ``msg``, length prefix included. ``struct.error`` (a
    ValueError) names a field out of its type's range."""
    if isinstance(msg, ErrorFrame):
        text = msg.message.encode("utf-8")[:256]
        body = msg.BODY.pack(msg.code) + text.decode("utf-8", errors="ignore").encode("utf-8")
    else:
        body = msg.BODY.pack(*_GETTERS[type(msg)](msg))
    size = HEADER.size + len(body)
    return _LEN.pack(size) + HEADER.pack(VERSION, msg.KIND, 0, msg.request_id) + body


def decode_frame(
    buf: bytes | bytearray | memoryview, *, max_frame: int = MAX_FRAME
) -> tuple[Message, int] | None:
    """The first frame of ``buf`` and the bytes it took, or None if ``buf``
    holds less than a whole frame. Raises `ProtocolError`: OVERSIZED (fatal)
    when the length is above ``max_frame``; MALFORMED when it is below the
    header or the body's size is not the kind's; BAD_VERSION; UNKNOWN_KIND.
    Apart from OVERSIZED the frame's end is known, so ``consumed`` is set on
    the error (``error.consumed``) and the stream stays in sync."""
    with memoryview(buf) as view:
        return _decode(view, max_frame)


def _decode(view: memoryview, max_frame: int) -> tuple[Message, int] | None:
    if len(view) < _LEN.size:
        return None
    (size,) = _LEN.unpack_from(view)
    if size > max_frame:
        raise ProtocolError(ErrorCode.OVERSIZED, f"frame of {size} bytes > {max_frame}", fatal=True)
    end = _LEN.size + size
    if len(view) < end:
        return None
    if size < HEADER.size:
        err = ProtocolError(ErrorCode.MALFORMED, f"frame of {size} bytes < the {HEADER.size}-byte header")
        err.consumed = end
        raise err
    version, kind, _flags, request_id = HEADER.unpack_from(view, _LEN.size)
    body = bytes(view[_LEN.size + HEADER.size : end])
    try:
        if version != VERSION:
            raise ProtocolError(
                ErrorCode.BAD_VERSION, f"version {version}, this gateway speaks {VERSION}", request_id
            )
        cls = MESSAGES.get(kind)
        if cls is None:
            raise ProtocolError(ErrorCode.UNKNOWN_KIND, f"unknown frame kind {kind}", request_id)
        if cls is ErrorFrame:
            if len(body) < ErrorFrame.BODY.size:
                raise ProtocolError(ErrorCode.MALFORMED, "error frame without a code", request_id)
        elif len(body) != cls.BODY.size:
            raise ProtocolError(
                ErrorCode.MALFORMED,
                f"{Kind(kind).name} body of {len(body)} bytes, expected {cls.BODY.size}",
                request_id,
            )
        return cls._from_body(request_id, body), end
    except ProtocolError as err:
        err.consumed = end
        raise


class FrameDecoder:
    """Incremental decoding of a byte stream: ``feed`` appends bytes, ``next``
    returns the next frame, None when more bytes are needed, or raises
    `ProtocolError` (a non-fatal error has already skipped its frame)."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Message | None:
        try:
            got = decode_frame(self._buf, max_frame=self._max)
        except ProtocolError as err:
            if not err.fatal:
                del self._buf[: err.consumed]
            raise
        if got is None:
            return None
        msg, used = got
        del self._buf[:used]
        return msg

    @property
    def buffered(self) -> int:
        return len(self._buf)
