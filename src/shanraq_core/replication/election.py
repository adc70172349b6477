"""Leader election and the fencing epoch, through etcd.

The leader key (``/shanraq/<stream>/leader``) is created under a lease by a
transaction that succeeds only if the key does not exist; the key's creation
revision is the **epoch**, the fencing token the database checks on every
shipped batch (docs/operations.md). The leader renews the lease every
``ttl/3`` seconds from its own thread. It counts its leadership as valid until
``send time of the last successful renewal + ttl - margin`` on the monotonic
clock: etcd cannot expire the lease before that moment (it counts the TTL
from when it *received* the renewal, later than we sent it), so a leader that
cannot renew (etcd unreachable, the process paused) stops counting itself
leader no later than etcd hands the key to someone else (self-fencing).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from shanraq_core.replication.errors import EtcdError
from shanraq_core.replication.etcd import EtcdClient, KeyValue

__all__ = ["Election", "leader_key", "preferred_key"]


def leader_key(stream: str) -> bytes:
    return f"/shanraq/{stream}/leader".encode()


def preferred_key(stream: str) -> bytes:
    """Names the node an operator wants as the next leader (``cluster promote``)."""
    return f"/shanraq/{stream}/preferred".encode()


class Election:
    """One candidate for one stream's leadership.

    Args:
        client: the etcd client.
        stream: the stream name (the key is ``leader_key(stream)``).
        node_id: what the key's value says (operators read it).
        ttl: the lease TTL, whole seconds >= 1.
        margin: seconds before the TTL at which the leader stops counting
            itself leader (clock-rate slack), in [0, ttl).
        on_lost: called once, from the renewal thread, when leadership is lost.

    Thread-safe: ``is_leader``/``epoch`` from any thread.
    """

    def __init__(
        self,
        client: EtcdClient,
        stream: str,
        node_id: str,
        *,
        ttl: int = 2,
        margin: float | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ValueError(f"ttl must be an int >= 1 (seconds), not {ttl!r}")
        self.margin = ttl * 0.1 if margin is None else float(margin)
        if not 0 <= self.margin < ttl:
            raise ValueError(f"margin must be in [0, ttl), not {margin!r}")
        self.client = client
        self.stream = stream
        self.key = leader_key(stream)
        self.node_id = node_id
        self.ttl = ttl
        self.on_lost = on_lost
        self._lock = threading.Lock()
        self._lease = 0
        self._epoch = 0
        self._valid_until = 0.0
        self._lost_reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- state ---------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch of the leadership held (or last held); 0 if never."""
        return self._epoch

    @property
    def lost_reason(self) -> str:
        return self._lost_reason

    def is_leader(self) -> bool:
        """True while the leadership is held and its lease provably not expired."""
        with self._lock:
            return self._lease != 0 and not self._lost_reason and time.monotonic() < self._valid_until

    def remaining(self) -> float:
        """Seconds of provable leadership left (<= 0 when not leader)."""
        with self._lock:
            if self._lease == 0 or self._lost_reason:
                return 0.0
            return self._valid_until - time.monotonic()

    def leader(self) -> KeyValue | None:
        """The current leader key as etcd has it (None: no leader)."""
        return self.client.get(self.key)

    # --- campaign ---------------------------------------------------------------
    def try_acquire(self) -> bool:
        """One attempt: True if this candidate is now the leader (``epoch`` set)."""
        if self.is_leader():
            return True
        sent = time.monotonic()
        lease = self.client.lease_grant(self.ttl)
        try:
            won, kv = self.client.put_if_absent(self.key, self.node_id.encode(), lease=lease.id)
        except BaseException:
            self._revoke_quietly(lease.id)
            raise
        if not won or kv is None:
            self._revoke_quietly(lease.id)
            return False
        with self._lock:
            self._lease = lease.id
            self._epoch = kv.create_revision
            self._valid_until = sent + lease.ttl - self.margin
            self._lost_reason = ""
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.stream}", daemon=True)
        self._thread.start()
        return True

    def campaign(
        self, timeout: float | None = None, poll: float = 0.05, stop: threading.Event | None = None
    ) -> bool:
        """Tries until leader (True), ``timeout`` seconds pass or ``stop`` is set (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if self.try_acquire():
                    return True
            except EtcdError:
                pass
            if stop is not None and stop.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    def resign(self) -> None:
        """Gives the leadership up at once: stops renewing, deletes the key if
        it is still ours and revokes the lease (best effort: if etcd is
        unreachable the lease simply expires)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            lease, epoch = self._lease, self._epoch
            self._lease = 0
            if not self._lost_reason:
                self._lost_reason = "resigned"
        if lease:
            with contextlib.suppress(EtcdError):
                self.client.delete_if(self.key, epoch)
            self._revoke_quietly(lease)

    def _revoke_quietly(self, lease_id: int) -> None:
        with contextlib.suppress(EtcdError):
            self.client.lease_revoke(lease_id)

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self._lost_reason:
                return
            self._lost_reason = reason
        if self.on_lost is not None:
            self.on_lost(reason)

    def _renew(self) -> None:
        interval = self.ttl / 3
        next_at = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            with self._lock:
                lease, until = self._lease, self._valid_until
            now = time.monotonic()
            if now >= until:
                self._lose("lease not renewed within its TTL")
                return
            try:
                # One attempt bounded by what is left of the lease: a renewal
                # answered after that could not extend a lease etcd let go.
                ttl = self.client.lease_keepalive(
                    lease, timeout=max(0.05, min(self.client.timeout, until - now))
                )
            except EtcdError:
                if time.monotonic() >= until:
                    self._lose("lease not renewed within its TTL (etcd unreachable)")
                    return
                next_at = time.monotonic() + min(0.1, interval)
                continue
            if ttl <= 0:
                self._lose("lease expired or revoked")
                return
            with self._lock:
                self._valid_until = max(self._valid_until, now + ttl - self.margin)
            next_at = now + interval
