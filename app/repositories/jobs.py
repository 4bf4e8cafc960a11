"""All SQL of jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, true, update

from app.models import Job
from app.repositories.base import Repository
from app.schemas.pagination import Cursor


class JobRepository(Repository):
    async def add(self, job: Job) -> Job:
        self.session.add(job)
        await self.session.flush()
        return job

    async def get(self, owner_id: str, job_id: uuid.UUID) -> Job | None:
        result = await self.session.execute(
            select(Job).where(Job.id == job_id, Job.owner_id == owner_id)
        )
        return result.scalar_one_or_none()

    async def get_for_update(self, job_id: uuid.UUID) -> Job | None:
        """The job, locked against a concurrent delivery of the same message (PostgreSQL)."""
        result = await self.session.execute(select(Job).where(Job.id == job_id).with_for_update())
        return result.scalar_one_or_none()

    async def unsent(self, *, limit: int) -> list[Job]:
        """Queued jobs whose message the broker has not accepted yet, oldest first."""
        result = await self.session.execute(
            select(Job)
            .where(Job.sent_at.is_(None), Job.status == "queued")
            .order_by(Job.created_at)
            .limit(limit)
        )
        return list(result.scalars())

    async def count_unsent(self) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(Job)
            .where(Job.sent_at.is_(None), Job.status == "queued")
        )
        return int(result.scalar_one())

    async def mark_sent(self, job_id: uuid.UUID, at: datetime) -> None:
        """Record the broker's acceptance; only this column, so a worker already running
        the job (in-process broker) is not overwritten."""
        await self.session.execute(
            update(Job).where(Job.id == job_id, Job.sent_at.is_(None)).values(sent_at=at)
        )

    async def page(
        self, owner_id: str, *, limit: int, after: Cursor | None = None, status: str | None = None
    ) -> list[Job]:
        """The owner's jobs, newest first (the id breaks ties), after `after`."""
        position = (
            true()
            if after is None
            else or_(
                Job.created_at < after.created_at,
                and_(Job.created_at == after.created_at, Job.id < after.id),
            )
        )
        statement = select(Job).where(Job.owner_id == owner_id, position)
        if status is not None:
            statement = statement.where(Job.status == status)
        statement = statement.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def change_status(
        self, owner_id: str, job_id: uuid.UUID, *, from_status: str, values: dict[str, Any]
    ) -> bool:
        """Compare-and-set: change the job only if it still has `from_status`.

        One UPDATE, so a worker starting the job at the same moment either sees the change
        or makes it fail (PostgreSQL re-checks the condition after waiting on its row lock).
        """
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.owner_id == owner_id, Job.status == from_status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1
