"""A real Prometheus (Debian) scrapes a real exposition endpoint serving the contract's histogram
through the package's HistogramCollector, and its query API returns our series with exact bucket
counts; the deployment's rules load and evaluate on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import MetricsHandler

from shanraq_core.hist import LatencyHistogram
from shanraq_core.prometheus import HistogramCollector

from .ops_servers import LocalPrometheus, poll

pytestmark = pytest.mark.servers

NAME = "shanraq_command_latency_seconds"


@pytest.fixture
def exposition() -> Iterator[tuple[int, LatencyHistogram]]:
    hist = LatencyHistogram()
    # 700 commands in 50 µs, 200 in 300 µs, 90 in 800 µs, 10 in 3 ms (ns).
    for value, n in ((50_000, 700), (300_000, 200), (800_000, 90), (3_000_000, 10)):
        for _ in range(n):
            hist.record(value)
    registry = CollectorRegistry()
    registry.register(
        HistogramCollector(hist, NAME, "client frame in to durable report out", labels={"stage": "ack"})
    )
    role = Gauge("shanraq_role", "current role", ["role"], registry=registry)
    role.labels("primary").set(1)
    role.labels("standby").set(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), hist
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def prometheus(exposition: tuple[int, LatencyHistogram]) -> Iterator[LocalPrometheus]:
    prom = LocalPrometheus([f"127.0.0.1:{exposition[0]}"])
    try:
        yield prom
    finally:
        prom.close()


def _by_le(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["le"]: float(r["value"][1]) for r in result}


def test_prometheus_scrapes_the_histogram_with_exact_target_buckets(
    prometheus: LocalPrometheus, exposition: tuple[int, LatencyHistogram]
) -> None:
    up = poll("target scraped", lambda: prometheus.query('up{job="shanraq_gateway"} == 1'))
    assert len(up) == 1
    buckets = _by_le(poll("buckets", lambda: prometheus.query(f'{NAME}_bucket{{stage="ack"}}')))
    # The targets' bounds, exactly as the rules select them.
    assert buckets["0.0001"] == 700
    assert buckets["0.0005"] == 900
    assert buckets["0.001"] == 990
    assert buckets["+Inf"] == 1000
    count = prometheus.query(f'{NAME}_count{{stage="ack"}}')
    assert [float(r["value"][1]) for r in count] == [1000]
    assert prometheus.query('shanraq_role{role="primary"}')[0]["metric"]["instance"] == (
        f"127.0.0.1:{exposition[0]}"
    )


def test_prometheus_loads_the_rules_and_computes_availability(prometheus: LocalPrometheus) -> None:
    groups = {g["name"]: g for g in prometheus.rule_groups()}
    assert {"shanraq_latency_recording", "shanraq_availability_recording", "shanraq_slo_alerts"} <= set(
        groups
    )
    for g in groups.values():
        for rule in g["rules"]:
            assert rule.get("health") in ("ok", "unknown"), rule
    # Our one target is up and primary: the availability rule says 1 once it has evaluated.
    available = poll("availability recorded", lambda: prometheus.query("job:shanraq_primary_available:max"))
    assert [(r["metric"]["job"], float(r["value"][1])) for r in available] == [("shanraq_gateway", 1.0)]
