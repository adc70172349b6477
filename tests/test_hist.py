"""Behaviour of LatencyHistogram: recording, queries, merging, errors."""

from __future__ import annotations

import copy
import functools
import pickle

import numpy as np
import pytest

import shanraq_core
from shanraq_core import LatencyHistogram
from tests.reference import RefLayout

HOUR_NS = 3_600_000_000_000


def test_version_is_exported() -> None:
    assert isinstance(shanraq_core.__version__, str)
    assert shanraq_core.__version__.count(".") >= 2


def test_defaults_and_memory() -> None:
    h = LatencyHistogram()
    assert h.lowest_discernible_value == 1
    assert h.highest_trackable_value == HOUR_NS
    assert h.significant_figures == 3
    assert h.memory_size <= 200_000
    assert h.total_count == 0
    assert (h.min, h.max, h.mean, h.stdev) == (0, 0, 0.0, 0.0)
    assert h.value_at_percentile(99.0) == 0


def test_record_and_exact_stats() -> None:
    h = LatencyHistogram()
    for v in (5, 1000, 1000, 123_456, 7):
        h.record(v)
    h.record(42, count=3)
    assert h.total_count == 8
    assert h.min == 5
    assert h.max == 123_456
    assert h.sum == 5 + 1000 + 1000 + 123_456 + 7 + 3 * 42
    assert h.mean == pytest.approx(h.sum / 8, rel=1e-12)
    assert h.count_at_value(1000) == 2
    assert h.count_at_value(42) == 3
    assert h.value_at_percentile(50) == 42
    assert h.value_at_percentile(0) == 5
    assert h.value_at_percentile(100) == h.highest_equivalent_value(123_456)


def test_numpy_integer_scalars_are_accepted() -> None:
    h = LatencyHistogram()
    h.record(np.int64(10))
    h.record(np.uint32(11), count=np.int16(2))
    assert h.total_count == 3


@pytest.mark.parametrize("value", [-1, HOUR_NS + 1, 2**63 - 1, 2**63, -(2**70)])
def test_out_of_range_value_raises_and_changes_nothing(value: int) -> None:
    h = LatencyHistogram()
    h.record(10)
    before = h.snapshot()
    with pytest.raises(ValueError, match=r"\[0, 3600000000000\]"):
        h.record(value)
    assert h.snapshot() == before


@pytest.mark.parametrize("value", [1.5, 1.0, "10", None, True, b"1"])
def test_non_integer_value_raises_type_error(value: object) -> None:
    h = LatencyHistogram()
    with pytest.raises(TypeError, match="integer"):
        h.record(value)  # type: ignore[arg-type]
    assert h.total_count == 0


@pytest.mark.parametrize("count", [0, -1])
def test_bad_count(count: int) -> None:
    h = LatencyHistogram()
    with pytest.raises(ValueError, match="count"):
        h.record(5, count)
    assert h.total_count == 0


def test_total_count_overflow_is_an_error_not_a_wrap() -> None:
    h = LatencyHistogram()
    h.record(1, 2**63 - 1)
    h.record(1, 2**63 - 1)
    with pytest.raises(OverflowError):
        h.record(1, 2)
    assert h.total_count == 2**64 - 2


def test_slot_counts_past_32_bits() -> None:
    h = LatencyHistogram()
    h.record(100, 2**32 - 1)
    h.record(100, 10)
    h.record_many(np.array([100], dtype=np.int64))
    assert h.count_at_value(100) == 2**32 + 10
    assert LatencyHistogram.restore(h.snapshot()) == h
    assert LatencyHistogram.decode(h.encode()).count_at_value(100) == 2**32 + 10


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 100, 3), "lowest"),
        ((1, 100, 0), "significant_figures"),
        ((1, 100, 6), "significant_figures"),
        ((100, 150, 3), "highest"),
        ((1, 2**64, 3), "highest"),
    ],
)
def test_bad_configuration(args: tuple[int, int, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LatencyHistogram(*args)


def test_bad_configuration_types() -> None:
    with pytest.raises(TypeError):
        LatencyHistogram(1.0, 100, 3)  # type: ignore[arg-type]


def test_percentile_validation() -> None:
    h = LatencyHistogram()
    h.record(1)
    for p in (-0.1, 100.5, float("nan")):
        with pytest.raises(ValueError, match="percentile"):
            h.value_at_percentile(p)
        with pytest.raises(ValueError, match="percentile"):
            h.percentiles([50, p])
    with pytest.raises(TypeError):
        h.value_at_percentile("50")  # type: ignore[arg-type]


def test_percentiles_array_matches_single_calls() -> None:
    rng = np.random.default_rng(5)
    h = LatencyHistogram()
    h.record_many(rng.integers(1, 10**9, 10_000))
    ps = [99.9, 0, 50, 25, 100, 90, 99]
    out = h.percentiles(ps)
    assert out.dtype == np.int64
    assert out.tolist() == [h.value_at_percentile(p) for p in ps]
    assert h.percentiles([]).shape == (0,)


def test_record_many_counts_and_reports_rejects() -> None:
    h = LatencyHistogram(1, 1000, 2)
    values = np.array([1, 2, 3, -5, 100, 5000, 1000], dtype=np.int64)
    assert h.record_many(values) == 2
    assert h.total_count == 5
    assert h.rejected_count == 2
    assert (h.min, h.max) == (1, 1000)
    assert h.record_many(np.array([], dtype=np.int64)) == 0
    assert h.record_many([]) == 0
    with pytest.raises(TypeError, match="integer"):
        h.record_many(np.array([], dtype=np.float64))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_record_many_every_integer_dtype(dtype: str) -> None:
    values = np.arange(1, 100, dtype=dtype)
    a = LatencyHistogram()
    assert a.record_many(values) == 0
    b = LatencyHistogram()
    for v in values.tolist():
        b.record(v)
    assert a == b


def test_record_many_huge_unsigned_is_rejected_not_wrapped() -> None:
    h = LatencyHistogram()
    assert h.record_many(np.array([2**64 - 1, 2**63, 5], dtype=np.uint64)) == 2
    assert h.total_count == 1
    assert h.max == 5


def test_record_many_noncontiguous_and_2d() -> None:
    values = np.arange(1, 201, dtype=np.int64).reshape(20, 10)
    a = LatencyHistogram()
    a.record_many(values[:, ::2])
    b = LatencyHistogram()
    for v in values[:, ::2].ravel().tolist():
        b.record(v)
    assert a == b


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), np.array([True]), np.array(["1"]), [1.5]])
def test_record_many_wrong_dtype(bad: object) -> None:
    h = LatencyHistogram()
    with pytest.raises(TypeError, match="integer"):
        h.record_many(bad)
    assert h.total_count == 0


def test_record_many_accepts_lists_of_ints() -> None:
    h = LatencyHistogram()
    assert h.record_many([1, 2, 3]) == 0
    assert h.total_count == 3


def naive_corrected(h: LatencyHistogram, value: int, interval: int) -> None:
    h.record(value)
    if interval <= 0 or value <= interval:
        return
    missing = value - interval
    while missing >= interval:
        h.record(missing)
        missing -= interval


@pytest.mark.parametrize(
    ("value", "interval"),
    [
        (v, i)
        for v in (1, 50, 10_007, 1_234_567)
        for i in (0, 1, 7, 100, 10_000)
        if v * (i > 0) // max(i, 1) < 200_000
    ],
)
def test_record_corrected_matches_hdrhistogram_definition(value: int, interval: int) -> None:
    a = LatencyHistogram()
    a.record_corrected(value, interval)
    b = LatencyHistogram()
    naive_corrected(b, value, interval)
    assert a == b


def test_record_corrected_errors() -> None:
    h = LatencyHistogram()
    with pytest.raises(ValueError, match="range"):
        h.record_corrected(HOUR_NS + 1, 10)
    with pytest.raises(ValueError, match="expected_interval"):
        h.record_corrected(10, -1)
    assert h.total_count == 0


def test_record_corrected_huge_value_is_fast_and_exact() -> None:
    h = LatencyHistogram()
    h.record_corrected(HOUR_NS, 1)
    assert h.total_count == HOUR_NS
    assert h.min == 1
    assert h.sum == HOUR_NS * (HOUR_NS + 1) // 2


def test_recorded_values_and_iteration() -> None:
    h = LatencyHistogram()
    h.record(10, 2)
    h.record(10_000, 3)
    values, counts = h.recorded_values()
    ref = RefLayout(1, HOUR_NS, 3)
    assert values.tolist() == [10, ref.highest_equivalent(10_000)]
    assert counts.tolist() == [2, 3]
    assert list(h) == [(10, 2), (ref.highest_equivalent(10_000), 3)]
    assert h.count_between_values(0, 100) == 2
    assert h.count_between_values(0, 10_000) == 5


def test_equivalent_values_match_reference() -> None:
    for lowest, digits in [(1, 3), (1, 1), (1000, 2), (7, 5)]:
        h = LatencyHistogram(lowest, HOUR_NS, digits)
        ref = RefLayout(lowest, HOUR_NS, digits)
        for v in [0, 1, 999, 2047, 2048, 12_345, 10**9 + 7, HOUR_NS]:
            assert h.lowest_equivalent_value(v) == ref.lowest_equivalent(v)
            assert h.highest_equivalent_value(v) == ref.highest_equivalent(v)


def test_reset() -> None:
    h = LatencyHistogram()
    h.record_many(np.arange(1, 1000))
    h.record_many(np.array([-1]))
    h.reset()
    assert h == LatencyHistogram()
    assert h.rejected_count == 0


def test_add_and_operators() -> None:
    a = LatencyHistogram()
    b = LatencyHistogram()
    a.record(10)
    b.record(20, 2)
    c = a + b
    assert c.total_count == 3
    assert a.total_count == 1
    a += b
    assert a == c
    a += a
    assert a.total_count == 6
    with pytest.raises(TypeError):
        a.add(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        a += 5  # type: ignore[arg-type]


def test_add_compatible_configuration() -> None:
    coarse = LatencyHistogram(1, 10**6, 2)
    coarse.record(123_456, 4)
    fine = LatencyHistogram()
    fine.add(coarse)
    assert fine.total_count == 4
    # Statistics follow the re-recorded values (the coarse slot's lowest value).
    assert fine.max == coarse.lowest_equivalent_value(123_456)
    assert fine.count_at_value(fine.max) == 4
    assert fine.value_at_percentile(100) == fine.highest_equivalent_value(fine.max)


def test_decoded_max_never_exceeds_highest() -> None:
    h = LatencyHistogram(1, 1000, 1)
    h.record(1000)
    back = LatencyHistogram.decode(h.encode())
    assert back.max == 1000
    other = LatencyHistogram(1, 1000, 3)
    other.add(back)
    assert other.total_count == 1


def test_add_incompatible_range_raises_and_changes_nothing() -> None:
    small = LatencyHistogram(1, 1000, 2)
    small.record(5)
    big = LatencyHistogram()
    big.record(10**6)
    before = small.snapshot()
    with pytest.raises(ValueError, match="highest trackable"):
        small.add(big)
    assert small.snapshot() == before


def test_copy_is_independent() -> None:
    h = LatencyHistogram(1, 10**6, 2)
    h.record(5)
    for c in (h.copy(), copy.copy(h), copy.deepcopy(h)):
        assert c == h
        assert type(c) is LatencyHistogram
        c.record(6)
        assert c != h
    assert h.total_count == 1


def test_pickle_round_trip() -> None:
    h = LatencyHistogram(10, 10**9, 4)
    h.record_many(np.arange(1, 10_000, 7))
    back = pickle.loads(pickle.dumps(h))
    assert back == h
    assert type(back) is LatencyHistogram


def test_snapshot_restore_exact() -> None:
    h = LatencyHistogram(10, 10**9, 4)
    h.record_many(np.arange(1, 10_000, 7))
    h.record_many(np.array([-3]))
    back = LatencyHistogram.restore(h.snapshot())
    assert back == h
    assert back.rejected_count == 1
    assert back.snapshot() == h.snapshot()
    assert LatencyHistogram.restore(bytearray(h.snapshot())) == h


@pytest.mark.parametrize("cut", [0, 1, 40, 87, 88, 1000, -1])
def test_restore_truncated(cut: int) -> None:
    h = LatencyHistogram()
    h.record(5)
    with pytest.raises(ValueError, match="snapshot"):
        LatencyHistogram.restore(h.snapshot()[:cut])


def test_restore_corrupt_fields() -> None:
    h = LatencyHistogram()
    h.record(5)
    snap = bytearray(h.snapshot())
    for offset in (0, 4, 8, 24, 32, 48, 56, 64, 80, 88 + 5 * 4, len(snap) - 1):
        bad = bytearray(snap)
        bad[offset] ^= 0x5A
        with pytest.raises(ValueError, match="snapshot"):
            LatencyHistogram.restore(bytes(bad))


def test_restore_wrong_type() -> None:
    with pytest.raises(TypeError):
        LatencyHistogram.restore("not bytes")  # type: ignore[arg-type]


def test_time_context_manager_records_elapsed() -> None:
    h = LatencyHistogram()
    with h.time() as t:
        sum(range(1000))
    assert h.total_count == 1
    assert t.elapsed_ns > 0
    assert h.min == t.elapsed_ns
    with pytest.raises(ZeroDivisionError), h.time():
        1 / 0  # noqa: B018
    assert h.total_count == 2


def test_timed_decorator() -> None:
    h = LatencyHistogram()

    @h.timed
    def work(x: int, *, y: int = 1) -> int:
        """Doc."""
        return x + y

    assert work(1, y=2) == 3
    assert work.__name__ == "work"
    assert work.__doc__ == "Doc."
    assert h.total_count == 1

    @h.timed
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert h.total_count == 2

    class Service:
        @h.timed
        def handle(self, n: int) -> int:
            return n * 2

    assert Service().handle(4) == 8
    assert h.total_count == 3
    assert functools.partial(work, 5)() == 6


def test_timer_out_of_range_counts_rejects() -> None:
    h = LatencyHistogram(1, 2, 1)
    with h.time():
        sum(range(10_000))
    assert h.total_count == 0
    assert h.rejected_count == 1


def test_repr() -> None:
    assert repr(LatencyHistogram()) == (
        "LatencyHistogram(lowest=1, highest=3600000000000, significant_figures=3, total_count=0)"
    )


def test_uninitialised_base_is_safe() -> None:
    h = LatencyHistogram.__new__(LatencyHistogram)
    with pytest.raises(RuntimeError):
        h.record(1)
    with pytest.raises(RuntimeError):
        _ = h.total_count
    h2 = LatencyHistogram()
    with pytest.raises(RuntimeError):
        h2.__init__()  # type: ignore[misc]
