"""The request store: one mutable RequestContext per request or job, in one ContextVar.

The object is mutable on purpose: a dependency that runs in a worker thread (with a copy of
the context) can still set `user_id` and everyone else sees it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Literal

import sentry_sdk

Source = Literal["http", "worker", "cli"]

# 8-64 characters of a strict ASCII allow-list: anything else (control characters, NEL,
# U+2028, spaces, oversized values) is replaced, never echoed or logged.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

SCOPE_STATE_KEY = "request_context"


@dataclass(slots=True)
class RequestContext:
    correlation_id: str
    source: Source = "http"
    user_id: str | None = None
    job_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("graphnode_request_context", default=None)


def new_correlation_id() -> str:
    return os.urandom(16).hex()  # 32 hex characters, like uuid4().hex, without a UUID


def valid_correlation_id(value: str | None) -> str | None:
    """Return the value if it passes the allow-list, else None."""
    if value is not None and _CORRELATION_ID.fullmatch(value):
        return value
    return None


def current() -> RequestContext | None:
    return _current.get()


def bind(context: RequestContext) -> Token[RequestContext | None]:
    """Make `context` current; pair every call with `unbind(token)`."""
    token = _current.set(context)
    _tag_sentry_scope(context)
    return token


def bind_for_task(context: RequestContext) -> None:
    """Make `context` current for the rest of the running asyncio task, Sentry's scopes
    untouched. For a task that handles one unit of work and then ends (a taskiq delivery),
    so the lines written around the work carry its ids too."""
    _current.set(context)


def unbind(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


@contextmanager
def bind_request_context(
    *,
    correlation_id: str | None = None,
    user_id: str | None = None,
    job_id: str | None = None,
    source: Source = "cli",
) -> Iterator[RequestContext]:
    """Run a block of non-HTTP code (a job, a command) inside its own request context.

    An invalid `correlation_id` is replaced by a fresh one, exactly as for HTTP headers.
    With Sentry on, the block also gets its own isolation scope, so its user and tags end
    with it. (A job runs in `app.worker.execution.job_scope`, which starts from fresh
    scopes instead.)
    """
    context = RequestContext(
        correlation_id=valid_correlation_id(correlation_id) or new_correlation_id(),
        source=source,
        user_id=user_id,
        job_id=job_id,
    )
    scope = sentry_sdk.isolation_scope() if sentry_sdk.get_client().is_active() else nullcontext()
    with scope, bound(context):
        yield context


@contextmanager
def bound(context: RequestContext) -> Iterator[RequestContext]:
    """`context` is current for the block, tagged on the Sentry scopes already in place
    (`bind_request_context` forks its own; a job runs in fresh ones)."""
    token = bind(context)
    try:
        yield context
    finally:
        unbind(token)


def set_user_id(user_id: str) -> None:
    """Record the authenticated user in the current context and on the Sentry scope."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id
    if sentry_sdk.get_client().is_active():
        sentry_sdk.get_isolation_scope().set_user({"id": user_id})


def _tag_sentry_scope(context: RequestContext) -> None:
    if not sentry_sdk.get_client().is_active():
        return
    scope = sentry_sdk.get_isolation_scope()
    scope.set_tag("correlation_id", context.correlation_id)
    if context.user_id is not None:
        scope.set_user({"id": context.user_id})
    if context.job_id is not None:
        scope.set_tag("job_id", context.job_id)
