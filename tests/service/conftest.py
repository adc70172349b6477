"""Fixtures of the gateway tests: certificates made with `cryptography`, a
config, and a real gateway on loopback run on its own event loop thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shanraq_core.service.auth import hash_api_key
from shanraq_core.service.client import GatewayClient, client_context
from shanraq_core.service.config import ClientConfig, GatewayConfig, Role
from shanraq_core.service.gateway import Gateway

API_KEY = "viewer.s3cr3t-api-key-value"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@dataclass
class Pki:
    dir: Path

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


def make_pki(root: Path, clients: list[str]) -> Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, one client certificate per name."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("shanraq test CA"))
        .issuer_name(_name("shanraq test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(root / "ca", ca_key, ca)

    def leaf(cn: str, server: bool) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        _write(root / cn, key, b.sign(ca_key, hashes.SHA256()))

    leaf("server", True)
    for c in clients:
        leaf(c, False)
    return Pki(root)


CLIENTS = ["alice", "bob", "ops", "viewer", "stranger", "limited"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), CLIENTS)


def make_config(pki: Pki, journal: Path, **over: Any) -> GatewayConfig:
    clients = (
        ClientConfig("alice", Role.TRADER, frozenset({1})),
        ClientConfig("bob", Role.TRADER, frozenset({2})),
        ClientConfig("ops", Role.OPERATOR),
        ClientConfig("viewer", Role.READ_ONLY, api_key_hash=hash_api_key(API_KEY)),
        ClientConfig("limited", Role.TRADER, frozenset({3}), rate=1e-9, burst=3),
    )
    cfg = GatewayConfig(
        journal=journal,
        cert=pki.crt("server"),
        key=pki.key("server"),
        client_ca=pki.crt("ca"),
        trading_port=0,
        http_port=0,
        clients=clients,
        exchange={"max_orders": 1 << 12, "max_levels": 1 << 10, "id_history": 1 << 12},
    )
    return replace(cfg, **over)


class RunningGateway:
    """A Gateway on its own event loop thread (the tests are plain blocking clients)."""

    def __init__(self, config: GatewayConfig, pki: Pki) -> None:
        self.config = config
        self.pki = pki
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = Gateway(config)
        self._call(self.gateway.start())

    def _call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result()

    def client(self, name: str) -> GatewayClient:
        ctx = client_context(self.pki.crt("ca"), self.pki.crt(name), self.pki.key(name))
        return GatewayClient("127.0.0.1", self.gateway.trading_port, ctx)

    def stop(self) -> None:
        self._call(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def running(pki: Pki, tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(make_config(pki, tmp_path / "journal"), pki)
    try:
        yield gw
    finally:
        gw.stop()
