"""The real gateway (shanraq_core.service.gateway) under the deployment's tools: Prometheus scrapes
its /metrics over TLS 1.3 with a client certificate and sees the contract's series move with the
commands the test sends; HAProxy (deploy/haproxy/haproxy.cfg) health-checks its /ready and routes a
TLS trading client through to it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shanraq_core.replication.testing import _die_with_parent
from shanraq_core.service import protocol as p
from shanraq_core.service.client import GatewayClient, client_context
from shanraq_core.service.testing import Pki

from .conftest import RunningGateway, make_config
from .ops_servers import LocalHaproxy, LocalPrometheus, free_port, poll

pytestmark = pytest.mark.servers


@pytest.fixture
def gateway(pki: Pki, tmp_path: Path) -> Iterator[RunningGateway]:
    g = RunningGateway(make_config(pki, tmp_path / "journal"), pki)
    try:
        yield g
    finally:
        g.stop()


def _value(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_prometheus_scrapes_the_gateway_over_mutual_tls(gateway: RunningGateway, pki: Pki) -> None:
    tls = {
        "ca_file": str(pki.crt("ca")),
        "cert_file": str(pki.crt("viewer")),
        "key_file": str(pki.key("viewer")),
        "server_name": "localhost",
    }
    prom = LocalPrometheus([f"127.0.0.1:{gateway.gateway.http_port}"], tls=tls)
    try:
        poll("gateway scraped", lambda: prom.query('up{job="shanraq_gateway"} == 1'))
        # The contract's series are there, with the target buckets.
        les = {r["metric"]["le"] for r in prom.query('shanraq_command_latency_seconds_bucket{stage="ack"}')}
        assert {"0.0001", "0.0005", "0.001", "+Inf"} <= les
        assert _value(prom.query("sum(shanraq_role)")) == 1
        before = _value(prom.query('sum(shanraq_command_latency_seconds_count{stage="ack"}) or vector(0)'))
        msgs = [p.AddAsset(1, 1), p.AddAsset(2, 2), p.AddUser(3, 1), p.AddUser(4, 2)]
        with gateway.client("ops") as c:
            for m in msgs:
                r = c.call(m)
                assert isinstance(r, p.Report), r
                assert not r.rejected, r
        want = before + len(msgs)
        poll(
            "acknowledged commands counted",
            lambda: _value(prom.query('sum(shanraq_command_latency_seconds_count{stage="ack"})')) >= want,
        )
        assert _value(prom.query('sum(shanraq_command_latency_seconds_count{stage="ack"})')) == want
        poll(
            "commands counted",
            lambda: _value(prom.query("sum(shanraq_commands_total) or vector(0)")) >= len(msgs),
        )
        # The rules evaluate on real data: a ready primary (or single node) is available.
        poll(
            "availability recorded",
            lambda: (
                [float(r["value"][1]) for r in prom.query("job:shanraq_primary_available:max")] == [1.0]
                or _value(prom.query('sum(shanraq_role{role="single"})')) == 1
            ),
        )
    finally:
        prom.close()


def test_haproxy_checks_the_gateways_ready_over_tls_and_passes_tls_through(
    gateway: RunningGateway, pki: Pki
) -> None:
    absent = free_port()  # the standby slot, empty: HAProxy must see it down
    haproxy = LocalHaproxy(
        [(gateway.gateway.trading_port, gateway.gateway.http_port), (absent, absent)],
        check_tls=f"check-ssl verify required ca-file {pki.crt('ca')}",
    )
    try:
        poll("gw0 up over TLS", lambda: haproxy.server_states() == {"gw0": "UP", "gw1": "DOWN"})
        # The client's TLS session is with the gateway itself (HAProxy only forwards bytes): mutual TLS
        # with the gateway's certificate, and a durable report back.
        via = GatewayClient(
            "127.0.0.1", haproxy.port, client_context(pki.crt("ca"), pki.crt("ops"), pki.key("ops"))
        )
        with via as c:
            r = c.call(p.AddAsset(1, 1))
            assert isinstance(r, p.Report), r
            assert not r.rejected
            assert r.seq >= 1
    finally:
        haproxy.close()


def _gateway_process(pki: Pki, root: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    """``python -m shanraq_core service gateway`` (the CLI the image runs) as a child process."""
    trading, http = free_port(), free_port()
    config = root / "gateway.toml"
    config.write_text(
        f"""[gateway]
trading_port = {trading}
http_port = {http}
[tls]
cert = "{pki.crt("server")}"
key = "{pki.key("server")}"
client_ca = "{pki.crt("ca")}"
[journal]
path = "{root / "journal"}"
[exchange]
max_orders = 4096
max_levels = 1024
id_history = 4096
[[clients]]
name = "ops"
role = "operator"
"""
    )
    log = open(root / "gateway.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shanraq_core", "service", "gateway", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()
    return proc, trading, http


def test_haproxy_takes_a_killed_gateway_out_and_cuts_its_clients(pki: Pki, tmp_path: Path) -> None:
    proc, trading, http = _gateway_process(pki, tmp_path)
    absent = free_port()
    haproxy: LocalHaproxy | None = None
    try:
        haproxy = LocalHaproxy(
            [(trading, http), (absent, absent)],
            check_tls=f"check-ssl verify required ca-file {pki.crt('ca')}",
        )
        h = haproxy
        poll("gw0 up", lambda: proc.poll() is None and h.server_states() == {"gw0": "UP", "gw1": "DOWN"})
        ctx = client_context(pki.crt("ca"), pki.crt("ops"), pki.key("ops"))
        with GatewayClient("127.0.0.1", haproxy.port, ctx) as c:
            first = c.call(p.AddAsset(1, 1))
            assert isinstance(first, p.Report)
            assert not first.rejected
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            poll("gw0 marked down", lambda: h.server_states() == {"gw0": "DOWN", "gw1": "DOWN"})
            # The held session is gone: the next command fails instead of hanging.
            with pytest.raises((OSError, EOFError, p.ProtocolError)):
                c.call(p.AddAsset(2, 2))
    finally:
        if haproxy is not None:
            haproxy.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
