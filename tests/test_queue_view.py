"""pop_view(): zero-copy consumption. The array views the ring's slots; the
slots go back to producers only when the last reference to the array (or
any slice or view of it) is gone, so a record seen through a view never
changes; every other pop refuses to run meanwhile."""

from __future__ import annotations

import gc
import threading
from typing import Any

import numpy as np
import pytest

from shanraq_core import Closed, MpscRing, SpscRing
from tests.queue_helpers import PATIENCE, REC, eventually, intact, make_records, unique_name


@pytest.fixture(params=[SpscRing, MpscRing], ids=["spsc", "mpsc"])
def cls(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_view_is_in_place_read_only_and_released_on_del(cls: Any) -> None:
    ring = cls(8, REC)
    recs = make_records(0, 0, 8)
    assert ring.push_many(recs) == 8
    view = ring.pop_view(5)
    assert view.dtype == REC
    assert list(view["seq"]) == [0, 1, 2, 3, 4]
    assert not view.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        view["seq"] = 7
    # Still held: the ring is full and the producer cannot overwrite them.
    assert len(ring) == 8
    assert not ring.try_push(make_records(0, 8, 1)[0])
    with pytest.raises(RuntimeError, match="pop_view"):
        ring.try_pop()
    with pytest.raises(RuntimeError, match="pop_view"):
        ring.pop_many(1)
    with pytest.raises(RuntimeError, match="pop_view"):
        ring.pop_view(1)
    part = view[1:3]  # a slice keeps the slots too
    del view
    assert len(ring) == 8
    assert list(part["seq"]) == [1, 2]
    del part
    assert len(ring) == 3
    assert ring.push_many(make_records(0, 8, 5)) == 5
    rest = ring.pop_many(100)
    assert list(rest["seq"]) == list(range(5, 13))
    assert intact(rest).all()


def test_view_stops_at_the_wrap_and_on_empty(cls: Any) -> None:
    ring = cls(8, REC)
    ring.push_many(make_records(0, 0, 6))
    assert len(ring.pop_many(6)) == 6
    ring.push_many(make_records(0, 6, 5))  # slots 6, 7, then 0, 1, 2
    view = ring.pop_view(10)
    assert list(view["seq"]) == [6, 7]
    del view
    view = ring.pop_view(10)
    assert list(view["seq"]) == [8, 9, 10]
    del view
    empty = ring.pop_view(4, timeout=0.01)
    assert len(empty) == 0
    assert ring.try_pop() is None  # an empty result holds nothing
    assert len(ring.pop_view(0)) == 0
    with pytest.raises(ValueError, match="max_n"):
        ring.pop_view(-1)


def test_view_of_raw_byte_and_odd_sized_records(cls: Any) -> None:
    ring = cls(4, 12)  # 12-byte records sit in 16-byte slots
    ring.push(b"a" * 12)
    ring.push(b"b" * 12)
    view = ring.pop_view(4)
    assert view.dtype == np.dtype("V12")
    assert [v.tobytes() for v in view] == [b"a" * 12, b"b" * 12]
    del view
    assert len(ring) == 0


def test_closed_ring_drains_through_views_then_raises(cls: Any) -> None:
    ring = cls(4, REC)
    ring.push_many(make_records(0, 0, 2))
    ring.close()
    view = ring.pop_view(4)
    assert len(view) == 2
    del view
    with pytest.raises(Closed):
        ring.pop_view(4)


def test_view_waits_and_shared_rings_work(cls: Any) -> None:
    ring = cls.create(unique_name("view"), 16, REC)
    peer = cls.attach(ring.name)

    def push_once_waited_for() -> None:
        assert eventually(lambda: peer.sleeping_consumers > 0)
        peer.push_many(make_records(1, 0, 3))

    t = threading.Thread(target=push_once_waited_for)
    t.start()
    view = ring.pop_view(8, timeout=PATIENCE)
    t.join()
    assert list(view["seq"]) == [0, 1, 2]
    assert (view["producer"] == 1).all()
    del view
    gc.collect()
    assert len(ring) == 0


def test_threads_through_views_exactly_once_in_order(cls: Any) -> None:
    producers = 1 if cls is SpscRing else 2
    n = 4000
    ring = cls(32, REC)

    def produce(p: int) -> None:
        recs = make_records(p, 0, n)
        i = 0
        while i < n:
            i += ring.push_many(recs[i : i + 7], timeout=None)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for th in threads:
        th.start()
    nxt = [0] * producers
    got = 0
    while got < n * producers:
        view = ring.pop_view(16, timeout=10)
        assert len(view) > 0
        assert intact(view).all()
        for p, s in zip(view["producer"].tolist(), view["seq"].tolist(), strict=True):
            assert s == nxt[p]
            nxt[p] += 1
        got += len(view)
        del view
    for th in threads:
        th.join()
    assert ring.try_pop() is None


def test_view_in_a_garbage_cycle_is_released_by_the_collector(cls: Any) -> None:
    """A pop_view() array whose last references sit in a reference cycle (its
    buffer owner included) is freed by the cyclic collector, which may clear
    the objects of the cycle in any order: the slots must still go back to
    the ring, and the consumer must be free to pop again."""
    for shape in range(3):
        ring = cls.create(unique_name("gcview"), 8, REC)
        peer = cls.attach(ring.name, REC)
        assert ring.push_many(make_records(0, 0, 6)) == 6
        view = peer.pop_view(4)
        assert len(view) == 4
        lease = view.base  # the object that owns the slots
        cycle: list[Any] = [lease, view] if shape == 0 else [view, lease] if shape == 1 else [lease]
        cycle.append(cycle)
        if shape == 2:
            cycle.append(peer)  # the consumer handle in the garbage too
            del peer
        del view, lease, cycle
        gc.collect()
        assert len(ring) == 2, "the viewed slots were never released"
        if shape != 2:
            assert list(peer.pop_many(8)["seq"]) == [4, 5]
        else:
            assert list(cls.attach(ring.name, REC).pop_many(8)["seq"]) == [4, 5]
