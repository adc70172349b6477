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
    "DiskFullError",
    "DurabilityError",
    "JournalCorruptionError",
    "JournalError",
    "JournalFormatError",
    "JournalIOError",
    "JournalKeyError",
    "JournalLockedError",
    "JournalPermissionError",
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


class JournalError(Exception):
    """Base class of the journal's errors (shanraq_core.Journal, the
    journal tools and the ``journal`` command line)."""


class JournalCorruptionError(JournalError):
    """The bytes on disk are not what the journal wrote: a checksum, the hash
    chain, a sequence number or a structure does not check. Never repaired
    silently. ``path`` is the file, ``offset`` the byte offset in it (-1 when
    the whole file is at fault) and ``seq`` the sequence number expected there
    (0 when none applies)."""

    path: str = ""
    offset: int = -1
    seq: int = 0


class JournalFormatError(JournalError):
    """A file that is not a journal file, another format version, another
    machine or another journal than the one opened (``path``)."""

    path: str = ""


class JournalKeyError(JournalError):
    """Encryption: the key id ``key_id`` that ``path`` names is not in the
    keyring, or that key does not open it (a wrong key), or an encrypted
    journal was opened without keys. Not the builtin KeyError."""

    path: str = ""
    key_id: int = 0


class JournalIOError(JournalError, OSError):
    """A system call on the journal's files failed: ``errno``, ``strerror``
    (the message) and ``filename`` as for any OSError."""


class DiskFullError(JournalIOError):
    """ENOSPC, EDQUOT or EFBIG: the disk, the quota or the file size limit is
    full. The journal stopped; free space and reopen it."""


class JournalPermissionError(JournalIOError, PermissionError):
    """EACCES or EPERM on a journal file or directory."""


class DurabilityError(JournalIOError):
    """fsync/fdatasync failed: the journal stopped for good (retrying an
    fsync after EIO can report success for data the kernel dropped). Reopen
    it to recover from what is on disk."""


class JournalLockedError(JournalError):
    """Another process (or another open Journal in this one) writes this
    journal directory."""
