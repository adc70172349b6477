"""Structured logs: ECS JSON lines on ``shanraq.access``, ``shanraq.audit``
and ``shanraq.error``, with a filter that redacts secrets (docs/service.md)."""

from __future__ import annotations

import logging
import re
from typing import Any, TextIO

__all__ = ["ACCESS", "AUDIT", "ERROR", "RedactFilter", "configure_logging"]

ACCESS = logging.getLogger("shanraq.access")
AUDIT = logging.getLogger("shanraq.audit")
ERROR = logging.getLogger("shanraq.error")

_SECRET_KEYS = re.compile(r"(api[_-]?key|authorization|password|passwd|secret|token|private[_-]?key)", re.I)
_SECRET_TEXT = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"(?i)\b(bearer\s+|api[_-]?key\s*[=:]\s*)\S+"),
]
REDACTED = "[REDACTED]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for rx in _SECRET_TEXT:
            value = rx.sub(lambda m: (m.group(1) if m.lastindex else "") + REDACTED, value)
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEYS.search(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


class RedactFilter(logging.Filter):
    """Replaces secrets in a record: any extra field whose name looks like a
    secret (api_key, authorization, password, token, private_key ...), PEM
    private keys and bearer/API-key values in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Scrubbed after formatting: a secret split between the format string and its
        # arguments ("Bearer %s", token) is only visible in the formatted text.
        if isinstance(record.msg, dict) and not record.args:
            record.msg = _scrub(record.msg)
        else:
            try:
                text = record.getMessage()
            except (TypeError, ValueError):
                text = f"{record.msg} {record.args}"
            record.msg = _scrub(text)
            record.args = None
        for key in list(vars(record)):
            if _SECRET_KEYS.search(key):
                setattr(record, key, REDACTED)
            elif key not in _STANDARD:
                setattr(record, key, _scrub(getattr(record, key)))
        return True


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> logging.Handler:
    """One ECS JSON-lines handler (ecs_logging.StdlibFormatter) with the
    redaction filter on the three loggers; returns it (remove it to undo)."""
    import ecs_logging

    handler = logging.StreamHandler(stream)
    handler.setFormatter(ecs_logging.StdlibFormatter())
    handler.addFilter(RedactFilter())
    for logger in (ACCESS, AUDIT, ERROR):
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return handler
