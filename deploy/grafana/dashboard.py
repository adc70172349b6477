"""The shanraq gateway dashboard, generated with grafanalib (docs/deployment.md#dashboard).

    python deploy/grafana/dashboard.py > deploy/grafana/shanraq.json

tests/service/test_grafana_dashboard.py checks the committed JSON equals this script's output.
Queries use the recording rules of deploy/prometheus/rules.yml where one exists.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    RowPanel,
    Stat,
    Target,
    Template,
    Templating,
    TimeSeries,
)

DATASOURCE = "${datasource}"
JOB = 'job="$job"'
# The platform's targets, in seconds: the threshold lines on the latency panel.
TARGETS = ((0.0001, "P50 target"), (0.0005, "P95 target"), (0.001, "P99 target"))


def _target(expr: str, legend: str, ref: str) -> Target:
    return Target(expr=expr, legendFormat=legend, refId=ref, datasource=DATASOURCE)


def _latency() -> TimeSeries:
    targets = [
        _target(
            f'job_stage:shanraq_command_latency_seconds:{q}_rate5m{{{JOB},stage="ack"}}', f"{label} ack", ref
        )
        for q, label, ref in (
            ("p50", "P50", "A"),
            ("p95", "P95", "B"),
            ("p99", "P99", "C"),
            ("p999", "P99.9", "D"),
        )
    ]
    targets.append(
        _target(
            f'job_stage:shanraq_command_latency_seconds:p99_rate5m{{{JOB},stage="engine"}}', "P99 engine", "E"
        )
    )
    return TimeSeries(
        title="Command latency (client frame in -> durable report out) against the targets",
        description="Percentiles from the gateway's histogram over 5 minutes; dashed lines: 0.1 ms (P50), "
        "0.5 ms (P95) and 1 ms (P99) targets.",
        dataSource=DATASOURCE,
        targets=targets,
        unit="s",
        scaleDistributionType="log",
        scaleDistributionLog=10,
        thresholdsStyleMode="dashed",
        thresholds=[
            {"color": "green", "value": None},
            *(
                {"color": c, "value": v}
                for (v, _), c in zip(TARGETS, ("yellow", "orange", "red"), strict=True)
            ),
        ],
        gridPos=GridPos(h=9, w=16, x=0, y=1),
    )


def _sli() -> TimeSeries:
    return TimeSeries(
        title="Fraction of commands within each target",
        description="Exact: the histogram has buckets on 0.1, 0.5 and 1 ms. SLOs: 50 %, 95 %, 99 %.",
        dataSource=DATASOURCE,
        targets=[
            _target(
                f'job_stage:shanraq_latency_under_{n}:ratio_rate5m{{{JOB},stage="ack"}}', f"within {t}", r
            )
            for n, t, r in (("100us", "0.1 ms", "A"), ("500us", "0.5 ms", "B"), ("1ms", "1 ms", "C"))
        ],
        unit="percentunit",
        valueMin=0,
        valueMax=1,
        gridPos=GridPos(h=9, w=8, x=16, y=1),
    )


def _panels() -> list[Any]:
    return [
        RowPanel(title="Latency", gridPos=GridPos(h=1, w=24, x=0, y=0)),
        _latency(),
        _sli(),
        RowPanel(title="Traffic and errors", gridPos=GridPos(h=1, w=24, x=0, y=10)),
        TimeSeries(
            title="Throughput (commands/s by kind)",
            dataSource=DATASOURCE,
            targets=[_target(f"sum by (kind) (rate(shanraq_commands_total{{{JOB}}}[1m]))", "{{kind}}", "A")],
            unit="ops",
            stacking={"mode": "normal", "group": "A"},
            gridPos=GridPos(h=8, w=8, x=0, y=11),
        ),
        TimeSeries(
            title="Rejects (commands/s by reason)",
            dataSource=DATASOURCE,
            targets=[
                _target(f"sum by (reason) (rate(shanraq_rejects_total{{{JOB}}}[1m]))", "{{reason}}", "A")
            ],
            unit="ops",
            gridPos=GridPos(h=8, w=8, x=8, y=11),
        ),
        TimeSeries(
            title="Frame errors (frames/s by code)",
            dataSource=DATASOURCE,
            targets=[
                _target(f"sum by (code) (rate(shanraq_frame_errors_total{{{JOB}}}[1m]))", "{{code}}", "A")
            ],
            unit="ops",
            gridPos=GridPos(h=8, w=8, x=16, y=11),
        ),
        RowPanel(title="Replication and roles", gridPos=GridPos(h=1, w=24, x=0, y=19)),
        TimeSeries(
            title="Replication lag",
            dataSource=DATASOURCE,
            targets=[
                _target(f"shanraq_replication_lag_seconds{{{JOB}}}", "{{instance}} s", "A"),
                _target(f"shanraq_replication_lag_commands{{{JOB}}}", "{{instance}} commands", "B"),
            ],
            unit="s",
            gridPos=GridPos(h=8, w=8, x=0, y=20),
        ),
        TimeSeries(
            title="Role (1 = current)",
            dataSource=DATASOURCE,
            targets=[
                _target(f"shanraq_role{{{JOB}}} == 1", "{{instance}} {{role}}", "A"),
            ],
            drawStyle="bars",
            gridPos=GridPos(h=8, w=8, x=8, y=20),
        ),
        Stat(
            title="Failovers (24 h)",
            dataSource=DATASOURCE,
            targets=[_target(f"sum(increase(shanraq_failovers_total{{{JOB}}}[24h]))", "failovers", "A")],
            reduceCalc="lastNotNull",
            thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
            gridPos=GridPos(h=4, w=4, x=16, y=20),
        ),
        Stat(
            title="Ready primary",
            dataSource=DATASOURCE,
            targets=[_target(f"job:shanraq_primary_available:max{{{JOB}}}", "available", "A")],
            reduceCalc="lastNotNull",
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
            gridPos=GridPos(h=4, w=4, x=20, y=20),
        ),
        TimeSeries(
            title="Open connections",
            dataSource=DATASOURCE,
            targets=[_target(f"sum by (listener) (shanraq_connections{{{JOB}}})", "{{listener}}", "A")],
            gridPos=GridPos(h=4, w=8, x=16, y=24),
        ),
    ]


def dashboard() -> Dashboard:
    return Dashboard(
        title="shanraq gateway",
        uid="shanraq-gateway",
        description="Reference service: latency against the targets, traffic, errors, replication.",
        tags=["shanraq"],
        timezone="utc",
        refresh="10s",
        templating=Templating(
            list=[
                Template(name="datasource", query="prometheus", type="datasource", label="Data source"),
                Template(
                    name="job",
                    query="label_values(shanraq_role, job)",
                    dataSource=DATASOURCE,
                    default="shanraq_gateway",
                    label="Job",
                ),
            ]
        ),
        panels=_panels(),
    ).auto_panel_ids()


def render() -> str:
    return json.dumps(dashboard().to_json_data(), cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
