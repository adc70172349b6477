"""End-to-end benchmark of the reference gateway (docs/performance.md, "Reference service").

client -> TLS 1.3 -> gateway (one process) -> exchange -> journal fsync -> report -> client,
open loop at fixed offered rates from a separate load-generator process, plus a
per-layer cost breakdown measured in this process. Not a test: run it by hand,
on an otherwise idle machine:

    python bench/service_e2e.py [--rates 10000,50000,100000] [--duration 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from shanraq_core.exchange import EXCHANGE_COMMAND_DTYPE, Exchange
from shanraq_core.prometheus import DEFAULT_BUCKETS
from shanraq_core.service import protocol as p
from shanraq_core.service.client import GatewayClient, client_context
from shanraq_core.service.testing import make_pki

CAPS = {"max_orders": 1 << 16, "max_levels": 1 << 12, "id_history": 1 << 22}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(root: Path, trading: int, http: int) -> Path:
    cfg = root / "gateway.toml"
    cfg.write_text(
        f"""
[gateway]
host = "127.0.0.1"
trading_port = {trading}
http_port = {http}
batch = 4096

[tls]
cert = "pki/server.crt"
key = "pki/server.key"
client_ca = "pki/ca.crt"

[journal]
path = "journal"
durability = "every_batch"

[exchange]
max_orders = {CAPS["max_orders"]}
max_levels = {CAPS["max_levels"]}
id_history = {CAPS["id_history"]}

[[clients]]
name = "bench-trader"
role = "trader"
accounts = [1, 2]
rate = 1e9
burst = 1e9

[[clients]]
name = "bench-ops"
role = "operator"
"""
    )
    return cfg


def setup_market(port: int, ctx: ssl.SSLContext) -> None:
    msgs: list[p.Message] = [p.AddAsset(1, 1), p.AddAsset(2, 2), p.AddUser(3, 1), p.AddUser(4, 2)]
    msgs.append(p.AddSymbol(5, 1, 1, 2, 0, 0, 1, 1, 1, 1, 1, 10**6, 10**6))
    msgs += [p.Deposit(10 + 2 * u + a, u, a, 10 * u + a, 1 << 60) for u in (1, 2) for a in (1, 2)]
    with GatewayClient("127.0.0.1", port, ctx) as c:
        c.send(*msgs)
        for _ in msgs:
            r = c.recv()
            if not isinstance(r, p.Report) or r.rejected:
                raise RuntimeError(f"market setup refused: {r}")


def scrape(http: int, ca: Path) -> str:
    ctx = client_context(ca)
    with urllib.request.urlopen(f"https://localhost:{http}/metrics", context=ctx) as r:
        return str(r.read().decode())


def stage_quantiles(text: str) -> dict[str, dict[str, float]]:
    """P50/P99 (upper bucket bounds, µs) of each stage from the exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name != "shanraq_command_latency_seconds":
            continue
        by: dict[str, list[tuple[float, float]]] = {}
        for s in fam.samples:
            if s.name.endswith("_bucket"):
                by.setdefault(s.labels["stage"], []).append((float(s.labels["le"]), s.value))
        for stage, b in by.items():
            b.sort()
            total = b[-1][1]
            res = {}
            for q in (0.5, 0.99):
                res[f"p{int(q * 100)}_le_us"] = next(le for le, c in b if c >= q * total) * 1e6
            res["count"] = total
            out[stage] = res
    return out


def layer_costs(tmp: Path) -> dict[str, float]:
    """Per-command costs (ns) of the layers, each measured alone in this process."""
    res: dict[str, float] = {}
    n = 20_000
    # Framing: encode + decode of one place frame (Python).
    msg = p.Place(1, 1, 1, 1, 1, 1, 2, 0, 0, 100, 1, 0, 0, 0)
    t = time.perf_counter_ns()
    for _ in range(n):
        p.decode_frame(p.encode(msg))
    res["framing_encode_decode_ns"] = (time.perf_counter_ns() - t) / n
    # Engine: the exchange applying a batch of alternating resting sells / crossing IOC buys.
    ex = Exchange(**CAPS)
    ex.add_asset(1)
    ex.add_asset(2)
    ex.add_user(1)
    ex.add_user(2)
    ex.add_symbol(1, 1, 2)
    for u in (1, 2):
        for a in (1, 2):
            ex.deposit(u, a, 10 * u + a, 1 << 60)
    recs = np.zeros(n, dtype=EXCHANGE_COMMAND_DTYPE)
    recs["kind"] = 1
    recs["symbol"] = 1
    recs["order_type"] = 1
    recs["price"] = 100
    recs["qty"] = 1
    recs["order_id"] = np.arange(n) + 1
    recs["user"] = np.where(np.arange(n) % 2 == 0, 1, 2)
    recs["side"] = np.where(np.arange(n) % 2 == 0, 2, 1)
    recs["tif"] = np.where(np.arange(n) % 2 == 0, 1, 2)
    t = time.perf_counter_ns()
    for i in range(0, n, 256):
        ex.process(recs[i : i + 256])
    res["engine_per_command_ns_batch256"] = (time.perf_counter_ns() - t) / n
    # Journal: journal + apply + fdatasync of batches of 1 and of 64 (group commit).
    for size in (1, 64):
        j = Exchange.open(tmp / f"j{size}", **CAPS)
        m = j.machine
        cmds = np.zeros(size, dtype=EXCHANGE_COMMAND_DTYPE)
        cmds["kind"] = 8  # ADD_USER
        reps = 400 if size == 1 else 100
        lat = []
        for r in range(reps):
            cmds["user"] = 1000 + r * size + np.arange(size)
            t = time.perf_counter_ns()
            ev = j.process(cmds)
            j.wait_durable(int(ev["seq"][-1]))
            lat.append(time.perf_counter_ns() - t)
        assert m is j.machine
        j.close()
        res[f"journal_batch{size}_median_ns"] = float(np.median(lat))
    # TLS + loopback: a ping-pong of one 72-byte frame over TLS 1.3 vs plain TCP (echo server thread).
    res |= _tls_vs_tcp(tmp)
    return res


def _tls_vs_tcp(tmp: Path) -> dict[str, float]:
    import threading

    pki = make_pki(tmp / "pki2", ["c"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sctx.load_cert_chain(str(pki.crt("server")), str(pki.key("server")))
    out = {}
    for mode in ("tcp", "tls"):
        srv = socket.create_server(("127.0.0.1", 0))
        port = srv.getsockname()[1]

        def echo(srv: socket.socket = srv, mode: str = mode) -> None:
            conn, _ = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = sctx.wrap_socket(conn, server_side=True) if mode == "tls" else conn
            while data := c.recv(4096):
                c.sendall(data)
            c.close()

        th = threading.Thread(target=echo, daemon=True)
        th.start()
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = (
            client_context(pki.crt("ca")).wrap_socket(raw, server_hostname="localhost")
            if mode == "tls"
            else raw
        )
        frame = p.encode(p.Place(1, 1, 1, 1, 1, 1, 2, 0, 0, 100, 1, 0, 0, 0))
        lat = []
        for _ in range(3000):
            t = time.perf_counter_ns()
            s.sendall(frame)
            got = 0
            while got < len(frame):
                got += len(s.recv(4096))
            lat.append(time.perf_counter_ns() - t)
        s.close()
        th.join()
        srv.close()
        out[f"roundtrip_{mode}_median_ns"] = float(np.median(lat[500:]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="10000,50000,100000")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    assert {1e-4, 5e-4, 1e-3} <= set(DEFAULT_BUCKETS)
    report: dict[str, Any] = {"cpus": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        pki = make_pki(root / "pki", ["bench-trader", "bench-ops"])
        trading, http = free_port(), free_port()
        cfg = write_config(root, trading, http)
        env = dict(os.environ)
        # The gateway's logs (an audit line per command) go to a file: a pipe nobody reads fills
        # and blocks the gateway.
        log = (root / "gateway.log").open("w")
        gw = subprocess.Popen(
            [sys.executable, "-m", "shanraq_core", "service", "gateway", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        try:
            for _ in range(200):
                try:
                    scrape(http, pki.crt("ca"))
                    break
                except OSError:
                    time.sleep(0.05)
            ops = client_context(pki.crt("ca"), pki.crt("bench-ops"), pki.key("bench-ops"))
            setup_market(trading, ops)
            id_base = 0
            for rate in [float(r) for r in args.rates.split(",")]:
                cmd = [
                    sys.executable, "-m", "shanraq_core", "service", "loadgen",
                    "--port", str(trading), "--ca", str(pki.crt("ca")),
                    "--cert", str(pki.crt("bench-trader")), "--key", str(pki.key("bench-trader")),
                    "--rate", str(rate), "--duration", str(args.duration), "--warmup", "0.5",
                    "--connections", str(args.connections), "--id-base", str(id_base),
                ]  # fmt: skip
                before = stage_quantiles(scrape(http, pki.crt("ca")))
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"loadgen failed ({proc.returncode}): {proc.stderr[-2000:]}")
                out = proc.stdout
                run = json.loads(out)
                run["gateway_stages_cumulative"] = stage_quantiles(scrape(http, pki.crt("ca")))
                run["gateway_stages_before"] = before
                report["runs"].append(run)
                print(json.dumps(run), flush=True)
                id_base += 1_000_000_000
        finally:
            gw.terminate()
            gw.wait(timeout=30)
            log.close()
            report["gateway_log_lines"] = sum(1 for _ in (root / "gateway.log").open())
        report["layers"] = layer_costs(root)
        print(json.dumps(report["layers"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
