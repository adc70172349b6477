"""Fixtures of the gateway tests: certificates made with `cryptography`, a
config, and a real gateway on loopback run on its own event loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shanraq_core.service.auth import hash_api_key
from shanraq_core.service.client import GatewayClient, client_context
from shanraq_core.service.config import ClientConfig, GatewayConfig, Role
from shanraq_core.service.gateway import Gateway
from shanraq_core.service.testing import Pki, make_pki

API_KEY = "viewer.s3cr3t-api-key-value"


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
        self.loop = _new_loop()
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


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (what ``service gateway`` runs on), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
