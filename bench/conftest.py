"""Prints the ratio table at the end of ``pytest bench --benchmark-enable``.

Each test in test_bench_hist.py stores its median ns per operation in its
report's user_properties; this collects them and prints the table that
compare_hist.py prints (same comparisons and bars, from common.py). Only
hooks, no pytest import: asv imports every module in bench/, in an
environment without pytest.
"""

from __future__ import annotations

from typing import Any

from .common import markdown_table

_medians_ns: dict[str, float] = {}


def pytest_runtest_logreport(report: Any) -> None:
    if report.when != "call" or not report.passed:
        return
    for name, value in report.user_properties:
        if name == "bench_median_ns":
            key, median_ns = value
            _medians_ns[key] = median_ns


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _medians_ns:
        return
    terminalreporter.section("shanraq_core histogram: medians and ratios")
    terminalreporter.write_line(
        "(pytest-benchmark medians; per-call rows include the loop; one process, noisy machine)"
    )
    terminalreporter.write_line(markdown_table(_medians_ns))
