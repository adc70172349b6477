"""asv benchmarks for the latency histogram (shanraq_core.hist).

Run from the repository root:

    asv run --quick --python=same      # this environment, no build
    asv run HEAD^!                     # build HEAD in a virtualenv, full timing
    asv continuous main HEAD           # regressions between two commits

Per-call operations (record, observe, time(), Recorder.record, ...) cost tens
of ns, below asv's per-sample overhead, so each of those benchmarks times a
Python ``for`` loop of ``N_CALLS`` (10,000) calls over seeded lognormal
latencies: **ns per call = reported time / 10,000**. The loop itself is timed
as ``RecordPerCall.time_loop_only`` (its cost is included in every per-call
figure, for shanraq and the baselines alike). The baselines run in the same
environment: the PyPI ``hdrhistogram`` package (``HdrHistogram.record_value``)
and ``prometheus_client`` (``Histogram.observe``).

Issue bars (checked by bench/compare_hist.py, which prints the ratios):
record <= 60 ns and >= 15x faster than hdrhistogram's record_value;
record_many <= 2 ns per value on 10M int64; four percentiles of a full
default histogram <= 20 µs.
"""

from __future__ import annotations

import time

import numpy as np

from shanraq_core import LatencyHistogram, Recorder

from .common import (
    N_CALLS,
    N_MANY,
    PERCENTILES,
    full_hdrhistogram,
    full_histogram,
    latencies_list,
    latencies_ns,
    latencies_seconds_list,
    new_hdrhistogram,
    new_histogram,
    new_prometheus_histogram,
    noop,
    typical_hdrhistogram,
    typical_histogram,
)


class RecordPerCall:
    """One value per call, N_CALLS calls per sample (divide by 10,000)."""

    def setup(self) -> None:
        self.values = latencies_list(N_CALLS)
        self.seconds = latencies_seconds_list(N_CALLS)
        self.hist = new_histogram()
        self.hdr = new_hdrhistogram()
        self.prom = new_prometheus_histogram()
        self.recorder = Recorder()
        self.values_np = list(latencies_ns(N_CALLS))

    def time_loop_only(self) -> None:
        """The bare loop, included in every per-call figure."""
        for _v in self.values:
            pass

    def time_record(self) -> None:
        record = self.hist.record
        for v in self.values:
            record(v)

    def time_record_with_count(self) -> None:
        record = self.hist.record
        for v in self.values:
            record(v, 2)

    def time_record_numpy_scalar(self) -> None:
        """Values as numpy int64 scalars (what iterating an array yields)."""
        record = self.hist.record
        for v in self.values_np:
            record(v)

    def time_recorder_record(self) -> None:
        record = self.recorder.record
        for v in self.values:
            record(v)

    def time_hdrhistogram_record_value(self) -> None:
        """Baseline: the PyPI hdrhistogram package (pure Python)."""
        record = self.hdr.record_value  # type: ignore[attr-defined]
        for v in self.values:
            record(v)

    def time_prometheus_client_observe(self) -> None:
        """Baseline: prometheus_client.Histogram.observe (seconds, 22 buckets)."""
        observe = self.prom.observe  # type: ignore[attr-defined]
        for s in self.seconds:
            observe(s)


class RecordMany:
    """record_many on 10M int64 values; one call per sample. ns per value =
    reported time / 10,000,000 (bar: <= 2 ns per value, i.e. <= 20 ms)."""

    number = 1
    repeat = (3, 10, 30.0)
    timeout = 300

    def setup(self) -> None:
        self.values = latencies_ns(N_MANY)
        self.values32 = self.values.astype(np.int32)
        self.hist = new_histogram()
        self.recorder = Recorder()

    def time_record_many_int64(self) -> None:
        self.hist.record_many(self.values)

    def time_record_many_int32(self) -> None:
        self.hist.record_many(self.values32)

    def time_recorder_record_many_int64(self) -> None:
        self.recorder.record_many(self.values)

    def time_numpy_sum_int64(self) -> None:
        """Reference: one pass of numpy over the same 80 MB (memory floor)."""
        self.values.sum()


class Percentiles:
    """Four percentiles (50, 90, 99, 99.9) of a default histogram with every
    one of its 33,421 slots non-empty (bar: <= 20 µs)."""

    def setup(self) -> None:
        self.hist = full_histogram()
        self.hdr = full_hdrhistogram()
        self.percentiles_list = list(PERCENTILES)
        self.percentiles_array = np.array(PERCENTILES)

    def time_percentiles_list(self) -> None:
        self.hist.percentiles(self.percentiles_list)

    def time_percentiles_array(self) -> None:
        self.hist.percentiles(self.percentiles_array)

    def time_value_at_percentile_x4(self) -> None:
        at = self.hist.value_at_percentile
        for p in self.percentiles_list:
            at(p)

    def time_hdrhistogram_percentile_dict(self) -> None:
        """Baseline: hdrhistogram's get_percentile_to_value_dict (one pass)."""
        self.hdr.get_percentile_to_value_dict(self.percentiles_list)  # type: ignore[attr-defined]


class Timers:
    """``with hist.time():`` and ``@hist.timed`` around an empty body, N_CALLS
    blocks per sample (divide by 10,000), against the hand-written
    ``time.perf_counter_ns()`` pair they replace."""

    def setup(self) -> None:
        self.hist = new_histogram()
        self.timed_noop = self.hist.timed(noop)
        self.rounds = range(N_CALLS)

    def time_perf_counter_ns_pair(self) -> None:
        """Baseline: two clock reads, nothing recorded."""
        clock = time.perf_counter_ns
        for _ in self.rounds:
            t0 = clock()
            t1 = clock()
        del t0, t1

    def time_perf_counter_ns_pair_and_record(self) -> None:
        """The hand-written equivalent of time(): two clock reads plus record."""
        clock = time.perf_counter_ns
        record = self.hist.record
        for _ in self.rounds:
            t0 = clock()
            record(clock() - t0)

    def time_context_manager(self) -> None:
        timer = self.hist.time
        for _ in self.rounds:
            with timer():
                pass

    def time_noop_call_with_pair(self) -> None:
        """Baseline for timed: the same call between two clock reads."""
        clock = time.perf_counter_ns
        f = noop
        for _ in self.rounds:
            t0 = clock()
            f()
            t1 = clock()
        del t0, t1

    def time_timed_decorator(self) -> None:
        f = self.timed_noop
        for _ in self.rounds:
            f()


class RecorderInterval:
    """Recorder's reader side: one interval_histogram per sample, after the
    writer recorded 100,000 values."""

    def setup(self) -> None:
        self.recorder = Recorder()
        self.into = new_histogram()
        self.values = latencies_ns(100_000)

    def time_interval_histogram(self) -> None:
        self.recorder.record_many(self.values)
        self.recorder.interval_histogram(self.into)


class Interchange:
    """HdrHistogram V2 compressed base64 encode/decode and snapshot/restore of
    a histogram of 1M lognormal latencies, against the hdrhistogram package on
    the same counts."""

    def setup(self) -> None:
        self.hist = typical_histogram()
        self.encoded = self.hist.encode()
        self.snapshot = self.hist.snapshot()
        self.hdr = typical_hdrhistogram()
        self.hdr_encoded = self.hdr.encode()  # type: ignore[attr-defined]

    def time_encode(self) -> None:
        self.hist.encode()

    def time_decode(self) -> None:
        LatencyHistogram.decode(self.encoded)

    def time_snapshot(self) -> None:
        self.hist.snapshot()

    def time_restore(self) -> None:
        LatencyHistogram.restore(self.snapshot)

    def time_hdrhistogram_encode(self) -> None:
        self.hdr.encode()  # type: ignore[attr-defined]

    def time_hdrhistogram_decode(self) -> None:
        from hdrh.histogram import HdrHistogram

        HdrHistogram.decode(self.hdr_encoded)

    def track_encoded_bytes(self) -> int:
        return len(self.encoded)

    track_encoded_bytes.unit = "bytes"  # type: ignore[attr-defined]


class Add:
    """Merging two default histograms (same layout, slot by slot)."""

    def setup(self) -> None:
        self.a = typical_histogram()
        self.b = typical_histogram(seed=1)
        self.full = full_histogram()
        self.hdr_a = typical_hdrhistogram()
        self.hdr_b = typical_hdrhistogram(seed=1)

    def time_add_typical(self) -> None:
        self.a.add(self.b)

    def time_add_full(self) -> None:
        self.a.add(self.full)

    def time_hdrhistogram_add_typical(self) -> None:
        self.hdr_a.add(self.hdr_b)  # type: ignore[attr-defined]


class Prometheus:
    """Text exposition of a histogram of 1M latencies (22 buckets, 4
    quantiles), against prometheus_client rendering its own Histogram with the
    same buckets."""

    def setup(self) -> None:
        try:
            import shanraq_core.prometheus  # noqa: F401
        except ImportError:
            # Commits before the Prometheus export: nothing to time.
            raise NotImplementedError("shanraq_core.prometheus is not available") from None
        from prometheus_client import CollectorRegistry, generate_latest

        self.hist = typical_histogram()
        self.registry = CollectorRegistry()
        prom = new_prometheus_histogram(self.registry)
        for s in latencies_seconds_list(N_CALLS):
            prom.observe(s)  # type: ignore[attr-defined]
        self.generate_latest = generate_latest

    def time_to_prometheus(self) -> None:
        self.hist.to_prometheus("request_latency_seconds", "Request latency.")

    def time_prometheus_client_generate_latest(self) -> None:
        """Baseline: prometheus_client's exposition of one Histogram."""
        self.generate_latest(self.registry)


def track_memory_size() -> int:
    """Bytes held by a default LatencyHistogram (1 ns .. 1 h, 3 digits)."""
    return new_histogram().memory_size


track_memory_size.unit = "bytes"  # type: ignore[attr-defined]
