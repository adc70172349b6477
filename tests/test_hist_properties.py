"""Hypothesis properties: accuracy against exact percentiles, merging,
round trips, and equivalence of the batch and per-call paths."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shanraq_core import LatencyHistogram
from tests.reference import exact_percentile

HOUR_NS = 3_600_000_000_000

configs = st.tuples(
    st.sampled_from([1, 1, 2, 10, 1000]),
    st.sampled_from([10**6, 10**9, HOUR_NS, 2**62]),
    st.integers(1, 5),
)
# Values spanning many magnitudes: latency-like data is log-distributed.
values_strategy = st.lists(
    st.one_of(st.integers(0, 2000), st.integers(0, 10**6), st.integers(0, 10**12)),
    min_size=1,
    max_size=300,
)
percentiles = st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=1, max_size=8)


@given(configs, values_strategy, percentiles)
def test_percentiles_within_precision_of_exact(
    config: tuple[int, int, int], values: list[int], ps: list[float]
) -> None:
    lowest, highest, digits = config
    values = [v for v in values if v <= highest]
    if not values:
        values = [0]
    h = LatencyHistogram(lowest, highest, digits)
    for v in values:
        h.record(v)
    data = sorted(values)
    assert h.total_count == len(data)
    assert h.min == data[0]
    assert h.max == data[-1]
    assert h.sum == sum(data)
    assert h.mean == float(np.mean(np.array(data, dtype=np.float64)))
    unit = 1 << (lowest.bit_length() - 1)
    reported = h.percentiles(ps)
    for p, got in zip(ps, reported.tolist(), strict=True):
        exact = exact_percentile(data, p)
        # Within one slot of the exact value: relative 10^-digits, or the
        # unit (lowest's power of two) for the smallest values.
        assert abs(got - exact) <= max(exact / 10**digits, unit), (p, got, exact)
        assert got == h.value_at_percentile(p)
    # Bracketed by numpy's neighbouring ranks too.
    np_lo = int(np.percentile(data, 50, method="lower"))
    np_hi = int(np.percentile(data, 50, method="higher"))
    p50 = h.value_at_percentile(50)
    assert h.lowest_equivalent_value(np_lo) <= p50 <= h.highest_equivalent_value(np_hi) or abs(
        p50 - exact_percentile(data, 50)
    ) <= max(exact_percentile(data, 50) / 10**digits, unit)


@given(values_strategy)
def test_stdev_within_precision(values: list[int]) -> None:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    exact = float(np.std(np.array(values, dtype=np.float64)))
    # Slot midpoints are within 10^-3 relative (or 1 ns) of each value.
    tolerance = max(values) / 1000 + 1
    assert abs(h.stdev - exact) <= tolerance


@given(st.lists(values_strategy, min_size=1, max_size=5), configs)
def test_merge_equals_recording_everything(parts: list[list[int]], config: tuple[int, int, int]) -> None:
    lowest, highest, digits = config
    merged = LatencyHistogram(lowest, highest, digits)
    everything = LatencyHistogram(lowest, highest, digits)
    for part in parts:
        h = LatencyHistogram(lowest, highest, digits)
        for v in part:
            if v <= highest:
                h.record(v)
                everything.record(v)
        merged += h
    assert merged == everything


@given(configs, values_strategy)
def test_encode_decode_round_trip(config: tuple[int, int, int], values: list[int]) -> None:
    lowest, highest, digits = config
    h = LatencyHistogram(lowest, highest, digits)
    for v in values:
        if v <= highest:
            h.record(v)
    encoded = h.encode()
    back = LatencyHistogram.decode(encoded)
    assert back.total_count == h.total_count
    assert back.recorded_values()[0].tolist() == h.recorded_values()[0].tolist()
    assert back.recorded_values()[1].tolist() == h.recorded_values()[1].tolist()
    assert back.percentiles([0, 50, 90, 99, 100]).tolist() == h.percentiles([0, 50, 90, 99, 100]).tolist()
    assert back.encode() == encoded
    assert LatencyHistogram.decode(encoded.encode()) == back
    assert LatencyHistogram.restore(h.snapshot()) == h


@given(hnp.arrays(np.int64, st.integers(0, 500), elements=st.integers(-(10**6), 4 * 10**12)))
def test_record_many_equals_per_call(values: np.ndarray) -> None:
    batch = LatencyHistogram()
    rejected = batch.record_many(values)
    single = LatencyHistogram()
    expected_rejects = 0
    for v in values.tolist():
        try:
            single.record(v)
        except ValueError:
            expected_rejects += 1
    assert rejected == expected_rejects
    assert batch.total_count == single.total_count
    assert batch.recorded_values()[1].tolist() == single.recorded_values()[1].tolist()
    assert (batch.min, batch.max, batch.sum) == (single.min, single.max, single.sum)


@given(st.binary(max_size=200))
def test_decode_garbage_never_crashes(data: bytes) -> None:
    import base64

    for candidate in (data, base64.b64encode(data)):
        try:
            h = LatencyHistogram.decode(candidate)
        except ValueError:
            continue
        assert h.total_count >= 0


@given(st.binary(max_size=300))
def test_restore_garbage_never_crashes(data: bytes) -> None:
    try:
        LatencyHistogram.restore(data)
    except ValueError:
        return
    raise AssertionError("random bytes restored as a histogram")


@given(st.integers(0, 10**9), st.integers(0, 2000), st.integers(1, 3))
def test_record_corrected_total(value: int, interval: int, count: int) -> None:
    h = LatencyHistogram()
    h.record_corrected(value, interval, count)
    synthesized = value // interval - 1 if 0 < interval < value else 0
    assert h.total_count == count * (synthesized + 1)
    assert h.max == value
    if synthesized:
        assert h.min == value - synthesized * interval
