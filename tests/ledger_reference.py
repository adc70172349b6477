"""A pure-Python reference ledger: the semantics of shanraq_core.Ledger written
as plainly as possible (dicts, deep copies for chain rollback, a linear scan
for expiry), to compare the C++ ledger against in tests and as a benchmark
baseline. It does not model capacities.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from shanraq_core.ledger import (
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    SetLimitResult,
    TransferFlags,
)

AF = AccountFlags
AR = CreateAccountResult
TR = CreateTransferResult
PS = PendingStatus
LR = SetLimitResult
TF = TransferFlags

U64 = (1 << 64) - 1
TIME_MAX = (1 << 63) - 1
ACCOUNT_KNOWN = AF.LINKED | AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS | AF.HISTORY
ACCOUNT_KNOWN |= AF.CLOSED
TRANSFER_KNOWN = 0xFF
TRANSIENT = {
    TR.DEBIT_ACCOUNT_NOT_FOUND,
    TR.CREDIT_ACCOUNT_NOT_FOUND,
    TR.PENDING_TRANSFER_NOT_FOUND,
    TR.EXCEEDS_CREDITS,
    TR.EXCEEDS_DEBITS,
    TR.DEBIT_ACCOUNT_ALREADY_CLOSED,
    TR.CREDIT_ACCOUNT_ALREADY_CLOSED,
}
FAILED = 5


@dataclass
class RefAccount:
    id: int
    ledger: int
    code: int
    flags: int = 0
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    limit: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0
    reserved: int = 0
    history: list[tuple[int, int, int, int, int]] = field(default_factory=list)


@dataclass
class RefTransfer:
    id: int
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int = 0
    ledger: int = 0
    code: int = 0
    flags: int = 0
    pending_id: int = 0
    timeout: int = 0
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    timestamp: int = 0
    reserved: int = 0
    status: int = 0  # PendingStatus, or FAILED for a remembered failed id


@dataclass
class _State:
    accounts: dict[int, RefAccount] = field(default_factory=dict)
    transfers: dict[int, RefTransfer] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # transfer ids in insertion order


class ReferenceLedger:
    """``idempotency_window`` (ns, 0 = off): the model keeps every transfer
    for ever and only applies the window's answers, which is exactly what the
    real ledger must give whether or not it has evicted anything."""

    def __init__(self, idempotency_window: int = 0) -> None:
        self.s = _State()
        self.last_timestamp = 0
        self.window = idempotency_window

    def _outside(self, tid: int, ts: int) -> bool:
        # Milliseconds since the epoch in the id's high 42 bits.
        return self.window != 0 and (tid >> 22) * 1_000_000 + self.window < ts

    # ---- helpers -------------------------------------------------------------
    def _ts(self, now: int) -> int:
        self.last_timestamp = max(now, self.last_timestamp + 1)
        return self.last_timestamp

    def _history(self, a: RefAccount, ts: int) -> None:
        if a.flags & AF.HISTORY:
            a.history.append((ts, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted))

    def _expire_due(self, now: int) -> int:
        count = 0
        while True:
            due = [
                (t.timestamp + t.timeout, i, t)
                for i, tid in enumerate(self.s.order)
                if (t := self.s.transfers[tid]).status == PS.PENDING and t.timeout
            ]
            if not due:
                return count
            expires_at, _, p = min(due, key=lambda d: (d[0], d[1]))
            if expires_at > max(now, self.last_timestamp + 1):
                return count
            ts = self._ts(now)
            d = self.s.accounts[p.debit_account_id]
            c = self.s.accounts[p.credit_account_id]
            d.debits_pending -= p.amount
            c.credits_pending -= p.amount
            if p.flags & TF.CLOSING_DEBIT:
                d.flags &= ~AF.CLOSED
            if p.flags & TF.CLOSING_CREDIT:
                c.flags &= ~AF.CLOSED
            p.status = PS.EXPIRED
            self._history(d, ts)
            self._history(c, ts)
            count += 1

    def expire_pending_transfers(self, now: int) -> int:
        return self._expire_due(now)

    # ---- accounts ------------------------------------------------------------
    def _apply_account(self, a: dict[str, int], ts: int) -> AR:
        flags = a.get("flags", 0)
        if a.get("timestamp", 0):
            return AR.TIMESTAMP_MUST_BE_ZERO
        if a.get("reserved", 0):
            return AR.RESERVED_FIELD
        if flags & ~ACCOUNT_KNOWN:
            return AR.RESERVED_FLAG
        aid = a["id"]
        if aid == 0:
            return AR.ID_MUST_NOT_BE_ZERO
        if aid == U64:
            return AR.ID_MUST_NOT_BE_INT_MAX
        e = self.s.accounts.get(aid)
        if e is not None:
            for name, code in (
                ("flags", AR.EXISTS_WITH_DIFFERENT_FLAGS),
                ("user_data_128", AR.EXISTS_WITH_DIFFERENT_USER_DATA_128),
                ("user_data_64", AR.EXISTS_WITH_DIFFERENT_USER_DATA_64),
                ("user_data_32", AR.EXISTS_WITH_DIFFERENT_USER_DATA_32),
                ("ledger", AR.EXISTS_WITH_DIFFERENT_LEDGER),
                ("code", AR.EXISTS_WITH_DIFFERENT_CODE),
            ):
                if a.get(name, 0) != getattr(e, name):
                    return code
            return AR.EXISTS
        both = AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS
        if flags & both == both:
            return AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        for name, code in (
            ("debits_pending", AR.DEBITS_PENDING_MUST_BE_ZERO),
            ("debits_posted", AR.DEBITS_POSTED_MUST_BE_ZERO),
            ("credits_pending", AR.CREDITS_PENDING_MUST_BE_ZERO),
            ("credits_posted", AR.CREDITS_POSTED_MUST_BE_ZERO),
        ):
            if a.get(name, 0):
                return code
        if not a.get("ledger", 0):
            return AR.LEDGER_MUST_NOT_BE_ZERO
        if not a.get("code", 0):
            return AR.CODE_MUST_NOT_BE_ZERO
        if a.get("limit", 0) and not flags & both:
            return AR.LIMIT_REQUIRES_BALANCE_FLAG
        self.s.accounts[aid] = RefAccount(
            id=aid,
            ledger=a["ledger"],
            code=a["code"],
            flags=flags,
            user_data_128=a.get("user_data_128", 0),
            user_data_64=a.get("user_data_64", 0),
            user_data_32=a.get("user_data_32", 0),
            limit=a.get("limit", 0),
            timestamp=ts,
        )
        return AR.CREATED

    def create_accounts(self, accounts: list[dict[str, int]], now: int = 0) -> list[AR]:
        return self._batch(accounts, now, self._apply_account, AF.LINKED, AR, expire=False)

    def create_account(self, now: int = 0, **a: int) -> AR:
        return self.create_accounts([a], now)[0]

    def set_account_limit(self, aid: int, limit: int) -> LR:
        if aid == 0:
            return LR.ID_MUST_NOT_BE_ZERO
        a = self.s.accounts.get(aid)
        if a is None:
            return LR.ACCOUNT_NOT_FOUND
        if limit and not a.flags & (AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS):
            return LR.LIMIT_REQUIRES_BALANCE_FLAG
        if a.flags & AF.CLOSED:
            return LR.ACCOUNT_CLOSED
        a.limit = limit
        return LR.OK

    # ---- batches and chains --------------------------------------------------
    def _batch(
        self, events: list[dict[str, int]], now: int, apply: Any, linked_bit: int, codes: Any, expire: bool
    ) -> list[Any]:
        results: list[Any] = [None] * len(events)
        chain_start: int | None = None
        saved: _State | None = None
        broken = False
        n = len(events)
        for i, ev in enumerate(events):
            linked = bool(ev.get("flags", 0) & linked_bit)
            if chain_start is None:
                if expire:
                    self._expire_due(now)
                if linked:
                    chain_start = i
                    saved = copy.deepcopy(self.s)
            ts = self._ts(now)
            if broken:
                r = codes.LINKED_EVENT_FAILED
            elif linked and i == n - 1:
                r = codes.LINKED_EVENT_CHAIN_OPEN
            else:
                r = apply(ev, ts)
            if r != 0:
                if chain_start is not None and not broken:
                    broken = True
                    assert saved is not None
                    self.s = saved
                    for j in range(chain_start, i):
                        results[j] = codes.LINKED_EVENT_FAILED
                if r in TRANSIENT and codes is TR:
                    self.s.transfers[ev["id"]] = RefTransfer(id=ev["id"], timestamp=ts, status=FAILED)
                    self.s.order.append(ev["id"])
            results[i] = r
            if chain_start is not None and (not linked or i == n - 1):
                chain_start = None
                saved = None
                broken = False
        return results

    # ---- transfers -----------------------------------------------------------
    def create_transfers(self, transfers: list[dict[str, int]], now: int = 0) -> list[TR]:
        return self._batch(transfers, now, self._apply_transfer, TF.LINKED, TR, expire=True)

    def transfer(self, now: int = 0, **t: int) -> TR:
        return self.create_transfers([t], now)[0]

    def _exists(self, t: dict[str, int], e: RefTransfer) -> TR:
        g = t.get
        flags = g("flags", 0)
        if flags != e.flags:
            return TR.EXISTS_WITH_DIFFERENT_FLAGS
        if g("pending_id", 0) != e.pending_id:
            return TR.EXISTS_WITH_DIFFERENT_PENDING_ID
        if g("timeout", 0) != e.timeout:
            return TR.EXISTS_WITH_DIFFERENT_TIMEOUT
        amount = g("amount", 0)
        if flags & (TF.POST_PENDING_TRANSFER | TF.VOID_PENDING_TRANSFER):
            p = self.s.transfers[e.pending_id]
            if g("debit_account_id", 0) and g("debit_account_id") != e.debit_account_id:
                return TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
            if g("credit_account_id", 0) and g("credit_account_id") != e.credit_account_id:
                return TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
            full = amount == 0 if flags & TF.VOID_PENDING_TRANSFER else amount in (0, U64)
            if (e.amount != p.amount) if full else (amount != e.amount):
                return TR.EXISTS_WITH_DIFFERENT_AMOUNT
            for name, code in (
                ("user_data_128", TR.EXISTS_WITH_DIFFERENT_USER_DATA_128),
                ("user_data_64", TR.EXISTS_WITH_DIFFERENT_USER_DATA_64),
                ("user_data_32", TR.EXISTS_WITH_DIFFERENT_USER_DATA_32),
            ):
                if (g(name, 0) or getattr(p, name)) != getattr(e, name):
                    return code
            if g("ledger", 0) and g("ledger") != e.ledger:
                return TR.EXISTS_WITH_DIFFERENT_LEDGER
            if g("code", 0) and g("code") != e.code:
                return TR.EXISTS_WITH_DIFFERENT_CODE
            return TR.EXISTS
        if g("debit_account_id", 0) != e.debit_account_id:
            return TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
        if g("credit_account_id", 0) != e.credit_account_id:
            return TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
        if flags & (TF.BALANCING_DEBIT | TF.BALANCING_CREDIT):
            if amount < e.amount:
                return TR.EXISTS_WITH_DIFFERENT_AMOUNT
        elif amount != e.amount:
            return TR.EXISTS_WITH_DIFFERENT_AMOUNT
        for name, code in (
            ("user_data_128", TR.EXISTS_WITH_DIFFERENT_USER_DATA_128),
            ("user_data_64", TR.EXISTS_WITH_DIFFERENT_USER_DATA_64),
            ("user_data_32", TR.EXISTS_WITH_DIFFERENT_USER_DATA_32),
            ("ledger", TR.EXISTS_WITH_DIFFERENT_LEDGER),
            ("code", TR.EXISTS_WITH_DIFFERENT_CODE),
        ):
            if g(name, 0) != getattr(e, name):
                return code
        return TR.EXISTS

    def _store(self, t: RefTransfer) -> None:
        self.s.transfers[t.id] = t
        self.s.order.append(t.id)

    def _apply_transfer(self, t: dict[str, int], ts: int) -> TR:
        g = t.get
        flags = g("flags", 0)
        if g("timestamp", 0):
            return TR.TIMESTAMP_MUST_BE_ZERO
        if flags & ~TRANSFER_KNOWN:
            return TR.RESERVED_FLAG
        if g("reserved", 0):
            return TR.RESERVED_FIELD
        tid = t["id"]
        if tid == 0:
            return TR.ID_MUST_NOT_BE_ZERO
        if tid == U64:
            return TR.ID_MUST_NOT_BE_INT_MAX
        if self._outside(tid, ts):
            return TR.ID_OUTSIDE_IDEMPOTENCY_WINDOW
        e = self.s.transfers.get(tid)
        if e is not None:
            return TR.ID_ALREADY_FAILED if e.status == FAILED else self._exists(t, e)
        if flags & (TF.POST_PENDING_TRANSFER | TF.VOID_PENDING_TRANSFER):
            return self._post_or_void(t, ts)
        dr_id, cr_id = g("debit_account_id", 0), g("credit_account_id", 0)
        if dr_id == 0:
            return TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if dr_id == U64:
            return TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
        if cr_id == 0:
            return TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if cr_id == U64:
            return TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
        if dr_id == cr_id:
            return TR.ACCOUNTS_MUST_BE_DIFFERENT
        if g("pending_id", 0):
            return TR.PENDING_ID_MUST_BE_ZERO
        pending = bool(flags & TF.PENDING)
        timeout = g("timeout", 0)
        if not pending:
            if timeout:
                return TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
            if flags & (TF.CLOSING_DEBIT | TF.CLOSING_CREDIT):
                return TR.CLOSING_TRANSFER_MUST_BE_PENDING
        amount = g("amount", 0)
        if amount == 0 and not flags & (
            TF.BALANCING_DEBIT | TF.BALANCING_CREDIT | TF.CLOSING_DEBIT | TF.CLOSING_CREDIT
        ):
            return TR.AMOUNT_MUST_NOT_BE_ZERO
        if not g("ledger", 0):
            return TR.LEDGER_MUST_NOT_BE_ZERO
        if not g("code", 0):
            return TR.CODE_MUST_NOT_BE_ZERO
        d = self.s.accounts.get(dr_id)
        if d is None:
            return TR.DEBIT_ACCOUNT_NOT_FOUND
        c = self.s.accounts.get(cr_id)
        if c is None:
            return TR.CREDIT_ACCOUNT_NOT_FOUND
        if d.ledger != c.ledger:
            return TR.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
        if g("ledger") != d.ledger:
            return TR.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
        if d.flags & AF.CLOSED:
            return TR.DEBIT_ACCOUNT_ALREADY_CLOSED
        if c.flags & AF.CLOSED:
            return TR.CREDIT_ACCOUNT_ALREADY_CLOSED
        d_limit = d.limit if d.flags & AF.DEBITS_MUST_NOT_EXCEED_CREDITS else 0
        c_limit = c.limit if c.flags & AF.CREDITS_MUST_NOT_EXCEED_DEBITS else 0
        if flags & TF.BALANCING_DEBIT:
            amount = min(amount, max(0, d.credits_posted + d_limit - d.debits_posted - d.debits_pending))
        if flags & TF.BALANCING_CREDIT:
            amount = min(amount, max(0, c.debits_posted + c_limit - c.credits_posted - c.credits_pending))
        if pending:
            if d.debits_pending + amount > U64:
                return TR.OVERFLOWS_DEBITS_PENDING
            if c.credits_pending + amount > U64:
                return TR.OVERFLOWS_CREDITS_PENDING
        if d.debits_posted + amount > U64:
            return TR.OVERFLOWS_DEBITS_POSTED
        if c.credits_posted + amount > U64:
            return TR.OVERFLOWS_CREDITS_POSTED
        if d.debits_pending + d.debits_posted + amount > U64:
            return TR.OVERFLOWS_DEBITS
        if c.credits_pending + c.credits_posted + amount > U64:
            return TR.OVERFLOWS_CREDITS
        if ts + timeout > TIME_MAX:
            return TR.OVERFLOWS_TIMEOUT
        if d.flags & AF.DEBITS_MUST_NOT_EXCEED_CREDITS and (
            d.debits_pending + d.debits_posted + amount > d.credits_posted + d.limit
        ):
            return TR.EXCEEDS_CREDITS
        if c.flags & AF.CREDITS_MUST_NOT_EXCEED_DEBITS and (
            c.credits_pending + c.credits_posted + amount > c.debits_posted + c.limit
        ):
            return TR.EXCEEDS_DEBITS
        self._store(
            RefTransfer(
                id=tid,
                debit_account_id=dr_id,
                credit_account_id=cr_id,
                amount=amount,
                ledger=g("ledger", 0),
                code=g("code", 0),
                flags=flags,
                timeout=timeout,
                user_data_128=g("user_data_128", 0),
                user_data_64=g("user_data_64", 0),
                user_data_32=g("user_data_32", 0),
                timestamp=ts,
                status=PS.PENDING if pending else PS.NONE,
            )
        )
        if pending:
            d.debits_pending += amount
            c.credits_pending += amount
        else:
            d.debits_posted += amount
            c.credits_posted += amount
        if flags & TF.CLOSING_DEBIT:
            d.flags |= AF.CLOSED
        if flags & TF.CLOSING_CREDIT:
            c.flags |= AF.CLOSED
        self._history(d, ts)
        self._history(c, ts)
        return TR.CREATED

    def _post_or_void(self, t: dict[str, int], ts: int) -> TR:
        g = t.get
        flags = g("flags", 0)
        post = bool(flags & TF.POST_PENDING_TRANSFER)
        void = bool(flags & TF.VOID_PENDING_TRANSFER)
        if post and void:
            return TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if flags & (
            TF.PENDING | TF.BALANCING_DEBIT | TF.BALANCING_CREDIT | TF.CLOSING_DEBIT | TF.CLOSING_CREDIT
        ):
            return TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        pid = g("pending_id", 0)
        if pid == 0:
            return TR.PENDING_ID_MUST_NOT_BE_ZERO
        if pid == U64:
            return TR.PENDING_ID_MUST_NOT_BE_INT_MAX
        if pid == t["id"]:
            return TR.PENDING_ID_MUST_BE_DIFFERENT
        if g("timeout", 0):
            return TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
        p = self.s.transfers.get(pid)
        if self._outside(pid, ts) and (p is None or p.status != PS.PENDING):
            return TR.PENDING_ID_OUTSIDE_IDEMPOTENCY_WINDOW
        if p is None or p.status == FAILED:
            return TR.PENDING_TRANSFER_NOT_FOUND
        if not p.flags & TF.PENDING:
            return TR.PENDING_TRANSFER_NOT_PENDING
        d = self.s.accounts[p.debit_account_id]
        c = self.s.accounts[p.credit_account_id]
        if g("debit_account_id", 0) and g("debit_account_id") != p.debit_account_id:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if g("credit_account_id", 0) and g("credit_account_id") != p.credit_account_id:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        if g("ledger", 0) and g("ledger") != p.ledger:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
        if g("code", 0) and g("code") != p.code:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_CODE
        amount = g("amount", 0)
        if amount == 0 or (post and amount == U64):
            amount = p.amount
        if amount > p.amount:
            return TR.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if void and amount < p.amount:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        if p.status == PS.POSTED:
            return TR.PENDING_TRANSFER_ALREADY_POSTED
        if p.status == PS.VOIDED:
            return TR.PENDING_TRANSFER_ALREADY_VOIDED
        if p.status == PS.EXPIRED:
            return TR.PENDING_TRANSFER_EXPIRED
        if p.timeout and p.timestamp + p.timeout <= ts:
            return TR.PENDING_TRANSFER_EXPIRED
        if not void:
            if d.flags & AF.CLOSED:
                return TR.DEBIT_ACCOUNT_ALREADY_CLOSED
            if c.flags & AF.CLOSED:
                return TR.CREDIT_ACCOUNT_ALREADY_CLOSED
        self._store(
            RefTransfer(
                id=t["id"],
                debit_account_id=p.debit_account_id,
                credit_account_id=p.credit_account_id,
                amount=amount,
                ledger=p.ledger,
                code=p.code,
                flags=flags,
                pending_id=pid,
                user_data_128=g("user_data_128", 0) or p.user_data_128,
                user_data_64=g("user_data_64", 0) or p.user_data_64,
                user_data_32=g("user_data_32", 0) or p.user_data_32,
                timestamp=ts,
                status=PS.NONE,
            )
        )
        p.status = PS.POSTED if post else PS.VOIDED
        d.debits_pending -= p.amount
        c.credits_pending -= p.amount
        if post:
            d.debits_posted += amount
            c.credits_posted += amount
        else:
            if p.flags & TF.CLOSING_DEBIT:
                d.flags &= ~AF.CLOSED
            if p.flags & TF.CLOSING_CREDIT:
                c.flags &= ~AF.CLOSED
        self._history(d, ts)
        self._history(c, ts)
        return TR.CREATED

    # ---- queries -------------------------------------------------------------
    def lookup_account(self, aid: int) -> RefAccount | None:
        return self.s.accounts.get(aid)

    def lookup_transfer(self, tid: int) -> RefTransfer | None:
        t = self.s.transfers.get(tid)
        return None if t is None or t.status == FAILED else t

    def account_history(
        self, aid: int, since: int = 0, until: int = U64
    ) -> list[tuple[int, int, int, int, int]]:
        a = self.s.accounts.get(aid)
        if a is None:
            return []
        return [h for h in a.history if since <= h[0] <= until]
