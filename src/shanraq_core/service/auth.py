"""Who may do what: principals, roles, API keys and rate limits (docs/service.md, "Roles")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass

from shanraq_core.service import protocol as p
from shanraq_core.service.config import ClientConfig, Role

__all__ = ["Principal", "TokenBucket", "authorise", "hash_api_key", "verify_api_key"]

_N, _R, _P = 2**14, 8, 1

_OPERATOR_COMMANDS = frozenset(
    {
        p.Kind.DEPOSIT,
        p.Kind.WITHDRAW,
        p.Kind.ADD_SYMBOL,
        p.Kind.ADD_ASSET,
        p.Kind.ADD_USER,
        p.Kind.SET_LIMITS,
        p.Kind.HALT_SYMBOL,
        p.Kind.RESUME_SYMBOL,
    }
)
_TRADER_COMMANDS = frozenset({p.Kind.PLACE, p.Kind.CANCEL, p.Kind.AMEND, p.Kind.MASS_CANCEL})


def hash_api_key(key: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<salt>$<hash>`` (base64) of an API key, for the config file."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(key.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_api_key(key: str, stored: str) -> bool:
    """Whether ``key`` hashes to ``stored`` (constant-time compare)."""
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, want = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(key.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(want))
    return hmac.compare_digest(got, want)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    accounts: frozenset[int]

    @classmethod
    def of(cls, client: ClientConfig) -> Principal:
        return cls(client.name, client.role, client.accounts)


def authorise(principal: Principal, msg: p.Message) -> str | None:
    """None when ``principal`` may send ``msg``, else why not. A trader acts
    only for its own accounts (the command's ``user``); an operator runs the
    configuration and money commands and any query; read-only only queries."""
    kind = msg.KIND
    role = principal.role
    if kind in p.QUERIES:
        if role is Role.TRADER and getattr(msg, "user", 0) not in principal.accounts:
            return f"{principal.name} may query only its own accounts"
        return None
    if role is Role.READ_ONLY:
        return f"{principal.name} is read-only"
    if kind in _OPERATOR_COMMANDS:
        return None if role is Role.OPERATOR else f"{kind.name.lower()} needs the operator role"
    if kind in _TRADER_COMMANDS:
        if role is not Role.TRADER:
            return f"{kind.name.lower()} needs the trader role"
        if getattr(msg, "user", 0) not in principal.accounts:
            return f"account {getattr(msg, 'user', 0)} does not belong to {principal.name}"
        return None
    return f"{kind.name.lower()} is not a command"


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take()`` spends one if there is one."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        self._tokens = min(self._burst, self._tokens + (t - self._last) * self._rate)
        self._last = t
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
