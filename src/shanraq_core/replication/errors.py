"""Errors of the replication layer: every failure a caller can act on has its
own class, carrying what it is about (server, stream, seq, epoch)."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ContinuityError",
    "EtcdError",
    "EtcdUnavailableError",
    "FencedError",
    "ForeignStreamError",
    "NotLeaderError",
    "ReplicationError",
    "SchemaMismatchError",
    "ServerUnreachableError",
    "StaleEpochError",
]


class ReplicationError(Exception):
    """Base of every replication error."""


class ServerUnreachableError(ReplicationError, ConnectionError):
    """A server (PostgreSQL or etcd) did not answer within the timeouts and
    retries: refused, reset, timed out or unresolvable."""

    def __init__(self, what: str, address: str, cause: str) -> None:
        super().__init__(f"{what} at {address} is unreachable: {cause}")
        self.what = what
        self.address = address


class AuthenticationError(ReplicationError, PermissionError):
    """The server refused the credentials (PostgreSQL SQLSTATE 28P01/28000)."""


class SchemaMismatchError(ReplicationError):
    """The database holds a table of ours under another layout (a foreign
    table, or another format version): nothing is written to it."""


class ForeignStreamError(ReplicationError):
    """The stream exists in the database with another machine, record size or
    format: records of one machine are never appended to another's stream."""


class StaleEpochError(ReplicationError):
    """The database refused a batch or a claim: its leadership epoch is older
    than the stream's. The sender is no longer the leader (fenced)."""

    def __init__(self, stream: str, epoch: int, current: int | None, detail: str = "") -> None:
        cur = "unknown" if current is None else str(current)
        more = f": {detail}" if detail else ""
        super().__init__(f"stream {stream!r}: epoch {epoch} is stale (the stream's epoch is {cur}){more}")
        self.stream = stream
        self.epoch = epoch
        self.current = current


class ContinuityError(ReplicationError):
    """Records do not continue the stream: a gap, a duplicate that differs, a
    checksum or a hash-chain mismatch. ``seq`` is the first record at fault."""

    def __init__(self, stream: str, seq: int, detail: str) -> None:
        super().__init__(f"stream {stream!r} at seq {seq}: {detail}")
        self.stream = stream
        self.seq = seq


class EtcdError(ReplicationError):
    """etcd answered with an error (HTTP status and its message)."""


class EtcdUnavailableError(EtcdError, ServerUnreachableError):
    """etcd could not be reached within the timeouts and retries."""


class NotLeaderError(ReplicationError):
    """The node is not the primary: it does not accept commands."""


class FencedError(NotLeaderError):
    """The node lost its leadership (lease not renewed within its TTL, or the
    database refused its epoch) and stopped acknowledging."""
