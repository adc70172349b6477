"""The gateway's Prometheus metrics, named by the metrics contract (docs/service.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import HistogramMetricFamily

from shanraq_core.hist import LatencyHistogram
from shanraq_core.prometheus import DEFAULT_BUCKETS, HistogramCollector

__all__ = ["BUCKETS", "GatewayMetrics"]

#: The package's default bounds, which hold the targets 1e-4, 5e-4 and 1e-3 exactly.
BUCKETS = DEFAULT_BUCKETS
assert {1e-4, 5e-4, 1e-3} <= set(BUCKETS)

ROLES = ("primary", "standby", "fenced", "single")

# The *_created series double every counter family for no use on these dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _StagedHistograms:
    """One ``shanraq_command_latency_seconds`` family with a ``stage`` label,
    each stage's series rendered by a HistogramCollector (prometheus_client
    refuses two collectors of one name, so their samples are merged here)."""

    def __init__(self, stages: dict[str, LatencyHistogram]) -> None:
        self._parts = [
            HistogramCollector(
                h,
                "shanraq_command_latency_seconds",
                "Gateway latency by stage (ack: frame in to durable report out; engine: batch apply)",
                buckets=BUCKETS,
                quantiles=(),
                labels={"stage": stage},
            )
            for stage, h in stages.items()
        ]

    def _merge(self, families: Iterator[Any]) -> Iterator[Any]:
        out = HistogramMetricFamily(
            "shanraq_command_latency_seconds",
            "Gateway latency by stage (ack: frame in to durable report out; engine: batch apply)",
            labels=["stage"],
        )
        for fam in families:
            out.samples.extend(fam.samples)
        yield out

    def describe(self) -> Iterator[Any]:
        return self._merge(fam for part in self._parts for fam in part.describe())

    def collect(self) -> Iterator[Any]:
        return self._merge(fam for part in self._parts for fam in part.collect())


class GatewayMetrics:
    """Every metric of the contract, in its own registry. Updated only on
    the event loop's thread (the histograms are single-writer)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ack = LatencyHistogram()
        self.engine = LatencyHistogram()
        r.register(_StagedHistograms({"ack": self.ack, "engine": self.engine}))
        self.commands = Counter(
            "shanraq_commands", "Commands accepted into the exchange", ["kind"], registry=r
        )
        self.rejects = Counter("shanraq_rejects", "Commands the exchange rejected", ["reason"], registry=r)
        self.frame_errors = Counter(
            "shanraq_frame_errors", "Frames refused by the gateway", ["code"], registry=r
        )
        self.durable = Gauge("shanraq_durable_sequence", "Last sequence number durable", registry=r)
        self.applied = Gauge("shanraq_applied_sequence", "Last sequence applied by this node", registry=r)
        self.lag_commands = Gauge(
            "shanraq_replication_lag_commands", "Standby: commands behind the primary", registry=r
        )
        self.lag_seconds = Gauge("shanraq_replication_lag_seconds", "Standby lag in seconds", registry=r)
        self.role = Gauge("shanraq_role", "1 for the node's current role", ["role"], registry=r)
        self.failovers = Counter("shanraq_failovers", "Promotions this node performed", registry=r)
        self.connections = Gauge("shanraq_connections", "Open client connections", ["listener"], registry=r)
        for listener in ("trading", "http"):
            self.connections.labels(listener)
        self.set_role("single")

    def set_role(self, role: str) -> None:
        for r in ROLES:
            self.role.labels(r).set(1.0 if r == role else 0.0)
