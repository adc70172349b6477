"""Lock-free rings of fixed-size records between threads and processes.

`SpscRing` has one producer and one consumer at a time; `MpscRing` takes any
number of producers and one consumer; `MpmcRing` any number of both. All
work in process memory (between
threads) or in a named POSIX shared-memory segment (between processes:
``create(name, capacity, dtype)`` in one process, ``attach(name)`` in the
others). A record is a numpy structured scalar (``arr[i]``), a tuple of field
values, or ``bytes`` of the record size; the record layout is a numpy dtype or
a raw byte size. Blocking calls release the GIL, honour their timeout and stay
responsive to Ctrl-C. See docs/queues.md.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy.typing as npt

from shanraq_core._core.queue import (
    AlreadyExists,
    Closed,
    LayoutMismatch,
    MpmcRingBase,
    PeerDead,
    ProducerDied,
    QueueError,
    RingBase,
    _RingCore,
    cleanup_stale,
    unlink,
)

__all__ = [
    "AlreadyExists",
    "Closed",
    "LayoutMismatch",
    "MpmcRing",
    "MpscRing",
    "PeerDead",
    "ProducerDied",
    "QueueError",
    "SpscRing",
    "WaitStrategy",
    "cleanup_stale",
    "unlink",
]

WaitStrategy = Literal["blocking", "yield", "spin"]
"""How a blocking call waits: ``"blocking"`` spins briefly, yields, then sleeps on
a futex (an idle waiter burns no CPU; the default); ``"yield"`` spins then
yields in a loop; ``"spin"`` busy-spins (lowest latency, burns a core)."""

RecordLayout = npt.DTypeLike | int


class _Ring(_RingCore):
    """What the three rings' Python classes share. Each also derives from the
    binding class of its kind (RingBase for SpscRing and MpscRing, the kinds
    the engine runner accepts; MpmcRingBase for MpmcRing)."""

    __slots__ = ()
    _KIND: int  # 1 SPSC, 2 MPSC, 3 MPMC

    def __init__(self, capacity: int, dtype: RecordLayout, *, wait: WaitStrategy = "blocking") -> None:
        """A ring in process memory, for threads of this process.

        Args:
            capacity: records the ring holds; a power of two in [1, 2**30].
            dtype: the record layout, a numpy dtype (records are its
                structured scalars) or a size in bytes (records are bytes).
            wait: the wait strategy of this handle's blocking calls.

        Raises:
            ValueError: capacity not a power of two in [1, 2**30], record
                size out of [1, 1 MiB], or an unknown wait strategy.
            TypeError: capacity not an integer, dtype neither a numpy dtype
                nor an integer, or a dtype holding Python objects.
        """
        self._init_local(self._KIND, capacity, dtype, wait)

    @classmethod
    def create(
        cls,
        name: str,
        capacity: int,
        dtype: RecordLayout,
        *,
        wait: WaitStrategy = "blocking",
        replace_stale: bool = True,
    ) -> Self:
        """Creates the named shared-memory ring; this handle owns it and
        unlinks it when garbage-collected.

        ``name`` is a POSIX shm name (a leading ``/`` is added). A segment
        left by an owner process that no longer exists is replaced when
        ``replace_stale``. Raises AlreadyExists if a live one exists, plus the
        errors of the constructor.
        """
        ring = cls.__new__(cls)
        ring._init_shared(cls._KIND, True, name, capacity, dtype, wait, replace_stale)
        return ring

    @classmethod
    def attach(
        cls,
        name: str,
        dtype: RecordLayout | None = None,
        *,
        capacity: int | None = None,
        wait: WaitStrategy = "blocking",
    ) -> Self:
        """Attaches to a shared ring made by :meth:`create` in any process.

        The layout is read from the segment's header; ``dtype`` and
        ``capacity``, when given, must match it. Raises LayoutMismatch on a
        different ring kind, record size, dtype, capacity or layout version,
        QueueError if no such segment exists.
        """
        ring = cls.__new__(cls)
        ring._init_shared(cls._KIND, False, name, capacity, dtype, wait, False)
        return ring

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Shared rings travel to other processes (multiprocessing, spawn) by
        # name: the receiver attaches.
        if not self.shared:
            raise TypeError(
                f"an in-process {type(self).__name__} cannot be sent to another process; use create()"
            )
        return (_attach, (type(self), self.name, self.wait))

    def __repr__(self) -> str:
        where = f"shm {self.name!r}" if self.shared else "in-process"
        layout = str(self.dtype) if self.dtype is not None else f"{self.record_size} bytes"
        state = ", closed" if self.closed else ""
        return (
            f"<{type(self).__name__} {where}, {len(self)}/{self.capacity} records of {layout}, "
            f"wait={self.wait!r}{state}>"
        )


def _attach(cls: type[_Ring], name: str, wait: WaitStrategy) -> _Ring:
    return cls.attach(name, wait=wait)


class SpscRing(RingBase, _Ring):
    """One producer and one consumer (threads, or processes through shared
    memory). Records come out in the order they went in.

    Producer-side methods (``try_push``, ``push``, ``push_many``) may be called
    by one thread at a time, consumer-side ones (``try_pop``, ``pop``,
    ``pop_many``, ``pop_view``) by one other thread at a time; ``close``,
    ``len`` and the properties by any thread.

    A producer handle's first push takes over from the previous producer
    (which must be gone). If that one was killed in the middle of a
    ``push_many``, the records of that batch it had published but no
    consumer could reach yet are discarded (``lost`` counts them), never
    delivered after the new producer's.
    """

    __slots__ = ()
    _KIND = 1


class MpscRing(RingBase, _Ring):
    """Any number of producers (threads and processes) and one consumer.
    Records from one producer come out in the order it pushed them.

    A producer process killed mid-push never delivers a torn record: the
    consumer discards each slot it had claimed and not published, raising
    ProducerDied once per slot; the ring stays usable (``lost`` counts such
    records).
    """

    __slots__ = ()
    _KIND = 2


class MpmcRing(MpmcRingBase, _Ring):
    """Any number of producers and consumers (threads and processes). Each
    record goes to exactly one consumer; each consumer sees one producer's
    records in the order it pushed them (two consumers may finish handling
    theirs in either order).

    Crashes: a producer process killed mid-push is handled as in MpscRing
    (ProducerDied to one consumer, ``lost`` + 1). A consumer process killed
    between taking records and copying them out leaves their slots taken;
    the producer that next needs one frees it once the consumer's pid is gone
    (those records are lost, ``lost`` counts them). One consumer's death is
    never reported as PeerDead: others may still drain the ring.

    No ``pop_view``: several consumers cannot share a run of slots in place.
    """

    __slots__ = ()
    _KIND = 3

    def pop_view(self, max_n: int, timeout: float | None = None) -> Any:
        """Not available on an MpmcRing: use ``pop_many`` (a copy)."""
        raise TypeError(
            "MpmcRing has no pop_view: several consumers cannot share slots in place; use pop_many"
        )
