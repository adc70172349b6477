"""The whole reference stack on loopback, in one temporary directory (docs/deployment.md): a
throw-away PKI, etcd and PostgreSQL, the gateway, HAProxy in front of the gateway slots and Prometheus
scraping the gateway over TLS 1.3 with the deployment's rules. Runs until Ctrl-C; ``--check`` starts
everything, checks HAProxy routes to the gateway and Prometheus scrapes it, then stops (used by
tests/service/test_stack.py).

    bash scripts/stack.sh [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())
    except OSError:
        return 0, b""


def _wait(
    what: str, check: Callable[[], bool], procs: list[subprocess.Popen[bytes]], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: {p.args!r} exited with {p.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout} s")
        time.sleep(0.1)


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    from shanraq_core.replication.testing import _die_with_parent

    with open(log, "ab") as f:
        return subprocess.Popen(
            args,
            stdout=f,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/stack.sh", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    ap.add_argument("--check", action="store_true", help="start, check routing and scraping, stop")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) on exit")
    args = ap.parse_args(argv)

    from shanraq_core.replication.testing import LocalEtcd, LocalPostgres, free_port
    from shanraq_core.service.testing import make_pki

    root = Path(tempfile.mkdtemp(prefix="shanraq-stack-"))
    procs: list[subprocess.Popen[bytes]] = []
    closers: list[Callable[[], None]] = []
    try:
        pki = make_pki(root / "pki", ["ops", "trader", "monitoring"])
        etcd = LocalEtcd()
        closers.append(etcd.close)
        pg = LocalPostgres()
        closers.append(pg.close)

        trading, http = free_port(), free_port()
        (root / "gateway").mkdir()
        config = root / "gateway" / "gateway.toml"
        config.write_text(
            f"""[gateway]
host = "127.0.0.1"
trading_port = {trading}
http_port = {http}

[tls]
cert = "{pki.crt("server")}"
key = "{pki.key("server")}"
client_ca = "{pki.crt("ca")}"

[journal]
path = "{root / "gateway" / "journal"}"

[exchange]
max_orders = 65536
max_levels = 4096
id_history = 65536

[[clients]]
name = "ops"
role = "operator"

[[clients]]
name = "trader"
role = "trader"
accounts = [1]

[[clients]]
name = "monitoring"
role = "read-only"
"""
        )
        gw = _spawn(
            [sys.executable, "-m", "shanraq_core", "service", "gateway", "--config", str(config)],
            root / "gateway" / "gateway.log",
        )
        procs.append(gw)
        ctx = ssl.create_default_context(cafile=str(pki.crt("ca")))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        _wait("gateway /health", lambda: _get(f"https://127.0.0.1:{http}/health", ctx)[0] == 200, procs)

        haproxy_port, stats_port = free_port(), free_port()
        empty = free_port()  # the standby slot: no gateway yet (docs/deployment.md, status)
        (root / "haproxy").mkdir()
        haproxy = _spawn(
            [
                shutil.which("haproxy") or "/usr/sbin/haproxy",
                "-db",
                "-W",
                "-f",
                str(DEPLOY / "haproxy" / "haproxy.cfg"),
            ],
            root / "haproxy" / "haproxy.log",
            env={
                "SHANRAQ_HAPROXY_BIND": f"127.0.0.1:{haproxy_port}",
                "SHANRAQ_HAPROXY_STATS": f"127.0.0.1:{stats_port}",
                "SHANRAQ_GW0_ADDR": f"127.0.0.1:{trading}",
                "SHANRAQ_GW0_CHECK_PORT": str(http),
                "SHANRAQ_GW1_ADDR": f"127.0.0.1:{empty}",
                "SHANRAQ_GW1_CHECK_PORT": str(empty),
                "SHANRAQ_CHECK_TLS": f"check-ssl verify required ca-file {pki.crt('ca')}",
            },
        )
        procs.append(haproxy)

        def gw0_up() -> bool:
            status, body = _get(f"http://127.0.0.1:{stats_port}/stats;csv")
            return status == 200 and any(
                line.startswith("gateways,gw0,") and ",UP" in line for line in body.decode().splitlines()
            )

        _wait("HAProxy routes to the gateway", gw0_up, procs)

        prom_dir = root / "prometheus"
        (prom_dir / "tls").mkdir(parents=True)
        shutil.copy(pki.crt("ca"), prom_dir / "tls" / "ca.crt")
        shutil.copy(pki.crt("monitoring"), prom_dir / "tls" / "monitoring.crt")
        shutil.copy(pki.key("monitoring"), prom_dir / "tls" / "monitoring.key")
        shutil.copy(DEPLOY / "prometheus" / "rules.yml", prom_dir / "rules.yml")
        prom_cfg = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
        # The deployment's config, pointed at this gateway (tls_config as committed, plus the
        # certificate's name for an IP target).
        prom_cfg = prom_cfg.replace(
            '["gateway-0.shanraq-gateway:7002", "gateway-1.shanraq-gateway:7002"]', f'["127.0.0.1:{http}"]'
        ).replace("      min_version: TLS13\n", "      min_version: TLS13\n      server_name: localhost\n")
        (prom_dir / "prometheus.yml").write_text(prom_cfg)
        prom_port = free_port()
        prom = _spawn(
            [
                shutil.which("prometheus") or "/usr/bin/prometheus",
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            prom_dir / "prometheus.log",
        )
        procs.append(prom)
        query = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'up{job="shanraq_gateway"} == 1'}
        )

        def scraped() -> bool:
            status, body = _get(query)
            return status == 200 and bool(json.loads(body)["data"]["result"])

        _wait("Prometheus scrapes the gateway", scraped, procs)

        print(f"stack up in {root}", flush=True)
        print(f"  trading via HAProxy : 127.0.0.1:{haproxy_port} (TLS 1.3, client certificates in {pki.dir})")
        print(f"  gateway HTTP        : https://127.0.0.1:{http}/ready /health /metrics")
        print(f"  HAProxy stats       : http://127.0.0.1:{stats_port}/stats")
        print(f"  Prometheus          : http://127.0.0.1:{prom_port}")
        print(f"  etcd                : {etcd.endpoint}")
        print(f"  PostgreSQL          : {pg.dsn()}")
        print(
            "  load                : python -m shanraq_core service loadgen --help "
            f"(host 127.0.0.1, port {haproxy_port}, certificates in {pki.dir})",
            flush=True,
        )
        if args.check:
            return 0
        stop: list[int] = []
        signal.signal(signal.SIGTERM, lambda s, _f: stop.append(s))
        try:
            while not stop and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            print(f"stopped: {dead!r} exited; logs in {root}", file=sys.stderr)
            args.keep = True
            return 1
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for close in reversed(closers):
            close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
