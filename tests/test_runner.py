"""EngineRunner: a C++ thread drives a MatchingEngine between two rings.

Behaviour checked against MatchingEngine.process() on the same commands (the
engine's own tests establish that one against the reference model)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    Closed,
    CommandKind,
    EngineRunner,
    MatchingEngine,
    MpscRing,
    OrderType,
    Side,
    SpscRing,
    TimeInForce,
)

SYM = 5


def new_engine() -> MatchingEngine:
    eng = MatchingEngine(max_orders=4096, max_symbols=4, max_levels=1024, id_history=8192)
    eng.add_symbol(SYM, min_price=1, max_price=1_000_000, max_qty=1_000_000)
    return eng


def make_commands(n: int, seed: int) -> np.ndarray[Any, np.dtype[np.void]]:
    """Resting and crossing limits, IOCs, cancels (some unknown) and qty-0
    submits (rejected): several events per command on average."""
    rng = np.random.default_rng(seed)
    cmds = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    r = rng.integers(0, 10, n)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    cmds["time_ns"] = 1000 + np.arange(n)
    cmds["symbol"] = SYM
    cancel = (r < 2) & (ids > 1)
    cmds["kind"] = np.where(cancel, int(CommandKind.CANCEL), int(CommandKind.SUBMIT))
    cmds["order_id"] = np.where(cancel, rng.integers(1, n + 5, n).astype(np.uint64), ids)
    sub = ~cancel
    cmds["account"][sub] = rng.integers(1, 5, int(sub.sum()))
    cmds["side"][sub] = np.where(rng.integers(0, 2, int(sub.sum())) == 0, int(Side.BUY), int(Side.SELL))
    cmds["order_type"][sub] = int(OrderType.LIMIT)
    cmds["tif"][sub] = np.where(r[sub] == 9, int(TimeInForce.IOC), int(TimeInForce.GTC))
    cmds["price"][sub] = 95 + rng.integers(0, 11, int(sub.sum()))
    cmds["qty"][sub] = np.where(r[sub] == 8, 0, 1 + rng.integers(0, 20, int(sub.sum())))
    return cmds


def drain(events: SpscRing, n: int) -> np.ndarray[Any, np.dtype[np.void]]:
    parts = []
    got = 0
    while got < n:
        part = events.pop_many(64, timeout=20.0)
        assert len(part) > 0, "runner delivered nothing for 20 s"
        parts.append(np.array(part, copy=True))
        got += len(part)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=BOOK_EVENT_DTYPE)


def run_through(
    ring_cls: type[SpscRing] | type[MpscRing], cmds: np.ndarray[Any, Any], cap: int, batch: int
) -> None:
    want = new_engine().process(cmds)
    eng = new_engine()
    commands = ring_cls(cap, BOOK_COMMAND_DTYPE)
    events = SpscRing(cap, BOOK_EVENT_DTYPE)

    def produce() -> None:
        for i in range(len(cmds)):
            commands.push(cmds[i])

    with EngineRunner(eng, commands, events, batch=batch) as runner:
        producer = threading.Thread(target=produce)
        producer.start()
        got = drain(events, len(want))
        producer.join()
    # Field by field (numpy copies leave the dtype's padding bytes undefined;
    # the native tests compare the records byte for byte).
    np.testing.assert_array_equal(got, want)
    assert runner.commands_processed == len(cmds)
    assert runner.events_published == len(want)
    assert not runner.running
    assert len(events) == 0
    # The engine is usable again and in the directly driven engine's state.
    ref = new_engine()
    ref.process(cmds)
    assert (eng.next_seq, eng.live_orders, eng.level_count) == (
        ref.next_seq,
        ref.live_orders,
        ref.level_count,
    )


@pytest.mark.parametrize("ring_cls", [SpscRing, MpscRing])
def test_events_equal_direct_processing_with_backpressure(ring_cls: type[SpscRing] | type[MpscRing]) -> None:
    run_through(ring_cls, make_commands(2000, 1), cap=4, batch=3)


@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), cap_log=st.integers(0, 6), batch=st.integers(1, 64)
)
def test_equivalence_property(seed: int, n: int, cap_log: int, batch: int) -> None:
    run_through(SpscRing, make_commands(n, seed), cap=1 << cap_log, batch=batch)


def test_engine_is_busy_while_running_and_stop_is_idempotent() -> None:
    eng = new_engine()
    commands = SpscRing(64, BOOK_COMMAND_DTYPE)
    events = SpscRing(64, BOOK_EVENT_DTYPE)
    runner = EngineRunner(eng, commands, events)
    runner.start()
    assert runner.running
    with pytest.raises(RuntimeError, match="in use by another thread"):
        eng.process(make_commands(1, 0))
    with pytest.raises(RuntimeError, match="in use by another thread"):
        EngineRunner(eng, SpscRing(8, BOOK_COMMAND_DTYPE), SpscRing(8, BOOK_EVENT_DTYPE)).start()
    with pytest.raises(RuntimeError):
        runner.start()
    runner.stop()
    runner.stop()
    assert not runner.running
    assert len(eng.process(make_commands(3, 0))) > 0
    with pytest.raises(RuntimeError):
        runner.start()  # a runner runs once


def test_closing_commands_ends_stream_and_closes_events() -> None:
    cmds = make_commands(300, 2)
    want = new_engine().process(cmds)
    commands = SpscRing(512, BOOK_COMMAND_DTYPE)
    events = SpscRing(4096, BOOK_EVENT_DTYPE)
    assert commands.push_many(cmds) == len(cmds)
    commands.close()
    runner = EngineRunner(new_engine(), commands, events)
    runner.start()
    runner.join()
    assert events.closed
    got = np.array(events.pop_many(len(want) + 1), copy=True)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(Closed):
        events.pop(timeout=0)


def test_closed_event_ring_raises_from_stop() -> None:
    cmds = make_commands(200, 3)
    commands = SpscRing(256, BOOK_COMMAND_DTYPE)
    events = SpscRing(2, BOOK_EVENT_DTYPE)
    runner = EngineRunner(new_engine(), commands, events)
    runner.start()
    commands.push_many(cmds)
    while len(events) < 2:
        threading.Event().wait(0.001)
    events.close()
    with pytest.raises(Closed):
        runner.stop()
    runner.stop()  # raised once
    assert runner.events_published == 2


def test_bad_arguments() -> None:
    eng = new_engine()
    cmd = SpscRing(8, BOOK_COMMAND_DTYPE)
    ev = SpscRing(8, BOOK_EVENT_DTYPE)
    with pytest.raises(ValueError, match="record size"):
        EngineRunner(eng, SpscRing(8, 64), ev)
    with pytest.raises(ValueError, match="record size"):
        EngineRunner(eng, cmd, SpscRing(8, 64))
    with pytest.raises(TypeError):
        EngineRunner(eng, cmd, MpscRing(8, BOOK_EVENT_DTYPE))
    with pytest.raises(ValueError, match="different rings"):
        EngineRunner(eng, cmd, cmd)
    with pytest.raises(ValueError, match="batch"):
        EngineRunner(eng, cmd, ev, batch=0)
    with pytest.raises(ValueError, match="poll_interval"):
        EngineRunner(eng, cmd, ev, poll_interval=0)
    with pytest.raises(TypeError):
        EngineRunner(None, cmd, ev)  # type: ignore[arg-type]
