"""Regression tests for the matching engine's defects (issue "One state-machine
contract"). Each failed before its fix: signed overflow in aggregates, FOK vs
IOC disagreement at the int64 limit, the ladder key overflow on
level_orders(-2**63), depth sized by the request, a stray order id 2**64-1
shutting out every later id, np.concatenate's packed dtype refused by
process(), and tiny-display icebergs emitting a trade per slice without
bound."""

from __future__ import annotations

import numpy as np
import pytest

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    CancelReason,
    CommandKind,
    MatchingEngine,
    OrderState,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
INT64_MAX = 2**63 - 1


def engine(**kw: int) -> MatchingEngine:
    e = MatchingEngine(**kw)
    assert e.add_symbol(1).accepted  # max_qty defaults to 2**63-1
    return e


# ---- aggregates never wrap --------------------------------------------------------------------
def test_a_level_total_that_would_overflow_is_rejected() -> None:
    """Was: two resting buys of 2**62 at price 1 showed a best bid quantity of -2**63."""
    e = engine()
    assert e.submit(1, 1, BUY, 1, 2**62).status == OrderState.RESTING
    r = e.submit(2, 1, BUY, 1, 2**62)
    assert (r.status, r.reason) == (OrderState.REJECTED, RejectReason.QTY_OVERFLOW)
    assert e.best_bid(1) == (1, 2**62)
    # Up to the limit is fine, at any price of the side.
    assert e.submit(3, 1, BUY, 1, 2**62 - 1).status == OrderState.RESTING
    assert e.best_bid(1) == (1, INT64_MAX)
    assert e.submit(4, 1, BUY, 2, 1).reason == RejectReason.QTY_OVERFLOW
    prices, qtys, counts = e.depth(1, BUY)
    assert (prices.tolist(), qtys.tolist(), counts.tolist()) == ([1], [INT64_MAX], [2])
    # An IOC never rests, so the side's total does not limit it.
    assert e.submit(5, 1, BUY, 1, 5, tif=TimeInForce.IOC).status == OrderState.CANCELLED
    # The other side has its own room.
    assert e.submit(6, 1, SELL, 2, 2**62 - 1).status == OrderState.RESTING


def test_hidden_reserves_count_toward_the_limit() -> None:
    """A level's shown total can grow by refills, so the rule bounds shown +
    hidden: an iceberg's whole open quantity counts."""
    e = engine()
    assert e.submit(1, 1, SELL, 1, 2**62, display_qty=2**47).status == OrderState.RESTING
    assert e.best_ask(1) == (1, 2**47)
    assert e.submit(2, 1, SELL, 1, 2**62).reason == RejectReason.QTY_OVERFLOW
    assert e.submit(2, 1, SELL, 1, 2**62 - 1).status == OrderState.RESTING
    assert e.best_ask(1) == (1, 2**47 + 2**62 - 1)


def test_amends_that_would_overflow_are_rejected() -> None:
    e = engine()
    e.submit(1, 1, BUY, 1, 2**62)
    e.submit(2, 1, BUY, 1, 2**61)
    before = e.snapshot()
    assert e.amend(2, qty=2**62).reason == RejectReason.QTY_OVERFLOW
    assert e.snapshot()[37:-8] == before[37:-8]  # only next_seq (and the checksum) moved
    assert e.amend(1, qty=2**62 + 2**61).reason == RejectReason.QTY_OVERFLOW  # 2**63 in all
    assert e.amend(1, qty=2**62 + 2**61 - 1).status == OrderState.RESTING  # 2**63-1: fits
    assert e.best_bid(1) == (1, INT64_MAX)
    assert e.level_orders(1, BUY, 1) == [2, 1]  # the increase lost priority


def test_fok_agrees_with_ioc_at_the_int64_limit() -> None:
    """Was: a FOK buy of 2**63-1 against two asks of 2**62 was cancelled while
    the same IOC order filled (the FOK sum wrapped)."""
    for asks in ([2**62, 2**62 - 1], [2**62 - 1, 2**62 - 1, 1], [INT64_MAX], [2**62, 2**61]):
        a, b = engine(), engine()
        for e in (a, b):
            for i, q in enumerate(asks):
                assert e.submit(10 + i, 1, SELL, 1, q).status == OrderState.RESTING, asks
        fok = a.submit(1, 1, BUY, None, INT64_MAX, order_type=OrderType.MARKET, tif=TimeInForce.FOK)
        ioc = b.submit(1, 1, BUY, None, INT64_MAX, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        assert (fok.filled == INT64_MAX) == (ioc.filled == INT64_MAX), asks
        if ioc.filled == INT64_MAX:
            assert fok.status == OrderState.FILLED
        else:
            assert (fok.reason, fok.filled) == (CancelReason.FOK_NOT_FILLABLE, 0)
    # The book (two asks of 2**62) cannot be built any more: the second
    # ask would take its side past 2**63-1.
    e = engine()
    e.submit(1, 1, SELL, 1, 2**62)
    assert e.submit(2, 1, SELL, 1, 2**62).reason == RejectReason.QTY_OVERFLOW


def test_a_triggered_stop_limit_that_cannot_fit_is_cancelled() -> None:
    e = engine()
    e.submit(1, 1, BUY, 1, INT64_MAX)  # the bid side is full
    e.submit(2, 1, SELL, 5, 1)
    r = e.submit(3, 1, BUY, 4, 1, order_type=OrderType.STOP_LIMIT, stop_price=5)
    assert r.status == OrderState.PENDING_STOP
    e.submit(4, 1, BUY, 5, 1, tif=TimeInForce.IOC)  # trades at 5: the stop triggers, cannot rest
    assert e.order(3).state == OrderState.CANCELLED
    events = e.last_events()
    cancelled = events[(events["order_id"] == 3) & (events["type"] == 4)]
    assert cancelled["reason"].tolist() == [CancelReason.QTY_OVERFLOW]


# ---- icebergs -------------------------------------------------------------------------------------
def test_an_iceberg_has_a_bounded_number_of_slices() -> None:
    """Was: an iceberg of 2**62 lots showing 1 made one large taker emit 2**62
    trades (memory exhausted); now it may need at most 65,536 slices."""
    e = engine()
    assert e.submit(1, 1, SELL, 1, 2**62, display_qty=1).reason == RejectReason.TOO_MANY_SLICES
    assert e.submit(1, 1, SELL, 1, 65_536, display_qty=1).status == OrderState.RESTING
    assert e.submit(2, 1, SELL, 1, 65_537, display_qty=1).reason == RejectReason.TOO_MANY_SLICES
    assert e.amend(1, qty=65_537).reason == RejectReason.TOO_MANY_SLICES
    r = e.submit(3, 1, BUY, 1, 65_536)
    assert (r.filled, len(r.trades)) == (65_536, 65_536)


# ---- queries ----------------------------------------------------------------------------------------
def test_level_orders_at_any_int64_price() -> None:
    """Was: level_orders(symbol, side, -2**63) negated the price in the ladder
    key (signed overflow, UBSan)."""
    e = engine()
    e.submit(1, 1, SELL, 5, 1)
    e.submit(2, 1, BUY, 4, 1)
    for side in (BUY, SELL):
        for price in (-(2**63), -1, 0, INT64_MAX, 2**62):
            assert e.level_orders(1, side, price) == []
    assert e.level_orders(1, SELL, 5) == [1]


def test_depth_is_sized_by_the_book_not_the_request() -> None:
    """Was: levels=2**31 raised MemoryError, 2**62 RuntimeError, and 2**24 on
    an empty book took 0.35 s and ~400 MB."""
    e = engine()
    for i in range(1, 6):
        e.submit(i, 1, BUY, 100 - i, i)
    want = [99, 98, 97, 96, 95]
    for levels in (5, 6, 2**24, 2**31, 2**62, INT64_MAX, None):
        assert e.depth(1, BUY, levels)[0].tolist() == want, levels
    assert e.depth(1, BUY, 2)[0].tolist() == [99, 98]
    assert e.depth(1, BUY, 0)[0].size == 0
    assert e.depth(1, SELL, INT64_MAX)[0].size == 0
    assert e.depth(999, BUY, INT64_MAX)[0].size == 0


# ---- ids -----------------------------------------------------------------------------------------------
def test_ids_above_2_63_are_refused_up_front() -> None:
    """Was: one stray id of 2**64-1 (a client's -1 cast to u64) became the
    window's floor once evicted, and every later id was ID_OUTSIDE_WINDOW."""
    e = engine(id_history=2)
    for oid in (2**64 - 1, 2**63):
        assert e.submit(oid, 1, BUY, 5, 1).reason == RejectReason.INVALID_ORDER_ID
        assert e.cancel(oid).reason == RejectReason.INVALID_ORDER_ID
        assert e.amend(oid, qty=2).reason == RejectReason.INVALID_ORDER_ID
    for i in range(1, 6):
        assert e.submit(i, 1, BUY, 5, 1).accepted
        e.cancel(i)
    assert e.evicted_max == 3
    assert e.submit(100, 1, BUY, 5, 1).status == OrderState.RESTING
    assert e.submit(2**63 - 1, 1, BUY, 5, 1).status == OrderState.RESTING
    # A batch obeys the same rule.
    cmds = np.zeros(1, BOOK_COMMAND_DTYPE)
    cmds["kind"], cmds["order_id"], cmds["symbol"], cmds["side"] = CommandKind.SUBMIT, 2**64 - 1, 1, BUY
    cmds["order_type"], cmds["tif"], cmds["price"], cmds["qty"] = 1, 1, 5, 1
    assert e.process(cmds)["reason"].tolist() == [RejectReason.INVALID_ORDER_ID]


# ---- batches of other record arrays ------------------------------------------------------------
def test_process_accepts_a_concatenated_array() -> None:
    """Was: np.concatenate of two COMMAND_DTYPE arrays gave a packed dtype that
    process() refused with TypeError."""
    e = engine()
    a = np.zeros(2, BOOK_COMMAND_DTYPE)
    a["kind"] = CommandKind.SUBMIT
    a["order_id"] = [1, 2]
    a["symbol"], a["side"], a["order_type"], a["tif"], a["price"], a["qty"] = 1, BUY, 1, 1, 10, 1
    b = a.copy()
    b["order_id"] = [3, 4]
    joined = np.concatenate([a, b])
    assert joined.dtype != BOOK_COMMAND_DTYPE
    f = engine()
    assert e.process(joined).tobytes() == f.process(a).tobytes() + f.process(b).tobytes()
    # A dtype whose fields do not match is refused with the reason.
    with pytest.raises(TypeError, match="unknown \\['extra'\\]"):
        e.process(np.zeros(1, dtype=[*joined.dtype.descr, ("extra", "u1")]))
    narrow = [(n, "<i4" if n == "price" else t) for n, t in joined.dtype.descr]
    with pytest.raises(TypeError, match="'price' is int32"):
        e.process(np.zeros(1, dtype=narrow))
    # In a packed array the spec views are separate fields: they must agree.
    bad = joined.copy()
    bad["tick_size"][1] = 5
    with pytest.raises(ValueError, match=r"commands\[1\]: tick_size \(5\) and price \(10\)"):
        e.process(bad)
