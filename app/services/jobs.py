"""Jobs: submitted over HTTP, accepted when stored (outbox), sent to the worker; run there."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.core.context import current
from app.core.db import after_commit
from app.errors.exceptions import AppError, JobNotCancellable
from app.errors.problem import problem_from
from app.models import Job, utcnow
from app.repositories.jobs import JobRepository
from app.schemas.pagination import Cursor, next_cursor
from app.services.resources import not_found

EXTRACT_GRAPH = "extract-graph"
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
CANCELLED = "cancelled"
# Final states: a delivery of a job in one of them does nothing.
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})


class JobFinishedElsewhere(Exception):
    """Another delivery of the same message finished the job first."""


class JobDeadLettered(Exception):
    """The broker gave up on the job's message: its workers kept dying on it."""


class JobQueue(Protocol):
    def prepare(self, job: Job) -> Callable[[], Awaitable[None]]:
        """Stamp the job with its message labels; returns its send, to run after commit."""
        ...


@audited
class JobService:
    async def submit(
        self, session: AsyncSession, *, owner_id: str, kind: str, text: str, queue: JobQueue
    ) -> Job:
        """Store the job: it is accepted once the unit of work commits (transactional
        outbox). It is sent right after the commit; if the broker does not take it, the
        outbox relay sends it later, in the trace of this request all the same.
        """
        context = current()
        job = Job(
            id=uuid.uuid4(),
            owner_id=owner_id,
            kind=kind,
            status=QUEUED,
            input_text=text,
            attempts=0,
            correlation_id=context.correlation_id if context else None,
            created_at=utcnow(),
        )
        send = queue.prepare(job)
        await JobRepository.from_session(session).add(job)
        after_commit(session, send)
        return job

    async def get(self, session: AsyncSession, *, owner_id: str, job_id: uuid.UUID) -> Job:
        job = await JobRepository.from_session(session).get(owner_id, job_id)
        if job is None:
            raise not_found("job")
        return job

    async def unfinished(self, session: AsyncSession, *, job_id: uuid.UUID) -> Job | None:
        """The job, unless it is unknown or finished (for a worker, not a user)."""
        job = await JobRepository.from_session(session).get_for_update(job_id)
        return None if job is None or job.status in FINISHED else job

    async def list_jobs(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        limit: int,
        after: Cursor | None = None,
        status: str | None = None,
    ) -> tuple[list[Job], str | None]:
        jobs = await JobRepository.from_session(session).page(
            owner_id, limit=limit, after=after, status=status
        )
        return jobs, next_cursor(jobs, limit)

    async def cancel(self, session: AsyncSession, *, owner_id: str, job_id: uuid.UUID) -> Job:
        """Cancel a queued job; JobNotCancellable (409) once it is running or finished.

        A message already on its way to a worker finds the job cancelled and does nothing
        (`start` treats it as finished).
        """
        repository = JobRepository.from_session(session)
        cancelled = await repository.change_status(
            owner_id,
            job_id,
            from_status=QUEUED,
            values={"status": CANCELLED, "finished_at": utcnow()},
        )
        job = await repository.get(owner_id, job_id)
        if job is None:
            raise not_found("job")
        if not cancelled:
            raise JobNotCancellable(
                f"The job is {job.status}: only a queued job can be cancelled.",
                job_status=job.status,
            )
        return job

    async def start(self, session: AsyncSession, *, job_id: uuid.UUID) -> Job | None:
        """Mark the job running and count the attempt; None if there is nothing to do.

        A redelivered message whose job already finished is skipped: that is what makes
        at-least-once delivery safe. So is one whose job was cancelled: the row lock (and
        the cancel's conditional UPDATE) let only one of them change a queued job.
        """
        job = await JobRepository.from_session(session).get_for_update(job_id)
        if job is None or job.status in FINISHED:
            return None
        job.status = RUNNING
        job.attempts += 1
        job.started_at = utcnow()
        job.problem = None
        return job

    async def succeed(
        self, session: AsyncSession, *, job_id: uuid.UUID, result: dict[str, Any]
    ) -> None:
        job = await JobRepository.from_session(session).get_for_update(job_id)
        if job is None or job.status in FINISHED:
            raise JobFinishedElsewhere(str(job_id))
        job.status = SUCCEEDED
        job.result = result
        job.finished_at = utcnow()

    async def fail(
        self,
        session: AsyncSession,
        *,
        job_id: uuid.UUID,
        error: AppError,
        event_id: str | None = None,
    ) -> None:
        """Mark the job failed with the problem of `error` (and the Sentry `event_id` it
        was reported as); a job that has finished already is left as it is."""
        job = await JobRepository.from_session(session).get_for_update(job_id)
        if job is None or job.status in FINISHED:
            return
        job.status = FAILED
        job.problem = problem_from(
            error,
            instance=f"/v1/ai/jobs/{job.id}",
            correlation_id=job.correlation_id,
            event_id=event_id,
        )
        job.finished_at = utcnow()


job_service = JobService()
