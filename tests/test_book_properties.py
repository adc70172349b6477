"""Property tests of the matching engine: exact equality with the pure-Python
reference matcher on generated order flows over every order type and time in
force, invariants after every command, determinism, batch == per call, and
snapshot/restore mid-flow."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import CancelReason, EventType, MatchingEngine, OrderState, Side

from .book_flows import SYMBOLS, call, commands, event_tuples, new_engine, new_reference, ref_tuples, to_array

CONFIGS = st.sampled_from(
    [
        {"market_data": False},
        {"market_data": True},
        # Tight capacities exercise the capacity rejects and the id history.
        {"market_data": True, "max_orders": 6, "max_levels": 5, "id_history": 4, "max_symbols": 3},
    ]
)


def check_book(eng: MatchingEngine, ref: object) -> None:
    from .book_reference import ReferenceEngine

    assert isinstance(ref, ReferenceEngine)
    assert eng.symbol_count == len(ref.books)
    for sym, book in ref.books.items():
        info = eng.symbol_info(sym)
        assert info is not None
        spec = book.spec
        assert (info.tick_size, info.lot_size, info.min_price, info.max_price, info.max_qty) == (
            spec.tick_size, spec.lot_size, spec.min_price, spec.max_price, spec.max_qty,
        )  # fmt: skip
        assert info.halted == book.halted
        bid, ask = eng.best_bid(sym), eng.best_ask(sym)
        assert bid == ref.best(sym, 1)
        assert ask == ref.best(sym, 2)
        # The book never stays crossed.
        if bid is not None and ask is not None:
            assert bid[0] < ask[0]
        for side in (Side.BUY, Side.SELL):
            prices, qtys, counts = eng.depth(sym, side, 100)
            expected = ref.depth(sym, side)
            assert list(zip(prices.tolist(), qtys.tolist(), counts.tolist(), strict=True)) == expected
            for p in prices.tolist():
                assert eng.level_orders(sym, side, p) == ref.level_orders(sym, side, p)
    assert eng.live_orders == len(ref.live)
    assert eng.level_count == ref.level_count()


@given(flow=commands(), cfg=CONFIGS)
def test_events_equal_reference(flow: list[dict[str, int]], cfg: dict[str, int]) -> None:
    eng = new_engine(**cfg)
    ref = new_reference(**cfg)
    for c in flow:
        got = event_tuples(eng.process(to_array([c])))
        want = ref_tuples(ref.apply(c))
        assert got == want, f"command {c}"
        check_book(eng, ref)


@given(flow=commands(wild=True), cfg=CONFIGS)
def test_bad_records_match_reference_and_never_raise(flow: list[dict[str, int]], cfg: dict[str, int]) -> None:
    eng = new_engine(**cfg)
    ref = new_reference(**cfg)
    events = eng.process(to_array(flow))
    want = []
    for c in flow:
        want += ref_tuples(ref.apply(c))
    assert event_tuples(events) == want
    check_book(eng, ref)


@given(flow=commands(n_max=80))
def test_invariants_conservation_priority_and_gap_free_seq(flow: list[dict[str, int]]) -> None:
    eng = new_engine(market_data=True)
    first = eng.next_seq
    events = eng.process(to_array(flow))
    # Every command takes one seq and yields at least one event carrying it.
    assert eng.next_seq == first + len(flow)
    assert sorted(set(events["seq"].tolist())) == list(range(first, first + len(flow)))
    assert (np.diff(events["seq"].astype(np.int64)) >= 0).all()
    qty: dict[int, int] = {}
    done: dict[int, int] = defaultdict(int)
    stp_cut: dict[int, int] = defaultdict(int)
    for e in events:
        t, oid = int(e["type"]), int(e["order_id"])
        if t == EventType.ACCEPTED:
            qty[oid] = int(e["qty"])
        elif t == EventType.AMENDED:
            # An amend sets filled + open; what an STP decrement removed stays cancelled.
            qty[oid] = int(e["qty"]) + stp_cut[oid]
        elif t == EventType.TRADE:
            done[oid] += int(e["qty"])
            done[int(e["other_order_id"])] += int(e["qty"])
            assert e["qty"] > 0
        elif t == EventType.CANCELLED:
            done[oid] += int(e["qty"])
            if e["remaining"] > 0:
                stp_cut[oid] += int(e["qty"])
    for oid, q in qty.items():
        info = eng.order(oid)
        open_qty = info.remaining if info.state in (OrderState.RESTING, OrderState.PENDING_STOP) else 0
        assert done[oid] + open_qty == q, oid
    # Within one sweep of a taker (from its acceptance, amend or trigger to the
    # next), execution prices only get worse for it: best levels go first.
    # (Queue order within a level is checked exactly against the reference.)
    sweep_last: dict[int, int] = {}
    for e in events:
        t, oid, px = int(e["type"]), int(e["order_id"]), int(e["price"])
        if t in (EventType.ACCEPTED, EventType.AMENDED, EventType.TRIGGERED):
            sweep_last.pop(oid, None)
        elif t == EventType.TRADE:
            prev = sweep_last.get(oid)
            if prev is not None:
                assert px >= prev if e["side"] == Side.BUY else px <= prev
            sweep_last[oid] = px


@given(flow=commands(), market_data=st.booleans())
def test_per_call_equals_batch(flow: list[dict[str, int]], market_data: bool) -> None:
    a = new_engine(market_data=market_data)
    b = new_engine(market_data=market_data)
    batch = a.process(to_array(flow))
    per_call = []
    for c in flow:
        report = call(b, c)
        events = b.last_events()
        per_call.append(events)
        # The report agrees with the events it summarises.
        mine = events[events["type"] == EventType.TRADE]
        involved = mine[(mine["order_id"] == c["order_id"]) | (mine["other_order_id"] == c["order_id"])]
        if c["kind"] in (1, 2, 3):
            assert report.order_id == c["order_id"]
            assert report.filled == int(involved["qty"].sum())
            assert len(report.trades) == len(involved)
            rejected = (events["type"] == EventType.REJECTED) & (events["order_id"] == c["order_id"])
            assert report.accepted == (not rejected.any())
    joined = np.concatenate(per_call) if per_call else batch[:0]
    assert event_tuples(joined) == event_tuples(batch)
    assert a.state_hash() == b.state_hash()
    assert a.snapshot() == b.snapshot()


@given(flow=commands(n_max=80), cut=st.integers(0, 80), market_data=st.booleans())
def test_snapshot_restore_mid_flow(flow: list[dict[str, int]], cut: int, market_data: bool) -> None:
    cut = min(cut, len(flow))
    whole = new_engine(market_data=market_data, id_history=16)
    expected = whole.process(to_array(flow))
    first = new_engine(market_data=market_data, id_history=16)
    head = first.process(to_array(flow[:cut]))
    snap = first.snapshot()
    restored = MatchingEngine.restore(snap)
    assert restored.snapshot() == snap
    assert restored.state_hash() == first.state_hash()
    tail = restored.process(to_array(flow[cut:]))
    assert event_tuples(np.concatenate([head, tail])) == event_tuples(expected)
    assert restored.state_hash() == whole.state_hash()


@given(flow=commands())
def test_determinism(flow: list[dict[str, int]]) -> None:
    a, b = new_engine(), new_engine()
    ea, eb = a.process(to_array(flow)), b.process(to_array(flow))
    assert ea.tobytes() == eb.tobytes()
    assert a.state_hash() == b.state_hash()


def test_generated_flows_reach_every_event_and_reason() -> None:
    """The reference comparison is only as strong as the flows: they must
    reach every event type, every cancel reason and most reject reasons, and
    quantities at the int64 limit (QTY_OVERFLOW, open quantities above 2**62)."""
    from hypothesis import Phase, settings

    from shanraq_core import RejectReason

    seen_types: set[int] = set()
    seen_cancel: set[int] = set()
    seen_reject: set[int] = set()
    largest_level = 0

    # Derandomized, so each environment sees the same flows every run; but
    # which flows Hypothesis derives from its seed differs between
    # environments (150 flows reached ID_OUTSIDE_WINDOW, SYMBOL_CAPACITY and
    # QTY_OVERFLOW in one virtual environment and none of them in another),
    # so 400: both then reach each of those at least 6 times.
    @settings(derandomize=True, max_examples=400, database=None, phases=[Phase.generate])
    @given(flow=commands(n_max=80))
    def collect(flow: list[dict[str, int]]) -> None:
        nonlocal largest_level
        for cfg in (
            {"market_data": True},
            {"market_data": True, "max_orders": 6, "max_levels": 5, "id_history": 4, "max_symbols": 3},
        ):
            eng = new_engine(**cfg)
            ev = eng.process(to_array(flow))
            seen_types.update(ev["type"].tolist())
            seen_cancel.update(ev["reason"][ev["type"] == EventType.CANCELLED].tolist())
            seen_reject.update(ev["reason"][ev["type"] == EventType.REJECTED].tolist())
            for side in (Side.BUY, Side.SELL):
                largest_level = max([largest_level, *eng.depth(3, side, None)[1].tolist()])

    collect()
    assert seen_types == {int(t) for t in EventType}
    # CAPACITY and QTY_OVERFLOW (a triggered stop-limit finding no free level,
    # or no room on its side) need contrived books: test_triggered_stop_limit_without_a_level
    # and test_book_defects cover them.
    assert seen_cancel == {int(r) for r in CancelReason} - {
        CancelReason.NONE, CancelReason.CAPACITY, CancelReason.QTY_OVERFLOW,
    }  # fmt: skip
    expected = {
        RejectReason.DUPLICATE_ORDER_ID, RejectReason.UNKNOWN_ORDER, RejectReason.POST_ONLY_WOULD_TAKE,
        RejectReason.ORDER_CAPACITY, RejectReason.LEVEL_CAPACITY, RejectReason.INVALID_STOP_PRICE,
        RejectReason.ID_OUTSIDE_WINDOW, RejectReason.QTY_OVERFLOW, RejectReason.TOO_MANY_SLICES,
        RejectReason.DUPLICATE_SYMBOL, RejectReason.SYMBOL_CAPACITY, RejectReason.INVALID_SPEC,
        RejectReason.UNKNOWN_SYMBOL, RejectReason.SYMBOL_HALTED, RejectReason.SYMBOL_NOT_HALTED,
    }  # fmt: skip
    assert {int(r) for r in expected} <= seen_reject, expected - seen_reject
    assert largest_level > 2**62


def test_triggered_stop_limit_without_a_level() -> None:
    """Two stop-limits share a stop level; when the first triggers, all 4
    levels are in use, so it cannot rest (CAPACITY); the second then can,
    because its own trigger frees the stop level. Engine == reference."""
    from .book_flows import rec

    flow = [
        rec(kind=1, order_id=1, symbol=1, side=2, order_type=1, tif=1, price=101, qty=5),
        rec(kind=1, order_id=2, symbol=1, side=1, order_type=4, tif=1, price=99, stop_price=101, qty=1),
        rec(kind=1, order_id=3, symbol=1, side=1, order_type=4, tif=1, price=96, stop_price=101, qty=1),
        rec(kind=1, order_id=4, symbol=1, side=1, order_type=1, tif=1, price=98, qty=1),
        rec(kind=1, order_id=5, symbol=1, side=1, order_type=1, tif=1, price=97, qty=1),
        rec(kind=1, order_id=6, symbol=1, side=1, order_type=1, tif=2, price=101, qty=1),
    ]
    cfg = {"market_data": True, "max_levels": 4}
    eng, ref = new_engine(**cfg), new_reference(**cfg)
    events = eng.process(to_array(flow))
    want = []
    for c in flow:
        want += ref_tuples(ref.apply(c))
    assert event_tuples(events) == want
    cancelled = events[events["type"] == EventType.CANCELLED]
    assert cancelled["order_id"].tolist() == [2]
    assert cancelled["reason"].tolist() == [CancelReason.CAPACITY]
    assert eng.order(3).state == OrderState.RESTING
    assert eng.level_orders(1, Side.BUY, 96) == [3]


@given(flow=commands(n_max=80))
def test_market_data_rebuilds_the_l3_book(flow: list[dict[str, int]]) -> None:
    """Applying only the MD_ADD / MD_MODIFY / MD_DELETE events, as docs/book.md
    describes, reproduces every level's orders, their order and their shown
    quantities."""
    eng = new_engine(market_data=True)
    books: dict[tuple[int, int], dict[int, list[list[int]]]] = defaultdict(dict)
    where: dict[int, tuple[int, int, int]] = {}
    for c in flow:
        for e in eng.process(to_array([c])):
            t, oid = int(e["type"]), int(e["order_id"])
            if t == EventType.MD_ADD:
                key = (int(e["symbol"]), int(e["side"]))
                books[key].setdefault(int(e["price"]), []).append([oid, int(e["qty"])])
                where[oid] = (*key, int(e["price"]))
            elif t in (EventType.MD_MODIFY, EventType.MD_DELETE):
                sym, side, price = where[oid]
                queue = books[(sym, side)][price]
                i = next(k for k, (o, _) in enumerate(queue) if o == oid)
                if t == EventType.MD_MODIFY:
                    queue[i][1] = int(e["qty"])
                else:
                    del queue[i]
                    del where[oid]
                    if not queue:
                        del books[(sym, side)][price]
        for sym in SYMBOLS:
            for side in (Side.BUY, Side.SELL):
                levels = books[(sym, int(side))]
                prices, qtys, counts = eng.depth(sym, side, 1000)
                assert sorted(levels, reverse=side == Side.BUY) == prices.tolist()
                for p, q, n in zip(prices.tolist(), qtys.tolist(), counts.tolist(), strict=True):
                    queue = levels[p]
                    assert [o for o, _ in queue] == eng.level_orders(sym, side, p)
                    assert sum(v for _, v in queue) == q
                    assert len(queue) == n
                    assert all(eng.order(o).visible == v for o, v in queue)
