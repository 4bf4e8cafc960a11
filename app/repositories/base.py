"""What every repository shares: it works in the session of its caller's unit of work."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    """Base class of the repositories: queries and writes in `session`, never a commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)
