"""The matching engine as a machine of the state-machine contract: sequence
numbers, time, symbol commands (add, update, halt, resume) as commands with
events, replay of the sequenced stream, snapshot + replay, SequenceError, and
bad input for every new entry point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    CommandKind,
    EventType,
    MatchingEngine,
    OrderState,
    RejectReason,
    Side,
    TimeInForce,
)
from shanraq_core.errors import SequenceError

from .book_flows import SYMBOLS, commands, event_tuples, spec_command, to_array

BUY, SELL = Side.BUY, Side.SELL
INT64_MAX = 2**63 - 1

CONFIGS = st.sampled_from(
    [
        {"market_data": True},
        {"market_data": True, "max_orders": 6, "max_levels": 5, "id_history": 4, "max_symbols": 4},
    ]
)


def symbol_commands() -> list[dict[str, int]]:
    """The ADD_SYMBOL commands that make the flows' symbols: configuration is
    part of the sequenced stream."""
    return [
        spec_command(
            CommandKind.ADD_SYMBOL,
            sym,
            (spec["tick_size"], spec["lot_size"], spec["min_price"], spec["max_price"], spec["max_qty"]),
            0,
        )
        for sym, spec in SYMBOLS.items()
    ]


def stamped(cmds: np.ndarray[Any, np.dtype[np.void]], first: int = 1) -> np.ndarray[Any, np.dtype[np.void]]:
    """The stream as a sequencer would journal it: every command's seq set."""
    out = cmds.copy()
    out["seq"] = np.arange(first, first + len(out), dtype=np.uint64)
    return out


# ---- sequence numbers and time ---------------------------------------------------------------
def test_every_command_takes_one_seq_and_its_events_carry_it() -> None:
    e = MatchingEngine(market_data=True)
    assert e.next_seq == 1
    assert e.add_symbol(1).accepted
    assert e.next_seq == 2
    e.submit(1, 1, SELL, 100, 5)
    r = e.submit(2, 1, BUY, 100, 2)
    ev = e.last_events()
    assert set(ev["seq"].tolist()) == {3}
    assert r.trades[0].seq == 3
    rejected = e.cancel(99)
    assert not rejected.accepted
    assert e.last_events()["seq"].tolist() == [4]  # a reject takes a seq too
    assert e.next_seq == 5


def test_advance_time_ends_with_its_own_event() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    e.submit(1, 1, BUY, 100, 1, tif=TimeInForce.GTD, expire_ns=50)
    e.submit(2, 1, BUY, 99, 1, tif=TimeInForce.GTD, expire_ns=60)
    r = e.advance_time(10)
    ev = e.last_events()
    assert ev["type"].tolist() == [EventType.TIME_ADVANCED]
    assert (int(ev["time_ns"][0]), int(ev["qty"][0]), r.count) == (10, 0, 0)
    r = e.advance_time(70)
    ev = e.last_events()
    assert ev["type"].tolist() == [EventType.CANCELLED, EventType.CANCELLED, EventType.TIME_ADVANCED]
    assert r.count == 2
    assert int(ev["qty"][-1]) == 2
    # The clock never goes back; an earlier time runs at the clock.
    e.advance_time(5)
    assert int(e.last_events()["time_ns"][0]) == 70
    assert e.now_ns == 70
    assert e.advance_time(-1).reason == RejectReason.INVALID_TIME


def test_a_misplaced_seq_raises_sequence_error_and_changes_nothing() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    e.submit(1, 1, BUY, 100, 1)
    before, nxt = e.snapshot(), e.next_seq
    cmds = np.zeros(3, BOOK_COMMAND_DTYPE)
    cmds["kind"] = CommandKind.ADVANCE_TIME
    cmds["time_ns"] = [5, 6, 7]
    for seqs in ([nxt, nxt + 2, 0], [nxt + 1, 0, 0], [0, 0, nxt], [nxt - 1, 0, 0]):
        cmds["seq"] = seqs
        with pytest.raises(SequenceError, match="seq"):
            e.process(cmds)
        assert e.snapshot() == before
    assert issubclass(SequenceError, ValueError)
    # In place, or 0 ("number it for me"), is accepted.
    cmds["seq"] = [nxt, 0, nxt + 2]
    assert e.process(cmds)["seq"].tolist() == [nxt, nxt + 1, nxt + 2]


@given(flow=commands(n_max=60), cfg=CONFIGS)
def test_replaying_the_sequenced_stream_gives_the_same_events_and_state(
    flow: list[dict[str, int]], cfg: dict[str, Any]
) -> None:
    stream = stamped(to_array(symbol_commands() + flow))
    first = MatchingEngine(**cfg)
    events = first.process(stream)
    # Events carry their command's seq; every command yields at least one.
    assert np.array_equal(np.unique(events["seq"]), stream["seq"])
    assert first.next_seq == len(stream) + 1
    replica = MatchingEngine(**cfg)
    assert replica.process(stream).tobytes() == events.tobytes()
    assert replica.state_hash() == first.state_hash()
    assert replica.snapshot() == first.snapshot()


@given(flow=commands(n_max=60), cut=st.integers(0, 70), cfg=CONFIGS)
def test_snapshot_at_any_point_then_replay_equals_straight_processing(
    flow: list[dict[str, int]], cut: int, cfg: dict[str, Any]
) -> None:
    stream = stamped(to_array(symbol_commands() + flow))
    cut = min(cut, len(stream))
    whole = MatchingEngine(**cfg)
    expected = whole.process(stream)
    head = MatchingEngine(**cfg)
    got_head = head.process(stream[:cut])
    restored = MatchingEngine.restore(head.snapshot())
    assert restored.next_seq == cut + 1
    got_tail = restored.process(stream[cut:])
    # (np.concatenate would give a packed dtype, alias fields stored twice: compare raw records.)
    assert got_head.tobytes() + got_tail.tobytes() == expected.tobytes()
    assert restored.state_hash() == whole.state_hash()
    # The stamped tail does not fit anywhere else: replaying it twice is refused.
    if cut < len(stream):
        with pytest.raises(SequenceError):
            restored.process(stream[cut:])


@given(
    flow=commands(n_max=40),
    cut=st.integers(0, 50),
    where=st.integers(0, 50),
    shift=st.sampled_from([-3, -1, 1, 2, 1000, -(2**40)]),
)
def test_any_misplaced_stamped_seq_raises_and_changes_nothing(
    flow: list[dict[str, int]], cut: int, where: int, shift: int
) -> None:
    stream = stamped(to_array(symbol_commands() + flow))
    cut = min(cut, len(stream))
    e = MatchingEngine(market_data=True)
    e.process(stream[:cut])
    rest = stream[cut:].copy()
    if len(rest) == 0:
        return
    where %= len(rest)
    wrong = int(rest["seq"][where]) + shift
    if wrong <= 0:
        wrong = int(rest["seq"][where]) + 1
    rest["seq"][where] = wrong
    before, nxt = e.snapshot(), e.next_seq
    with pytest.raises(SequenceError):
        e.process(rest)
    assert (e.snapshot(), e.next_seq) == (before, nxt)
    # Put right, the same batch applies in full.
    rest["seq"][where] = nxt + where
    assert set(e.process(rest)["seq"].tolist()) == set(range(nxt, nxt + len(rest)))


# ---- symbol commands ---------------------------------------------------------------------------
def test_add_symbol_is_a_command_with_an_event_or_a_reject() -> None:
    e = MatchingEngine(max_symbols=2)
    r = e.add_symbol(7, tick_size=5, lot_size=10, min_price=5, max_price=1_000, max_qty=500, time_ns=3)
    assert (r.accepted, r.status, r.reason) == (True, OrderState.UNKNOWN, None)
    ev = e.last_events()
    assert ev["type"].tolist() == [EventType.SYMBOL_ADDED]
    assert ev["command"].tolist() == [CommandKind.ADD_SYMBOL]
    fields = ("symbol", "tick_size", "lot_size", "min_price", "max_price", "max_qty", "time_ns")
    assert [int(ev[f][0]) for f in fields] == [7, 5, 10, 5, 1_000, 500, 3]
    assert e.has_symbol(7)
    info = e.symbol_info(7)
    assert info is not None
    assert (info.tick_size, info.lot_size, info.min_price, info.max_price, info.max_qty) == (
        5,
        10,
        5,
        1000,
        500,
    )
    assert (info.halted, info.last_trade_price) == (False, None)
    assert e.symbol_info(8) is None
    assert e.add_symbol(7).reason == RejectReason.DUPLICATE_SYMBOL
    for bad in (
        {"tick_size": 0},
        {"lot_size": -1},
        {"min_price": 0},
        {"max_qty": 0},
        {"min_price": 9, "max_price": 8},
    ):
        r = e.add_symbol(9, **bad)
        assert r.reason == RejectReason.INVALID_SPEC, bad
        ev = e.last_events()
        # The reject echoes the spec it refused.
        assert int(ev["tick_size"][0]) == bad.get("tick_size", 1)
    assert e.add_symbol(8).accepted
    assert e.add_symbol(9).reason == RejectReason.SYMBOL_CAPACITY
    assert e.symbol_count == 2


def test_symbol_commands_in_a_batch() -> None:
    e = MatchingEngine()
    cmds = np.zeros(5, BOOK_COMMAND_DTYPE)
    cmds["kind"] = [
        CommandKind.ADD_SYMBOL, CommandKind.HALT_SYMBOL, CommandKind.SUBMIT, CommandKind.RESUME_SYMBOL,
        CommandKind.UPDATE_SYMBOL,
    ]  # fmt: skip
    cmds["symbol"] = 4
    cmds["tick_size"] = [1, 0, 0, 0, 2]
    cmds["lot_size"] = [1, 0, 0, 0, 1]
    cmds["min_price"] = [1, 0, 0, 0, 2]
    cmds["max_price"] = [1000, 0, 0, 0, 1000]
    cmds["max_qty"] = [100, 0, 0, 0, 100]
    cmds[2]["order_id"], cmds[2]["side"], cmds[2]["order_type"], cmds[2]["tif"] = 1, BUY, 1, TimeInForce.GTC
    cmds[2]["price"], cmds[2]["qty"] = 10, 1
    ev = e.process(cmds)
    assert ev["type"].tolist() == [
        EventType.SYMBOL_ADDED, EventType.SYMBOL_HALTED, EventType.REJECTED, EventType.SYMBOL_RESUMED,
        EventType.SYMBOL_UPDATED,
    ]  # fmt: skip
    assert int(ev["reason"][2]) == RejectReason.SYMBOL_HALTED
    assert ev["seq"].tolist() == [1, 2, 3, 4, 5]
    info = e.symbol_info(4)
    assert info is not None
    assert info.tick_size == 2


def test_halt_rejects_submits_and_amends_but_cancels_and_expiry_go_on() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    e.add_symbol(2)
    e.submit(1, 1, BUY, 100, 5, account=3)
    e.submit(2, 1, BUY, 99, 5, tif=TimeInForce.GTD, expire_ns=100)
    e.submit(3, 1, SELL, 110, 5)
    e.submit(4, 2, BUY, 100, 5, account=3)
    assert e.halt_symbol(1).accepted
    assert e.last_events()["type"].tolist() == [EventType.SYMBOL_HALTED]
    info = e.symbol_info(1)
    assert info is not None
    assert info.halted
    assert e.submit(5, 1, SELL, 100, 1).reason == RejectReason.SYMBOL_HALTED
    assert e.amend(1, qty=3).reason == RejectReason.SYMBOL_HALTED
    assert e.halt_symbol(1).reason == RejectReason.SYMBOL_HALTED
    # Other symbols trade on.
    assert e.submit(6, 2, SELL, 100, 1).filled == 1
    assert e.cancel(3).status == OrderState.CANCELLED
    assert e.advance_time(100).count == 1
    assert e.mass_cancel(account=3).count == 2
    assert e.live_orders == 0
    assert e.resume_symbol(1).accepted
    assert e.last_events()["type"].tolist() == [EventType.SYMBOL_RESUMED]
    assert e.resume_symbol(1).reason == RejectReason.SYMBOL_NOT_HALTED
    assert e.submit(5, 1, SELL, 100, 1).status == OrderState.RESTING
    for call in (e.halt_symbol, e.resume_symbol):
        assert call(42).reason == RejectReason.UNKNOWN_SYMBOL
    # The halt is state: in the snapshot and the hash.
    a, b = MatchingEngine(), MatchingEngine()
    for x in (a, b):
        x.add_symbol(1)
    a.halt_symbol(1)
    b.advance_time(0)  # the same number of commands
    assert a.state_hash() != b.state_hash()
    restored = MatchingEngine.restore(a.snapshot())
    info = restored.symbol_info(1)
    assert info is not None
    assert info.halted


def test_update_symbol_applies_to_new_orders_and_amends_not_resting_ones() -> None:
    e = MatchingEngine()
    e.add_symbol(1, tick_size=2, lot_size=5, min_price=2, max_price=1_000, max_qty=1_000)
    e.submit(1, 1, BUY, 100, 10)
    e.submit(2, 1, BUY, 98, 10)
    r = e.update_symbol(1, tick_size=5, max_price=500)
    assert r.accepted
    ev = e.last_events()
    assert ev["type"].tolist() == [EventType.SYMBOL_UPDATED]
    assert [int(ev[f][0]) for f in ("tick_size", "lot_size", "min_price", "max_price", "max_qty")] == [
        5, 5, 2, 500, 1_000,
    ]  # fmt: skip
    # Resting orders stay where they are, off the new grid or not.
    assert e.depth(1, BUY)[0].tolist() == [100, 98]
    assert e.submit(3, 1, BUY, 96, 5).reason == RejectReason.PRICE_OFF_TICK
    assert e.submit(3, 1, BUY, 600, 5).reason == RejectReason.PRICE_OUT_OF_BAND
    assert e.submit(3, 1, BUY, 95, 5).status == OrderState.RESTING
    # An amend checks what it changes against the new spec.
    assert e.amend(2, price=97).reason == RejectReason.PRICE_OFF_TICK
    assert e.amend(2, qty=5).status == OrderState.RESTING  # keeps its off-grid price
    assert e.amend(2, price=90).status == OrderState.RESTING
    # Old-grid and new-grid levels side by side: lookups still find each one.
    for p in (100, 95, 90):
        assert len(e.level_orders(1, BUY, p)) == 1, p
    assert e.submit(4, 1, SELL, 90, 20).filled == 20
    assert e.live_orders == 0
    assert e.update_symbol(9, tick_size=1).reason == RejectReason.UNKNOWN_SYMBOL
    assert e.update_symbol(1, lot_size=0).reason == RejectReason.INVALID_SPEC
    info = e.symbol_info(1)
    assert info is not None
    assert info.lot_size == 5


def test_new_entry_points_refuse_bad_arguments() -> None:
    e = MatchingEngine()
    e.add_symbol(1)
    with pytest.raises(TypeError, match="symbol"):
        e.add_symbol("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tick_size"):
        e.add_symbol(2, tick_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_qty"):
        e.add_symbol(2, max_qty=True)
    with pytest.raises(ValueError, match="symbol"):
        e.add_symbol(-1)
    with pytest.raises(ValueError, match="symbol"):
        e.add_symbol(2**32)
    with pytest.raises(ValueError, match="max_price"):
        e.add_symbol(2, max_price=2**63)
    with pytest.raises(ValueError, match="time_ns"):
        e.add_symbol(2, time_ns=2**64)
    for call in (e.halt_symbol, e.resume_symbol):
        with pytest.raises(TypeError, match="symbol"):
            call(None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="symbol"):
            call(2**40)
        with pytest.raises(TypeError, match="time_ns"):
            call(1, time_ns="now")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lot_size"):
        e.update_symbol(1, lot_size=-(2**64))
    with pytest.raises(TypeError, match="symbol"):
        e.symbol_info(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_ns"):
        e.advance_time(2**63)
    with pytest.raises(ValueError, match="levels"):
        e.depth(1, BUY, -1)
    with pytest.raises(ValueError, match="levels"):
        e.depth(1, BUY, 2**63)
    with pytest.raises(ValueError, match="side"):
        e.depth(1, 0)  # type: ignore[arg-type]
    # Negative and huge business values are rejects, not exceptions; nothing changed.
    before = e.snapshot()
    assert e.add_symbol(3, tick_size=-5).reason == RejectReason.INVALID_SPEC
    assert e.update_symbol(1, max_qty=-1).reason == RejectReason.INVALID_SPEC
    assert e.add_symbol(3, time_ns=-1).reason == RejectReason.INVALID_TIME
    after = MatchingEngine.restore(e.snapshot())
    assert after.symbol_count == 1
    assert e.snapshot()[:29] == before[:29]  # the configuration block


def test_symbol_commands_echo_the_spec_when_rejected() -> None:
    e = MatchingEngine()
    cmd = to_array([spec_command(CommandKind.UPDATE_SYMBOL, 3, (7, 8, -9, 10, 11), 0)])
    ev = e.process(cmd)
    assert int(ev["reason"][0]) == RejectReason.UNKNOWN_SYMBOL
    assert [int(ev[f][0]) for f in ("tick_size", "lot_size", "min_price", "max_price", "max_qty")] == [
        7, 8, -9, 10, 11,
    ]  # fmt: skip
    assert event_tuples(ev)  # the tuples of the base fields read back as well
