"""Runner: the sequencer drives any machine of the contract between two rings.

Behaviour is checked against the machine's own process() on the same stamped
commands (the machines' tests establish process() against their reference
models): the runner must stamp consecutive sequence numbers and one
never-decreasing time per batch, apply exactly what it stamps, publish every
event, and never hang a stop on a consumer that went away."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    LEDGER_COMMAND_DTYPE,
    LEDGER_EVENT_DTYPE,
    Closed,
    CommandKind,
    Ledger,
    MatchingEngine,
    MpmcRing,
    MpscRing,
    OrderType,
    Runner,
    Side,
    SpscRing,
    TimeInForce,
)
from tests.test_ledger_machine import SEED, Spec, streams, to_commands

SYM = 5
Records = npt.NDArray[np.void]


def new_engine() -> MatchingEngine:
    eng = MatchingEngine(max_orders=4096, max_symbols=4, max_levels=1024, id_history=8192)
    assert eng.add_symbol(SYM, min_price=1, max_price=1_000_000, max_qty=1_000_000).accepted
    return eng


def new_ledger() -> Ledger:
    led = Ledger(16, 1024, 1024)
    led.process(to_commands(SEED))
    return led


def make_commands(n: int, seed: int) -> Records:
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


def drain(ring: SpscRing, n: int, dtype: np.dtype[Any]) -> Records:
    """Exactly n records (a missing one fails after 60 s: only a hang takes that)."""
    out = np.zeros(n, dtype=dtype)
    got = 0
    while got < n:
        part = ring.pop_many(min(64, n - got), timeout=60.0)
        assert len(part) > 0, f"nothing delivered for 60 s after {got} of {n} records"
        out[got : got + len(part)] = part
        got += len(part)
    return out


def run_through(
    machine: Any,
    cmds: Records,
    n_events: int,
    *,
    ring_cls: type[SpscRing] | type[MpscRing] = SpscRing,
    cap: int = 64,
    batch: int = 16,
    time_source: str = "clock",
) -> tuple[Records, Records, Runner]:
    """Pushes cmds from a producer thread through a Runner; returns the
    events and the stamped commands (in order, as applied)."""
    cdt, edt = type(machine).COMMAND_DTYPE, type(machine).EVENT_DTYPE
    commands = ring_cls(cap, cdt)
    events = SpscRing(cap, edt)
    stamped = SpscRing(1 << max(len(cmds) - 1, 0).bit_length(), cdt)

    def produce() -> None:
        for i in range(len(cmds)):
            commands.push(cmds[i])

    with Runner(machine, commands, events, batch=batch, time_source=time_source, stamped=stamped) as runner:  # type: ignore[arg-type]
        producer = threading.Thread(target=produce)
        producer.start()
        got = drain(events, n_events, edt)
        producer.join()
    # Every command was stamped into `stamped` before it was applied, so all
    # are there now; the timeout turns a missing record into a failed
    # assertion below instead of a test that waits forever.
    applied = (
        np.array(stamped.pop_many(len(cmds), timeout=10.0), copy=True) if len(cmds) else np.zeros(0, cdt)
    )
    assert len(applied) == len(cmds)
    assert len(events) == 0
    assert len(stamped) == 0
    return got, applied, runner


def test_book_events_equal_processing_the_stamped_commands_byte_for_byte() -> None:
    cmds = make_commands(2000, 1)
    n_events = len(new_engine().process(cmds))
    eng = new_engine()
    first_seq = eng.next_seq
    before = time.time_ns()
    got, applied, runner = run_through(eng, cmds, n_events, cap=4, batch=3)
    after = time.time_ns()
    # Consecutive seq continuing the machine's own; one clock time per batch,
    # never going back, read while the runner ran.
    np.testing.assert_array_equal(applied["seq"], np.arange(first_seq, first_seq + len(cmds)))
    assert np.all(np.diff(applied["time_ns"]) >= 0)
    assert before <= applied["time_ns"][0]
    assert applied["time_ns"][-1] <= after
    # Apart from seq and time, the commands are the producers' own.
    for field in ("kind", "order_id", "account", "price", "qty", "side", "tif"):
        np.testing.assert_array_equal(applied[field], cmds[field])
    replay = new_engine()
    want = replay.process(applied)
    assert got.tobytes() == want.tobytes()
    assert replay.state_hash() == eng.state_hash()
    assert runner.commands_processed == len(cmds)
    assert runner.events_published == n_events
    assert runner.last_seq == first_seq + len(cmds) - 1 == eng.next_seq - 1


@pytest.mark.parametrize("ring_cls", [SpscRing, MpscRing])
def test_command_time_source_keeps_the_producers_time(ring_cls: type[SpscRing] | type[MpscRing]) -> None:
    cmds = make_commands(500, 2)
    want = new_engine().process(cmds)
    got, applied, _ = run_through(new_engine(), cmds, len(want), ring_cls=ring_cls, time_source="command")
    np.testing.assert_array_equal(applied["time_ns"], cmds["time_ns"])
    assert got.tobytes() == want.tobytes()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), cap_log=st.integers(0, 6), batch=st.integers(1, 64)
)
def test_book_equivalence_property(seed: int, n: int, cap_log: int, batch: int) -> None:
    cmds = make_commands(n, seed)
    n_events = len(new_engine().process(cmds))
    eng = new_engine()
    got, applied, _ = run_through(eng, cmds, n_events, cap=1 << cap_log, batch=batch)
    replay = new_engine()
    assert got.tobytes() == replay.process(applied).tobytes()
    assert replay.state_hash() == eng.state_hash()


@settings(max_examples=30, deadline=None)
@given(specs=streams(), batch=st.integers(1, 16), cap_log=st.integers(0, 5))
def test_ledger_through_the_runner_equals_processing_the_stamped_commands(
    specs: list[Spec], batch: int, cap_log: int
) -> None:
    """Linked chains split across the runner's batches are answered the same."""
    cmds = to_commands(specs)
    n_events = len(new_ledger().process(cmds.copy()))
    led = new_ledger()
    got, applied, _ = run_through(led, cmds, n_events, cap=1 << cap_log, batch=batch, time_source="command")
    replay = new_ledger()
    want = replay.process(applied)
    assert got.tobytes() == want.tobytes()
    assert replay.state_hash() == led.state_hash()
    assert led.next_seq == replay.next_seq


@pytest.mark.parametrize("make", [new_engine, new_ledger])
def test_the_machine_is_busy_while_running_and_stop_is_idempotent(make: Any) -> None:
    machine = make()
    cdt, edt = type(machine).COMMAND_DTYPE, type(machine).EVENT_DTYPE
    runner = Runner(machine, SpscRing(64, cdt), SpscRing(64, edt))
    runner.start()
    assert runner.running
    with pytest.raises(RuntimeError, match="in use by another thread"):
        machine.process(np.zeros(1, cdt))
    with pytest.raises(RuntimeError, match="in use by another thread"):
        machine.state_hash()
    with pytest.raises(RuntimeError, match="in use by another thread"):
        Runner(machine, SpscRing(8, cdt), SpscRing(8, edt)).start()
    with pytest.raises(RuntimeError):
        runner.start()
    runner.stop()
    runner.stop()
    assert not runner.running
    machine.state_hash()  # usable again
    with pytest.raises(RuntimeError):
        runner.start()  # a runner runs once


def test_stop_never_waits_on_a_consumer_that_went_away() -> None:
    """The issue's hang: a with block whose own thread consumed the events
    leaves on an exception; stop() must return and keep what it applied."""
    cmds = make_commands(400, 4)
    eng = new_engine()
    commands = SpscRing(512, BOOK_COMMAND_DTYPE)
    events = SpscRing(4, BOOK_EVENT_DTYPE)
    commands.push_many(cmds)
    runner = Runner(eng, commands, events, batch=64)

    def consume_then_fail() -> None:
        with runner:
            events.pop(timeout=60.0)  # the runner is publishing
            raise KeyError("the consumer failed")

    with pytest.raises(KeyError):
        consume_then_fail()
    assert not runner.running
    applied = runner.commands_processed
    assert applied >= 1
    kept = runner.take_unpublished()
    assert kept.dtype == BOOK_EVENT_DTYPE
    assert len(runner.take_unpublished()) == 0  # handed over once
    # Every event of every applied command is somewhere: consumed (one), in
    # the ring, or kept; nothing beyond the applied commands was produced.
    in_ring = np.array(events.pop_many(16), copy=True)
    ref = new_engine()
    want = ref.process(cmds[:applied])
    assert 1 + len(in_ring) + len(kept) == len(want)
    assert kept["seq"][-1] == eng.next_seq - 1
    assert len(commands) == len(cmds) - applied


def test_deallocating_a_running_runner_with_a_full_event_ring_returns() -> None:
    eng = new_engine()
    commands = SpscRing(512, BOOK_COMMAND_DTYPE)
    events = SpscRing(2, BOOK_EVENT_DTYPE)
    commands.push_many(make_commands(300, 5))
    runner = Runner(eng, commands, events, batch=32)
    runner.start()
    while runner.commands_processed == 0:
        time.sleep(0.001)
    del runner
    gc.collect()
    assert eng.next_seq > 1  # released: usable again
    eng.state_hash()


def test_closing_commands_ends_stream_and_closes_events() -> None:
    cmds = make_commands(300, 2)
    want = new_engine().process(cmds)
    commands = SpscRing(512, BOOK_COMMAND_DTYPE)
    events = SpscRing(4096, BOOK_EVENT_DTYPE)
    assert commands.push_many(cmds) == len(cmds)
    commands.close()
    runner = Runner(new_engine(), commands, events, time_source="command")
    runner.start()
    runner.join()
    assert events.closed
    got = np.array(events.pop_many(len(want) + 1), copy=True)
    assert got.tobytes() == want.tobytes()
    with pytest.raises(Closed):
        events.pop(timeout=0)


def test_closed_event_ring_raises_from_stop() -> None:
    cmds = make_commands(200, 3)
    commands = SpscRing(256, BOOK_COMMAND_DTYPE)
    events = SpscRing(2, BOOK_EVENT_DTYPE)
    runner = Runner(new_engine(), commands, events)
    runner.start()
    commands.push_many(cmds)
    while len(events) < 2:
        time.sleep(0.001)
    events.close()
    with pytest.raises(Closed):
        runner.join()
    runner.stop()  # raised once
    assert runner.events_published == 2


def test_bad_arguments() -> None:
    eng = new_engine()
    cmd = SpscRing(8, BOOK_COMMAND_DTYPE)
    ev = SpscRing(8, BOOK_EVENT_DTYPE)
    with pytest.raises(ValueError, match="record size"):
        Runner(eng, SpscRing(8, 64), ev)
    with pytest.raises(ValueError, match="record size"):
        Runner(eng, cmd, SpscRing(8, 64))
    with pytest.raises(ValueError, match="record size"):
        Runner(new_ledger(), cmd, SpscRing(8, LEDGER_EVENT_DTYPE))
    with pytest.raises(ValueError, match="record size"):
        Runner(eng, cmd, ev, stamped=SpscRing(8, LEDGER_COMMAND_DTYPE))
    with pytest.raises(TypeError):
        Runner(eng, cmd, MpscRing(8, BOOK_EVENT_DTYPE))
    with pytest.raises(TypeError):
        Runner(eng, cmd, ev, stamped=MpscRing(8, BOOK_COMMAND_DTYPE))
    with pytest.raises(TypeError):
        Runner(eng, MpmcRing(8, BOOK_COMMAND_DTYPE), ev)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different rings"):
        Runner(eng, cmd, cmd)
    with pytest.raises(ValueError, match="different rings"):
        Runner(eng, cmd, ev, stamped=ev)
    with pytest.raises(ValueError, match="batch"):
        Runner(eng, cmd, ev, batch=0)
    with pytest.raises(ValueError, match="poll_interval"):
        Runner(eng, cmd, ev, poll_interval=0)
    with pytest.raises(ValueError, match="time_source"):
        Runner(eng, cmd, ev, time_source="wall")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MatchingEngine, a Ledger or an Exchange"):
        Runner(None, cmd, ev)
    with pytest.raises(TypeError, match="MatchingEngine, a Ledger or an Exchange"):
        Runner(object(), cmd, ev)
