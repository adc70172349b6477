"""deploy/haproxy/haproxy.cfg, unchanged, in a real HAProxy (Debian) in front of two backends that
answer /ready over HTTP (aiohttp) and greet on their trading port with their name: HAProxy routes to
whichever backend is ready, switches when it stops being ready, and cuts the sessions of the one that
went down (on-marked-down shutdown-sessions)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from .ops_servers import LocalHaproxy, poll

pytestmark = pytest.mark.servers


class FakeGateway:
    """A trading port that writes ``name`` on connect and echoes, and an HTTP port whose /ready answers
    200 or 503 as ``ready`` says."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.ready = False
        self._loop = loop
        self.trading_port, self.http_port = asyncio.run_coroutine_threadsafe(self._start(), loop).result(60)

    async def _start(self) -> tuple[int, int]:
        app = web.Application()
        app.router.add_get("/ready", self._ready)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._trading = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self._trading.sockets[0].getsockname()[1]), int(http_port)

    async def _ready(self, _request: web.Request) -> web.Response:
        return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.name.encode() + b"\n")
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _stop(self) -> None:
        self._trading.close()
        await self._runner.cleanup()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(60)


@pytest.fixture
def gateways() -> Iterator[tuple[FakeGateway, FakeGateway]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    a, b = FakeGateway("gw0", loop), FakeGateway("gw1", loop)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@pytest.fixture
def haproxy(gateways: tuple[FakeGateway, FakeGateway]) -> Iterator[LocalHaproxy]:
    h = LocalHaproxy([(g.trading_port, g.http_port) for g in gateways])
    try:
        yield h
    finally:
        h.close()


def _greeting(port: int) -> tuple[socket.socket | None, str]:
    """Connects through HAProxy: (the open socket, the backend's name), or (None, "") when HAProxy
    has no backend to give (it closes the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    buf = b""
    while not buf.endswith(b"\n"):
        try:
            chunk = s.recv(64)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            s.close()
            return None, ""
        buf += chunk
    return s, buf.decode().strip()


def _routes_to(port: int, name: str) -> bool:
    s, got = _greeting(port)
    if s is not None:
        s.close()
    return got == name


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(64) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_routes_to_the_ready_gateway_and_fails_over(
    haproxy: LocalHaproxy, gateways: tuple[FakeGateway, FakeGateway]
) -> None:
    a, b = gateways
    a.ready = True
    poll("gw0 up, gw1 down", lambda: haproxy.server_states() == {"gw0": "UP", "gw1": "DOWN"})
    held, name = _greeting(haproxy.port)
    assert held is not None
    assert name == "gw0"
    held.sendall(b"ping")
    assert held.recv(64) == b"ping"
    # gw0 stops being ready (demoted or fenced), gw1 is promoted.
    a.ready = False
    b.ready = True
    poll("traffic moves to gw1", lambda: _routes_to(haproxy.port, "gw1"))
    assert haproxy.server_states() == {"gw0": "DOWN", "gw1": "UP"}
    # The session on the old primary is cut rather than left to hang.
    held.settimeout(0.5)
    poll("the old session closed", lambda: _closed_by_peer(held))
    held.close()
    # Back again: gw0 ready, gw1 not.
    a.ready = True
    b.ready = False
    poll("traffic back to gw0", lambda: _routes_to(haproxy.port, "gw0"))


def test_no_ready_gateway_refuses_then_routes_to_the_first_ready(
    haproxy: LocalHaproxy, gateways: tuple[FakeGateway, FakeGateway]
) -> None:
    _a, b = gateways
    poll("both down", lambda: haproxy.server_states() == {"gw0": "DOWN", "gw1": "DOWN"})
    s, name = _greeting(haproxy.port)
    assert s is None
    assert name == ""
    b.ready = True
    poll("traffic to gw1", lambda: _routes_to(haproxy.port, "gw1"))
    assert haproxy.server_states() == {"gw0": "DOWN", "gw1": "UP"}
