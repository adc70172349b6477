"""Double-entry ledger with TigerBeetle 0.17's semantics, as a state machine.

Accounts hold four u64 balances (debits/credits, pending/posted) in integer
minor units; transfers move an amount from a debit account to a credit account
of the same ``ledger`` (currency), single-phase or as a hold (``PENDING``) that
is later posted (fully or partly), voided, or expires. Linked chains succeed or
fail as a whole; a repeated id answers ``EXISTS`` or the precise
``EXISTS_WITH_DIFFERENT_<FIELD>``; an id that failed for a state-dependent
reason answers ``ID_ALREADY_FAILED`` for ever. Records carry their history in
with ``IMPORTED`` (their own timestamps). Names, flag bits and result values
are TigerBeetle 0.17's (``CREATED`` is 2**32 - 1); docs/ledger.md lists every
difference in one table (u64 ids and amounts, timeouts in ns, numeric limits,
one timeline for imported timestamps, ...).

Every change is a command (``LEDGER_COMMAND_DTYPE``): account and transfer
creation, limits, the passage of time (hold expiry), eviction and the
hand-over of evicted transfers; every outcome is an event
(``LEDGER_EVENT_DTYPE``). ``Ledger.process(commands)`` applies a numpy array
of commands and returns the events; the per-call methods (``transfer``,
``create_account``, ``set_account_limit``, ``advance_time``, ``evict``,
``drain_evicted``) and the TigerBeetle-style batches (``create_accounts``,
``create_transfers``) build commands and return their results.

Time is carried by commands (``now_ns``, ns since an epoch of your choosing;
0 means "at the ledger's clock"); the ledger never reads a clock. Each event
gets the timestamp ``max(now, last_timestamp + 1)``, so timestamps strictly
increase and equal command streams give equal ``state_hash()``.

Single-writer: a call that releases the GIL refuses another thread's call with
RuntimeError. Business failures are result codes; programmer errors raise
``TypeError``/``ValueError``; a full ledger raises
:class:`shanraq_core.errors.CapacityError` before anything is applied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from shanraq_core._core import ledger as _ledger
from shanraq_core._core.ledger import (
    ACCOUNT_BALANCE_DTYPE,
    ACCOUNT_DTYPE,
    ACCOUNT_FILTER_DTYPE,
    AMOUNT_MAX,
    CREATE_RESULT_DTYPE,
    LEDGER_COMMAND_DTYPE,
    LEDGER_EVENT_DTYPE,
    MAX_TIME_NS,
    QUERY_FILTER_DTYPE,
    QUERY_LIMIT_MAX,
    TRANSFER_DTYPE,
    LedgerBase,
)
from shanraq_core._layout import check_enum
from shanraq_core.errors import CapacityError

if TYPE_CHECKING:
    from shanraq_core.journal import Journal

__all__ = [
    "ACCOUNT_BALANCE_DTYPE",
    "ACCOUNT_DTYPE",
    "ACCOUNT_FILTER_DTYPE",
    "AMOUNT_MAX",
    "CREATE_RESULT_DTYPE",
    "LEDGER_COMMAND_DTYPE",
    "LEDGER_EVENT_DTYPE",
    "MAX_TIME_NS",
    "QUERY_FILTER_DTYPE",
    "QUERY_LIMIT_MAX",
    "TRANSFER_DTYPE",
    "Account",
    "AccountFilterFlags",
    "AccountFlags",
    "CapacityError",
    "CommandFlags",
    "CommandRejection",
    "CreateAccountResult",
    "CreateTransferResult",
    "Ledger",
    "LedgerCommandKind",
    "LedgerEventType",
    "PendingStatus",
    "QueryFilterFlags",
    "SetLimitResult",
    "Transfer",
    "TransferFlags",
    "make_transfer_id",
]

#: Low bits of a time-ordered transfer id left to the caller (sequence/random).
ID_SEQUENCE_BITS = 22


def make_transfer_id(ms: int, sequence: int) -> int:
    """A time-ordered transfer id for a ledger with an idempotency window:
    ``ms`` (milliseconds since the Unix epoch, < 2**42: until 2109) in the high
    42 bits and ``sequence`` (< 2**22, unique among the caller's ids of that
    millisecond) in the low 22. Pure function; any thread.

    Raises:
        ValueError: ``ms`` or ``sequence`` out of range, or an id of 0.
    """
    if not 0 <= ms < 1 << (64 - ID_SEQUENCE_BITS):
        raise ValueError(f"ms must be in 0..2**42-1, got {ms}")
    if not 0 <= sequence < 1 << ID_SEQUENCE_BITS:
        raise ValueError(f"sequence must be in 0..2**22-1, got {sequence}")
    if ms == 0 and sequence == 0:
        raise ValueError("id 0 is reserved")
    return (ms << ID_SEQUENCE_BITS) | sequence


class AccountFlags(IntFlag):
    """Account.flags (TigerBeetle's bits)."""

    NONE = 0
    #: The account and the next create succeed or fail together (a linked chain).
    LINKED = 1 << 0
    #: debits_pending + debits_posted may not exceed credits_posted (+ limit).
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    #: credits_pending + credits_posted may not exceed debits_posted (+ limit).
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2
    #: Keep the balances after every change, for get_account_balances() and account_history().
    HISTORY = 1 << 3
    #: Created with its own ``timestamp`` (a migration; docs/ledger.md).
    IMPORTED = 1 << 4
    #: No more transfers, except voiding a hold (set by a closing transfer).
    CLOSED = 1 << 5


class TransferFlags(IntFlag):
    """Transfer.flags (TigerBeetle's bits)."""

    NONE = 0
    #: This transfer and the next create succeed or fail together (a linked chain).
    LINKED = 1 << 0
    #: A hold: moves the amount to the pending balances until posted, voided or expired.
    PENDING = 1 << 1
    #: Posts ``amount`` of the hold named by pending_id (AMOUNT_MAX: all of it; 0 posts 0).
    POST_PENDING_TRANSFER = 1 << 2
    #: Voids the hold named by pending_id (amount 0 or the hold's).
    VOID_PENDING_TRANSFER = 1 << 3
    #: Moves at most what the debit account's credits (+ limit) leave room for.
    BALANCING_DEBIT = 1 << 4
    #: Moves at most what the credit account's debits (+ limit) leave room for.
    BALANCING_CREDIT = 1 << 5
    #: Closes the debit account (the transfer must be pending; voiding it reopens).
    CLOSING_DEBIT = 1 << 6
    #: Closes the credit account (the transfer must be pending; voiding it reopens).
    CLOSING_CREDIT = 1 << 7
    #: Created with its own ``timestamp`` (a migration; docs/ledger.md).
    IMPORTED = 1 << 8


class AccountFilterFlags(IntFlag):
    """AccountFilter.flags (TigerBeetle's): get_account_transfers and
    get_account_balances need DEBITS and/or CREDITS, else they match nothing."""

    NONE = 0
    #: Transfers where the account is the debit account.
    DEBITS = 1 << 0
    #: Transfers where the account is the credit account.
    CREDITS = 1 << 1
    #: Newest first.
    REVERSED = 1 << 2


class QueryFilterFlags(IntFlag):
    """QueryFilter.flags (TigerBeetle's)."""

    NONE = 0
    #: Newest first.
    REVERSED = 1 << 0


class CreateAccountResult(IntEnum):
    """Result of creating one account; members in descending precedence."""

    #: The account was created (2**32 - 1, as in TigerBeetle 0.17).
    CREATED = 0xFFFFFFFF
    #: Alias of CREATED (TigerBeetle clients before 0.17 call it ``ok``).
    OK = 0xFFFFFFFF
    #: Not created: another account of its linked chain failed.
    LINKED_EVENT_FAILED = 1
    #: Not created: its chain was still linked at the end of the request (or of 8190 members).
    LINKED_EVENT_CHAIN_OPEN = 2
    #: Not created: the request's first account is IMPORTED, this one is not.
    IMPORTED_EVENT_EXPECTED = 22
    #: Not created: the request's first account is not IMPORTED, this one is.
    IMPORTED_EVENT_NOT_EXPECTED = 23
    #: Not created: timestamp must be 0 (the ledger assigns it) unless IMPORTED.
    TIMESTAMP_MUST_BE_ZERO = 3
    #: Not created: an imported timestamp must be in 1..2**63-1.
    IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE = 24
    #: Not created: an imported timestamp must be earlier than the ledger's time now.
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE = 25
    #: Not created: reserved must be 0.
    RESERVED_FIELD = 4
    #: Not created: an unknown flag bit is set.
    RESERVED_FLAG = 5
    #: Not created: id 0 is reserved.
    ID_MUST_NOT_BE_ZERO = 6
    #: Not created: id 2**64-1 is reserved.
    ID_MUST_NOT_BE_INT_MAX = 7
    #: An account with this id exists with different flags.
    EXISTS_WITH_DIFFERENT_FLAGS = 15
    #: An account with this id exists with a different user_data_128.
    EXISTS_WITH_DIFFERENT_USER_DATA_128 = 16
    #: An account with this id exists with a different user_data_64.
    EXISTS_WITH_DIFFERENT_USER_DATA_64 = 17
    #: An account with this id exists with a different user_data_32.
    EXISTS_WITH_DIFFERENT_USER_DATA_32 = 18
    #: An account with this id exists with a different ledger.
    EXISTS_WITH_DIFFERENT_LEDGER = 19
    #: An account with this id exists with a different code.
    EXISTS_WITH_DIFFERENT_CODE = 20
    #: An identical account exists (treat as CREATED when retrying).
    EXISTS = 21
    #: Not created: both balance flags are set.
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = 8
    #: Not created: debits_pending must be 0.
    DEBITS_PENDING_MUST_BE_ZERO = 9
    #: Not created: debits_posted must be 0.
    DEBITS_POSTED_MUST_BE_ZERO = 10
    #: Not created: credits_pending must be 0.
    CREDITS_PENDING_MUST_BE_ZERO = 11
    #: Not created: credits_posted must be 0.
    CREDITS_POSTED_MUST_BE_ZERO = 12
    #: Not created: ledger must not be 0.
    LEDGER_MUST_NOT_BE_ZERO = 13
    #: Not created: code must not be 0.
    CODE_MUST_NOT_BE_ZERO = 14
    #: Not created (extension): a nonzero limit needs a balance flag.
    LIMIT_REQUIRES_BALANCE_FLAG = 100
    #: Not created: an imported timestamp must be later than every timestamp the ledger has taken.
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS = 26


class CreateTransferResult(IntEnum):
    """Result of creating one transfer; members in descending precedence."""

    #: The transfer was created (2**32 - 1, as in TigerBeetle 0.17).
    CREATED = 0xFFFFFFFF
    #: Alias of CREATED (TigerBeetle clients before 0.17 call it ``ok``).
    OK = 0xFFFFFFFF
    #: Not created: another transfer of its linked chain failed.
    LINKED_EVENT_FAILED = 1
    #: Not created: its chain was still linked at the end of the request (or of 8190 members).
    LINKED_EVENT_CHAIN_OPEN = 2
    #: Not created: the request's first transfer is IMPORTED, this one is not.
    IMPORTED_EVENT_EXPECTED = 56
    #: Not created: the request's first transfer is not IMPORTED, this one is.
    IMPORTED_EVENT_NOT_EXPECTED = 57
    #: Not created: timestamp must be 0 (the ledger assigns it) unless IMPORTED.
    TIMESTAMP_MUST_BE_ZERO = 3
    #: Not created: an imported timestamp must be in 1..2**63-1.
    IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE = 58
    #: Not created: an imported timestamp must be earlier than the ledger's time now.
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE = 59
    #: Not created: an unknown flag bit is set.
    RESERVED_FLAG = 4
    #: Not created (extension): reserved must be 0.
    RESERVED_FIELD = 100
    #: Not created: id 0 is reserved.
    ID_MUST_NOT_BE_ZERO = 5
    #: Not created: id 2**64-1 is reserved.
    ID_MUST_NOT_BE_INT_MAX = 6
    #: Not created (extension): the id's embedded time is older than the event's
    #: timestamp minus the idempotency window; a retry this late is refused.
    ID_OUTSIDE_IDEMPOTENCY_WINDOW = 101
    #: A transfer with this id exists with different flags.
    EXISTS_WITH_DIFFERENT_FLAGS = 36
    #: A transfer with this id exists with a different pending_id.
    EXISTS_WITH_DIFFERENT_PENDING_ID = 40
    #: A transfer with this id exists with a different timeout.
    EXISTS_WITH_DIFFERENT_TIMEOUT = 44
    #: A transfer with this id exists with a different debit_account_id.
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = 37
    #: A transfer with this id exists with a different credit_account_id.
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = 38
    #: A transfer with this id exists with a different amount (balancing: moved more than asked).
    EXISTS_WITH_DIFFERENT_AMOUNT = 39
    #: A transfer with this id exists with a different user_data_128.
    EXISTS_WITH_DIFFERENT_USER_DATA_128 = 41
    #: A transfer with this id exists with a different user_data_64.
    EXISTS_WITH_DIFFERENT_USER_DATA_64 = 42
    #: A transfer with this id exists with a different user_data_32.
    EXISTS_WITH_DIFFERENT_USER_DATA_32 = 43
    #: A transfer with this id exists with a different ledger.
    EXISTS_WITH_DIFFERENT_LEDGER = 67
    #: A transfer with this id exists with a different code.
    EXISTS_WITH_DIFFERENT_CODE = 45
    #: An identical transfer exists (treat as CREATED when retrying).
    EXISTS = 46
    #: Not created: this id already failed for a state-dependent reason; it never succeeds.
    ID_ALREADY_FAILED = 68
    #: Not created: post/void cannot be combined with each other, PENDING, BALANCING_* or CLOSING_*.
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = 7
    #: Not created: debit_account_id must not be 0.
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 8
    #: Not created: debit_account_id 2**64-1 is reserved.
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = 9
    #: Not created: credit_account_id must not be 0.
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 10
    #: Not created: credit_account_id 2**64-1 is reserved.
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = 11
    #: Not created: debit and credit account are the same.
    ACCOUNTS_MUST_BE_DIFFERENT = 12
    #: Not created: only post/void transfers name a pending_id.
    PENDING_ID_MUST_BE_ZERO = 13
    #: Not created: a post/void transfer must name a pending_id.
    PENDING_ID_MUST_NOT_BE_ZERO = 14
    #: Not created: pending_id 2**64-1 is reserved.
    PENDING_ID_MUST_NOT_BE_INT_MAX = 15
    #: Not created: pending_id equals the transfer's own id.
    PENDING_ID_MUST_BE_DIFFERENT = 16
    #: Not created: only pending transfers take a timeout.
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = 17
    #: Not created (extension): pending_id's time is outside the idempotency
    #: window and it names no live hold (it may have been evicted).
    PENDING_ID_OUTSIDE_IDEMPOTENCY_WINDOW = 102
    #: Not created: CLOSING_DEBIT/CLOSING_CREDIT need PENDING.
    CLOSING_TRANSFER_MUST_BE_PENDING = 64
    #: Not created: ledger must not be 0.
    LEDGER_MUST_NOT_BE_ZERO = 19
    #: Not created: code must not be 0.
    CODE_MUST_NOT_BE_ZERO = 20
    #: Not created: no account has debit_account_id.
    DEBIT_ACCOUNT_NOT_FOUND = 21
    #: Not created: no account has credit_account_id.
    CREDIT_ACCOUNT_NOT_FOUND = 22
    #: Not created: the accounts are on different ledgers.
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = 23
    #: Not created: the transfer's ledger differs from its accounts'.
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = 24
    #: Not created: no transfer has pending_id.
    PENDING_TRANSFER_NOT_FOUND = 25
    #: Not created: the transfer named by pending_id is not a hold.
    PENDING_TRANSFER_NOT_PENDING = 26
    #: Not created: the hold has a different debit account.
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = 27
    #: Not created: the hold has a different credit account.
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = 28
    #: Not created: the hold has a different ledger.
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = 29
    #: Not created: the hold has a different code.
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = 30
    #: Not created: the amount exceeds the hold's.
    EXCEEDS_PENDING_TRANSFER_AMOUNT = 31
    #: Not created: a void's amount must be 0 or the hold's.
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = 32
    #: Not created: the hold was already posted.
    PENDING_TRANSFER_ALREADY_POSTED = 33
    #: Not created: the hold was already voided.
    PENDING_TRANSFER_ALREADY_VOIDED = 34
    #: Not created: the hold's timeout has passed.
    PENDING_TRANSFER_EXPIRED = 35
    #: Not created: an imported timestamp must be later than every timestamp the ledger has taken.
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS = 60
    #: Never returned here (one timeline: MUST_NOT_REGRESS answers first; docs/ledger.md).
    IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_DEBIT_ACCOUNT = 61
    #: Never returned here (one timeline: MUST_NOT_REGRESS answers first; docs/ledger.md).
    IMPORTED_EVENT_TIMESTAMP_MUST_POSTDATE_CREDIT_ACCOUNT = 62
    #: Not created: an imported hold cannot have a timeout.
    IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO = 63
    #: Not created: the debit account is closed.
    DEBIT_ACCOUNT_ALREADY_CLOSED = 65
    #: Not created: the credit account is closed.
    CREDIT_ACCOUNT_ALREADY_CLOSED = 66
    #: Not created: debits_pending + amount would pass 2**64-1.
    OVERFLOWS_DEBITS_PENDING = 47
    #: Not created: credits_pending + amount would pass 2**64-1.
    OVERFLOWS_CREDITS_PENDING = 48
    #: Not created: debits_posted + amount would pass 2**64-1.
    OVERFLOWS_DEBITS_POSTED = 49
    #: Not created: credits_posted + amount would pass 2**64-1.
    OVERFLOWS_CREDITS_POSTED = 50
    #: Not created: debits_pending + debits_posted + amount would pass 2**64-1.
    OVERFLOWS_DEBITS = 51
    #: Not created: credits_pending + credits_posted + amount would pass 2**64-1.
    OVERFLOWS_CREDITS = 52
    #: Not created: timestamp + timeout would pass 2**63-1 ns.
    OVERFLOWS_TIMEOUT = 53
    #: Not created: the debit account's debits would exceed its credits (+ limit).
    EXCEEDS_CREDITS = 54
    #: Not created: the credit account's credits would exceed its debits (+ limit).
    EXCEEDS_DEBITS = 55


class SetLimitResult(IntEnum):
    """Result of a SET_ACCOUNT_LIMIT command (an extension)."""

    #: The limit was set.
    OK = 0
    #: id 0 is reserved.
    ID_MUST_NOT_BE_ZERO = 1
    #: No account has this id.
    ACCOUNT_NOT_FOUND = 2
    #: A nonzero limit needs a balance flag on the account.
    LIMIT_REQUIRES_BALANCE_FLAG = 3
    #: The account is closed.
    ACCOUNT_CLOSED = 4


class PendingStatus(IntEnum):
    """Transfer.pending_status: the state of a hold (TigerBeetle's TransferPendingStatus)."""

    NONE = 0
    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


class LedgerCommandKind(IntEnum):
    """LEDGER_COMMAND_DTYPE ``kind``: what a command does, and its payload view."""

    #: payload ``account``: an Account to create -> ACCOUNT_RESULT.
    CREATE_ACCOUNT = 1
    #: payload ``transfer``: a Transfer to create -> TRANSFER_RESULT.
    CREATE_TRANSFER = 2
    #: payload ``set_limit`` (account_id, limit) -> LIMIT_RESULT.
    SET_ACCOUNT_LIMIT = 3
    #: no payload: releases the holds due at time_ns -> TIME_ADVANCED (count).
    ADVANCE_TIME = 4
    #: no payload: the full eviction sweep -> EVICTED (count, remaining stored).
    EVICT = 5
    #: payload ``drain`` (max): TRANSFER_DRAINED per archived transfer, then DRAINED.
    DRAIN_EVICTED = 6


class CommandFlags(IntFlag):
    """LEDGER_COMMAND_DTYPE ``flags``."""

    NONE = 0
    #: The last command of a client's request: a linked chain still open
    #: there ends open (LINKED_EVENT_CHAIN_OPEN).
    LAST_IN_BATCH = 1 << 0


class LedgerEventType(IntEnum):
    """LEDGER_EVENT_DTYPE ``type``: what happened (view of the payload)."""

    #: ``result`` a CreateAccountResult, ``id``, ``timestamp``.
    ACCOUNT_RESULT = 1
    #: ``result`` a CreateTransferResult, ``id``, ``timestamp``.
    TRANSFER_RESULT = 2
    #: ``result`` a SetLimitResult, ``id`` (the account), ``timestamp``.
    LIMIT_RESULT = 3
    #: ``transfer``: a hold that expired (its final state); ``timestamp``: the expiry's.
    HOLD_EXPIRED = 4
    #: ``transfer``: an evicted transfer handed over (``reserved`` = its PendingStatus).
    TRANSFER_DRAINED = 5
    #: ``count``: holds released by an ADVANCE_TIME.
    TIME_ADVANCED = 6
    #: ``count``: transfers evicted; ``remaining``: transfers still stored.
    EVICTED = 7
    #: ``count``: transfers handed over; ``remaining``: still archived.
    DRAINED = 8
    #: ``result``: a CommandRejection; nothing changed.
    REJECTED = 9


class CommandRejection(IntEnum):
    """REJECTED ``result``: why a malformed command was refused."""

    #: ``kind`` names no command.
    UNKNOWN_KIND = 1
    #: A command flag this build does not know.
    RESERVED_FLAG = 2
    #: A reserved header byte, or a payload byte the kind does not use, is not 0.
    RESERVED_FIELD = 3
    #: ``time_ns`` is negative or later than MAX_TIME_NS.
    TIME_OUT_OF_RANGE = 4


@dataclass(frozen=True, slots=True)
class Account:
    """An account as stored (balances in u64 minor units, timestamp in ns)."""

    id: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    user_data_128: int
    user_data_64: int
    user_data_32: int
    ledger: int
    code: int
    flags: int
    timestamp: int
    limit: int

    @property
    def account_flags(self) -> AccountFlags:
        return AccountFlags(self.flags)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as stored: amount is what moved (balancing, post)."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    pending_id: int
    user_data_128: int
    user_data_64: int
    user_data_32: int
    timeout_ns: int
    ledger: int
    code: int
    flags: int
    timestamp: int
    pending_status: int

    @property
    def transfer_flags(self) -> TransferFlags:
        return TransferFlags(self.flags)


for _cls, _table in zip(
    (
        CreateAccountResult,
        CreateTransferResult,
        SetLimitResult,
        PendingStatus,
        AccountFlags,
        TransferFlags,
        LedgerCommandKind,
        LedgerEventType,
        CommandRejection,
    ),
    _ledger.enum_tables(),
    strict=True,
):
    # IntFlag iterates its single-bit members, which is what the C++ table lists.
    check_enum(cast("type[IntEnum]", _cls), _table)
_ledger._register(CreateAccountResult, CreateTransferResult, SetLimitResult, Account, Transfer)


_PAYLOAD_VIEWS = (
    (LedgerCommandKind.CREATE_ACCOUNT, "account"),
    (LedgerCommandKind.CREATE_TRANSFER, "transfer"),
    (LedgerCommandKind.SET_ACCOUNT_LIMIT, "set_limit"),
    (LedgerCommandKind.DRAIN_EVICTED, "drain"),
)


def _as_commands(commands: Any) -> Any:
    """``commands`` itself, unless it is a one-dimensional array with the
    fields of LEDGER_COMMAND_DTYPE in another layout (numpy's concatenate
    and stacking give such a packed copy, in which the payload views are
    separate bytes): then a LEDGER_COMMAND_DTYPE copy taking each command's
    payload from the view its kind uses."""
    if (
        not isinstance(commands, np.ndarray)
        or commands.dtype == LEDGER_COMMAND_DTYPE
        or commands.dtype.names != LEDGER_COMMAND_DTYPE.names
        or commands.ndim != 1
    ):
        return commands  # the binding accepts it or says why not
    out = np.zeros(len(commands), dtype=LEDGER_COMMAND_DTYPE)
    for name in ("seq", "time_ns", "kind", "flags", "reserved", "payload"):
        out[name] = commands[name]
    for kind, view in _PAYLOAD_VIEWS:
        chosen = commands["kind"] == kind
        out[view][chosen] = commands[view][chosen]
    return out


class Ledger(LedgerBase):
    """An in-process double-entry ledger state machine (see the module docstring).

    Capacities fix the memory: 104 bytes per account plus 24 to 48 bytes of
    index, and 96 bytes per stored transfer plus 16 to 32 bytes of index (and
    4 bytes of expiry heap while it is a timed hold), 96 per archive slot,
    reserved as address space at construction and resident as used. Without
    an idempotency window the query indexes add 32 to 40 bytes per transfer
    and 4 per account of capacity (docs/ledger.md).
    Remembered failed ids count as transfers; ``max_history`` bounds
    balance-history entries.

    ``idempotency_window_ns`` (0 = off) bounds a long-running ledger's memory
    (docs/ledger.md): transfer ids must then carry their creation time as
    milliseconds since the epoch in their high 42 bits (``make_transfer_id``),
    ids older than an event's timestamp minus the window are answered
    ``ID_OUTSIDE_IDEMPOTENCY_WINDOW``, and the ledger evicts them by itself,
    up to 4 per transfer (an EVICT command does it all at once).

    ``max_archived`` (records, 0 = none) keeps evicted transfers until a
    DRAIN_EVICTED command hands them over; when the archive is full, eviction
    waits for a drain instead of dropping anything.

    Raises:
        ValueError: a capacity outside 1..2**31-1 (``max_archived``:
            0..2**31-1), a window of 2**63 ns or more.
        TypeError: a non-integer capacity or window.
    """

    __slots__ = ()

    COMMAND_DTYPE: ClassVar[np.dtype[Any]] = LEDGER_COMMAND_DTYPE
    EVENT_DTYPE: ClassVar[np.dtype[Any]] = LEDGER_EVENT_DTYPE

    def __init__(
        self,
        max_accounts: int = 1 << 20,
        max_transfers: int = 1 << 23,
        max_history: int = 1 << 20,
        idempotency_window_ns: int = 0,
        max_archived: int = 0,
    ) -> None:
        for name, value in (
            ("max_accounts", max_accounts),
            ("max_transfers", max_transfers),
            ("max_history", max_history),
        ):
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                raise ValueError(f"{name} must be in 1..2**31-1, got {value}")
        super().__init__(max_accounts, max_transfers, max_history, idempotency_window_ns, max_archived)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> Journal:
        """Opens the journal in directory ``path`` (creating it unless
        ``create=False``) over a new Ledger built with the capacities among
        ``options``, recovered from it: the newest valid snapshot, then a
        replay of every command after it. The other options are
        `Journal.open`'s (durability, keys, key_id, ...). Returns the
        `Journal`; the machine is ``journal.machine``. Journal errors as
        `Journal.open`."""
        from shanraq_core.journal import Journal, split_options

        journal_options, capacities = split_options(options)
        return Journal.open(path, cls(**capacities), **journal_options)

    def process(self, commands: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """Applies LEDGER_COMMAND_DTYPE records in order; returns their
        LEDGER_EVENT_DTYPE events (see ``_core.ledger.LedgerBase.process``).
        Also takes the packed copy of the dtype that numpy's concatenate
        gives (its payload views no longer share bytes: each command's payload
        is read from the view its kind uses)."""
        events: npt.NDArray[np.void] = super().process(_as_commands(commands))
        return events

    # Commands, conveniences and queries (create_account, transfer,
    # create_accounts, create_transfers, set_account_limit, advance_time,
    # evict, drain_evicted, lookup_account, lookup_transfer, balance,
    # account_history, state_hash, snapshot, restore) are implemented in C++
    # and documented in the stub file _core/ledger.pyi and docs/ledger.md.

    def post_pending(
        self, id: int, pending_id: int, amount: int = AMOUNT_MAX, *, now_ns: int = 0, **fields: Any
    ) -> CreateTransferResult:
        """Posts ``amount`` of hold ``pending_id`` (default AMOUNT_MAX: all of
        it; TigerBeetle >= 0.16: 0 posts 0 and releases the rest)."""
        result: CreateTransferResult = self.transfer(
            id,
            0,
            0,
            amount,
            flags=TransferFlags.POST_PENDING_TRANSFER,
            pending_id=pending_id,
            now_ns=now_ns,
            **fields,
        )
        return result

    def void_pending(
        self, id: int, pending_id: int, *, now_ns: int = 0, **fields: Any
    ) -> CreateTransferResult:
        """Voids hold ``pending_id``, releasing its amount."""
        result: CreateTransferResult = self.transfer(
            id,
            0,
            0,
            0,
            flags=TransferFlags.VOID_PENDING_TRANSFER,
            pending_id=pending_id,
            now_ns=now_ns,
            **fields,
        )
        return result

    def __repr__(self) -> str:
        return (
            f"Ledger(accounts={self.account_count}/{self.max_accounts}, "
            f"transfers={self.transfer_count}/{self.max_transfers}, "
            f"archived={self.archived_count}/{self.max_archived}, "
            f"next_seq={self.next_seq}, now_ns={self.now_ns})"
        )
