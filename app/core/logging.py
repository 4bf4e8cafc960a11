"""Structured logging: structlog for our code, stdlib loggers routed through the same chain.

Every line carries `correlation_id` and `user_id` (null outside a request or job), `job_id`
inside a job, and `trace_id`/`span_id` while a Sentry span is active.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

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


# Keys mostly come from code (a small, fixed set); query-string keys can be anything, so
# the cache stays bounded.
@functools.lru_cache(maxsize=1024)
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


# Values that cannot hold a nested key: checked first, because `isinstance(x, Mapping)` is
# an ABC check, slow for exactly the values most fields have.
_FLAT_TYPES = (str, int, float, type(None))


def redact_sensitive_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in list(event_dict.items()):
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif not isinstance(value, _FLAT_TYPES) and isinstance(value, Mapping):
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


def _drop_uvicorn_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def add_logger_name(logger: WrappedLogger, _: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    event_dict["logger"] = record.name if record is not None else getattr(logger, "name", "?")
    return event_dict


class _UtcTimestamp:
    """`timestamp`: ISO 8601 in UTC with microseconds, `2026-11-29T22:40:00.123456Z`.

    The format of structlog's `TimeStamper(fmt="iso", utc=True)`, except that the
    microseconds are always there (isoformat drops them when they are zero), at about half
    its cost: the part up to the second is formatted once per second. It runs for every
    line, the access line included.
    """

    def __init__(self) -> None:
        # One attribute, replaced whole: threads never see a second with another's text.
        self._second: tuple[int, str] = (-1, "")

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        now = time.time()
        second = int(now)
        cached = self._second
        if cached[0] != second:
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._second = cached
        event_dict["timestamp"] = f"{cached[1]}.{int((now - second) * 1_000_000):06d}Z"
        return event_dict


_add_timestamp = _UtcTimestamp()

_SHARED_PROCESSORS: list[Processor] = [
    structlog.processors.add_log_level,
    add_logger_name,
    _add_timestamp,
    add_request_context,
    _drop_uvicorn_color_message,
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


def _orjson_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _StderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever `sys.stderr` is at emit time (test capture, redirection)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # the stream is looked up at emit time, never stored
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _: IO[str]) -> None:
        pass


class _Renderer:
    """The last processor: JSON or console, switchable without re-creating loggers.

    structlog caches each logger's processor chain on first use; the chain holds this one
    object, and configure_logging() changes what it renders.
    """

    def __init__(self) -> None:
        self._json: list[Processor] = [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
        self._chain = self._json

    def use(self, log_format: LogFormat) -> None:
        if log_format is LogFormat.JSON:
            self._chain = self._json
        else:
            self._chain = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
        result: Any = event_dict
        for processor in self._chain:
            result = processor(logger, method, result)
        return result


_render = _Renderer()

ACCESS_LOGGER = "graphnode.access"


class _AccessLog:
    """The access line (`http.request`), written on every request.

    In JSON it skips most of structlog's processor chain: the same keys and values as any
    other line (the level, logger, timestamp and context processors are the shared ones)
    for a third of the cost (bench/RESULTS.md). Its fields are fixed and hold no
    credentials (the path, never the query string), so there is nothing to redact. The
    console format goes through structlog as usual.
    """

    def __init__(self) -> None:
        self._logger = structlog.get_logger(ACCESS_LOGGER)
        self._enabled = True
        self._json = True

    def configure(self, settings: Settings) -> None:
        self._json = settings.resolved_log_format is LogFormat.JSON
        self._enabled = logging.getLevelNamesMapping()[settings.log_level] <= logging.INFO

    def __call__(self, fields: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if not self._json:
            self._logger.info("http.request", **fields)
            return
        fields["event"] = "http.request"
        fields["level"] = "info"
        fields["logger"] = ACCESS_LOGGER
        _add_timestamp(None, "info", fields)
        add_request_context(None, "info", fields)
        sys.stderr.write(orjson.dumps(fields, default=str).decode() + "\n")


log_access = _AccessLog()


class _StderrLogger:
    """Where our own (structlog) lines go: straight to the current sys.stderr.

    Skipping the stdlib logging machinery for our lines (the access line is on every
    request) halves their cost; stdlib loggers still reach the same stream, rendered by
    the same processors, through the root handler.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "root")


def configure_logging(settings: Settings) -> None:
    """Route structlog and every stdlib logger through one chain, writing to stderr."""
    _render.use(settings.resolved_log_format)
    log_access.configure(settings)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_DropServerDuplicates())

    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    for name in _ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # We write our own access line (with the route template and the correlation id).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True

    structlog.configure(
        processors=[*_SHARED_PROCESSORS, _render],
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        cache_logger_on_first_use=True,
    )
