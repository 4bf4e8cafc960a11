"""Sentry spans that are never built while Sentry is off, and background tasks that keep
their spans to themselves.

sentry-sdk builds, times and scopes a real span for `start_span` even when it was never
initialised, and then sends nothing; `start_span` here returns one shared no-op span
instead. Code on every request or job asks for its spans here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import sentry_sdk
from sentry_sdk.tracing import NoOpSpan, Span

T = TypeVar("T")


class _OffSpan(NoOpSpan):
    """A no-op span that is also a stateless context manager, so one instance serves every
    caller (NoOpSpan's own `__enter__` sets the scope's span and keeps state on itself)."""

    def __enter__(self) -> _OffSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


OFF_SPAN: Span = _OffSpan()


def start_span(*, op: str, name: str, **kwargs: Any) -> Span:
    """`sentry_sdk.start_span`, or the shared no-op span when Sentry is off."""
    if not sentry_sdk.get_client().is_active():
        return OFF_SPAN
    return sentry_sdk.start_span(op=op, name=name, **kwargs)


def start_background_task(work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """`asyncio.create_task(work)` with a Sentry scope of the task's own.

    A task copies its creator's context, whose current Sentry scope is one shared object:
    a span the task makes current (a query's) would be current in its creator too, whose
    log lines would then carry a trace that belongs to no request or job.
    """

    async def in_own_scope() -> T:
        with sentry_sdk.new_scope():
            return await work

    return asyncio.create_task(in_own_scope(), name=name)


async def stop_background_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task from `start_background_task` and wait until it has ended (its loop
    reports its own failures; whatever ended it is not raised here)."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
