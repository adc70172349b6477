"""Throw-away PostgreSQL and etcd servers on loopback, for the test suite,
the failover script and the measurements (never for production).

PostgreSQL refuses to run as root, so as root the server runs as the
unprivileged system user ``shanraq-test`` (created if missing); as anyone
else it runs as that user. Binaries: ``SHANRAQ_PG_BINDIR`` or the newest
``/usr/lib/postgresql/*/bin``; ``SHANRAQ_ETCD`` or ``etcd`` on PATH.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

__all__ = ["LocalEtcd", "LocalPostgres", "NodeProcess", "TcpProxy", "free_port"]

PG_USER = "shanraq-test"


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it
    dies, so a crashed test run leaves no server behind (Linux prctl
    PR_SET_PDEATHSIG; runs after Popen's setuid, which would clear it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bindir() -> str:
    env = os.environ.get("SHANRAQ_PG_BINDIR")
    if env:
        return env
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise FileNotFoundError(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): apt-get install postgresql"
        )
    return dirs[-1]


def _ensure_user() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
        pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[Any], what: str, log: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not open port {port} in {timeout} s; log:\n{_tail(log)}")
        time.sleep(0.05)


def _tail(path: str, n: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


class LocalPostgres:
    """A PostgreSQL cluster in a temporary directory, listening on
    127.0.0.1:``port`` with password (SCRAM) authentication.

    ``fsync=False`` (tests): faster, and safe since the tests never crash the
    database's machine; measurements use ``fsync=True``.
    """

    def __init__(
        self,
        *,
        fsync: bool = False,
        password: str = "shanraq-pw",
        settings: dict[str, str] | None = None,
        replica_of: LocalPostgres | None = None,
    ):
        self.bindir = _pg_bindir()
        self.password = password
        self.user = "postgres"
        self.fsync = fsync
        self.settings = settings or {}
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="shanraq-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self._proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            uid, gid = _ensure_user()
            os.chown(self.root, uid, gid)
            self._as = {"user": uid, "group": gid, "extra_groups": []}
        os.chmod(self.root, 0o700)
        if replica_of is not None:
            # A streaming replica: a base backup of the primary, with
            # standby.signal and primary_conninfo written by -R.
            self.password = replica_of.password
            subprocess.run(
                [
                    os.path.join(self.bindir, "pg_basebackup"),
                    "-D", self.data, "-h", "127.0.0.1", "-p", str(replica_of.port), "-U", replica_of.user,
                    "-R", "--no-sync", "--checkpoint=fast", "-d", "application_name=shanraq_replica",
                ],
                check=True,
                capture_output=True,
                cwd=self.root,
                env={**os.environ, "PGPASSWORD": replica_of.password},
                **self._as,
            )  # fmt: skip
            self.start()
            return
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        subprocess.run(
            [
                os.path.join(self.bindir, "initdb"),
                "-D",
                self.data,
                "-U",
                self.user,
                "--pwfile",
                pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._as,
        )
        os.unlink(pwfile)
        self.start()

    def dsn(
        self,
        dbname: str = "postgres",
        *,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> str:
        return (
            f"host=127.0.0.1 port={port or self.port} dbname={dbname} user={user or self.user} "
            f"password={self.password if password is None else password}"
        )

    def start(self) -> None:
        args = [
            os.path.join(self.bindir, "postgres"),
            "-D",
            self.data,
            "-p",
            str(self.port),
            "-k",
            self.root,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            "max_connections=100",
        ]
        for k, v in self.settings.items():
            args += ["-c", f"{k}={v}"]
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                args,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                preexec_fn=_die_with_parent,
                **self._as,
            )
        finally:
            logf.close()
        _wait_port(self.port, 60, self._proc, "postgres", self.log)
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, *, mode: str = "fast") -> None:
        """Stops the server: ``fast`` (SIGINT), ``immediate`` (SIGQUIT) or ``kill`` (SIGKILL)."""
        if self._proc is None:
            return
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "kill": signal.SIGKILL}[mode]
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(sig)
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        if mode == "kill":
            # Children outlive a SIGKILLed postmaster for a moment; the next start waits for them.
            pidfile = os.path.join(self.data, "postmaster.pid")
            with contextlib.suppress(OSError):
                os.unlink(pidfile)

    def restart(self, *, mode: str = "fast") -> None:
        self.stop(mode=mode)
        self.start()

    def make_synchronous(self, replica: LocalPostgres, level: str = "remote_apply") -> None:
        """Commits on this primary wait for ``replica`` (``synchronous_commit``
        = ``level``): an acknowledged commit is on the other server."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'shanraq_replica'")
            conn.execute(f"ALTER SYSTEM SET synchronous_commit = '{level}'")
            conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 60
            while True:
                row = conn.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'shanraq_replica'"
                ).fetchone()
                if row is not None and row[0] == "sync":
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not become synchronous: {row}")
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class LocalEtcd:
    """A one-member etcd cluster in a temporary directory on loopback."""

    def __init__(self) -> None:
        self.binary = os.environ.get("SHANRAQ_ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
        if not os.path.exists(self.binary):
            raise FileNotFoundError("no etcd server binary: apt-get install etcd-server")
        self.root = tempfile.mkdtemp(prefix="shanraq-etcd-")
        self.log = os.path.join(self.root, "etcd.log")
        self.port = free_port()
        self.peer_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            self.binary,
            "--name",
            "shanraq-test",
            "--data-dir",
            os.path.join(self.root, "data"),
            "--listen-client-urls",
            self.endpoint,
            "--advertise-client-urls",
            self.endpoint,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"shanraq-test={peer}",
            "--unsafe-no-fsync",
        ]
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                args, stdout=logf, stderr=subprocess.STDOUT, cwd=self.root, preexec_fn=_die_with_parent
            )
        finally:
            logf.close()
        _wait_port(self.port, 60, self._proc, "etcd", self.log)
        import urllib3

        deadline = time.monotonic() + 60
        while True:
            try:
                r = urllib3.request("GET", self.endpoint + "/health", timeout=1.0, retries=False)
                if r.status == 200 and b"true" in r.data:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd not healthy; log:\n{_tail(self.log)}")
            time.sleep(0.05)

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


class TcpProxy:
    """A loopback TCP proxy to ``target_port`` that can be cut: ``block()``
    drops every connection and black-holes new ones (accepted, never
    answered: what a network partition looks like to a client), ``unblock()``
    forwards again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._blocked = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def block(self) -> None:
        self._blocked.set()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def unblock(self) -> None:
        self._blocked.clear()

    def close(self) -> None:
        self._closed.set()
        # shutdown wakes the accept() in progress (close alone does not).
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join()
        self._sock.close()
        self.block()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            if self._closed.is_set():
                client.close()
                return
            with self._lock:
                self._conns.append(client)
            if self._blocked.is_set():
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._blocked.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()


class NodeProcess:
    """``python -m shanraq_core cluster run`` as a child process, feeding
    itself ``load`` commands/s when primary, with its report lines parsed:
    ``roles`` [(t, role, epoch, claimed_head)], ``acks`` [(t, seq, epoch)],
    ``stopped`` (final state hash or None, claimed head, last applied seq). Times are
    CLOCK_MONOTONIC seconds, comparable with ``time.monotonic()`` here."""

    def __init__(
        self,
        *,
        stream: str,
        dsn: str,
        etcd: str,
        node_id: str,
        mode: str = "sync",
        ttl: int = 2,
        load: float = 2000.0,
        log_dir: str | None = None,
        extra: list[str] | None = None,
    ) -> None:
        import sys

        self.node_id = node_id
        self.roles: list[tuple[float, str, int, int]] = []
        self.acks: list[tuple[float, int, int]] = []
        self.stopped: tuple[int | None, int, int] | None = None
        self.killed_at: float | None = None
        r, w = os.pipe()
        args = [
            sys.executable, "-m", "shanraq_core", "cluster", "run",
            "--stream", stream, "--dsn", dsn, "--etcd", etcd, "--node-id", node_id,
            "--mode", mode, "--ttl", str(ttl), "--load", str(load), "--report-fd", str(w),
            *(extra or []),
        ]  # fmt: skip
        self.log = os.path.join(
            log_dir or tempfile.gettempdir(), f"node-{node_id}-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                args, stdout=logf, stderr=subprocess.STDOUT, pass_fds=(w,), preexec_fn=_die_with_parent
            )
        os.close(w)
        self._reader = threading.Thread(target=self._read, args=(r,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            for raw in f:
                parts = raw.decode().split()
                t = float(parts[0])
                if parts[1] == "ack":
                    self.acks.append((t, int(parts[2]), int(parts[3])))
                elif parts[1] == "role":
                    self.roles.append((t, parts[2], int(parts[3]), int(parts[4])))
                elif parts[1] == "stopped":
                    self.stopped = (None if parts[2] == "-" else int(parts[2]), int(parts[3]), int(parts[4]))

    @property
    def role(self) -> str:
        return self.roles[-1][1] if self.roles else "starting"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def primary_since(self) -> tuple[float, int, int] | None:
        """(time, epoch, claimed head) of the latest promotion, if primary now."""
        if self.role != "primary":
            return None
        t, _r, epoch, head = self.roles[-1]
        return t, epoch, head

    def kill(self, sig: int = signal.SIGKILL) -> float:
        t = time.monotonic()
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.killed_at = t
            self.proc.wait()
            self._reader.join()
        return t

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join()

    def log_tail(self) -> str:
        return _tail(self.log)
