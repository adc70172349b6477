"""scripts/stack.sh, the one-command local stack of docs/deployment.md: it starts etcd, PostgreSQL, the
gateway, HAProxy and Prometheus on loopback, HAProxy routes to the gateway and Prometheus scrapes it
(--check stops there), and it leaves no temporary directory behind."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]


def test_stack_starts_routes_scrapes_and_cleans_up() -> None:
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "stack.sh"), "--check"],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("stack up in ")
    root = first.removeprefix("stack up in ")
    assert not glob.glob(root)
    for what in ("trading via HAProxy", "Prometheus", "etcd", "PostgreSQL"):
        assert what in r.stdout
