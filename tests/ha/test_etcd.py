"""The etcd gateway client and leader election against a real etcd."""

from __future__ import annotations

import threading
import time

import pytest

from shanraq_core.replication import Election, EtcdClient, EtcdError, EtcdUnavailableError
from shanraq_core.replication.testing import LocalEtcd, TcpProxy, free_port

from .helpers import wait_for


def test_leases_and_put_if_absent(etcd_server: LocalEtcd, stream: str) -> None:
    c = EtcdClient(etcd_server.endpoint)
    key = f"/t/{stream}".encode()
    lease = c.lease_grant(5)
    assert lease.ttl == 5
    won, kv = c.put_if_absent(key, b"a", lease=lease.id)
    assert won
    assert kv is not None
    assert kv.lease == lease.id
    won2, kv2 = c.put_if_absent(key, b"b")
    assert not won2
    assert kv2 is not None
    assert (kv2.value, kv2.create_revision) == (b"a", kv.create_revision)
    assert c.lease_keepalive(lease.id) == 5
    c.lease_revoke(lease.id)
    assert c.get(key) is None
    assert c.lease_keepalive(lease.id) == 0
    c.lease_revoke(lease.id)  # gone already: fine
    rev = c.put(key, b"x")
    assert c.delete_if(key, rev + 1) is False
    assert c.delete_if(key, rev) is True
    assert c.delete(key) == 0
    c.close()


def test_bad_arguments_and_an_unreachable_endpoint() -> None:
    with pytest.raises(ValueError, match="http"):
        EtcdClient("localhost:2379")
    c = EtcdClient(f"http://127.0.0.1:{free_port()}", timeout=0.2, retry_for=0.3)
    with pytest.raises(ValueError, match="ttl"):
        c.lease_grant(0)
    with pytest.raises(EtcdUnavailableError, match="unreachable"):
        c.get(b"k")
    c.close()


def test_etcd_errors_are_typed(etcd_server: LocalEtcd) -> None:
    c = EtcdClient(etcd_server.endpoint)
    with pytest.raises(EtcdError, match="lease"):
        c.put(b"/t/x", b"v", lease=12345)
    c.close()


def test_one_leader_at_a_time_and_epochs_grow(etcd_server: LocalEtcd, stream: str) -> None:
    c = EtcdClient(etcd_server.endpoint)
    a = Election(c, stream, "a", ttl=2)
    b = Election(c, stream, "b", ttl=2)
    assert a.try_acquire()
    assert not b.try_acquire()
    leader = a.leader()
    assert leader is not None
    assert (leader.value, leader.create_revision) == (b"a", a.epoch)
    # The key outlives three TTLs: only renewals can do that.
    time.sleep(3 * a.ttl)
    still = a.leader()
    assert still is not None
    assert (still.value, still.create_revision) == (b"a", a.epoch)
    assert a.is_leader()
    assert not b.try_acquire()
    a.resign()
    assert not a.is_leader()
    assert b.campaign(timeout=30)
    assert b.epoch > a.epoch
    b.resign()
    c.close()


def test_a_leader_cut_off_from_etcd_fences_itself_before_another_wins(
    etcd_server: LocalEtcd, stream: str
) -> None:
    proxy = TcpProxy(etcd_server.port)
    lost_at: list[float] = []
    a = Election(
        EtcdClient(f"http://127.0.0.1:{proxy.port}", timeout=0.3, retry_for=0.3),
        stream,
        "a",
        ttl=2,
        on_lost=lambda reason: lost_at.append(time.monotonic()),
    )
    assert a.try_acquire()
    b = Election(EtcdClient(etcd_server.endpoint), stream, "b", ttl=2)
    proxy.block()
    stop = threading.Event()
    assert b.campaign(timeout=60, stop=stop)
    # By the time etcd handed the key to b, a no longer counted itself leader
    # (its own clock ran out first); the renewal thread then reports the loss.
    assert not a.is_leader()
    assert a.remaining() <= 0
    wait_for(lambda: lost_at, "a's on_lost")
    assert "TTL" in a.lost_reason
    assert b.epoch > a.epoch
    b.resign()
    proxy.close()
    a.resign()
