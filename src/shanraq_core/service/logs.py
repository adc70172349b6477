"""Structured logs: ECS JSON lines on ``shanraq.access``, ``shanraq.audit``
and ``shanraq.error``, with a filter that redacts secrets (docs/service.md)."""

from __future__ import annotations

import logging
import logging.handlers
import re
from typing import Any, TextIO

__all__ = ["ACCESS", "AUDIT", "ERROR", "RedactFilter", "configure_logging", "stop_logging"]

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
    redaction filter, fed by the three loggers through a queue: formatting
    an ECS line costs more than a command's whole path through the gateway,
    so it runs on a listener thread and the event loop only enqueues the
    record. Returns the QueueHandler (`stop_logging` flushes and undoes)."""
    import queue

    import ecs_logging

    out = logging.StreamHandler(stream)
    out.setFormatter(ecs_logging.StdlibFormatter())
    out.addFilter(RedactFilter())
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _Enqueue(q)
    listener = logging.handlers.QueueListener(q, out, respect_handler_level=False)
    handler.listener = listener
    listener.start()
    for logger in (ACCESS, AUDIT, ERROR):
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return handler


class _Enqueue(logging.handlers.QueueHandler):
    """Hands the record over as it is (the ECS formatter needs its extra
    fields; the default prepare() would flatten it into its message)."""

    listener: logging.handlers.QueueListener | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def stop_logging(handler: logging.Handler) -> None:
    """Writes out what is queued and detaches ``handler`` from the three loggers."""
    for logger in (ACCESS, AUDIT, ERROR):
        logger.removeHandler(handler)
    listener = getattr(handler, "listener", None)
    if listener is not None:
        listener.stop()
