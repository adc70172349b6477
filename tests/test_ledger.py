"""Behaviour of shanraq_core.Ledger: TigerBeetle's documented scenarios, bad
input, batch API, history, limits, capacities, snapshots."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core import (
    ACCOUNT_DTYPE,
    LEDGER_COMMAND_DTYPE,
    TRANSFER_DTYPE,
    AccountFlags,
    CapacityError,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    SetLimitResult,
    TransferFlags,
    make_transfer_id,
)
from shanraq_core.ledger import MAX_TIME_NS, PendingStatus
from tests.ledger_reference import ReferenceLedger

AF = AccountFlags
TF = TransferFlags
R = CreateTransferResult
U64 = (1 << 64) - 1
USD, EUR = 1, 2


def make(*accounts: tuple[int, int, int]) -> Ledger:
    """A ledger with (id, ledger, flags) accounts, code 1."""
    led = Ledger(64, 1024, 1024)
    for aid, ledger, flags in accounts:
        assert led.create_account(aid, ledger, 1, flags=flags) == CreateAccountResult.CREATED
    return led


def transfers(*rows: dict[str, int]) -> np.ndarray:
    arr = np.zeros(len(rows), dtype=TRANSFER_DTYPE)
    for i, row in enumerate(rows):
        for k, v in row.items():
            if k == "user_data_128":  # numpy has no u128: two little-endian words
                arr[i]["user_data_128_lo"] = v & ((1 << 64) - 1)
                arr[i]["user_data_128_hi"] = v >> 64
            else:
                arr[i][k] = v
    return arr


# ---- TigerBeetle's documented scenarios ---------------------------------------


def test_two_phase_payment() -> None:
    # Reserve funds, then capture part of them; the rest returns to the payer.
    led = make((1, USD, 0), (2, USD, AF.DEBITS_MUST_NOT_EXCEED_CREDITS), (3, USD, 0))
    assert led.transfer(10, 1, 2, 500, USD, 1) == R.CREATED  # fund the customer
    assert led.transfer(11, 2, 3, 400, USD, 1, flags=TF.PENDING, timeout_ns=60_000_000_000) == R.CREATED
    assert led.balance(2) == 100
    assert led.transfer(12, 2, 3, 101, USD, 1) == R.EXCEEDS_CREDITS  # the hold counts
    assert led.post_pending(13, 11, 350) == R.CREATED
    customer = led.lookup_account(2)
    assert (customer.debits_pending, customer.debits_posted, customer.credits_posted) == (0, 350, 500)
    assert led.balance(2) == 150
    assert led.lookup_transfer(11).pending_status == PendingStatus.POSTED
    assert led.lookup_transfer(13).amount == 350
    assert led.void_pending(14, 11) == R.PENDING_TRANSFER_ALREADY_POSTED


def test_currency_exchange_as_linked_transfers() -> None:
    # Alice pays USD to the exchange's USD account; the exchange's EUR account
    # pays Bob: two transfers across ledgers that succeed or fail together.
    led = make((1, USD, 0), (2, USD, AF.DEBITS_MUST_NOT_EXCEED_CREDITS), (3, USD, 0))
    for aid in (4, 5):
        led.create_account(aid, EUR, 1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid == 4 else 0)
    led.create_account(6, EUR, 1)
    assert led.transfer(1, 1, 2, 100, USD, 1) == R.CREATED  # Alice holds 100 USD
    assert led.transfer(2, 6, 4, 90, EUR, 1) == R.CREATED  # exchange holds 90 EUR
    fx = transfers(
        {"id": 10, "debit_account_id": 2, "credit_account_id": 3, "amount": 100, "ledger": USD, "code": 1,
         "flags": TF.LINKED},
        {"id": 11, "debit_account_id": 4, "credit_account_id": 5, "amount": 92, "ledger": EUR, "code": 1},
    )  # fmt: skip
    assert list(led.create_transfers(fx)["status"]) == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert led.lookup_account(2).debits_posted == 0
    fx[1]["amount"] = 90
    fx["id"] += 10
    assert list(led.create_transfers(fx)["status"]) == [R.CREATED, R.CREATED]
    assert led.balance(2) == 0
    assert led.lookup_account(5).credits_posted == 90
    assert led.transfer(30, 2, 5, 1, USD, 1) == R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER


def test_balance_bounded_sweep() -> None:
    led = make((1, USD, 0), (2, USD, AF.DEBITS_MUST_NOT_EXCEED_CREDITS), (3, USD, 0))
    led.transfer(1, 1, 2, 37, USD, 1)
    assert led.transfer(2, 2, 3, U64, USD, 1, flags=TF.BALANCING_DEBIT) == R.CREATED
    assert led.lookup_transfer(2).amount == 37
    assert led.balance(2) == 0
    # A retry with any bound at least what moved is the same transfer.
    assert led.transfer(2, 2, 3, 37, USD, 1, flags=TF.BALANCING_DEBIT) == R.EXISTS
    assert led.transfer(2, 2, 3, 36, USD, 1, flags=TF.BALANCING_DEBIT) == R.EXISTS_WITH_DIFFERENT_AMOUNT
    # Nothing left: a balancing transfer moves zero.
    assert led.transfer(3, 2, 3, 10, USD, 1, flags=TF.BALANCING_DEBIT) == R.CREATED
    assert led.lookup_transfer(3).amount == 0


def test_closing_an_account() -> None:
    led = make((1, USD, 0), (2, USD, 0))
    led.transfer(1, 1, 2, 10, USD, 1)
    close = TF.PENDING | TF.CLOSING_DEBIT | TF.CLOSING_CREDIT
    assert led.transfer(2, 2, 1, 0, USD, 1, flags=close) == R.CREATED
    assert led.lookup_account(1).flags & AF.CLOSED
    assert led.lookup_account(2).flags & AF.CLOSED
    assert led.transfer(3, 1, 2, 1, USD, 1) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    assert led.transfer(3, 1, 2, 1, USD, 1) == R.ID_ALREADY_FAILED  # transient failures stick
    assert led.set_account_limit(1, 0) == SetLimitResult.ACCOUNT_CLOSED
    assert led.void_pending(4, 2) == R.CREATED  # voiding the closing hold reopens both
    assert not led.lookup_account(1).flags & AF.CLOSED
    assert led.transfer(5, 1, 2, 1, USD, 1) == R.CREATED


def test_holds_expire_deterministically_with_command_time() -> None:
    led = make((1, USD, 0), (2, USD, 0))
    sec = 1_000_000_000
    assert (
        led.transfer(1, 1, 2, 50, USD, 1, flags=TF.PENDING, timeout_ns=5 * sec, now_ns=100 * sec) == R.CREATED
    )
    assert led.lookup_transfer(1).timestamp == 100 * sec
    assert led.advance_time(105 * sec - 1) == 0
    assert led.lookup_account(1).debits_pending == 50
    # The next command's time releases the hold before the command applies.
    assert led.transfer(2, 1, 2, 1, USD, 1, now_ns=105 * sec) == R.CREATED
    assert led.lookup_account(1).debits_pending == 0
    assert led.lookup_transfer(1).pending_status == PendingStatus.EXPIRED
    assert led.post_pending(3, 1) == R.PENDING_TRANSFER_EXPIRED


def test_linked_chain_reports_which_member_failed() -> None:
    led = make((1, USD, 0), (2, USD, AF.DEBITS_MUST_NOT_EXCEED_CREDITS))
    arr = transfers(
        *[{"id": 10 + i, "debit_account_id": 1, "credit_account_id": 2, "amount": 5, "ledger": USD, "code": 1,
           "flags": TF.LINKED} for i in range(3)],
        {"id": 13, "debit_account_id": 2, "credit_account_id": 1, "amount": 16, "ledger": USD, "code": 1},
    )  # fmt: skip
    before = led.state_hash()
    out = led.create_transfers(arr)["status"]
    assert list(out) == [R.LINKED_EVENT_FAILED] * 3 + [R.EXCEEDS_CREDITS]
    assert all(led.lookup_transfer(i) is None for i in range(10, 14))
    assert led.lookup_account(2).credits_posted == 0
    assert led.state_hash() != before  # the clock and the failed id moved, nothing else
    arr[3]["amount"] = 15
    arr[3]["id"] = 14
    assert list(led.create_transfers(arr)["status"]) == [R.CREATED] * 4


# ---- idempotency ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("flags", TF.PENDING, R.EXISTS_WITH_DIFFERENT_FLAGS),
        ("debit_account_id", 3, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
        ("credit_account_id", 3, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
        ("amount", 6, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ("user_data_128", 1 << 100, R.EXISTS_WITH_DIFFERENT_USER_DATA_128),
        ("user_data_64", 9, R.EXISTS_WITH_DIFFERENT_USER_DATA_64),
        ("user_data_32", 9, R.EXISTS_WITH_DIFFERENT_USER_DATA_32),
        ("ledger", EUR, R.EXISTS_WITH_DIFFERENT_LEDGER),
        ("code", 2, R.EXISTS_WITH_DIFFERENT_CODE),
    ],
)
def test_exists_with_different_field(field: str, value: int, code: R) -> None:
    led = make((1, USD, 0), (2, USD, 0), (3, USD, 0))
    base = {"id": 7, "debit_account_id": 1, "credit_account_id": 2, "amount": 5, "ledger": USD, "code": 1}
    assert led.transfer(**base, user_data_128=(1 << 90) + 3) == R.CREATED
    assert led.transfer(**base, user_data_128=(1 << 90) + 3) == R.EXISTS
    kwargs = {**base, "user_data_128": (1 << 90) + 3, field: value}
    assert led.transfer(**kwargs) == code
    assert led.lookup_transfer(7).user_data_128 == (1 << 90) + 3
    assert led.lookup_account(1).debits_posted == 5


# ---- bad input ----------------------------------------------------------------------


def test_validation_codes() -> None:
    led = make((1, USD, 0), (2, USD, 0), (3, EUR, 0))
    assert led.transfer(0, 1, 2, 1, USD, 1) == R.ID_MUST_NOT_BE_ZERO
    assert led.transfer(U64, 1, 2, 1, USD, 1) == R.ID_MUST_NOT_BE_INT_MAX
    assert led.transfer(5, 0, 2, 1, USD, 1) == R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
    assert led.transfer(5, 1, U64, 1, USD, 1) == R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
    assert led.transfer(5, 1, 1, 1, USD, 1) == R.ACCOUNTS_MUST_BE_DIFFERENT
    assert led.transfer(5, 1, 2, 1, 0, 1) == R.LEDGER_MUST_NOT_BE_ZERO
    assert led.transfer(5, 1, 2, 1, USD, 0) == R.CODE_MUST_NOT_BE_ZERO
    assert led.transfer(5, 1, 3, 1, USD, 1) == R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
    assert led.transfer(5, 1, 2, 1, EUR, 1) == R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
    assert led.transfer(5, 1, 2, 1, USD, 1, flags=1 << 9) == R.RESERVED_FLAG
    assert led.transfer(5, 1, 2, 1, USD, 1, timeout_ns=3) == R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    assert led.transfer(5, 1, 2, 1, USD, 1, pending_id=3) == R.PENDING_ID_MUST_BE_ZERO
    both = TF.POST_PENDING_TRANSFER | TF.VOID_PENDING_TRANSFER
    assert led.transfer(5, 0, 0, 0, flags=both, pending_id=4) == R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    assert led.transfer(5, 0, 0, 0, flags=TF.POST_PENDING_TRANSFER) == R.PENDING_ID_MUST_NOT_BE_ZERO
    assert led.transfer(5, 9, 2, 1, USD, 1) == R.DEBIT_ACCOUNT_NOT_FOUND
    assert led.transfer(6, 1, 9, 1, USD, 1) == R.CREDIT_ACCOUNT_NOT_FOUND
    # Overflow is rejected, never wrapped.
    assert led.transfer(7, 1, 2, U64, USD, 1) == R.CREATED
    assert led.transfer(8, 1, 2, 1, USD, 1) == R.OVERFLOWS_DEBITS_POSTED
    assert led.lookup_account(1).debits_posted == U64
    assert led.transfer_count == 3  # one stored transfer and two remembered failed ids


def test_programmer_errors_raise() -> None:
    led = make((1, USD, 0), (2, USD, 0))
    with pytest.raises(ValueError, match="amount"):
        led.transfer(1, 1, 2, -1, USD, 1)
    with pytest.raises(ValueError, match="id"):
        led.transfer(1 << 64, 1, 2, 1, USD, 1)
    with pytest.raises(ValueError, match="ledger"):
        led.transfer(1, 1, 2, 1, 1 << 32, 1)
    with pytest.raises(ValueError, match="code"):
        led.transfer(1, 1, 2, 1, USD, 1 << 16)
    with pytest.raises(TypeError, match="amount"):
        led.transfer(1, 1, 2, 1.5, USD, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        led.transfer(1, 1, 2, True, USD, 1)
    with pytest.raises(ValueError, match="user_data_128"):
        led.transfer(1, 1, 2, 1, USD, 1, user_data_128=1 << 128)
    with pytest.raises(ValueError, match="now"):
        led.transfer(1, 1, 2, 1, USD, 1, now_ns=1 << 63)
    with pytest.raises(TypeError, match="dtype"):
        led.create_transfers(np.zeros(2, dtype=ACCOUNT_DTYPE))
    with pytest.raises(TypeError):
        led.create_transfers([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one-dimensional"):
        led.create_transfers(np.zeros((2, 2), dtype=TRANSFER_DTYPE))
    with pytest.raises(KeyError):
        led.balance(99)
    with pytest.raises(ValueError, match="max_accounts"):
        Ledger(0)
    assert led.transfer_count == 0
    assert led.lookup_account(1).debits_posted == 0


@pytest.mark.parametrize(
    "fields",
    [
        # Every conversion path of the per-call binding: big multi-digit ids
        # (time-ordered ids are > 2**60), IntFlag members, user data of every width.
        {"id": (1 << 63) + 5, "flags": TF.PENDING, "timeout_ns": (1 << 40) + 3},
        {"id": (1 << 62) + 7, "user_data_128": (1 << 127) + 9, "user_data_64": (1 << 64) - 1},
        {"id": (1 << 31) + 1, "user_data_32": (1 << 32) - 1, "amount": (1 << 35) + 1},
        {"id": 9, "flags": TF.LINKED},  # a lone linked transfer: a chain left open
        {"id": 10, "flags": TF.PENDING | TF.LINKED},
        {"id": 11, "amount": 10**12},  # exceeds the debit account's credits: transient, remembered
    ],
)
def test_per_call_is_a_batch_of_one(fields: dict[str, int]) -> None:
    """transfer(...) skips the batch pipeline: the same answer, state and
    timestamps as create_transfers of that one record, and so does a retry."""
    fields = {"debit_account_id": 4, "credit_account_id": 1, "amount": 7, "ledger": USD, "code": 1, **fields}
    a, b = fresh(), fresh()
    assert (
        b.create_transfers(
            transfers(
                {
                    "id": 1,
                    "debit_account_id": 1,
                    "credit_account_id": 4,
                    "amount": 100,
                    "ledger": USD,
                    "code": 1,
                }
            ),
            now_ns=5,
        )["status"]
        == R.CREATED
    ).all()
    assert a.transfer(1, 1, 4, 100, USD, 1, now_ns=5) == R.CREATED
    for now in (50, 60):
        got = a.transfer(now_ns=now, **fields)
        assert isinstance(got, R)
        want = b.create_transfers(transfers(fields), now_ns=now)
        assert [int(got)] == list(want["status"])
        assert a.result_timestamp == int(want["timestamp"][0])
        assert a.snapshot() == b.snapshot()
    assert a.lookup_transfer(fields["id"]) == b.lookup_transfer(fields["id"])


def test_per_call_rejects_bad_integers_without_changing_state() -> None:
    led = fresh()
    before = led.snapshot()
    for bad, err in (
        (-1, ValueError),
        (1 << 64, ValueError),
        (True, TypeError),
        (2.0, TypeError),
        ("1", TypeError),
    ):
        for name in ("debit_account_id", "amount", "pending_id", "timeout_ns", "user_data_64", "now_ns"):
            args = {
                "id": 3,
                "debit_account_id": 4,
                "credit_account_id": 1,
                "amount": 7,
                "ledger": USD,
                "code": 1,
            }
            with pytest.raises(err, match=name):
                led.transfer(**{**args, name: bad})
    assert led.snapshot() == before


def test_account_results() -> None:
    led = make((1, USD, 0))
    assert led.create_account(1, USD, 1) == CreateAccountResult.EXISTS
    assert led.create_account(1, EUR, 1) == CreateAccountResult.EXISTS_WITH_DIFFERENT_LEDGER
    assert led.create_account(1, USD, 1, flags=AF.HISTORY) == CreateAccountResult.EXISTS_WITH_DIFFERENT_FLAGS
    assert led.create_account(0, USD, 1) == CreateAccountResult.ID_MUST_NOT_BE_ZERO
    assert led.create_account(2, 0, 1) == CreateAccountResult.LEDGER_MUST_NOT_BE_ZERO
    assert led.create_account(2, USD, 0) == CreateAccountResult.CODE_MUST_NOT_BE_ZERO
    both = AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS
    assert led.create_account(2, USD, 1, flags=both) == CreateAccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    assert led.create_account(2, USD, 1, limit=5) == CreateAccountResult.LIMIT_REQUIRES_BALANCE_FLAG
    arr = np.zeros(3, dtype=ACCOUNT_DTYPE)
    arr["id"] = [5, 6, 7]
    arr["ledger"] = USD
    arr["code"] = 1
    arr["credits_posted"][2] = 1
    arr["flags"][:2] = AF.LINKED
    assert list(led.create_accounts(arr)["status"]) == [
        CreateAccountResult.LINKED_EVENT_FAILED,
        CreateAccountResult.LINKED_EVENT_FAILED,
        CreateAccountResult.CREDITS_POSTED_MUST_BE_ZERO,
    ]
    assert led.account_count == 1


# ---- limits, history, capacity, snapshots ------------------------------------------------


def test_overdraft_and_credit_limits() -> None:
    led = make((1, USD, 0))
    led.create_account(2, USD, 1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS, limit=100)
    led.create_account(3, USD, 1, flags=AF.CREDITS_MUST_NOT_EXCEED_DEBITS, limit=10)
    assert led.balance(2) == 100
    assert led.transfer(1, 2, 1, 101, USD, 1) == R.EXCEEDS_CREDITS
    assert led.transfer(2, 2, 1, 100, USD, 1) == R.CREATED
    assert led.balance(2) == 0
    assert led.set_account_limit(2, 50) == SetLimitResult.OK
    assert led.balance(2) == -50  # lowered below use: blocks further debits only
    assert led.transfer(3, 2, 1, 1, USD, 1) == R.EXCEEDS_CREDITS
    assert led.transfer(4, 1, 2, 60, USD, 1) == R.CREATED
    assert led.balance(2) == 10
    assert led.transfer(5, 1, 3, 11, USD, 1) == R.EXCEEDS_DEBITS
    assert led.transfer(6, 1, 3, 10, USD, 1) == R.CREATED
    assert led.set_account_limit(1, 5) == SetLimitResult.LIMIT_REQUIRES_BALANCE_FLAG
    assert led.set_account_limit(9, 5) == SetLimitResult.ACCOUNT_NOT_FOUND


def test_history_by_time() -> None:
    led = make((1, USD, AF.HISTORY), (2, USD, 0))
    for i, now in enumerate([1_000, 2_000, 3_000, 4_000]):
        assert led.transfer(i + 1, 1 + i % 2, 2 - i % 2, 10 * (i + 1), USD, 1, now_ns=now) == R.CREATED
    h = led.account_history(1)
    assert list(h["timestamp"]) == [1_000, 2_000, 3_000, 4_000]
    assert list(h["debits_posted"]) == [10, 10, 40, 40]
    assert list(h["credits_posted"]) == [0, 20, 20, 60]
    mid = led.account_history(1, since=1_500, until=3_000)
    assert list(mid["timestamp"]) == [2_000, 3_000]
    assert list(led.account_history(1, limit=1)["timestamp"]) == [1_000]
    assert len(led.account_history(2)) == 0


def test_capacity_errors_change_nothing() -> None:
    led = Ledger(2, 3, 4)
    led.create_account(1, USD, 1)
    led.create_account(2, USD, 1)
    with pytest.raises(CapacityError, match="account capacity"):
        led.create_account(3, USD, 1)
    arr = transfers(*[{"id": i, "debit_account_id": 1, "credit_account_id": 2, "amount": 1, "ledger": USD,
                       "code": 1} for i in range(1, 5)])  # fmt: skip
    before = led.snapshot()
    with pytest.raises(CapacityError, match="transfer capacity"):
        led.create_transfers(arr)
    assert led.snapshot() == before
    assert list(led.create_transfers(arr[:3])["status"]) == [R.CREATED] * 3
    with pytest.raises(CapacityError):
        led.transfer(9, 1, 2, 1, USD, 1)


def test_snapshot_restore_and_pickle() -> None:
    led = make((1, USD, AF.HISTORY), (2, USD, 0))
    led.transfer(1, 1, 2, 5, USD, 1, flags=TF.PENDING, timeout_ns=100)
    led.transfer(2, 2, 1, 3, USD, 1)
    snap = led.snapshot()
    copy = Ledger.restore(snap)
    assert isinstance(copy, Ledger)
    assert copy.snapshot() == snap
    assert copy.state_hash() == led.state_hash()
    assert pickle.loads(pickle.dumps(led)).snapshot() == snap
    for bad in (b"", snap[:-1], snap[:50] + bytes([snap[50] ^ 1]) + snap[51:]):
        with pytest.raises(ValueError, match="corrupt"):
            Ledger.restore(bad)
    # Both continue identically, including the hold's expiry.
    for x in (led, copy):
        x.transfer(3, 1, 2, 1, USD, 1, now_ns=10_000)
    assert copy.snapshot() == led.snapshot()


# ---- properties ----------------------------------------------------------------------------

row = st.fixed_dictionaries(
    {
        "id": st.integers(1, 30),
        "debit_account_id": st.integers(1, 5),
        "credit_account_id": st.integers(1, 5),
        "amount": st.integers(0, 50),
        "pending_id": st.sampled_from([0, 0, 0, *range(1, 30)]),
        "ledger": st.just(USD),
        "code": st.just(1),
        "flags": st.sampled_from([0, 0, TF.LINKED, TF.PENDING, TF.POST_PENDING_TRANSFER, TF.BALANCING_DEBIT]),
        "timeout_ns": st.sampled_from([0, 0, 20]),
    }
)


def fresh() -> Ledger:
    led = Ledger(16, 4096, 1024)
    for aid in range(1, 6):
        led.create_account(aid, USD, 1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid > 3 else 0, limit=0)
    return led


@given(st.lists(st.lists(row, min_size=1, max_size=8), min_size=1, max_size=6))
def test_batch_per_call_and_reference_agree(batches: list[list[dict[str, int]]]) -> None:
    """Without links, a batch is exactly a sequence of per-call transfers at the
    same command time; with links, batches match the reference ledger; and
    equal command streams give equal hashes."""
    a, b, c = fresh(), fresh(), fresh()
    ref = ReferenceLedger()
    for aid in range(1, 6):
        ref.create_account(
            id=aid, ledger=USD, code=1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid > 3 else 0
        )
    for k, batch in enumerate(batches):
        now = 10 * k
        res = a.create_transfers(transfers(*batch), now_ns=now)
        got = list(res["status"])
        assert list(zip(got, res["timestamp"], strict=True)) == ref.create_transfer_results(batch, now_ns=now)
        assert list(c.create_transfers(transfers(*batch), now_ns=now)["status"]) == list(got)
        unlinked = [{**t, "flags": t["flags"] & ~TF.LINKED} for t in batch]
        per_call = [b.transfer(now_ns=now, **t) for t in unlinked]
        assert per_call == [int(x) for x in fresh_batch_results(unlinked, k, batches)]
    assert a.state_hash() == c.state_hash()
    assert a.snapshot() == c.snapshot()


def fresh_batch_results(
    unlinked: list[dict[str, int]], k: int, batches: list[list[dict[str, int]]]
) -> list[int]:
    """Replays the unlinked streams up to batch k as batches on a new ledger."""
    led = fresh()
    out: list[int] = []
    for j in range(k + 1):
        rows = [{**t, "flags": t["flags"] & ~TF.LINKED} for t in batches[j]]
        out = [int(x) for x in led.create_transfers(transfers(*rows), now_ns=10 * j)["status"]]
    assert len(out) == len(unlinked)
    return out


@st.composite
def long_row(draw: st.DrawFn) -> dict[str, int]:
    """Mostly valid transfers (so the stream exercises success paths): a
    pending_id only on posts and voids, naming recent ids; links now and then."""
    kinds = [0, 0, 0, 0, TF.PENDING, TF.PENDING, TF.POST_PENDING_TRANSFER, TF.VOID_PENDING_TRANSFER]
    flags = draw(st.sampled_from(kinds))
    resolves = bool(flags & (TF.POST_PENDING_TRANSFER | TF.VOID_PENDING_TRANSFER))
    if draw(st.integers(0, 9)) == 0:
        flags |= TF.LINKED
    debit = draw(st.integers(1, 5))
    return {
        "id": draw(st.integers(1, 80)),
        "debit_account_id": 0 if resolves else debit,
        "credit_account_id": 0 if resolves else draw(st.integers(1, 5).filter(lambda c: c != debit)),
        # A post's AMOUNT_MAX (and a void's 0) take the whole hold; a post of 0 posts 0.
        "amount": draw(st.sampled_from([0, U64]))
        if resolves and draw(st.booleans())
        else draw(st.integers(0, 50)),
        "pending_id": draw(st.integers(1, 80)) if resolves else 0,
        "ledger": 0 if resolves else USD,
        "code": 0 if resolves else 1,
        "flags": flags,
        "timeout_ns": draw(st.sampled_from([0, 0, 15])) if flags & TF.PENDING else 0,
    }


@given(st.lists(st.lists(long_row(), min_size=17, max_size=70), min_size=1, max_size=3))
def test_long_batches_match_the_reference(batches: list[list[dict[str, int]]]) -> None:
    """Batches longer than the C++ prefetch pipeline's depth (16) run it in its
    steady state, where every stage reads ahead: posts and voids of holds placed
    a few records earlier in the same batch, retried ids and linked chains must
    still answer exactly as the reference ledger."""
    led = fresh()
    ref = ReferenceLedger()
    for aid in range(1, 6):
        ref.create_account(
            id=aid, ledger=USD, code=1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid > 3 else 0
        )
    for k, batch in enumerate(batches):
        now = 10 * k
        res = led.create_transfers(transfers(*batch), now_ns=now)
        got = list(res["status"])
        assert list(zip(got, res["timestamp"], strict=True)) == ref.create_transfer_results(batch, now_ns=now)
        for aid in range(1, 6):
            acc, want = led.lookup_account(aid), ref.lookup_account(aid)
            assert acc is not None
            assert want is not None
            assert (acc.debits_pending, acc.debits_posted, acc.credits_pending, acc.credits_posted) == (
                want.debits_pending,
                want.debits_posted,
                want.credits_pending,
                want.credits_posted,
            )


# ---- idempotency window ---------------------------------------------------------------------

MS = 1_000_000  # ns
WINDOW_MS = 50


@st.composite
def window_batches(draw: st.DrawFn) -> list[tuple[int, list[dict[str, int]], bool]]:
    """Batches at increasing command times (ms), ids stamped up to 80 ms in the
    past (so some are already outside the 50 ms window), retries of earlier
    ids, posts/voids of earlier holds, and whether to evict after each batch."""
    out: list[tuple[int, list[dict[str, int]], bool]] = []
    ids: list[int] = []
    ms = 1000
    for _ in range(draw(st.integers(1, 8))):
        ms += draw(st.integers(0, 40))
        batch: list[dict[str, int]] = []
        for _ in range(draw(st.integers(1, 24))):
            kind = draw(st.integers(0, 9))
            tid = make_transfer_id(ms - draw(st.integers(0, 80)), draw(st.integers(0, 3)))
            if kind < 2 and ids:
                flags = TF.POST_PENDING_TRANSFER if kind == 0 else TF.VOID_PENDING_TRANSFER
                row = {"id": tid, "pending_id": draw(st.sampled_from(ids)), "flags": flags}
            elif kind == 2 and ids:
                row = dict(draw(st.sampled_from(batch or [{"id": draw(st.sampled_from(ids))}])))
            else:
                debit = draw(st.integers(1, 5))
                flags = draw(st.sampled_from([0, 0, TF.PENDING, TF.LINKED]))
                row = {
                    "id": tid,
                    "debit_account_id": debit,
                    "credit_account_id": 1 + (debit + draw(st.integers(0, 3))) % 5,
                    "amount": draw(st.integers(1, 30)),
                    "ledger": USD,
                    "code": 1,
                    "flags": flags,
                    "timeout_ns": draw(st.sampled_from([0, 30 * MS])) if flags == TF.PENDING else 0,
                }
            ids.append(row["id"])
            batch.append(row)
        out.append((ms, batch, draw(st.booleans())))
    return out


@given(window_batches())
def test_idempotency_window_matches_the_reference_whenever_evict_runs(
    stream: list[tuple[int, list[dict[str, int]], bool]],
) -> None:
    """Evicting never changes an answer: the real ledger, evicting at random
    moments, answers every transfer like the reference, which never evicts."""
    led = Ledger(16, 4096, 1024, idempotency_window_ns=WINDOW_MS * MS)
    ref = ReferenceLedger(idempotency_window_ns=WINDOW_MS * MS)
    for aid in range(1, 6):
        flags = AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid > 3 else 0
        led.create_account(aid, USD, 1, flags=flags)
        ref.create_account(id=aid, ledger=USD, code=1, flags=flags)
    for ms, batch, evict in stream:
        res = led.create_transfers(transfers(*batch), now_ns=ms * MS)
        got = list(res["status"])
        assert list(zip(got, res["timestamp"], strict=True)) == ref.create_transfer_results(
            batch, now_ns=ms * MS
        )
        if evict:
            before = led.transfer_count
            assert led.evict() == before - led.transfer_count
            ref.evict()
        for aid in range(1, 6):
            acc, want = led.lookup_account(aid), ref.lookup_account(aid)
            assert acc is not None
            assert want is not None
            assert (acc.debits_pending, acc.debits_posted, acc.credits_pending, acc.credits_posted) == (
                want.debits_pending,
                want.debits_posted,
                want.credits_pending,
                want.credits_posted,
            )
    copy = Ledger.restore(led.snapshot())
    assert copy.idempotency_window_ns == WINDOW_MS * MS
    assert copy.snapshot() == led.snapshot()


@given(window_batches(), st.integers(0, 2**32))
def test_automatic_eviction_is_deterministic_and_loses_nothing(
    stream: list[tuple[int, list[dict[str, int]], bool]], drain_seed: int
) -> None:
    """Eviction runs by itself as time advances: two ledgers fed the same
    stream, with different capacities (so their rings wrap at different
    places), have the same state after every batch and archive the same
    transfers; one that also evicts by hand has the same balances; and every
    created transfer is either still stored or archived, exactly once, with
    its final state. (EVICT and DRAIN_EVICTED are commands, so time passes
    in them: holds due then expire. The ledgers that do not evict or drain
    when another does advance time instead, so all three release the same
    holds at the same moments.)"""
    a = Ledger(16, 4096, 1024, idempotency_window_ns=WINDOW_MS * MS, max_archived=4096)
    b = Ledger(16, 192, 1024, idempotency_window_ns=WINDOW_MS * MS, max_archived=4096)
    c = Ledger(16, 4096, 1024, idempotency_window_ns=WINDOW_MS * MS)
    for led in (a, b, c):
        for aid in range(1, 6):
            led.create_account(aid, USD, 1, flags=AF.DEBITS_MUST_NOT_EXCEED_CREDITS if aid > 3 else 0)
    created: dict[int, int] = {}  # id -> timestamp
    drained: list[np.void] = []
    rng = np.random.default_rng(drain_seed)
    for ms, batch, evict in stream:
        got = list(a.create_transfers(transfers(*batch), now_ns=ms * MS)["status"])
        assert list(b.create_transfers(transfers(*batch), now_ns=ms * MS)["status"]) == list(got)
        assert list(c.create_transfers(transfers(*batch), now_ns=ms * MS)["status"]) == list(got)
        assert a.state_hash() == b.state_hash()
        for row, code in zip(batch, got, strict=True):
            if code == R.CREATED:
                t = a.lookup_transfer(row["id"])
                created[row["id"]] = t.timestamp if t is not None else -1
        if evict:
            c.evict()
            a.advance_time(0)
            b.advance_time(0)
        if rng.integers(0, 3) == 0:
            k = int(rng.integers(0, 8))
            out = a.drain_evicted(k)
            assert out.dtype == TRANSFER_DTYPE
            assert out.tolist() == b.drain_evicted(k).tolist()
            c.advance_time(0)
            drained.extend(out)
        for aid in range(1, 6):
            x, y, z = a.lookup_account(aid), b.lookup_account(aid), c.lookup_account(aid)
            assert x == y == z
    drained.extend(a.drain_evicted())
    assert a.archived_count == 0
    archived = {int(t["id"]): t for t in drained}
    assert len(archived) == len(drained)
    for tid, ts in created.items():
        stored = a.lookup_transfer(tid)
        assert (stored is None) == (tid in archived), tid
        if tid in archived:
            t = archived[tid]
            assert ts in (-1, int(t["timestamp"]))
            assert int(t["reserved"]) in {int(s) for s in PendingStatus}
            assert (int(t["id"]) >> 22) * MS + WINDOW_MS * MS < a.last_timestamp  # outside the window
    assert set(archived) <= set(created)
    copy = Ledger.restore(a.snapshot())
    assert copy.snapshot() == a.snapshot()
    assert copy.max_archived == 4096


def test_eviction_scenario_archive_and_late_retries() -> None:
    """What the service sees of an evicted transfer: lookup_transfer gives
    None, drain_evicted gives it with its final state, a late retry is
    refused, a post of an evicted hold is refused, and nothing is applied twice."""
    led = Ledger(8, 64, 8, idempotency_window_ns=1000 * MS, max_archived=2)
    for aid in (1, 2):
        led.create_account(aid, USD, 1)
    pay, hold, cap = make_transfer_id(1000, 1), make_transfer_id(1000, 2), make_transfer_id(1001, 1)
    assert led.transfer(pay, 1, 2, 5, USD, 1, now_ns=1000 * MS) is R.CREATED
    assert led.transfer(hold, 1, 2, 7, USD, 1, flags=TF.PENDING, now_ns=1000 * MS) is R.CREATED
    assert led.post_pending(cap, hold, 4, now_ns=1001 * MS) is R.CREATED
    # 1.1 s later the next transfer event evicts the three (they are outside
    # the window), a few per event, oldest first; the archive holds 2.
    later = make_transfer_id(2100, 1)
    assert led.transfer(later, 2, 1, 1, USD, 1, now_ns=2100 * MS) is R.CREATED
    assert led.archived_count == 2
    assert led.lookup_transfer(pay) is None
    assert led.lookup_transfer(hold) is None
    assert led.lookup_transfer(cap) is not None  # waiting: the archive is full
    out = led.drain_evicted()
    assert [int(i) for i in out["id"]] == [pay, hold]
    assert [int(s) for s in out["reserved"]] == [PendingStatus.NONE, PendingStatus.POSTED]
    assert int(out["amount"][1]) == 7
    assert int(out["timestamp"][0]) == 1000 * MS
    assert led.evict() == 1  # room again: the post goes too
    assert [int(i) for i in led.drain_evicted()["id"]] == [cap]
    assert led.lookup_transfer(cap) is None
    # Late retries and a second capture of the evicted hold: refused.
    assert led.transfer(pay, 1, 2, 5, USD, 1, now_ns=2200 * MS) is R.ID_OUTSIDE_IDEMPOTENCY_WINDOW
    assert led.post_pending(cap, hold, now_ns=2200 * MS) is R.ID_OUTSIDE_IDEMPOTENCY_WINDOW
    assert led.post_pending(make_transfer_id(2200, 5), hold, now_ns=2200 * MS) is (
        R.PENDING_ID_OUTSIDE_IDEMPOTENCY_WINDOW
    )
    acc = led.lookup_account(1)
    assert acc is not None
    assert (acc.debits_posted, acc.debits_pending, acc.credits_posted) == (9, 0, 1)
    assert led.drain_evicted(0).shape == (0,)
    with pytest.raises(ValueError, match="max_archived"):
        Ledger(1, 1, 1, max_archived=-1)
    restored = pickle.loads(pickle.dumps(led))
    assert restored.snapshot() == led.snapshot()


def test_idempotency_window_scenario_and_bad_input() -> None:
    led = Ledger(8, 64, 8, idempotency_window_ns=1000 * MS)
    led.create_account(1, USD, 1)
    led.create_account(2, USD, 1)
    old = make_transfer_id(1000, 1)
    assert led.transfer(old, 1, 2, 5, USD, 1, now_ns=1000 * MS) is R.CREATED
    assert led.transfer(old, 1, 2, 5, USD, 1, now_ns=1900 * MS) is R.EXISTS
    # Too late for a retry: refused, never applied twice.
    assert led.transfer(old, 1, 2, 5, USD, 1, now_ns=2100 * MS) is R.ID_OUTSIDE_IDEMPOTENCY_WINDOW
    # That event evicted it first, by itself: nothing left for evict().
    assert led.lookup_transfer(old) is None
    assert led.evict() == 0
    assert led.transfer(old, 1, 2, 5, USD, 1, now_ns=2200 * MS) is R.ID_OUTSIDE_IDEMPOTENCY_WINDOW
    acc = led.lookup_account(1)
    assert acc is not None
    assert acc.debits_posted == 5
    assert Ledger(1, 1, 1).evict() == 0  # window off: nothing to evict
    with pytest.raises(ValueError, match="idempotency_window_ns"):
        Ledger(1, 1, 1, idempotency_window_ns=-1)
    with pytest.raises(ValueError, match="window"):
        Ledger(1, 1, 1, idempotency_window_ns=1 << 63)
    with pytest.raises(TypeError):
        Ledger(1, 1, 1, idempotency_window_ns=1.5)  # type: ignore[arg-type]
    assert make_transfer_id(1, 2) == (1 << 22) | 2
    for ms, seq in ((-1, 0), (1 << 42, 0), (0, 1 << 22), (0, 0), (0, -1)):
        with pytest.raises(ValueError, match=r"ms|sequence|reserved"):
            make_transfer_id(ms, seq)


# ---- bad input at every entry point ------------------------------------------------------

BAD_INTEGERS = [
    (-1, ValueError),
    (1 << 64, ValueError),
    (True, TypeError),
    (1.0, TypeError),
    ("1", TypeError),
]


@pytest.mark.parametrize(("bad", "err"), BAD_INTEGERS)
def test_every_entry_point_refuses_bad_integers_and_changes_nothing(
    bad: object, err: type[Exception]
) -> None:
    led = fresh()
    before = led.snapshot()
    calls = {
        "id": lambda v: led.create_account(v, USD, 1),
        "ledger": lambda v: led.create_account(9, v, 1),
        "code": lambda v: led.create_account(9, USD, v),
        "flags": lambda v: led.create_account(9, USD, 1, flags=v),
        "user_data_128": lambda v: led.create_account(9, USD, 1, user_data_128=v),
        "user_data_32": lambda v: led.transfer(9, 1, 2, 1, USD, 1, user_data_32=v),
        "limit": lambda v: led.create_account(9, USD, 1, limit=v),
        "amount": lambda v: led.transfer(9, 1, 2, v, USD, 1),
        "timeout_ns": lambda v: led.transfer(9, 1, 2, 1, USD, 1, timeout_ns=v),
        "now_ns": lambda v: led.transfer(9, 1, 2, 1, USD, 1, now_ns=v),
        "max": lambda v: led.drain_evicted(v),
        "since": lambda v: led.account_history(1, since=v),
        "until": lambda v: led.account_history(1, until=v),
    }
    for name, call in calls.items():
        if name == "user_data_128" and bad == 1 << 64:
            continue  # a valid 128-bit value
        with pytest.raises(err, match=name):
            call(bad)
    for call in (
        lambda: led.set_account_limit(bad, 1),  # type: ignore[arg-type]
        lambda: led.set_account_limit(1, bad),  # type: ignore[arg-type]
        lambda: led.set_account_limit(1, 1, now_ns=bad),  # type: ignore[arg-type]
        lambda: led.advance_time(bad),  # type: ignore[arg-type]
        lambda: led.evict(now_ns=bad),  # type: ignore[arg-type]
        lambda: led.lookup_account(bad),  # type: ignore[arg-type]
        lambda: led.lookup_transfer(bad),  # type: ignore[arg-type]
        lambda: led.balance(bad),  # type: ignore[arg-type]
        lambda: led.create_transfers(transfers({"id": 9}), now_ns=bad),  # type: ignore[arg-type]
        lambda: led.create_accounts(np.zeros(1, dtype=ACCOUNT_DTYPE), now_ns=bad),  # type: ignore[arg-type]
        lambda: Ledger(bad),  # type: ignore[arg-type]
        lambda: Ledger(4, 4, 4, idempotency_window_ns=bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(err):
            call()
    assert led.snapshot() == before


def test_times_beyond_the_range_and_bad_arrays_are_refused() -> None:
    led = fresh()
    before = led.snapshot()
    for t in (MAX_TIME_NS + 1, -5):
        with pytest.raises(ValueError, match="now_ns"):
            led.transfer(9, 1, 2, 1, USD, 1, now_ns=t)
        with pytest.raises(ValueError, match="now_ns"):
            led.advance_time(t)
    for bad_array, err in (
        ([1, 2], TypeError),
        (np.zeros(2, dtype=np.uint8), TypeError),
        (np.zeros((2, 2), dtype=LEDGER_COMMAND_DTYPE), ValueError),
        (np.zeros(2, dtype=TRANSFER_DTYPE), TypeError),
    ):
        with pytest.raises(err):
            led.process(bad_array)  # type: ignore[arg-type]
    renamed = np.dtype(
        [(n if n != "timeout_ns" else "timeout", TRANSFER_DTYPE.fields[n][0]) for n in TRANSFER_DTYPE.names]
    )  # type: ignore[union-attr,index]
    with pytest.raises(TypeError, match="TRANSFER_DTYPE"):
        led.create_transfers(np.zeros(1, dtype=renamed))
    wrong_type = np.dtype(
        [(n, "<u4" if n == "amount" else TRANSFER_DTYPE.fields[n][0]) for n in TRANSFER_DTYPE.names]
    )  # type: ignore[union-attr,index]
    with pytest.raises(TypeError, match="'amount'"):
        led.create_transfers(np.zeros(1, dtype=wrong_type))
    with pytest.raises(ValueError, match="not a ledger machine snapshot"):
        Ledger.restore(b"not a snapshot at all, but long enough")
    assert led.snapshot() == before
    # Same fields in another layout (here the packed form): converted once.
    packed = np.dtype([(n, TRANSFER_DTYPE.fields[n][0]) for n in TRANSFER_DTYPE.names], align=False)  # type: ignore[union-attr,index]
    arr = np.zeros(1, dtype=packed)
    for k, v in {
        "id": 9,
        "debit_account_id": 1,
        "credit_account_id": 2,
        "amount": 1,
        "ledger": USD,
        "code": 1,
    }.items():
        arr[k] = v
    assert list(led.create_transfers(arr)["status"]) == [R.CREATED]


def test_unknown_and_duplicate_ids_are_result_codes() -> None:
    led = fresh()
    assert led.transfer(1, 1, 2, 1, USD, 1) == R.CREATED
    assert led.transfer(1, 1, 2, 1, USD, 1) == R.EXISTS
    assert led.transfer(2, 99, 2, 1, USD, 1) == R.DEBIT_ACCOUNT_NOT_FOUND
    assert (
        led.transfer(3, 0, 0, 0, flags=TF.POST_PENDING_TRANSFER, pending_id=77)
        == R.PENDING_TRANSFER_NOT_FOUND
    )
    assert led.create_account(1, USD, 1) == CreateAccountResult.EXISTS
    assert led.set_account_limit(99, 1) == SetLimitResult.ACCOUNT_NOT_FOUND
    assert led.set_account_limit(0, 1) == SetLimitResult.ID_MUST_NOT_BE_ZERO
    assert led.lookup_account(99) is None
    assert led.lookup_transfer(2) is None  # remembered as failed, not stored
    assert led.account_history(99).shape == (0,)
    dup = transfers(*[{"id": 50, "debit_account_id": 1, "credit_account_id": 4, "amount": 1, "ledger": USD,
                       "code": 1}] * 2)  # fmt: skip
    assert list(led.create_transfers(dup)["status"]) == [R.CREATED, R.EXISTS]


# ---- the balance rule --------------------------------------------------------------------------


def test_balance_rule_at_its_boundaries() -> None:
    """One rule (C++ types.hpp): balance() is the room the constrained side
    has left, signed; a balancing transfer moves at most max(0, room); a
    transfer is refused exactly when the room is below its amount."""
    led = Ledger(8, 64, 8)
    debit_limited = AF.DEBITS_MUST_NOT_EXCEED_CREDITS
    led.create_account(1, USD, 1)
    led.create_account(2, USD, 1, flags=debit_limited, limit=10)
    led.create_account(3, USD, 1, flags=AF.CREDITS_MUST_NOT_EXCEED_DEBITS, limit=U64)
    led.create_account(4, USD, 1, flags=debit_limited, limit=U64)
    assert led.balance(1) == 0
    assert led.balance(2) == 10  # the limit alone
    assert led.balance(3) == U64  # room beyond 2**64 - 1 is not cut
    assert led.transfer(1, 2, 1, 11, USD, 1) == R.EXCEEDS_CREDITS  # room 10 < 11
    assert led.transfer(2, 2, 1, 10, USD, 1) == R.CREATED  # room 10 == 10
    assert led.balance(2) == 0
    assert led.transfer(3, 2, 1, 5, USD, 1, flags=TF.BALANCING_DEBIT) == R.CREATED
    assert led.lookup_transfer(3).amount == 0  # no room: moves nothing
    assert led.set_account_limit(2, 4) == SetLimitResult.OK
    assert led.balance(2) == -6  # beyond a lowered limit: negative
    # Negative room: nothing to move, and the account is already beyond its
    # limit, so even a zero movement is refused (TigerBeetle's rule).
    assert led.transfer(4, 2, 1, 5, USD, 1, flags=TF.BALANCING_DEBIT) == R.EXCEEDS_CREDITS
    assert led.balance(1) == 10  # an account with no flag: credits_posted - debits
    # Holds count against the room.
    assert led.transfer(5, 1, 2, 6, USD, 1) == R.CREATED
    assert led.balance(2) == 0
    led.create_account(5, USD, 1)
    assert led.transfer(6, 4, 5, U64, USD, 1, flags=TF.PENDING) == R.CREATED  # room U64 == U64
    assert led.balance(4) == 0
    assert led.transfer(7, 3, 1, 1, USD, 1) == R.CREATED  # debits on a credit-limited account: free
    assert led.balance(3) == U64 + 1  # debits_posted + limit - credits
