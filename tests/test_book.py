"""Behaviour of the matching engine's Python API: dtypes, reports, queries,
every order type and time in force by example, and bad input of every kind."""

from __future__ import annotations

import pickle
import sys
import threading
import time

import numpy as np
import pytest

import shanraq_core
from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    CancelReason,
    CommandKind,
    EventType,
    MatchingEngine,
    OrderState,
    OrderType,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from shanraq_core._core import book as core_book

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def eng() -> MatchingEngine:
    e = MatchingEngine(max_orders=1000, max_levels=100, market_data=True)
    e.add_symbol(1)
    e.add_symbol(2, tick_size=5, lot_size=10, min_price=5, max_price=10_000, max_qty=1_000)
    return e


def test_dtypes_are_built_from_the_cpp_tables() -> None:
    command, event = core_book.layouts()
    for dtype, (_name, fields, size) in ((BOOK_COMMAND_DTYPE, command), (BOOK_EVENT_DTYPE, event)):
        assert dtype.itemsize == size
        assert dtype.names == tuple(f[0] for f in fields)
        assert dtype.fields is not None
        for name, offset, width, fmt, _alias in fields:
            assert dtype.fields[name][1] == offset, name
            assert dtype.fields[name][0] == np.dtype(fmt), name
            assert dtype.fields[name][0].itemsize == width, name
    assert (BOOK_COMMAND_DTYPE.itemsize, BOOK_EVENT_DTYPE.itemsize) == (88, 96)
    # The contract's header at fixed offsets.
    for dtype, kind in ((BOOK_COMMAND_DTYPE, "kind"), (BOOK_EVENT_DTYPE, "type")):
        assert dtype.fields is not None
        assert [dtype.fields[f][1] for f in ("seq", "time_ns", kind)] == [0, 8, 16]
    # The symbol spec views the order fields, in commands and events alike.
    for dtype in (BOOK_COMMAND_DTYPE, BOOK_EVENT_DTYPE):
        assert dtype.fields is not None
        offsets = [dtype.fields[f][1] for f in ("tick_size", "lot_size", "min_price", "max_price", "max_qty")]
        assert offsets == [48, 56, 64, 72, 80]
    assert MatchingEngine.COMMAND_DTYPE is BOOK_COMMAND_DTYPE
    assert MatchingEngine.EVENT_DTYPE is BOOK_EVENT_DTYPE


def test_spec_fields_alias_the_order_fields() -> None:
    cmd = np.zeros(1, BOOK_COMMAND_DTYPE)
    cmd["tick_size"] = 5
    cmd["max_qty"] = 77
    assert int(cmd["price"][0]) == 5
    assert int(cmd["expire_ns"][0]) == 77


def test_enums_match_the_cpp_tables() -> None:
    from enum import IntEnum

    from shanraq_core._layout import check_enum

    exported = core_book.enums()
    for cls, table in zip(
        (
            CommandKind, Side, OrderType, TimeInForce, SelfTradePrevention, EventType, RejectReason,
            CancelReason, OrderState,
        ),
        exported,
        strict=True,
    ):  # fmt: skip
        check_enum(cls, table)
        assert {m.name: int(m) for m in cls} == dict(table[1])

    class Wrong(IntEnum):
        BUY = 1
        SELL = 3

    with pytest.raises(ImportError, match="Side"):
        check_enum(Wrong, exported[1])


def test_public_names_are_exported() -> None:
    names = ["MatchingEngine", "Side", "OrderType", "TimeInForce", "SelfTradePrevention", "RejectReason"]
    names += ["CancelReason", "EventType", "BOOK_COMMAND_DTYPE", "BOOK_EVENT_DTYPE", "Report", "Trade"]
    names += ["OrderInfo", "SymbolInfo"]
    for name in names:
        assert name in shanraq_core.__all__
        assert hasattr(shanraq_core, name)
    # Dtypes are named for their module: no bare COMMAND_DTYPE at the top level.
    assert not hasattr(shanraq_core, "COMMAND_DTYPE")
    assert not hasattr(shanraq_core, "EVENT_DTYPE")


def test_limit_orders_rest_match_and_report(eng: MatchingEngine) -> None:
    r = eng.submit(1, 1, SELL, 100, 5, account=7)
    assert r.status == OrderState.RESTING
    assert r.reason is None
    assert (r.filled, r.remaining, r.trades) == (0, 5, ())
    eng.submit(2, 1, SELL, 101, 5, account=7)
    assert eng.best_ask(1) == (100, 5)
    assert eng.best_bid(1) is None
    r = eng.submit(3, 1, BUY, 101, 7, account=8)
    assert r.status == OrderState.RESTING or r.status == OrderState.FILLED
    assert r.filled == 7
    assert r.remaining == 0
    assert r.status == OrderState.FILLED
    assert [(t.price, t.qty, t.maker_order_id, t.taker_order_id) for t in r.trades] == [
        (100, 5, 1, 3),
        (101, 2, 2, 3),
    ]
    t = r.trades[0]
    assert (t.aggressor, t.taker_account, t.maker_account, t.symbol) == (BUY, 8, 7, 1)
    assert eng.best_ask(1) == (101, 3)
    assert eng.last_trade_price(1) == 101
    info = eng.order(2)
    assert (info.state, info.filled, info.remaining, info.qty, info.price) == (
        OrderState.RESTING,
        2,
        3,
        5,
        101,
    )
    assert eng.order(1).state == OrderState.FILLED
    assert eng.order(999).state == OrderState.UNKNOWN
    assert "Report(" in repr(r)
    assert "Trade(" in repr(t)


def test_depth_and_level_orders(eng: MatchingEngine) -> None:
    for i, (p, q) in enumerate([(99, 1), (98, 2), (99, 3), (97, 4)], start=1):
        eng.submit(i, 1, BUY, p, q)
    prices, qtys, counts = eng.depth(1, BUY, 2)
    assert prices.tolist() == [99, 98]
    assert qtys.tolist() == [4, 2]
    assert counts.tolist() == [2, 1]
    assert prices.dtype == np.int64
    assert eng.depth(1, SELL)[0].size == 0
    assert eng.depth(42, BUY)[0].size == 0
    assert eng.level_orders(1, BUY, 99) == [1, 3]
    assert eng.level_orders(1, BUY, 50) == []
    assert eng.bbo(1) == ((99, 4), None)


def test_market_ioc_fok(eng: MatchingEngine) -> None:
    eng.submit(1, 1, SELL, 100, 3)
    r = eng.submit(2, 1, BUY, None, 5, order_type=OrderType.MARKET)
    assert (r.status, r.reason, r.filled, r.remaining) == (
        OrderState.CANCELLED,
        CancelReason.IOC_REMAINDER,
        3,
        0,
    )
    eng.submit(3, 1, SELL, 100, 3)
    r = eng.submit(4, 1, BUY, 100, 4, tif=TimeInForce.FOK)
    assert (r.status, r.reason, r.filled) == (OrderState.CANCELLED, CancelReason.FOK_NOT_FILLABLE, 0)
    assert eng.best_ask(1) == (100, 3)
    r = eng.submit(5, 1, BUY, 100, 3, tif=TimeInForce.FOK)
    assert r.status == OrderState.FILLED
    r = eng.submit(6, 1, BUY, 100, 3, tif=TimeInForce.IOC)
    assert (r.status, r.reason) == (OrderState.CANCELLED, CancelReason.IOC_REMAINDER)
    # A market order may not rest: GTC is refused.
    r = eng.submit(7, 1, BUY, 0, 1, order_type=OrderType.MARKET, tif=TimeInForce.GTC)
    assert (r.status, r.reason) == (OrderState.REJECTED, RejectReason.UNSUPPORTED_COMBINATION)


def test_cancel_and_amend(eng: MatchingEngine) -> None:
    eng.submit(1, 1, BUY, 100, 5)
    eng.submit(2, 1, BUY, 100, 5)
    r = eng.amend(1, qty=3)
    assert (r.status, r.remaining) == (OrderState.RESTING, 3)
    assert eng.level_orders(1, BUY, 100) == [1, 2]  # a decrease keeps priority
    eng.amend(1, qty=6)
    assert eng.level_orders(1, BUY, 100) == [2, 1]  # an increase loses it
    eng.amend(2, price=99)
    assert eng.level_orders(1, BUY, 99) == [2]
    r = eng.cancel(1)
    assert (r.status, r.reason, r.remaining) == (OrderState.CANCELLED, CancelReason.USER, 0)
    r = eng.cancel(1)
    assert (r.status, r.reason) == (OrderState.REJECTED, RejectReason.UNKNOWN_ORDER)
    assert not r.accepted
    r = eng.amend(77, price=100)
    assert r.reason == RejectReason.UNKNOWN_ORDER
    # qty is the total including what has filled: 4 of 6 filled, so 4 is too low.
    eng.submit(20, 1, SELL, 99, 4)
    assert eng.order(2).filled == 4
    r = eng.amend(2, qty=4)
    assert (r.status, r.reason) == (OrderState.REJECTED, RejectReason.AMEND_BELOW_FILLED)
    r = eng.amend(2, qty=5)
    assert (r.status, r.remaining) == (OrderState.RESTING, 1)


def test_stops_icebergs_post_only_gtd(eng: MatchingEngine) -> None:
    r = eng.submit(1, 1, BUY, None, 2, order_type=OrderType.STOP, stop_price=101)
    assert r.status == OrderState.PENDING_STOP
    eng.submit(2, 1, SELL, 101, 2)
    eng.submit(3, 1, SELL, 102, 5)
    r = eng.submit(4, 1, BUY, 101, 1)  # trade at 101 triggers the stop, which buys 1 @101 and 1 @102
    assert r.filled == 1
    events = eng.last_events()
    assert EventType.TRIGGERED in events["type"].tolist()
    assert eng.order(1).state == OrderState.FILLED
    # Iceberg: shows 2 of 10; a refill joins the back of the queue.
    eng.submit(10, 1, SELL, 105, 10, display_qty=2)
    eng.submit(11, 1, SELL, 105, 1)
    assert eng.best_ask(1) == (102, 4)
    eng.submit(12, 1, BUY, 102, 4)
    assert eng.best_ask(1) == (105, 3)
    eng.submit(13, 1, BUY, 105, 2)
    assert eng.level_orders(1, SELL, 105) == [11, 10]
    assert eng.order(10).remaining == 8
    assert eng.order(10).visible == 2
    # Post-only refuses to take.
    r = eng.submit(14, 1, BUY, 105, 1, post_only=True)
    assert r.reason == RejectReason.POST_ONLY_WOULD_TAKE
    assert eng.submit(15, 1, BUY, 104, 1, post_only=True).status == OrderState.RESTING
    # GTD expires when the clock reaches expire_ns, never before.
    eng.submit(16, 1, BUY, 90, 1, tif=TimeInForce.GTD, expire_ns=1_000, time_ns=10)
    assert eng.advance_time(999).filled == 0
    assert eng.order(16).state == OrderState.RESTING
    eng.advance_time(1_000)
    ev = eng.last_events()
    assert ev["order_id"].tolist()[0] == 16
    assert ev["reason"].tolist()[0] == CancelReason.EXPIRED
    assert eng.now_ns == 1_000
    r = eng.submit(17, 1, BUY, 90, 1, tif=TimeInForce.GTD, expire_ns=500)
    assert r.reason == RejectReason.INVALID_EXPIRE_TIME


def test_self_trade_prevention(eng: MatchingEngine) -> None:
    eng.submit(1, 1, SELL, 100, 5, account=9)
    r = eng.submit(2, 1, BUY, 100, 3, account=9, stp=SelfTradePrevention.DECREMENT_BOTH)
    assert (r.status, r.reason, r.filled) == (OrderState.CANCELLED, CancelReason.SELF_TRADE, 0)
    assert eng.order(1).remaining == 2
    r = eng.submit(3, 1, BUY, 100, 3, account=9, stp=SelfTradePrevention.CANCEL_OLDEST)
    assert r.status == OrderState.RESTING
    assert eng.order(1).state == OrderState.CANCELLED
    # Without STP an account may trade with itself.
    eng.submit(4, 1, SELL, 100, 3, account=9)
    assert eng.order(3).state == OrderState.FILLED


def test_mass_cancel(eng: MatchingEngine) -> None:
    eng.submit(1, 1, BUY, 100, 1, account=1)
    eng.submit(2, 1, BUY, 99, 1, account=2)
    eng.submit(3, 2, BUY, 100, 10, account=1)
    r = eng.mass_cancel(account=1, symbol=1)
    assert r.count == 1
    r = eng.mass_cancel(account=1)
    assert r.count == 1
    r = eng.mass_cancel(symbol=1)
    assert r.count == 1
    assert eng.live_orders == 0
    with pytest.raises(ValueError, match="needs account"):
        eng.mass_cancel()
    assert eng.mass_cancel(symbol=99).reason == RejectReason.UNKNOWN_SYMBOL


def test_business_rejects_change_nothing(eng: MatchingEngine) -> None:
    eng.submit(1, 1, BUY, 100, 1)
    before = eng.snapshot()
    cases = [
        ((0, 1, BUY, 100, 1), {}, RejectReason.INVALID_ORDER_ID),
        ((1, 1, BUY, 100, 1), {}, RejectReason.DUPLICATE_ORDER_ID),
        ((5, 3, BUY, 100, 1), {}, RejectReason.UNKNOWN_SYMBOL),
        ((5, 1, BUY, 100, 0), {}, RejectReason.INVALID_QTY),
        ((5, 1, BUY, -3, 1), {}, RejectReason.INVALID_PRICE),
        ((5, 2, BUY, 101, 10), {}, RejectReason.PRICE_OFF_TICK),
        ((5, 2, BUY, 100, 15), {}, RejectReason.QTY_OFF_LOT),
        ((5, 2, BUY, 100_000, 10), {}, RejectReason.PRICE_OUT_OF_BAND),
        ((5, 2, BUY, 100, 10_000), {}, RejectReason.INVALID_QTY),
        ((5, 1, BUY, 2**62, 4), {}, RejectReason.NOTIONAL_OVERFLOW),
        ((5, 1, BUY, 100, 1), {"stop_price": 5}, RejectReason.INVALID_STOP_PRICE),
        ((5, 1, BUY, 100, 1), {"display_qty": -1}, RejectReason.INVALID_DISPLAY_QTY),
        ((5, 1, BUY, 100, 1), {"expire_ns": 5}, RejectReason.INVALID_EXPIRE_TIME),
        (
            (5, 1, BUY, 100, 1),
            {"tif": TimeInForce.IOC, "post_only": True},
            RejectReason.UNSUPPORTED_COMBINATION,
        ),
        ((5, 1, BUY, 100, 1), {"time_ns": -1}, RejectReason.INVALID_TIME),
    ]
    for args, kw, reason in cases:
        r = eng.submit(*args, **kw)
        assert (r.status, r.reason) == (OrderState.REJECTED, reason), (args, kw)
        ev = eng.last_events()
        assert len(ev) == 1
        assert ev[0]["type"] == EventType.REJECTED
    assert eng.amend(1, qty=-5).reason == RejectReason.INVALID_QTY
    assert eng.amend(1, price=2**62, qty=4).reason == RejectReason.NOTIONAL_OVERFLOW
    assert eng.amend(1, stop_price=100).reason == RejectReason.INVALID_STOP_PRICE
    assert eng.cancel(0).reason == RejectReason.INVALID_ORDER_ID
    # Only the sequence counter moved: the book is as it was.
    after = MatchingEngine.restore(eng.snapshot())
    assert after.best_bid(1) == MatchingEngine.restore(before).best_bid(1)
    assert after.live_orders == 1


def test_programmer_errors_raise(eng: MatchingEngine) -> None:
    with pytest.raises(TypeError, match="order_id must be an integer"):
        eng.submit("1", 1, BUY, 100, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="price must be an integer"):
        eng.submit(1, 1, BUY, 100.5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order_id"):
        eng.submit(-1, 1, BUY, 100, 1)
    with pytest.raises(ValueError, match="order_id"):
        eng.submit(2**64, 1, BUY, 100, 1)
    with pytest.raises(ValueError, match="symbol"):
        eng.submit(1, 2**32, BUY, 100, 1)
    with pytest.raises(ValueError, match="side"):
        eng.submit(1, 1, 3, 100, 1)
    with pytest.raises(ValueError, match="tif"):
        eng.submit(1, 1, BUY, 100, 1, tif=9)
    with pytest.raises(ValueError, match="stp"):
        eng.submit(1, 1, BUY, 100, 1, stp=5)
    with pytest.raises(ValueError, match="order_type"):
        eng.submit(1, 1, BUY, 100, 1, order_type=0)
    with pytest.raises(ValueError, match="qty"):
        eng.submit(1, 1, BUY, 100, 2**63)
    with pytest.raises(ValueError, match="pass None"):
        eng.amend(1, price=0)
    with pytest.raises(ValueError, match="max_orders"):
        MatchingEngine(max_orders=0)
    with pytest.raises(ValueError, match="max_levels"):
        MatchingEngine(max_levels=2**31)
    with pytest.raises(TypeError):
        MatchingEngine(max_orders=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="market_data"):
        MatchingEngine(market_data=1)  # type: ignore[arg-type]
    # Nothing was applied: the fixture's two symbols took seqs 1 and 2.
    assert eng.live_orders == 0
    assert eng.next_seq == 3


def test_capacity_rejects() -> None:
    e = MatchingEngine(max_orders=2, max_levels=2, id_history=0)
    e.add_symbol(1)
    e.submit(1, 1, BUY, 100, 1)
    e.submit(2, 1, BUY, 99, 1)
    assert e.submit(3, 1, BUY, 98, 1).reason == RejectReason.ORDER_CAPACITY
    e.cancel(2)
    assert e.submit(3, 1, BUY, 98, 1).status == OrderState.RESTING
    e.cancel(3)
    e.submit(4, 1, SELL, 200, 1)
    e.cancel(1)
    e.submit(5, 1, BUY, 100, 1)
    assert e.submit(6, 1, BUY, 101, 1).reason == RejectReason.ORDER_CAPACITY
    e.cancel(5)
    e.submit(6, 1, BUY, 100, 1)
    assert e.level_count == 2
    # With id_history=0 no finished id is remembered, so every id at or below
    # the highest finished one is refused (before capacity); higher ids are fine.
    assert e.evicted_max == 5
    assert e.submit(1, 1, BUY, 100, 1).reason == RejectReason.ID_OUTSIDE_WINDOW
    assert e.submit(7, 1, BUY, 100, 1).reason == RejectReason.ORDER_CAPACITY
    e.cancel(6)
    assert e.submit(1, 1, BUY, 100, 1).reason == RejectReason.ID_OUTSIDE_WINDOW
    assert e.submit(7, 1, BUY, 100, 1).status == OrderState.RESTING
    # Levels: two prices in use, a third is refused even with order slots free.
    f = MatchingEngine(max_orders=10, max_levels=2)
    f.add_symbol(1)
    f.submit(1, 1, BUY, 100, 1)
    f.submit(2, 1, SELL, 110, 1)
    assert f.submit(3, 1, BUY, 101, 1).reason == RejectReason.LEVEL_CAPACITY
    assert f.submit(3, 1, BUY, 100, 1).status == OrderState.RESTING
    # An order that cannot rest needs no level.
    assert f.submit(4, 1, BUY, 101, 1, tif=TimeInForce.IOC).status == OrderState.CANCELLED
    assert f.amend(3, price=105).reason == RejectReason.LEVEL_CAPACITY


def test_process_validates_the_array(eng: MatchingEngine) -> None:
    with pytest.raises(TypeError, match="BOOK_COMMAND_DTYPE"):
        eng.process(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="BOOK_COMMAND_DTYPE"):
        eng.process([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing"):
        eng.process(np.zeros(2, dtype=[("kind", "u1")]))
    with pytest.raises(ValueError, match="one-dimensional"):
        eng.process(np.zeros((2, 2), dtype=BOOK_COMMAND_DTYPE))
    out = eng.process(np.zeros(0, dtype=BOOK_COMMAND_DTYPE))
    assert out.dtype == BOOK_EVENT_DTYPE
    assert out.size == 0
    # Every bad record becomes a reject event; nothing raises mid-batch.
    cmds = np.zeros(4, dtype=BOOK_COMMAND_DTYPE)
    cmds["kind"] = [0, CommandKind.SUBMIT, CommandKind.SUBMIT, 200]
    cmds["order_id"] = [1, 2, 3, 4]
    cmds["symbol"] = 1
    cmds["side"] = [1, 1, 9, 1]
    cmds["order_type"] = 1
    cmds["tif"] = 1
    cmds["price"] = 100
    cmds["qty"] = 1
    ev = eng.process(cmds)
    assert ev["type"].tolist() == [
        EventType.REJECTED,
        EventType.ACCEPTED,
        EventType.MD_ADD,
        EventType.REJECTED,
        EventType.REJECTED,
    ]
    assert ev["reason"].tolist()[3:] == [RejectReason.INVALID_SIDE, RejectReason.INVALID_COMMAND]
    assert ev["seq"].tolist() == [3, 4, 4, 5, 6]
    # A strided view is accepted (copied to contiguous first).
    both = np.zeros(4, dtype=BOOK_COMMAND_DTYPE)
    both["kind"] = CommandKind.ADVANCE_TIME
    both["time_ns"] = [5, 6, 7, 8]
    assert eng.process(both[::2])["type"].tolist() == [EventType.TIME_ADVANCED] * 2
    assert eng.now_ns == 7


def test_process_releases_the_gil() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    n = 300_000
    cmds = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    cmds["kind"] = CommandKind.SUBMIT
    cmds["order_id"] = np.arange(1, n + 1)
    cmds["symbol"] = 1
    cmds["side"] = np.where(np.arange(n) % 2 == 0, 1, 2)
    cmds["order_type"] = 1
    cmds["tif"] = TimeInForce.IOC
    cmds["price"] = 100
    cmds["qty"] = 1
    # With a 10 s switch interval the spinner can only get the GIL inside the
    # window if process() releases it; otherwise the main thread keeps it.
    ticks = 0
    in_window = False
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            if in_window:
                ticks += 1
            time.sleep(0)  # hands the GIL back at once, so only process() can starve us

    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    t = threading.Thread(target=spin)
    try:
        t.start()
        in_window = True
        ev = e.process(cmds)
        in_window = False
    finally:
        done.set()
        sys.setswitchinterval(old)
        t.join()
    assert ev.size == 2 * n
    assert ticks > 0


def test_a_second_thread_is_refused_while_process_runs() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    n = 1_000_000
    cmds = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    cmds["kind"] = CommandKind.SUBMIT
    cmds["order_id"] = np.arange(1, n + 1)
    cmds["symbol"] = 1
    cmds["side"] = np.where(np.arange(n) % 2 == 0, 1, 2)
    cmds["order_type"] = 1
    cmds["tif"] = TimeInForce.IOC
    cmds["price"] = 100
    cmds["qty"] = 1
    refused: list[str] = []
    worker = threading.Thread(target=e.process, args=(cmds,))
    worker.start()
    while worker.is_alive() and not refused:
        for call in (lambda: e.best_bid(1), lambda: e.submit(n + 1, 1, BUY, 100, 1), lambda: e.snapshot()):
            try:
                call()
            except RuntimeError as exc:
                refused.append(str(exc))
    worker.join()
    assert refused
    assert "in use by another thread" in refused[0]
    # Afterwards the engine is usable again and nothing was lost.
    assert e.next_seq == n + 2
    assert e.submit(n + 2, 1, BUY, 100, 1).status == OrderState.RESTING


def test_snapshot_restore_and_pickle(eng: MatchingEngine) -> None:
    eng.submit(1, 1, BUY, 100, 5, display_qty=2, account=3)
    eng.submit(2, 1, SELL, None, 5, order_type=OrderType.STOP, stop_price=90)
    eng.submit(3, 1, SELL, 101, 5, tif=TimeInForce.GTD, expire_ns=50)
    snap = eng.snapshot()
    r = MatchingEngine.restore(snap)
    assert isinstance(r, MatchingEngine)
    assert r.snapshot() == snap
    assert r.state_hash() == eng.state_hash()
    assert r.market_data
    assert r.max_orders == 1000
    assert r.max_levels == 100
    assert r.order(1).visible == 2
    assert r.order(1).remaining == 5
    p = pickle.loads(pickle.dumps(eng))
    assert p.state_hash() == eng.state_hash()
    # The state after restore behaves the same.
    a, b = eng.advance_time(60), r.advance_time(60)
    assert eng.last_events().tobytes() == r.last_events().tobytes()
    assert a.count == b.count
    eng.submit(9, 1, BUY, 100, 1)
    assert eng.state_hash() != r.state_hash()
    for bad in (b"", b"junk", snap[:-1], snap[:40] + bytes([snap[40] ^ 1]) + snap[41:]):
        with pytest.raises(ValueError, match="restore"):
            MatchingEngine.restore(bad)
    with pytest.raises(TypeError):
        MatchingEngine.restore("text")  # type: ignore[arg-type]


def test_repr(eng: MatchingEngine) -> None:
    assert repr(eng).startswith("MatchingEngine(symbols=2")


def test_reports_stay_as_they_were_when_held() -> None:
    """The engine recycles its last Report only when the caller dropped it: a
    report someone holds never changes under them."""
    e = MatchingEngine()
    e.add_symbol(1)
    e.submit(1, 1, SELL, 100, 5)
    kept = e.submit(2, 1, BUY, 100, 2)
    assert (kept.order_id, kept.filled, len(kept.trades)) == (2, 2, 1)
    for oid in range(3, 20):
        e.submit(oid, 1, BUY, 90, 1)
    assert (kept.order_id, kept.filled, kept.status) == (2, 2, OrderState.FILLED)
    assert kept.trades[0].maker_order_id == 1
    trades = e.submit(20, 1, BUY, 100, 3).trades  # the report itself is dropped
    e.submit(21, 1, BUY, 80, 1)
    assert [(t.price, t.qty, t.taker_order_id) for t in trades] == [(100, 3, 20)]
    # Several trades in one report, decoded on first access.
    for oid in range(30, 35):
        e.submit(oid, 1, SELL, 110, 1)
    r = e.submit(40, 1, BUY, 110, 5)
    assert [t.maker_order_id for t in r.trades] == [30, 31, 32, 33, 34]
    assert r.trades is r.trades
