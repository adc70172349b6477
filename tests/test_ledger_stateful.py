"""Stateful property test: random accounts, transfers, holds, posts, voids,
timeouts, balancing/closing transfers, limits, linked chains, imported
records, the passage of time, evictions and drains, per call, as
TigerBeetle-style batches and as command batches (chains left open between
them), drive the C++ ledger and the pure-Python reference ledger side by
side; every event, result (status and timestamp), balance, stored transfer
and history entry must agree, and the double-entry invariants must hold
after every step."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from shanraq_core import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    TransferFlags,
)
from tests.ledger_reference import ReferenceLedger
from tests.test_ledger_machine import Spec, events_as_tuples, streams, to_commands

AF = AccountFlags
TF = TransferFlags
R = CreateTransferResult
ACCOUNT_IDS = list(range(1, 13))
TRANSFER_IDS = st.integers(1, 40)
U64 = (1 << 64) - 1

# Accounts 1..8 always exist (ledger 1 except 8), with every balance flag;
# rules may add 9..12 with random, sometimes invalid, fields.
SEED_ACCOUNTS = [
    {"id": 1, "ledger": 1, "code": 1, "flags": 0, "limit": 0},
    {"id": 2, "ledger": 1, "code": 1, "flags": 0, "limit": 0},
    {"id": 3, "ledger": 1, "code": 1, "flags": AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.HISTORY, "limit": 0},
    {"id": 4, "ledger": 1, "code": 1, "flags": AF.DEBITS_MUST_NOT_EXCEED_CREDITS, "limit": 20},
    {"id": 5, "ledger": 1, "code": 1, "flags": AF.CREDITS_MUST_NOT_EXCEED_DEBITS, "limit": 30},
    {"id": 6, "ledger": 1, "code": 1, "flags": AF.HISTORY, "limit": 0},
    {"id": 7, "ledger": 1, "code": 2, "flags": AF.CREDITS_MUST_NOT_EXCEED_DEBITS | AF.HISTORY, "limit": 0},
    {"id": 8, "ledger": 2, "code": 1, "flags": 0, "limit": 0},
]

account_flags = st.sampled_from(
    [
        0,
        AF.DEBITS_MUST_NOT_EXCEED_CREDITS,
        AF.CREDITS_MUST_NOT_EXCEED_DEBITS,
        AF.HISTORY,
        AF.HISTORY | AF.DEBITS_MUST_NOT_EXCEED_CREDITS,
        AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS,
        AF.CLOSED,
    ]
)

accounts = st.fixed_dictionaries(
    {
        "id": st.sampled_from([0, *ACCOUNT_IDS]),
        "ledger": st.sampled_from([0, 1, 1, 2]),
        "code": st.sampled_from([1, 1, 2]),
        "flags": account_flags,
        "limit": st.sampled_from([0, 0, 5, 50]),
        "user_data_64": st.sampled_from([0, 7]),
    }
)

amounts = st.one_of(st.integers(0, 60), st.integers(1, 60), st.sampled_from([0, U64, U64 - 1]))
plain_flags = st.one_of(
    st.just(TF.NONE),
    st.just(TF.PENDING),
    st.sets(
        st.sampled_from(
            [TF.PENDING, TF.BALANCING_DEBIT, TF.BALANCING_CREDIT, TF.CLOSING_DEBIT, TF.CLOSING_CREDIT]
        ),
        max_size=3,
    ).map(lambda s: sum(s, TF.NONE)),
)
ledger1 = st.sampled_from([1, 2, 3, 4, 5, 6, 7])

# Mostly valid transfers between ledger-1 accounts; the noisy strategy covers
# the validation codes.
valid_transfers = (
    st.tuples(ledger1, ledger1, plain_flags)
    .filter(lambda x: x[0] != x[1])
    .flatmap(
        lambda x: st.fixed_dictionaries(
            {
                "id": TRANSFER_IDS,
                "debit_account_id": st.just(x[0]),
                "credit_account_id": st.just(x[1]),
                "amount": amounts,
                "ledger": st.just(1),
                "code": st.just(1),
                "flags": st.just(x[2]),
                "timeout_ns": st.sampled_from([0, 10, 1000]) if x[2] & TF.PENDING else st.just(0),
                "user_data_32": st.sampled_from([0, 3]),
            }
        )
    )
)
noisy_transfers = st.fixed_dictionaries(
    {
        "id": st.one_of(TRANSFER_IDS, st.sampled_from([0, U64])),
        "debit_account_id": st.sampled_from([0, *ACCOUNT_IDS, 99]),
        "credit_account_id": st.sampled_from([0, *ACCOUNT_IDS]),
        "amount": amounts,
        "ledger": st.sampled_from([0, 1, 1, 1, 2]),
        "code": st.sampled_from([0, 1, 1, 1]),
        "flags": plain_flags,
        "timeout_ns": st.sampled_from([0, 0, 1, 50, 1000, U64 >> 1]),
        "user_data_32": st.sampled_from([0, 3]),
    }
)
resolving_transfers = st.fixed_dictionaries(
    {
        "id": TRANSFER_IDS,
        "pending_id": st.one_of(TRANSFER_IDS, TRANSFER_IDS, st.just(0)),
        "amount": st.sampled_from([0, 0, 1, 10, 30, U64]),
        "flags": st.sampled_from(
            [
                TF.POST_PENDING_TRANSFER,
                TF.POST_PENDING_TRANSFER,
                TF.VOID_PENDING_TRANSFER,
                TF.POST_PENDING_TRANSFER | TF.PENDING,
            ]
        ),
        "debit_account_id": st.sampled_from([0, 0, 0, 1]),
        "ledger": st.sampled_from([0, 0, 1]),
        "user_data_32": st.sampled_from([0, 4]),
    }
)
any_transfer = st.one_of(
    valid_transfers, valid_transfers, valid_transfers, noisy_transfers, resolving_transfers
)


def linked_batch(
    items: st.SearchStrategy[dict[str, int]], bit: int
) -> st.SearchStrategy[list[dict[str, int]]]:
    return st.lists(st.tuples(items, st.booleans()), min_size=1, max_size=6).map(
        lambda pairs: [{**d, "flags": d["flags"] | (bit if link else 0)} for d, link in pairs]
    )


def pairs(results: np.ndarray) -> list[tuple[int, int]]:
    """A CREATE_RESULT_DTYPE array as (status, timestamp) pairs."""
    return [(int(r["status"]), int(r["timestamp"])) for r in results]


def to_array(records: list[dict[str, int]], dtype: np.dtype[np.void]) -> np.ndarray:
    arr = np.zeros(len(records), dtype=dtype)
    for i, r in enumerate(records):
        for k, v in r.items():
            arr[i][k] = v
    return arr


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real = Ledger(64, 4096, 8192)
        self.ref = ReferenceLedger()
        self.now = 0
        self.max_limit: dict[int, int] = {}

    @initialize(funding=st.lists(st.integers(1, 200), min_size=2, max_size=2))
    def seed_accounts(self, funding: list[int]) -> None:
        self.create_accounts_batch(SEED_ACCOUNTS)
        # Give the balance-limited accounts something to move.
        t = [
            {
                "id": 1000 + i,
                "debit_account_id": dr,
                "credit_account_id": cr,
                "amount": funding[i % 2],
                "ledger": 1,
                "code": 1,
                "flags": 0,
            }
            for i, (dr, cr) in enumerate([(1, 3), (1, 4), (5, 2), (7, 1)])
        ]
        got = self.real.create_transfers(to_array(t, TRANSFER_DTYPE), now_ns=self.now)
        assert pairs(got) == self.ref.create_transfer_results(t, now_ns=self.now)

    def create_accounts_batch(self, batch: list[dict[str, int]]) -> None:
        got = self.real.create_accounts(to_array(batch, ACCOUNT_DTYPE), now_ns=self.now)
        want = self.ref.create_account_results(batch, now_ns=self.now)
        assert pairs(got) == want
        for a in batch:
            self.max_limit[a["id"]] = max(self.max_limit.get(a["id"], 0), a.get("limit", 0))

    @rule(batch=linked_batch(accounts, AF.LINKED))
    def create_accounts(self, batch: list[dict[str, int]]) -> None:
        self.create_accounts_batch(batch)

    @rule(batch=linked_batch(any_transfer, TF.LINKED), dt=st.sampled_from([0, 0, 1, 10, 100, 2000]))
    def create_transfers(self, batch: list[dict[str, int]], dt: int) -> None:
        self.now += dt
        before = {t["id"]: self.real.lookup_transfer(t["id"]) for t in batch}
        got = pairs(self.real.create_transfers(to_array(batch, TRANSFER_DTYPE), now_ns=self.now))
        want = self.ref.create_transfer_results(batch, now_ns=self.now)
        assert got == want
        for r, _ in want:
            event(f"transfer {R(r).name}")
        created = {t["id"] for t, (r, _) in zip(batch, got, strict=True) if r == R.CREATED}
        for t, (r, _) in zip(batch, got, strict=True):
            # LINKED_EVENT_FAILED: a member of a failed chain leaves no transfer behind.
            if r == R.LINKED_EVENT_FAILED and t["id"] not in created and before[t["id"]] is None:
                assert self.real.lookup_transfer(t["id"]) is None

    @rule(
        batch=st.lists(st.tuples(valid_transfers, st.integers(0, 3), st.booleans()), min_size=1, max_size=5),
        dt=st.sampled_from([0, 50, 2000]),
    )
    def import_transfers(self, batch: list[tuple[dict[str, int], int, bool]], dt: int) -> None:
        """Imported transfers with timestamps in the ledger's past, mostly
        increasing (a step of 0 repeats a timestamp: regress), sometimes
        linked; holds keep their timeout now and then (refused)."""
        self.now += dt
        stamp = self.ref.last_timestamp
        records = []
        for t, step, link in batch:
            stamp += step
            r = {**t, "flags": t["flags"] | TF.IMPORTED | (TF.LINKED if link else 0), "timestamp": stamp}
            if r["timeout_ns"] and step % 2:
                r["timeout_ns"] = 0
            records.append(r)
        got = pairs(self.real.create_transfers(to_array(records, TRANSFER_DTYPE), now_ns=self.now))
        want = self.ref.create_transfer_results(records, now_ns=self.now)
        assert got == want
        for r, _ in want:
            event(f"import {R(r).name}")

    @rule(t=any_transfer, dt=st.sampled_from([0, 5, 500]))
    def transfer(self, t: dict[str, int], dt: int) -> None:
        self.now += dt
        got = self.real.transfer(
            t["id"],
            t.get("debit_account_id", 0),
            t.get("credit_account_id", 0),
            t["amount"],
            t.get("ledger", 0),
            t.get("code", 0),
            flags=t["flags"],
            pending_id=t.get("pending_id", 0),
            timeout_ns=t.get("timeout_ns", 0),
            user_data_32=t.get("user_data_32", 0),
            now_ns=self.now,
        )
        [(want, ts)] = self.ref.create_transfer_results([t], now_ns=self.now)
        assert (got, self.real.result_timestamp) == (want, ts)

    @rule(aid=st.sampled_from([0, *ACCOUNT_IDS]), limit=st.sampled_from([0, 3, 20, 100]))
    def set_limit(self, aid: int, limit: int) -> None:
        assert self.real.set_account_limit(aid, limit) == self.ref.set_account_limit(aid, limit)
        a = self.ref.lookup_account(aid)
        if a is not None:
            self.max_limit[aid] = max(self.max_limit.get(aid, 0), a.limit)

    @rule(dt=st.sampled_from([1, 100, 1000, 5000]))
    def advance_time(self, dt: int) -> None:
        self.now += dt
        assert self.real.advance_time(self.now) == self.ref.advance_time(self.now)

    @rule(specs=streams(max_size=8))
    def process_commands(self, specs: list[Spec]) -> None:
        """A batch of commands of every kind; a chain it leaves open stays
        open (in both) until a later step closes or ends it."""
        base = max(self.now, self.ref.clock)
        specs = [{**s, "time_ns": s["time_ns"] + base} if s["time_ns"] >= 0 else s for s in specs]
        got = events_as_tuples(self.real.process(to_commands(specs)))
        assert got == self.ref.process(specs)
        self.now = self.ref.clock
        assert self.real.open_chain_length == len(self.ref.chain)
        # A limit set by a command bounds the account like set_limit's.
        for aid in ACCOUNT_IDS:
            a = self.ref.lookup_account(aid)
            if a is not None:
                self.max_limit[aid] = max(self.max_limit.get(aid, 0), a.limit)

    @rule()
    def evict(self) -> None:
        assert self.real.evict() == 0  # no window: nothing to evict
        self.ref.evict()

    @rule()
    def drain(self) -> None:
        assert len(self.real.drain_evicted()) == 0  # no archive
        self.ref.drain_evicted()

    @precondition(lambda self: self.real.transfer_count > 0)
    @rule()
    def snapshot_round_trip(self) -> None:
        snap = self.real.snapshot()
        copy = pickle.loads(pickle.dumps(self.real))
        assert copy.snapshot() == snap
        assert copy.state_hash() == self.real.state_hash()
        self.real = copy

    @invariant()
    def matches_reference(self) -> None:
        assert self.real.last_timestamp == self.ref.last_timestamp
        assert self.real.next_seq == self.ref.next_seq
        assert self.real.now_ns == self.ref.clock
        for aid in ACCOUNT_IDS:
            a = self.real.lookup_account(aid)
            r = self.ref.lookup_account(aid)
            if r is None:
                assert a is None
                continue
            assert a is not None
            got = (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted, a.flags, a.limit)
            want = (r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted, r.flags, r.limit)
            assert got == want, (aid, got, want)
            assert a.timestamp == r.timestamp
            hist = self.real.account_history(aid)
            assert [tuple(int(v) for v in h) for h in hist] == r.history
        for tid in range(1, 41):
            t = self.real.lookup_transfer(tid)
            r = self.ref.lookup_transfer(tid)
            if r is None:
                assert t is None
                continue
            assert t is not None
            assert (
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.flags,
                t.pending_id,
                t.timestamp,
            ) == (
                r.debit_account_id,
                r.credit_account_id,
                r.amount,
                r.flags,
                r.pending_id,
                r.timestamp,
            )
            assert (t.user_data_32, t.pending_status, t.ledger, t.code) == (
                r.user_data_32,
                r.status,
                r.ledger,
                r.code,
            )

    @invariant()
    def double_entry_and_limits(self) -> None:
        sums: dict[int, list[int]] = {}
        for aid in ACCOUNT_IDS:
            a = self.real.lookup_account(aid)
            if a is None:
                continue
            s = sums.setdefault(a.ledger, [0, 0, 0, 0])
            s[0] += a.debits_pending
            s[1] += a.credits_pending
            s[2] += a.debits_posted
            s[3] += a.credits_posted
            limit = self.max_limit.get(aid, 0)
            if a.flags & AF.DEBITS_MUST_NOT_EXCEED_CREDITS:
                assert a.debits_pending + a.debits_posted <= a.credits_posted + limit
            if a.flags & AF.CREDITS_MUST_NOT_EXCEED_DEBITS:
                assert a.credits_pending + a.credits_posted <= a.debits_posted + limit
        for dp, cp, dpo, cpo in sums.values():
            assert dp == cp
            assert dpo == cpo


TestLedgerStateful = LedgerMachine.TestCase
