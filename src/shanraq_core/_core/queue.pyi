"""Type stubs for the Cython ring bindings (shanraq_core._core.queue).

Thread contract: producer methods (try_push, push, push_many) from one thread at
a time for SpscRing, from any threads for MpscRing and MpmcRing; consumer
methods (try_pop, pop, pop_many) from one thread at a time, from any threads for
MpmcRing; close, len and properties from any thread. Every timeout is seconds,
an int or a float (None waits forever, 0 does not wait; TypeError for anything
else, ValueError below 0 or NaN). Counts (capacity, max_n) are integers
(TypeError for 3.5, "4" or True).
"""

from typing import Any

import numpy as np
import numpy.typing as npt

class QueueError(Exception): ...
class Closed(QueueError): ...
class PeerDead(QueueError): ...
class ProducerDied(PeerDead): ...
class LayoutMismatch(QueueError, ValueError): ...
class AlreadyExists(QueueError, FileExistsError): ...

class _RingCore:
    def _init_local(self, kind: int, capacity: int, dtype: Any, wait: str) -> None: ...
    def _init_shared(
        self,
        kind: int,
        create: bool,
        name: str,
        capacity: int | None,
        dtype: Any,
        wait: str,
        replace_stale: bool,
    ) -> None: ...
    @property
    def capacity(self) -> int:
        """Records the ring holds (a power of two)."""
    @property
    def record_size(self) -> int:
        """Bytes per record."""
    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The record dtype, or None for raw-byte records."""
    @property
    def wait(self) -> Any: ...
    @property
    def dtype_descr(self) -> str:
        """The dtype descriptor stored in the segment header ("" for raw bytes)."""
    @property
    def name(self) -> str | None:
        """The shared-memory name, None in process memory."""
    @property
    def shared(self) -> bool: ...
    @property
    def owner(self) -> bool:
        """True for the handle that created the segment (it unlinks it)."""
    @property
    def owner_pid(self) -> int: ...
    @property
    def lost(self) -> int:
        """Records discarded because their producer died mid-push (MPSC, MPMC:
        each slot it had claimed; SPSC: the published records of a batch
        whose first record it never published), or, MPMC, because the
        consumer that had taken them died before copying them out."""
    @property
    def closed(self) -> bool: ...
    @property
    def sleeping_consumers(self) -> int:
        """Handles (any process) announced as asleep, or about to sleep,
        waiting for records. A snapshot."""
    @property
    def sleeping_producers(self) -> int:
        """Handles (any process) announced as asleep, or about to sleep,
        waiting for room. A snapshot."""
    def __len__(self) -> int:
        """Records in the ring now (a snapshot)."""
    def close(self) -> None:
        """Closes the ring for every handle in every process: pushes raise
        Closed, pops drain what is left and then raise Closed; waiters wake."""
    def try_push(self, record: Any) -> bool:
        """Pushes one record if there is room; False if full. Closed, TypeError
        (wrong dtype), ValueError (wrong size)."""
    def push(self, record: Any, timeout: float | None = None) -> None:
        """Pushes one record, waiting for room (GIL released). TimeoutError,
        Closed, PeerDead (a shared ring's consumer process is gone)."""
    def push_many(self, records: npt.ArrayLike, timeout: float | None = 0.0) -> int:
        """Pushes records from an array of the ring's dtype; returns how many.
        timeout 0 pushes what fits now; None waits until all are pushed."""
    def try_pop(self) -> Any:
        """The next record (numpy scalar, read-only, or bytes), or None if empty."""
    def pop(self, timeout: float | None = None) -> Any:
        """The next record, waiting for one (GIL released). TimeoutError,
        Closed (closed and drained), PeerDead, ProducerDied."""
    def pop_many(self, max_n: int, timeout: float | None = None) -> npt.NDArray[Any]:
        """Up to max_n records as a new array (a copy), waiting for at least one;
        empty on timeout."""
    def pop_view(self, max_n: int, timeout: float | None = None) -> npt.NDArray[Any]:
        """Up to max_n records as a read-only array viewing the ring's slots (no
        copy), waiting for at least one; empty (and not a view) on timeout.
        Fewer than max_n where the ring wraps. The records are consumed, and
        their slots handed back to producers, when the array and every slice
        or view of it are gone (CPython frees them at the last ``del``); until
        then every other pop raises RuntimeError. The array is strided (slots
        carry a sequence prefix); numpy copies of it are made field by field,
        so a padded dtype's padding bytes are not kept (use pop_many for a
        byte copy). Not on MpmcRing (TypeError). Consumer thread only."""

class RingBase(_RingCore):
    """An SpscRing or MpscRing handle (the kinds the engine runner accepts)."""

class MpmcRingBase(_RingCore):
    """An MpmcRing handle."""

def unlink(name: str) -> bool: ...
def cleanup_stale(name: str) -> bool: ...
