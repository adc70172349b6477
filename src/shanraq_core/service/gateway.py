"""The gateway: a TLS 1.3 trading listener speaking `protocol` and an
HTTP/JSON listener (aiohttp) for operators and tools, in front of a
`Backend` (docs/service.md).

Trading connections need a client certificate (mutual TLS; the principal is
its subject's CN, which must name a configured client). Every frame is
answered with exactly one frame with its request id, in arrival order.
Refused frames get an `ErrorFrame` and are counted in
``shanraq_frame_errors_total{code}``; the connection stays open for every
code except OVERSIZED (the frame's end is not read, so the stream cannot be
resynchronised: the gateway answers, then closes), a handshake whose
certificate names no client (answered UNAUTHORISED with request id 0, then
closed) and a connection beyond ``max_connections`` (UNAVAILABLE, request id
0, then closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shanraq_core.exchange import ExchangeRejectReason
from shanraq_core.service import protocol as p
from shanraq_core.service.auth import Principal, TokenBucket, authorise, verify_api_key
from shanraq_core.service.backend import Backend, Done, LocalBackend
from shanraq_core.service.config import GatewayConfig
from shanraq_core.service.logs import ACCESS, AUDIT, ERROR
from shanraq_core.service.metrics import GatewayMetrics

__all__ = ["Gateway", "server_context"]

#: An answer in a connection's queue: (request id, settled frame or the
#: backend's future, perf_counter_ns when the frame arrived).
_Item = tuple[int, "asyncio.Future[Done] | p.Message", int]

_REASONS = {r.value: r.name.lower() for r in ExchangeRejectReason}


def server_context(config: GatewayConfig, *, client_cert: bool) -> ssl.SSLContext:
    """TLS 1.3 only; ``client_cert`` True requires a certificate signed by
    ``client_ca``, False asks for one but lets API keys stand in (HTTP)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(config.cert), str(config.key))
    ctx.load_verify_locations(cafile=str(config.client_ca))
    ctx.verify_mode = ssl.CERT_REQUIRED if client_cert else ssl.CERT_OPTIONAL
    return ctx


def _common_name(cert: dict[str, Any] | None) -> str | None:
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class Gateway:
    """Both listeners and the backend. ``await start()``, ``await stop()``;
    ``trading_port``/``http_port`` are the bound ports (config port 0 picks one)."""

    def __init__(
        self, config: GatewayConfig, *, backend: Backend | None = None, metrics: GatewayMetrics | None = None
    ) -> None:
        self.config = config
        self.backend: Backend = backend or LocalBackend(
            config.journal, durability=config.durability, batch=config.batch, **config.exchange
        )
        self.metrics = metrics or GatewayMetrics()
        self._principals = {c.name: Principal.of(c) for c in config.clients}
        self._buckets = {c.name: TokenBucket(c.rate, c.burst) for c in config.clients}
        self._key_cache: dict[bytes, str] = {}
        self._kind_counters: dict[str, Any] = {}
        self._cache_key = os.urandom(32)
        self._server: asyncio.Server | None = None
        self._http: web.AppRunner | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.trading_port = 0
        self.http_port = 0

    # --- lifecycle --------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.backend.start(loop)
        self._server = await asyncio.start_server(
            self._on_trading,
            self.config.host,
            self.config.trading_port,
            ssl=server_context(self.config, client_cert=True),
            limit=1 << 16,
        )
        self.trading_port = self._server.sockets[0].getsockname()[1]
        app = web.Application(middlewares=[self._access_middleware])
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/v1/commands", self._post_command)
        app.router.add_get("/v1/balance", self._get_balance)
        app.router.add_get("/v1/order", self._get_order)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        site = web.TCPSite(
            self._http,
            self.config.host,
            self.config.http_port,
            ssl_context=server_context(self.config, client_cert=False),
        )
        await site.start()
        # uvloop's server is not an asyncio.Server: ask the runner what it bound.
        self.http_port = int(self._http.addresses[0][1])
        self._refresh_gauges()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        if self._http is not None:
            await self._http.cleanup()
            self._http = None
        await asyncio.get_running_loop().run_in_executor(None, self.backend.stop)

    def _refresh_gauges(self) -> None:
        h = self.backend.health()
        m = self.metrics
        m.durable.set(h.durable_seq)
        m.applied.set(h.applied_seq)
        m.lag_commands.set(h.lag_commands)
        m.lag_seconds.set(h.lag_seconds)
        m.set_role(h.role if h.role in ("primary", "standby", "fenced", "single") else "fenced")

    # --- trading listener -------------------------------------------------------
    async def _on_trading(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        peer = writer.get_extra_info("peername")
        name = _common_name(writer.get_extra_info("peercert"))
        principal = self._principals.get(name or "")
        gauge = self.metrics.connections.labels("trading")
        gauge.inc()
        ACCESS.info(
            "trading connection open",
            extra={"event.action": "connect", "source.address": str(peer), "user.name": name or ""},
        )
        try:
            if len(self._conns) > self.config.max_connections:
                self._count_error(p.ErrorCode.UNAVAILABLE)
                writer.write(p.encode(p.ErrorFrame(0, p.ErrorCode.UNAVAILABLE, "too many connections")))
                await writer.drain()
                return
            if principal is None:
                self._count_error(p.ErrorCode.UNAUTHORISED)
                writer.write(
                    p.encode(p.ErrorFrame(0, p.ErrorCode.UNAUTHORISED, "no client for this certificate"))
                )
                await writer.drain()
                return
            await self._serve(principal, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            gauge.dec()
            self._conns.discard(task)
            ACCESS.info(
                "trading connection closed",
                extra={"event.action": "disconnect", "source.address": str(peer), "user.name": name or ""},
            )
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, principal: Principal, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        answers: asyncio.Queue[_Item | None] = asyncio.Queue()
        writer_task = asyncio.create_task(self._write_answers(principal, answers, writer))
        decoder = p.FrameDecoder()
        bucket = self._buckets[principal.name]
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                decoder.feed(data)
                t_in = time.perf_counter_ns()
                while True:
                    try:
                        msg = decoder.next()
                    except p.ProtocolError as err:
                        self._count_error(err.code)
                        answers.put_nowait(
                            (0, p.ErrorFrame(err.request_id, err.code, err.message[:200]), t_in)
                        )
                        if err.fatal:
                            answers.put_nowait(None)
                            await writer_task
                            return
                        continue
                    if msg is None:
                        break
                    answers.put_nowait(self._handle(principal, bucket, msg, t_in))
        finally:
            if not writer_task.done():
                answers.put_nowait(None)
                await writer_task

    def _refuse(self, code: p.ErrorCode, request_id: int, text: str, t_in: int) -> tuple[int, p.Message, int]:
        self._count_error(code)
        return (request_id, p.ErrorFrame(request_id, code, text), t_in)

    def _handle(self, principal: Principal, bucket: TokenBucket, msg: p.Message, t_in: int) -> _Item:
        kind = msg.KIND
        if kind not in p.COMMANDS and kind not in p.QUERIES:
            return self._refuse(
                p.ErrorCode.UNKNOWN_KIND, msg.request_id, f"{kind.name} is not a request", t_in
            )
        why = authorise(principal, msg)
        if why is not None:
            return self._refuse(p.ErrorCode.UNAUTHORISED, msg.request_id, why, t_in)
        if not bucket.take():
            return self._refuse(p.ErrorCode.RATE_LIMITED, msg.request_id, "rate limit exceeded", t_in)
        return (msg.request_id, self.backend.submit(msg), t_in)

    async def _write_answers(
        self,
        principal: Principal,
        answers: asyncio.Queue[_Item | None],
        writer: asyncio.StreamWriter,
    ) -> None:
        while True:
            item = await answers.get()
            if item is None:
                await writer.drain()
                return
            chunks = [self._answer_bytes(principal, *(await self._settle(item)))]
            # Whatever else is already settled goes out in the same write.
            while not answers.empty():
                nxt = answers._queue[0]  # type: ignore[attr-defined]
                if nxt is None or (isinstance(nxt[1], asyncio.Future) and not nxt[1].done()):
                    break
                answers.get_nowait()
                chunks.append(self._answer_bytes(principal, *(await self._settle(nxt))))
            writer.write(b"".join(chunks))
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()

    async def _settle(self, item: _Item) -> tuple[Done | p.Message | BaseException, int, int]:
        request_id, value, t_in = item
        if isinstance(value, p.Message):
            return value, request_id, t_in
        try:
            return await value, request_id, t_in
        except Exception as e:
            return e, request_id, t_in

    def _answer_bytes(
        self, principal: Principal, res: Done | p.Message | BaseException, request_id: int, t_in: int
    ) -> bytes:
        if isinstance(res, p.Message):
            return p.encode(res)
        if isinstance(res, BaseException):
            code = p.ErrorCode.MALFORMED if isinstance(res, ValueError) else p.ErrorCode.UNAVAILABLE
            self._count_error(code)
            ERROR.error("command failed", extra={"user.name": principal.name, "error.message": str(res)})
            return p.encode(p.ErrorFrame(request_id, code, str(res)[:200]))
        self._account(principal, res, t_in)
        return p.encode(res.answer)

    def _account(self, principal: Principal, done: Done, t_in: int) -> None:
        m = self.metrics
        if done.seq:
            m.ack.record(max(1, time.perf_counter_ns() - t_in))
            m.engine.record(max(1, done.engine_ns))
            counter = self._kind_counters.get(done.kind)
            if counter is None:
                counter = self._kind_counters[done.kind] = m.commands.labels(done.kind)
            counter.inc()
            answer = done.answer
            assert isinstance(answer, p.Report)
            reason = _REASONS.get(answer.reason, str(answer.reason)) if answer.rejected else ""
            if answer.rejected:
                m.rejects.labels(reason).inc()
            if AUDIT.isEnabledFor(20):
                AUDIT.info(
                    "command",
                    extra={
                        "shanraq.seq": done.seq,
                        "user.name": principal.name,
                        "event.action": done.kind,
                        "event.outcome": "failure" if answer.rejected else "success",
                        "shanraq.reason": reason,
                        "shanraq.request_id": answer.request_id,
                    },
                )

    def _count_error(self, code: p.ErrorCode) -> None:
        self.metrics.frame_errors.labels(code.label).inc()

    # --- HTTP listener ----------------------------------------------------------
    @web.middleware
    async def _access_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        gauge = self.metrics.connections.labels("http")
        gauge.inc()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            gauge.dec()
            ACCESS.info(
                "http request",
                extra={
                    "http.request.method": request.method,
                    "url.path": request.path,
                    "http.response.status_code": status,
                    "source.address": str(request.remote),
                },
            )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _ready(self, request: web.Request) -> web.Response:
        h = self.backend.health()
        self._refresh_gauges()
        return web.json_response(asdict(h), status=200 if h.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        self._refresh_gauges()
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _principal(self, request: web.Request) -> Principal:
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport is not None else None
        name = _common_name(cert)
        if name is None:
            auth = request.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or "." not in token:
                raise self._http_error(
                    401, p.ErrorCode.UNAUTHORISED, "a client certificate or an API key is needed"
                )
            client_name, _, _secret = token.partition(".")
            tag = hmac.new(self._cache_key, token.encode(), hashlib.sha256).digest()
            if self._key_cache.get(tag) != client_name:
                client = self.config.client(client_name)
                ok = False
                if client is not None and client.api_key_hash:
                    ok = await asyncio.get_running_loop().run_in_executor(
                        None, verify_api_key, token, client.api_key_hash
                    )
                if not ok:
                    raise self._http_error(401, p.ErrorCode.UNAUTHORISED, "unknown client or wrong API key")
                self._key_cache[tag] = client_name
            name = client_name
        principal = self._principals.get(name)
        if principal is None:
            raise self._http_error(401, p.ErrorCode.UNAUTHORISED, "no client for this certificate")
        return principal

    def _http_error(self, status: int, code: p.ErrorCode, text: str) -> web.HTTPException:
        self._count_error(code)
        body = json.dumps({"error": code.label, "message": text})
        cls: dict[int, type[web.HTTPException]] = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized}
        cls |= {403: web.HTTPForbidden, 429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable}
        return cls[status](text=body, content_type="application/json")

    async def _json_request(self, principal: Principal, msg: p.Message) -> web.Response:
        why = authorise(principal, msg)
        if why is not None:
            raise self._http_error(403, p.ErrorCode.UNAUTHORISED, why)
        if not self._buckets[principal.name].take():
            raise self._http_error(429, p.ErrorCode.RATE_LIMITED, "rate limit exceeded")
        t_in = time.perf_counter_ns()
        try:
            done = await self.backend.submit(msg)
        except ValueError as e:
            raise self._http_error(400, p.ErrorCode.MALFORMED, str(e)) from None
        except RuntimeError as e:
            raise self._http_error(503, p.ErrorCode.UNAVAILABLE, str(e)) from None
        self._account(principal, done, t_in)
        out = asdict(done.answer)
        if isinstance(done.answer, p.Report) and done.answer.rejected:
            out["reason_name"] = _REASONS.get(done.answer.reason, "")
        return web.json_response(out)

    async def _post_command(self, request: web.Request) -> web.Response:
        principal = await self._principal(request)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise TypeError("the body is not a JSON object")
            kind = p.Kind[str(body.pop("kind")).upper()]
            cls = p.MESSAGES[kind]
            if kind not in p.COMMANDS:
                raise KeyError(kind.name)
            msg = cls(int(body.pop("request_id", 0)), **{k: int(v) for k, v in body.items()})
            p.encode(msg)  # every field in its type's range
        except (ValueError, TypeError, KeyError) as e:
            raise self._http_error(400, p.ErrorCode.MALFORMED, f"bad command: {e}") from None
        return await self._json_request(principal, msg)

    async def _query(
        self, request: web.Request, cls: type[p.Message], names: tuple[str, ...]
    ) -> web.Response:
        principal = await self._principal(request)
        try:
            msg = cls(0, *(int(request.query[n]) for n in names))
            p.encode(msg)
        except (ValueError, KeyError) as e:
            raise self._http_error(400, p.ErrorCode.MALFORMED, f"bad query: {e}") from None
        return await self._json_request(principal, msg)

    async def _get_balance(self, request: web.Request) -> web.Response:
        return await self._query(request, p.QueryBalance, ("user", "asset"))

    async def _get_order(self, request: web.Request) -> web.Response:
        return await self._query(request, p.QueryOrder, ("user", "order_id"))


async def serve(config: GatewayConfig) -> None:
    """Runs a gateway until SIGTERM or SIGINT."""
    import signal

    gw = Gateway(config)
    await gw.start()
    ACCESS.info(
        "gateway listening",
        extra={
            "event.action": "start",
            "shanraq.trading_port": gw.trading_port,
            "shanraq.http_port": gw.http_port,
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await gw.stop()


def run(config: GatewayConfig) -> None:
    """`serve` on uvloop when it is installed, else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
