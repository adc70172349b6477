"""The gateway's configuration: typed dataclasses loaded from TOML (docs/service.md)."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["ClientConfig", "ConfigError", "GatewayConfig", "Role", "load_config", "parse_config"]


class ConfigError(ValueError):
    """A configuration that cannot run, with the key that is wrong."""


class Role(Enum):
    TRADER = "trader"  #: own orders and balances only
    OPERATOR = "operator"  #: deposits, withdrawals, symbols, assets, users, limits, halts; any query
    READ_ONLY = "read-only"  #: queries only


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """One client: ``name`` is its principal (the CN of its certificate, or
    the name before the dot of its API key), ``accounts`` the users a trader
    may act for, ``api_key_hash`` an `auth.hash_api_key` string (never the key)."""

    name: str
    role: Role
    accounts: frozenset[int] = frozenset()
    api_key_hash: str | None = None
    rate: float = 100_000.0  #: commands per second (token bucket refill)
    burst: float = 200_000.0  #: bucket size


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    journal: Path
    cert: Path
    key: Path
    client_ca: Path
    host: str = "127.0.0.1"
    trading_port: int = 7001
    http_port: int = 7002
    durability: str = "every_batch"
    batch: int = 1024
    max_connections: int = 1024
    clients: tuple[ClientConfig, ...] = ()
    exchange: dict[str, int] = field(default_factory=dict)

    def client(self, name: str) -> ClientConfig | None:
        for c in self.clients:
            if c.name == name:
                return c
        return None


def _take(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...
) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}: missing key {key!r}")
        return default
    value = table.pop(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _port(value: int, where: str) -> int:
    if not 0 <= value <= 65535:
        raise ConfigError(f"{where}: port {value} outside 0..65535")
    return value


def parse_config(data: dict[str, Any], base: Path = Path()) -> GatewayConfig:
    """A GatewayConfig from parsed TOML; relative paths are taken from ``base``.
    ConfigError names the first wrong or unknown key."""
    data = dict(data)
    gw = dict(_take(data, "gateway", dict, "config"))
    tls = dict(_take(data, "tls", dict, "config"))
    journal = dict(_take(data, "journal", dict, "config"))
    exchange = dict(_take(data, "exchange", dict, "config", {}))
    clients_raw = _take(data, "clients", list, "config", [])
    if data:
        raise ConfigError(f"config: unknown keys {sorted(data)}")

    host = _take(gw, "host", str, "gateway", "127.0.0.1")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not host or any(c.isspace() for c in host):
            raise ConfigError(f"gateway.host: {host!r} is not an address or host name") from None
    trading_port = _port(_take(gw, "trading_port", int, "gateway", 7001), "gateway.trading_port")
    http_port = _port(_take(gw, "http_port", int, "gateway", 7002), "gateway.http_port")
    batch = _take(gw, "batch", int, "gateway", 1024)
    if not 1 <= batch <= 65536:
        raise ConfigError(f"gateway.batch: {batch} outside 1..65536")
    max_connections = _take(gw, "max_connections", int, "gateway", 1024)
    if max_connections < 1:
        raise ConfigError("gateway.max_connections: must be >= 1")
    if gw:
        raise ConfigError(f"gateway: unknown keys {sorted(gw)}")

    paths = {k: base / _take(tls, k, str, "tls") for k in ("cert", "key", "client_ca")}
    if tls:
        raise ConfigError(f"tls: unknown keys {sorted(tls)}")
    for k, p in paths.items():
        if not p.is_file():
            raise ConfigError(f"tls.{k}: no file {str(p)!r}")

    jpath = base / _take(journal, "path", str, "journal")
    durability = _take(journal, "durability", str, "journal", "every_batch")
    if durability != "every_batch" and not durability.startswith("interval_ms="):
        raise ConfigError(f"journal.durability: {durability!r} (an acknowledged command must be durable)")
    if journal:
        raise ConfigError(f"journal: unknown keys {sorted(journal)}")

    capacities = {}
    allowed = {"max_users", "max_assets", "max_symbols", "max_orders", "max_levels", "id_history"}
    allowed |= {"max_accounts", "max_transfers"}
    for k in list(exchange):
        if k not in allowed:
            raise ConfigError(f"exchange: unknown key {k!r} (known: {sorted(allowed)})")
        capacities[k] = _take(exchange, k, int, "exchange")
        if capacities[k] < 1:
            raise ConfigError(f"exchange.{k}: must be >= 1")

    clients = []
    names: set[str] = set()
    for i, raw in enumerate(clients_raw):
        where = f"clients[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a table")
        c = dict(raw)
        name = _take(c, "name", str, where)
        if not name or name in names:
            raise ConfigError(f"{where}.name: empty or duplicate {name!r}")
        names.add(name)
        role_text = _take(c, "role", str, where)
        try:
            role = Role(role_text)
        except ValueError:
            raise ConfigError(f"{where}.role: {role_text!r}, one of {[r.value for r in Role]}") from None
        accounts = _take(c, "accounts", list, where, [])
        if not all(isinstance(a, int) and not isinstance(a, bool) and 0 < a < 2**64 for a in accounts):
            raise ConfigError(f"{where}.accounts: user ids in 1..2**64-1")
        if role is Role.TRADER and not accounts:
            raise ConfigError(f"{where}.accounts: a trader needs at least one account")
        key_hash = _take(c, "api_key_hash", str, where, None)
        if key_hash is not None and not key_hash.startswith("scrypt$"):
            raise ConfigError(f"{where}.api_key_hash: not an auth.hash_api_key string")
        rate = float(_take(c, "rate", (int, float), where, 100_000.0))
        burst = float(_take(c, "burst", (int, float), where, max(rate * 2, 1.0)))
        if rate <= 0 or burst < 1:
            raise ConfigError(f"{where}: rate must be > 0 and burst >= 1")
        if c:
            raise ConfigError(f"{where}: unknown keys {sorted(c)}")
        clients.append(ClientConfig(name, role, frozenset(accounts), key_hash, rate, burst))
    return GatewayConfig(
        journal=jpath,
        cert=paths["cert"],
        key=paths["key"],
        client_ca=paths["client_ca"],
        host=host,
        trading_port=trading_port,
        http_port=http_port,
        durability=durability,
        batch=batch,
        max_connections=max_connections,
        clients=tuple(clients),
        exchange=capacities,
    )


def load_config(path: str | Path) -> GatewayConfig:
    """Reads and validates a TOML file; ConfigError for TOML syntax too."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from e
    return parse_config(data, p.parent)
