"""Recorder: lock-free recording from many Python threads with interval
snapshots. Checks that every record lands in exactly one interval."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from shanraq_core import LatencyHistogram, Recorder


def test_interval_histograms_partition_records() -> None:
    rec = Recorder()
    rec.record(10)
    rec.record(20, count=2)
    first = rec.interval_histogram()
    assert first.total_count == 3
    assert (first.min, first.max) == (10, 20)
    assert rec.interval_histogram().total_count == 0
    rec.record(30)
    reuse = LatencyHistogram()
    out = rec.interval_histogram(into=reuse)
    assert out is reuse
    assert out.total_count == 1


def test_errors() -> None:
    rec = Recorder(1, 1000, 2)
    with pytest.raises(ValueError, match=r"\[0, 1000\]"):
        rec.record(1001)
    with pytest.raises(ValueError, match=r"\[0, 1000\]"):
        rec.record(2**70)
    with pytest.raises(TypeError):
        rec.record(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        rec.record(5, 0)
    rec.record(7, 2**63 - 1)
    rec.record(7, 2**63 - 1)
    with pytest.raises(OverflowError):
        rec.record(7, 2)
    assert rec.interval_histogram(into=LatencyHistogram(1, 1000, 2)).count_at_value(7) == 2**64 - 2
    with pytest.raises(ValueError, match="configuration"):
        rec.interval_histogram(into=LatencyHistogram())
    with pytest.raises(TypeError):
        rec.record_many(np.array([1.0]))
    with pytest.raises(ValueError, match="lowest"):
        Recorder(0, 10, 3)
    assert rec.record_many(np.array([1, 2000, -1, 5])) == 2
    assert rec.interval_histogram(into=LatencyHistogram(1, 1000, 2)).total_count == 2


def test_python_threads_and_a_concurrent_reader() -> None:
    rec = Recorder(1, 10**9, 3)
    writers = 4
    per_writer = 20_000
    stop = threading.Event()
    total = LatencyHistogram(1, 10**9, 3)

    def writer(k: int) -> None:
        base = 1000 * (k + 1)
        # Alternate per-call and batch (GIL released) recording.
        for i in range(per_writer // 2):
            rec.record(base + 8 * (i % 5))
        rec.record_many(np.array([base + 8 * (i % 5) for i in range(per_writer // 2)], dtype=np.int64))

    def reader() -> None:
        while not stop.is_set():
            total.add(rec.interval_histogram())

    r = threading.Thread(target=reader)
    r.start()
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    total.add(rec.interval_histogram())
    assert total.total_count == writers * per_writer
    for k in range(writers):
        for j in range(5):
            assert total.count_at_value(1000 * (k + 1) + 8 * j) == per_writer // 5


def test_repr() -> None:
    assert repr(Recorder()) == "Recorder(lowest=1, highest=3600000000000, significant_figures=3)"
