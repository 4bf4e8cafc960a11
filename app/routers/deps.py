"""Dependency aliases shared by the routers: the unit of work, the caller, a page request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import unit_of_work
from app.core.security import CurrentUser
from app.errors.exceptions import ValidationFailed
from app.repositories.cursor import CURSOR_PATTERN, Cursor
from app.schemas.graph import PAGE_DEFAULT, PAGE_MAX
from app.services.graph import PageRequest

__all__ = ["CurrentUser", "PageDep", "SessionDep"]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.session_factory) as session:
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


def reject_repeated_query_parameters(request: Request) -> None:
    """`?q=a&q=b` is ambiguous for a single-valued parameter: refuse it instead of guessing."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            "A query parameter was given more than once.",
            errors=[{"detail": "Give this parameter once.", "parameter": n} for n in repeated],
        )
