"""Throw-away Prometheus and HAProxy servers (Debian's binaries) on loopback in temporary
directories, for the tests of deploy/ (the pattern of shanraq_core.replication.testing: free port,
child killed with the test process, wait until it answers, stop cleanly)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from shanraq_core.replication.testing import _die_with_parent, _tail, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

__all__ = ["DEPLOY", "LocalHaproxy", "LocalPrometheus", "free_port", "poll"]


def poll(what: str, check: Any, timeout: float = 120.0, interval: float = 0.05) -> Any:
    """Calls ``check()`` until it returns something truthy; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout} s")
        time.sleep(interval)


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())
    except OSError:
        return 0, b""


class _Server:
    root: str
    log: str
    _proc: subprocess.Popen[bytes] | None

    def _spawn(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        with open(self.log, "ab") as logf:
            self._proc = subprocess.Popen(
                list(args),
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env={**os.environ, **(env or {})},
                preexec_fn=_die_with_parent,
            )

    def _check_alive(self, what: str) -> None:
        if self._proc is None or self._proc.poll() is not None:
            code = None if self._proc is None else self._proc.returncode
            raise RuntimeError(f"{what} exited with {code}; log:\n{_tail(self.log)}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class LocalPrometheus(_Server):
    """Prometheus scraping ``targets`` (host:port, plain HTTP) every ``scrape_interval`` under job
    ``shanraq_gateway``, with deploy/prometheus/rules.yml loaded, on 127.0.0.1:``port``."""

    def __init__(
        self, targets: Sequence[str], *, scrape_interval: str = "1s", tls: dict[str, str] | None = None
    ) -> None:
        self.binary = (
            os.environ.get("SHANRAQ_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
        )
        if not os.path.exists(self.binary):
            raise FileNotFoundError("no prometheus binary: apt-get install prometheus")
        self.root = tempfile.mkdtemp(prefix="shanraq-prom-")
        self.log = os.path.join(self.root, "prometheus.log")
        self.port = free_port()
        self._proc = None
        shutil.copy(DEPLOY / "prometheus" / "rules.yml", os.path.join(self.root, "rules.yml"))
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {"job_name": "shanraq_gateway", "static_configs": [{"targets": list(targets)}]}
            ],
        }
        if tls is not None:
            # HTTPS with a client certificate, as deploy/prometheus/prometheus.yml scrapes.
            job = config["scrape_configs"][0]
            job["scheme"] = "https"
            job["tls_config"] = {**tls, "min_version": "TLS13"}
        self.config = os.path.join(self.root, "prometheus.yml")
        with open(self.config, "w") as f:
            yaml.safe_dump(config, f)
        try:
            self._spawn(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={os.path.join(self.root, 'data')}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ]
            )
            poll("prometheus ready", self._ready)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        self._check_alive("prometheus")
        return _http_get(self.url + "/-/ready")[0] == 200

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now (the HTTP query API)."""
        status, body = _http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if status != 200:
            raise RuntimeError(f"query {expr!r}: HTTP {status} {body[:500]!r}")
        doc = json.loads(body)
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def rule_groups(self) -> list[dict[str, Any]]:
        status, body = _http_get(self.url + "/api/v1/rules")
        assert status == 200, body
        return list(json.loads(body)["data"]["groups"])


class LocalHaproxy(_Server):
    """HAProxy running deploy/haproxy/haproxy.cfg unchanged, its addresses from the environment: the
    trading listener on 127.0.0.1:``port`` in front of two backends ``(trading port, /ready port)``;
    ``check_tls`` is ``SHANRAQ_CHECK_TLS`` (empty: plain-HTTP health checks)."""

    def __init__(self, backends: Sequence[tuple[int, int]], *, check_tls: str = "") -> None:
        self.binary = os.environ.get("SHANRAQ_HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(self.binary):
            raise FileNotFoundError("no haproxy binary: apt-get install haproxy")
        if len(backends) != 2:
            raise ValueError("the template has two gateways")
        self.root = tempfile.mkdtemp(prefix="shanraq-haproxy-")
        self.log = os.path.join(self.root, "haproxy.log")
        self.port = free_port()
        self.stats_port = free_port()
        self._proc = None
        self.env = {
            "SHANRAQ_HAPROXY_BIND": f"127.0.0.1:{self.port}",
            "SHANRAQ_HAPROXY_STATS": f"127.0.0.1:{self.stats_port}",
            "SHANRAQ_CHECK_TLS": check_tls,
        }
        for i, (trading, ready) in enumerate(backends):
            self.env[f"SHANRAQ_GW{i}_ADDR"] = f"127.0.0.1:{trading}"
            self.env[f"SHANRAQ_GW{i}_CHECK_PORT"] = str(ready)
        cfg = str(DEPLOY / "haproxy" / "haproxy.cfg")
        try:
            check = subprocess.run(
                [self.binary, "-c", "-f", cfg],
                env={**os.environ, **self.env},
                capture_output=True,
                text=True,
                timeout=60,
            )
            if check.returncode != 0:
                raise RuntimeError(f"haproxy -c: {check.stdout}{check.stderr}")
            # -db: foreground, no daemon; -W: master-worker, so SIGTERM stops the worker cleanly.
            self._spawn([self.binary, "-db", "-W", "-f", cfg], env=self.env)
            poll("haproxy ready", self._ready)
        except BaseException:
            # A server that failed to start leaves neither a process nor its directory.
            self.close()
            raise

    def _ready(self) -> bool:
        self._check_alive("haproxy")
        return _http_get(f"http://127.0.0.1:{self.stats_port}/healthz")[0] == 200

    def server_states(self) -> dict[str, str]:
        """``{server: status}`` of the gateways backend (UP, DOWN, ...) from the stats CSV."""
        status, body = _http_get(f"http://127.0.0.1:{self.stats_port}/stats;csv")
        assert status == 200, body
        out: dict[str, str] = {}
        lines = body.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "gateways" and row.get("svname") not in ("BACKEND", "FRONTEND"):
                out[row["svname"]] = row["status"].split()[0]
        return out
