"""Typed dependencies of the routers: what the composition root (app.main) put on the
application state, the unit of work, the caller, a page request, shared headers.

Routes take these instead of reading `request.app.state`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.security import CurrentUser
from app.errors.exceptions import ValidationFailed
from app.providers.chat import ChatProvider
from app.schemas.graph import PAGE_DEFAULT, PAGE_MAX
from app.schemas.pagination import CURSOR_PATTERN, Cursor, PageRequest
from app.services.jobs import JobQueue

__all__ = [
    "ChatProviderDep",
    "CurrentUser",
    "IfMatch",
    "JobQueueDep",
    "PageDep",
    "ReadinessChecks",
    "ReadinessDep",
    "SessionDep",
    "SessionFactoryDep",
    "SettingsDep",
]


@dataclass(frozen=True, slots=True)
class ReadinessChecks:
    """What /readyz asks; app.main builds it from the engine, the broker and the outbox."""

    # By name, a call that raises when that dependency is unreachable.
    probes: Mapping[str, Callable[[], Awaitable[None]]]
    # Jobs stored but not yet accepted by the broker; None when the database cannot say.
    jobs_waiting: Callable[[], Awaitable[int | None]]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    return sessions


def _job_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.job_queue
    return queue


def _chat_provider(request: Request) -> ChatProvider:
    provider: ChatProvider = request.app.state.chat_provider
    return provider


def _readiness(request: Request) -> ReadinessChecks:
    readiness: ReadinessChecks = request.app.state.readiness
    return readiness


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(_session_factory)]
JobQueueDep = Annotated[JobQueue, Depends(_job_queue)]
ChatProviderDep = Annotated[ChatProvider, Depends(_chat_provider)]
ReadinessDep = Annotated[ReadinessChecks, Depends(_readiness)]


async def _session(sessions: SessionFactoryDep) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(sessions) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is the
# client's error response, never a 2xx for data that was not stored.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def _page(
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size.")] = PAGE_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageRequest:
    if cursor is None:
        return PageRequest(limit=limit)
    try:
        return PageRequest(limit=limit, after=Cursor.decode(cursor))
    except ValueError:
        raise ValidationFailed(
            "The cursor is not one this API handed out.",
            errors=[{"detail": "Invalid cursor.", "parameter": "cursor"}],
        ) from None


PageDep = Annotated[PageRequest, Depends(_page)]

IfMatch = Annotated[
    str | None,
    Header(max_length=1000, description="ETag from a previous read; a stale one gives 412."),
]


def reject_repeated_query_parameters(request: Request) -> None:
    """`?q=a&q=b` is ambiguous for a single-valued parameter: refuse it instead of guessing."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            "A query parameter was given more than once.",
            errors=[{"detail": "Give this parameter once.", "parameter": n} for n in repeated],
        )
