"""shanraq_core.Exchange against its reference (tests/exchange_reference.py):
identical events on random flows (fees and rounding included), every
invariant after every step, replay and snapshot+replay equal live, every
reject reason reached, bad input rejected without a change, and the Runner
driving it."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    EXCHANGE_COMMAND_DTYPE,
    EXCHANGE_EVENT_DTYPE,
    CommandKind,
    EventType,
    Exchange,
    ExchangeCommandKind,
    ExchangeEventType,
    ExchangeRejectReason,
    MatchingEngine,
    OrderType,
    Runner,
    SelfTradePrevention,
    Side,
    SpscRing,
    TimeInForce,
    Violation,
)
from shanraq_core.errors import SequenceError
from tests.exchange_reference import ReferenceExchange

K = ExchangeCommandKind
R = ExchangeRejectReason
ET = ExchangeEventType
BASE_FIELDS = [
    n
    for n in EXCHANGE_COMMAND_DTYPE.names or ()
    if n
    in (
        "seq",
        "time_ns",
        "kind",
        "side",
        "order_type",
        "tif",
        "stp",
        "flags",
        "reserved0",
        "symbol",
        "asset",
        "user",
        "order_id",
        "price",
        "qty",
        "stop_price",
        "display_qty",
        "expire_ns",
    )
]
EVENT_FIELDS = list(EXCHANGE_EVENT_DTYPE.names or ())
# Fields compared with the reference (all but padding).
COMPARED = [f for f in EVENT_FIELDS if f != "reserved0"]

ASSETS = (1, 2, 3)
SYMBOLS = {10: (1, 2, 10, 25, 1, 1), 20: (3, 2, 0, 7, 2, 3)}  # symbol: base, quote, maker, taker, bs, qs
USERS = (11, 12, 13, 14, 15)


def small() -> Exchange:
    return Exchange(
        max_users=64,
        max_assets=8,
        max_symbols=8,
        max_orders=4096,
        max_levels=4096,
        id_history=4096,
        max_accounts=1024,
        max_transfers=8192,
    )


def command(kind: int, **fields: int) -> dict[str, int]:
    c = dict.fromkeys(BASE_FIELDS, 0)
    c["kind"] = int(kind)
    c.update({k: int(v) for k, v in fields.items()})
    return c


def add_symbol_cmd(
    sym: int, base: int, quote: int, maker: int, taker: int, bs: int, qs: int
) -> dict[str, int]:
    return command(
        K.ADD_SYMBOL,
        symbol=sym,
        asset=base,
        user=quote | maker << 32 | taker << 48,
        order_id=bs | qs << 32,
        price=1,
        qty=1,
        stop_price=1,
        display_qty=10_000,
        expire_ns=1_000_000,
    )


def setup_commands() -> list[dict[str, int]]:
    cmds = [command(K.ADD_ASSET, asset=a) for a in ASSETS]
    cmds += [add_symbol_cmd(s, *spec) for s, spec in SYMBOLS.items()]
    cmds += [command(K.ADD_USER, user=u) for u in USERS]
    tid = 1
    for u in USERS:
        for a in ASSETS:
            cmds.append(command(K.DEPOSIT, user=u, asset=a, order_id=tid, qty=200_000))
            tid += 1
    return cmds


def to_array(cmds: list[dict[str, int]]) -> np.ndarray:
    arr = np.zeros(len(cmds), dtype=EXCHANGE_COMMAND_DTYPE)
    for i, c in enumerate(cmds):
        for k, v in c.items():
            arr[k][i] = v
    return arr


def as_dicts(events: np.ndarray) -> list[dict[str, int]]:
    return [{f: int(e[f]) for f in COMPARED} for e in events]


def apply_both(x: Exchange, ref: ReferenceExchange, c: dict[str, int]) -> list[dict[str, int]]:
    got = as_dicts(x.process(to_array([c])))
    want = [{f: int(e[f]) for f in COMPARED} for e in ref.apply(c)]
    assert got == want, f"command {c}"
    return got


order_commands = st.one_of(
    st.builds(
        lambda u, side, price, qty, kind, stp, disp: command(
            K.PLACE,
            user=u,
            symbol=10 if price % 2 else 20,
            side=side,
            order_type=(OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LIMIT)[kind % 4],
            tif=(
                TimeInForce.GTC,
                TimeInForce.IOC,
                TimeInForce.IOC,
                TimeInForce.GTC,
                TimeInForce.GTD,
                TimeInForce.GTC,
            )[kind],
            flags=1 if kind == 5 else 0,
            price=0 if kind == 2 and side == Side.SELL and price % 3 == 0 else price,
            qty=qty,
            stp=stp,
            stop_price=price if kind == 3 else 0,
            display_qty=disp,
        ),
        st.sampled_from(USERS),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(90, 110),
        st.integers(1, 60),
        st.integers(0, 5),
        st.sampled_from(list(SelfTradePrevention)),
        st.sampled_from([0, 0, 0, 3]),
    ),
    st.builds(
        lambda u, oid: command(K.CANCEL, user=u, order_id=oid), st.sampled_from(USERS), st.integers(1, 80)
    ),
    st.builds(
        lambda u, oid, price, qty: command(K.AMEND, user=u, order_id=oid, price=price, qty=qty),
        st.sampled_from(USERS),
        st.integers(1, 80),
        st.sampled_from([0, 0, 95, 105]),
        st.integers(0, 80),
    ),
    st.builds(
        lambda u, f: command(K.MASS_CANCEL, user=u, symbol=10, flags=f),
        st.sampled_from(USERS),
        st.sampled_from([0, 2]),
    ),
    st.builds(
        lambda dep, u, a, amt, tid: command(
            K.DEPOSIT if dep else K.WITHDRAW, user=u, asset=a, order_id=tid, qty=amt
        ),
        st.booleans(),
        st.sampled_from(USERS),
        st.sampled_from(ASSETS),
        st.integers(1, 300_000),
        st.integers(1000, 1 << 40),
    ),
    st.builds(
        lambda u, n, m: command(K.SET_LIMITS, user=u, qty=n, price=m),
        st.sampled_from(USERS),
        st.integers(0, 6),
        st.sampled_from([0, 0, 3000, 100_000]),
    ),
    st.builds(
        lambda u, a, m: command(K.SET_POSITION_LIMIT, user=u, asset=a, stop_price=m),
        st.sampled_from(USERS),
        st.sampled_from(ASSETS),
        st.sampled_from([0, 0, 250_000]),
    ),
)


class ExchangeMachine(RuleBasedStateMachine):
    """Random flows over 5 users, 3 assets and 2 symbols: events equal the
    reference's, balances equal its balances, every invariant holds."""

    def __init__(self) -> None:
        super().__init__()
        self.x = small()
        self.ref = ReferenceExchange()
        self.next_oid = 1
        self.t = 0
        for c in setup_commands():
            apply_both(self.x, self.ref, c)

    @rule(c=order_commands)
    def step(self, c: dict[str, int]) -> None:
        self.t += 1
        c["time_ns"] = self.t
        if c["kind"] == K.PLACE:
            c["order_id"] = self.next_oid
            self.next_oid += 1
            if c["tif"] == TimeInForce.GTD:
                c["expire_ns"] = self.t + 1 + c["qty"] % 40
        elif c["kind"] in (K.CANCEL, K.AMEND):
            c["order_id"] = 1 + c["order_id"] % max(self.next_oid, 1)
        apply_both(self.x, self.ref, c)

    @rule(dt=st.integers(0, 50))
    def advance(self, dt: int) -> None:
        self.t += dt
        apply_both(self.x, self.ref, command(K.ADVANCE_TIME, time_ns=self.t))

    @precondition(lambda self: self.next_oid % 7 == 0)
    @rule()
    def snapshot_round_trip(self) -> None:
        snap = self.x.snapshot()
        y = Exchange.restore(snap)
        assert y.snapshot() == snap
        assert y.state_hash() == self.x.state_hash()

    @invariant()
    def invariants_hold(self) -> None:
        report = self.x.check_invariants()
        assert report.violation == Violation.NONE, report.message
        for u in USERS:
            for a in ASSETS:
                b = self.x.balance(u, a)
                assert (b.total, b.held, b.available) == self.ref.balance(u, a)
                assert b.held >= 0
                assert b.available >= 0
        for a in ASSETS:
            total = sum(self.x.balance(u, a).total for u in USERS) + self.x.fee_balance(a)
            assert total == -self.x.external_balance(a)


TestExchangeMachine = ExchangeMachine.TestCase
TestExchangeMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)


@settings(max_examples=25, deadline=None)
@given(st.lists(order_commands, min_size=1, max_size=120), st.integers(0, 119))
def test_replay_and_snapshot_plus_replay_equal_live(flow: list[dict[str, int]], cut: int) -> None:
    cmds = setup_commands()
    for i, c in enumerate(flow):
        c["time_ns"] = i
        if c["kind"] == K.PLACE:
            c["order_id"] = i + 1
        cmds.append(c)
    arr = to_array(cmds)
    live = small()
    live_events = []
    snap = b""
    cut = len(setup_commands()) + cut % len(flow)
    for i in range(len(arr)):
        if i == cut:
            snap = live.snapshot()
        live_events.append(live.process(arr[i : i + 1]))
    replay = small()
    assert replay.process(arr).tobytes() == np.concatenate(live_events).tobytes()
    assert replay.state_hash() == live.state_hash()
    restored = Exchange.restore(snap)
    rest = restored.process(arr[cut:])
    assert rest.tobytes() == np.concatenate(live_events[cut:]).tobytes()
    assert restored.snapshot() == live.snapshot()


def ready() -> Exchange:
    x = small()
    x.process(to_array(setup_commands()))
    return x


def test_every_reject_reason_is_reached() -> None:
    x = Exchange(
        max_users=7,
        max_assets=4,
        max_symbols=4,
        max_orders=16,
        max_levels=64,
        id_history=64,
        max_accounts=64,
        max_transfers=64,
    )
    seen: set[int] = set()

    def r(rep: Any) -> None:
        if rep.rejected:
            seen.add(int(rep.reason))

    r(x.add_asset(0))
    r(x.add_asset(1))
    r(x.add_asset(1))
    r(x.add_asset(2))
    r(x.add_user(0))
    r(x.add_user(7))
    r(x.add_user(7))
    r(x.add_user(8))
    r(x.add_symbol(10, 1, 9))
    r(x.add_symbol(10, 1, 1))
    r(x.add_symbol(10, 1, 2, maker_fee_bps=10_001))
    r(x.add_symbol(10, 1, 2, base_scale=0))
    r(x.add_symbol(10, 1, 2, tick_size=0))
    r(
        x.add_symbol(
            10, 1, 2, tick_size=5, lot_size=2, min_price=5, max_price=1000, max_qty=1000, taker_fee_bps=10
        )
    )
    r(x.add_symbol(10, 1, 2))
    r(x.deposit(7, 2, 0, 5))
    r(x.deposit(7, 2, 1, 0))
    r(x.deposit(7, 2, 1, 1 << 62))
    r(x.deposit(7, 2, 1, (1 << 62) - 1))
    r(x.deposit(7, 2, 2, 10))  # supply limit
    r(x.withdraw(7, 2, 1, 5))  # duplicate id
    r(x.deposit(99, 2, 3, 5))
    r(x.deposit(7, 99, 3, 5))
    r(x.deposit(8, 1, 4, 1000))
    r(x.withdraw(8, 1, 5, 1001))
    r(x.place(7, 1, 99, Side.BUY, 10, 2))
    r(x.place(99, 1, 10, Side.BUY, 10, 2))
    r(x.place(7, 0, 10, Side.BUY, 10, 2))
    r(x.place(7, 1, 10, 5, 10, 2))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, order_type=9))
    r(x.place(7, 1, 10, Side.BUY, 10, 0))
    r(x.place(7, 1, 10, Side.BUY, -10, 2))
    r(x.place(7, 1, 10, Side.BUY, 0, 2, order_type=OrderType.MARKET, tif=TimeInForce.IOC))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, order_type=OrderType.MARKET, tif=TimeInForce.GTC))
    r(x.place(7, 1, 10, Side.BUY, 1 << 40, 1 << 30))
    r(x.place(8, 1, 10, Side.SELL, 10, 2000))  # insufficient
    r(x.place(7, 1, 10, Side.BUY, 2000, 2))  # band
    r(x.place(7, 1, 10, Side.BUY, 11, 2))  # off tick
    r(x.place(7, 1, 10, Side.BUY, 10, 3))  # off lot
    r(x.place(7, 1, 10, Side.BUY, 10, 2, stp=9))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, display_qty=-1))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, tif=TimeInForce.GTD, expire_ns=0))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, order_type=OrderType.STOP_LIMIT, stop_price=-5))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, order_type=OrderType.STOP_LIMIT, stop_price=10, post_only=True))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, tif=9))
    r(x.place(7, 1, 10, Side.BUY, 10, 2, display_qty=1, tif=TimeInForce.IOC))
    x.place(7, 2, 10, Side.BUY, 10, 2)
    r(x.place(7, 2, 10, Side.BUY, 10, 2))  # duplicate id (open)
    r(x.place(8, 3, 10, Side.SELL, 10, 2, post_only=True))
    r(x.cancel(8, 2))
    r(x.cancel(8, 77))
    r(x.cancel(99, 2))
    r(x.amend(7, 2, qty=-1))
    r(x.cancel(7, 2))
    r(x.place(7, 2, 10, Side.BUY, 10, 2))  # finished id: duplicate
    x.set_limits(7, max_open_orders=1, max_notional=100)
    r(x.place(7, 4, 10, Side.BUY, 100, 2))
    x.place(7, 5, 10, Side.BUY, 10, 2)
    r(x.place(7, 6, 10, Side.BUY, 10, 2))
    x.set_limits(7)
    x.set_position_limit(7, 1, 3)
    r(x.place(7, 6, 10, Side.BUY, 10, 4))
    r(x.amend(7, 5, qty=2, price=10 + 5))  # ok
    r(x.set_limits(7, max_open_orders=-1))
    r(x.set_position_limit(7, 99, 3))
    r(x.halt_symbol(10))
    r(x.halt_symbol(10))
    r(x.resume_symbol(10))
    r(x.resume_symbol(10))
    r(x.mass_cancel(99))
    r(x.place(8, 7, 10, Side.SELL, 10, 2, order_type=OrderType.LIMIT, tif=TimeInForce.GTC))  # ok
    r(x.advance_time(-1))
    for u in range(100, 110):
        r(x.add_user(u))
    for a in range(3, 10):
        r(x.add_asset(a))
    r(x.amend(7, 5, qty=1 << 62))
    tiny = Exchange(
        max_users=4,
        max_assets=4,
        max_symbols=1,
        max_orders=4,
        max_levels=4,
        id_history=4,
        max_accounts=4,
        max_transfers=4,
    )
    r(tiny.add_asset(1))
    r(tiny.add_user(7))
    r(tiny.add_asset(2))
    seen_names = {R(v).name for v in seen}
    unreachable_here = {
        "NONE",
        "INVALID_COMMAND",
        "UNSUPPORTED_COMBINATION",
        "AMEND_BELOW_FILLED",
        "ORDER_CAPACITY",
        "LEVEL_CAPACITY",
        "ID_OUTSIDE_WINDOW",
        "SYMBOL_CAPACITY",
        "QTY_OVERFLOW",
        "TOO_MANY_SLICES",
        "LEDGER_REJECTED",
        "TRANSFER_CAPACITY",
        "INVALID_FLAGS",
        "INVALID_DISPLAY_QTY",
    }
    missing = {m.name for m in R} - seen_names - unreachable_here
    assert not missing, f"never reached: {sorted(missing)}"


def test_bad_arguments_raise_typed_errors_and_change_nothing() -> None:
    x = ready()
    h = x.state_hash()
    with pytest.raises(TypeError):
        x.place(11, 1, 10, Side.BUY, 1.5, 2)
    with pytest.raises(TypeError):
        x.place(11, 1, 10, Side.BUY, 10, "2")
    with pytest.raises(TypeError):
        x.place(11, 1, 10, Side.BUY, 10, 2, post_only=1)
    with pytest.raises(ValueError, match="qty"):
        x.place(11, 1, 10, Side.BUY, 10, 1 << 64)
    with pytest.raises(ValueError, match="user"):
        x.place(-1, 1, 10, Side.BUY, 10, 2)
    with pytest.raises(ValueError, match="maker_fee_bps"):
        x.add_symbol(30, 1, 2, maker_fee_bps=1 << 16)
    with pytest.raises(TypeError):
        x.process([1, 2, 3])
    with pytest.raises(ValueError, match="unknown user"):
        x.balance(99, 1)
    assert x.state_hash() == h
    # Rejected commands consume a sequence number and change nothing else.
    before = x.snapshot()
    rep = x.place(11, 1, 10, Side.BUY, 10**9, 10**10)
    assert rep.rejected
    assert rep.reason == R.NOTIONAL_OVERFLOW
    rep = x.place(11, 1, 10, Side.BUY, 100, 10**6)
    assert rep.rejected
    assert rep.reason == R.INSUFFICIENT_BALANCE
    y = Exchange.restore(before)
    y.process(to_array([command(K.ADVANCE_TIME, time_ns=0), command(K.ADVANCE_TIME, time_ns=0)]))
    assert x.balance(11, 2) == y.balance(11, 2)
    assert x.open_orders(11) == []


def test_batch_never_raises_mid_batch_and_checks_sequence_first() -> None:
    x = ready()
    bad = to_array(
        [
            command(K.PLACE, user=11, symbol=10, order_id=1, side=1, order_type=1, tif=1, price=100, qty=-5),
            command(99),
            command(K.CANCEL, user=11, order_id=5),
        ]
    )
    ev = x.process(bad)
    assert list(ev["type"]) == [ET.REJECTED] * 3
    assert list(ev["reason"]) == [R.INVALID_QTY, R.INVALID_COMMAND, R.UNKNOWN_ORDER]
    seq = x.next_seq
    stamped = to_array([command(K.ADVANCE_TIME), command(K.ADVANCE_TIME)])
    stamped["seq"] = [seq, seq + 5]
    with pytest.raises(SequenceError):
        x.process(stamped)
    assert x.next_seq == seq


def test_ownership_is_a_security_property() -> None:
    x = ready()
    assert not x.place(11, 1, 10, Side.BUY, 100, 5).rejected
    assert not x.place(12, 2, 10, Side.BUY, 100, 5).rejected
    for other in (12, 13, 14, 15):
        assert x.cancel(other, 1).reason == R.NOT_OWNER
        assert x.amend(other, 1, qty=1).reason == R.NOT_OWNER
    assert x.mass_cancel(12).count == 1
    assert x.open_orders(11) == [1]
    assert x.order_hold(1) is not None
    assert x.order_hold(2) is None


def test_per_call_reports_and_queries() -> None:
    x = ready()
    rep = x.place(11, 1, 10, Side.SELL, 100, 30)
    assert (rep.rejected, rep.remaining, rep.hold) == (False, 30, 30)
    rep = x.place(12, 2, 10, Side.BUY, 101, 10)
    # 1000 notional, taker 25 bp = 2 (floor of 2.5), maker 10 bp = 1.
    assert (rep.filled, rep.remaining, rep.trades, rep.fees, rep.hold) == (10, 0, 1, 2, 0)
    assert x.balance(12, 2).total == 200_000 - 1002
    assert x.balance(11, 2).total == 200_000 + 999
    assert x.fee_balance(2) == 3
    assert x.best_ask(10) == (100, 20)
    assert x.depth(10, Side.SELL) == [(100, 20, 1)]
    assert x.level_orders(10, Side.SELL, 100) == [1]
    assert x.last_events()["type"][-1] == ET.TRADE
    assert x.deposit(13, 1, 999, 5).available == 200_005
    assert x.withdraw(13, 1, 1000, 5).available == 200_000
    assert x.advance_time(10).count == 0


def test_the_runner_drives_the_exchange() -> None:
    cmds = setup_commands()
    for i in range(200):
        cmds.append(
            command(
                K.PLACE,
                user=USERS[i % 5],
                symbol=10,
                order_id=i + 1,
                side=1 + i % 2,
                order_type=1,
                tif=1,
                price=95 + i % 11,
                qty=1 + i % 7,
                time_ns=i,
            )
        )
    arr = to_array(cmds)
    n_events = len(small().process(arr))
    x = small()
    commands = SpscRing(64, Exchange.COMMAND_DTYPE)
    events = SpscRing(64, Exchange.EVENT_DTYPE)
    stamped = SpscRing(1024, Exchange.COMMAND_DTYPE)

    def produce() -> None:
        for i in range(len(arr)):
            commands.push(arr[i])

    got = np.zeros(n_events, dtype=EXCHANGE_EVENT_DTYPE)
    with Runner(x, commands, events, batch=16, time_source="command", stamped=stamped):
        producer = threading.Thread(target=produce)
        producer.start()
        n = 0
        while n < n_events:
            part = events.pop_many(min(64, n_events - n), timeout=60.0)
            assert len(part) > 0
            got[n : n + len(part)] = part
            n += len(part)
        producer.join()
    applied = np.array(stamped.pop_many(len(arr)), copy=True)
    replay = small()
    assert replay.process(applied).tobytes() == got.tobytes()
    assert replay.state_hash() == x.state_hash()
    assert x.check_invariants()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 9),
            st.sampled_from(USERS),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(95, 105),
            st.integers(1, 40),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=150,
    )
)
def test_settled_trades_equal_the_matching_engines(flow: list[tuple[int, int, int, int, int, int]]) -> None:
    """With money ample and every cancel and amend from the owner, the exchange
    sends the engine exactly the flow's orders: its trades (and so what it
    settles) are the bare engine's, trade for trade."""
    x = ready()
    for n, (u, a) in enumerate((u, a) for u in USERS for a in ASSETS):
        assert not x.deposit(u, a, (1 << 50) + n, 10**12).rejected
    e = MatchingEngine(max_orders=4096, max_levels=4096, id_history=4096, max_symbols=8)
    e.add_symbol(10, tick_size=1, lot_size=1, min_price=1, max_price=10_000, max_qty=1_000_000)
    owner: dict[int, int] = {}
    xc: list[dict[str, int]] = []
    bc = np.zeros(len(flow), dtype=BOOK_COMMAND_DTYPE)
    for i, (what, user, side, price, qty, pick) in enumerate(flow):
        oid = i + 1
        live = sorted(owner)
        if what < 7 or not live:
            tif = TimeInForce.IOC if what == 6 else TimeInForce.GTC
            owner[oid] = user
            xc.append(
                command(
                    K.PLACE,
                    user=user,
                    symbol=10,
                    order_id=oid,
                    side=side,
                    order_type=1,
                    tif=tif,
                    price=price,
                    qty=qty,
                    time_ns=i,
                )
            )
            book_fields = {
                "kind": CommandKind.SUBMIT,
                "side": side,
                "order_type": 1,
                "tif": tif,
                "symbol": 10,
                "order_id": oid,
                "account": user,
                "price": price,
                "qty": qty,
            }
        else:
            target = live[pick % len(live)]
            if what < 9:
                xc.append(command(K.CANCEL, user=owner[target], order_id=target, time_ns=i))
                book_fields = {"kind": CommandKind.CANCEL, "order_id": target}
            else:
                xc.append(command(K.AMEND, user=owner[target], order_id=target, price=price, time_ns=i))
                book_fields = {"kind": CommandKind.AMEND, "order_id": target, "price": price}
        book_fields["time_ns"] = i
        for name, value in book_fields.items():
            bc[name][i] = value
    xev = x.process(to_array(xc))
    bev = e.process(bc)
    fields = ["order_id", "other_order_id", "price", "qty", "remaining", "other_remaining"]
    xt = xev[xev["type"] == ET.TRADE][fields]
    bt = bev[bev["type"] == EventType.TRADE][fields]
    assert xt.tolist() == bt.tolist()
    assert x.check_invariants()
