"""Runner fed by forked producer processes through a shared-memory
MpscRing: every command applied exactly once, in per-producer order, and the
event stream byte-identical to a fresh MatchingEngine given the commands in
the order the runner applied them; a producer killed with SIGKILL mid-stream
costs at most its own unpublished records, reported as ProducerDied (the
runner's producer_deaths and the ring's lost), never a torn command or a
hang.

No timing assertions: every wait has a generous timeout that only bounds a
failure, so a loaded 2-core machine slows these tests down without making
them fail.
"""

from __future__ import annotations

import faulthandler
import mmap
import multiprocessing as mp
import os
import resource
import signal
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    Closed,
    CommandKind,
    MatchingEngine,
    MpscRing,
    OrderType,
    Runner,
    Side,
    SpscRing,
    TimeInForce,
)
from shanraq_core.queue import ProducerDied
from tests.queue_helpers import unique_name

FORK = mp.get_context("fork")
SYM = 7
#: Producer p owns the order ids ((p + 1) << 32) + 1 ...: disjoint ranges, so
#: an event's order id names the producer of the command behind it.
ID_SHIFT = 32
#: Bounds a failure (a hang), never a measurement.
TIMEOUT = 30.0
#: Most records the SIGKILLed producer hands to one push_many.
VICTIM_BATCH = 7

Records = npt.NDArray[Any]


def new_engine() -> MatchingEngine:
    eng = MatchingEngine(max_orders=1 << 16, max_symbols=2, max_levels=1024, id_history=1 << 16)
    eng.add_symbol(SYM, min_price=1, max_price=1_000_000, max_qty=1_000_000)
    return eng


def producer_commands(p: int, n: int, seed: int) -> Records:
    """Producer p's stream: GTC and IOC limits around one price, so orders of
    different producers trade with each other; cancels and price amends of
    its own earlier orders (live, filled or already cancelled: accepted or
    rejected); a few qty-0 submits (rejected)."""
    rng = np.random.default_rng([seed, p])
    base = np.uint64((p + 1) << ID_SHIFT)
    cmds = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    roll = rng.integers(0, 100, n)
    k = np.arange(n, dtype=np.uint64)
    own_submit = (roll < 70) | (k == 0)
    # Cancels and amends name one of the producer's earlier submits.
    sub_ids = np.where(own_submit, base + k + np.uint64(1), np.uint64(0))
    last_sub = np.maximum.accumulate(np.where(own_submit, np.arange(n), 0))
    target = rng.integers(0, np.maximum(last_sub, 1)) if n else np.zeros(0, np.int64)
    earlier = np.where(
        own_submit[target], base + target.astype(np.uint64) + np.uint64(1), base + np.uint64(1)
    )
    cmds["order_id"] = np.where(own_submit, sub_ids, earlier)
    cmds["kind"] = np.where(
        own_submit,
        int(CommandKind.SUBMIT),
        np.where(roll < 88, int(CommandKind.CANCEL), int(CommandKind.AMEND)),
    )
    cmds["symbol"] = SYM
    cmds["time_ns"] = 1_000 + k.astype(np.int64)
    cmds["account"][own_submit] = p + 1
    cmds["side"][own_submit] = np.where(rng.integers(0, 2, n) == 0, int(Side.BUY), int(Side.SELL))[own_submit]
    cmds["order_type"][own_submit] = int(OrderType.LIMIT)
    cmds["tif"][own_submit] = np.where(roll < 8, int(TimeInForce.IOC), int(TimeInForce.GTC))[own_submit]
    cmds["price"] = np.where(
        own_submit | (cmds["kind"] == int(CommandKind.AMEND)), 95 + rng.integers(0, 11, n), 0
    )
    cmds["qty"][own_submit] = np.where(roll == 69, 0, 1 + rng.integers(0, 20, n))[own_submit]
    return cmds


def as_ring_records(ring: MpscRing, cmds: Records) -> Records:
    """The commands as the attached handle takes them: attach() returns the
    creator's dtype, BOOK_COMMAND_DTYPE's trailing padding included, so records
    go in as they are."""
    assert ring.dtype == BOOK_COMMAND_DTYPE
    return cmds


def _produce(name: str, cmds: Records, seed: int) -> None:
    """Child: pushes its commands in order, singly and in batches of random
    size (the record kinds the Python API accepts: numpy scalars and arrays)."""
    ring = MpscRing.attach(name, BOOK_COMMAND_DTYPE)
    cmds = as_ring_records(ring, cmds)
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(cmds):
        if rng.integers(0, 3) == 0:
            ring.push(cmds[i], timeout=TIMEOUT)
            i += 1
        else:
            k = int(rng.integers(1, 40))
            i += ring.push_many(cmds[i : i + k], timeout=TIMEOUT)


def _produce_until_killed(name: str, cmds: Records) -> None:
    """Child: pushes its (long) stream, a single then a batch of up to
    VICTIM_BATCH, waiting for room as needed, until SIGKILL ends it."""
    ring = MpscRing.attach(name, BOOK_COMMAND_DTYPE)
    cmds = as_ring_records(ring, cmds)
    i = 0
    while i < len(cmds):
        ring.push(cmds[i])
        i += 1 + ring.push_many(cmds[i + 1 : i + 1 + VICTIM_BATCH], timeout=None)


def _produce_then_die_mid_push(name: str, cmds: Records, unreadable: int, gate: Any = None) -> None:
    """Child: pushes its commands, then dies inside a push deterministically:
    the records it pushes last live in memory it cannot read, so the ring
    claims their slots and the copy into them faults (SIGSEGV) before they
    are published: a producer dead mid-push, without relying on timing."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    faulthandler.disable()  # the fault is the point; no traceback dump
    ring = MpscRing.attach(name, BOOK_COMMAND_DTYPE)
    ring.push_many(as_ring_records(ring, cmds), timeout=TIMEOUT)
    assert ring.dtype is not None
    if gate is not None:
        gate.wait(TIMEOUT)
    trap = mmap.mmap(-1, mmap.PAGESIZE * 4, prot=getattr(mmap, "PROT_NONE", 0))  # 3.13+ names it
    # push_many: it hands the array's memory to the ring without reading it
    # (push(bad[0]) would fault in numpy, before the ring claims a slot).
    ring.push_many(np.frombuffer(trap, dtype=ring.dtype, count=unreadable), timeout=TIMEOUT)
    os._exit(3)  # not reached: the copy faults


def replay(streams: list[Records], events: Records) -> tuple[list[int], MatchingEngine]:
    """Recovers the order the runner applied the commands in, and checks the
    event stream against a fresh engine as it goes.

    At each point of the stream, the first event names (by its order id) the
    producer whose command comes next; that producer's next unapplied command
    is applied to a fresh engine and its events must be the next events of the
    stream, byte for byte. Returns how many commands of each producer were
    applied, and the reference engine."""
    ref = new_engine()
    pos = [0] * len(streams)
    raw = events.tobytes()
    size = BOOK_EVENT_DTYPE.itemsize
    at = 0
    n_events = len(events)
    while at < n_events:
        oid = int(events["order_id"][at])
        p = (oid >> ID_SHIFT) - 1
        assert 0 <= p < len(streams), f"event {at} names order {oid:#x}, no producer's"
        assert pos[p] < len(streams[p]), f"producer {p}: more commands applied than it pushed"
        cmd = streams[p][pos[p] : pos[p] + 1]
        assert int(cmd["order_id"][0]) == oid, (
            f"event {at}: producer {p}'s next command (#{pos[p]}) is for order "
            f"{int(cmd['order_id'][0]):#x}, the runner applied one for {oid:#x}: out of order or duplicated"
        )
        want = ref.process(cmd)
        assert len(want) > 0  # every command answers with at least one event
        got = raw[at * size : (at + len(want)) * size]
        assert got == want.tobytes(), (
            f"producer {p} command #{pos[p]}: events differ from the reference engine"
        )
        at += len(want)
        pos[p] += 1
    return pos, ref


def pop_events(events: SpscRing, sink: list[Records], timeout: float) -> int:
    """Pops up to 256 events into `sink`; how many. Through pop_view and a
    byte copy of each record: the bytes are what the runner pushed, padding
    included (the view is strided, slots being longer than records, and
    numpy copies a strided padded dtype field by field, so `view.tobytes()`
    would not keep the padding bytes this test compares)."""
    view = events.pop_view(256, timeout=timeout)
    n = len(view)
    if n:
        raw = b"".join(view[i : i + 1].tobytes() for i in range(n))
        sink.append(np.frombuffer(raw, dtype=BOOK_EVENT_DTYPE))
    del view  # hands the slots back to the runner
    return n


def drain_until_closed(events: SpscRing, sink: list[Records]) -> None:
    while True:
        try:
            n = pop_events(events, sink, TIMEOUT)
        except Closed:
            return
        assert n > 0, f"no event and no close for {TIMEOUT} s: the runner hangs"


def join_records(parts: list[Records], dtype: np.dtype[Any]) -> Records:
    """Concatenates byte for byte: np.concatenate would repack a padded dtype
    (numpy 2 drops the padding) and lose the bytes this test compares."""
    return np.frombuffer(b"".join(part.tobytes() for part in parts), dtype=dtype)


def test_reference_engine_answers_every_command() -> None:
    """The replay's premise: each command's first event carries its order id."""
    cmds = join_records([producer_commands(p, 400, 3) for p in range(3)], BOOK_COMMAND_DTYPE)
    eng = new_engine()
    for i in range(len(cmds)):
        ev = eng.process(cmds[i : i + 1])
        assert len(ev) > 0
        assert ev["order_id"][0] == cmds["order_id"][i]


@pytest.mark.parametrize(("producers", "per_producer", "cap", "batch"), [(3, 3000, 64, 32), (2, 2000, 4, 1)])
def test_forked_producers_exactly_once_in_order(
    producers: int, per_producer: int, cap: int, batch: int
) -> None:
    name = unique_name("runner")
    commands = MpscRing.create(name, cap, BOOK_COMMAND_DTYPE)
    events = SpscRing(256, BOOK_EVENT_DTYPE)
    streams = [producer_commands(p, per_producer, 11) for p in range(producers)]
    runner = Runner(new_engine(), commands, events, batch=batch, time_source="command")
    runner.start()
    procs = [FORK.Process(target=_produce, args=(name, streams[p], 100 + p)) for p in range(producers)]
    for proc in procs:
        proc.start()
    parts: list[Records] = []
    total = producers * per_producer
    # Consume until every producer's commands are in: the runner may block
    # on a full event ring until then, so the test must keep popping.
    while runner.commands_processed < total:
        n = pop_events(events, parts, TIMEOUT)
        assert n > 0, f"stalled at {runner.commands_processed}/{total} commands"
    for proc in procs:
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    commands.close()  # end of stream: the runner drains, closes events, ends
    drain_until_closed(events, parts)
    runner.join()
    got = join_records(parts, BOOK_EVENT_DTYPE)
    applied, ref = replay(streams, got)
    assert applied == [per_producer] * producers  # each exactly once
    assert runner.commands_processed == total
    assert runner.events_published == len(got)
    assert runner.producer_deaths == 0
    assert commands.lost == 0
    assert runner.machine.state_hash() == ref.state_hash()


def test_sigkilled_producer_does_not_stop_the_others() -> None:
    rng = np.random.default_rng(5)
    for round_ in range(3):
        name = unique_name("runkill")
        commands = MpscRing.create(name, int(rng.choice([4, 64, 256])), BOOK_COMMAND_DTYPE)
        events = SpscRing(1024, BOOK_EVENT_DTYPE)
        good, victim = 2, 2
        streams = [producer_commands(p, 1500, 20 + round_) for p in range(good)]
        streams.append(producer_commands(victim, 100_000, 20 + round_))
        runner = Runner(
            new_engine(), commands, events, batch=int(rng.choice([1, 16, 256])), time_source="command"
        )
        runner.start()
        killer = FORK.Process(target=_produce_until_killed, args=(name, streams[victim]))
        killer.start()
        procs = [FORK.Process(target=_produce, args=(name, streams[p], 200 + p)) for p in range(good)]
        for proc in procs:
            proc.start()
        parts: list[Records] = []
        # Kill it once it has some commands applied: a random point of its
        # stream, with the others pushing meanwhile.
        kill_after = int(rng.integers(1, 2000))
        seen_victim = 0
        while seen_victim < kill_after:
            n = pop_events(events, parts, TIMEOUT)
            assert n > 0, "the victim's commands never arrived"
            seen_victim += int(np.count_nonzero((parts[-1]["order_id"] >> ID_SHIFT) == victim + 1))
        assert killer.pid is not None
        os.kill(killer.pid, signal.SIGKILL)
        killer.join(TIMEOUT)
        assert killer.exitcode == -signal.SIGKILL
        # The others finish; the runner keeps serving them throughout.
        deadline = time.monotonic() + 2 * TIMEOUT
        while any(proc.is_alive() for proc in procs) or len(commands) > 0:
            assert time.monotonic() < deadline, f"stuck with {len(commands)} commands in the ring"
            pop_events(events, parts, 0.05)
        for proc in procs:
            proc.join(TIMEOUT)
            assert proc.exitcode == 0
        commands.close()
        drain_until_closed(events, parts)
        runner.join()  # no error: a dead producer is not the runner's failure
        got = join_records(parts, BOOK_EVENT_DTYPE)
        applied, ref = replay(streams, got)
        assert applied[:good] == [1500] * good
        # The victim's applied commands are a prefix of its stream (replay
        # checks that), ended where it died; only records it had claimed
        # but not published are lost, and they are counted, not delivered.
        assert 0 < applied[victim] < len(streams[victim])
        assert runner.producer_deaths == commands.lost
        assert commands.lost <= VICTIM_BATCH  # at most one push_many's worth
        assert runner.commands_processed == sum(applied)
        assert runner.machine.state_hash() == ref.state_hash()


def test_producer_dead_mid_push_is_reported_and_the_others_go_on() -> None:
    """A producer dies inside a push, its slot claimed and unpublished
    (deterministically, see _produce_then_die_mid_push), while the others
    push: the runner discards exactly that record, counts it
    (producer_deaths, the ring's lost), keeps applying the others' commands,
    and none of the dead one's garbage reaches the engine."""
    unreadable = 1
    name = unique_name("rundie")
    commands = MpscRing.create(name, 64, BOOK_COMMAND_DTYPE)
    events = SpscRing(1024, BOOK_EVENT_DTYPE)
    streams = [producer_commands(p, 1000, 31) for p in range(3)]
    victim = 2
    runner = Runner(new_engine(), commands, events, batch=16, time_source="command")
    runner.start()
    dying = FORK.Process(target=_produce_then_die_mid_push, args=(name, streams[victim], unreadable))
    dying.start()
    procs = [FORK.Process(target=_produce, args=(name, streams[p], 300 + p)) for p in range(victim)]
    for proc in procs:
        proc.start()
    parts: list[Records] = []
    deadline = time.monotonic() + 2 * TIMEOUT
    # A dead claimer is recognised once its process is gone (reaped), so
    # join it while consuming; its stalled slot holds back the records
    # behind it until then, and the others wait for room meanwhile.
    while dying.exitcode is None or any(proc.is_alive() for proc in procs) or len(commands) > 0:
        assert time.monotonic() < deadline, f"stuck with {len(commands)} commands in the ring"
        pop_events(events, parts, 0.05)
        dying.join(0)
    assert dying.exitcode == -signal.SIGSEGV
    for proc in procs:
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    commands.close()
    drain_until_closed(events, parts)
    runner.join()
    applied, ref = replay(streams, join_records(parts, BOOK_EVENT_DTYPE))
    assert applied == [1000, 1000, 1000]  # everything it published, nothing more
    assert commands.lost == unreadable
    assert runner.producer_deaths == unreadable
    assert runner.commands_processed == 3000
    assert runner.machine.state_hash() == ref.state_hash()


def test_producer_dead_mid_batch_is_counted_or_reported_never_a_spin() -> None:
    """A producer dies inside a push_many of 5 records, all 5 slots claimed
    and none published. The ring either discards all 5 (they are then counted
    in producer_deaths and lost, and the runner goes on) or, when it cannot
    prove the claimers of the later slots dead, refuses to skip them and
    raises ProducerDied without discarding anything: then the runner ends and
    join() raises it, rather than spinning on that error and counting deaths
    that never happened. Either way nothing torn or half-pushed is applied.
    Everything else is applied before the death (a gate holds the victim
    back), so the outcome does not depend on timing."""
    name = unique_name("rundie5")
    commands = MpscRing.create(name, 64, BOOK_COMMAND_DTYPE)
    events = SpscRing(1024, BOOK_EVENT_DTYPE)
    streams = [producer_commands(p, 500, 41) for p in range(2)]
    runner = Runner(new_engine(), commands, events, batch=16, time_source="command")
    runner.start()
    gate = FORK.Event()
    dying = FORK.Process(target=_produce_then_die_mid_push, args=(name, streams[1], 5, gate))
    dying.start()
    good = FORK.Process(target=_produce, args=(name, streams[0], 400))
    good.start()
    parts: list[Records] = []
    while runner.commands_processed < 1000:
        assert pop_events(events, parts, TIMEOUT) > 0, "stalled before the death"
    good.join(TIMEOUT)
    assert good.exitcode == 0
    gate.set()
    dying.join(TIMEOUT)
    assert dying.exitcode == -signal.SIGSEGV
    deadline = time.monotonic() + 2 * TIMEOUT
    while runner.running and runner.producer_deaths < 5:
        assert time.monotonic() < deadline, (
            "the runner neither discarded the slots nor reported the ring stuck"
        )
        pop_events(events, parts, 0.05)
    if runner.running:
        assert runner.producer_deaths == commands.lost == 5
        commands.close()
        drain_until_closed(events, parts)
        runner.join()
    else:
        with pytest.raises(ProducerDied):
            runner.join()
        assert runner.producer_deaths == commands.lost  # the ones it did discard, maybe none
        assert commands.lost < 5
        while pop_events(events, parts, 0) > 0:
            pass
    applied, ref = replay(streams, join_records(parts, BOOK_EVENT_DTYPE))
    assert applied == [500, 500]
    assert runner.commands_processed == 1000
    assert runner.machine.state_hash() == ref.state_hash()
