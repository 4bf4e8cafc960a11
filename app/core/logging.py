"""Structured logging: structlog for our code, stdlib loggers routed through the same chain.

Every line carries `correlation_id` and `user_id` (null outside a request or job), `job_id`
inside a job, and `trace_id`/`span_id` while a Sentry span is active. Our lines are
rendered by structlog and written to stderr directly, so they never become Sentry
breadcrumbs or events of their own; stdlib records (uvicorn, taskiq, alembic, the SDK's)
get the same processors through structlog's `ProcessorFormatter`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import sentry_sdk
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from app.core.config import LogFormat, Settings
from app.core.context import current

REDACTED = "[redacted]"
_SENSITIVE_KEY_PARTS = (
    "authorization",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credential",
    "private_key",
)

# Loggers that own handlers or propagate=False by default; we make them propagate to root.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "sqlalchemy", "taskiq", "httpx", "httpcore")
# Noisy at INFO (SQL text with parameters, connection chatter): keep at WARNING.
# httpx logs every request URL at INFO, query string (and any token in it) included.
_QUIET_LOGGERS = (
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "aiosqlite",
    "asyncio",
)

ACCESS_LOGGER = "graphnode.access"


def is_sensitive_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_sensitive_key(key) else _redact(item)
            for key, item in value.items()
        }
    return value


def redact_sensitive_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():  # values replaced in place: no key added
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, Mapping):
            event_dict[key] = _redact(value)
    return event_dict


def add_request_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    context = current()
    event_dict.setdefault("correlation_id", context.correlation_id if context else None)
    event_dict.setdefault("user_id", context.user_id if context else None)
    if context is not None and context.job_id is not None:
        event_dict.setdefault("job_id", context.job_id)
    span = sentry_sdk.get_current_span()
    if span is not None:
        event_dict.setdefault("trace_id", span.trace_id)
        event_dict.setdefault("span_id", span.span_id)
    return event_dict


_SHARED_PROCESSORS: list[Processor] = [
    structlog.processors.add_log_level,
    structlog.stdlib.add_logger_name,
    # ISO 8601 in UTC, always with microseconds (isoformat drops them when they are zero).
    structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True),
    add_request_context,
    redact_sensitive_fields,
]


_REPORTED_ATTRIBUTE = "__graphnode_reported__"


def mark_reported(exc: BaseException) -> None:
    """Note that `exc` was logged and reported with its context (see _DropServerDuplicates)."""
    with contextlib.suppress(AttributeError):  # exceptions with __slots__
        setattr(exc, _REPORTED_ATTRIBUTE, True)


class _DropServerDuplicates(logging.Filter):
    """Drops the server's "Exception in ASGI application" line for an exception we already
    logged (with the correlation id) and reported: it would repeat the traceback without
    the request context, which is gone by the time the server logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and record.exc_info and record.exc_info[1]:
            return not getattr(record.exc_info[1], _REPORTED_ATTRIBUTE, False)
        return True


class _CurrentStderr:
    """A text stream writing to whatever `sys.stderr` is at the time of the write (test
    capture, redirection), not the one when a logger was first used and cached."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _CurrentStderr()


class _StderrLogger:
    """Where structlog writes our lines: one write each to the current `sys.stderr`, under
    the name `add_logger_name` reads. Not a stdlib logger: Sentry's logging integration
    would turn each of our lines into a breadcrumb, and each error line into an event."""

    def __init__(self, name: str = "root") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _STDERR.write(message + "\n")

    debug = info = warning = error = critical = exception = msg


def _orjson_dumps(value: Any, **options: Any) -> str:
    return orjson.dumps(value, **options).decode()


def _renderers(log_format: LogFormat) -> list[Processor]:
    if log_format is LogFormat.CONSOLE:
        return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return [
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_orjson_dumps, default=str),
    ]


def log_access(fields: dict[str, Any]) -> None:
    """The access line (`http.request`), written once per request."""
    _access.info("http.request", **fields)


_access = structlog.get_logger(ACCESS_LOGGER)


def configure_logging(settings: Settings) -> None:
    """Route structlog and every stdlib logger through one chain, writing to stderr.

    Loggers keep the format and level they had at their first use: configure once per
    process, before logging.
    """
    renderers = _renderers(settings.resolved_log_format)
    level = logging.getLevelNamesMapping()[settings.log_level]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
    )
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(formatter)
    handler.addFilter(_DropServerDuplicates())

    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    for name in _ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    # We write our own access line (with the route template and the correlation id).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True

    structlog.configure(
        processors=[*_SHARED_PROCESSORS, *renderers],
        logger_factory=_StderrLogger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
