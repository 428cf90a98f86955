"""JSON-lines logging with a correlation id bound through ``contextvars``.

Only ``api/app.py`` and ``cli/app.py`` call :func:`configure_logging`; library modules just use
``logging.getLogger(__name__)``. Payloads and credentials are never logged: the redaction
filter masks bearer tokens and key-looking values that slip into a message anyway.
"""

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from typing_extensions import override

__all__ = [
    "add_context_provider",
    "adopt_logger",
    "bind",
    "configure_logging",
    "correlation_id",
    "current_context",
]

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "accord_log_context", default=None
)
_providers: list[Callable[[], Mapping[str, str]]] = []
_SECRET = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+|(acc_[a-z]+_)[A-Za-z0-9_-]+", re.IGNORECASE)


def add_context_provider(provider: Callable[[], Mapping[str, str]]) -> None:
    """Add fields computed at log time (tracing adds ``trace_id`` and ``span_id``)."""
    if provider not in _providers:
        _providers.append(provider)


def current_context() -> dict[str, str]:
    """The fields bound to the current task or thread (and those of the context providers)."""
    fields = dict(_context.get() or {})
    for provider in _providers:
        fields.update(provider())
    return fields


def correlation_id() -> str | None:
    """The correlation id bound to the current task, if any."""
    return (_context.get() or {}).get("correlation_id")


@contextmanager
def bind(**fields: str) -> Iterator[None]:
    """Bind context fields (``correlation_id``, ``run_id``, ``connection``...) for a block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text: str) -> str:
    """Mask bearer tokens and API keys in free text."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


class _ContextFilter(logging.Filter):
    @override
    def filter(self, record: logging.LogRecord) -> bool:
        record.accord_context = current_context()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the bound context."""

    @override
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        out.update(getattr(record, "accord_context", {}) or {})
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class _PlainFormatter(logging.Formatter):
    @override
    def format(self, record: logging.LogRecord) -> str:
        ctx = getattr(record, "accord_context", {}) or {}
        extra = " ".join(f"{k}={v}" for k, v in ctx.items())
        return redact(f"{super().format(record)} {extra}".rstrip())


def adopt_logger(name: str, *, level: str | None = None) -> None:
    """Route a library logger through ours (DBOS installs its own handler at launch)."""
    lg = logging.getLogger(name)
    lg.handlers[:] = []
    lg.propagate = True
    if level:
        lg.setLevel(level)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Install one stderr handler on the root logger (and DBOS's own logger)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines else _PlainFormatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        adopt_logger(name)
    adopt_logger("dbos", level="WARNING")
    adopt_logger("alembic", level="WARNING")
    adopt_logger("httpx", level="WARNING")
    # Access logs would print every request line: too loud at 2,000 events/s.
    logging.getLogger("uvicorn.access").disabled = True
