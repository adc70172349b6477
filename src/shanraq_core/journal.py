"""The journal: durability for every machine of the state-machine contract.

A journal records the stamped commands a machine (`MatchingEngine`,
`Ledger`; the exchange registers itself the same way) applies, in a
segmented, checksummed and hash-chained log with group commit, snapshots and
optional AES-256-GCM encryption at rest (C++: ``cpp/include/shanraq/journal/``;
design and formats: docs/durability.md). Opening one recovers the machine:
the newest valid snapshot, then a replay of every command after it.

Two ways to write:

- ``Journal.process(commands)`` stamps the commands' ``seq`` (continuing
  ``next_seq``), journals them, applies them and returns their events; the
  batch is durable once ``durable_seq`` reaches ``last_seq``
  (``wait_durable``, ``is_durable``: the per-call acknowledgement);
- ``Runner(machine, commands, events, journal=journal)``: the sequencer
  journals every batch before applying it and publishes its events only once
  the durability policy holds for it (pipelined: later batches are applied
  while earlier ones sync).

Policies (``durability=``): ``"every_batch"`` (the default: nothing is
acknowledged before fdatasync returned), ``"interval_ms=N"`` (synced at most
N ms after it was written; a machine crash loses at most that), ``"none"``
(synced at segment rolls and close). Errors are the ``Journal*`` classes of
`shanraq_core.errors`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

from shanraq_core._core import journal as _j

__all__ = [
    "Journal",
    "TailReader",
    "backup",
    "inspect",
    "machine_factory",
    "machine_tag_name",
    "open_journal",
    "prune_backups",
    "register_machine",
    "restore_backup",
    "restore_to",
    "verify",
    "verify_backup",
]

PathLike = str | os.PathLike[str]
Keys = Mapping[int, bytes]

# Options of Journal.open (and of each machine's open()), with their defaults.
JOURNAL_OPTIONS: dict[str, Any] = {
    "durability": "every_batch",
    "segment_bytes": 64 << 20,
    "max_write_bytes": 1 << 20,
    "buffer_bytes": 16 << 20,
    "keep_snapshots": 2,
    "create": True,
    "preallocation": "zero_fill",
    "keys": None,
    "key_id": 0,
}


class Journal(_j.JournalBase):
    """An open journal and the machine it recovered (``machine``).

    Open with `Journal.open` (or a machine's ``open(path, ...)``); use as a
    context manager to close it. ``recovery`` says what opening did (snapshot
    used, commands replayed, a torn tail cut: file, offset, seq).

    Threads: single-writer. Every call that releases the GIL (process,
    wait_durable, sync, snapshot, rotate_key, close) raises RuntimeError if
    another thread is inside one; the watermarks (durable_seq, synced_seq,
    written_seq, next_seq, last_seq, is_durable) read atomics and may be
    read from any thread, also while a `Runner` journals through it (which
    holds the journal for its run: process/snapshot/close then raise).
    """

    __slots__ = ()

    @classmethod
    def open(
        cls,
        path: PathLike,
        machine: Any,
        *,
        durability: str = "every_batch",
        segment_bytes: int = 64 << 20,
        max_write_bytes: int = 1 << 20,
        buffer_bytes: int = 16 << 20,
        keep_snapshots: int = 2,
        create: bool = True,
        preallocation: str = "zero_fill",
        keys: Keys | None = None,
        key_id: int = 0,
    ) -> Self:
        """Opens (creating unless ``create=False``) the journal in directory
        ``path`` and recovers ``machine`` into the state it records.

        Args:
            machine: a fresh machine built with the capacities it runs with
                (a new journal may start from a machine with state: its
                snapshot is written first).
            durability: ``"every_batch"``, ``"interval_ms=N"`` (1..60000) or
                ``"none"``.
            segment_bytes: bytes per segment file, 64 KiB..1 GiB.
            max_write_bytes: largest single write, 4 KiB..64 MiB and at most
                half a segment.
            buffer_bytes: staging ring, at least twice max_write_bytes.
            keep_snapshots: snapshots kept (>= 1); older segments go with them.
            preallocation: ``"zero_fill"`` (fastest fdatasync), ``"fallocate"``
                or ``"none"``.
            keys: key id (>= 1) -> 32-byte AES-256 key, every key a file of the
                journal names; never printed.
            key_id: the key new segments and snapshots are encrypted under (0:
                plaintext).

        Raises: JournalIOError / JournalPermissionError / DiskFullError,
        JournalLockedError, JournalFormatError, JournalKeyError,
        JournalCorruptionError (path, offset, seq), ValueError for options
        out of range. A failed open changes nothing on disk.
        """
        j = cls.__new__(cls)
        j._open(
            path,
            machine,
            durability=durability,
            segment_bytes=segment_bytes,
            max_write_bytes=max_write_bytes,
            buffer_bytes=buffer_bytes,
            keep_snapshots=keep_snapshots,
            create=create,
            preallocation=preallocation,
            keys=keys,
            key_id=key_id,
        )
        return j

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"Journal(closed, {type(self.machine).__name__})"
        return (
            f"Journal({self.path!r}, {type(self.machine).__name__}, durability={self.durability!r}, "
            f"last_seq={self.last_seq}, durable_seq={self.durable_seq})"
        )


class TailReader(_j.TailReaderBase):
    """Follows a journal from ``from_seq``: ``read()`` returns the next
    commands (an array of the machine's ``COMMAND_DTYPE``), in order, each
    once, verified; never one that is not durable (with ``live=`` the open
    `Journal`: nothing past its durable_seq; without: whole frames on disk).
    ``position`` is the next seq; a new reader there continues exactly.
    ``machine`` only names the kind of machine (its records' layout)."""

    __slots__ = ()


def open_journal(path: PathLike, machine: Any, **options: Any) -> Journal:
    """`Journal.open` (what each machine's ``open`` calls)."""
    return Journal.open(path, machine, **options)


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(journal options, machine constructor arguments) of a machine's
    ``open(path, **kwargs)``."""
    journal = {k: v for k, v in kwargs.items() if k in JOURNAL_OPTIONS}
    machine = {k: v for k, v in kwargs.items() if k not in JOURNAL_OPTIONS}
    return journal, machine


# ---- machines by tag (the command line, and tools handed a directory) ---------------------------
_FACTORIES: dict[str, Callable[..., Any]] = {}


def register_machine(tag: str, factory: Callable[..., Any]) -> None:
    """Makes ``factory(**capacities)`` the machine for journals whose machine
    tag is ``tag`` (four ASCII characters: ``BOOK``, ``LDGR``; the exchange
    registers ``EXCH``)."""
    if len(tag) != 4 or not tag.isascii():
        raise ValueError(f"a machine tag is four ASCII characters, got {tag!r}")
    _FACTORIES[tag] = factory


def machine_tag_name(tag: int) -> str:
    """The four characters of a little-endian u32 machine tag."""
    return tag.to_bytes(4, "little").decode("ascii", errors="replace")


def machine_factory(tag: str) -> Callable[..., Any]:
    """The registered factory for ``tag``; LookupError if none."""
    _register_builtin()
    try:
        return _FACTORIES[tag]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise LookupError(f"no machine is registered for tag {tag!r} (known: {known})") from None


def _register_builtin() -> None:
    if "BOOK" in _FACTORIES:
        return
    from shanraq_core.book import MatchingEngine
    from shanraq_core.exchange import Exchange
    from shanraq_core.ledger import Ledger

    _FACTORIES.setdefault("BOOK", MatchingEngine)
    _FACTORIES.setdefault("LDGR", Ledger)
    _FACTORIES.setdefault("EXCH", Exchange)


# ---- tools ------------------------------------------------------------------------------------
def verify(path: PathLike, machine: Any, *, keys: Keys | None = None) -> dict[str, Any]:
    """Replays the journal at ``path`` into ``machine`` (fresh) from the
    start (or the oldest snapshot retention left), checking every CRC32C,
    the SHA-256 chain, every segment link and every snapshot's state hash and
    bytes. Read-only. Raises like `Journal.open`."""
    return _j.verify(path, machine, keys=keys)


def restore_to(
    src: PathLike,
    dst: PathLike,
    machine: Any,
    *,
    seq: int | None = None,
    time_ns: int | None = None,
    keys: Keys | None = None,
    key_id: int = 0,
) -> dict[str, Any]:
    """Point-in-time recovery into ``machine`` (fresh): every command up to
    ``seq``, or up to the first whose time_ns exceeds ``time_ns``; ``dst`` (new
    or empty) becomes a journal holding that state, which `Journal.open`
    continues. ``src`` is never written."""
    return _j.restore_to(src, dst, machine, seq=seq, time_ns=time_ns, keys=keys, key_id=key_id)


def backup(
    path: PathLike,
    root: PathLike,
    machine: Any,
    *,
    created_unix_s: int | None = None,
    keys: Keys | None = None,
) -> dict[str, Any]:
    """A verified backup set (newest snapshot, the segments after it, a
    MANIFEST of SHA-256 hashes) under ``root``; returns its path and seqs."""
    return _j.backup(path, root, machine, created_unix_s=created_unix_s, keys=keys)


def verify_backup(set_dir: PathLike, machine: Any, *, keys: Keys | None = None) -> dict[str, Any]:
    """Checks a backup set: the manifest, every file's hash, then a replay."""
    return _j.verify_backup(set_dir, machine, keys=keys)


def restore_backup(set_dir: PathLike, dst: PathLike, machine: Any, *, keys: Keys | None = None) -> None:
    """Verifies a backup set, then copies it into ``dst`` (new or empty) as a
    journal directory `Journal.open` recovers from."""
    _j.restore_backup(set_dir, dst, machine, keys=keys)


def prune_backups(root: PathLike, *, daily: int = 7, weekly: int = 4, monthly: int = 12) -> list[str]:
    """Keeps the newest set of each of the last ``daily`` days, ``weekly``
    weeks and ``monthly`` months (UTC) and the newest set; deletes the other
    sets. Returns the names deleted."""
    return _j.prune_backups(root, daily=daily, weekly=weekly, monthly=monthly)


def inspect(path: PathLike) -> dict[str, Any]:
    """The files of a journal directory and their decoded headers (machine
    tag, seqs, key ids, sizes); nothing is verified (see `verify`)."""
    return _j.inspect(path)
