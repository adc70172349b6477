"""Type stubs for the Cython ledger bindings (shanraq_core._core.ledger).

Units: amounts and balances are u64 minor units; ``now_ns``, timestamps and
``timeout_ns`` are nanoseconds (``now_ns`` in 0..MAX_TIME_NS; 0 = at the
ledger's clock). Threads: single-writer; a call that releases the GIL
(process, create_accounts, create_transfers, prefault) makes every other
thread's call raise RuntimeError until it returns.
"""

from typing import Any, Self

import numpy as np
import numpy.typing as npt

ACCOUNT_DTYPE: np.dtype[np.void]
TRANSFER_DTYPE: np.dtype[np.void]
ACCOUNT_BALANCE_DTYPE: np.dtype[np.void]
CREATE_RESULT_DTYPE: np.dtype[np.void]
ACCOUNT_FILTER_DTYPE: np.dtype[np.void]
QUERY_FILTER_DTYPE: np.dtype[np.void]
QUERY_LIMIT_MAX: int
LEDGER_COMMAND_DTYPE: np.dtype[np.void]
LEDGER_EVENT_DTYPE: np.dtype[np.void]
MAX_TIME_NS: int
AMOUNT_MAX: int

def enum_tables() -> list[tuple[str, list[tuple[str, int]]]]: ...
def _register(
    account_results: Any, transfer_results: Any, limit_results: Any, account_type: Any, transfer_type: Any
) -> None: ...

class LedgerBase:
    def __init__(
        self,
        max_accounts: int = ...,
        max_transfers: int = ...,
        max_history: int = ...,
        idempotency_window_ns: int = ...,
        max_archived: int = ...,
    ) -> None: ...
    @property
    def max_accounts(self) -> int: ...
    @property
    def max_transfers(self) -> int:
        """Stored transfers plus remembered failed ids."""
    @property
    def max_history(self) -> int: ...
    @property
    def max_archived(self) -> int:
        """Room for evicted transfers awaiting a drain; 0 = none."""
    @property
    def idempotency_window_ns(self) -> int:
        """The idempotency window in ns; 0 when off."""
    @property
    def archived_count(self) -> int:
        """Evicted transfers waiting for a drain."""
    @property
    def account_count(self) -> int: ...
    @property
    def transfer_count(self) -> int:
        """Stored transfers plus remembered failed ids."""
    @property
    def history_count(self) -> int: ...
    @property
    def last_timestamp(self) -> int:
        """Timestamp (ns) of the last event; the next is max(now, this + 1)."""
    @property
    def memory_bytes(self) -> int:
        """Address space the ledger's arrays and maps span (resident as used)."""
    @property
    def next_seq(self) -> int:
        """The sequence number the next command takes (1 when new)."""
    @property
    def now_ns(self) -> int:
        """The ledger's clock: the largest command time applied (ns)."""
    @property
    def open_chain_length(self) -> int:
        """Linked commands of an open chain, waiting for the command that closes it."""
    def prefault(self) -> None:
        """Commits all reserved memory now (first-touch page faults up front,
        not on the hot path); resident memory becomes memory_bytes."""
    def process(self, commands: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """Applies LEDGER_COMMAND_DTYPE records in order and returns the
        LEDGER_EVENT_DTYPE events (GIL released). A command's seq is 0 (the
        ledger numbers it) or exactly next_seq + its index: otherwise
        SequenceError, nothing applied. CapacityError (nothing applied) if
        the batch's creates might not fit. Malformed commands become REJECTED
        events; nothing else raises. TypeError for another dtype."""
    def create_account(
        self,
        id: int,
        ledger: int,
        code: int,
        *,
        flags: int = 0,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        limit: int = 0,
        timestamp: int = 0,
        now_ns: int = 0,
    ) -> Any:
        """One CREATE_ACCOUNT command; returns its CreateAccountResult (its
        timestamp: ``result_timestamp``). ``timestamp`` only with
        AccountFlags.IMPORTED. ValueError for an out-of-range field,
        TypeError for a non-integer, CapacityError when the account capacity
        is used up."""
    def transfer(
        self,
        id: int,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        ledger: int = 0,
        code: int = 0,
        *,
        flags: int = 0,
        pending_id: int = 0,
        timeout_ns: int = 0,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        timestamp: int = 0,
        now_ns: int = 0,
    ) -> Any:
        """One CREATE_TRANSFER command; returns its CreateTransferResult (its
        timestamp: ``result_timestamp``). ``timeout_ns`` for holds only,
        ``timestamp`` only with TransferFlags.IMPORTED. Errors as
        create_account."""
    @property
    def result_timestamp(self) -> int:
        """The timestamp of the last per-call create's result (TigerBeetle
        0.17): the created record's, the existing record's for EXISTS,
        otherwise the time the create was validated (ns)."""
    def set_account_limit(self, id: int, limit: int, *, now_ns: int = 0) -> Any:
        """One SET_ACCOUNT_LIMIT command; returns its SetLimitResult."""
    def advance_time(self, now_ns: int) -> int:
        """One ADVANCE_TIME command: releases the holds due at ``now_ns``;
        returns how many."""
    def evict(self, *, now_ns: int = 0) -> int:
        """One EVICT command: with an idempotency window, evicts every stored
        transfer whose id is outside it (except live holds) now, into the
        archive if there is one with room; returns how many. 0 when the
        window is off."""
    def drain_evicted(self, max: int | None = None, *, now_ns: int = 0) -> npt.NDArray[np.void]:
        """One DRAIN_EVICTED command: up to ``max`` (default all) archived
        transfers, oldest first, as TRANSFER_DTYPE records (``reserved`` =
        final PendingStatus); they leave the archive."""
    def create_accounts(self, accounts: npt.NDArray[np.void], now_ns: int = 0) -> npt.NDArray[np.void]:
        """One CREATE_ACCOUNT command per ACCOUNT_DTYPE record at ``now_ns``,
        the last ending the request; one CREATE_RESULT_DTYPE record per
        account (``status``: a CreateAccountResult value, ``timestamp``:
        TigerBeetle 0.17's). GIL released. CapacityError (nothing applied)
        if they do not fit."""
    def create_transfers(self, transfers: npt.NDArray[np.void], now_ns: int = 0) -> npt.NDArray[np.void]:
        """One CREATE_TRANSFER command per TRANSFER_DTYPE record, as
        create_accounts; linked chains honoured."""
    def lookup_account(self, id: int) -> Any:
        """The Account, or None."""
    def lookup_transfer(self, id: int) -> Any:
        """The Transfer, or None (also for an id remembered as failed, or evicted)."""
    def balance(self, id: int) -> int:
        """The amount the account can still move under the balance rule
        (docs/ledger.md): credits_posted + limit - debits_posted -
        debits_pending for a debit-limited or unlimited account (limit counts
        only with its flag), debits_posted + limit - credits_posted -
        credits_pending for a credit-limited one. Negative when balances are
        beyond a lowered limit. KeyError if unknown."""
    def account_history(
        self, id: int, since: int = 0, until: int | None = None, limit: int | None = None
    ) -> npt.NDArray[np.void]:
        """ACCOUNT_BALANCE_DTYPE records with timestamp in [since, until],
        oldest first (the oldest ``limit`` of them); empty for accounts
        without the history flag."""
    def get_account_transfers(
        self,
        account_id: int,
        *,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        code: int = 0,
        timestamp_min: int = 0,
        timestamp_max: int = 0,
        limit: int = 8190,
        flags: int = 3,
    ) -> npt.NDArray[np.void]:
        """TigerBeetle's get_account_transfers: the stored transfers of
        ``account_id`` the AccountFilter matches (``flags``: AccountFilterFlags,
        default DEBITS | CREDITS; a field left 0 does not filter; timestamps
        inclusive, 0 = unbounded), oldest first (REVERSED: newest first), at
        most min(limit, QUERY_LIMIT_MAX), as TRANSFER_DTYPE. A filter
        TigerBeetle refuses (no DEBITS/CREDITS, limit 0, timestamp_min >
        timestamp_max, ...) gives an empty array. State at the last applied
        command; the owning thread (RuntimeError while another thread is in
        a batch). TypeError / ValueError for a field not an integer or out
        of its type's range."""
    def get_account_balances(
        self,
        account_id: int,
        *,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        code: int = 0,
        timestamp_min: int = 0,
        timestamp_max: int = 0,
        limit: int = 8190,
        flags: int = 3,
    ) -> npt.NDArray[np.void]:
        """TigerBeetle's get_account_balances: the account's balances after
        each transfer get_account_transfers would return, as
        ACCOUNT_BALANCE_DTYPE; empty unless the account has HISTORY."""
    def query_accounts(
        self,
        *,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        ledger: int = 0,
        code: int = 0,
        timestamp_min: int = 0,
        timestamp_max: int = 0,
        limit: int = 8190,
        flags: int = 0,
    ) -> npt.NDArray[np.void]:
        """TigerBeetle's query_accounts: accounts whose nonzero filter fields
        all match, in the time range, oldest first (QueryFilterFlags.REVERSED:
        newest first), at most min(limit, QUERY_LIMIT_MAX), as ACCOUNT_DTYPE.
        Threads and errors as get_account_transfers."""
    def query_transfers(
        self,
        *,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        ledger: int = 0,
        code: int = 0,
        timestamp_min: int = 0,
        timestamp_max: int = 0,
        limit: int = 8190,
        flags: int = 0,
    ) -> npt.NDArray[np.void]:
        """TigerBeetle's query_transfers: stored transfers, as query_accounts."""
    def state_hash(self) -> int:
        """64-bit hash of the state (next_seq, clock and open chain included)."""
    def snapshot(self) -> bytes: ...
    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> Self:
        """ValueError on corrupt or truncated input, or a state no command
        stream could reach."""
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
