"""Failover measurements with real servers on loopback (not a test).

    python scripts/failover.py rto  [--kills 20] [--ttl 2] [--mode sync] [--load 2000] [--machine book]
                                     [--journal]
    python scripts/failover.py ack  [--rates 10000,50000,100000] [--seconds 5] [--machine book] [--journal]
    python scripts/failover.py ship [--batch 10000] [--rounds 10]
    python scripts/failover.py switchover [--times 10] [--ttl 2] [--load 2000]
    python scripts/failover.py tail [--times 200] [--size 10] [--machine exchange]

``rto``: two node processes feeding themselves load; the primary is
SIGKILLed at a random moment, again and again (the dead one is restarted as a
standby). Per kill: RTO = from the SIGKILL to the new primary's first
acknowledgement of a command it sequenced itself; lost = commands the dead
primary acknowledged that are not in PostgreSQL (the RPO). At the end the
journal is replayed and compared with the last primary's state hash. With
``--journal`` every node keeps a local journal on its own "disk" (a
directory) and ships from it; a killed primary restarts on its disk.

``ship``: where one append's time goes in PostgreSQL, per record: the
binary COPY into the session's staging table, ``shanraq_append`` (insert +
the checking trigger), the commit; then the same append with the trigger
disabled (on the script's throw-away database), and the Python seal.

``switchover``: planned switchovers (``cluster promote --node <standby>``)
between two node processes under load: from the command to the new
primary's first acknowledgement of a command it sequenced.

``tail``: one primary with a local journal, closed loop (one batch at a
time): per batch, the time until it is durable locally (its events
published), until the shipper's journal reader has read it, and until it is
acknowledged (committed in PostgreSQL).

``ack``: one primary in this process with PostgreSQL (fsync on) on the same
machine, open-loop load at each offered rate in 1 ms batches: the latency
from submit to sync acknowledgement per batch, and a standby's replay lag
(in this process too) sampled every 10 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import tempfile
import threading
import time
from typing import Any

import numpy as np
import psycopg

from shanraq_core.replication import Node, NodeConfig, replay
from shanraq_core.replication.load import BookLoad, make_load
from shanraq_core.replication.node import make_machine
from shanraq_core.replication.testing import LocalEtcd, LocalPostgres, NodeProcess


def _wait(cond: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


def _new_ack(p: NodeProcess) -> float | None:
    since = p.primary_since()
    if since is None:
        return None
    for t, seq, _e in p.acks:
        if seq > since[2] and t >= since[0]:
            return t
    return None


def rto(args: argparse.Namespace) -> dict[str, Any]:
    pgs = LocalPostgres(fsync=True)
    etcd = LocalEtcd()
    try:
        dsn = pgs.create_database("failover")
        rng = random.Random(args.seed)
        n = 0

        disks: dict[str, str] = {}

        def spawn(disk: str | None = None) -> NodeProcess:
            nonlocal n
            n += 1
            extra = ["--machine", args.machine]
            if args.journal:
                disks[f"n{n}"] = disk or tempfile.mkdtemp(prefix="failover-disk-")
                extra += ["--journal-dir", disks[f"n{n}"]]
            return NodeProcess(
                stream="s",
                dsn=dsn,
                etcd=etcd.endpoint,
                node_id=f"n{n}",
                mode=args.mode,
                ttl=args.ttl,
                load=args.load,
                extra=extra,
            )

        procs = [spawn(), spawn()]
        everyone = list(procs)
        kills: list[dict[str, Any]] = []
        for k in range(args.kills):
            _wait(lambda: sum(p.role == "primary" for p in procs) == 1, "one primary")
            primary = next(p for p in procs if p.role == "primary")
            _wait(lambda p=primary: _new_ack(p) is not None, "acks")
            target = primary.acks[-1][1] + rng.randrange(1, 4 * int(args.load) + 2)
            _wait(lambda p=primary, t=target: p.acks[-1][1] >= t, "more acks")
            t_kill = primary.kill(signal.SIGKILL)
            last_ack = max(seq for _t, seq, _e in primary.acks)
            procs.remove(primary)
            standby = procs[0]
            _wait(lambda s=standby: _new_ack(s) is not None, "the new primary to acknowledge")
            since = standby.primary_since()
            assert since is not None
            t_ack = _new_ack(standby)
            assert t_ack is not None
            with psycopg.connect(dsn) as c:
                head_at_claim = since[2]
                stored = c.execute(
                    "SELECT count(*) FROM shanraq_journal WHERE stream='s' AND seq <= %s", (last_ack,)
                )
                row = stored.fetchone()
            lost = last_ack - (row[0] if row else 0)
            kills.append(
                {
                    "kill": k,
                    "rto_s": round(t_ack - t_kill, 3),
                    "promoted_after_s": round(since[0] - t_kill, 3),
                    "last_acked": last_ack,
                    "claimed_head": head_at_claim,
                    "acked_lost": lost,
                }
            )
            print(json.dumps(kills[-1]), flush=True)
            revived = spawn(disks.get(primary.node_id))
            procs.append(revived)
            everyone.append(revived)
            _wait(lambda r=revived: r.role == "standby", "rejoin")
        final = next(p for p in procs if p.role == "primary")
        # Standbys first: a standby still running when the primary stops would
        # take over and append past the state the stopped primary reports.
        for p in sorted(procs, key=lambda p: p is final):
            p.stop()
        machine = make_machine(args.machine)
        seq, _ = replay(dsn, "s", machine, machine_name=args.machine)
        rtos = [k["rto_s"] for k in kills]
        return {
            "machine": args.machine,
            "local_journal": args.journal,
            "kills": len(kills),
            "mode": args.mode,
            "ttl_s": args.ttl,
            "load_per_s": args.load,
            "rto_median_s": statistics.median(rtos),
            "rto_worst_s": max(rtos),
            "rto_best_s": min(rtos),
            "promotion_median_s": statistics.median(k["promoted_after_s"] for k in kills),
            "acked_lost_total": sum(k["acked_lost"] for k in kills),
            "acked_lost_worst": max(k["acked_lost"] for k in kills),
            "journal_records": seq,
            "final_hash_equals_replay": final.stopped is not None
            and final.stopped[0] == machine.state_hash(),
        }
    finally:
        pgs.close()
        etcd.close()


def _ack_at(
    rate: int, dsn: str, endpoint: str, seconds: float, machine: str, journal: bool
) -> dict[str, Any]:
    a = Node(
        NodeConfig(
            stream="s",
            dsn=dsn,
            etcd=endpoint,
            node_id="a",
            ring_capacity=1 << 20,
            machine=machine,
            journal_dir=tempfile.mkdtemp(prefix="ack-disk-") if journal else None,
        )
    )
    a.start()
    _wait(lambda a=a: a.role == "primary", "primary")
    b = Node(NodeConfig(stream="s", dsn=dsn, etcd=endpoint, node_id="b", machine=machine))
    b.start()
    _wait(lambda b=b: b.role == "standby", "standby")
    assert a.election is not None
    load = make_load(machine, a.election.epoch)
    a.submit(load.setup())
    pending: list[tuple[int, int]] = []
    lat_ns: list[int] = []
    lags: list[tuple[int, float]] = []
    done = threading.Event()
    lock = threading.Lock()

    def waiter(a: Node = a) -> None:
        while not done.is_set() or pending:
            with lock:
                head = list(pending)
            acked = a.acked_seq
            now = time.monotonic_ns()
            k = 0
            for seq, t in head:
                if seq > acked:
                    break
                lat_ns.append(now - t)
                k += 1
            if k:
                with lock:
                    del pending[:k]
            time.sleep(0.0002)

    def sampler(b: Node = b) -> None:
        while not done.is_set():
            h = b.health()
            lags.append((h.lag_commands, h.lag_ms))
            time.sleep(0.01)

    threads = [threading.Thread(target=waiter), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    per_ms = rate / 1000.0
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * 1000 * per_ms) - sent
        if due > 0:
            t0 = time.monotonic_ns()
            _f, last = a.submit(load.orders(due))
            with lock:
                pending.append((last, t0))
            sent += due
        time.sleep(0.0005)
    elapsed = time.monotonic() - start
    _wait(lambda: not pending, "acks", 120)
    done.set()
    for t in threads:
        t.join()
    assert a.shipper is not None
    lat = np.array(lat_ns) / 1e6
    lag_c = np.array([x[0] for x in lags])
    lag_ms = np.array([x[1] for x in lags])
    result = {
        "offered_per_s": rate,
        "achieved_per_s": round(sent / elapsed),
        "ack_ms_p50": round(float(np.percentile(lat, 50)), 2),
        "ack_ms_p90": round(float(np.percentile(lat, 90)), 2),
        "ack_ms_p99": round(float(np.percentile(lat, 99)), 2),
        "ack_ms_max": round(float(lat.max()), 2),
        "pg_batches": a.shipper.batches,
        "records_per_pg_commit": round(sent / max(1, a.shipper.batches), 1),
        "standby_lag_commands_p50": float(np.percentile(lag_c, 50)),
        "standby_lag_commands_max": int(lag_c.max()),
        "standby_lag_ms_p50": round(float(np.percentile(lag_ms, 50)), 2),
        "standby_lag_ms_max": round(float(lag_ms.max()), 2),
    }
    a.stop()
    b.stop()
    return result


def ack(args: argparse.Namespace) -> dict[str, Any]:
    pgs = LocalPostgres(fsync=True)
    etcd = LocalEtcd()
    results: dict[str, Any] = {}
    try:
        for rate in [int(r) for r in args.rates.split(",")]:
            dsn = pgs.create_database(f"ack{rate}")
            results[str(rate)] = _ack_at(rate, dsn, etcd.endpoint, args.seconds, args.machine, args.journal)
            print(json.dumps(results[str(rate)]), flush=True)
        return results
    finally:
        pgs.close()
        etcd.close()


def ship(args: argparse.Namespace) -> dict[str, Any]:
    from shanraq_core.book import BOOK_COMMAND_DTYPE
    from shanraq_core.replication import pg
    from shanraq_core.replication.records import ZERO_CHAIN, seal

    pgs = LocalPostgres(fsync=True)
    n = args.batch
    try:
        conn = pg.connect(pgs.create_database("ship"))
        pg.ensure_schema(conn)
        pg.prepare_session(conn)
        pg.claim(conn, "s", 1, "book", BOOK_COMMAND_DTYPE.itemsize)
        next_seq = [1]
        chain = [ZERO_CHAIN]

        def batch() -> Any:
            load = BookLoad(1, seed=next_seq[0])
            recs = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
            recs[:] = load.orders(n)
            recs["seq"] = np.arange(next_seq[0], next_seq[0] + n, dtype=np.uint64)
            t0 = time.perf_counter()
            b = seal(recs, chain[0], first_seq=next_seq[0])
            sealed_s = time.perf_counter() - t0
            next_seq[0] = b.last_seq + 1
            chain[0] = b.last_chain
            return b, sealed_s

        def run(label: str) -> dict[str, float]:
            tc = ta = tt = ts = 0.0
            for _ in range(args.rounds):
                b, sealed_s = batch()
                data = pg.encode_copy(b)
                t0 = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    copy_sql = "COPY pg_temp.shanraq_incoming (seq, time_ns, crc, chain, record) FROM STDIN"
                    with cur.copy(copy_sql + " (FORMAT BINARY)") as cp:
                        cp.write(data)
                    t1 = time.perf_counter()
                    cur.execute("SELECT shanraq_append(%s, %s)", ("s", 1)).fetchone()
                    t2 = time.perf_counter()
                t3 = time.perf_counter()
                tc, ta, tt, ts = tc + t1 - t0, ta + t2 - t1, tt + t3 - t2, ts + sealed_s
            per = 1e6 / (args.rounds * n)
            out = {
                "copy_to_staging_us": round(tc * per, 2),
                "append_us": round(ta * per, 2),
                "commit_us": round(tt * per, 2),
                "python_seal_us": round(ts * per, 2),
            }
            print(label, json.dumps(out), flush=True)
            return out

        result = {"with_trigger": run("with the trigger")}
        conn.execute("ALTER TABLE shanraq_journal DISABLE TRIGGER shanraq_journal_check")
        conn.commit()
        result["without_trigger"] = run("without the trigger")
        conn.close()
        return result
    finally:
        pgs.close()


def switchover(args: argparse.Namespace) -> dict[str, Any]:
    from shanraq_core.replication.cli import main as cluster

    pgs = LocalPostgres(fsync=True)
    etcd = LocalEtcd()
    try:
        dsn = pgs.create_database("switchover")
        procs = [
            NodeProcess(
                stream="s", dsn=dsn, etcd=etcd.endpoint, node_id=f"n{i}", ttl=args.ttl, load=args.load
            )
            for i in range(2)
        ]
        times = []
        for _ in range(args.times):
            _wait(lambda: sum(p.role == "primary" for p in procs) == 1, "one primary")
            primary = next(p for p in procs if p.role == "primary")
            standby = next(p for p in procs if p is not primary)
            _wait(lambda p=primary: _new_ack(p) is not None, "acks")
            _wait(lambda s=standby: s.role == "standby", "the standby")
            t0 = time.monotonic()
            cluster(
                ["promote", "--stream", "s", "--etcd", etcd.endpoint, "--node", standby.node_id, "--json"]
            )
            _wait(lambda s=standby: _new_ack(s) is not None, "the new primary to acknowledge")
            t_ack = _new_ack(standby)
            assert t_ack is not None
            times.append(round(t_ack - t0, 3))
            print(json.dumps({"switchover_s": times[-1]}), flush=True)
        for p in procs:
            p.stop()
        return {
            "switchovers": len(times),
            "median_s": statistics.median(times),
            "worst_s": max(times),
            "best_s": min(times),
        }
    finally:
        pgs.close()
        etcd.close()


def tail(args: argparse.Namespace) -> dict[str, Any]:
    pgs = LocalPostgres(fsync=True)
    etcd = LocalEtcd()
    try:
        dsn = pgs.create_database("tail")
        node = Node(
            NodeConfig(
                stream="s",
                dsn=dsn,
                etcd=etcd.endpoint,
                machine=args.machine,
                journal_dir=tempfile.mkdtemp(prefix="tail-disk-"),
            )
        )
        node.start()
        _wait(lambda: node.role == "primary", "primary")
        assert node.election is not None
        load = make_load(args.machine, node.election.epoch)
        node.submit(load.setup())
        rows: list[tuple[float, float, float]] = []
        for _ in range(args.times):
            t = time.monotonic()
            _f, last = node.submit(load.orders(args.size))
            _wait(lambda last=last: node.health().applied_seq >= last, "local durability")
            t_local = time.monotonic()
            _wait(lambda last=last: node.tail_source is not None and node.tail_source.next_seq > last, "read")
            t_read = time.monotonic()
            assert node.wait_acked(last, 60)
            rows.append((t_local - t, t_read - t, time.monotonic() - t))
        source = node.tail_source
        node.stop()
        return {
            "machine": args.machine,
            "batches": args.times,
            "batch_size": args.size,
            "local_durable_ms_median": round(statistics.median(r[0] for r in rows) * 1e3, 2),
            "read_by_shipper_ms_median": round(statistics.median(r[1] for r in rows) * 1e3, 2),
            "acked_ms_median": round(statistics.median(r[2] for r in rows) * 1e3, 2),
            "acked_ms_p90": round(float(np.percentile([r[2] for r in rows], 90)) * 1e3, 2),
            "reader_reopened": source.reopened if source is not None else 0,
        }
    finally:
        pgs.close()
        etcd.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("rto")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--ttl", type=int, default=2)
    p.add_argument("--mode", choices=["sync", "async"], default="sync")
    p.add_argument("--load", type=float, default=2000.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--machine", choices=["book", "exchange"], default="book")
    p.add_argument("--journal", action="store_true", help="local journals, shipped from")
    p = sub.add_parser("ack")
    p.add_argument("--rates", default="10000,50000,100000")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--machine", choices=["book", "exchange"], default="book")
    p.add_argument("--journal", action="store_true", help="a local journal, shipped from")
    p = sub.add_parser("ship")
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=10)
    p = sub.add_parser("switchover")
    p.add_argument("--times", type=int, default=10)
    p.add_argument("--ttl", type=int, default=2)
    p.add_argument("--load", type=float, default=2000.0)
    p = sub.add_parser("tail")
    p.add_argument("--times", type=int, default=200)
    p.add_argument("--size", type=int, default=10)
    p.add_argument("--machine", choices=["book", "exchange"], default="exchange")
    args = parser.parse_args()
    result = {"rto": rto, "ack": ack, "ship": ship, "switchover": switchover, "tail": tail}[args.what](args)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
