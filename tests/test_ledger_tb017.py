"""TigerBeetle 0.17's documented behaviour, ported as tables.

Each scenario is a script in a small language (below) run step by step
against the C++ ledger and the pure-Python reference ledger side by side:
every request's results (status and timestamp) must agree between them, the
statuses must be the ones the table names (TigerBeetle's, from its reference
documentation and state-machine tests, docs/reference/ and
src/state_machine_tests.zig at release 0.17.8), and the balances named after
each step must hold in both. Where this ledger answers differently on
purpose (docs/ledger.md, "Differences from TigerBeetle"), the row says so in
a comment and gives this ledger's answer.

The language, one step per line (``#`` starts a comment):

    account A1 L1 C1 [flags] [ts=N] [ud=N] -> status
    transfer T1 A1 A2 AMOUNT [P<n>] [L<n>] [C<n>] [flags] [t=N] [ts=N] [ud=N] -> status
    commit                       the rows since the last commit, as one request
    setup A1 DP DPO CP CPO       give A1 these balances (through transfers
                                 from a fresh account of its ledger)
    balances A1 DP DPO CP CPO    A1's balances, in both ledgers
    closed A1 / open A1          A1's CLOSED flag
    amount T1 N / missing T1 / timestamp T1 N
    tick N                       command time advances by N ns

Ids: ``A<n>``/``T<n>`` are n, ``A0`` is 0 and ``A-0`` is 2**64 - 1 (likewise
for transfers and ``P``, the pending id). Amounts: integers, ``max`` (2**64 -
1, AMOUNT_MAX) and ``max-N``. Flags: LNK PEN POS VOI BDR BCR CDR CCR IMP for
transfers, LNK D<C C<D HIST IMP CLSD for accounts; ``t=`` is a timeout (ns),
``ts=`` a timestamp (imported records), ``ud=`` sets the three user data
fields, ``res=`` an account's reserved field, ``flags=`` raw flag bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shanraq_core import (
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    TransferFlags,
)
from tests.ledger_reference import ReferenceLedger

AF = AccountFlags
TF = TransferFlags
U64 = (1 << 64) - 1
START_NS = 1_000_000

TRANSFER_FLAGS = {
    "LNK": TF.LINKED,
    "PEN": TF.PENDING,
    "POS": TF.POST_PENDING_TRANSFER,
    "VOI": TF.VOID_PENDING_TRANSFER,
    "BDR": TF.BALANCING_DEBIT,
    "BCR": TF.BALANCING_CREDIT,
    "CDR": TF.CLOSING_DEBIT,
    "CCR": TF.CLOSING_CREDIT,
    "IMP": TF.IMPORTED,
}
ACCOUNT_FLAGS = {
    "LNK": AF.LINKED,
    "D<C": AF.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "C<D": AF.CREDITS_MUST_NOT_EXCEED_DEBITS,
    "HIST": AF.HISTORY,
    "IMP": AF.IMPORTED,
    "CLSD": AF.CLOSED,
}


def _id(token: str) -> int:
    return U64 if token[1:] == "-0" else int(token[1:])


def _amount(token: str) -> int:
    if token == "max":
        return U64
    if token.startswith("max-"):
        return U64 - int(token[4:])
    return int(token)


def _record(kind: str, tokens: list[str]) -> dict[str, int]:
    """An account or transfer from the tokens after its kind."""
    rec: dict[str, int] = {"id": _id(tokens[0])}
    rest = tokens[1:]
    if kind == "transfer":
        rec["debit_account_id"], rec["credit_account_id"] = _id(rest[0]), _id(rest[1])
        rec["amount"] = _amount(rest[2])
        rest = rest[3:]
    flags = 0
    table = TRANSFER_FLAGS if kind == "transfer" else ACCOUNT_FLAGS
    for tok in rest:
        if tok in table:
            flags |= table[tok]
        elif tok.startswith("t="):
            rec["timeout_ns"] = int(tok[2:])
        elif tok.startswith("ts="):
            rec["timestamp"] = _amount(tok[3:])
        elif tok.startswith("ud="):
            rec["user_data_128"] = rec["user_data_64"] = rec["user_data_32"] = int(tok[3:])
        elif tok.startswith("res="):
            rec["reserved"] = int(tok[4:])
        elif tok.startswith("flags="):
            flags |= int(tok[6:])
        elif tok[0] == "L":
            rec["ledger"] = int(tok[1:])
        elif tok[0] == "C":
            rec["code"] = int(tok[1:])
        elif tok[0] == "P":
            rec["pending_id"] = _id(tok)
        else:
            raise ValueError(f"unknown token {tok!r}")
    rec["flags"] = flags
    return rec


def _array(records: list[dict[str, int]], dtype: np.dtype[Any]) -> np.ndarray:
    arr = np.zeros(len(records), dtype=dtype)
    for i, r in enumerate(records):
        for k, v in r.items():
            if k == "user_data_128":
                arr[i]["user_data_128_lo"] = v & U64
                arr[i]["user_data_128_hi"] = v >> 64
            else:
                arr[i][k] = v
    return arr


class Run:
    """Runs a scenario on the C++ ledger and the reference side by side."""

    def __init__(self) -> None:
        self.led = Ledger(64, 1024, 1024)
        self.ref = ReferenceLedger()
        self.now = START_NS
        self.kind = ""
        self.rows: list[tuple[dict[str, int], str]] = []
        self.next_setup_id = 1_000_000

    def request(self, kind: str, records: list[dict[str, int]]) -> list[tuple[int, int]]:
        if kind == "account":
            res = self.led.create_accounts(_array(records, ACCOUNT_DTYPE), now_ns=self.now)
            want = self.ref.create_account_results(records, now_ns=self.now)
        else:
            res = self.led.create_transfers(_array(records, TRANSFER_DTYPE), now_ns=self.now)
            want = self.ref.create_transfer_results(records, now_ns=self.now)
        got = [(int(r["status"]), int(r["timestamp"])) for r in res]
        assert got == want, "the C++ ledger and the reference disagree"
        return got

    def commit(self, where: str) -> None:
        if not self.rows:
            return
        enum: Any = CreateAccountResult if self.kind == "account" else CreateTransferResult
        got = self.request(self.kind, [r for r, _ in self.rows])
        names = [enum(s).name.lower() for s, _ in got]
        assert names == [want for _, want in self.rows], where
        self.rows = []

    def account(self, aid: int) -> tuple[Any, Any]:
        a, r = self.led.lookup_account(aid), self.ref.lookup_account(aid)
        assert a is not None
        assert r is not None
        return a, r

    def setup(self, aid: int, balances: list[int]) -> None:
        """Balances through transfers: a fresh funding account F of the
        account's ledger, credits before debits unless the account's
        credits must not exceed its debits, pending ones as holds."""
        a, _ = self.account(aid)
        fund = self.next_setup_id
        self.next_setup_id += 100
        self.request("account", [{"id": fund, "ledger": a.ledger, "code": 1, "flags": 0}])
        dp, dpo, cp, cpo = balances
        debits = [(aid, fund, dpo, 0), (aid, fund, dp, TF.PENDING)]
        credits = [(fund, aid, cpo, 0), (fund, aid, cp, TF.PENDING)]
        steps = debits + credits if a.flags & AF.CREDITS_MUST_NOT_EXCEED_DEBITS else credits + debits
        for k, (dr, cr, amount, flags) in enumerate(steps):
            if amount == 0:
                continue
            t = {"id": fund + k + 1, "debit_account_id": dr, "credit_account_id": cr, "amount": amount,
                 "ledger": a.ledger, "code": 1, "flags": flags}  # fmt: skip
            assert self.request("transfer", [t])[0][0] == CreateTransferResult.CREATED

    def step(self, line: str, where: str) -> None:
        line = line.split("#")[0].strip()
        if not line:
            return
        head, _, want = line.partition("->")
        tokens = head.split()
        op = tokens[0]
        if op in ("account", "transfer"):
            if self.rows and self.kind != op:
                self.commit(where)
            self.kind = op
            self.rows.append((_record(op, tokens[1:]), want.strip()))
            return
        self.commit(where)
        if op == "commit":
            return
        if op == "tick":
            self.now += int(tokens[1])
            assert self.led.advance_time(self.now) == self.ref.advance_time(self.now)
        elif op == "setup":
            self.setup(_id(tokens[1]), [_amount(t) for t in tokens[2:]])
        elif op == "balances":
            a, r = self.account(_id(tokens[1]))
            want_b = [_amount(t) for t in tokens[2:]]
            got = [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
            assert got == want_b, where
            assert [r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted] == want_b, where
        elif op in ("closed", "open"):
            a, r = self.account(_id(tokens[1]))
            assert bool(a.flags & AF.CLOSED) == (op == "closed") == bool(r.flags & AF.CLOSED), where
        elif op in ("amount", "timestamp"):
            t, r = self.led.lookup_transfer(_id(tokens[1])), self.ref.lookup_transfer(_id(tokens[1]))
            assert t is not None
            assert r is not None
            assert getattr(t, op) == getattr(r, op) == _amount(tokens[2]), where
        elif op == "missing":
            tid = _id(tokens[1])
            assert self.led.lookup_transfer(tid) is None, where
            assert self.ref.lookup_transfer(tid) is None, where
        else:
            raise ValueError(f"unknown step {op!r}")


def check(script: str) -> None:
    run = Run()
    for n, line in enumerate(script.splitlines(), 1):
        run.step(line, f"line {n}: {line.strip()}")
    run.commit("end of script")
    assert run.led.state_hash() == Ledger.restore(run.led.snapshot()).state_hash()


SCENARIOS: dict[str, str] = {}

# ---- create_accounts ---------------------------------------------------------------------------

SCENARIOS["create_accounts: every status in precedence order"] = """
account A1 L3 C4 ud=2 -> created
account A0 L0 C0 D<C C<D ts=1 res=1 -> timestamp_must_be_zero
account A0 L0 C0 D<C C<D res=1 -> reserved_field
account A0 L0 C0 D<C C<D flags=64 -> reserved_flag
account A0 L0 C0 D<C C<D -> id_must_not_be_zero
account A-0 L0 C0 -> id_must_not_be_int_max
account A1 L9 C9 D<C ud=1 -> exists_with_different_flags
account A1 L9 C9 C<D ud=1 -> exists_with_different_flags
account A1 L9 C9 ud=1 -> exists_with_different_user_data_128
account A1 L9 C9 ud=2 -> exists_with_different_ledger
account A1 L3 C9 ud=2 -> exists_with_different_code
account A1 L3 C4 ud=2 -> exists
account A2 L0 C0 D<C C<D -> flags_are_mutually_exclusive
account A2 L0 C0 D<C -> ledger_must_not_be_zero
account A2 L9 C0 D<C -> code_must_not_be_zero
account A3 L1 C1 CLSD -> created                           # an account may be created closed
commit
closed A3
"""

SCENARIOS["linked accounts: all or nothing, first failure named"] = """
account A7 L1 C1 -> created
account A1 L1 C1 LNK -> linked_event_failed
account A2 L1 C1 LNK -> linked_event_failed
account A1 L1 C1 LNK -> exists                             # fails the chain (not created here)
account A3 L1 C1 -> linked_event_failed
account A1 L1 C1 -> created                                # sees nothing of the failed chain
account A1 L1 C2 LNK -> exists_with_different_flags
account A2 L1 C1 -> linked_event_failed
account A2 L1 C1 -> created
account A3 L1 C1 LNK -> linked_event_failed
account A1 L2 C1 -> exists_with_different_ledger
account A3 L1 C1 LNK -> created
account A4 L1 C1 -> created
"""

SCENARIOS["linked_event_chain_open"] = """
account A1 L1 C1 LNK -> created
account A2 L1 C1 LNK -> created
account A3 L1 C1 -> created
account A4 L1 C1 LNK -> linked_event_failed
account A5 L1 C1 LNK -> linked_event_chain_open
"""

SCENARIOS["linked_event_chain_open for an already failed chain"] = """
account A1 L1 C1 -> created
commit
account A2 L1 C1 LNK -> linked_event_failed
account A1 L1 C1 LNK -> exists_with_different_flags
account A3 L1 C1 LNK -> linked_event_chain_open            # not linked_event_failed (TigerBeetle's order)
commit
transfer T1 A1 A9 5 L1 C1 LNK -> credit_account_not_found
transfer T2 A1 A2 5 L1 C1 LNK -> linked_event_chain_open
commit
missing T2
"""

SCENARIOS["linked_event_chain_open for a request of one"] = """
account A1 L1 C1 LNK -> linked_event_chain_open
commit
account A1 L1 C1 -> created
"""

# ---- create_transfers --------------------------------------------------------------------------

SCENARIOS["create_transfers: every status in precedence order"] = """
account A1 L1 C1 -> created
account A2 L2 C2 -> created
account A3 L1 C1 -> created
account A4 L1 C1 D<C -> created
account A5 L1 C1 C<D -> created
commit
setup A1 100 200 0 0
setup A3 0 0 110 210
setup A4 20 max-700 0 max-500
setup A5 0 max-1000 10 max-1100
transfer T0 A0 A0 9 P1 L0 C0 PEN ts=1 -> timestamp_must_be_zero
transfer T0 A0 A0 9 P1 L0 C0 PEN -> id_must_not_be_zero
transfer T-0 A0 A0 9 P1 L0 C0 PEN -> id_must_not_be_int_max
transfer T1 A0 A0 9 P1 L0 C0 PEN -> debit_account_id_must_not_be_zero
transfer T1 A-0 A0 9 P1 L0 C0 PEN -> debit_account_id_must_not_be_int_max
transfer T1 A8 A0 9 P1 L0 C0 PEN -> credit_account_id_must_not_be_zero
transfer T1 A8 A-0 9 P1 L0 C0 PEN -> credit_account_id_must_not_be_int_max
transfer T1 A8 A8 9 P1 L0 C0 PEN -> accounts_must_be_different
transfer T1 A8 A9 9 P1 L0 C0 PEN -> pending_id_must_be_zero
transfer T1 A8 A9 9 L0 C0 t=1 -> timeout_reserved_for_pending_transfer
transfer T1 A8 A9 9 L0 C0 CDR -> closing_transfer_must_be_pending
transfer T1 A8 A9 9 L0 C0 CCR -> closing_transfer_must_be_pending
transfer T1 A8 A9 9 L0 C0 PEN -> ledger_must_not_be_zero
transfer T1 A8 A9 9 L9 C0 PEN -> code_must_not_be_zero
transfer T1 A8 A9 9 L9 C1 PEN -> debit_account_not_found    # transient: T1 is spent
transfer T1 A1 A3 123 L1 C1 -> id_already_failed
transfer T2 A1 A9 9 L9 C1 PEN -> credit_account_not_found
transfer T2 A1 A3 123 L1 C1 -> id_already_failed
commit
transfer T3 A1 A2 1 L9 C1 PEN -> accounts_must_have_the_same_ledger
transfer T3 A1 A3 1 L9 C1 PEN -> transfer_must_have_the_same_ledger_as_accounts
transfer T3 A1 A3 max-99 L1 C1 PEN -> overflows_debits_pending
transfer T3 A1 A3 max-109 L1 C1 PEN -> overflows_credits_pending
transfer T3 A1 A3 max-199 L1 C1 PEN -> overflows_debits_posted
transfer T3 A1 A3 max-209 L1 C1 PEN -> overflows_credits_posted
transfer T3 A1 A3 max-299 L1 C1 PEN -> overflows_debits
transfer T3 A1 A3 max-319 L1 C1 PEN -> overflows_credits
transfer T3 A4 A5 199 L1 C1 PEN t=9223372036854775807 -> overflows_timeout
transfer T3 A4 A5 199 L1 C1 -> exceeds_credits            # transient
transfer T3 A1 A3 123 L1 C1 -> id_already_failed
transfer T4 A4 A5 91 L1 C1 -> exceeds_debits              # transient
transfer T4 A1 A3 123 L1 C1 -> id_already_failed
transfer T5 A1 A3 123 L1 C1 PEN t=1000000000 -> created
commit
transfer T5 A1 A3 123 L2 C1 PEN t=1000000000 -> exists_with_different_ledger   # idempotency first
transfer T5 A1 A3 max L1 C2 ud=1 -> exists_with_different_flags
transfer T5 A3 A1 max L1 C2 PEN ud=1 t=1000000000 -> exists_with_different_debit_account_id
transfer T5 A1 A4 max L1 C2 PEN ud=1 t=1000000000 -> exists_with_different_credit_account_id
transfer T5 A1 A3 max L1 C1 PEN ud=1 t=1000000000 -> exists_with_different_amount
transfer T5 A1 A3 123 L1 C2 PEN ud=1 t=1000000000 -> exists_with_different_user_data_128
transfer T5 A1 A3 123 L1 C2 PEN t=2000000000 -> exists_with_different_timeout
transfer T5 A1 A3 123 L1 C2 PEN t=1000000000 -> exists_with_different_code
transfer T5 A1 A3 123 L1 C1 PEN t=1000000000 -> exists
transfer T6 A3 A1 7 L1 C2 -> created
transfer T7 A1 A3 3 L1 C2 -> created
transfer T8 A1 A3 0 L1 C2 -> created                      # amount 0 is valid (>= 0.16)
commit
balances A1 223 203 0 7
balances A3 0 7 233 213
amount T8 0
missing T1
"""

SCENARIOS["two-phase transfers: posts, voids and retries"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
commit
transfer T1 A1 A2 15 L1 C1 -> created
transfer T2 A1 A2 15 L1 C1 PEN t=1000000000000 -> created
transfer T3 A1 A2 15 L1 C1 PEN t=50000000000 -> created
transfer T4 A1 A2 15 L1 C1 PEN t=1000000000 -> created
transfer T5 A1 A2 7 L1 C1 PEN ud=9 t=50000000000 -> created
transfer T6 A1 A2 1 L1 C1 PEN -> created
transfer T7 A1 A2 1 L1 C1 PEN -> created
commit
balances A1 54 15 0 0
balances A2 0 0 54 15
tick 1000001000
transfer T101 A1 A2 13 P2 L1 C1 POS ud=1 -> created
transfer T0 A8 A9 16 P0 L6 C7 PEN POS VOI ud=2 t=50 ts=1 -> timestamp_must_be_zero
transfer T0 A8 A9 16 P0 L6 C7 PEN POS VOI ud=2 t=50 -> id_must_not_be_zero
transfer T-0 A8 A9 16 P0 L6 C7 PEN POS VOI ud=2 t=50 -> id_must_not_be_int_max
transfer T101 A1 A2 15 P3 L1 C1 VOI ud=2 -> exists_with_different_flags
transfer T101 A1 A2 14 P2 L1 C1 POS ud=1 -> exists_with_different_amount
transfer T101 A1 A2 max P2 L1 C1 POS ud=1 -> exists_with_different_amount
transfer T101 A1 A2 13 P3 L1 C1 POS ud=2 -> exists_with_different_pending_id
transfer T101 A1 A2 13 P2 L1 C1 POS ud=2 -> exists_with_different_user_data_128
transfer T101 A1 A2 13 P2 L1 C1 POS ud=1 -> exists
transfer T102 A8 A9 16 P0 L6 C7 PEN POS VOI ud=2 t=50 -> flags_are_mutually_exclusive
transfer T102 A8 A9 16 P0 L6 C7 PEN VOI ud=2 t=50 -> flags_are_mutually_exclusive
transfer T102 A8 A9 16 P0 L6 C7 VOI BDR ud=2 t=50 -> flags_are_mutually_exclusive
transfer T102 A8 A9 16 P0 L6 C7 POS BCR ud=2 t=50 -> flags_are_mutually_exclusive
transfer T102 A8 A9 16 P0 L6 C7 POS CDR -> flags_are_mutually_exclusive
transfer T102 A8 A9 16 P0 L6 C7 VOI ud=2 t=50 -> pending_id_must_not_be_zero
transfer T102 A8 A9 16 P-0 L6 C7 VOI ud=2 t=50 -> pending_id_must_not_be_int_max
transfer T102 A8 A9 16 P102 L6 C7 VOI ud=2 t=50 -> pending_id_must_be_different
transfer T102 A8 A9 16 P103 L6 C7 VOI ud=2 t=50 -> timeout_reserved_for_pending_transfer
commit
transfer T102 A8 A9 16 P103 L6 C7 VOI ud=2 -> pending_transfer_not_found   # transient
transfer T102 A1 A2 13 L1 C1 ud=1 -> id_already_failed
transfer T103 A8 A9 16 P1 L6 C7 VOI ud=2 -> pending_transfer_not_pending
transfer T103 A8 A9 16 P3 L6 C7 VOI ud=2 -> pending_transfer_has_different_debit_account_id
transfer T103 A1 A9 16 P3 L6 C7 VOI ud=2 -> pending_transfer_has_different_credit_account_id
transfer T103 A1 A2 16 P3 L6 C7 VOI ud=2 -> pending_transfer_has_different_ledger
transfer T103 A1 A2 16 P3 L1 C7 VOI ud=2 -> pending_transfer_has_different_code
transfer T103 A1 A2 16 P3 L1 C1 VOI ud=2 -> exceeds_pending_transfer_amount
transfer T103 A1 A2 14 P3 L1 C1 VOI ud=2 -> pending_transfer_has_different_amount
transfer T103 A1 A2 13 P2 L1 C1 POS ud=1 -> pending_transfer_already_posted
transfer T103 A1 A2 15 P3 L1 C1 VOI ud=1 -> created
transfer T104 A1 A2 13 P3 L1 C1 POS ud=1 -> pending_transfer_already_voided
transfer T104 A1 A2 15 P4 L1 C1 VOI ud=1 -> pending_transfer_expired
commit
# Retries with the optional fields left 0 compare against the hold; a post's
# amount compares as TigerBeetle >= 0.16 does (AMOUNT_MAX: the whole hold).
transfer T101 A0 A0 14 P2 L0 C0 POS -> exists_with_different_amount
transfer T101 A0 A0 12 P2 L0 C0 POS -> exists_with_different_amount
transfer T105 A0 A0 8 P5 L0 C0 POS -> exceeds_pending_transfer_amount
transfer T105 A0 A0 max P5 L0 C0 POS -> created
transfer T105 A0 A0 7 P5 L1 C1 POS -> exists
transfer T105 A0 A0 7 P5 L0 C0 POS -> exists
transfer T105 A0 A0 max P5 L1 C1 POS -> exists
transfer T105 A0 A0 8 P5 L0 C0 POS -> exists_with_different_amount
transfer T105 A0 A0 6 P5 L0 C0 POS -> exists_with_different_amount
transfer T105 A0 A0 0 P5 L1 C1 POS -> exists_with_different_amount
transfer T106 A0 A0 max-1 P6 L1 C1 POS -> exceeds_pending_transfer_amount
transfer T106 A0 A0 max P6 L1 C1 POS -> created
transfer T106 A0 A0 max P6 L1 C1 POS -> exists
transfer T106 A0 A0 1 P6 L0 C0 POS -> exists
transfer T106 A0 A0 2 P6 L1 C1 POS -> exists_with_different_amount
transfer T106 A0 A0 0 P6 L1 C1 POS -> exists_with_different_amount
transfer T107 A0 A0 0 P7 L0 C0 POS -> created             # posts 0 (>= 0.16), releases the hold
transfer T107 A0 A0 0 P7 L0 C0 POS -> exists
transfer T107 A0 A0 1 P7 L0 C0 POS -> exists_with_different_amount
commit
balances A1 0 36 0 0
balances A2 0 0 0 36
amount T101 13
amount T105 7
amount T106 1
amount T107 0
"""

SCENARIOS["two-phase transfers: AMOUNT_MAX posts the whole hold"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
commit
transfer T1 A1 A2 max L1 C1 PEN -> created
transfer T2 A1 A2 max P1 L1 C1 POS -> created
transfer T2 A1 A2 max P1 L1 C1 POS -> exists
commit
balances A1 0 max 0 0
balances A2 0 0 0 max
amount T2 max
"""

SCENARIOS["two-phase transfers: expiry releases holds as time passes"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
commit
transfer T1 A1 A2 10 L1 C1 PEN -> created                  # no timeout: never expires
transfer T2 A1 A2 11 L1 C1 PEN t=1000000000 -> created
transfer T3 A1 A2 12 L1 C1 PEN t=2000000000 -> created
transfer T4 A1 A2 13 L1 C1 PEN t=3000000000 -> created
commit
balances A1 46 0 0 0
tick 1000001000
balances A1 35 0 0 0
tick 1000001000
balances A1 23 0 0 0
tick 1000001000
balances A1 10 0 0 0
balances A2 0 0 10 0
transfer T101 A1 A2 10 P1 L1 C1 POS ud=1 -> created
transfer T102 A1 A2 11 P2 L1 C1 POS ud=1 -> pending_transfer_expired
transfer T103 A1 A2 12 P3 L1 C1 POS ud=1 -> pending_transfer_expired
transfer T104 A1 A2 13 P4 L1 C1 POS ud=1 -> pending_transfer_expired
commit
balances A1 0 10 0 0
balances A2 0 0 0 10
missing T102
"""

SCENARIOS["create_transfers: a failed transfer does not exist"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
commit
transfer T1 A1 A2 15 L1 C1 -> created
transfer T2 A1 A2 15 L0 C1 -> ledger_must_not_be_zero
commit
balances A1 0 15 0 0
balances A2 0 0 0 15
missing T2
"""

SCENARIOS["create_transfers: failed linked chains are undone"] = """
account A1 L1 C1 D<C -> created
account A2 L1 C1 -> created
commit
setup A1 0 0 0 20
transfer T1 A1 A2 15 L1 C1 LNK -> linked_event_failed
transfer T2 A1 A2 15 L0 C1 -> ledger_must_not_be_zero
commit
transfer T3 A1 A2 15 L1 C1 LNK PEN t=1 -> linked_event_failed
transfer T4 A1 A2 15 L0 C1 -> ledger_must_not_be_zero
commit
balances A1 0 0 0 20
transfer T5 A1 A2 15 L1 C1 LNK -> linked_event_failed
transfer T6 A1 A2 5 L0 C1 -> ledger_must_not_be_zero
transfer T7 A1 A2 15 L1 C1 -> created
commit
balances A1 0 15 0 20
missing T1
missing T3
missing T5
"""

SCENARIOS["balancing transfers with balance flags"] = """
account A1 L1 C1 D<C -> created
account A2 L1 C1 C<D -> created
account A3 L1 C1 -> created
commit
setup A1 1 0 0 10
setup A2 0 10 2 0
transfer T1 A1 A3 3 L2 C1 BDR -> transfer_must_have_the_same_ledger_as_accounts
transfer T1 A3 A2 3 L2 C1 BCR -> transfer_must_have_the_same_ledger_as_accounts
transfer T1 A1 A3 3 L1 C1 BDR -> created
transfer T2 A1 A3 13 L1 C1 BDR -> created
transfer T3 A3 A2 3 L1 C1 BCR -> created
transfer T4 A3 A2 13 L1 C1 BCR -> created
transfer T5 A1 A3 1 L1 C1 BDR -> created                   # reduced to 0
transfer T6 A1 A3 1 L1 C1 BDR BCR -> created
transfer T7 A3 A2 1 L1 C1 BCR -> created
transfer T8 A1 A2 1 L1 C1 BDR BCR -> created
transfer T1 A1 A3 2 L1 C1 BDR -> exists_with_different_amount   # the retry's bound is below what moved
transfer T1 A1 A3 0 L1 C1 BDR -> exists_with_different_amount
transfer T1 A1 A3 3 L1 C1 BDR -> exists
transfer T1 A1 A3 4 L1 C1 BDR -> exists
transfer T2 A1 A3 6 L1 C1 BDR -> exists
transfer T2 A1 A3 0 L1 C1 BDR -> exists_with_different_amount
transfer T4 A3 A2 5 L1 C1 BCR -> exists
transfer T4 A3 A2 0 L1 C1 BCR -> exists_with_different_amount
commit
balances A1 1 9 0 10
balances A2 0 10 2 8
balances A3 0 8 0 9
amount T2 6
amount T4 5
amount T8 0
"""

SCENARIOS["balancing transfers that still exceed"] = """
account A1 L1 C1 D<C -> created
account A2 L1 C1 -> created
account A3 L1 C1 C<D -> created
account A4 L1 C1 -> created
commit
setup A1 0 0 0 4
setup A2 0 5 0 0
setup A3 0 4 0 0
setup A4 0 0 0 5
transfer T1 A1 A2 10 L1 C1 BCR -> exceeds_credits
transfer T2 A1 A2 10 L1 C1 BDR -> created
transfer T3 A4 A3 10 L1 C1 BDR -> exceeds_debits
transfer T4 A4 A3 10 L1 C1 BCR -> created
commit
balances A1 0 4 0 4
balances A3 0 4 0 4
amount T2 4
amount T4 4
missing T1
"""

SCENARIOS["balancing transfers without balance flags, amount 0 and pending"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
account A3 L1 C1 -> created
account A4 L1 C1 D<C -> created
account A5 L1 C1 C<D -> created
commit
setup A1 1 0 0 10
setup A2 0 10 2 0
setup A4 0 0 0 10
setup A5 0 10 0 0
transfer T1 A3 A1 99 L1 C1 BDR BCR -> created
transfer T2 A3 A1 99 L1 C1 BDR -> created
transfer T3 A2 A3 99 L1 C1 BCR -> created
transfer T4 A1 A3 99 L1 C1 BDR -> created
transfer T5 A1 A3 99 L1 C1 BDR -> created
transfer T6 A3 A2 99 L1 C1 BCR -> created
transfer T7 A3 A2 99 L1 C1 BCR -> created
transfer T8 A4 A3 0 L1 C1 BDR -> created                   # amount 0: moves nothing (>= 0.16)
transfer T9 A4 A5 3 L1 C1 PEN BDR -> created
transfer T10 A4 A5 13 L1 C1 PEN BDR -> created
transfer T11 A4 A5 1 L1 C1 PEN BDR -> created
commit
amount T1 0
amount T4 9
amount T5 0
amount T6 8
amount T8 0
amount T10 7
amount T11 0
balances A4 10 0 0 10
transfer T12 A0 A0 3 P9 L1 C1 POS -> created
transfer T13 A0 A0 5 P10 L1 C1 POS -> created
commit
balances A4 0 8 0 10
balances A5 0 10 0 8
"""

SCENARIOS["multiple debits, one credit (the recipe): enough funds"] = """
account A1 L1 C1 D<C -> created
account A2 L1 C1 D<C -> created
account A3 L1 C1 D<C -> created
account A4 L1 C1 -> created
account A5 L1 C1 D<C -> created
account A6 L1 C1 -> created
commit
setup A1 0 0 0 40
setup A2 0 0 0 40
setup A3 0 0 0 21
transfer T1 A4 A5 100 L1 C1 LNK -> created
transfer T2 A1 A4 100 L1 C1 LNK BDR BCR -> created
transfer T3 A2 A4 100 L1 C1 LNK BDR BCR -> created
transfer T4 A3 A4 100 L1 C1 LNK BDR BCR -> created
transfer T5 A4 A6 100 L1 C1 LNK -> created
transfer T6 A5 A4 max L1 C1 BCR -> created
commit
balances A1 0 40 0 40
balances A3 0 20 0 21
balances A4 0 200 0 200
balances A6 0 0 0 100
"""

SCENARIOS["multiple debits, one credit (the recipe): short of funds"] = """
account A1 L1 C1 D<C -> created
account A2 L1 C1 D<C -> created
account A3 L1 C1 D<C -> created
account A4 L1 C1 -> created
account A5 L1 C1 D<C -> created
account A6 L1 C1 -> created
commit
setup A1 0 0 0 40
setup A2 0 0 0 40
setup A3 0 0 0 19
transfer T1 A4 A5 100 L1 C1 LNK -> linked_event_failed
transfer T2 A1 A4 100 L1 C1 LNK BDR BCR -> linked_event_failed
transfer T3 A2 A4 100 L1 C1 LNK BDR BCR -> linked_event_failed
transfer T4 A3 A4 100 L1 C1 LNK BDR BCR -> linked_event_failed
transfer T5 A4 A6 100 L1 C1 LNK -> linked_event_failed
transfer T6 A5 A4 max L1 C1 BCR -> exceeds_credits
commit
balances A6 0 0 0 0
"""

SCENARIOS["a balance invariant enforced for one transfer (the recipe)"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
account A3 L1 C1 C<D -> created
commit
setup A2 0 40 0 0
transfer T1 A1 A2 41 L1 C1 LNK -> linked_event_failed
transfer T2 A2 A3 1 L1 C1 LNK PEN BDR -> exceeds_debits
transfer T3 A2 A3 0 P2 L1 C1 VOI -> linked_event_failed
commit
transfer T1 A1 A2 0 L1 C1 -> created                       # ids of a failed chain are free again
transfer T2 A2 A3 0 L1 C1 -> id_already_failed             # but not a transient failure's
transfer T3 A2 A3 0 L1 C1 -> created
commit
transfer T4 A1 A2 40 L1 C1 LNK -> created
transfer T5 A2 A3 1 L1 C1 LNK PEN BDR -> created
transfer T6 A2 A3 0 P5 L1 C1 VOI -> created
commit
balances A1 0 40 0 0
balances A2 0 40 0 40
balances A3 0 0 0 0
"""

SCENARIOS["closing accounts"] = """
account A1 L1 C1 -> created
account A2 L1 C1 -> created
account A3 L1 C1 -> created
commit
transfer T1 A1 A2 15 L1 C1 -> created
transfer T2 A1 A2 0 L1 C1 CDR -> closing_transfer_must_be_pending
transfer T2 A1 A2 0 L1 C1 PEN CDR -> created
transfer T2 A1 A2 0 L1 C1 PEN CDR -> exists
transfer T3 A1 A2 5 L1 C1 -> debit_account_already_closed  # transient
transfer T3 A1 A2 5 L1 C1 -> id_already_failed
transfer T4 A2 A1 5 L1 C1 -> credit_account_already_closed
transfer T4 A1 A2 5 L1 C1 -> id_already_failed
commit
closed A1
open A2
transfer T5 A1 A2 0 P2 L1 C1 POS -> debit_account_already_closed
transfer T5 A1 A2 0 P2 L1 C1 VOI -> id_already_failed
transfer T6 A1 A2 0 P2 L1 C1 VOI -> created                # voiding reopens
transfer T6 A1 A2 0 P2 L1 C1 VOI -> exists
transfer T7 A1 A2 5 L1 C1 -> created
commit
open A1
balances A1 0 20 0 0
transfer T8 A1 A2 10 L1 C1 PEN t=1000000000 -> created
transfer T9 A1 A2 10 L1 C1 PEN -> created
transfer T10 A1 A2 0 L1 C1 PEN CCR t=2000000000 -> created
transfer T11 A1 A2 10 P9 L1 C1 POS -> credit_account_already_closed
transfer T11 A1 A2 10 P9 L1 C1 VOI -> id_already_failed
transfer T12 A1 A2 10 P9 L1 C1 VOI -> created              # a closed account's hold may be voided
commit
balances A1 10 20 0 0
closed A2
tick 1000001000                                            # holds expire on closed accounts
balances A1 0 20 0 0
closed A2
tick 1000001000                                            # the closing hold expires: reopened
open A2
transfer T13 A1 A2 0 L1 C1 CDR CCR -> closing_transfer_must_be_pending
transfer T13 A1 A2 0 L1 C1 PEN CDR CCR -> created
transfer T14 A1 A3 5 L1 C1 -> debit_account_already_closed
transfer T15 A3 A2 5 L1 C1 -> credit_account_already_closed
transfer T16 A1 A3 0 L1 C1 PEN CDR -> debit_account_already_closed   # closing a closed account
transfer T17 A3 A2 0 L1 C1 PEN CCR -> credit_account_already_closed
commit
closed A1
closed A2
"""

# ---- imported events ---------------------------------------------------------------------------

SCENARIOS["imported events: the first record decides the request"] = """
account A1 L1 C1 IMP ts=1 -> created
account A2 L1 C1 -> imported_event_expected
account A2 L1 C1 IMP ts=2 -> created
commit
account A3 L1 C1 -> created
account A4 L1 C1 IMP ts=3 -> imported_event_not_expected
commit
tick 1000
transfer T1 A1 A2 3 L1 C2 IMP ts=1000002 -> created
transfer T2 A1 A2 3 L1 C2 -> imported_event_expected
commit
transfer T3 A1 A2 3 L1 C2 -> created
transfer T4 A1 A2 3 L1 C2 IMP ts=1000010 -> imported_event_not_expected
commit
timestamp T1 1000002
"""

SCENARIOS["imported events: timestamps"] = """
account A1 L1 C1 IMP ts=0 -> imported_event_timestamp_out_of_range
account A1 L1 C1 IMP ts=max -> imported_event_timestamp_out_of_range
account A1 L1 C1 IMP ts=999999 -> created
account A1 L1 C1 IMP ts=1000000 -> imported_event_timestamp_must_not_advance   # not before the ledger's time
account A2 L1 C1 IMP ts=999998 -> imported_event_timestamp_must_not_regress
account A2 L1 C1 IMP ts=999999 -> imported_event_timestamp_must_not_regress   # one timestamp per record
commit
tick 1000
account A2 L1 C1 IMP ts=1000003 -> created
account A3 L1 C1 IMP ts=1000009 -> created
commit
account A2 L1 C1 IMP ts=2000000 -> imported_event_timestamp_must_not_advance
account A2 L1 C1 IMP ts=1000001 -> exists                  # whatever its timestamp
account A2 L1 C1 IMP ts=1000004 -> exists
commit
transfer T1 A1 A2 3 L1 C2 IMP ts=0 -> imported_event_timestamp_out_of_range
transfer T1 A1 A2 3 L1 C2 IMP ts=2000000 -> imported_event_timestamp_must_not_advance
transfer T1 A1 A2 3 L1 C2 IMP ts=1000003 -> imported_event_timestamp_must_not_regress
# TigerBeetle answers the next two IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_*_ACCOUNT
# (its accounts and transfers keep separate timelines); here every timestamp
# is on one timeline, so an imported transfer must be later than A3 (docs/ledger.md).
transfer T1 A3 A2 3 L1 C2 IMP ts=1000004 -> imported_event_timestamp_must_not_regress
transfer T1 A1 A3 3 L1 C2 IMP ts=1000004 -> imported_event_timestamp_must_not_regress
transfer T1 A1 A2 3 L1 C2 IMP ts=1000010 -> created
transfer T2 A1 A2 3 L1 C2 IMP ts=1000010 -> imported_event_timestamp_must_not_regress
transfer T2 A1 A2 3 L1 C2 IMP ts=1000011 -> created
commit
transfer T2 A1 A2 3 L1 C2 IMP ts=2000000 -> imported_event_timestamp_must_not_advance
transfer T2 A1 A2 3 L1 C2 IMP ts=1000004 -> exists
transfer T2 A1 A2 3 L1 C2 IMP ts=1000012 -> exists
commit
transfer T3 A1 A2 3 L1 C2 IMP ts=1000012 -> created
commit
account A4 L1 C1 IMP ts=1000012 -> imported_event_timestamp_must_not_regress
commit
timestamp T1 1000010
timestamp T3 1000012
"""

SCENARIOS["imported events: pending transfers are posted by hand"] = """
account A1 L1 C1 IMP ts=1 -> created
account A2 L1 C1 IMP ts=2 -> created
commit
transfer T1 A1 A2 3 L1 C2 IMP ts=3 -> created
transfer T2 A1 A2 4 L1 C2 PEN IMP ts=4 t=1 -> imported_event_timeout_must_be_zero
transfer T2 A1 A2 4 L1 C2 PEN IMP ts=4 -> created
commit
balances A1 4 3 0 0
balances A2 0 0 4 3
transfer T3 A1 A2 4 P2 L1 C2 POS IMP ts=5 -> created
commit
balances A1 0 7 0 0
timestamp T1 3
timestamp T2 4
timestamp T3 5
"""

SCENARIOS["imported events: a failed chain is resubmitted with the same timestamps"] = """
account A1 L1 C1 LNK IMP ts=1 -> linked_event_failed
account A2 L1 C1 LNK IMP ts=2 -> linked_event_failed
account A3 L1 C1 IMP ts=0 -> imported_event_timestamp_out_of_range
commit
account A1 L1 C1 LNK IMP ts=1 -> created
account A2 L1 C1 LNK IMP ts=2 -> created
account A3 L1 C1 IMP ts=3 -> created
commit
transfer T1 A1 A2 3 L1 C2 LNK IMP ts=4 -> linked_event_failed
transfer T2 A1 A2 3 L1 C2 LNK IMP ts=5 -> linked_event_failed
transfer T3 A1 A2 3 L1 C2 IMP ts=0 -> imported_event_timestamp_out_of_range
commit
transfer T1 A1 A2 3 L1 C2 LNK IMP ts=4 -> created
transfer T2 A1 A2 3 L1 C2 LNK IMP ts=5 -> created
transfer T3 A1 A2 3 L1 C2 IMP ts=6 -> created
commit
balances A1 0 9 0 0
balances A3 0 0 0 0
timestamp T3 6
"""


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_tigerbeetle_scenario(name: str) -> None:
    check(SCENARIOS[name])


# ---- result timestamps, per call and in batches ------------------------------------------------


def test_results_carry_tigerbeetle_017_timestamps() -> None:
    """CREATED: the new record's timestamp; EXISTS: the original's; any
    other status: the time the record was validated (TigerBeetle 0.17's
    create results). Per call, the same through ``result_timestamp``."""
    led = Ledger(8, 64, 64)
    res = led.create_accounts(_array([{"id": 1, "ledger": 1, "code": 1}, {"id": 2, "ledger": 1, "code": 1}],
                                      ACCOUNT_DTYPE), now_ns=100)  # fmt: skip
    assert [int(t) for t in res["timestamp"]] == [100, 101]
    assert led.create_account(1, 1, 1, now_ns=500) == CreateAccountResult.EXISTS
    assert led.result_timestamp == 100
    assert led.transfer(7, 1, 2, 5, 1, 1, now_ns=1000) == CreateTransferResult.CREATED
    assert led.result_timestamp == 1000
    assert led.transfer(8, 1, 9, 5, 1, 1, now_ns=1000) == CreateTransferResult.CREDIT_ACCOUNT_NOT_FOUND
    assert led.result_timestamp == 1001
    assert led.transfer(7, 1, 2, 5, 1, 1, now_ns=2000) == CreateTransferResult.EXISTS
    assert led.result_timestamp == 1000
    assert led.last_timestamp == 2000  # the retry took a timestamp all the same
    assert int(CreateTransferResult.CREATED) == 0xFFFFFFFF == int(CreateAccountResult.CREATED)
    assert CreateTransferResult.OK is CreateTransferResult.CREATED


def test_imported_per_call_and_its_programmer_errors() -> None:
    led = Ledger(8, 64, 64)
    imp = AF.IMPORTED
    assert led.create_account(1, 1, 1, flags=imp, timestamp=10, now_ns=100) == CreateAccountResult.CREATED
    assert led.result_timestamp == 10
    assert led.create_account(2, 1, 1, flags=imp, timestamp=20, now_ns=100) == CreateAccountResult.CREATED
    assert led.lookup_account(2).timestamp == 20
    r = led.transfer(3, 1, 2, 5, 1, 1, flags=TF.IMPORTED, timestamp=30, now_ns=100)
    assert r == CreateTransferResult.CREATED
    assert (led.lookup_transfer(3).timestamp, led.result_timestamp, led.last_timestamp) == (30, 30, 30)
    with pytest.raises(ValueError, match="timestamp"):
        led.transfer(4, 1, 2, 5, 1, 1, flags=TF.IMPORTED, timestamp=-1)
    with pytest.raises(TypeError, match="timestamp"):
        led.create_account(4, 1, 1, flags=imp, timestamp=1.5)  # type: ignore[arg-type]
    assert led.account_count == 2
