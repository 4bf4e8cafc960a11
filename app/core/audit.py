"""The audit proxy: every public method of a service logs its call, outcome and duration.

`@audited` wraps a class where it is defined; its public methods are coroutine functions
(anything else is refused when the class is defined). Each call logs `audit.call`, then
`audit.success` (with `duration_ms`) or `audit.error` (with `error_type`, `outcome` and
`duration_ms`); the request context (correlation id, user id, job id) comes from the
request store, so no service passes ids around. Argument values are never logged. Each
call is also a Sentry child span. A failure inside auditing never fails the call.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import structlog

from app.core import spans

SPAN_OP = "service.call"

log = structlog.get_logger("graphnode.audit")

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def audited(cls: type[T], /) -> type[T]:
    service = cls.__name__
    for name, member in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, staticmethod | classmethod) or (
            inspect.isfunction(member) and not inspect.iscoroutinefunction(member)
        ):
            raise TypeError(f"{service}.{name}: an audited service's methods are async def")
        if inspect.isfunction(member):
            setattr(cls, name, _wrap(service, name, member))
    return cls


def _safe(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception:
        return None  # auditing must never fail the audited call


def _milliseconds_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@contextmanager
def _span(name: str) -> Iterator[None]:
    """A Sentry child span around the call; any failure of Sentry's is swallowed."""
    span = _safe(lambda: spans.start_span(op=SPAN_OP, name=name))
    entered = span is not None and _safe(span.__enter__) is not None
    try:
        yield
    except BaseException as error:
        if entered:
            _exit_span(span, error)
        raise
    if entered:
        _exit_span(span, None)


def _exit_span(span: Any, error: BaseException | None) -> None:
    if error is None:
        _safe(lambda: span.__exit__(None, None, None))
    else:
        _safe(lambda: span.__exit__(type(error), error, error.__traceback__))


def _log_error(fields: dict[str, str], started: float, error: BaseException) -> None:
    _safe(
        lambda: log.warning(
            "audit.error",
            duration_ms=_milliseconds_since(started),
            error_type=type(error).__name__,
            outcome="error" if isinstance(error, Exception) else "cancelled",
            **fields,
        )
    )


def _wrap(
    service: str, method: str, func: Callable[P, Coroutine[Any, Any, R]]
) -> Callable[P, Coroutine[Any, Any, R]]:
    fields = {"service": service, "method": method}
    span_name = f"{service}.{method}"

    @functools.wraps(func)
    async def audited_call(*args: P.args, **kwargs: P.kwargs) -> R:
        _safe(lambda: log.info("audit.call", **fields))
        started = time.perf_counter()
        with _span(span_name):
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                _log_error(fields, started, error)
                raise
        _safe(lambda: log.info("audit.success", duration_ms=_milliseconds_since(started), **fields))
        return result

    return audited_call
