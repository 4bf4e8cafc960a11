"""The audit proxy: every public method of a service logs its call, outcome and duration.

`@audited` wraps a class where it is defined. Each public method call logs `audit.call`,
then `audit.success` (with `duration_ms`) or `audit.error` (with `error_type` and
`duration_ms`); the request context (correlation id, user id, job id) comes from the
request store, so no service passes ids around. Each call is also a Sentry child span.
Argument values are logged only with `log_args=True`, and sensitive names are always
redacted. A failure inside auditing never fails the call.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from typing import Any, ParamSpec, TypeVar, overload

import structlog

from app.core import spans
from app.core.logging import REDACTED, is_sensitive_key

SPAN_OP = "service.call"
_MAX_VALUE_LENGTH = 200

log = structlog.get_logger("graphnode.audit")

T = TypeVar("T")
P = ParamSpec("P")


@overload
def audited(cls: type[T], /) -> type[T]: ...
@overload
def audited(*, log_args: bool = False) -> Callable[[type[T]], type[T]]: ...
def audited(
    cls: type[T] | None = None, /, *, log_args: bool = False
) -> type[T] | Callable[[type[T]], type[T]]:
    def wrap_class(target: type[T]) -> type[T]:
        service = target.__name__
        for name, member in list(vars(target).items()):
            if name.startswith("_"):
                continue
            if isinstance(member, staticmethod | classmethod):
                wrapped = _wrap(service, name, member.__func__, log_args)
                setattr(target, name, type(member)(wrapped))
            elif inspect.isfunction(member):
                setattr(target, name, _wrap(service, name, member, log_args))
        return target

    return wrap_class(cls) if cls is not None else wrap_class


def _safe(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception:
        return None  # auditing must never fail the audited call


def _shown(name: str, value: Any) -> str:
    return REDACTED if is_sensitive_key(name) else repr(value)[:_MAX_VALUE_LENGTH]


def _arguments(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    signature = inspect.signature(func)
    bound = signature.bind_partial(*args, **kwargs)
    values: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if name in ("self", "cls"):
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            # Redact each keyword by its own name: `**options` may carry a password.
            values.update({key: _shown(key, item) for key, item in value.items()})
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            values[name] = f"[{len(value)} positional values omitted]"
        else:
            values[name] = _shown(name, value)
    return values


class _Call:
    def __init__(
        self,
        service: str,
        method: str,
        func: Callable[..., Any],
        log_args: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.fields: dict[str, Any] = {"service": service, "method": method}
        if log_args:
            arguments = _safe(lambda: _arguments(func, args, kwargs))
            if arguments:
                self.fields["args"] = arguments
        self.started = time.perf_counter()
        _safe(lambda: log.info("audit.call", **self.fields))

    def _duration_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def success(self, **extra: Any) -> None:
        _safe(
            lambda: log.info(
                "audit.success", duration_ms=self._duration_ms(), **self.fields, **extra
            )
        )

    def error(self, error: BaseException) -> None:
        _safe(
            lambda: log.warning(
                "audit.error",
                duration_ms=self._duration_ms(),
                error_type=type(error).__name__,
                outcome="cancelled" if not isinstance(error, Exception) else "error",
                **self.fields,
            )
        )


@contextmanager
def _span(service: str, method: str) -> Iterator[None]:
    """A Sentry child span around the call; any failure of Sentry's is swallowed."""
    span = _safe(lambda: spans.start_span(op=SPAN_OP, name=f"{service}.{method}"))
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


def _wrap(service: str, method: str, func: Callable[P, Any], log_args: bool) -> Callable[P, Any]:
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def audited_async_generator(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
            call = _Call(service, method, func, log_args, args, kwargs)
            count = 0
            try:
                with _span(service, method):
                    async with aclosing(func(*args, **kwargs)) as items:
                        async for item in items:
                            count += 1
                            yield item
            except GeneratorExit:
                call.success(items=count, closed_early=True)  # the consumer stopped early
                raise
            except BaseException as error:
                call.error(error)
                raise
            call.success(items=count)

        return audited_async_generator

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def audited_coroutine(*args: P.args, **kwargs: P.kwargs) -> Any:
            call = _Call(service, method, func, log_args, args, kwargs)
            with _span(service, method):
                try:
                    result = await func(*args, **kwargs)
                except BaseException as error:
                    call.error(error)
                    raise
            call.success()
            return result

        return audited_coroutine

    @functools.wraps(func)
    def audited_function(*args: P.args, **kwargs: P.kwargs) -> Any:
        call = _Call(service, method, func, log_args, args, kwargs)
        with _span(service, method):
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                call.error(error)
                raise
        call.success()
        return result

    return audited_function
