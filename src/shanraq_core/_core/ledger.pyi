"""Type stubs for the Cython ledger bindings (shanraq_core._core.ledger).

Units: amounts and balances are u64 minor units; ``now``, timestamps and
timeouts are nanoseconds (< 2**63). Thread contract: a ledger is single-writer;
one thread at a time may call any method (batch calls release the GIL, so do
not share a ledger between threads without your own lock).
"""

from typing import Any, Self

import numpy as np
import numpy.typing as npt

ACCOUNT_DTYPE: np.dtype[np.void]
TRANSFER_DTYPE: np.dtype[np.void]
ACCOUNT_BALANCE_DTYPE: np.dtype[np.void]

class CapacityError(RuntimeError): ...

def _register(
    account_results: Any, transfer_results: Any, limit_results: Any, account_type: Any, transfer_type: Any
) -> None: ...

class LedgerBase:
    def __init__(
        self,
        accounts_capacity: int = ...,
        transfers_capacity: int = ...,
        history_capacity: int = ...,
        idempotency_window: int = ...,
        archive_capacity: int = ...,
    ) -> None: ...
    @property
    def archive_capacity(self) -> int:
        """Room for evicted transfers awaiting drain_evicted(); 0 = none."""
    @property
    def archived_count(self) -> int:
        """Evicted transfers waiting for drain_evicted()."""
    @property
    def idempotency_window(self) -> int:
        """The idempotency window in ns; 0 when off."""
    @property
    def accounts_capacity(self) -> int: ...
    @property
    def transfers_capacity(self) -> int: ...
    @property
    def history_capacity(self) -> int: ...
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
    def prefault(self) -> None:
        """Commits all reserved memory now (first-touch page faults up front,
        not on the hot path); resident memory becomes memory_bytes."""
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
        now: int = 0,
    ) -> Any:
        """Creates one account; returns a CreateAccountResult. ValueError for
        an out-of-range field, TypeError for a non-integer, CapacityError when
        the account capacity is used up."""
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
        timeout: int = 0,
        user_data_128: int = 0,
        user_data_64: int = 0,
        user_data_32: int = 0,
        now: int = 0,
    ) -> Any:
        """Creates one transfer; returns a CreateTransferResult. ``timeout`` in
        ns (holds only). Errors as create_account."""
    def set_account_limit(self, id: int, limit: int) -> Any:
        """Sets an account's overdraft / credit limit; returns a SetLimitResult."""
    def expire_pending_transfers(self, now: int) -> int:
        """Releases holds whose timeout has passed at ``now``; returns how many."""
    def evict(self) -> int:
        """With an idempotency window: runs the eviction step that every
        transfer command runs on a few records over all stored transfers now,
        and returns how many it evicted (ids older than last_timestamp -
        window, except live holds; into the archive if there is one and it has
        room). Later answers are the same whether or when it ran; evicted
        transfers are no longer found by lookup_transfer. O(stored transfers);
        not an event (takes no timestamp). 0 when the window is off."""
    def drain_evicted(self, max: int | None = None) -> npt.NDArray[np.void]:
        """Takes up to ``max`` (default all) archived evicted transfers, oldest
        evicted first, as TRANSFER_DTYPE records with their timestamp, the
        amount moved and ``reserved`` = final PendingStatus; they leave the
        archive. A command: single-writer, changes state (and the snapshot)."""
    def create_accounts(self, accounts: npt.NDArray[np.void], now: int = 0) -> npt.NDArray[np.uint32]:
        """One CreateAccountResult value per ACCOUNT_DTYPE record, in order;
        GIL released. TypeError for another dtype, CapacityError (nothing
        applied) if the batch does not fit."""
    def create_transfers(self, transfers: npt.NDArray[np.void], now: int = 0) -> npt.NDArray[np.uint32]:
        """One CreateTransferResult value per TRANSFER_DTYPE record, in order;
        linked chains honoured; GIL released. Errors as create_accounts."""
    def lookup_account(self, id: int) -> Any:
        """The Account, or None."""
    def lookup_transfer(self, id: int) -> Any:
        """The Transfer, or None (also for an id remembered as failed)."""
    def balance(self, id: int) -> int:
        """Available amount: credits_posted + limit - debits_posted - debits_pending
        (for a credit-limited account, the mirror image). KeyError if unknown."""
    def account_history(
        self, id: int, since: int = 0, until: int | None = None, limit: int | None = None
    ) -> npt.NDArray[np.void]:
        """ACCOUNT_BALANCE_DTYPE records with timestamp in [since, until],
        oldest first (the oldest ``limit`` of them); empty for accounts
        without the history flag."""
    def state_hash(self) -> int: ...
    def snapshot(self) -> bytes: ...
    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> Self:
        """ValueError on corrupt or truncated input."""
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
