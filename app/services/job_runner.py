"""One delivery of a job through its lifecycle: pick it up, run it, record how it ended.

Each step is a unit of work of its own, retried on an outage by the job's one retry policy
(`JobRetryPolicy`). A job that fails for good is marked failed with its problem and
reported once; a delivery that cannot even pick its job up raises, for its transport to
deliver it again. Nothing here knows the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.context import set_user_id
from app.core.db import unit_of_work
from app.core.sentry import HANDLED_ERRORS_LOGGER
from app.core.tracking import error_tracking
from app.errors.exceptions import AppError, InternalError, ServiceUnavailable
from app.models import Job
from app.services.extraction import ExtractionSummary, graph_extraction_service
from app.services.job_retry import JobRetryPolicy, is_transient
from app.services.jobs import JobDeadLettered, JobFinishedElsewhere, job_service

Outcome = Literal["succeeded", "failed", "skipped"]

UNAVAILABLE_DETAIL = "A dependency stayed unavailable through every attempt. Submit the job again."
UNEXPECTED_DETAIL = "The job failed unexpectedly. It has been reported."
INTERRUPTED_DETAIL = "The service shut down before the job finished. Submit it again."

_T = TypeVar("_T")

log = structlog.get_logger("graphnode.worker")
error_log = structlog.get_logger(HANDLED_ERRORS_LOGGER)


def job_error(error: BaseException) -> AppError:
    """What a job's failure tells its owner: a client error as it is, an outage that
    outlasted the retries as a 503, anything else as an internal error."""
    if isinstance(error, AppError) and error.status_code < 500:
        return error
    if is_transient(error):
        return ServiceUnavailable(UNAVAILABLE_DETAIL)
    return InternalError(UNEXPECTED_DETAIL)


class JobRunner:
    """Runs the deliveries of jobs stored in `sessions`; `mechanism` names the transport
    in the Sentry event of a failure nothing in the code expected."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        mechanism: str,
    ) -> None:
        self._sessions = sessions
        self._policy = JobRetryPolicy(settings)
        self._dead_letter_queue = settings.broker_dead_letter_queue
        self._mechanism = mechanism

    async def run(
        self, job_id: uuid.UUID, *, on_start: Callable[[Job], None] | None = None
    ) -> Outcome:
        """Start the job (counting the attempt), run it, and mark it succeeded or failed;
        a transient failure of the run starts it again. `on_start` sees each attempt.

        Raises what kept the job from starting (its database stayed unreachable).
        """
        job: Job | None = None

        def attempts() -> int:  # a run's attempts are stored with the job
            return job.attempts if job is not None else 0

        try:
            async for attempt in self._policy.retrying("run", attempts=attempts):
                job = None
                job = await self._policy.call(
                    "start", self._in_transaction, job_service.start, job_id
                )
                if job is None:
                    # Unknown, finished in an earlier delivery or cancelled: at-least-once
                    # made safe.
                    log.info("job.skipped", reason="unknown, already finished or cancelled")
                    return "skipped"
                set_user_id(job.owner_id)
                if on_start is not None:
                    on_start(job)
                with attempt:
                    try:
                        summary = await self._extract(job)
                    except JobFinishedElsewhere:
                        # A duplicate delivery finished first; this one's writes rolled back.
                        log.info("job.skipped", reason="finished in another delivery")
                        return "skipped"
                    log.info("job.succeeded", attempt=job.attempts, **summary.as_dict())
                    return "succeeded"
        except Exception as error:
            if job is None:
                raise  # it did not start: the transport delivers it again
            await self._fail(job, error)
            return "failed"
        raise AssertionError("tenacity ends with an attempt's outcome")

    async def dead_letter(self, job_id: uuid.UUID) -> Outcome:
        """A job whose message the broker dead-lettered (its workers kept dying on it)
        becomes a failed job, reported once."""
        job = await self._policy.call(
            "dead-letter", self._in_transaction, job_service.unfinished, job_id
        )
        if job is None:
            log.info("job.skipped", reason="unknown or already finished")
            return "skipped"
        set_user_id(job.owner_id)
        event_id = error_tracking.capture_exception(
            JobDeadLettered(
                f"job {job.id} stopped its worker {job.attempts} times; the broker dead-lettered it"
            ),
            _event_context(job),
            handled=False,  # nothing in the code expected its workers to die
            mechanism=self._mechanism,
        )
        error = InternalError(
            f"The job stopped its worker {job.attempts} times without finishing; its message "
            "was moved to the dead-letter queue. It has been reported."
        )
        await self._policy.call("record-failure", self._mark_failed, job.id, error, event_id)
        error_log.error(
            "job.dead_lettered",
            queue=self._dead_letter_queue,
            attempts=job.attempts,
            sentry_event_id=event_id,
        )
        return "failed"

    async def interrupt(self, job_id: uuid.UUID) -> None:
        """Fail a job whose run was cut short by a shutdown and will not be delivered again."""
        try:
            await self._mark_failed(job_id, ServiceUnavailable(INTERRUPTED_DETAIL))
        except Exception as error:
            error_log.error("job.interrupt_unrecorded", error_type=type(error).__name__)
        else:
            log.warning("job.interrupted")

    async def _in_transaction(
        self,
        step: Callable[..., Awaitable[_T]],
        job_id: uuid.UUID,
    ) -> _T:
        async with unit_of_work(self._sessions) as session:
            return await step(session, job_id=job_id)

    async def _extract(self, job: Job) -> ExtractionSummary:
        async with unit_of_work(self._sessions) as session:
            summary = await graph_extraction_service.extract(
                session, owner_id=job.owner_id, text=job.input_text
            )
            # Nodes, edges and "succeeded" commit together: a crash before this point
            # leaves nothing behind, so a redelivery cannot write anything twice.
            await job_service.succeed(session, job_id=job.id, result=summary.as_dict())
        return summary

    async def _fail(self, job: Job, error: Exception) -> None:
        event_id = error_tracking.capture_exception(
            error,
            _event_context(job),
            # Unexpected (not a mapped AppError, not an outage that outlasted the retries):
            # Sentry's "unhandled", as for a request's 500.
            handled=isinstance(error, AppError) or is_transient(error),
            mechanism=self._mechanism,
        )
        problem = job_error(error)
        try:
            await self._policy.call("record-failure", self._mark_failed, job.id, problem, event_id)
        except Exception as record_error:
            # Reported already (event_id): a second event would count one failure twice.
            error_log.error(
                "job.failure_unrecorded",
                error_type=type(record_error).__name__,
                sentry_event_id=event_id,
            )
        error_log.error(
            "job.failed",
            attempt=job.attempts,
            error_type=type(error).__name__,
            sentry_event_id=event_id,
            exc_info=error,
        )

    async def _mark_failed(
        self, job_id: uuid.UUID, error: AppError, event_id: str | None = None
    ) -> None:
        """The one way a job ends failed: with the problem of `error`."""
        async with unit_of_work(self._sessions) as session:
            await job_service.fail(session, job_id=job_id, error=error, event_id=event_id)


def _event_context(job: Job) -> dict[str, object]:
    return {"job_id": str(job.id), "kind": job.kind, "attempts": job.attempts}
