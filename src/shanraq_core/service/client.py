"""A blocking client of the trading protocol (tests, tools, the load generator's handshake)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from shanraq_core.service import protocol as p

__all__ = ["GatewayClient", "client_context"]


def client_context(
    ca: str | Path, cert: str | Path | None = None, key: str | Path | None = None
) -> ssl.SSLContext:
    """TLS 1.3 client context trusting ``ca``, presenting ``cert`` if given."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert is not None:
        ctx.load_cert_chain(str(cert), None if key is None else str(key))
    return ctx


class GatewayClient:
    """One TLS connection: ``send`` frames (pipelined), ``recv`` answers in order."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, *, server_name: str = "localhost"
    ) -> None:
        raw = socket.create_connection((host, port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname=server_name)
        self._decoder = p.FrameDecoder(max_frame=1 << 16)

    def send(self, *msgs: p.Message) -> None:
        self.sock.sendall(b"".join(p.encode(m) for m in msgs))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> p.Message:
        """The next answer; ConnectionError if the gateway closed the connection."""
        while True:
            msg = self._decoder.next()
            if msg is not None:
                return msg
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the gateway closed the connection")
            self._decoder.feed(data)

    def call(self, msg: p.Message) -> p.Message:
        self.send(msg)
        return self.recv()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
