"""Real PostgreSQL and etcd servers for the replication tests, started once
per session on loopback in temporary directories and stopped after.
Each test gets its own database (and so its own streams)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from shanraq_core.replication.testing import LocalEtcd, LocalPostgres

_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[LocalEtcd]:
    server = LocalEtcd()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dsn(pg_server: LocalPostgres) -> str:
    """A fresh, empty database."""
    return pg_server.create_database(f"t{next(_dbs)}")


@pytest.fixture
def stream(request: pytest.FixtureRequest) -> str:
    """A stream name unique to the test (etcd keys are shared by the session)."""
    return f"{request.node.name[:40]}-{next(_dbs)}".replace("[", "-").replace("]", "").replace("/", "-")
