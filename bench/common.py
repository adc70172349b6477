"""Seeded data and fixtures shared by the histogram benchmarks.

Used by the asv suite (bench_hist.py), the pytest-benchmark microbenchmarks
(test_bench_hist.py) and the one-process comparison (compare_hist.py), so the
three measure the same inputs. Every generator is deterministic (numpy
Generator, fixed seed) and cached, because asv and pytest-benchmark call
setup code many times in one process.

Latencies are lognormal in nanoseconds, median 20 µs and sigma 1 (most values
between 2 µs and 200 µs, a long tail to tens of ms): the shape of a service's
request latency, and spread over a few thousand histogram slots so that the
counts array is touched the way real recording touches it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shanraq_core import LatencyHistogram

SEED = 20240601
#: LatencyHistogram's default configuration (1 ns .. 1 hour, 3 digits).
LOWEST = 1
HIGHEST = 3_600_000_000_000
SIGNIFICANT_FIGURES = 3

#: Calls per timed loop for per-call operations (record, observe, time(),
#: ...). One call costs tens of ns, far below asv's and pytest-benchmark's
#: own per-sample overhead, so every per-call benchmark times a Python loop
#: of N_CALLS calls: divide the reported time by N_CALLS for ns per call.
N_CALLS = 10_000
#: Values per record_many call.
N_MANY = 10_000_000
#: Values in the "typical" histogram used by encode/decode/add/export.
N_TYPICAL = 1_000_000
#: The four percentiles a dashboard asks for.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)

# The bars for the Python API (per call, in this process).
#: LatencyHistogram.record, ns per call (including the benchmark loop).
BAR_RECORD_NS = 60.0
#: ... and at least this many times faster than hdrhistogram's record_value.
BAR_RECORD_SPEEDUP_VS_HDRHISTOGRAM = 15.0
#: record_many on N_MANY int64 values, ns per value.
BAR_RECORD_MANY_NS_PER_VALUE = 2.0
#: Four percentiles of a full default histogram, µs.
BAR_PERCENTILES_US = 20.0

#: Same bounds as shanraq_core.prometheus.DEFAULT_BUCKETS (1 µs .. 10 s),
#: repeated here so the prometheus_client baseline observes into the same 22
#: buckets even where that module is absent. prometheus_client's observe scans
#: its buckets linearly, so their number matters.
PROMETHEUS_BUCKETS = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@functools.cache
def latencies_ns(n: int, seed: int = SEED) -> npt.NDArray[np.int64]:
    """``n`` lognormal latencies in ns as a read-only int64 array, clipped to
    the default range so every value is recordable."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(mean=math.log(20_000.0), sigma=1.0, size=n)
    out = np.clip(values, LOWEST, HIGHEST).astype(np.int64)
    out.flags.writeable = False
    return out


@functools.cache
def latencies_list(n: int = N_CALLS, seed: int = SEED) -> tuple[int, ...]:
    """The first ``n`` latencies as Python ints (per-call benchmarks)."""
    return tuple(latencies_ns(n, seed).tolist())


@functools.cache
def latencies_seconds_list(n: int = N_CALLS, seed: int = SEED) -> tuple[float, ...]:
    """The same latencies in seconds, as floats (prometheus_client observes
    seconds)."""
    return tuple((latencies_ns(n, seed) / 1e9).tolist())


def new_histogram() -> LatencyHistogram:
    return LatencyHistogram(LOWEST, HIGHEST, SIGNIFICANT_FIGURES)


def new_hdrhistogram() -> object:
    """The PyPI ``hdrhistogram`` package's HdrHistogram, same configuration."""
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(LOWEST, HIGHEST, SIGNIFICANT_FIGURES)


def new_prometheus_histogram(registry: object | None = None) -> object:
    """A prometheus_client Histogram with PROMETHEUS_BUCKETS, in ``registry``
    or a new private one (never the global registry, so benchmarks can build
    as many as they like)."""
    from prometheus_client import CollectorRegistry, Histogram

    if registry is None:
        registry = CollectorRegistry()
    return Histogram(
        "request_latency_seconds", "Request latency.", buckets=PROMETHEUS_BUCKETS, registry=registry
    )


@functools.cache
def slot_values() -> tuple[int, ...]:
    """One value per slot of the default histogram: every value in
    [0, HIGHEST] lands in exactly one of these slots (33,421 of them)."""
    h = new_histogram()
    out = []
    v = 0
    while v <= HIGHEST:
        out.append(v)
        v = h.highest_equivalent_value(v) + 1
    return tuple(out)


@functools.cache
def _slot_counts(seed: int = SEED) -> tuple[int, ...]:
    rng = np.random.default_rng(seed + 1)
    return tuple(rng.integers(1, 1_000, size=len(slot_values())).tolist())


def full_histogram(seed: int = SEED) -> LatencyHistogram:
    """A default histogram with every slot non-empty (seeded counts 1..999):
    the worst case for a percentile query, which walks the counts."""
    h = new_histogram()
    for v, c in zip(slot_values(), _slot_counts(seed), strict=True):
        h.record(v, c)
    return h


def full_hdrhistogram(seed: int = SEED) -> object:
    """The same counts in the hdrhistogram package's HdrHistogram."""
    h = new_hdrhistogram()
    for v, c in zip(slot_values(), _slot_counts(seed), strict=True):
        h.record_value(v, c)  # type: ignore[attr-defined]
    return h


def typical_histogram(n: int = N_TYPICAL, seed: int = SEED) -> LatencyHistogram:
    """``n`` lognormal latencies: the histogram a service exports each
    interval (a few thousand non-empty slots)."""
    h = new_histogram()
    h.record_many(latencies_ns(n, seed))
    return h


def typical_hdrhistogram(n: int = N_TYPICAL, seed: int = SEED) -> object:
    """The same values in the hdrhistogram package's HdrHistogram, recorded
    slot by slot (its record_value is too slow to take n calls in setup)."""
    src = typical_histogram(n, seed)
    h = new_hdrhistogram()
    values, counts = src.recorded_values()
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        h.record_value(v, c)  # type: ignore[attr-defined]
    return h


def noop() -> None:
    """The function body timed by the timer benchmarks: nothing, so what is
    measured is the timer itself."""


# ---- what is compared with what ---------------------------------------------
# One table drives the pytest-benchmark summary (conftest.py) and
# compare_hist.py, so both report the same comparisons against the same bars.


@dataclass(frozen=True)
class Operation:
    """A benchmark of bench_hist.py ("Class.method") and how many operations
    one call of it performs (to report time per operation)."""

    label: str
    benchmark: str
    per_call: int = 1


OPERATIONS: dict[str, Operation] = {
    "loop": Operation("empty `for` loop over the values (in every per-call row)",
                      "RecordPerCall.time_loop_only", N_CALLS),
    "record": Operation("`LatencyHistogram.record(v)`", "RecordPerCall.time_record", N_CALLS),
    "hdr_record": Operation("hdrhistogram `record_value(v)`",
                            "RecordPerCall.time_hdrhistogram_record_value", N_CALLS),
    "prom_observe": Operation("prometheus_client `Histogram.observe(s)`",
                              "RecordPerCall.time_prometheus_client_observe", N_CALLS),
    "recorder_record": Operation("`Recorder.record(v)`", "RecordPerCall.time_recorder_record", N_CALLS),
    "record_many": Operation(f"`record_many` of {N_MANY:,} int64, per value",
                             "RecordMany.time_record_many_int64", N_MANY),
    "percentiles": Operation("4 percentiles, full default histogram (`percentiles([...])`)",
                             "Percentiles.time_percentiles_list"),
    "hdr_percentiles": Operation("hdrhistogram `get_percentile_to_value_dict` (4)",
                                 "Percentiles.time_hdrhistogram_percentile_dict"),
    "pair": Operation("bare `perf_counter_ns()` pair", "Timers.time_perf_counter_ns_pair", N_CALLS),
    "time": Operation("`with hist.time(): pass`", "Timers.time_context_manager", N_CALLS),
    "pair_call": Operation("`perf_counter_ns()` pair around `noop()`",
                           "Timers.time_noop_call_with_pair", N_CALLS),
    "timed": Operation("`@hist.timed` `noop()`", "Timers.time_timed_decorator", N_CALLS),
    "encode": Operation("`encode()` (V2 base64), 1M-value histogram", "Interchange.time_encode"),
    "hdr_encode": Operation("hdrhistogram `encode()`", "Interchange.time_hdrhistogram_encode"),
    "decode": Operation("`LatencyHistogram.decode()`", "Interchange.time_decode"),
    "hdr_decode": Operation("hdrhistogram `decode()`", "Interchange.time_hdrhistogram_decode"),
    "add": Operation("`add()` of two 1M-value histograms", "Add.time_add_typical"),
    "hdr_add": Operation("hdrhistogram `add()`", "Add.time_hdrhistogram_add_typical"),
    "to_prometheus": Operation("`to_prometheus()` (22 buckets, 4 quantiles)",
                               "Prometheus.time_to_prometheus"),
    "prom_exposition": Operation("prometheus_client `generate_latest` (22 buckets)",
                                 "Prometheus.time_prometheus_client_generate_latest"),
}  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """One row of the table: ``operation`` against ``baseline`` (both keys of
    OPERATIONS), with the issue's bar if it has one."""

    operation: str
    baseline: str | None = None
    max_ns: float | None = None
    min_speedup: float | None = None


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("record", "hdr_record", max_ns=BAR_RECORD_NS, min_speedup=BAR_RECORD_SPEEDUP_VS_HDRHISTOGRAM),
    Comparison("record", "prom_observe"),
    Comparison("recorder_record", "record"),
    Comparison("record_many", "record", max_ns=BAR_RECORD_MANY_NS_PER_VALUE),
    Comparison("percentiles", "hdr_percentiles", max_ns=BAR_PERCENTILES_US * 1e3),
    Comparison("time", "pair"),
    Comparison("timed", "pair_call"),
    Comparison("encode", "hdr_encode"),
    Comparison("decode", "hdr_decode"),
    Comparison("add", "hdr_add"),
    Comparison("to_prometheus", "prom_exposition"),
    Comparison("loop"),
)


_TIMES = "\N{MULTIPLICATION SIGN}"


def format_ns(ns: float) -> str:
    """A duration in ns with a readable unit: 16.4 ns, 8.25 µs, 2.53 ms."""
    for scale, unit in ((1e6, "ms"), (1e3, "µs")):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _bar_text(c: Comparison) -> str:
    parts = []
    if c.max_ns is not None:
        parts.append(f"≤ {format_ns(c.max_ns)}")
    if c.min_speedup is not None:
        parts.append(f"≥ {c.min_speedup:g}{_TIMES} faster")
    return ", ".join(parts) or "—"


def markdown_table(medians_ns: Mapping[str, float]) -> str:
    """The comparison table (GitHub markdown) from median ns per operation,
    keyed like OPERATIONS; rows whose operation was not measured are left
    out. Ratio = baseline ÷ median (> 1: faster than the baseline; < 1: the
    extra cost is shown in ns)."""
    rows = [
        "| operation | median | baseline | ratio (baseline ÷ median) | bar | met? |",
        "| --- | ---: | --- | ---: | --- | --- |",
    ]
    for c in COMPARISONS:
        if c.operation not in medians_ns:
            continue
        median = medians_ns[c.operation]
        baseline_text, ratio_text, ratio = "—", "—", None
        if c.baseline is not None and c.baseline in medians_ns:
            base = medians_ns[c.baseline]
            ratio = base / median
            baseline_text = f"{OPERATIONS[c.baseline].label}: {format_ns(base)}"
            if ratio >= 1:
                ratio_text = f"{ratio:.1f}{_TIMES}"
            else:
                ratio_text = f"{ratio:.2f}{_TIMES} (+{format_ns(median - base)})"
        met = "—"
        if c.max_ns is not None or c.min_speedup is not None:
            ok = (c.max_ns is None or median <= c.max_ns) and (
                c.min_speedup is None or (ratio is not None and ratio >= c.min_speedup)
            )
            met = "yes" if ok else "**no**"
        rows.append(
            f"| {OPERATIONS[c.operation].label} | {format_ns(median)} | {baseline_text} | {ratio_text} "
            f"| {_bar_text(c)} | {met} |"
        )
    return "\n".join(rows)
