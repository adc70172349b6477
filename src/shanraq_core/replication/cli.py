"""``python -m shanraq_core cluster run|status|promote|demote|verify``.

Every command takes ``--stream``; ``--dsn`` (libpq string; default
``$SHANRAQ_PG_DSN``) and ``--etcd`` (default ``$SHANRAQ_ETCD_ENDPOINTS``)
where it needs them; ``--json`` prints one JSON object instead of text.
Exit status: 0 done, 1 a check failed (verify), 2 usage or a server error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["main"]


def _out(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj, sort_keys=True) if args.json else text, flush=True)


def _status(args: argparse.Namespace) -> int:
    from shanraq_core.replication import pg
    from shanraq_core.replication.election import leader_key, preferred_key
    from shanraq_core.replication.etcd import EtcdClient

    client = EtcdClient(args.etcd, timeout=1.0, retry_for=2.0)
    kv = client.get(leader_key(args.stream))
    pref = client.get(preferred_key(args.stream))
    conn = pg.connect(args.dsn)
    try:
        info = pg.stream_info(conn, args.stream) if pg._check_columns(conn) else None
    finally:
        conn.close()
    obj = {
        "stream": args.stream,
        "leader": kv.value.decode() if kv else None,
        "leader_epoch": kv.create_revision if kv else None,
        "preferred": pref.value.decode() if pref else None,
        "database_epoch": info.epoch if info else None,
        "head_seq": info.head_seq if info else 0,
        "head_time_ns": info.head_time_ns if info else 0,
        "machine": info.machine if info else None,
    }
    text = (
        f"stream {args.stream}: leader {obj['leader'] or '(none)'} (epoch {obj['leader_epoch']}), "
        f"database epoch {obj['database_epoch']}, head seq {obj['head_seq']}, machine {obj['machine']}"
    )
    _out(args, obj, text)
    return 0


def _demote(args: argparse.Namespace) -> int:
    """Revokes the leader's lease: the leader fences itself at its next
    renewal and a standby takes over."""
    from shanraq_core.replication.election import leader_key
    from shanraq_core.replication.etcd import EtcdClient

    client = EtcdClient(args.etcd, timeout=1.0, retry_for=2.0)
    kv = client.get(leader_key(args.stream))
    if kv is None:
        _out(args, {"stream": args.stream, "demoted": None}, f"stream {args.stream}: no leader")
        return 0
    client.lease_revoke(kv.lease)
    _out(
        args,
        {"stream": args.stream, "demoted": kv.value.decode(), "epoch": kv.create_revision},
        f"stream {args.stream}: revoked the lease of {kv.value.decode()} (epoch {kv.create_revision})",
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    """Names the preferred node and demotes the current leader: the
    preferred standby wins (others hold back for two TTLs)."""
    from shanraq_core.replication.election import preferred_key
    from shanraq_core.replication.etcd import EtcdClient

    client = EtcdClient(args.etcd, timeout=1.0, retry_for=2.0)
    if args.node:
        client.put(preferred_key(args.stream), args.node.encode())
    else:
        client.delete(preferred_key(args.stream))
    return _demote(args)


def _verify(args: argparse.Namespace) -> int:
    """A fresh replay of the stream from the database into a new machine,
    checking seq, CRC and chain of every record; prints the state hash."""
    from shanraq_core.replication import pg
    from shanraq_core.replication.errors import SchemaMismatchError
    from shanraq_core.replication.node import make_machine
    from shanraq_core.replication.standby import replay

    conn = pg.connect(args.dsn)
    try:
        if not pg._check_columns(conn):
            raise SchemaMismatchError("the database has no shanraq journal")
        info = pg.stream_info(conn, args.stream)
    finally:
        conn.close()
    if info is None:
        _out(
            args,
            {"stream": args.stream, "ok": False, "error": "no such stream"},
            f"stream {args.stream}: no such stream",
        )
        return 1
    machine = make_machine(info.machine)
    t0 = time.monotonic()
    seq, chain = replay(args.dsn, args.stream, machine, machine_name=info.machine)
    dt = time.monotonic() - t0
    ok = seq == info.head_seq and chain == info.head_chain
    obj = {
        "stream": args.stream,
        "ok": ok,
        "machine": info.machine,
        "records": seq,
        "head_seq": info.head_seq,
        "chain": chain.hex(),
        "state_hash": int(machine.state_hash()),
        "seconds": round(dt, 3),
    }
    _out(
        args,
        obj,
        f"stream {args.stream}: {'OK' if ok else 'MISMATCH'}: {seq} records replayed in {dt:.2f} s, "
        f"state_hash {obj['state_hash']:#x}, chain {chain.hex()[:16]}...",
    )
    return 0 if ok else 1


def _run(args: argparse.Namespace) -> int:
    """Runs a node until SIGTERM/SIGINT. With ``--load RATE`` a primary feeds
    itself its machine's load (replication.load) at RATE per second; with ``--report-fd N``
    the node writes lines to fd N: ``role <role> <epoch>`` on every change and
    ``ack <seq> <epoch>`` as acknowledgements advance (for the failover tests)."""
    from shanraq_core.replication.load import BookLoad, ExchangeLoad, make_load
    from shanraq_core.replication.node import Node, NodeConfig

    report_fd = args.report_fd
    lock = threading.Lock()

    def report(line: str) -> None:
        # Each line carries CLOCK_MONOTONIC (shared by every process on the
        # machine), so a watcher can time failovers without its own latency.
        if report_fd is not None:
            with lock:
                os.write(report_fd, f"{time.monotonic():.6f} {line}\n".encode())

    node: Node | None = None

    def on_role(role: str) -> None:
        epoch = node.election.epoch if node is not None and node.election is not None else 0
        report(f"role {role} {epoch} {node.claimed_head if node is not None else 0}")

    config = NodeConfig(
        stream=args.stream,
        dsn=args.dsn,
        etcd=args.etcd,
        machine=args.machine,
        mode=args.mode,
        ttl=args.ttl,
        journal_dir=args.journal_dir,
        **({"node_id": args.node_id} if args.node_id else {}),
    )
    if args.load:
        make_load(args.machine, 0)  # ValueError now, not a silently idle primary
    node = Node(config, on_role=on_role)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    node.start()
    last_acked = 0
    load: BookLoad | ExchangeLoad | None = None
    tick = 0.005
    next_t = time.monotonic()
    while not stop.is_set():
        if args.load and node.role == "primary" and node.election is not None:
            try:
                if load is None or load.epoch != node.election.epoch:
                    load = make_load(args.machine, node.election.epoch, seed=args.seed)
                    node.submit(load.setup())
                    next_t = time.monotonic()
                now = time.monotonic()
                due = int((now - next_t) * args.load)
                if due > 0:
                    node.submit(load.orders(min(due, 65536)))
                    next_t += due / args.load
            except Exception:
                pass
        acked = node.acked_seq
        if acked > last_acked:
            report(f"ack {acked} {node.election.epoch if node.election else 0}")
            last_acked = acked
        elif node.role != "primary":
            last_acked = 0
        if node.role == "stopped":
            break
        time.sleep(tick if args.load else 0.02)
    node.stop()
    final = node.final_state_hash
    report(f"stopped {final if final is not None else '-'} {node.claimed_head} {node.final_seq}")
    if args.json:
        print(node.health().to_json(), flush=True)
    if node.health().error:
        print(f"node {config.node_id}: {node.health().error}", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shanraq_core cluster", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, dsn: bool, etcd: bool) -> None:
        p.add_argument("--stream", required=True)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if dsn:
            p.add_argument(
                "--dsn", default=os.environ.get("SHANRAQ_PG_DSN"), required="SHANRAQ_PG_DSN" not in os.environ
            )
        if etcd:
            p.add_argument(
                "--etcd",
                default=os.environ.get("SHANRAQ_ETCD_ENDPOINTS"),
                required="SHANRAQ_ETCD_ENDPOINTS" not in os.environ,
            )

    common(sub.add_parser("status", help="leader, epochs and the stream's head"), True, True)
    p = sub.add_parser("promote", help="make NODE (or any standby) the leader")
    common(p, False, True)
    p.add_argument("--node", help="the node id to prefer")
    common(sub.add_parser("demote", help="make the leader step down"), False, True)
    common(sub.add_parser("verify", help="replay the stream from PostgreSQL and check it"), True, False)
    p = sub.add_parser("run", help="run a node")
    common(p, True, True)
    p.add_argument("--machine", default="book")
    p.add_argument("--mode", choices=["sync", "async"], default="sync")
    p.add_argument("--ttl", type=int, default=2)
    p.add_argument(
        "--journal-dir",
        default=None,
        help="a primary journals every command here (fdatasync) before acknowledging; shipped from it",
    )
    p.add_argument("--node-id")
    p.add_argument("--load", type=float, default=0.0, help="commands per second a primary feeds itself")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-fd", type=int)
    args = parser.parse_args(argv)

    from shanraq_core.replication.errors import ReplicationError

    try:
        return int(
            {"status": _status, "promote": _promote, "demote": _demote, "verify": _verify, "run": _run}[
                args.command
            ](args)
        )
    except ReplicationError as e:
        print(f"cluster {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
