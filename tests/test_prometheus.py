"""Prometheus export, checked by parsing with prometheus_client's own parser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shanraq_core import LatencyHistogram
from shanraq_core.prometheus import DEFAULT_BUCKETS, HistogramCollector


def _hist() -> LatencyHistogram:
    h = LatencyHistogram()
    # 1 µs .. ~50 ms, log-spread, seeded.
    values = np.exp(np.random.default_rng(3).uniform(np.log(1_000), np.log(5e7), 5000)).astype(np.int64)
    h.record_many(values)
    h.record(500)
    return h


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_text_parses_and_matches_histogram() -> None:
    h = _hist()
    text = h.to_prometheus("rpc_latency_seconds", "RPC latency.\nSecond line", labels={"svc": 'a"b'})
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["rpc_latency_seconds"].type == "histogram"
    assert families["rpc_latency_seconds_quantile"].type == "gauge"
    s = _samples(text)
    buckets = s["rpc_latency_seconds_bucket"]
    assert [lab["le"] for lab, _ in buckets][-1] == "+Inf"
    assert all(lab["svc"] == 'a"b' for lab, _ in buckets)
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == h.total_count
    assert s["rpc_latency_seconds_count"][0][1] == h.total_count
    assert s["rpc_latency_seconds_sum"][0][1] == pytest.approx(h.sum / 1e9)
    data_le_1us = h.count_between_values(0, 1000)
    assert dict((lab["le"], v) for lab, v in buckets)["1e-06"] == data_le_1us
    for lab, v in s["rpc_latency_seconds_quantile"]:
        assert v == pytest.approx(h.value_at_percentile(float(lab["quantile"]) * 100) / 1e9)


def test_bucket_counts_within_precision() -> None:
    values = np.exp(np.random.default_rng(9).uniform(0, np.log(2e9), 20_000)).astype(np.int64)
    h = LatencyHistogram()
    h.record_many(values)
    s = _samples(h.to_prometheus("x_seconds", "x"))
    for lab, count in s["x_seconds_bucket"]:
        le = float(lab["le"])
        if math.isinf(le):
            assert count == len(values)
            continue
        le_ns = le * 1e9
        exact_low = int(np.sum(values <= le_ns * (1 - 1e-3)))
        exact_high = int(np.sum(values <= le_ns * (1 + 1e-3)))
        assert exact_low <= count <= exact_high


def test_empty_histogram() -> None:
    s = _samples(LatencyHistogram().to_prometheus("e_seconds", "empty"))
    assert all(v == 0 for _, v in s["e_seconds_bucket"])
    assert s["e_seconds_count"][0][1] == 0
    assert all(v == 0 for _, v in s["e_seconds_quantile"])


def test_custom_buckets_and_quantiles() -> None:
    h = _hist()
    text = h.to_prometheus("c_seconds", "c", buckets=[1e-5, 1e-3, math.inf], quantiles=[0.5])
    s = _samples(text)
    assert [lab["le"] for lab, _ in s["c_seconds_bucket"]] == ["1e-05", "0.001", "+Inf"]
    assert [lab["quantile"] for lab, _ in s["c_seconds_quantile"]] == ["0.5"]
    text = h.to_prometheus("c_seconds", "c", quantiles=[])
    assert "c_seconds_quantile" not in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name"},
        {"name": "1abc"},
        {"buckets": []},
        {"buckets": [1.0, 0.5]},
        {"buckets": [float("nan")]},
        {"quantiles": [1.5]},
        {"labels": {"le": "x"}},
        {"labels": {"bad-label": "x"}},
    ],
)
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"name": "ok_seconds", "help": "h"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=r"invalid|must|reserved"):
        LatencyHistogram().to_prometheus(**args)  # type: ignore[arg-type]


def test_collector_with_registry() -> None:
    h = _hist()
    registry = CollectorRegistry()
    registry.register(
        HistogramCollector(h, "svc_latency_seconds", "Service latency", labels={"route": "/pay"})
    )
    text = generate_latest(registry).decode()
    s = _samples(text)
    assert s["svc_latency_seconds_count"][0] == ({"route": "/pay"}, h.total_count)
    assert len(s["svc_latency_seconds_bucket"]) == len(DEFAULT_BUCKETS) + 1
    ours = _samples(h.to_prometheus("svc_latency_seconds", "Service latency", labels={"route": "/pay"}))
    assert [v for _, v in s["svc_latency_seconds_bucket"]] == [
        v for _, v in ours["svc_latency_seconds_bucket"]
    ]
    assert [v for _, v in s["svc_latency_seconds_quantile"]] == pytest.approx(
        [v for _, v in ours["svc_latency_seconds_quantile"]]
    )
    # Later records appear at the next scrape.
    h.record(10**9)
    again = _samples(generate_latest(registry).decode())
    assert again["svc_latency_seconds_count"][0][1] == h.total_count


def test_collector_with_callable_source() -> None:
    from shanraq_core import Recorder

    rec = Recorder()
    total = LatencyHistogram()

    def fold() -> LatencyHistogram:
        total.add(rec.interval_histogram())
        return total

    registry = CollectorRegistry()
    registry.register(HistogramCollector(fold, "r_seconds", "r"))
    rec.record(1000)
    rec.record(2000)
    assert _samples(generate_latest(registry).decode())["r_seconds_count"][0][1] == 2
    rec.record(3000)
    assert _samples(generate_latest(registry).decode())["r_seconds_count"][0][1] == 3
