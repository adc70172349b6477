"""Order ids are unique for the engine's life. The engine remembers the last
``id_history`` finished ids exactly and, beyond that window, only the highest
id it evicted (``evicted_max``): an id that is not live, not in the window and
<= evicted_max is rejected ID_OUTSIDE_WINDOW. These tests check that no id is
ever accepted twice, that increasing ids are never refused, and that the new
state behaves identically per call, in batch, in the reference matcher and
across snapshot/restore."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import EventType, MatchingEngine, OrderState, RejectReason, Side

from .book_flows import call, commands, event_tuples, new_engine, new_reference, ref_tuples, to_array

BUY, SELL = Side.BUY, Side.SELL

WINDOWS = st.sampled_from([0, 1, 3, 8])


@st.composite
def random_id_flows(draw: st.DrawFn) -> list[dict[str, int]]:
    """Order flows whose submit, cancel and amend ids are drawn at random from a
    small range, so ids repeat, go backwards and fall out of the window."""
    flow = draw(commands(n_max=60))
    for c in flow:
        if c["kind"] in (1, 2, 3):
            c["order_id"] = draw(st.integers(1, 30))
    return flow


def accepted_ids(events: np.ndarray[Any, np.dtype[np.void]]) -> list[int]:
    return [int(i) for i in events["order_id"][events["type"] == EventType.ACCEPTED]]


def test_duplicate_of_an_evicted_id_is_rejected() -> None:
    eng = new_engine(id_history=2)
    for oid in (1, 2, 3, 4):
        assert eng.submit(oid, 1, BUY, 100, 1).status == OrderState.RESTING
        eng.cancel(oid)
    # The window holds 3 and 4; 1 and 2 were pushed out.
    assert eng.evicted_max == 2
    assert eng.order(1).state == OrderState.UNKNOWN
    assert eng.order(3).state == OrderState.CANCELLED
    assert eng.submit(3, 1, BUY, 100, 1).reason == RejectReason.DUPLICATE_ORDER_ID
    for oid in (1, 2):
        report = eng.submit(oid, 1, BUY, 100, 1)
        assert report.status == OrderState.REJECTED
        assert report.reason == RejectReason.ID_OUTSIDE_WINDOW
        assert eng.order(oid).state == OrderState.UNKNOWN
    assert eng.live_orders == 0
    assert eng.best_bid(1) is None
    # A live id is a duplicate whatever its value.
    assert eng.submit(5, 1, BUY, 100, 1).status == OrderState.RESTING
    assert eng.submit(5, 1, SELL, 105, 1).reason == RejectReason.DUPLICATE_ORDER_ID


def test_increasing_ids_after_eviction_are_accepted() -> None:
    for window in (0, 1, 5):
        eng = new_engine(id_history=window)
        oid = 0
        for step in range(200):
            oid += 1 + step % 3  # increasing, with gaps
            side = BUY if step % 2 else SELL
            report = eng.submit(oid, 1, side, 100, 1 + step % 4)
            assert report.accepted, (window, oid, report)
        assert eng.evicted_max < oid
        # Ids below the evicted maximum were used (or skipped) long ago: refused.
        assert eng.submit(1, 1, BUY, 100, 1).reason == RejectReason.ID_OUTSIDE_WINDOW
        assert eng.submit(oid + 1, 1, BUY, 100, 1).accepted


@given(flow=random_id_flows(), window=WINDOWS)
def test_random_ids_match_reference_and_are_never_accepted_twice(
    flow: list[dict[str, int]], window: int
) -> None:
    eng = new_engine(market_data=True, id_history=window)
    ref = new_reference(market_data=True, id_history=window)
    seen: set[int] = set()
    for c in flow:
        events = eng.process(to_array([c]))
        assert event_tuples(events) == ref_tuples(ref.apply(c)), f"command {c}"
        assert eng.evicted_max == ref.evicted_max
        for oid in accepted_ids(events):
            assert oid not in seen, f"id {oid} accepted twice"
            seen.add(oid)
        rejected = events[events["type"] == EventType.REJECTED]
        for e in rejected[rejected["reason"] == RejectReason.ID_OUTSIDE_WINDOW]:
            # Only ids the engine could not prove fresh: at or below the maximum.
            assert 0 < int(e["order_id"]) <= eng.evicted_max
            assert eng.order(int(e["order_id"])).state == OrderState.UNKNOWN


def test_random_old_ids_get_the_new_reason() -> None:
    eng = new_engine(id_history=4)
    for oid in range(1000, 1100):
        eng.submit(oid, 1, BUY, 100, 1)
        eng.cancel(oid)
    assert eng.evicted_max == 1095
    rng = np.random.default_rng(7)
    ids = [int(x) for x in rng.integers(1, 1096, size=50)]
    reasons = {int(eng.submit(oid, 1, BUY, 100, 1).reason) for oid in ids}
    assert reasons == {RejectReason.ID_OUTSIDE_WINDOW}
    # The last four finished ids are still known exactly.
    for oid in range(1096, 1100):
        assert eng.submit(oid, 1, BUY, 100, 1).reason == RejectReason.DUPLICATE_ORDER_ID
    assert eng.submit(1100, 1, BUY, 100, 1).accepted


@given(flow=random_id_flows(), window=WINDOWS)
def test_per_call_equals_batch_with_random_ids(flow: list[dict[str, int]], window: int) -> None:
    a = new_engine(id_history=window)
    b = new_engine(id_history=window)
    batch = a.process(to_array(flow))
    per_call = []
    for c in flow:
        report = call(b, c)
        events = b.last_events()
        per_call.append(events)
        if c["kind"] == 1:
            mine = events[(events["type"] == EventType.REJECTED) & (events["order_id"] == c["order_id"])]
            if len(mine) and mine["reason"][-1] == RejectReason.ID_OUTSIDE_WINDOW:
                assert report.reason == RejectReason.ID_OUTSIDE_WINDOW
    joined = np.concatenate(per_call) if per_call else batch[:0]
    assert event_tuples(joined) == event_tuples(batch)
    assert a.evicted_max == b.evicted_max
    assert a.snapshot() == b.snapshot()


@given(flow=random_id_flows(), cut=st.integers(0, 60), window=WINDOWS)
def test_snapshot_mid_window_continues_identically(flow: list[dict[str, int]], cut: int, window: int) -> None:
    cut = min(cut, len(flow))
    whole = new_engine(id_history=window)
    expected = whole.process(to_array(flow))
    first = new_engine(id_history=window)
    head = first.process(to_array(flow[:cut]))
    restored = MatchingEngine.restore(first.snapshot())
    assert restored.evicted_max == first.evicted_max
    assert restored.state_hash() == first.state_hash()
    tail = restored.process(to_array(flow[cut:]))
    assert event_tuples(np.concatenate([head, tail])) == event_tuples(expected)
    assert restored.state_hash() == whole.state_hash()


def test_evicted_max_is_part_of_the_state() -> None:
    """Two engines with the same book and window but different evicted maxima
    differ in state_hash and snapshot."""
    a, b = new_engine(id_history=1), new_engine(id_history=1)
    for eng, first in ((a, 1), (b, 2)):
        eng.submit(first, 1, BUY, 100, 1)
        eng.cancel(first)
        eng.submit(10, 1, BUY, 100, 1)
        eng.cancel(10)
    assert (a.evicted_max, b.evicted_max) == (1, 2)
    assert a.next_seq == b.next_seq
    assert a.state_hash() != b.state_hash()
    assert MatchingEngine.restore(b.snapshot()).evicted_max == 2
