"""A small client for etcd's v3 JSON gateway (etcd 3.4+: ``/v3/...``, keys and
values base64 in JSON, 64-bit integers as strings).

Only what leader election needs: leases (grant, keep-alive, revoke), a
put-if-absent transaction, get, delete and a polling wait. Every call has a
timeout, and calls that are safe to repeat are retried on connection
failures until ``retry_for`` seconds have passed; then
`EtcdUnavailableError`. etcd's own errors are `EtcdError`. Thread-safe (one
urllib3 pool).

Why not a package: ``python-etcd3`` is unmaintained and breaks with current
protobuf; the gateway is plain JSON over HTTP and the five calls below are
all we use.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import urllib3

from shanraq_core.replication.errors import EtcdError, EtcdUnavailableError

__all__ = ["EtcdClient", "KeyValue", "Lease"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl: int  #: seconds granted


def _kv(obj: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=_unb64(obj.get("key", "")),
        value=_unb64(obj.get("value", "")),
        create_revision=int(obj.get("create_revision", 0)),
        mod_revision=int(obj.get("mod_revision", 0)),
        lease=int(obj.get("lease", 0)),
    )


class EtcdClient:
    """Client of one etcd endpoint (``http://host:port``).

    Args:
        endpoint: base URL of the client port; several comma-separated
            endpoints are tried in turn on connection failures.
        timeout: seconds for one HTTP request (connect and read).
        retry_for: seconds a retryable call keeps retrying connection failures
            (0: one attempt).
    """

    def __init__(self, endpoint: str, *, timeout: float = 1.0, retry_for: float = 2.0) -> None:
        self.endpoints = [e.strip().rstrip("/") for e in endpoint.split(",") if e.strip()]
        if not self.endpoints or not all(e.startswith(("http://", "https://")) for e in self.endpoints):
            raise ValueError(f"etcd endpoint must be http(s)://host:port, not {endpoint!r}")
        if not timeout > 0 or not retry_for >= 0:
            raise ValueError(f"timeout must be > 0 and retry_for >= 0, not {timeout}, {retry_for}")
        self.timeout = timeout
        self.retry_for = retry_for
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=8, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
        )
        self._current = 0

    def close(self) -> None:
        self._http.clear()

    def _post(
        self, path: str, body: dict[str, Any], *, retry: bool = True, timeout: float | None = None
    ) -> Any:
        deadline = time.monotonic() + (self.retry_for if retry else 0.0)
        delay = 0.05
        last = ""
        while True:
            endpoint = self.endpoints[self._current % len(self.endpoints)]
            try:
                t = timeout if timeout is not None else self.timeout
                resp = self._http.request(
                    "POST",
                    endpoint + path,
                    body=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                    timeout=urllib3.Timeout(connect=t, read=t),
                )
            except urllib3.exceptions.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
                self._current += 1
                if time.monotonic() + delay >= deadline:
                    raise EtcdUnavailableError("etcd", ",".join(self.endpoints), last) from e
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            text = resp.data.decode("utf-8", "replace")
            if resp.status != 200:
                try:
                    msg = json.loads(text).get("message") or json.loads(text).get("error") or text
                except ValueError:
                    msg = text
                raise EtcdError(f"etcd {path}: HTTP {resp.status}: {msg}")
            # The gateway answers a stream's first message wrapped in "result"
            # (keepalive) and an error inside a 200 as "error".
            try:
                data = json.loads(text.splitlines()[0]) if text else {}
            except ValueError as e:
                raise EtcdError(f"etcd {path}: not JSON: {text[:200]!r}") from e
            if "error" in data:
                err = data["error"]
                raise EtcdError(f"etcd {path}: {err.get('message', err) if isinstance(err, dict) else err}")
            return data.get("result", data)

    # --- leases ------------------------------------------------------------
    def lease_grant(self, ttl: int) -> Lease:
        """A new lease of ``ttl`` whole seconds (>= 1)."""
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ValueError(f"ttl must be an int >= 1 (seconds), not {ttl!r}")
        data = self._post("/v3/lease/grant", {"TTL": ttl})
        return Lease(id=int(data["ID"]), ttl=int(data["TTL"]))

    def lease_keepalive(self, lease_id: int, *, retry: bool = False, timeout: float | None = None) -> int:
        """Renews the lease once; returns its new TTL in seconds, 0 if the
        lease no longer exists (expired or revoked)."""
        data = self._post("/v3/lease/keepalive", {"ID": str(lease_id)}, retry=retry, timeout=timeout)
        return int(data.get("TTL", 0))

    def lease_revoke(self, lease_id: int) -> None:
        """Revokes the lease (its keys are deleted). A lease already gone is fine."""
        try:
            self._post("/v3/lease/revoke", {"ID": str(lease_id)})
        except EtcdError as e:
            if "not found" not in str(e):
                raise

    # --- keys --------------------------------------------------------------
    def get(self, key: bytes) -> KeyValue | None:
        data = self._post("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        """Puts unconditionally; returns the revision."""
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        data = self._post("/v3/kv/put", body)
        return int(data["header"]["revision"])

    def put_if_absent(self, key: bytes, value: bytes, *, lease: int = 0) -> tuple[bool, KeyValue | None]:
        """One transaction: put ``key`` only if it does not exist (its
        create_revision is 0). Returns (True, the new key) or (False, the
        existing key). Not retried blindly: a retry after a lost answer reads
        the key and recognises its own lease."""
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        body = {
            "compare": [{"target": "CREATE", "key": _b64(key), "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": put}],
            "failure": [{"request_range": {"key": _b64(key)}}],
        }
        try:
            data = self._post("/v3/kv/txn", body, retry=False)
        except EtcdUnavailableError:
            existing = self.get(key)
            if existing is not None and lease and existing.lease == lease:
                return True, existing
            raise
        if data.get("succeeded"):
            rev = int(data["header"]["revision"])
            return True, KeyValue(key, value, rev, rev, lease)
        kvs = (data.get("responses") or [{}])[0].get("response_range", {}).get("kvs") or []
        return False, (_kv(kvs[0]) if kvs else None)

    def delete(self, key: bytes) -> int:
        """Deletes ``key``; returns how many keys were deleted (0 or 1)."""
        data = self._post("/v3/kv/deleterange", {"key": _b64(key)})
        return int(data.get("deleted", 0))

    def delete_if(self, key: bytes, create_revision: int) -> bool:
        """Deletes ``key`` only while it is the one created at
        ``create_revision`` (a leader resigning never deletes a successor's key)."""
        body = {
            "compare": [
                {
                    "target": "CREATE",
                    "key": _b64(key),
                    "result": "EQUAL",
                    "create_revision": str(create_revision),
                }
            ],
            "success": [{"request_delete_range": {"key": _b64(key)}}],
            "failure": [],
        }
        return bool(self._post("/v3/kv/txn", body).get("succeeded"))

    def wait_absent(self, key: bytes, timeout: float, poll: float = 0.05) -> bool:
        """Polls until ``key`` does not exist or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        while True:
            if self.get(key) is None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
