"""deploy/grafana: the committed dashboard JSON is exactly what deploy/grafana/dashboard.py
(grafanalib) generates, it shows the targets as threshold lines, and every query it runs parses and
evaluates in a real Prometheus with the deployment's rules, over the contract's metric names."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from .ops_servers import DEPLOY, LocalPrometheus

CONTRACT = {
    "shanraq_command_latency_seconds",
    "shanraq_commands_total",
    "shanraq_rejects_total",
    "shanraq_frame_errors_total",
    "shanraq_durable_sequence",
    "shanraq_applied_sequence",
    "shanraq_replication_lag_commands",
    "shanraq_replication_lag_seconds",
    "shanraq_role",
    "shanraq_failovers_total",
    "shanraq_connections",
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("shanraq_dashboard", DEPLOY / "grafana" / "dashboard.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed() -> dict[str, Any]:
    return dict(json.loads((DEPLOY / "grafana" / "shanraq.json").read_text()))


def _exprs(doc: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", []) if "expr" in t]


def test_committed_json_is_the_generators_output() -> None:
    assert (DEPLOY / "grafana" / "shanraq.json").read_text() == _generator().render(), (
        "regenerate: python deploy/grafana/dashboard.py > deploy/grafana/shanraq.json"
    )


def test_latency_panel_has_the_targets_as_thresholds() -> None:
    panels = {p["title"]: p for p in _committed()["panels"]}
    latency = next(p for t, p in panels.items() if t.startswith("Command latency"))
    defaults = latency["fieldConfig"]["defaults"]
    assert defaults["unit"] == "s"
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"
    steps = [s["value"] for s in defaults["thresholds"]["steps"]]
    assert steps == [None, 0.0001, 0.0005, 0.001]
    for wanted in ("Throughput", "Rejects", "Frame errors", "Replication lag", "Role", "Failovers"):
        assert any(t.startswith(wanted) for t in panels), wanted


def test_queries_use_contract_names_and_defined_rules() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    exprs = _exprs(_committed())
    assert exprs
    for expr in exprs:
        for name in re.findall(r"\b(shanraq_[a-z_]+|[a-z_]+:[a-z_0-9]+:[a-z_0-9]+)\b", expr):
            if ":" in name:
                assert name in recorded, (name, expr)
            else:
                assert re.sub(r"_(bucket|count|sum)$", "", name) in CONTRACT, (name, expr)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[LocalPrometheus]:
    prom = LocalPrometheus([])
    try:
        yield prom
    finally:
        prom.close()


@pytest.mark.servers
def test_every_query_evaluates_in_prometheus(prometheus: LocalPrometheus) -> None:
    for expr in _exprs(_committed()):
        prometheus.query(expr.replace("$job", "shanraq_gateway"))
