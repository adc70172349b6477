"""deploy/prometheus: the scrape configuration, the recording and alerting rules, checked by Debian's
promtool, and the rules' unit tests (deploy/prometheus/rules_test.yml: input series and the alerts
expected from them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.servers

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONTRACT_HISTOGRAM = "shanraq_command_latency_seconds"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool") or "/usr/bin/promtool"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_config_is_valid(tmp_path: Path) -> None:
    # The TLS files are relative to the config (a mounted Secret in production); promtool checks they exist.
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    (tmp_path / "tls").mkdir()
    for name in ("ca.crt", "monitoring.crt", "monitoring.key"):
        (tmp_path / "tls" / name).touch()
    r = _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_rules_are_valid() -> None:
    r = _promtool("check", "rules", "rules.yml", cwd=DEPLOY)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_unit_tests_pass() -> None:
    r = _promtool("test", "rules", "rules_test.yml", cwd=DEPLOY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_rules_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # The unit tests must notice a page threshold off by a factor: a mutant of the rules fails them.
    rules = (DEPLOY / "rules.yml").read_text()
    assert "< 0.856" in rules
    (tmp_path / "rules.yml").write_text(rules.replace("< 0.856", "< 0.5"))
    shutil.copy(DEPLOY / "rules_test.yml", tmp_path / "rules_test.yml")
    r = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert r.returncode != 0
    assert "ShanraqP99LatencyOver1ms" in r.stdout + r.stderr


def test_rules_use_the_exact_target_buckets() -> None:
    doc = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    exprs = [rule["expr"] for group in doc["groups"] for rule in group["rules"]]
    text = "\n".join(exprs)
    for le in ("0.0001", "0.0005", "0.001"):
        assert f'{CONTRACT_HISTOGRAM}_bucket{{le="{le}"}}' in text
    alerts = {rule["alert"] for group in doc["groups"] for rule in group["rules"] if "alert" in rule}
    assert {
        "ShanraqP50LatencyOver100us",
        "ShanraqP95LatencyOver500us",
        "ShanraqP99LatencyOver1ms",
        "ShanraqAvailabilityBudgetBurn",
        "ShanraqFenced",
        "ShanraqFailover",
        "ShanraqReplicationLagHigh",
        "ShanraqRejectSpike",
    } <= alerts
    # Every alert says what to do: its runbook entry in docs/deployment.md.
    guide = (DEPLOY.parents[1] / "docs" / "deployment.md").read_text()
    for alert in alerts:
        assert f"`{alert}`" in guide, alert
