"""Config validation, API key hashing, the token bucket, log redaction and the command line."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanraq_core.service.auth import TokenBucket, hash_api_key, verify_api_key
from shanraq_core.service.config import ConfigError, Role, load_config, parse_config
from shanraq_core.service.logs import REDACTED, RedactFilter
from shanraq_core.service.testing import Pki


def base(pki: Pki) -> dict[str, Any]:
    return {
        "gateway": {"trading_port": 0, "http_port": 0},
        "tls": {
            "cert": str(pki.crt("server")),
            "key": str(pki.key("server")),
            "client_ca": str(pki.crt("ca")),
        },
        "journal": {"path": "j"},
        "clients": [{"name": "alice", "role": "trader", "accounts": [1]}],
    }


def test_a_valid_config_loads(pki: Pki, tmp_path: Path) -> None:
    f = tmp_path / "gw.toml"
    f.write_text(
        f"""
[gateway]
trading_port = 9000
[tls]
cert = "{pki.crt("server")}"
key = "{pki.key("server")}"
client_ca = "{pki.crt("ca")}"
[journal]
path = "journal"
[[clients]]
name = "ops"
role = "operator"
rate = 10
"""
    )
    cfg = load_config(f)
    assert cfg.trading_port == 9000
    assert cfg.journal == tmp_path / "journal"
    assert cfg.clients[0].role is Role.OPERATOR
    assert cfg.clients[0].burst == 20.0


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("gateway", "trading_port"), 70000, "gateway.trading_port: port 70000"),
        (("gateway", "bogus"), 1, "gateway: unknown keys ['bogus']"),
        (("tls", "cert"), "/nonexistent.crt", "tls.cert: no file"),
        (("journal", "durability"), "none", "journal.durability"),
        (("gateway", "batch"), 0, "gateway.batch"),
        (("gateway", "http_port"), "80", "gateway.http_port: expected int"),
    ],
)
def test_bad_values_name_their_key(pki: Pki, path: tuple[str, str], value: object, message: str) -> None:
    data = base(pki)
    data[path[0]][path[1]] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ({"name": "x", "role": "admin"}, r"clients\[0\].role: 'admin'"),
        ({"name": "x", "role": "trader"}, "a trader needs at least one account"),
        ({"name": "x", "role": "trader", "accounts": [0]}, "accounts"),
        ({"name": "x", "role": "operator", "api_key_hash": "plain"}, "api_key_hash"),
        ({"name": "x", "role": "operator", "rate": 0}, "rate must be > 0"),
        ({"name": "x", "role": "operator", "extra": 1}, "unknown keys"),
    ],
)
def test_bad_clients(pki: Pki, client: dict[str, Any], message: str) -> None:
    data = base(pki)
    data["clients"] = [client]
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_duplicate_client_and_toml_syntax(pki: Pki, tmp_path: Path) -> None:
    data = base(pki)
    data["clients"] = data["clients"] * 2
    with pytest.raises(ConfigError, match="duplicate"):
        parse_config(data)
    f = tmp_path / "bad.toml"
    f.write_text("[gateway\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_config(f)


def test_api_key_hash_verifies_only_the_key() -> None:
    h = hash_api_key("k-123", salt=b"0" * 16)
    assert "k-123" not in h
    assert verify_api_key("k-123", h)
    assert not verify_api_key("k-124", h)
    assert not verify_api_key("k-123", "scrypt$bad")
    assert hash_api_key("k-123") != hash_api_key("k-123")


@given(st.lists(st.floats(0, 10), max_size=50), st.floats(0.5, 100), st.integers(1, 20))
def test_token_bucket_never_grants_more_than_burst_plus_refill(
    gaps: list[float], rate: float, burst: int
) -> None:
    b = TokenBucket(rate, burst, now=0.0)
    now = 0.0
    granted = 0
    for g in gaps:
        now += g
        granted += sum(b.take(now) for _ in range(5))
    assert granted <= burst + rate * now + 1e-9


def _log(record_msg: str, *args: object, **extra: object) -> str:
    out = io.StringIO()
    logger = logging.getLogger("shanraq.test.redact")
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactFilter())
    handler.setFormatter(logging.Formatter("%(message)s %(api_key)s %(note)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(record_msg, *args, extra={"api_key": "-", "note": "-", **extra})
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_redaction() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEv-secret-bytes\n-----END PRIVATE KEY-----"
    text = _log(
        "got %s and %s", "Bearer viewer.topsecret", pem, api_key="viewer.topsecret", note="api_key=zzz9"
    )
    assert "topsecret" not in text
    assert "secret-bytes" not in text
    assert "zzz9" not in text
    assert REDACTED in text


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40))
def test_redaction_of_any_bearer_token(token: str) -> None:
    assert f"Bearer {token}" not in _log("Authorization: Bearer %s", token) or token in REDACTED


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shanraq_core", "service", *args], capture_output=True, text=True, input=stdin
    )


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _cli().returncode == 2
    assert _cli("nope").returncode == 2
    r = _cli("gateway")
    assert r.returncode == 2
    assert "--config" in r.stderr
    (tmp_path / "c.toml").write_text("[gateway]\n")
    r = _cli("gateway", "--config", str(tmp_path / "c.toml"))
    assert r.returncode == 2
    assert "missing key 'tls'" in r.stderr
    assert _cli("loadgen", "--port", "1").returncode == 2
    assert _cli("--help").returncode == 0


def test_cli_hash_key() -> None:
    r = _cli("hash-key", stdin="abc\n")
    assert r.returncode == 0
    assert verify_api_key("abc", r.stdout.strip())
    assert "abc" not in r.stdout


def test_ecs_fields(tmp_path: Path) -> None:
    from shanraq_core.service.logs import AUDIT, configure_logging, stop_logging

    out = io.StringIO()
    handler = configure_logging(out)
    try:
        AUDIT.info("command", extra={"shanraq.seq": 5, "user.name": "alice", "api_key": "abc"})
    finally:
        stop_logging(handler)
    rec = json.loads(out.getvalue())
    assert rec["shanraq"]["seq"] == 5
    assert rec["user"]["name"] == "alice"
    assert rec["api_key"] == REDACTED
    assert "ecs.version" in rec or "ecs" in rec
