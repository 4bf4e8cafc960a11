"""Dependency aliases shared by the routers: the unit of work, the caller, a page request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import unit_of_work
from app.core.security import CurrentUser
from app.errors.exceptions import ValidationFailed
from app.repositories.cursor import Cursor
from app.schemas.graph import PAGE_DEFAULT, PAGE_MAX
from app.services.graph import PageRequest

__all__ = ["CurrentUser", "PageDep", "SessionDep"]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in unit_of_work(request.app.state.session_factory):
        yield session


# scope="function": commit before the response is sent, so a failed commit is the
# client's error response, never a 2xx for data that was not stored.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def _page(
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size.")] = PAGE_DEFAULT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
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
