"""Rings between processes (multiprocessing, fork and spawn): exactly once, in
(per-producer) order, and never a torn record, also when a producer is killed
with SIGKILL mid-stream."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from typing import Any

import numpy as np
import pytest

from shanraq_core.queue import MpscRing, PeerDead, ProducerDied, SpscRing
from tests.queue_helpers import (
    FOREVER_BATCH,
    PATIENCE,
    REC,
    intact,
    produce,
    produce_forever,
    produce_via_pickle,
    unique_name,
)

FORK = mp.get_context("fork")


def _consume(ring: Any, producers: int, n: int) -> None:
    nxt = [0] * producers
    got = 0
    while got < producers * n:
        batch = (
            ring.pop_many(64, timeout=PATIENCE) if got % 3 else np.array([ring.pop(timeout=PATIENCE)], REC)
        )
        assert len(batch) > 0, f"starved after {got}"
        assert intact(batch).all()
        for p, s in zip(batch["producer"].tolist(), batch["seq"].tolist(), strict=True):
            assert s == nxt[p]
            nxt[p] += 1
        got += len(batch)
    assert ring.try_pop() is None


@pytest.mark.parametrize(
    ("kind", "producers", "batch"), [("spsc", 1, 1), ("spsc", 1, 13), ("mpsc", 3, 1), ("mpsc", 2, 9)]
)
def test_processes_exactly_once_in_order(kind: str, producers: int, batch: int) -> None:
    n = 6000
    name = unique_name(kind)
    cls = SpscRing if kind == "spsc" else MpscRing
    ring = cls.create(name, 128, REC)
    procs = [FORK.Process(target=produce, args=(kind, name, p, n, batch)) for p in range(producers)]
    for p in procs:
        p.start()
    _consume(ring, producers, n)
    for p in procs:
        p.join(PATIENCE)
        assert p.exitcode == 0


def test_spawned_producer_gets_ring_by_pickle() -> None:
    ring = MpscRing.create(unique_name("spawn"), 64, REC)
    proc = mp.get_context("spawn").Process(target=produce_via_pickle, args=(ring, 0, 500))
    proc.start()
    _consume(ring, 1, 500)
    proc.join(PATIENCE)
    assert proc.exitcode == 0


@pytest.mark.parametrize("kind", ["spsc", "mpsc"])
def test_sigkilled_producer_never_yields_a_torn_record(kind: str) -> None:
    """Where the kill lands is up to the scheduler (a random moment in a
    stream of single pushes and batches); what is asserted holds wherever
    it does: the records delivered are intact and in order, the only ones
    missing are those of the push the producer died in (MPSC: each slot it
    had claimed, reported by ProducerDied and counted in ``lost``), and the
    consumer ends with PeerDead (SPSC) or an empty ring (MPSC), never a hang."""
    rng = random.Random(1234)
    cls = SpscRing if kind == "spsc" else MpscRing
    for _ in range(4):
        name = unique_name("kill")
        ring = cls.create(name, rng.choice([4, 16, 256]), REC)
        proc = FORK.Process(target=produce_forever, args=(kind, name, 0))
        proc.start()
        # Its first record proves it is running (and, SPSC, has recorded
        # itself as the producer): on a loaded machine the kill below could
        # otherwise land before it ever pushed.
        first = ring.pop_many(1, timeout=PATIENCE)
        assert first["seq"].tolist() == [0]
        nxt = 1
        deadline = time.monotonic() + rng.uniform(0.02, 0.15)
        # Consume while it runs, then kill it at an arbitrary point.
        while time.monotonic() < deadline:
            batch = ring.pop_many(rng.choice([1, 7, 64]), timeout=0.005)
            assert intact(batch).all()
            assert batch["seq"].tolist() == list(range(nxt, nxt + len(batch)))
            nxt += len(batch)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(PATIENCE)
        died = 0
        # Drain: MPSC until nothing is left, claimed slots included (each pop
        # waits until the consumer has found their claimer dead); SPSC until
        # PeerDead says the ring is empty and its only producer gone.
        while kind == "spsc" or len(ring):
            try:
                batch = ring.pop_many(64, timeout=PATIENCE)
            except ProducerDied:
                died += 1
                nxt += 1  # that record was discarded, never delivered torn
                continue
            except PeerDead:
                assert kind == "spsc"
                break
            assert len(batch) > 0
            assert intact(batch).all()
            assert batch["seq"].tolist() == list(range(nxt, nxt + len(batch)))
            nxt += len(batch)
        assert died <= FOREVER_BATCH
        assert ring.lost == (died if kind == "mpsc" else 0)
        assert len(ring) == 0
        if kind == "spsc":
            # Drained, and the producer is gone: a wait forever is reported.
            with pytest.raises(PeerDead):
                ring.pop()
