"""Backends of the gateway: what sequences, applies and makes commands durable.

`LocalBackend` owns an `Exchange` recovered from its `Journal`
(`Exchange.open`) on one writer thread: the gateway hands it commands and
queries in arrival order; the thread gathers what is waiting into one batch
(group commit), journals and applies it (``Journal.process``, GIL released),
waits until the journal says the batch is on disk (``wait_durable``), and only
then hands the reports back to the event loop. Queries run on the same thread
between batches, so they see exactly the state of the commands before them.

Why not the shared-memory `Runner`: while a Runner drives a machine every
query on it raises (single writer), and balance/order queries are part of the
protocol; the writer thread here is the same single-writer sequencer with the
journal's group commit, and a standby/replication `Node` backend plugs in
behind the same `Backend` interface (docs/service.md, "Backends").
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shanraq_core.exchange import (
    EXCHANGE_COMMAND_DTYPE,
    EXCHANGE_EVENT_DTYPE,
    Exchange,
    ExchangeCommandKind,
    ExchangeEventType,
)
from shanraq_core.service import protocol as p

__all__ = [
    "Backend",
    "BackendHealth",
    "Done",
    "LocalBackend",
    "command_bytes",
    "report_from_events",
    "report_from_rows",
    "to_command",
]

_FLAG_POST_ONLY = 0x01
_FLAG_MASS_BY_SYMBOL = 0x02

_KINDS: dict[p.Kind, ExchangeCommandKind] = {
    p.Kind.PLACE: ExchangeCommandKind.PLACE,
    p.Kind.CANCEL: ExchangeCommandKind.CANCEL,
    p.Kind.AMEND: ExchangeCommandKind.AMEND,
    p.Kind.MASS_CANCEL: ExchangeCommandKind.MASS_CANCEL,
    p.Kind.DEPOSIT: ExchangeCommandKind.DEPOSIT,
    p.Kind.WITHDRAW: ExchangeCommandKind.WITHDRAW,
    p.Kind.ADD_SYMBOL: ExchangeCommandKind.ADD_SYMBOL,
    p.Kind.ADD_ASSET: ExchangeCommandKind.ADD_ASSET,
    p.Kind.ADD_USER: ExchangeCommandKind.ADD_USER,
    p.Kind.SET_LIMITS: ExchangeCommandKind.SET_LIMITS,
    p.Kind.HALT_SYMBOL: ExchangeCommandKind.HALT_SYMBOL,
    p.Kind.RESUME_SYMBOL: ExchangeCommandKind.RESUME_SYMBOL,
}


def to_command(msg: p.Message, rec: Any) -> None:
    """Fills one zeroed EXCHANGE_COMMAND_DTYPE record from a command frame.
    Values outside a field's type raise OverflowError/ValueError (the
    gateway answers MALFORMED)."""
    rec["kind"] = _KINDS[msg.KIND]
    if isinstance(msg, p.Place):
        for name in ("user", "order_id", "symbol", "side", "order_type", "tif", "stp", "price", "qty"):
            rec[name] = getattr(msg, name)
        rec["stop_price"] = msg.stop_price
        rec["display_qty"] = msg.display_qty
        rec["expire_ns"] = msg.expire_ns
        rec["flags"] = _FLAG_POST_ONLY if msg.post_only else 0
    elif isinstance(msg, p.Cancel):
        rec["user"], rec["order_id"] = msg.user, msg.order_id
    elif isinstance(msg, p.Amend):
        rec["user"], rec["order_id"] = msg.user, msg.order_id
        rec["price"], rec["qty"], rec["stop_price"] = msg.price, msg.qty, msg.stop_price
    elif isinstance(msg, p.MassCancel):
        rec["user"], rec["order_id"] = msg.user, msg.tag
        if msg.symbol:
            rec["symbol"], rec["flags"] = msg.symbol, _FLAG_MASS_BY_SYMBOL
    elif isinstance(msg, (p.Deposit, p.Withdraw)):
        rec["user"], rec["asset"], rec["transfer_id"], rec["amount"] = (
            msg.user,
            msg.asset,
            msg.transfer_id,
            msg.amount,
        )
    elif isinstance(msg, p.AddSymbol):
        rec["symbol"], rec["asset"], rec["quote_asset"] = msg.symbol, msg.base, msg.quote
        for name in ("maker_fee_bps", "taker_fee_bps", "base_scale", "quote_scale", "tick_size", "lot_size"):
            rec[name] = getattr(msg, name)
        rec["min_price"], rec["max_price"], rec["max_qty"] = msg.min_price, msg.max_price, msg.max_qty
    elif isinstance(msg, p.AddAsset):
        rec["asset"] = msg.asset
    elif isinstance(msg, p.AddUser):
        rec["user"] = msg.user
    elif isinstance(msg, p.SetLimits):
        rec["user"], rec["max_open_orders"], rec["max_notional"] = (
            msg.user,
            msg.max_open_orders,
            msg.max_notional,
        )
    elif isinstance(msg, (p.HaltSymbol, p.ResumeSymbol)):
        rec["symbol"] = msg.symbol
    else:
        raise TypeError(f"{type(msg).__name__} is not a command")


# The command record's base fields in order (types.hpp's RecordLayout): seq, time_ns, kind, side,
# order_type, tif, stp, flags, reserved0, symbol, asset, user, order_id, price, qty, stop_price,
# display_qty, expire_ns.
_RECORD = struct.Struct("<QqBBBBBBHIIQQqqqqq")
assert _RECORD.size == EXCHANGE_COMMAND_DTYPE.itemsize


def command_bytes(msg: p.Message) -> bytes:
    """The EXCHANGE_COMMAND_DTYPE record of a command frame as bytes: the
    same bytes `to_command` writes, built without numpy's per-field
    assignment (the gateway's hot path). struct.error/OverflowError for a
    value outside its field."""
    k = _KINDS[msg.KIND]
    if isinstance(msg, p.Place):
        return _RECORD.pack(
            0, 0, k, msg.side, msg.order_type, msg.tif, msg.stp, _FLAG_POST_ONLY if msg.post_only else 0, 0,
            msg.symbol, 0, msg.user, msg.order_id, msg.price, msg.qty, msg.stop_price, msg.display_qty,
            msg.expire_ns,
        )  # fmt: skip
    if isinstance(msg, p.Cancel):
        return _RECORD.pack(0, 0, k, 0, 0, 0, 0, 0, 0, 0, 0, msg.user, msg.order_id, 0, 0, 0, 0, 0)
    if isinstance(msg, p.Amend):
        return _RECORD.pack(
            0, 0, k, 0, 0, 0, 0, 0, 0, 0, 0, msg.user, msg.order_id, msg.price, msg.qty, msg.stop_price, 0, 0
        )
    if isinstance(msg, (p.Deposit, p.Withdraw)):
        return _RECORD.pack(
            0, 0, k, 0, 0, 0, 0, 0, 0, 0, msg.asset, msg.user, msg.transfer_id, 0, msg.amount, 0, 0, 0
        )
    rec = np.zeros(1, dtype=EXCHANGE_COMMAND_DTYPE)
    to_command(msg, rec[0])
    return rec.tobytes()


_EV = {name: i for i, name in enumerate(EXCHANGE_EVENT_DTYPE.names or ())}
_TYPE, _REASON, _QTY = _EV["type"], _EV["reason"], _EV["qty"]
_OID, _OOID = _EV["order_id"], _EV["other_order_id"]
_REM, _OREM, _HOLD, _OHOLD = _EV["remaining"], _EV["other_remaining"], _EV["hold"], _EV["other_hold"]
_FEE, _OFEE = _EV["fee"], _EV["other_fee"]
_REJECTED, _TRADE = int(ExchangeEventType.REJECTED), int(ExchangeEventType.TRADE)


def report_from_rows(msg: p.Message, seq: int, rows: list[tuple[Any, ...]]) -> p.Report:
    """`report_from_events` on the events as tuples (``events.tolist()``):
    the same report without numpy calls per command (the hot path)."""
    for r in rows:
        if r[_TYPE] == _REJECTED:
            return p.Report(msg.request_id, seq, 1, r[_REASON], 0, 0, 0, 0, 0, 0, 0)
    oid = getattr(msg, "order_id", None)
    trades = filled = fees = remaining = hold = available = count = 0
    own = None
    for r in rows:
        if r[_TYPE] == _TRADE:
            trades += 1
            filled += r[_QTY]
            if oid:
                if r[_OID] == oid:
                    fees += r[_FEE]
                elif r[_OOID] == oid:
                    fees += r[_OFEE]
        if oid is not None and (r[_OID] == oid or r[_OOID] == oid):
            own = r
    if isinstance(msg, (p.Place, p.Amend)):
        if own is not None:
            remaining = own[_REM] if own[_OID] == oid else own[_OREM]
            hold = own[_HOLD] if own[_OID] == oid else own[_OHOLD]
    elif isinstance(msg, (p.Deposit, p.Withdraw)):
        available = rows[-1][_HOLD]
    elif isinstance(msg, p.MassCancel):
        count = rows[-1][_QTY]
    return p.Report(msg.request_id, seq, 0, 0, trades, filled, remaining, hold, fees, available, count)


def report_from_events(msg: p.Message, seq: int, events: npt.NDArray[np.void]) -> p.Report:
    """The execution report of one command from its events (all with its seq)."""
    types = events["type"]
    rejected = types == ExchangeEventType.REJECTED
    if rejected.any():
        reason = int(events["reason"][np.argmax(rejected)])
        return p.Report(msg.request_id, seq, 1, reason, 0, 0, 0, 0, 0, 0, 0)
    oid = getattr(msg, "order_id", None)
    trades = events[types == ExchangeEventType.TRADE]
    filled = int(trades["qty"].sum()) if len(trades) else 0
    mine = trades[trades["order_id"] == oid] if oid is not None else trades[:0]
    fees = (
        int(mine["fee"].sum()) + int(trades[trades["other_order_id"] == oid]["other_fee"].sum()) if oid else 0
    )
    last = events[-1]
    remaining = hold = available = count = 0
    if isinstance(msg, (p.Place, p.Amend)):
        own = events[(events["order_id"] == oid) | (events["other_order_id"] == oid)]
        if len(own):
            e = own[-1]
            remaining = int(e["remaining"] if e["order_id"] == oid else e["other_remaining"])
            hold = int(e["hold"] if e["order_id"] == oid else e["other_hold"])
    elif isinstance(msg, (p.Deposit, p.Withdraw)):
        available = int(last["hold"])
    elif isinstance(msg, p.MassCancel):
        count = int(last["qty"])
    return p.Report(msg.request_id, seq, 0, 0, len(trades), filled, remaining, hold, fees, available, count)


def _answer_query(ex: Exchange, msg: p.Message) -> p.Message:
    if isinstance(msg, p.QueryBalance):
        if not (ex.has_user(msg.user) and ex.has_asset(msg.asset)):
            return p.BalanceReply(msg.request_id, 0, 0, 0, 0)
        b = ex.balance(msg.user, msg.asset)
        return p.BalanceReply(msg.request_id, 1, b.total, b.held, b.available)
    if isinstance(msg, p.QueryOrder):
        h = ex.order_hold(msg.order_id)
        if h is None or h.user != msg.user:
            # Another user's order reads as absent: a trader learns nothing of it.
            return p.OrderReply(msg.request_id, 0, 0, 0, 0, 0, 0)
        return p.OrderReply(msg.request_id, 1, h.symbol, h.asset, h.user, h.hold, h.remaining)
    raise TypeError(f"{type(msg).__name__} is not a query")


@dataclass(frozen=True, slots=True)
class BackendHealth:
    role: str  #: single (a local journal), primary, standby, fenced, starting, stopped
    ready: bool  #: takes commands: primary (or single), caught up, not fenced, no error
    applied_seq: int
    durable_seq: int
    lag_commands: int
    lag_seconds: float
    error: str


@dataclass(frozen=True, slots=True)
class Done:
    """What the writer thread hands back for one frame: the answer, the
    exchange kind name of a command (for counters) and its reject reason."""

    answer: p.Message
    kind: str
    seq: int
    engine_ns: int


class Backend(Protocol):
    def start(self, loop: asyncio.AbstractEventLoop) -> None: ...
    def submit(self, msg: p.Message) -> asyncio.Future[Done]: ...
    def health(self) -> BackendHealth: ...
    def stop(self) -> None: ...


class LocalBackend:
    """A journal on local disk and the exchange it recovers (module docstring)."""

    def __init__(
        self, path: str | Path, *, durability: str = "every_batch", batch: int = 1024, **capacities: int
    ) -> None:
        self._path = Path(path)
        self._durability = durability
        self._batch = batch
        self._capacities = capacities
        self._queue: queue.SimpleQueue[tuple[p.Message, asyncio.Future[Done]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._journal: Any = None
        self._error = ""

    @property
    def journal(self) -> Any:
        return self._journal

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._journal = Exchange.open(self._path, durability=self._durability, **self._capacities)
        self._thread = threading.Thread(target=self._main, name="gateway-writer", daemon=True)
        self._thread.start()

    def submit(self, msg: p.Message) -> asyncio.Future[Done]:
        assert self._loop is not None
        fut: asyncio.Future[Done] = self._loop.create_future()
        if self._error:
            fut.set_exception(RuntimeError(self._error))
        else:
            self._queue.put((msg, fut))
        return fut

    def health(self) -> BackendHealth:
        j = self._journal
        alive = self._thread is not None and self._thread.is_alive()
        if j is None or j.closed:
            return BackendHealth("stopped", False, 0, 0, 0, 0.0, self._error)
        failed = bool(j.failed) or bool(self._error)
        return BackendHealth(
            "single", alive and not failed, j.last_seq, j.durable_seq, 0, 0.0, self._error or ""
        )

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._journal is not None and not self._journal.closed:
            self._journal.close()

    # --- the writer thread ----------------------------------------------------
    def _main(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items = [first]
            while len(items) < self._batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                items.append(nxt)
            try:
                results = self._run(items)
            except Exception as e:  # the journal failed: nothing more is acknowledged
                self._error = f"{type(e).__name__}: {e}"
                results = [(fut, RuntimeError(self._error)) for _m, fut in items]
                self._deliver(results)
                break
            self._deliver(results)
        # Anything still queued is refused, never silently dropped.
        leftover: list[tuple[asyncio.Future[Done], Done | BaseException]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftover.append((item[1], RuntimeError("the gateway is stopping")))
        if leftover:
            self._deliver(leftover)

    def _deliver(self, results: list[tuple[asyncio.Future[Done], Done | BaseException]]) -> None:
        assert self._loop is not None
        # A closed loop (RuntimeError) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_resolve, results)

    def _run(
        self, items: list[tuple[p.Message, asyncio.Future[Done]]]
    ) -> list[tuple[asyncio.Future[Done], Done | BaseException]]:
        out: list[tuple[asyncio.Future[Done], Done | BaseException]] = []
        i = 0
        j = self._journal
        while i < len(items):
            if items[i][0].KIND in p.QUERIES:
                msg, fut = items[i]
                out.append((fut, Done(_answer_query(j.machine, msg), msg.KIND.name.lower(), 0, 0)))
                i += 1
                continue
            run: list[tuple[p.Message, asyncio.Future[Done]]] = []
            blobs: list[bytes] = []
            while i < len(items) and items[i][0].KIND not in p.QUERIES:
                msg, fut = items[i]
                try:
                    blobs.append(command_bytes(msg))
                except (struct.error, OverflowError, ValueError, TypeError) as e:
                    out.append((fut, ValueError(f"field out of range: {e}")))
                    i += 1
                    continue
                run.append(items[i])
                i += 1
            if not run:
                continue
            recs = np.frombuffer(bytearray(b"".join(blobs)), dtype=EXCHANGE_COMMAND_DTYPE)
            t0 = time.perf_counter_ns()
            events = j.process(recs)
            engine_ns = time.perf_counter_ns() - t0
            last = int(events["seq"][-1])
            j.wait_durable(last)
            first_seq = last - len(run) + 1
            rows = events.tolist()
            per = engine_ns // len(run)
            k = 0
            for idx, (msg, fut) in enumerate(run):
                seq = first_seq + idx
                start = k
                # Events are contiguous per command and carry its seq (the contract).
                while k < len(rows) and rows[k][0] == seq:
                    k += 1
                report = report_from_rows(msg, seq, rows[start:k])
                out.append((fut, Done(report, msg.KIND.name.lower(), seq, per)))
        return out


def _resolve(results: list[tuple[asyncio.Future[Done], Done | BaseException]]) -> None:
    for fut, res in results:
        if fut.done():
            continue
        if isinstance(res, BaseException):
            fut.set_exception(res)
        else:
            fut.set_result(res)
