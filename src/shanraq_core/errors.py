"""Exceptions raised by shanraq_core, one class per kind of failure.

The C++ core's exceptions are translated into these by the binding layer
(``_core/glue.hpp``); business outcomes (insufficient funds, unknown order,
...) are never exceptions but reject codes in the event stream.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "CapacityError",
    "Closed",
    "LayoutMismatch",
    "PeerDead",
    "ProducerDied",
    "QueueError",
    "SequenceError",
]


class CapacityError(RuntimeError):
    """A command needs more records than the capacities the object was built
    with allow. Raised before the command runs: nothing was applied."""


class SequenceError(ValueError):
    """A batch's stamped sequence numbers are out of place (a journal replayed
    into the wrong state, a gap, a duplicate). Nothing of the batch was
    applied."""


class QueueError(Exception):
    """Base class of the ring errors."""


class Closed(QueueError):
    """The ring was closed and (for a consumer) drained: nothing more will
    come."""


class PeerDead(QueueError):
    """The process at the other end of a shared-memory ring died."""


class ProducerDied(PeerDead):
    """A producer process died in the middle of a push; its unpublished
    records were discarded (counted in ``lost``)."""


class LayoutMismatch(QueueError, ValueError):
    """An attached shared-memory ring has another record size, capacity,
    dtype or format version than expected."""


class AlreadyExists(QueueError, FileExistsError):
    """A shared-memory ring of that name exists already."""
