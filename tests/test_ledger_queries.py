"""TigerBeetle 0.17's queries (get_account_transfers, get_account_balances,
query_accounts, query_transfers) against the reference ledger, which answers
them as TigerBeetle's documentation reads (every record tested, sorted,
limited): random command streams (chains that fail and roll back, holds,
posts, voids, expiries, imported records, remembered failures) and random
filters, valid or not; the table of filters TigerBeetle refuses; snapshots;
the windowed ledger (no index). Threads: tests/test_ledger_threads.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shanraq_core import (
    AccountFilterFlags,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    LedgerCommandKind,
    QueryFilterFlags,
    TransferFlags,
    make_transfer_id,
)
from shanraq_core.ledger import QUERY_LIMIT_MAX, TRANSFER_DTYPE
from tests.ledger_reference import U64, ReferenceLedger, command
from tests.test_ledger_machine import LAST, Spec, events_as_tuples, streams, to_commands

FF = AccountFilterFlags
K = LedgerCommandKind
UD128 = [0, 1, 2, 1 << 100]
SMALL = [0, 1, 2]


ACCOUNTS = [
    {"id": 1, "ledger": 1, "code": 1, "flags": AccountFlags.HISTORY, "user_data_64": 1},
    {"id": 2, "ledger": 1, "code": 2, "flags": 0, "user_data_64": 2, "user_data_128": 1 << 100},
    {"id": 3, "ledger": 1, "code": 1, "flags": AccountFlags.HISTORY, "user_data_32": 1},
    {"id": 4, "ledger": 1, "code": 2, "flags": 0},
    {"id": 6, "ledger": 2, "code": 1, "flags": AccountFlags.HISTORY, "user_data_32": 2},
    {"id": 7, "ledger": 2, "code": 1, "flags": 0, "user_data_128": 1},
]


@st.composite
def query_streams(draw: st.DrawFn) -> list[Spec]:
    """Mostly successful transfers among a few accounts (so that statements
    are long and filters match), with user data and codes from small sets:
    holds (timed ones expire), posts and voids, linked chains that fail and
    roll back, remembered failures, an imported request; then a tail of
    tests.test_ledger_machine's fully random commands."""
    out: list[Spec] = [
        command(K.CREATE_ACCOUNT, 1, LAST if i == len(ACCOUNTS) - 1 else 0, record=a)
        for i, a in enumerate(ACCOUNTS)
    ]
    t = 10
    holds: list[int] = []
    next_id = 100
    for _ in range(draw(st.integers(1, 50))):
        t += draw(st.sampled_from([0, 1, 3, 20]))
        what = draw(st.sampled_from(["t", "t", "t", "t", "hold", "resolve", "chain", "fail", "advance"]))
        ledger = draw(st.sampled_from([1, 1, 2]))
        ids = [1, 2, 3, 4] if ledger == 1 else [6, 7]
        dr = draw(st.sampled_from(ids))
        cr = draw(st.sampled_from([i for i in ids if i != dr]))
        rec = {
            "id": next_id,
            "debit_account_id": dr,
            "credit_account_id": cr,
            "amount": draw(st.integers(0, 20)),
            "ledger": ledger,
            "code": draw(st.sampled_from([1, 2])),
            "user_data_128": draw(st.sampled_from(UD128)),
            "user_data_64": draw(st.sampled_from(SMALL)),
            "user_data_32": draw(st.sampled_from(SMALL)),
        }
        next_id += 1
        if what == "t":
            out.append(command(K.CREATE_TRANSFER, t, LAST, record=rec))
        elif what == "hold":
            rec["flags"] = TransferFlags.PENDING
            rec["timeout_ns"] = draw(st.sampled_from([0, 5, 50]))
            holds.append(rec["id"])
            out.append(command(K.CREATE_TRANSFER, t, LAST, record=rec))
        elif what == "resolve" and holds:
            flag = draw(
                st.sampled_from([TransferFlags.POST_PENDING_TRANSFER, TransferFlags.VOID_PENDING_TRANSFER])
            )
            amount = draw(st.sampled_from([0, 1, U64])) if flag == TransferFlags.POST_PENDING_TRANSFER else 0
            record = {
                "id": rec["id"],
                "pending_id": draw(st.sampled_from(holds)),
                "flags": flag,
                "amount": amount,
                "user_data_64": rec["user_data_64"],
            }
            out.append(command(K.CREATE_TRANSFER, t, LAST, record=record))
        elif what == "chain":
            # A chain whose last member fails (unknown account): rolled back.
            first = {**rec, "flags": TransferFlags.LINKED}
            bad = {**rec, "id": next_id, "debit_account_id": 99}
            next_id += 1
            out.append(command(K.CREATE_TRANSFER, t, 0, record=first))
            out.append(command(K.CREATE_TRANSFER, t, LAST, record=bad))
        elif what == "fail":
            out.append(command(K.CREATE_TRANSFER, t, LAST, record={**rec, "credit_account_id": 98}))
        else:
            out.append(command(K.ADVANCE_TIME, t, LAST))
    # An imported request: timestamps in the past of later commands.
    if draw(st.booleans()):
        t += 100
        for k in range(draw(st.integers(1, 3))):
            rec = {
                "id": next_id + k,
                "debit_account_id": 1,
                "credit_account_id": 2,
                "amount": 1,
                "ledger": 1,
                "code": 1,
                "flags": TransferFlags.IMPORTED,
                "timestamp": t + k,
                "user_data_64": draw(st.sampled_from(SMALL)),
            }
            out.append(command(K.CREATE_TRANSFER, t + 50, LAST if k == 2 else 0, record=rec))
        out.append(command(K.ADVANCE_TIME, t + 60, LAST))
    tail = draw(streams(max_size=15))
    for c in tail:
        c["time_ns"] = max(c["time_ns"], 0) + (t + 100 if c["time_ns"] >= 0 else 0)
    return out + tail


def time_bounds() -> st.SearchStrategy[int]:
    return st.one_of(
        st.just(0),
        st.just(0),
        st.just(0),
        st.integers(1, 600),
        st.sampled_from([(1 << 63) - 1, 1 << 63, U64]),
    )


def mostly_zero(values: list[int]) -> st.SearchStrategy[int]:
    """Mostly 0 (no filter), so that filters match often enough."""
    return st.sampled_from([0, 0, 0, 0, 0, 0, *values])


account_filters = st.fixed_dictionaries(
    {
        "account_id": st.sampled_from([0, 1, 1, 1, 2, 2, 3, 3, 4, 6, 6, 7, 9, U64]),
        "user_data_128": mostly_zero(UD128),
        "user_data_64": mostly_zero(SMALL),
        "user_data_32": mostly_zero(SMALL),
        "code": mostly_zero([1, 2]),
        "timestamp_min": time_bounds(),
        "timestamp_max": time_bounds(),
        "limit": st.sampled_from([0, 1, 2, 3, 7, QUERY_LIMIT_MAX, QUERY_LIMIT_MAX + 1, (1 << 32) - 1]),
        "flags": st.one_of(st.integers(1, 7), st.integers(1, 7), st.sampled_from([0, 4, 8, 3 | 16, 1 << 31])),
    }
)
query_filters = st.fixed_dictionaries(
    {
        "user_data_128": mostly_zero(UD128),
        "user_data_64": mostly_zero(SMALL),
        "user_data_32": mostly_zero(SMALL),
        "ledger": mostly_zero([1, 2, 3]),
        "code": mostly_zero([1, 2]),
        "timestamp_min": time_bounds(),
        "timestamp_max": time_bounds(),
        "limit": st.sampled_from([0, 1, 2, 3, 7, QUERY_LIMIT_MAX, (1 << 32) - 1]),
        "flags": st.sampled_from([0, 0, 1, 1, 2, 1 << 31]),
    }
)

FIELDS = (
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "ledger",
    "code",
    "flags",
    "user_data_64",
    "user_data_32",
    "timestamp",
)


def transfers_of(arr: npt.NDArray[np.void]) -> list[tuple[int, ...]]:
    assert arr.dtype == TRANSFER_DTYPE
    return [
        (*(int(r[f]) for f in FIELDS), int(r["user_data_128_lo"]) | int(r["user_data_128_hi"]) << 64)
        for r in arr
    ]


def ref_transfers(ts: list[Any]) -> list[tuple[int, ...]]:
    return [(*(getattr(t, f) for f in FIELDS), t.user_data_128) for t in ts]


def built(specs: list[Spec], window: int = 0) -> tuple[Ledger, ReferenceLedger]:
    led = Ledger(64, 1024, 4096)
    ref = ReferenceLedger()
    assert events_as_tuples(led.process(to_commands(specs))) == ref.process(specs)
    return led, ref


@given(query_streams(), st.lists(account_filters, min_size=1, max_size=8))
@settings(max_examples=150)
def test_account_transfers_and_balances_match_the_reference(
    specs: list[Spec], filters: list[dict[str, int]]
) -> None:
    led, ref = built(specs)
    restored = Ledger.restore(led.snapshot())
    for f in filters:
        want = ref_transfers(ref.get_account_transfers(f))
        assert transfers_of(led.get_account_transfers(**f)) == want, f
        assert transfers_of(restored.get_account_transfers(**f)) == want
        balances = [tuple(int(x) for x in b) for b in led.get_account_balances(**f)]
        assert balances == ref.get_account_balances(f), f


@given(query_streams(), st.lists(query_filters, min_size=1, max_size=8))
@settings(max_examples=150)
def test_query_accounts_and_transfers_match_the_reference(
    specs: list[Spec], filters: list[dict[str, int]]
) -> None:
    led, ref = built(specs)
    for f in filters:
        assert transfers_of(led.query_transfers(**f)) == ref_transfers(ref.query_transfers(f)), f
        got = [
            (int(a["id"]), int(a["timestamp"]), int(a["user_data_64"]), int(a["code"]), int(a["ledger"]))
            for a in led.query_accounts(**f)
        ]
        want = [(a.id, a.timestamp, a.user_data_64, a.code, a.ledger) for a in ref.query_accounts(f)]
        assert got == want, f


def statement_ledger() -> Ledger:
    led = Ledger(8, 256, 1024)
    assert led.create_account(1, 1, 1, flags=AccountFlags.HISTORY) == CreateTransferResult.CREATED
    assert led.create_account(2, 1, 1) == CreateTransferResult.CREATED
    for i in range(1, 11):
        dr, cr = (1, 2) if i % 2 else (2, 1)
        assert led.transfer(i, dr, cr, i, 1, 1 + i % 2, user_data_64=i % 3) == CreateTransferResult.CREATED
    return led


# TigerBeetle 0.17's constraints on an AccountFilter (account_filter.md and
# its state machine): breaking any one answers nothing.
BAD_ACCOUNT_FILTERS = [
    ("account_id 0", {"account_id": 0}),
    ("account_id 2^64 - 1 (our int max)", {"account_id": U64}),
    ("no DEBITS or CREDITS", {"flags": 0}),
    ("REVERSED alone", {"flags": FF.REVERSED}),
    ("an unknown flag", {"flags": FF.DEBITS | FF.CREDITS | 8}),
    ("limit 0", {"limit": 0}),
    ("timestamp_min > timestamp_max", {"timestamp_min": 5, "timestamp_max": 4}),
    ("timestamp_min 2^64 - 1", {"timestamp_min": U64}),
    ("timestamp_max 2^64 - 1", {"timestamp_max": U64}),
    ("timestamp_max 2^63", {"timestamp_max": 1 << 63}),
    ("an unknown account", {"account_id": 99}),
]


@pytest.mark.parametrize(("what", "change"), BAD_ACCOUNT_FILTERS, ids=[w for w, _ in BAD_ACCOUNT_FILTERS])
def test_filters_tigerbeetle_refuses_answer_nothing(what: str, change: dict[str, int]) -> None:
    led = statement_ledger()
    f = {"account_id": 1, "flags": FF.DEBITS | FF.CREDITS, "limit": 10, **change}
    assert len(led.get_account_transfers(**f)) == 0
    assert len(led.get_account_balances(**f)) == 0


BAD_QUERY_FILTERS = [
    ("limit 0", {"limit": 0}),
    ("timestamp_min > timestamp_max", {"timestamp_min": 5, "timestamp_max": 4}),
    ("timestamp_min 2^63", {"timestamp_min": 1 << 63}),
    ("timestamp_max 2^64 - 1", {"timestamp_max": U64}),
    ("an unknown flag", {"flags": 2}),
]


@pytest.mark.parametrize(("what", "change"), BAD_QUERY_FILTERS, ids=[w for w, _ in BAD_QUERY_FILTERS])
def test_query_filters_tigerbeetle_refuses_answer_nothing(what: str, change: dict[str, int]) -> None:
    led = statement_ledger()
    assert len(led.query_transfers(**change)) == 0
    assert len(led.query_accounts(**change)) == 0


def test_the_valid_neighbours_of_the_refused_filters_answer() -> None:
    """The bad-filter table is not vacuous: the same ledger answers the
    nearest valid filters, with TigerBeetle's order, limit and bounds."""
    led = statement_ledger()
    assert [int(i) for i in led.get_account_transfers(1)["id"]] == list(range(1, 11))
    assert [int(i) for i in led.get_account_transfers(1, flags=FF.DEBITS)["id"]] == [1, 3, 5, 7, 9]
    assert [int(i) for i in led.get_account_transfers(1, flags=FF.CREDITS | FF.REVERSED, limit=2)["id"]] == [
        10,
        8,
    ]
    ts = [int(t) for t in led.get_account_transfers(1)["timestamp"]]
    got = led.get_account_transfers(1, timestamp_min=ts[3], timestamp_max=ts[3])
    assert [int(i) for i in got["id"]] == [4]
    assert [int(i) for i in led.get_account_transfers(1, user_data_64=2, code=1)["id"]] == [2, 8]
    assert len(led.get_account_transfers(1, limit=(1 << 32) - 1)) == 10
    assert len(led.get_account_balances(2)) == 0  # no HISTORY flag
    balances = led.get_account_balances(1, flags=FF.DEBITS, limit=1)
    assert [tuple(int(x) for x in b) for b in balances] == [(ts[0], 0, 1, 0, 0)]
    assert [int(i) for i in led.query_transfers(user_data_64=1, flags=QueryFilterFlags.REVERSED)["id"]] == [
        10,
        7,
        4,
        1,
    ]
    assert [int(a) for a in led.query_accounts(ledger=1, limit=1, flags=QueryFilterFlags.REVERSED)["id"]] == [
        2
    ]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 1 << 32}, ValueError),
        ({"limit": -1}, ValueError),
        ({"code": 1 << 16}, ValueError),
        ({"user_data_128": 1 << 128}, ValueError),
        ({"timestamp_min": 1 << 64}, ValueError),
        ({"flags": 1.5}, TypeError),
        ({"user_data_64": "1"}, TypeError),
    ],
)
def test_a_field_outside_its_type_raises(kwargs: dict[str, Any], error: type[Exception]) -> None:
    led = statement_ledger()
    with pytest.raises(error):
        led.get_account_transfers(1, **kwargs)
    with pytest.raises(error):
        led.query_transfers(**kwargs)


def test_a_statement_pages_through_a_long_history() -> None:
    """Paging with timestamp_min = last timestamp + 1 (TigerBeetle's recipe)
    visits every transfer of the account once, in order, both ways."""
    led = Ledger(4, 40_000, 16)
    led.create_account(1, 1, 1)
    led.create_account(2, 1, 1)
    led.create_account(3, 1, 1)
    tr = np.zeros(30_000, dtype=TRANSFER_DTYPE)
    tr["id"] = np.arange(1, 30_001)
    tr["debit_account_id"] = np.where(tr["id"] % 3 == 0, 3, 1)
    tr["credit_account_id"] = 2
    tr["amount"], tr["ledger"], tr["code"] = 1, 1, 1
    assert (led.create_transfers(tr[:8000])["status"] == CreateTransferResult.CREATED).all()
    assert (led.create_transfers(tr[8000:16000])["status"] == CreateTransferResult.CREATED).all()
    assert (led.create_transfers(tr[16000:24000])["status"] == CreateTransferResult.CREATED).all()
    assert (led.create_transfers(tr[24000:])["status"] == CreateTransferResult.CREATED).all()
    seen: list[int] = []
    tmin = 0
    while True:
        page = led.get_account_transfers(1, timestamp_min=tmin)
        if len(page) == 0:
            break
        assert len(page) <= QUERY_LIMIT_MAX
        seen += [int(i) for i in page["id"]]
        tmin = int(page["timestamp"][-1]) + 1
    assert seen == [i for i in range(1, 30_001) if i % 3 != 0]
    back: list[int] = []
    tmax = 0
    while True:
        page = led.get_account_transfers(3, timestamp_max=tmax, flags=FF.DEBITS | FF.CREDITS | FF.REVERSED)
        if len(page) == 0:
            break
        back += [int(i) for i in page["id"]]
        tmax = int(page["timestamp"][-1]) - 1
        if tmax == 0:
            break
    assert back == [i for i in range(30_000, 0, -1) if i % 3 == 0]


@st.composite
def windowed_specs(draw: st.DrawFn) -> list[tuple[int, int, int, int, int]]:
    """(ms, id sequence, debit, credit, user_data_64) for time-ordered transfers."""
    out = []
    ms = 1000
    for k in range(draw(st.integers(1, 60))):
        ms += draw(st.sampled_from([0, 1, 10, 40]))
        dr = draw(st.integers(1, 3))
        cr = draw(st.sampled_from([a for a in (1, 2, 3) if a != dr]))
        out.append((ms, k, dr, cr, draw(st.sampled_from(SMALL))))
    return out


@given(
    windowed_specs(), st.lists(account_filters, min_size=1, max_size=5), st.lists(query_filters, max_size=5)
)
@settings(max_examples=80)
def test_a_windowed_ledger_answers_for_the_transfers_it_still_stores(
    specs: list[tuple[int, int, int, int, int]], afs: list[dict[str, int]], qfs: list[dict[str, int]]
) -> None:
    """With an idempotency window (no index: eviction moves records) the
    queries read the store: the reference's answer restricted to what is
    still stored, compared with the full limit so eviction cannot shift a
    page."""
    ms = 1_000_000
    led = Ledger(8, 256, 64, idempotency_window_ns=20 * ms)
    ref = ReferenceLedger(idempotency_window_ns=20 * ms)
    for aid in (1, 2, 3):
        assert led.create_account(aid, 1, 1, now_ns=1000 * ms) == CreateTransferResult.CREATED
        ref.create_account(id=aid, ledger=1, code=1, now_ns=1000 * ms)
    for when, seq, dr, cr, ud in specs:
        tid = make_transfer_id(when, seq)
        got = led.transfer(tid, dr, cr, 1, 1, 1, user_data_64=ud, now_ns=when * ms)
        assert got == ref.transfer(
            id=tid,
            debit_account_id=dr,
            credit_account_id=cr,
            amount=1,
            ledger=1,
            code=1,
            user_data_64=ud,
            now_ns=when * ms,
        )
    stored = {t.id for t in ref.s.transfers.values() if led.lookup_transfer(t.id) is not None}
    for f in afs:
        f = {**f, "limit": QUERY_LIMIT_MAX}
        want = [t for t in ref_transfers(ref.get_account_transfers(f)) if t[0] in stored]
        assert transfers_of(led.get_account_transfers(**f)) == want
    for f in qfs:
        f = {**f, "limit": QUERY_LIMIT_MAX}
        want = [t for t in ref_transfers(ref.query_transfers(f)) if t[0] in stored]
        assert transfers_of(led.query_transfers(**f)) == want


@pytest.mark.parametrize("reuse", [False, True])
def test_a_rolled_back_chain_leaves_no_trace_in_the_statements(reuse: bool) -> None:
    """A linked chain that fails after its first member was applied rolls
    that member back; the account's statement must not show it, nor the
    transfer that later reuses its storage slot (the index's links from the
    account's last transfer to the rolled-back one are stale)."""
    led = Ledger(8, 64, 64)
    for aid in (1, 2, 3, 4):
        assert led.create_account(aid, 1, 1) == CreateTransferResult.CREATED
    assert led.transfer(10, 1, 2, 1, 1, 1) == CreateTransferResult.CREATED
    chain = np.zeros(2, dtype=TRANSFER_DTYPE)
    chain["id"] = [11, 12]
    chain["debit_account_id"] = [1, 99]
    chain["credit_account_id"] = 2
    chain["amount"], chain["ledger"], chain["code"] = 1, 1, 1
    chain["flags"][0] = TransferFlags.LINKED
    assert list(led.create_transfers(chain)["status"]) == [
        CreateTransferResult.LINKED_EVENT_FAILED,
        CreateTransferResult.DEBIT_ACCOUNT_NOT_FOUND,
    ]
    if reuse:
        assert led.transfer(13, 3, 4, 1, 1, 1) == CreateTransferResult.CREATED
    for aid in (1, 2):
        assert [int(i) for i in led.get_account_transfers(aid)["id"]] == [10]
        assert [
            int(i) for i in led.get_account_transfers(aid, flags=FF.DEBITS | FF.CREDITS | FF.REVERSED)["id"]
        ] == [10]
    assert [int(i) for i in led.get_account_transfers(3)["id"]] == ([13] if reuse else [])
    assert led.state_hash() == Ledger.restore(led.snapshot()).state_hash()


@pytest.mark.parametrize("field", ["user_data_128", "user_data_64"])
def test_a_rolled_back_chain_leaves_the_user_data_index_intact(field: str) -> None:
    """A rolled-back member is taken off its user-data chain: a transfer that
    then reuses its storage slot with another value must not cut the first
    value's chain (queries by that value still find its older transfers)."""
    led = Ledger(8, 64, 64)
    for aid in (1, 2):
        assert led.create_account(aid, 1, 1) == CreateTransferResult.CREATED
    assert led.transfer(10, 1, 2, 1, 1, 1, **{field: 7}) == CreateTransferResult.CREATED
    chain = np.zeros(2, dtype=TRANSFER_DTYPE)
    chain["id"] = [11, 12]
    chain["debit_account_id"], chain["credit_account_id"] = 1, 2
    chain["amount"], chain["ledger"], chain["code"] = 1, 1, [1, 0]  # code 0: not transient, not remembered
    chain["flags"][0] = TransferFlags.LINKED
    if field == "user_data_128":
        chain["user_data_128_lo"] = 7
    else:
        chain[field] = 7
    assert list(led.create_transfers(chain)["status"]) == [
        CreateTransferResult.LINKED_EVENT_FAILED,
        CreateTransferResult.CODE_MUST_NOT_BE_ZERO,
    ]
    assert led.transfer(13, 1, 2, 1, 1, 1, **{field: 8}) == CreateTransferResult.CREATED
    assert [int(i) for i in led.query_transfers(**{field: 7})["id"]] == [10]
    assert [int(i) for i in led.query_transfers(**{field: 8})["id"]] == [13]
    restored = Ledger.restore(led.snapshot())
    assert [int(i) for i in restored.query_transfers(**{field: 7})["id"]] == [10]


def test_a_page_from_a_time_bound_of_a_rare_account() -> None:
    """A page that starts at a time bound finds the account's first transfer
    past it by scanning the store near the bound, or, for an account rarer
    than that scan, from its list: both give every transfer once, in order."""
    n = 60_000
    led = Ledger(4, n, 16)
    for aid in (1, 2, 3):
        led.create_account(aid, 1, 1)
    tr = np.zeros(n, dtype=TRANSFER_DTYPE)
    tr["id"] = np.arange(1, n + 1)
    rare = tr["id"] % 9000 == 0
    tr["debit_account_id"] = np.where(rare, 3, 1)
    tr["credit_account_id"] = 2
    tr["amount"], tr["ledger"], tr["code"] = 1, 1, 1
    for i in range(0, n, 8190):
        assert (led.create_transfers(tr[i : i + 8190])["status"] == CreateTransferResult.CREATED).all()
    ts = {int(t["id"]): int(t["timestamp"]) for t in led.query_transfers(limit=1, flags=0)}
    first_ts = next(iter(ts.values()))
    rare_ids = [int(i) for i in tr["id"][rare]]
    for start in (0, 1, 8999, 9000, 9001, 30_000, 53_999, 54_000, 54_001, n):
        tmin = first_ts + start  # transfer k took timestamp first_ts + k - 1
        want = [i for i in rare_ids if i - 1 >= start]
        got = [int(i) for i in led.get_account_transfers(3, timestamp_min=tmin)["id"]]
        assert got == want, start
        back = [
            int(i)
            for i in led.get_account_transfers(
                3, timestamp_max=tmin, flags=FF.DEBITS | FF.CREDITS | FF.REVERSED
            )["id"]
        ]
        assert back == [i for i in reversed(rare_ids) if i - 1 <= start], start
