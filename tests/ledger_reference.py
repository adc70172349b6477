"""A pure-Python reference ledger: the semantics of shanraq_core.Ledger written
as plainly as possible (dicts, deep copies for chain rollback, a linear scan
for expiry, brute-force queries), to compare the C++ ledger against in tests
and as a benchmark baseline. It models the state machine too (``process``:
commands in, events out, sequence numbers, the clock, linked chains and
requests that span commands) and TigerBeetle 0.17's answers (result
timestamps, imported events, queries). It does not model capacities,
eviction or the archive.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from shanraq_core.ledger import (
    AccountFlags,
    CommandFlags,
    CommandRejection,
    CreateAccountResult,
    CreateTransferResult,
    LedgerCommandKind,
    LedgerEventType,
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

K = LedgerCommandKind
ET = LedgerEventType

U64 = (1 << 64) - 1
TIME_MAX = (1 << 63) - 1
#: The latest time a command may carry (machine.hpp kMaxTime).
MAX_TIME = 1 << 62
#: The longest linked chain (types.hpp kMaxChain).
MAX_CHAIN = 8190
ACCOUNT_KNOWN = AF.LINKED | AF.DEBITS_MUST_NOT_EXCEED_CREDITS | AF.CREDITS_MUST_NOT_EXCEED_DEBITS | AF.HISTORY
ACCOUNT_KNOWN = int(ACCOUNT_KNOWN | AF.CLOSED | AF.IMPORTED)
TRANSFER_KNOWN = 0x1FF
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
#: TigerBeetle's most results per query (what one 1 MiB reply of 128-byte records holds).
QUERY_LIMIT_MAX = 8190

#: An event as tests compare them: (seq, time_ns, type, result, timestamp, id
#: or count, remaining). See events_as_tuples in tests/test_ledger_machine.py.
Event = tuple[int, int, int, int, int, int, int]


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
    timeout_ns: int = 0
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
    """``idempotency_window_ns`` (0 = off): the model keeps every transfer
    for ever and only applies the window's answers, which is exactly what the
    real ledger must give whether or not it has evicted anything."""

    def __init__(self, idempotency_window_ns: int = 0) -> None:
        self.s = _State()
        self.last_timestamp = 0
        self.window = idempotency_window_ns
        self.next_seq = 1
        self.clock = 0
        # The open chain: (kind, [(seq, time, record, last_in_batch), ...]).
        self.chain_kind = 0
        self.chain: list[tuple[int, int, dict[str, int], bool]] = []
        # The open request: (kind, imports?) or None.
        self.request: tuple[int, bool] | None = None

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

    def _expire_due(self, now: int) -> list[tuple[int, int]]:
        """Releases the holds due at now; returns (hold id, expiry timestamp)s."""
        expired: list[tuple[int, int]] = []
        while True:
            due = [
                (t.timestamp + t.timeout_ns, i, t)
                for i, tid in enumerate(self.s.order)
                if (t := self.s.transfers[tid]).status == PS.PENDING and t.timeout_ns
            ]
            if not due:
                return expired
            expires_at, _, p = min(due, key=lambda d: (d[0], d[1]))
            if expires_at > max(now, self.last_timestamp + 1):
                return expired
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
            expired.append((p.id, ts))

    # ---- accounts ------------------------------------------------------------
    def _apply_account(self, a: dict[str, int], ts: int, imported: bool) -> tuple[AR, int]:
        """The result and its timestamp (TigerBeetle 0.17)."""
        r = self._account_result(a, ts, imported)
        if r == AR.EXISTS:
            return r, self.s.accounts[a["id"]].timestamp
        if r == AR.CREATED and imported:
            return r, a["timestamp"]
        return r, ts

    def _account_result(self, a: dict[str, int], ts: int, imported: bool) -> AR:
        flags = a.get("flags", 0)
        stamp = a.get("timestamp", 0)
        if imported or flags & AF.IMPORTED:
            if not imported:
                return AR.IMPORTED_EVENT_NOT_EXPECTED
            if not flags & AF.IMPORTED:
                return AR.IMPORTED_EVENT_EXPECTED
            if not 0 < stamp <= TIME_MAX:
                return AR.IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE
            if stamp >= ts:
                return AR.IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE
        elif stamp:
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
        if imported:
            if stamp <= self.last_timestamp:
                return AR.IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS
            ts = self.last_timestamp = stamp
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

    def create_accounts(self, accounts: list[dict[str, int]], now_ns: int = 0) -> list[AR]:
        return [AR(r) for r, _ in self._request(K.CREATE_ACCOUNT, accounts, now_ns)]

    def create_account(self, now_ns: int = 0, **a: int) -> AR:
        return self.create_accounts([a], now_ns)[0]

    def set_account_limit(self, aid: int, limit: int, now_ns: int = 0) -> LR:
        ev = self.process(
            [command(K.SET_ACCOUNT_LIMIT, now_ns, CommandFlags.LAST_IN_BATCH, aid=aid, limit=limit)]
        )
        return LR(ev[-1][3])

    def advance_time(self, now_ns: int) -> int:
        ev = self.process([command(K.ADVANCE_TIME, now_ns, CommandFlags.LAST_IN_BATCH)])
        return ev[-1][5]

    def evict(self, now_ns: int = 0) -> None:
        """An EVICT command: time passes (holds expire); the model evicts nothing."""
        self.process([command(K.EVICT, now_ns, CommandFlags.LAST_IN_BATCH)])

    def drain_evicted(self, now_ns: int = 0) -> None:
        """A DRAIN_EVICTED command: time passes; the model has no archive."""
        self.process([command(K.DRAIN_EVICTED, now_ns, CommandFlags.LAST_IN_BATCH, max=0)])

    def _apply_limit(self, aid: int, limit: int) -> LR:
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

    # ---- the state machine ---------------------------------------------------
    def _request(self, kind: int, records: list[dict[str, int]], now: int) -> list[tuple[int, int]]:
        """create_accounts / create_transfers: one command per record, the
        last ending the request; the (status, timestamp) results of those
        commands (TigerBeetle 0.17's CreateTransferResult)."""
        first = self.next_seq
        cmds = [
            command(kind, now, CommandFlags.LAST_IN_BATCH if i == len(records) - 1 else 0, record=r)
            for i, r in enumerate(records)
        ]
        results = [(0, 0)] * len(records)
        for e in self.process(cmds):
            if e[0] >= first and e[2] in (ET.ACCOUNT_RESULT, ET.TRANSFER_RESULT):
                results[e[0] - first] = (e[3], e[4])
        return results

    def create_transfer_results(
        self, transfers: list[dict[str, int]], now_ns: int = 0
    ) -> list[tuple[int, int]]:
        return self._request(K.CREATE_TRANSFER, transfers, now_ns)

    def create_account_results(
        self, accounts: list[dict[str, int]], now_ns: int = 0
    ) -> list[tuple[int, int]]:
        return self._request(K.CREATE_ACCOUNT, accounts, now_ns)

    def process(self, commands: list[dict[str, Any]]) -> list[Event]:
        """Applies commands (see ``command``) as LedgerMachine.process does."""
        events: list[Event] = []
        for c in commands:
            why = _rejection(c)
            if why:
                self._run_chain(events)
                self.request = None
                events.append((self.next_seq, self.clock, ET.REJECTED, why, 0, 0, 0))
                self.next_seq += 1
                continue
            kind = c["kind"]
            if self.chain and kind != self.chain_kind:
                self._run_chain(events)
            if self.request is not None and self.request[0] != kind:
                self.request = None
            seq = self.next_seq
            self.next_seq += 1
            self.clock = max(self.clock, c["time_ns"])
            now = self.clock
            if kind in (K.CREATE_ACCOUNT, K.CREATE_TRANSFER):
                record = c["record"]
                last = bool(c["flags"] & CommandFlags.LAST_IN_BATCH)
                self.chain_kind = kind
                self.chain.append((seq, now, record, last))
                if not record.get("flags", 0) & TF.LINKED or last or len(self.chain) == MAX_CHAIN:
                    self._run_chain(events)
                continue
            for hold, ts in self._expire_due(now):
                events.append((seq, now, ET.HOLD_EXPIRED, 0, ts, hold, 0))
            if kind == K.SET_ACCOUNT_LIMIT:
                ts = self._ts(now)
                r = self._apply_limit(c["aid"], c["limit"])
                events.append((seq, now, ET.LIMIT_RESULT, r, ts, c["aid"], 0))
            elif kind == K.ADVANCE_TIME:
                count = sum(1 for e in events if e[0] == seq)
                events.append((seq, now, ET.TIME_ADVANCED, 0, 0, count, 0))
            elif kind == K.EVICT:
                # Without a window nothing is evicted (the model never evicts).
                stored = 0 if self.window else len(self.s.order)
                events.append((seq, now, ET.EVICTED, 0, 0, 0, stored))
            else:
                events.append((seq, now, ET.DRAINED, 0, 0, 0, 0))
        return events

    def _run_chain(self, events: list[Event]) -> None:
        """Applies the buffered creates as one TigerBeetle batch (a chain
        still linked at its end ends open) and appends their events."""
        if not self.chain:
            return
        members, self.chain = self.chain, []
        transfers = self.chain_kind == K.CREATE_TRANSFER
        apply = self._apply_transfer if transfers else self._apply_account
        codes: Any = TR if transfers else AR
        rtype = ET.TRANSFER_RESULT if transfers else ET.ACCOUNT_RESULT
        n = len(members)
        results: list[tuple[int, int]] = []
        chain_start: int | None = None
        saved: _State | None = None
        broken = False
        chain_clock = 0
        for i, (seq, now, ev, last) in enumerate(members):
            linked = bool(ev.get("flags", 0) & TF.LINKED)
            if self.request is None:
                imported_flag = TF.IMPORTED if transfers else AF.IMPORTED
                self.request = (self.chain_kind, bool(ev.get("flags", 0) & imported_flag))
            imported = self.request[1]
            if chain_start is None:
                for hold, ts in self._expire_due(now):
                    events.append((seq, now, ET.HOLD_EXPIRED, 0, ts, hold, 0))
                if linked:
                    chain_start = i
                    saved = copy.deepcopy(self.s)
                    chain_clock = self.last_timestamp
            # An imported request takes no timestamps but the ones it imports.
            ts = max(now, self.last_timestamp + 1) if imported else self._ts(now)
            ends = linked and (i == n - 1 or last or i + 1 - (chain_start or 0) == MAX_CHAIN)
            # A chain left open is answered so even when it already failed.
            if ends:
                r, rts = codes.LINKED_EVENT_CHAIN_OPEN, ts
            elif broken:
                r, rts = codes.LINKED_EVENT_FAILED, ts
            else:
                r, rts = apply(ev, ts, imported)
            if r != codes.CREATED:
                if chain_start is not None and not broken:
                    broken = True
                    assert saved is not None
                    self.s = saved
                    if imported:
                        self.last_timestamp = chain_clock
                    for j in range(chain_start, i):
                        results[j] = (codes.LINKED_EVENT_FAILED, results[j][1])
                if r in TRANSIENT and transfers:
                    failed_ts = self.last_timestamp if imported else ts
                    self.s.transfers[ev["id"]] = RefTransfer(id=ev["id"], timestamp=failed_ts, status=FAILED)
                    self.s.order.append(ev["id"])
            results.append((int(r), rts))
            if last:
                self.request = None
            if chain_start is not None and (not linked or ends):
                chain_start = None
                saved = None
                broken = False
        for (seq, now, ev, _), (r, ts) in zip(members, results, strict=True):
            events.append((seq, now, rtype, r, ts, ev["id"], 0))

    # ---- transfers -----------------------------------------------------------
    def create_transfers(self, transfers: list[dict[str, int]], now_ns: int = 0) -> list[TR]:
        return [TR(r) for r, _ in self._request(K.CREATE_TRANSFER, transfers, now_ns)]

    def transfer(self, now_ns: int = 0, **t: int) -> TR:
        return self.create_transfers([t], now_ns)[0]

    def _exists(self, t: dict[str, int], e: RefTransfer) -> TR:
        g = t.get
        flags = g("flags", 0)
        if flags != e.flags:
            return TR.EXISTS_WITH_DIFFERENT_FLAGS
        if g("pending_id", 0) != e.pending_id:
            return TR.EXISTS_WITH_DIFFERENT_PENDING_ID
        if g("timeout_ns", 0) != e.timeout_ns:
            return TR.EXISTS_WITH_DIFFERENT_TIMEOUT
        amount = g("amount", 0)
        if flags & (TF.POST_PENDING_TRANSFER | TF.VOID_PENDING_TRANSFER):
            p = self.s.transfers[e.pending_id]
            if g("debit_account_id", 0) and g("debit_account_id") != e.debit_account_id:
                return TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
            if g("credit_account_id", 0) and g("credit_account_id") != e.credit_account_id:
                return TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
            # TigerBeetle >= 0.16: a void's 0 and a post's AMOUNT_MAX mean the whole hold.
            full = amount == 0 if flags & TF.VOID_PENDING_TRANSFER else amount == U64
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

    def _apply_transfer(self, t: dict[str, int], ts: int, imported: bool) -> tuple[TR, int]:
        """The result and its timestamp (TigerBeetle 0.17)."""
        r = self._transfer_result(t, ts, imported)
        if r == TR.EXISTS:
            return r, self.s.transfers[t["id"]].timestamp
        if r == TR.CREATED and imported:
            return r, t["timestamp"]
        return r, ts

    def _transfer_result(self, t: dict[str, int], ts: int, imported: bool) -> TR:
        g = t.get
        flags = g("flags", 0)
        stamp = g("timestamp", 0)
        if imported or flags & TF.IMPORTED:
            if not imported:
                return TR.IMPORTED_EVENT_NOT_EXPECTED
            if not flags & TF.IMPORTED:
                return TR.IMPORTED_EVENT_EXPECTED
            if not 0 < stamp <= TIME_MAX:
                return TR.IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE
            if stamp >= ts:
                return TR.IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE
        elif stamp:
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
            return self._post_or_void(t, ts, imported)
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
        timeout = g("timeout_ns", 0)
        if not pending:
            if timeout:
                return TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
            if flags & (TF.CLOSING_DEBIT | TF.CLOSING_CREDIT):
                return TR.CLOSING_TRANSFER_MUST_BE_PENDING
        amount = g("amount", 0)
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
        if imported:
            if stamp <= self.last_timestamp:
                return TR.IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS
            if timeout:
                return TR.IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO
            ts = stamp
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
                timeout_ns=timeout,
                user_data_128=g("user_data_128", 0),
                user_data_64=g("user_data_64", 0),
                user_data_32=g("user_data_32", 0),
                timestamp=ts,
                status=PS.PENDING if pending else PS.NONE,
            )
        )
        if imported:
            self.last_timestamp = ts
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

    def _post_or_void(self, t: dict[str, int], ts: int, imported: bool) -> TR:
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
        if g("timeout_ns", 0):
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
        # TigerBeetle >= 0.16: a void of 0 and a post of AMOUNT_MAX take the
        # whole hold; a post of 0 posts 0.
        if amount == (U64 if post else 0):
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
        if p.timeout_ns and p.timestamp + p.timeout_ns <= ts:
            return TR.PENDING_TRANSFER_EXPIRED
        if imported and g("timestamp", 0) <= self.last_timestamp:
            return TR.IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS
        if not void:
            if d.flags & AF.CLOSED:
                return TR.DEBIT_ACCOUNT_ALREADY_CLOSED
            if c.flags & AF.CLOSED:
                return TR.CREDIT_ACCOUNT_ALREADY_CLOSED
        if imported:
            ts = self.last_timestamp = g("timestamp", 0)
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

    # TigerBeetle 0.17's queries, written as their documentation reads: every
    # record tested against the filter, sorted by timestamp, then limited.
    # ``f`` holds the filter's fields (absent ones are 0).
    def _account_filter_valid(self, f: dict[str, int]) -> bool:
        tmin, tmax = f.get("timestamp_min", 0), f.get("timestamp_max", 0)
        flags = f.get("flags", 0)
        return (
            f.get("account_id", 0) not in (0, U64)
            and tmin < 1 << 63
            and tmax < 1 << 63
            and (tmax == 0 or tmin <= tmax)
            and f.get("limit", 0) != 0
            and flags & 3 != 0
            and flags & ~7 == 0
        )

    def _common_match(self, r: RefTransfer | RefAccount, f: dict[str, int]) -> bool:
        tmax = f.get("timestamp_max", 0) or U64
        return (
            f.get("timestamp_min", 0) <= r.timestamp <= tmax
            and all(
                f.get(k, 0) in (0, getattr(r, k)) for k in ("user_data_128", "user_data_64", "user_data_32")
            )
            and f.get("code", 0) in (0, r.code)
        )

    def get_account_transfers(self, f: dict[str, int]) -> list[RefTransfer]:
        if not self._account_filter_valid(f):
            return []
        aid, flags = f["account_id"], f.get("flags", 0)
        found = [
            t
            for t in self.s.transfers.values()
            if t.status != FAILED
            and ((flags & 1 and t.debit_account_id == aid) or (flags & 2 and t.credit_account_id == aid))
            and self._common_match(t, f)
        ]
        found.sort(key=lambda t: t.timestamp, reverse=bool(flags & 4))
        return found[: min(f["limit"], QUERY_LIMIT_MAX)]

    def get_account_balances(self, f: dict[str, int]) -> list[tuple[int, int, int, int, int]]:
        a = self.s.accounts.get(f.get("account_id", 0))
        if a is None or not a.flags & AF.HISTORY:
            return []
        by_ts = {h[0]: h for h in a.history}
        return [by_ts[t.timestamp] for t in self.get_account_transfers(f)]

    def _query(self, records: list[Any], f: dict[str, int]) -> list[Any]:
        tmin, tmax, flags = f.get("timestamp_min", 0), f.get("timestamp_max", 0), f.get("flags", 0)
        if tmin >= 1 << 63 or tmax >= 1 << 63 or (tmax != 0 and tmin > tmax):
            return []
        if f.get("limit", 0) == 0 or flags & ~1:
            return []
        found = [r for r in records if f.get("ledger", 0) in (0, r.ledger) and self._common_match(r, f)]
        found.sort(key=lambda r: r.timestamp, reverse=bool(flags & 1))
        return found[: min(f["limit"], QUERY_LIMIT_MAX)]

    def query_accounts(self, f: dict[str, int]) -> list[RefAccount]:
        return self._query(list(self.s.accounts.values()), f)

    def query_transfers(self, f: dict[str, int]) -> list[RefTransfer]:
        return self._query([t for t in self.s.transfers.values() if t.status != FAILED], f)


def command(kind: int, time_ns: int, flags: int = 0, **fields: Any) -> dict[str, Any]:
    """A command for ``ReferenceLedger.process``: ``record`` (an account or
    transfer dict) for creates, ``aid`` and ``limit`` for SET_ACCOUNT_LIMIT,
    ``max`` for DRAIN_EVICTED; ``bad`` names a malformation to model
    (a CommandRejection)."""
    return {"kind": kind, "time_ns": time_ns, "flags": flags, **fields}


def _rejection(c: dict[str, Any]) -> int:
    if "bad" in c:
        return int(c["bad"])
    if not 0 <= c["time_ns"] <= MAX_TIME:
        return CommandRejection.TIME_OUT_OF_RANGE
    return 0
