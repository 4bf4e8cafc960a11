"""All SQL of jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Job


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> JobRepository:
        return cls(session)

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
