"""SpscRing / MpscRing / MpmcRing behaviour in one process: record forms, errors,
timeouts, close, shared-memory life cycle and thread stress."""

from __future__ import annotations

import pickle
import signal
import threading
from typing import Any

import numpy as np
import pytest

from shanraq_core import Closed, MpmcRing, MpscRing, SpscRing
from shanraq_core.queue import AlreadyExists, LayoutMismatch, QueueError, cleanup_stale, unlink
from tests.queue_helpers import PATIENCE, REC, eventually, intact, make_records, unique_name

RINGS = [SpscRing, MpscRing, MpmcRing]
DT = np.dtype([("id", "<u8"), ("price", "<i8"), ("qty", "<i4"), ("side", "u1")])


@pytest.fixture(params=RINGS, ids=["spsc", "mpsc", "mpmc"])
def cls(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.mark.parametrize("capacity", [0, 3, 6, 1000, 2**31, -4])
def test_capacity_must_be_power_of_two(cls: Any, capacity: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        cls(capacity, DT)


def test_bad_layouts_and_waits(cls: Any) -> None:
    with pytest.raises(TypeError, match="Python objects"):
        cls(4, np.dtype([("a", "O")]))
    with pytest.raises(ValueError, match="record size"):
        cls(4, 0)
    with pytest.raises(ValueError, match="record_size"):
        cls(4, 2 * 1024 * 1024)
    with pytest.raises(ValueError, match="wait must be"):
        cls(4, DT, wait="nap")
    for wait in ("blocking", "yield", "spin"):
        assert cls(4, DT, wait=wait).wait == wait


def test_record_forms_round_trip(cls: Any) -> None:
    ring = cls(8, DT)
    arr = np.array([(1, -100, 5, 1), (2, 200, 7, 0)], DT)
    ring.push(arr[0])
    ring.push((2, 200, 7, 0))
    ring.push(arr[1].tobytes())
    assert len(ring) == 3
    a = ring.pop()
    assert isinstance(a, np.void)
    assert a.dtype == DT
    assert a == arr[0]
    assert ring.pop() == arr[1]
    assert ring.try_pop() == arr[1]
    assert ring.try_pop() is None
    assert len(ring) == 0


def test_wrong_records_are_rejected(cls: Any) -> None:
    ring = cls(4, DT)
    other = np.zeros(1, [("x", "<u8")])
    with pytest.raises(TypeError, match="dtype"):
        ring.push(other[0])
    with pytest.raises(ValueError, match="bytes"):
        ring.push(b"\0" * (DT.itemsize + 1))
    with pytest.raises(ValueError, match="bytes"):
        ring.try_push(b"\0" * (DT.itemsize - 1))
    with pytest.raises(TypeError, match="push_many"):
        ring.push(np.zeros(2, DT))
    with pytest.raises((TypeError, ValueError)):
        ring.push((1, 2))  # too few fields
    with pytest.raises(TypeError, match="dtype"):
        ring.push_many(np.zeros(3, [("x", "<u8")]))
    assert len(ring) == 0


def test_raw_byte_rings(cls: Any) -> None:
    ring = cls(4, 16)
    assert ring.dtype is None
    assert ring.record_size == 16
    ring.push(b"a" * 16)
    ring.push(bytearray(b"b" * 16))
    assert ring.pop() == b"a" * 16
    assert ring.pop() == b"b" * 16
    with pytest.raises(TypeError, match="bytes"):
        ring.push((1, 2))
    assert ring.push_many(b"c" * 64) == 4
    out = ring.pop_many(10)
    assert out.dtype == np.dtype("V16")
    assert len(out) == 4
    assert out[3].tobytes() == b"c" * 16


def test_fifo_wraparound_and_full(cls: Any) -> None:
    for capacity in (1, 2, 8):
        ring = cls(capacity, REC)
        recs = make_records(0, 0, 50)
        nxt = 0
        for i in range(50):
            assert ring.try_push(recs[i])
            if len(ring) == capacity:
                assert not ring.try_push(recs[i])
                while (r := ring.try_pop()) is not None:
                    assert r["seq"] == nxt
                    nxt += 1
        while (r := ring.try_pop()) is not None:
            assert r["seq"] == nxt
            nxt += 1
        assert nxt == 50


def test_batches(cls: Any) -> None:
    ring = cls(16, REC)
    recs = make_records(3, 0, 40)
    assert ring.push_many(recs) == 16  # timeout 0: what fits
    assert ring.push_many(recs[16:]) == 0
    out = ring.pop_many(10)
    assert out.dtype == REC
    assert len(out) == 10
    assert list(out["seq"]) == list(range(10))
    out["seq"] = 99  # a copy: writable and independent of the ring
    assert ring.push_many(recs[16:26]) == 10
    out = ring.pop_many(100, timeout=0)
    assert list(out["seq"]) == list(range(10, 26))
    assert intact(out).all()
    assert len(ring.pop_many(5, timeout=0.01)) == 0
    assert len(ring.pop_many(0)) == 0
    with pytest.raises(ValueError, match="timeout"):
        ring.pop_many(5, timeout=-1)


def test_timeouts(cls: Any) -> None:
    """A timed wait that nothing satisfies raises TimeoutError (or moves
    nothing, for the batch calls) and leaves the ring as it was."""
    ring = cls(2, DT)
    with pytest.raises(TimeoutError):
        ring.pop(timeout=0.05)
    assert len(ring.pop_many(3, timeout=0.01)) == 0
    ring.push((1, 1, 1, 1))
    ring.push((2, 2, 2, 2), timeout=0)
    with pytest.raises(TimeoutError):
        ring.push((3, 3, 3, 3), timeout=0.05)
    assert ring.push_many(np.zeros(3, DT), timeout=0.02) == 0
    assert ring.pop_many(5)["id"].tolist() == [1, 2]


def test_timed_waits_end_with_what_comes(cls: Any) -> None:
    """A wait that is satisfied while it waits returns what came: the other
    thread acts only once the waiter is announced as a sleeper, so the wait
    has begun whatever the machine's speed."""
    ring = cls(1, DT)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(ring.pop(timeout=PATIENCE)))
    t.start()
    assert eventually(lambda: ring.sleeping_consumers > 0)
    ring.push((5, 5, 5, 5))
    t.join(PATIENCE)
    assert got[0]["id"] == 5
    ring.push((6, 6, 6, 6))
    t = threading.Thread(target=lambda: ring.push((7, 7, 7, 7), timeout=PATIENCE))
    t.start()
    assert eventually(lambda: ring.sleeping_producers > 0)
    assert ring.pop()["id"] == 6
    t.join(PATIENCE)
    assert ring.pop(timeout=0)["id"] == 7


@pytest.mark.parametrize("timeout", ["1", b"1", True, [1], 1j])
def test_timeouts_are_seconds_as_numbers(cls: Any, timeout: Any) -> None:
    ring = cls(2, DT)
    ring.push((1, 1, 1, 1))
    for call in (
        ring.pop,
        lambda timeout: ring.pop_many(1, timeout=timeout),
        lambda timeout: ring.push((2, 2, 2, 2), timeout=timeout),
        lambda timeout: ring.push_many(np.zeros(1, DT), timeout=timeout),
    ):
        with pytest.raises(TypeError, match="timeout"):
            call(timeout=timeout)
    assert len(ring) == 1


@pytest.mark.parametrize("timeout", [-1, -0.5, float("nan")])
def test_timeouts_below_zero_are_rejected(cls: Any, timeout: float) -> None:
    ring = cls(2, DT)
    for call in (ring.pop, lambda timeout: ring.push((2, 2, 2, 2), timeout=timeout)):
        with pytest.raises(ValueError, match="timeout"):
            call(timeout=timeout)
    assert len(ring) == 0


def test_timeouts_accept_ints_floats_and_numpy_numbers(cls: Any) -> None:
    ring = cls(2, DT)
    for timeout in (0, 0.0, 1, 2.5, np.float64(0.5), np.int64(1), float("inf"), None):
        ring.push((1, 1, 1, 1), timeout=timeout)
        assert ring.pop(timeout=timeout)["id"] == 1


@pytest.mark.parametrize("bad", [4.0, "4", True, None, np.float32(4)])
def test_capacity_must_be_an_integer(cls: Any, bad: Any) -> None:
    with pytest.raises(TypeError, match="capacity"):
        cls(bad, DT)
    with pytest.raises(TypeError, match="capacity"):
        cls.create(unique_name("badcap"), bad, DT)


def test_counts_must_be_integers(cls: Any) -> None:
    ring = cls(4, DT)
    ring.push((1, 1, 1, 1))
    for bad in (2.5, "3", True, None):
        with pytest.raises(TypeError, match="max_n"):
            ring.pop_many(bad)
    with pytest.raises(ValueError, match="max_n"):
        ring.pop_many(-1)
    assert ring.pop_many(np.int64(4))["id"].tolist() == [1]
    with pytest.raises(TypeError, match="name"):
        cls.create(42, 4, DT)
    with pytest.raises(TypeError, match="bool"):
        cls(4, True)


def test_the_three_rings_share_one_signature() -> None:
    """Same argument names and defaults for every ring (capacity first, then
    the record layout; wait and replace_stale by keyword)."""
    import inspect

    for method in (
        "__init__",
        "create",
        "attach",
        "push",
        "try_push",
        "push_many",
        "pop",
        "try_pop",
        "pop_many",
    ):
        sigs = {str(inspect.signature(getattr(c, method))) for c in RINGS}
        assert len(sigs) == 1, (method, sigs)


def test_close_drains_then_raises(cls: Any) -> None:
    with cls(4, DT) as ring:
        ring.push((1, 1, 1, 1))
        ring.push((2, 2, 2, 2))
    assert ring.closed
    with pytest.raises(Closed):
        ring.push((3, 3, 3, 3))
    with pytest.raises(Closed):
        ring.try_push((3, 3, 3, 3))
    assert ring.pop()["id"] == 1
    assert ring.pop_many(5)["id"].tolist() == [2]
    with pytest.raises(Closed):
        ring.pop()
    with pytest.raises(Closed):
        ring.try_pop()
    ring.close()  # idempotent


def test_close_wakes_blocked_threads(cls: Any) -> None:
    empty = cls(4, DT)
    full = cls(1, DT)
    full.push((0, 0, 0, 0))
    errors: list[BaseException] = []

    def run(f: Any) -> None:
        try:
            f()
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(empty.pop,)),
        threading.Thread(target=run, args=(lambda: empty.pop_many(3),)),
        threading.Thread(target=run, args=(lambda: full.push((1, 1, 1, 1)),)),
    ]
    for t in threads:
        t.start()
    # All three announced as sleepers: close() must wake them.
    assert eventually(lambda: empty.sleeping_consumers == 2 and full.sleeping_producers == 1)
    empty.close()
    full.close()
    for t in threads:
        t.join(PATIENCE)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 3
    assert all(isinstance(e, Closed) for e in errors)


def test_blocking_pop_stays_responsive_to_signals(cls: Any) -> None:
    ring = cls(4, DT)

    class Interrupted(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.15)
        # Were the handler not run while the pop waits, the pop would end by
        # its timeout (TimeoutError), not by the handler's exception.
        with pytest.raises(Interrupted):
            ring.pop(timeout=PATIENCE)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("wait", ["blocking", "yield", "spin"])
def test_threads_exactly_once_in_order(cls: Any, wait: str) -> None:
    producers = 1 if cls is SpscRing else 3
    n = 6000
    ring = cls(64, REC, wait=wait)

    def produce(p: int) -> None:
        recs = make_records(p, 0, n)
        i = 0
        while i < n:
            if i % 3 == 0:
                i += ring.push_many(recs[i : i + 10], timeout=None)
            else:
                ring.push(recs[i])
                i += 1

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in threads:
        t.start()
    nxt = [0] * producers
    got = 0
    while got < n * producers:
        batch = (
            ring.pop_many(32, timeout=PATIENCE) if got % 2 else np.array([ring.pop(timeout=PATIENCE)], REC)
        )
        assert len(batch) > 0
        assert intact(batch).all()
        for p, s in zip(batch["producer"].tolist(), batch["seq"].tolist(), strict=True):
            assert s == nxt[p]
            nxt[p] += 1
        got += len(batch)
    for t in threads:
        t.join()
    assert ring.try_pop() is None


def test_shared_create_attach_and_mismatch(cls: Any) -> None:
    name = unique_name("cam")
    owner = cls.create(name, 8, DT)
    assert owner.shared
    assert owner.owner
    assert owner.name == name
    peer = cls.attach(name)
    assert peer.dtype == DT
    assert peer.capacity == 8
    assert not peer.owner
    assert cls.attach(name, DT, capacity=8).capacity == 8
    owner.push((7, 8, 9, 1))
    assert peer.pop()["id"] == 7
    with pytest.raises(LayoutMismatch, match="dtype"):
        cls.attach(name, np.dtype([("id", "<u8"), ("price", "<i8"), ("qty", "<i4"), ("side", "i1")]))
    with pytest.raises(LayoutMismatch, match="byte records"):
        cls.attach(name, REC)
    with pytest.raises(LayoutMismatch, match="capacity"):
        cls.attach(name, capacity=16)
    other = MpscRing if cls is SpscRing else SpscRing
    with pytest.raises(LayoutMismatch, match="not an"):
        other.attach(name)
    with pytest.raises(AlreadyExists):
        cls.create(name, 8, DT)
    assert not cleanup_stale(name)  # owner alive
    # Shared rings pickle by name (for multiprocessing); in-process ones do not.
    clone = pickle.loads(pickle.dumps(peer))
    assert clone.name == name
    assert clone.dtype == DT
    with pytest.raises(TypeError, match="in-process"):
        pickle.dumps(cls(4, DT))
    peer.close()
    assert owner.closed
    del owner, peer, clone
    with pytest.raises(QueueError, match="no shared-memory ring"):
        cls.attach(name)
    assert not unlink(name)


def test_plain_dtype_and_raw_shared(cls: Any) -> None:
    name = unique_name("plain")
    ring = cls.create(name, 4, np.int64)
    peer = cls.attach(name)
    assert peer.dtype == np.dtype(np.int64)
    ring.push(5)
    assert peer.pop() == 5
    name2 = unique_name("raw")
    raw = cls.create(name2, 4, 24)
    assert cls.attach(name2).dtype is None
    assert cls.attach(name2).record_size == 24
    del raw


def test_repr(cls: Any) -> None:
    r = repr(cls(4, DT))
    assert cls.__name__ in r
    assert "in-process" in r
    assert "0/4" in r


def test_attach_returns_the_creators_padded_dtype(cls: Any) -> None:
    """A dtype with padding (trailing, between fields, aligned structs) comes
    back from attach() equal to the creator's, so its records push as they are."""
    from shanraq_core import BOOK_COMMAND_DTYPE, BOOK_EVENT_DTYPE

    aligned = np.dtype([("a", "<u8"), ("b", "u1"), ("c", "<u4")], align=True)
    for dt in (BOOK_COMMAND_DTYPE, BOOK_EVENT_DTYPE, aligned):
        name = unique_name("pad")
        owner = cls.create(name, 4, dt)
        peer = cls.attach(name)
        assert peer.dtype == dt
        assert cls.attach(name, dt).dtype == dt
        rec = np.zeros(2, dt)
        assert peer.push_many(rec) == 2
        peer.push(rec[0])
        assert len(owner.pop_many(4)) == 3
        del owner, peer


def test_pop_many_keeps_padding_bytes(cls: Any) -> None:
    """pop_many is a byte copy, padding included, whether it fills its
    buffer or returns a shorter batch."""
    from shanraq_core import BOOK_EVENT_DTYPE

    raw = bytes((i * 37 + 11) % 256 for i in range(BOOK_EVENT_DTYPE.itemsize * 5))
    recs = np.frombuffer(raw, dtype=BOOK_EVENT_DTYPE)
    ring = cls(8, BOOK_EVENT_DTYPE)
    ring.push_many(recs)
    full = ring.pop_many(2)
    partial = ring.pop_many(8)  # 3 of 8: the short-batch copy
    assert full.tobytes() + partial.tobytes() == raw
