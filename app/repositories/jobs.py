"""All SQL of jobs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
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
