"""Open-loop load generator for the gateway (docs/service.md, "Load generator").

Each connection sends its share of ``rate`` commands a second at fixed
scheduled times (command i of a connection at ``t0 + i / share``), never
waiting for answers (pipelined), and measures each command's latency from its
*scheduled* send time to its report's arrival, so a stalled gateway is charged
for every command it delayed (no coordinated omission). Sending is paced by
spinning the event loop (timers have 1 ms granularity), so the generator
needs most of a core of its own. Commands alternate a resting sell (GTC) of
user A and a crossing buy (IOC) of user B on one symbol, so the book stays
small and every other command trades.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core.service import protocol as p
from shanraq_core.service.client import client_context

__all__ = ["LoadResult", "main", "run_load"]


@dataclass
class LoadResult:
    offered_rate: float
    achieved_rate: float
    sent: int
    answered: int
    rejected: int
    errors: int
    latencies_ns: npt.NDArray[np.int64]

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ns
        q = np.percentile(lat, [50, 95, 99, 99.9]) if len(lat) else np.zeros(4)
        us = 1e-3
        return {
            "offered_rate": self.offered_rate,
            "achieved_rate": round(self.achieved_rate, 1),
            "sent": self.sent,
            "answered": self.answered,
            "rejected": self.rejected,
            "errors": self.errors,
            "p50_us": round(float(q[0]) * us, 1),
            "p95_us": round(float(q[1]) * us, 1),
            "p99_us": round(float(q[2]) * us, 1),
            "p999_us": round(float(q[3]) * us, 1),
            "max_us": round(float(lat.max()) * us, 1) if len(lat) else 0.0,
            "meets_targets": bool(len(lat) and q[0] < 100_000 and q[1] < 500_000 and q[2] < 1_000_000),
        }


class _Conn(asyncio.Protocol):
    def __init__(self, n: int) -> None:
        self.sched = np.zeros(n, dtype=np.int64)
        self.latency = np.full(n, -1, dtype=np.int64)
        self.decoder = p.FrameDecoder(max_frame=1 << 16)
        self.answered = 0
        self.rejected = 0
        self.errors = 0
        self.transport: Any = None
        self.done = asyncio.get_running_loop().create_future()
        self.total = n

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's SSL transport is not an asyncio.Transport subclass; it has write().
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.decoder.feed(data)
        while (msg := self.decoder.next()) is not None:
            rid = msg.request_id
            if 0 <= rid < self.total:
                self.latency[rid] = now - self.sched[rid]
            self.answered += 1
            if isinstance(msg, p.ErrorFrame):
                self.errors += 1
            elif isinstance(msg, p.Report) and msg.rejected:
                self.rejected += 1
        if self.answered >= self.total and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _frames(
    n: int, conn: int, user_a: int, user_b: int, symbol: int, price: int, id_base: int
) -> list[bytes]:
    out = []
    for i in range(n):
        oid = id_base + conn * 100_000_000 + i + 1
        if i % 2 == 0:
            m: p.Message = p.Place(i, user_a, oid, symbol, 2, 1, 1, 0, 0, price, 1, 0, 0, 0)
        else:
            m = p.Place(i, user_b, oid, symbol, 1, 1, 2, 0, 0, price, 1, 0, 0, 0)
        out.append(p.encode(m))
    return out


async def run_load(
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    rate: float,
    duration: float,
    connections: int = 1,
    user_a: int = 1,
    user_b: int = 2,
    symbol: int = 1,
    price: int = 100,
    id_base: int = 0,
    warmup: float = 0.0,
) -> LoadResult:
    """Offers ``rate`` commands/s for ``duration`` s over ``connections`` TLS
    connections; latencies of the first ``warmup`` seconds are dropped."""
    loop = asyncio.get_running_loop()
    share = rate / connections
    n = max(1, int(share * duration))
    conns: list[_Conn] = []
    for _ in range(connections):
        _t, proto = await loop.create_connection(
            lambda: _Conn(n), host, port, ssl=context, server_hostname="localhost"
        )
        conns.append(proto)
    frames = [_frames(n, c, user_a, user_b, symbol, price, id_base) for c in range(connections)]
    period_ns = 1e9 / share
    t0 = time.perf_counter_ns() + 10_000_000
    for c, proto in enumerate(conns):
        # Connections are staggered within one period so the offered stream is even.
        offset = int(c * period_ns / connections)
        proto.sched[:] = t0 + offset + (np.arange(n) * period_ns).astype(np.int64)
    sent = [0] * connections
    while any(s < n for s in sent):
        now = time.perf_counter_ns()
        for c, proto in enumerate(conns):
            due = int(np.searchsorted(proto.sched, now, side="right"))
            if due > sent[c]:
                assert proto.transport is not None
                proto.transport.write(b"".join(frames[c][sent[c] : due]))
                sent[c] = due
        await asyncio.sleep(0)
    t_sent = time.perf_counter_ns()
    await asyncio.wait_for(asyncio.gather(*(conn.done for conn in conns)), timeout=60 + duration)
    t_end = time.perf_counter_ns()
    skip = int(share * warmup)
    lat = np.concatenate([conn.latency[skip:] for conn in conns])
    answered = sum(conn.answered for conn in conns)
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    elapsed = max(t_end, t_sent) - t0
    return LoadResult(
        offered_rate=rate,
        achieved_rate=answered / (elapsed / 1e9),
        sent=sum(sent),
        answered=answered,
        rejected=sum(conn.rejected for conn in conns),
        errors=sum(conn.errors for conn in conns),
        latencies_ns=lat[lat >= 0],
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m shanraq_core service loadgen", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True, help="CA certificate (PEM) that signed the gateway's")
    ap.add_argument("--cert", required=True, help="client certificate (PEM) of a trader owning both users")
    ap.add_argument("--key", required=True, help="its private key (PEM)")
    ap.add_argument("--rate", type=float, required=True, help="offered commands per second")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of latencies dropped")
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--user-a", type=int, default=1)
    ap.add_argument("--user-b", type=int, default=2)
    ap.add_argument("--symbol", type=int, default=1)
    ap.add_argument("--price", type=int, default=100)
    ap.add_argument("--id-base", type=int, default=0, help="order ids start above this")
    args = ap.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.connections < 1 or not 0 <= args.warmup < args.duration:
        ap.error("--rate and --duration must be > 0, --connections >= 1, 0 <= --warmup < --duration")
    ctx = client_context(args.ca, args.cert, args.key)
    coro = run_load(
        args.host,
        args.port,
        ctx,
        rate=args.rate,
        duration=args.duration,
        connections=args.connections,
        user_a=args.user_a,
        user_b=args.user_b,
        symbol=args.symbol,
        price=args.price,
        id_base=args.id_base,
        warmup=args.warmup,
    )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    json.dump(result.summary(), sys.stdout)
    sys.stdout.write("\n")
    return 0
