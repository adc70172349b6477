"""A replicated node: standby until it wins the election, then primary.

Life of a node (docs/operations.md):

1. **standby**: replays the stream from PostgreSQL into its machine; when the
   leader key is absent it campaigns.
2. **promotion** (on winning, epoch = the key's creation revision): claims the
   stream in PostgreSQL with the epoch (from then on no older leader can
   append), catches up to the head as of the claim, checks the chain there,
   then starts the sequencer (`Runner`) and the shipper: **primary**.
3. **primary**: ``submit`` hands commands to the runner; each stamped batch is
   shipped. ``sync``: a command is acknowledged once its batch committed in
   PostgreSQL (and it was applied); ``async``: once applied, while the lease is
   provably held. A lost lease (not renewed within the TTL) or a refused epoch
   fences the node at once: nothing more is acknowledged.
4. **fenced**: stops the runner, throws its machine away (it may hold commands
   that were never shipped), rebuilds from PostgreSQL and rejoins as standby.

Local durability (``NodeConfig.journal_dir``): a primary journals every
stamped batch in the package's `Journal` (fdatasync per group commit) before
its events are published, and the shipper reads what it ships from that
journal's `TailReader` (durable records only): the local journal is the
shipper's one source, so ``sync`` acknowledges a command once it is durable
on local disk and committed in PostgreSQL. Each leadership (epoch) gets a
new journal directory that starts with a snapshot of the machine at the
database's head (what it claimed), and ships from the head + 1; older
directories of the stream are removed then (anything they held past the
database's head was never acknowledged in ``sync``, and a newer leader may
have written other records at those seqs). Without ``journal_dir``, "local"
is the machine's memory and the runner's ``stamped=`` ring feeds the shipper.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy.typing as npt
import psycopg

from shanraq_core.replication import pg
from shanraq_core.replication.election import Election, preferred_key
from shanraq_core.replication.errors import (
    AuthenticationError,
    ContinuityError,
    FencedError,
    ForeignStreamError,
    NotLeaderError,
    ReplicationError,
    SchemaMismatchError,
)
from shanraq_core.replication.etcd import EtcdClient
from shanraq_core.replication.records import BatchSource, StampedRingSource, TailSource
from shanraq_core.replication.shipper import Shipper
from shanraq_core.replication.standby import Standby

__all__ = ["MACHINES", "Health", "Node", "NodeConfig", "make_machine"]

Role = Literal["starting", "standby", "promoting", "primary", "fenced", "stopped"]


def _book() -> Any:
    from shanraq_core.book import MatchingEngine

    return MatchingEngine(max_orders=1 << 18, max_levels=1 << 14, id_history=1 << 16)


def _ledger() -> Any:
    from shanraq_core.ledger import Ledger

    return Ledger()


def _exchange() -> Any:
    from shanraq_core.exchange import Exchange

    # The book's capacities; accounts and transfers for 2^16 users over a few assets.
    return Exchange(
        max_users=1 << 16,
        max_assets=64,
        max_symbols=256,
        max_orders=1 << 18,
        max_levels=1 << 14,
        id_history=1 << 16,
        max_accounts=1 << 18,
        max_transfers=1 << 20,
    )


#: Machine name (stored with the stream) -> a factory of a fresh machine.
#: Every node of a stream must build the same machine with the same
#: capacities: a capacity is part of the state (a reject depends on it).
MACHINES: dict[str, Callable[[], Any]] = {"book": _book, "exchange": _exchange, "ledger": _ledger}


def make_machine(name: str) -> Any:
    try:
        return MACHINES[name]()
    except KeyError:
        raise ValueError(f"unknown machine {name!r}; known: {sorted(MACHINES)}") from None


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """Configuration of one node (docs/operations.md, "Configuration").

    stream: the stream name (one per shard); dsn: libpq connection string;
    etcd: etcd endpoint(s); machine: a MACHINES name; node_id: this node's
    name in the leader key; ttl: lease TTL (s); mode: ``sync`` or ``async``;
    batch: the runner's batch; ring_capacity: command/event ring records;
    journal_dir: where a primary keeps its local journal (one directory per
    epoch under ``journal_dir/stream``); None: no local journal;
    snapshot_every: a standby stores a snapshot of its machine in PostgreSQL
    every that many commands (0: never); a node starting as standby restores
    the newest one and replays only what follows it.
    """

    stream: str
    dsn: str
    etcd: str
    machine: str = "book"
    node_id: str = dataclasses.field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    ttl: int = 2
    mode: Literal["sync", "async"] = "sync"
    batch: int = 4096
    ring_capacity: int = 1 << 16
    etcd_timeout: float = 0.5
    pg_retry_for: float = 30.0
    journal_dir: str | None = None
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("sync", "async"):
            raise ValueError(f"mode must be 'sync' or 'async', not {self.mode!r}")
        if self.machine not in MACHINES:
            raise ValueError(f"unknown machine {self.machine!r}; known: {sorted(MACHINES)}")
        if not self.stream or "/" in self.stream:
            raise ValueError(f"stream must be a non-empty name without '/', not {self.stream!r}")


@dataclasses.dataclass(frozen=True)
class Health:
    """What a load balancer or an operator asks a node (``to_json`` for HTTP)."""

    node_id: str
    stream: str
    role: Role
    epoch: int
    mode: str
    applied_seq: int  #: last command applied by this node's machine
    durable_seq: int  #: primary: last committed in PostgreSQL; standby: last applied (it came from there)
    acked_seq: int  #: primary: last acknowledged command
    head_seq: int  #: newest record known in PostgreSQL
    lag_commands: int
    lag_ms: float
    lease_remaining_s: float
    error: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @property
    def ok(self) -> bool:
        return self.role in ("primary", "standby") and not self.error


class Node:
    """One node of a stream's cluster. ``start()`` runs it on its own thread;
    ``submit``/``wait_acked`` from one producer thread; ``health`` from any.
    """

    def __init__(self, config: NodeConfig, *, on_role: Callable[[Role], None] | None = None) -> None:
        self.config = config
        self.on_role = on_role
        self.client = EtcdClient(config.etcd, timeout=config.etcd_timeout, retry_for=config.etcd_timeout * 2)
        self._role: Role = "starting"
        self._stop = threading.Event()
        self._fence = threading.Event()
        self._thread: threading.Thread | None = None
        self._error = ""
        self._lock = threading.Lock()
        self.election: Election | None = None
        self.standby: Standby | None = None
        self.shipper: Shipper | None = None
        self._runner: Any = None
        self._commands: Any = None
        self._events: Any = None
        self._stamped: Any = None
        self.journal: Any = None  #: the primary's local Journal (with journal_dir), while primary
        self.tail_source: TailSource | None = None  #: what the shipper reads the local journal through
        self._next_seq = 0
        self._applied = 0
        self._acked_cond = threading.Condition()
        self._holdoff_until = 0.0
        self._absent_since: float | None = None
        self.claimed_head = 0  #: the stream's head when this node last claimed it
        self.final_state_hash: int | None = None  #: the primary's machine when it stopped
        self.final_seq = 0  #: the last seq that machine applied
        self.promotions = 0
        self.promoted_at: float = 0.0
        self.snapshot_seq = 0  #: the seq of the snapshot this node's standby started from (0: none)
        self._last_snapshot = 0

    # --- public -------------------------------------------------------------
    @property
    def role(self) -> Role:
        return self._role

    def _set_role(self, role: Role) -> None:
        self._role = role
        if self.on_role is not None:
            self.on_role(role)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"node-{self.config.stream}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the node; a primary resigns (its successor need not wait for the TTL)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.client.close()

    def demote(self) -> None:
        """A primary steps down (fenced, then rejoins as standby)."""
        self._fence.set()

    def wait_role(self, role: Role, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._role != role:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def submit(self, commands: npt.NDArray[Any]) -> tuple[int, int]:
        """Hands commands to the primary's sequencer; returns the (first, last)
        seq they take. NotLeaderError if not primary. Blocks while the ring is full."""
        with self._lock:
            if self._role != "primary" or self.election is None or not self.election.is_leader():
                raise NotLeaderError(f"node {self.config.node_id} is {self._role}, not primary")
            first = self._next_seq
            done = 0
            n = len(commands)
            while done < n:
                if self._role != "primary":
                    raise FencedError(f"node {self.config.node_id} was fenced while submitting")
                done += self._commands.push_many(commands[done:], timeout=0.05)
            self._next_seq += n
            return first, first + n - 1

    @property
    def acked_seq(self) -> int:
        """The last acknowledged seq (sync: applied and committed in
        PostgreSQL; async: applied while the lease was provably held)."""
        if self._role != "primary" or self.shipper is None or self.election is None:
            return 0
        if self.config.mode == "sync":
            return min(self._applied, self.shipper.durable_seq)
        return self._applied if self.election.is_leader() else 0

    def wait_acked(self, seq: int, timeout: float | None) -> bool:
        """True once ``seq`` is acknowledged; False on timeout. FencedError
        if the node lost leadership first (the command may or may not survive)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._acked_cond:
            while True:
                if self._role != "primary":
                    raise FencedError(
                        f"node {self.config.node_id} is {self._role}: seq {seq} not acknowledged"
                    )
                if self.acked_seq >= seq:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._acked_cond.wait(0.05 if left is None else min(0.05, left))

    def health(self) -> Health:
        role = self._role
        epoch = self.election.epoch if self.election is not None else 0
        sb = self.standby
        if role == "primary" and self.shipper is not None:
            durable = self.shipper.durable_seq
            applied = self._applied
            head = max(durable, applied)
            lag_c, lag_ms = 0, 0.0
        elif sb is not None:
            lag = sb.lag()
            applied = durable = lag.applied_seq
            head, lag_c, lag_ms = lag.head_seq, lag.commands, lag.ms
        else:
            applied = durable = head = lag_c = 0
            lag_ms = 0.0
        return Health(
            node_id=self.config.node_id,
            stream=self.config.stream,
            role=role,
            epoch=epoch,
            mode=self.config.mode,
            applied_seq=applied,
            durable_seq=durable,
            acked_seq=self.acked_seq,
            head_seq=head,
            lag_commands=lag_c,
            lag_ms=lag_ms,
            lease_remaining_s=self.election.remaining() if self.election is not None else 0.0,
            error=self._error,
        )

    def read(self, fn: Callable[[Any], Any]) -> Any:
        """A read on a standby's machine (between two replayed batches)."""
        sb = self.standby
        if self._role != "standby" or sb is None:
            raise NotLeaderError(f"reads are served by standbys; node {self.config.node_id} is {self._role}")
        return sb.read(fn)

    # --- the node's thread ----------------------------------------------------
    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                self._run_standby()
                if self._stop.is_set():
                    break
                self._run_primary()
        except Exception as e:
            # The node's thread ends; health() carries the reason (role "stopped").
            self._error = f"{type(e).__name__}: {e}"
        finally:
            # Whatever path ended the node (a stop during promotion included):
            # no sequencer left running, no lease left renewing.
            if self._runner is not None:
                machine = self._runner.machine
                self._stop_pipeline()
                self.final_state_hash = int(machine.state_hash())
                self.final_seq = self._applied
            if self.election is not None:
                self.election.resign()
            if self.standby is not None:
                self.standby.close()
            self._set_role("stopped")

    def _new_standby(self) -> Standby:
        """From the newest snapshot in PostgreSQL if there is one that checks
        (then only the later records are replayed), else from seq 1."""
        from shanraq_core.replication.snapshots import load_snapshot

        cfg = self.config
        try:
            got = load_snapshot(cfg.dsn, cfg.stream, cfg.machine)
        except (ReplicationError, psycopg.Error):
            # Unreachable, or a snapshot that does not check: a full replay is always right.
            got = None
        if got is not None:
            machine, self.snapshot_seq, chain = got
            return Standby(cfg.dsn, cfg.stream, machine, machine_name=cfg.machine, chain=chain)
        return Standby(cfg.dsn, cfg.stream, make_machine(cfg.machine), machine_name=cfg.machine)

    def _maybe_snapshot(self, sb: Standby) -> None:
        from shanraq_core.replication.snapshots import save_snapshot

        every = self.config.snapshot_every
        if not every or sb.applied_seq < self._last_snapshot + every:
            return
        try:
            # This thread applies the records: machine and chain are one state.
            self._last_snapshot = save_snapshot(self.config.dsn, self.config.stream, sb.machine, sb.chain)
        except (ReplicationError, psycopg.Error):
            self._last_snapshot = sb.applied_seq  # try again after the next `every`

    def _leader_absent(self) -> bool:
        try:
            absent = self.client.get(self.election.key if self.election else b"") is None
        except ReplicationError as e:
            # Not fatal (etcd may come back), but visible in health().
            self._error = f"etcd: {type(e).__name__}: {e}"
            return False
        if self._error.startswith("etcd: "):
            self._error = ""
        return absent

    def _may_campaign(self) -> bool:
        """The leader key is absent and: this node is the preferred one (an
        operator's switchover), or no node is preferred and this one is past
        its hold-off (a node just fenced lets the others go first), or the
        preferred node has not taken the key for two TTLs (a preferred node
        that is down blocks nobody)."""
        now = time.monotonic()
        if not self._leader_absent():
            self._absent_since = None
            return False
        if self._absent_since is None:
            self._absent_since = now
        try:
            pref = self.client.get(preferred_key(self.config.stream))
        except ReplicationError:
            return False
        if pref is not None and pref.value.decode() == self.config.node_id:
            return True
        if now < self._holdoff_until:
            return False
        return pref is None or now - self._absent_since > 2 * self.config.ttl

    def _run_standby(self) -> None:
        cfg = self.config
        if self.standby is None:
            self.standby = self._new_standby()
        sb = self.standby
        self._fence.clear()
        self.election = Election(
            self.client, cfg.stream, cfg.node_id, ttl=cfg.ttl, on_lost=lambda reason: self._fence.set()
        )
        self._set_role("standby")
        while not self._stop.is_set():
            try:
                n = sb.poll()
            except ReplicationError as e:
                # Retrying cannot fix these: the node stops, saying why.
                if isinstance(
                    e, (ContinuityError, ForeignStreamError, SchemaMismatchError, AuthenticationError)
                ):
                    self._error = f"{type(e).__name__}: {e}"
                    raise
                sb.close()
                self._stop.wait(0.1)
                continue
            except Exception:
                sb.close()
                self._stop.wait(0.1)
                continue
            if n:
                self._maybe_snapshot(sb)
                continue
            if self._may_campaign():
                try:
                    if self.election.try_acquire():
                        if self._promote():
                            return
                        continue
                except ReplicationError:
                    pass
            try:
                sb.wait(0.05)
            except Exception:
                sb.close()

    def _promote(self) -> bool:
        """Claim, catch up, start the sequencer. False (back to standby) if the
        claim was refused or leadership was lost meanwhile."""
        cfg = self.config
        assert self.election is not None
        assert self.standby is not None
        self._set_role("promoting")
        sb = self.standby
        epoch = self.election.epoch
        try:
            conn = pg.connect(cfg.dsn, timeout=2.0)
            try:
                pg.ensure_schema(conn)
                head_seq, head_chain = pg.claim(conn, cfg.stream, epoch, cfg.machine, sb.record_size)
            finally:
                conn.close()
            sb.catch_up(head_seq)
        except ReplicationError as e:
            self._error = f"promotion failed: {type(e).__name__}: {e}"
            self.election.resign()
            self._set_role("standby")
            return False
        if sb.applied_seq != head_seq or sb.chain != head_chain:
            self._error = f"promotion failed: replayed to {sb.applied_seq}, the claim's head is {head_seq}"
            self.election.resign()
            self._set_role("standby")
            return False
        if not self.election.is_leader():
            self._set_role("standby")
            return False
        self.claimed_head = head_seq
        # A primary does not listen: an unread LISTEN would fill the server's
        # notification queue with every batch this node ships.
        sb.close()
        self._start_pipeline(sb.machine, head_seq, head_chain)
        self.promotions += 1
        self.promoted_at = time.monotonic()
        self._set_role("primary")
        return True

    def _open_journal(self, machine: Any) -> Any:
        """A new local journal for this epoch, starting from ``machine`` (its
        snapshot is written first); the stream's older journals are removed."""
        from shanraq_core.journal import Journal

        cfg = self.config
        assert cfg.journal_dir is not None
        assert self.election is not None
        root = os.path.join(cfg.journal_dir, cfg.stream)
        os.makedirs(root, exist_ok=True)
        name = f"epoch-{self.election.epoch}"
        for old in os.listdir(root):
            if old.startswith("epoch-") and old != name:
                shutil.rmtree(os.path.join(root, old), ignore_errors=True)
        path = os.path.join(root, name)
        # A leftover of this very epoch cannot hold anything acknowledged.
        shutil.rmtree(path, ignore_errors=True)
        return Journal.open(path, machine)

    def _start_pipeline(self, machine: Any, head_seq: int, head_chain: bytes) -> None:
        from shanraq_core.queue import SpscRing
        from shanraq_core.runner import Runner

        cfg = self.config
        cap = cfg.ring_capacity
        self._commands = SpscRing(cap, machine.COMMAND_DTYPE)
        self._events = SpscRing(cap, machine.EVENT_DTYPE)
        self._next_seq = head_seq + 1
        self._applied = head_seq
        assert self.election is not None
        self.shipper = Shipper(
            cfg.dsn,
            cfg.stream,
            self.election.epoch,
            durable_seq=head_seq,
            durable_chain=head_chain,
            retry_for=cfg.pg_retry_for,
        )
        source: BatchSource
        if cfg.journal_dir is not None:
            from shanraq_core.journal import TailReader

            self.journal = journal = self._open_journal(machine)
            # A reader binds to a machine of the kind when it is made, and a
            # running machine takes no calls: readers are made on a spare one.
            kind = make_machine(cfg.machine)
            path = journal.path

            def reader_at(seq: int) -> Any:
                return TailReader(path, kind, from_seq=seq)

            # Not ``live=``: it, like a plain reader, can take a frame being
            # written for damage (JournalCorruptionError; reported to the
            # journal's owner), so the source retries on new readers. Whole
            # frames may be shipped before their fdatasync; an acknowledgement
            # still needs both (the runner publishes a batch's events only once
            # it is durable here).
            source = TailSource(
                reader_at(head_seq + 1),
                next_seq=head_seq + 1,
                prev_chain=head_chain,
                stream=cfg.stream,
                reopen=reader_at,
            )
            self.tail_source = source
            self._runner = Runner(
                journal.machine, self._commands, self._events, batch=cfg.batch, journal=journal
            )
        else:
            self._stamped = SpscRing(cap, machine.COMMAND_DTYPE)
            source = StampedRingSource(
                self._stamped, next_seq=head_seq + 1, prev_chain=head_chain, stream=cfg.stream
            )
            self._runner = Runner(
                machine, self._commands, self._events, batch=cfg.batch, stamped=self._stamped
            )
        self._pipe_stop = threading.Event()
        self._runner.start()
        self._ship_thread = threading.Thread(
            target=self.shipper.run,
            args=(source, self._pipe_stop),
            kwargs={"on_error": lambda e: self._fence.set()},
            name="shipper",
            daemon=True,
        )
        self._ship_thread.start()
        self._event_thread = threading.Thread(target=self._drain_events, name="events", daemon=True)
        self._event_thread.start()

    def _drain_events(self) -> None:
        events = self._events
        while not self._pipe_stop.is_set():
            got = events.pop_many(65536, 0.02)
            if len(got):
                self._applied = int(got["seq"][-1])
                with self._acked_cond:
                    self._acked_cond.notify_all()

    def _run_primary(self) -> None:
        assert self.election is not None
        assert self.shipper is not None
        while not self._stop.is_set() and not self._fence.is_set():
            if not self.election.is_leader() or not self._runner.running:
                break
            with self._acked_cond:
                self._acked_cond.notify_all()
            self._fence.wait(0.01)
        # The clock can end a leadership before the renewal thread notices
        # (is_leader() reads the clock itself): that is a lost lease too.
        if self.election.lost_reason:
            reason = self.election.lost_reason
        elif self.shipper.error is not None:
            reason = f"shipper: {self.shipper.error}"
        elif not self._runner.running and not self._stop.is_set():
            reason = "the sequencer stopped (a local journal error)"
        elif self._stop.is_set():
            reason = "stopping"
        elif not self.election.is_leader():
            reason = "lease not renewed within its TTL"
        else:
            reason = "demoted"
        if not self._stop.is_set():
            self._error = f"fenced: {reason}"
        self._set_role("fenced")
        with self._acked_cond:
            self._acked_cond.notify_all()
        machine = self._runner.machine
        self._stop_pipeline()
        if self._stop.is_set():
            self.final_state_hash = int(machine.state_hash())
            self.final_seq = self._applied
        self.election.resign()
        # Give the other nodes one TTL to take over before campaigning again.
        self._holdoff_until = time.monotonic() + self.config.ttl
        # The machine may hold commands never shipped: rebuild from the database.
        if self.standby is not None:
            self.standby.close()
        self.standby = None

    def _stop_pipeline(self) -> None:
        try:
            self._runner.stop()
        except Exception as e:
            # A journal error ended the runner; the node fences (or stops) anyway.
            self._error = self._error or f"sequencer: {type(e).__name__}: {e}"
        self._pipe_stop.set()
        self._commands.close()
        self._ship_thread.join()
        self._event_thread.join()
        self._runner = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
