"""deploy/k8s and deploy/Containerfile: the manifests validate against the Kubernetes OpenAPI schemas
(kubernetes-validate, offline, strict: unknown fields are errors), probes point at the gateway's
/ready and /health, no secret material is committed, and the image runs unprivileged with a
HEALTHCHECK. (Neither can run here: no cluster, no image build in the test suite.)"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .ops_servers import DEPLOY

K8S_VERSION = "1.30"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _all() -> list[dict[str, Any]]:
    return [d for p in MANIFESTS for d in _docs(p)]


def _kind(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in _all() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_validate_against_the_schemas(path: Path) -> None:
    docs = _docs(path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    sts = copy.deepcopy(_kind("StatefulSet"))
    container = sts["spec"]["template"]["spec"]["containers"][0]
    container["readynessProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


def test_gateway_probes_resources_and_disruption_budget() -> None:
    sts = _kind("StatefulSet", "gateway")
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["resources"]["requests"] == c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"trading": 7001, "http": 7002}
    pdb = _kind("PodDisruptionBudget", "shanraq-gateway")
    assert pdb["spec"]["selector"] == sts["spec"]["selector"]
    # No autoscaler scales the single-writer gateway; the stateless HAProxy has one.
    targets = [h["spec"]["scaleTargetRef"]["name"] for h in _all() if h["kind"] == "HorizontalPodAutoscaler"]
    assert targets == ["haproxy"]
    config = _kind("ConfigMap", "shanraq-gateway")
    toml = tomllib.loads(config["data"]["gateway.toml"])
    assert toml["gateway"]["http_port"] == 7002
    assert toml["gateway"]["trading_port"] == 7001
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"]["secretName"] == "shanraq-gateway-tls"


def test_haproxy_configmap_is_the_deploy_config() -> None:
    cm = _kind("ConfigMap", "shanraq-haproxy")
    assert cm["data"]["haproxy.cfg"] == (DEPLOY / "haproxy" / "haproxy.cfg").read_text()


def test_no_secret_material_is_committed() -> None:
    assert not [d for d in _all() if d["kind"] == "Secret"]
    pattern = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----")
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert not pattern.search(path.read_text(errors="replace")), path


def test_containerfile_is_multistage_unprivileged_with_a_healthcheck() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=build /wheels" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD .*/health", runtime, re.MULTILINE)
    assert "EXPOSE 7001 7002" in runtime


def test_gateway_configmap_is_a_valid_gateway_config(tmp_path: Path) -> None:
    from shanraq_core.service.config import parse_config

    text = _kind("ConfigMap", "shanraq-gateway")["data"]["gateway.toml"]
    # The Secret's files, mounted at /etc/shanraq/tls in the pod: the parser checks they exist.
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / name).touch()
    config = parse_config(tomllib.loads(text.replace("/etc/shanraq/tls/", f"{tmp_path}/")))
    assert (config.trading_port, config.http_port) == (7001, 7002)
    assert config.host == "0.0.0.0"
    assert [c.name for c in config.clients] == ["monitoring"]
