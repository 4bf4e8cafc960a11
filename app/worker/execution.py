"""Consumer side: one message = one job run, in the originating request's context and trace.

Each message runs in `job_scope`: the validated labels bound as its request context (so
audit lines carry the request's correlation id and user), and with Sentry on, *fresh*
Sentry scopes (the in-process broker copies the HTTP request's context into the task, and
its scope would otherwise rename the job's transaction), the producer's trace continued,
and a transaction named after the task with a `queue.process` span carrying the messaging
data of Sentry's Queues page. Transient failures are retried with backoff up to
JOB_MAX_ATTEMPTS; a job that fails for good is marked failed with its problem and reported
once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sentry_sdk
import structlog
from sentry_sdk.scope import Scope, ScopeType, use_isolation_scope, use_scope
from sentry_sdk.tracing import Span, Transaction, TransactionSource
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import Context

from app.core.config import Settings
from app.core.context import RequestContext, bound, new_correlation_id, set_user_id
from app.core.db import is_outage
from app.core.sentry import HANDLED_ERRORS_LOGGER
from app.core.spans import OFF_SPAN
from app.core.tracking import error_tracking
from app.errors.exceptions import AppError, InternalError, ServiceUnavailable
from app.models import Job
from app.services.extraction import graph_extraction_service
from app.services.jobs import JobDeadLettered, JobFinishedElsewhere, job_problem, job_service
from app.worker.labels import JobLabels, is_dead_letter, now_ms

TASK_OP = "queue.task.taskiq"
# What an unexpected job failure's event says produced it.
JOB_MECHANISM = "taskiq"
PROCESS_OP = "queue.process"

# broker.state attribute: the set of job tasks of an in-process broker (API process).
IN_PROCESS_JOBS = "in_process_jobs"

_T = TypeVar("_T")

log = structlog.get_logger("graphnode.worker")
error_log = structlog.get_logger(HANDLED_ERRORS_LOGGER)


@contextmanager
def fresh_sentry_scopes() -> Iterator[None]:
    with use_isolation_scope(Scope(ty=ScopeType.ISOLATION)), use_scope(Scope(ty=ScopeType.CURRENT)):
        yield


@contextmanager
def job_scope(
    context: Context, parsed: JobLabels, settings: Settings, system: str, *, job_id: str
) -> Iterator[tuple[Span, Span]]:
    """Everything one delivery runs inside; yields its transaction and `queue.process` span.

    With Sentry off these are no-op spans and no scope, transaction or span is built: the
    SDK would build, scope and time real ones for every job (about 35 µs) and send nothing.
    """
    request_context = RequestContext(
        correlation_id=parsed.correlation_id or new_correlation_id(),
        source="worker",
        user_id=parsed.user_id,
        job_id=job_id,
    )
    if not sentry_sdk.get_client().is_active():
        with bound(request_context):
            yield OFF_SPAN, OFF_SPAN
        return
    # Fresh scopes, then bound() tags them: no second fork as in bind_request_context.
    with fresh_sentry_scopes(), bound(request_context):
        sentry_sdk.get_isolation_scope().set_tag("component", "worker")
        with job_transaction(context, parsed, settings, system) as (transaction, span):
            yield transaction, span


@contextmanager
def job_transaction(
    context: Context, parsed: JobLabels, settings: Settings, system: str
) -> Iterator[tuple[Transaction, Span]]:
    message = context.message
    transaction = sentry_sdk.continue_trace(
        parsed.trace_headers, op=TASK_OP, name=message.task_name, source=TransactionSource.TASK
    )
    with (
        sentry_sdk.start_transaction(transaction),
        sentry_sdk.start_span(op=PROCESS_OP, name=message.task_name) as span,
    ):
        span.set_data("messaging.message.id", message.task_id)
        span.set_data("messaging.destination.name", settings.broker_queue)
        span.set_data("messaging.system", system)
        if span.sampled:  # serialising the message again only pays for a span that is sent
            body = context.broker.formatter.dumps(message).message
            span.set_data("messaging.message.body.size", len(body))
        if parsed.enqueued_at_ms is not None:
            latency = max(0, now_ms() - parsed.enqueued_at_ms)
            span.set_data("messaging.message.receive.latency", latency)
        yield transaction, span


def _is_transient(error: BaseException) -> bool:
    return is_outage(error) or isinstance(error, ServiceUnavailable | ConnectionError)


def _problem_for(job: Job, error: BaseException, event_id: str | None) -> dict[str, object]:
    if isinstance(error, AppError) and error.status_code < 500:
        kind, detail = error.problem_type, error.detail
    elif _is_transient(error):
        kind = ServiceUnavailable.problem_type
        detail = "A dependency stayed unavailable through every attempt. Submit the job again."
    else:
        kind = InternalError.problem_type
        detail = "The job failed unexpectedly. It has been reported."
    return job_problem(
        job,
        type_=kind.uri,
        title=kind.title,
        status=kind.status or 500,
        detail=detail,
        event_id=event_id,
    )


async def run_job(context: Context, job_id: str) -> str:
    """Run one delivery of a job; returns its outcome (succeeded, failed or skipped).

    If the job cannot even be picked up (its database stayed unreachable through every
    retry), the failure is reported once and the message goes back to the queue, so the
    job is not acknowledged away while it is still queued.
    """
    settings: Settings = context.state.settings
    sessions: async_sessionmaker[AsyncSession] = context.state.session_factory
    system: str = context.state.messaging_system
    in_process: set[asyncio.Task[Any]] | None = getattr(context.state, IN_PROCESS_JOBS, None)
    parsed = JobLabels.parse(context.message.labels)
    try:
        job_uuid = uuid.UUID(job_id)
    except ValueError:
        log.warning("job.invalid_message", reason="job_id is not a UUID")
        return "skipped"

    with (
        job_scope(context, parsed, settings, system, job_id=str(job_uuid)) as (transaction, span),
        _tracked(in_process),
    ):
        if is_dead_letter(context.message.labels, settings):
            outcome = await _dead_letter(job_uuid, sessions, settings)
            transaction.set_status("internal_error" if outcome == "failed" else "ok")
            return outcome
        try:
            outcome = await _attempts(job_uuid, sessions, settings, span)
        except asyncio.CancelledError:
            if in_process is not None:
                # Nothing delivers an in-process message again: say why the job stopped.
                await _record_interrupted(job_uuid, sessions)
            raise
        except Exception as error:
            transaction.set_status("internal_error")
            event_id = error_tracking.capture_exception(error, context={"job_id": job_id})
            error_log.error(
                "job.requeued",
                error_type=type(error).__name__,
                sentry_event_id=event_id,
                exc_info=error,
            )
            await context.requeue()  # raises NoResultError: no result for this delivery
            raise
        transaction.set_status("internal_error" if outcome == "failed" else "ok")
        return outcome


@contextmanager
def _tracked(jobs: set[asyncio.Task[Any]] | None) -> Iterator[None]:
    task = asyncio.current_task()
    if jobs is None or task is None:
        yield
        return
    jobs.add(task)
    try:
        yield
    finally:
        jobs.discard(task)


async def drain_in_process_jobs(jobs: set[asyncio.Task[Any]], grace_seconds: float) -> None:
    """Let the jobs running in this process finish; interrupt those still running after
    `grace_seconds` (each records itself failed, so none stays "running" forever)."""
    if not jobs:
        return
    _, pending = await asyncio.wait(set(jobs), timeout=grace_seconds)
    if pending:
        log.warning("jobs.interrupted", count=len(pending), grace_seconds=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _record_interrupted(
    job_id: uuid.UUID, sessions: async_sessionmaker[AsyncSession]
) -> None:
    try:
        async with sessions() as session:
            await job_service.interrupt(session, job_id=job_id)
            await session.commit()
    except Exception as error:
        error_log.error("job.interrupt_unrecorded", error_type=type(error).__name__)
    else:
        log.warning("job.interrupted")


async def _retrying(operation: Callable[[], Awaitable[_T]], settings: Settings, *, step: str) -> _T:
    """`operation()`, retried with backoff while it fails on an outage."""
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            if not _is_transient(error) or attempt >= settings.job_max_attempts:
                raise
            delay = settings.job_retry_base_seconds * 2 ** (attempt - 1)
            log.warning(
                "job.retrying",
                step=step,
                attempt=attempt,
                error_type=type(error).__name__,
                delay_seconds=delay,
            )
            await asyncio.sleep(delay)
            attempt += 1


async def _attempts(
    job_id: uuid.UUID,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    span: Span,
) -> str:
    async def start() -> Job | None:
        async with sessions() as session:
            job = await job_service.start(session, job_id=job_id)
            await session.commit()
            return job

    while True:
        job = await _retrying(start, settings, step="start")
        if job is None:
            # Unknown, finished in an earlier delivery or cancelled: at-least-once made safe.
            log.info("job.skipped", reason="unknown, already finished or cancelled")
            return "skipped"
        set_user_id(job.owner_id)
        span.set_data("messaging.message.retry.count", job.attempts - 1)
        try:
            async with sessions() as session:
                summary = await graph_extraction_service.extract(
                    session, owner_id=job.owner_id, text=job.input_text
                )
                # Nodes, edges and "succeeded" commit together: a crash before this point
                # leaves nothing behind, so a redelivery cannot write anything twice.
                await job_service.succeed(session, job_id=job_id, result=summary.as_dict())
                await session.commit()
        except JobFinishedElsewhere:
            # A duplicate delivery finished first; this one's writes are rolled back.
            log.info("job.skipped", reason="finished in another delivery")
            return "skipped"
        except Exception as error:
            if _is_transient(error) and job.attempts < settings.job_max_attempts:
                delay = settings.job_retry_base_seconds * 2 ** (job.attempts - 1)
                log.warning(
                    "job.retrying",
                    step="run",
                    attempt=job.attempts,
                    error_type=type(error).__name__,
                    delay_seconds=delay,
                )
                await asyncio.sleep(delay)
                continue
            await _fail(job, error, sessions, settings)
            return "failed"
        log.info("job.succeeded", attempt=job.attempts, **summary.as_dict())
        return "succeeded"


async def _dead_letter(
    job_id: uuid.UUID, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> str:
    """A message SQS moved to the dead-letter queue (its redrive policy's receive count was
    used up by workers that died on it) becomes a failed job, reported once; acknowledging
    it takes it out of the dead-letter queue."""

    async def find() -> Job | None:
        async with sessions() as session:
            job = await job_service.unfinished(session, job_id=job_id)
            await session.commit()
            return job

    job = await _retrying(find, settings, step="dead-letter")
    if job is None:
        log.info("job.skipped", reason="unknown or already finished")
        return "skipped"
    set_user_id(job.owner_id)
    error = JobDeadLettered(
        f"job {job.id} stopped its worker {job.attempts} times; the broker dead-lettered it"
    )
    event_id = error_tracking.capture_exception(
        error,
        {"job_id": str(job.id), "kind": job.kind, "attempts": job.attempts},
        handled=False,  # nothing in the code expected its workers to die
        mechanism=JOB_MECHANISM,
    )
    problem = job_problem(
        job,
        type_=InternalError.problem_type.uri,
        title=InternalError.problem_type.title,
        status=InternalError.problem_type.status or 500,
        detail=(
            f"The job stopped its worker {job.attempts} times without finishing; its message "
            "was moved to the dead-letter queue. It has been reported."
        ),
        event_id=event_id,
    )

    async def record() -> None:
        async with sessions() as session:
            await job_service.fail(session, job_id=job.id, problem=problem)
            await session.commit()

    await _retrying(record, settings, step="record-failure")
    error_log.error(
        "job.dead_lettered",
        queue=settings.broker_dead_letter_queue,
        attempts=job.attempts,
        sentry_event_id=event_id,
    )
    return "failed"


async def _fail(
    job: Job, error: Exception, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    event_id = error_tracking.capture_exception(
        error,
        {"job_id": str(job.id), "kind": job.kind, "attempts": job.attempts},
        # Unexpected (not a mapped AppError, not an outage that outlasted the retries):
        # Sentry's "unhandled", as for a request's 500.
        handled=isinstance(error, AppError) or _is_transient(error),
        mechanism=JOB_MECHANISM,
    )
    problem = _problem_for(job, error, event_id)

    async def record() -> None:
        async with sessions() as session:
            await job_service.fail(session, job_id=job.id, problem=problem)
            await session.commit()

    try:
        await _retrying(record, settings, step="record-failure")
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
