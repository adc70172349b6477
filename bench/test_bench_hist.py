"""pytest-benchmark microbenchmarks for the latency histogram.

    pytest bench --benchmark-enable                  # all, with the ratio table
    pytest bench --benchmark-enable -k "record"      # a subset

Not part of the normal test run: pytest collects only tests/ (testpaths), and
pyproject's addopts pass --benchmark-disable, under which each of these runs
its body once as a smoke test.

Every test times one method of an asv suite class of bench_hist.py, so the
two harnesses measure the same code on the same seeded data. Per-call
operations time a loop of N_CALLS (10,000) calls; the ns per operation are
derived from pytest-benchmark's median, and conftest.py prints the same
comparison table as compare_hist.py (ratios against hdrhistogram,
prometheus_client and the hand-written timer) at the end of the session.

This module does not import pytest: asv imports every module in bench/, in an
environment without pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import bench_hist as suites
from .common import OPERATIONS


def _benchmark_test(key: str) -> Callable[[Any, Any], None]:
    op = OPERATIONS[key]
    class_name, method_name = op.benchmark.split(".")

    def test(benchmark: Any, request: Any) -> None:
        suite = getattr(suites, class_name)()
        try:
            suite.setup()
        except NotImplementedError as e:  # the suite's own "not available" skip
            import pytest

            pytest.skip(str(e))
        benchmark.group = class_name
        benchmark.extra_info["operations_per_round"] = op.per_call
        benchmark(getattr(suite, method_name))
        if benchmark.stats is not None:  # None under --benchmark-disable
            median_ns = benchmark.stats.stats.median * 1e9 / op.per_call
            request.node.user_properties.append(("bench_median_ns", (key, median_ns)))

    test.__name__ = f"test_{key}"
    test.__doc__ = f"{op.label}: bench_hist.{op.benchmark}, {op.per_call} operation(s) per round."
    return test


test_loop = _benchmark_test("loop")
test_record = _benchmark_test("record")
test_hdr_record = _benchmark_test("hdr_record")
test_prom_observe = _benchmark_test("prom_observe")
test_recorder_record = _benchmark_test("recorder_record")
test_record_many = _benchmark_test("record_many")
test_percentiles = _benchmark_test("percentiles")
test_hdr_percentiles = _benchmark_test("hdr_percentiles")
test_pair = _benchmark_test("pair")
test_time = _benchmark_test("time")
test_pair_call = _benchmark_test("pair_call")
test_timed = _benchmark_test("timed")
test_encode = _benchmark_test("encode")
test_hdr_encode = _benchmark_test("hdr_encode")
test_decode = _benchmark_test("decode")
test_hdr_decode = _benchmark_test("hdr_decode")
test_add = _benchmark_test("add")
test_hdr_add = _benchmark_test("hdr_add")
test_to_prometheus = _benchmark_test("to_prometheus")
test_prom_exposition = _benchmark_test("prom_exposition")


def test_every_operation_has_a_test() -> None:
    missing = {f"test_{key}" for key in OPERATIONS} - set(globals())
    assert not missing, f"OPERATIONS without a test: {sorted(missing)}"
