"""The gateway end to end over real TLS sockets on loopback, with a real
exchange and journal behind it (no mocks)."""

from __future__ import annotations

import dataclasses
import io
import json
import ssl
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shanraq_core.exchange import ExchangeRejectReason
from shanraq_core.service import protocol as p
from shanraq_core.service.client import GatewayClient, client_context
from shanraq_core.service.logs import configure_logging, stop_logging
from shanraq_core.service.testing import Pki

from .conftest import API_KEY, RunningGateway, make_config

BUY, SELL, LIMIT, GTC, IOC = 1, 2, 1, 1, 2


def setup_market(gw: RunningGateway) -> None:
    with gw.client("ops") as ops:
        msgs: list[p.Message] = [p.AddAsset(1, 1), p.AddAsset(2, 2)]
        msgs += [p.AddUser(10 + u, u) for u in (1, 2, 3)]
        msgs.append(p.AddSymbol(20, 1, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1_000_000, 1_000_000))
        msgs += [p.Deposit(30 + u, u, a, 100 * u + a, 10**9) for u in (1, 2, 3) for a in (1, 2)]
        ops.send(*msgs)
        for m in msgs:
            r = ops.recv()
            assert isinstance(r, p.Report), r
            assert r.request_id == m.request_id
            assert not r.rejected, ExchangeRejectReason(r.reason)


def place(rid: int, user: int, oid: int, side: int, price: int, qty: int, tif: int = GTC) -> p.Place:
    return p.Place(rid, user, oid, 1, side, LIMIT, tif, 0, 0, price, qty, 0, 0, 0)


def metrics(gw: RunningGateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = http(gw, "/metrics")[1]
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def http(
    gw: RunningGateway, path: str, *, cert: str | None = None, token: str | None = None, body: Any = None
) -> tuple[int, str]:
    ctx = client_context(gw.pki.crt("ca"), *((gw.pki.crt(cert), gw.pki.key(cert)) if cert else ()))
    req = urllib.request.Request(f"https://localhost:{gw.gateway.http_port}{path}")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_pipelined_reports_in_order_and_only_once_durable(running: RunningGateway) -> None:
    setup_market(running)
    journal = running.gateway.backend.journal  # type: ignore[attr-defined]
    with running.client("alice") as alice, running.client("bob") as bob:
        bob.send(*(place(i, 2, 1000 + i, SELL, 100 + i % 5, 2) for i in range(50)))
        alice.send(*(place(i, 1, 5000 + i, BUY, 100 + i % 7, 3, IOC) for i in range(200)))
        seqs = []
        for i in range(200):
            r = alice.recv()
            # The report's command is on disk when the report arrives.
            assert isinstance(r, p.Report)
            assert journal.durable_seq >= r.seq
            assert r.request_id == i
            seqs.append(r.seq)
        for i in range(50):
            r = bob.recv()
            assert isinstance(r, p.Report)
            assert r.request_id == i
            assert journal.durable_seq >= r.seq
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 200
    assert sum(r is not None for r in seqs) == 200


def test_report_carries_fills(running: RunningGateway) -> None:
    setup_market(running)
    with running.client("alice") as alice, running.client("bob") as bob:
        s = bob.call(place(1, 2, 77, SELL, 100, 5))
        assert isinstance(s, p.Report)
        assert (s.rejected, s.filled, s.remaining) == (0, 0, 5)
        b = alice.call(place(2, 1, 78, BUY, 100, 3))
        assert isinstance(b, p.Report)
        assert (b.rejected, b.trades, b.filled, b.remaining) == (0, 1, 3, 0)
        assert b.seq == s.seq + 1
        bal = alice.call(p.QueryBalance(3, 1, 1))
        assert bal == p.BalanceReply(3, 1, 10**9 + 3, 0, 10**9 + 3)
        order = bob.call(p.QueryOrder(4, 2, 77))
        assert isinstance(order, p.OrderReply)
        assert (order.found, order.remaining) == (1, 2)
        # Alice cannot see Bob's order through her own account id.
        assert alice.call(p.QueryOrder(5, 1, 77)) == p.OrderReply(5, 0, 0, 0, 0, 0, 0)
        dup = alice.call(place(6, 1, 78, BUY, 100, 1))
        assert isinstance(dup, p.Report)
        assert dup.rejected == 1
    m = metrics(running)
    assert m[("shanraq_rejects_total", (("reason", "duplicate_order_id"),))] == 1


ALLOWED = {
    "alice": {"place1", "cancel1", "amend1", "mass1", "balance1", "order1"},
    "bob": set(),
    "ops": {"deposit", "withdraw", "add_symbol", "add_asset", "add_user", "limits", "halt", "resume"}
    | {"balance1", "order1"},
    "viewer": {"balance1", "order1"},
}
REQUESTS: dict[str, p.Message] = {
    "place1": place(0, 1, 900, BUY, 100, 1),
    "cancel1": p.Cancel(0, 1, 900),
    "amend1": p.Amend(0, 1, 900, 101, 1, 0),
    "mass1": p.MassCancel(0, 1, 0, 0),
    "deposit": p.Deposit(0, 1, 1, 9999, 5),
    "withdraw": p.Withdraw(0, 1, 1, 9998, 5),
    "add_symbol": p.AddSymbol(0, 2, 2, 1, 0, 0, 1, 1, 1, 1, 1, 10**6, 10**6),
    "add_asset": p.AddAsset(0, 3),
    "add_user": p.AddUser(0, 4),
    "limits": p.SetLimits(0, 1, 10, 0),
    "halt": p.HaltSymbol(0, 1),
    "resume": p.ResumeSymbol(0, 1),
    "balance1": p.QueryBalance(0, 1, 1),
    "order1": p.QueryOrder(0, 1, 900),
}


@pytest.mark.parametrize("who", sorted(ALLOWED))
def test_roles_matrix(running: RunningGateway, who: str) -> None:
    setup_market(running)
    before = metrics(running).get(("shanraq_frame_errors_total", (("code", "unauthorised"),)), 0)
    refused = 0
    with running.client(who) as c:
        for i, (name, msg) in enumerate(REQUESTS.items()):
            r = c.call(dataclasses.replace(msg, request_id=i))
            assert r.request_id == i
            if name in ALLOWED[who]:
                assert not isinstance(r, p.ErrorFrame), (who, name, r)
            else:
                assert isinstance(r, p.ErrorFrame), (who, name, r)
                assert r.code == p.ErrorCode.UNAUTHORISED
                refused += 1
    after = metrics(running)[("shanraq_frame_errors_total", (("code", "unauthorised"),))]
    assert after - before == refused


def test_tls12_client_is_refused(running: RunningGateway) -> None:
    ctx = client_context(running.pki.crt("ca"), running.pki.crt("alice"), running.pki.key("alice"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        GatewayClient("127.0.0.1", running.gateway.trading_port, ctx)
    with pytest.raises(ssl.SSLError):
        http_ctx_request(running, ctx)


def http_ctx_request(gw: RunningGateway, ctx: ssl.SSLContext) -> None:
    try:
        urllib.request.urlopen(f"https://localhost:{gw.gateway.http_port}/health", context=ctx)
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLError):
            raise e.reason from e
        raise


def _call_without_certificate(gw: RunningGateway) -> None:
    with GatewayClient("127.0.0.1", gw.gateway.trading_port, client_context(gw.pki.crt("ca"))) as c:
        c.call(p.QueryBalance(1, 1, 1))


def test_no_certificate_and_unknown_certificate(running: RunningGateway) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _call_without_certificate(running)
    with running.client("stranger") as s:
        s.send(p.QueryBalance(1, 1, 1))
        r = s.recv()
        assert r == p.ErrorFrame(0, p.ErrorCode.UNAUTHORISED, "no client for this certificate")
        with pytest.raises((ConnectionError, ssl.SSLError)):
            s.recv()


def test_rate_limit(running: RunningGateway) -> None:
    with running.client("limited") as c:
        c.send(*(p.QueryBalance(i, 3, 1) for i in range(5)))
        answers = [c.recv() for _ in range(5)]
    assert [type(a) for a in answers[:3]] == [p.BalanceReply] * 3
    assert answers[3:] == [p.ErrorFrame(i, p.ErrorCode.RATE_LIMITED, "rate limit exceeded") for i in (3, 4)]
    assert metrics(running)[("shanraq_frame_errors_total", (("code", "rate_limited"),))] == 2


def _raw(kind: int, body: bytes, *, version: int = p.VERSION, rid: int = 7) -> bytes:
    payload = p.HEADER.pack(version, kind, 0, rid) + body
    return struct.pack("<I", len(payload)) + payload


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (_raw(p.Kind.CANCEL, b"\0" * 3), p.ErrorCode.MALFORMED),
        (_raw(99, b""), p.ErrorCode.UNKNOWN_KIND),
        (_raw(p.Kind.REPORT, b"\0" * p.Report.BODY.size), p.ErrorCode.UNKNOWN_KIND),
        (_raw(p.Kind.CANCEL, b"\0" * 16, version=2), p.ErrorCode.BAD_VERSION),
    ],
)
def test_bad_frames_are_answered_counted_and_the_connection_kept(
    running: RunningGateway, frame: bytes, code: p.ErrorCode
) -> None:
    with running.client("alice") as c:
        c.send_raw(frame)
        r = c.recv()
        assert isinstance(r, p.ErrorFrame)
        assert (r.code, r.request_id) == (code, 7)
        assert isinstance(c.call(p.QueryBalance(8, 1, 1)), p.BalanceReply)
    assert metrics(running)[("shanraq_frame_errors_total", (("code", code.label),))] == 1


def test_oversized_frame_is_answered_then_closed(running: RunningGateway) -> None:
    with running.client("alice") as c:
        c.send_raw(struct.pack("<I", p.MAX_FRAME + 1) + b"\0" * 64)
        r = c.recv()
        assert isinstance(r, p.ErrorFrame)
        assert r.code == p.ErrorCode.OVERSIZED
        with pytest.raises((ConnectionError, ssl.SSLError)):
            c.recv()
    assert metrics(running)[("shanraq_frame_errors_total", (("code", "oversized"),))] == 1


def test_restart_recovers_every_acknowledged_command(pki: Pki, tmp_path: Path) -> None:
    cfg = make_config(pki, tmp_path / "journal")
    gw = RunningGateway(cfg, pki)
    try:
        setup_market(gw)
        with gw.client("alice") as alice, gw.client("bob") as bob:
            bob.send(*(place(i, 2, 100 + i, SELL, 100 + i, 4) for i in range(20)))
            acked = [bob.recv() for _ in range(20)]
            alice.send(*(place(i, 1, 500 + i, BUY, 105, 3) for i in range(10)))
            acked += [alice.recv() for _ in range(10)]
            last = max(r.seq for r in acked if isinstance(r, p.Report))
            before = [alice.call(p.QueryBalance(99, 1, a)) for a in (1, 2)]
            before += [bob.call(p.QueryBalance(99, 2, a)) for a in (1, 2)]
            orders = [bob.call(p.QueryOrder(98, 2, 100 + i)) for i in range(20)]
    finally:
        gw.stop()
    gw = RunningGateway(cfg, pki)
    try:
        assert gw.gateway.backend.journal.durable_seq >= last  # type: ignore[attr-defined]
        with gw.client("alice") as alice, gw.client("bob") as bob:
            after = [alice.call(p.QueryBalance(99, 1, a)) for a in (1, 2)]
            after += [bob.call(p.QueryBalance(99, 2, a)) for a in (1, 2)]
            assert after == before
            assert [bob.call(p.QueryOrder(98, 2, 100 + i)) for i in range(20)] == orders
            r = alice.call(place(1, 1, 9999, BUY, 1, 1))
            assert isinstance(r, p.Report)
            assert r.seq == last + 1
    finally:
        gw.stop()


def test_health_ready_metrics(running: RunningGateway) -> None:
    setup_market(running)
    assert http(running, "/health") == (200, json.dumps({"status": "alive"}))
    status, body = http(running, "/ready")
    ready = json.loads(body)
    assert status == 200
    assert ready["role"] == "single"
    assert ready["ready"] is True
    m = metrics(running)
    assert m[("shanraq_role", (("role", "single"),))] == 1
    assert m[("shanraq_role", (("role", "primary"),))] == 0
    assert m[("shanraq_durable_sequence", ())] == ready["durable_seq"] == 12
    assert m[("shanraq_commands_total", (("kind", "deposit"),))] == 6
    assert m[("shanraq_commands_total", (("kind", "add_asset"),))] == 2
    bounds = {float(dict(k[1])["le"]) for k in m if k[0] == "shanraq_command_latency_seconds_bucket"}
    assert {1e-4, 5e-4, 1e-3} <= bounds
    assert m[("shanraq_command_latency_seconds_count", (("stage", "ack"),))] == 12
    assert m[("shanraq_command_latency_seconds_count", (("stage", "engine"),))] == 12
    assert ("shanraq_connections", (("listener", "trading"),)) in m
    assert m[("shanraq_failovers_total", ())] == 0


def test_ready_is_503_once_the_backend_stopped(running: RunningGateway) -> None:
    running.gateway.backend.stop()
    status, body = http(running, "/ready")
    assert status == 503
    assert json.loads(body)["ready"] is False


def test_http_api_keys_and_roles(running: RunningGateway) -> None:
    setup_market(running)
    status, body = http(running, "/v1/balance?user=1&asset=1", token=API_KEY)
    assert status == 200
    assert json.loads(body)["available"] == 10**9
    assert http(running, "/v1/balance?user=1&asset=1", token="viewer.wrong")[0] == 401
    assert http(running, "/v1/balance?user=1&asset=1")[0] == 401
    deposit = {"kind": "deposit", "user": 1, "asset": 1, "transfer_id": 4242, "amount": 7}
    assert http(running, "/v1/commands", token=API_KEY, body=deposit)[0] == 403
    status, body = http(running, "/v1/commands", cert="ops", body=deposit)
    assert status == 200
    report = json.loads(body)
    assert report["rejected"] == 0
    assert report["available"] == 10**9 + 7
    assert http(running, "/v1/commands", cert="ops", body={"kind": "deposit", "user": -1})[0] == 400
    assert http(running, "/v1/commands", cert="alice", body=deposit)[0] == 403


def test_logs_audit_every_command_and_never_a_key(running: RunningGateway) -> None:
    out = io.StringIO()
    handler = configure_logging(out)
    try:
        setup_market(running)
        http(running, "/v1/balance?user=1&asset=1", token=API_KEY)
        http(running, "/v1/balance?user=1&asset=1", token="viewer.not-the-key-XYZ")
    finally:
        stop_logging(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    audit = [r for r in lines if r["log"]["logger"] == "shanraq.audit"]
    assert [r["shanraq"]["seq"] for r in audit] == list(range(1, 13))
    assert {r["user"]["name"] for r in audit} == {"ops"}
    assert all(r["event"]["outcome"] == "success" for r in audit)
    assert any(r["log"]["logger"] == "shanraq.access" for r in lines)
    text = out.getvalue()
    assert "s3cr3t" not in text
    assert "not-the-key" not in text


def test_connections_beyond_the_limit_are_refused(pki: Pki, tmp_path: Path) -> None:
    gw = RunningGateway(make_config(pki, tmp_path / "journal", max_connections=1), pki)
    try:
        with gw.client("alice") as first:
            assert isinstance(first.call(p.QueryBalance(1, 1, 1)), p.BalanceReply)
            with gw.client("bob") as second:
                second.send(p.QueryBalance(1, 2, 1))
                assert second.recv() == p.ErrorFrame(0, p.ErrorCode.UNAVAILABLE, "too many connections")
                with pytest.raises((ConnectionError, ssl.SSLError)):
                    second.recv()
            assert isinstance(first.call(p.QueryBalance(2, 1, 1)), p.BalanceReply)
        assert metrics(gw)[("shanraq_frame_errors_total", (("code", "unavailable"),))] == 1
    finally:
        gw.stop()
