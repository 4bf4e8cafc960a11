"""Consumer side: one message = one job run, in the originating request's context and trace.

Each message runs in `job_scope`: the validated labels bound as its request context (so
audit lines carry the request's correlation id and user), and with Sentry on, *fresh*
Sentry scopes (the in-process broker copies the HTTP request's context into the task, and
its scope would otherwise rename the job's transaction), the producer's trace continued,
and a transaction named after the task with a `queue.process` span carrying the messaging
data of Sentry's Queues page. The job's lifecycle is `app.services.job_runner.JobRunner`'s;
here is what is about taskiq: a delivery that cannot pick its job up goes back to the queue,
and an in-process job cut short by a shutdown is failed, since nothing delivers it again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import sentry_sdk
import structlog
from sentry_sdk.scope import Scope, ScopeType, use_isolation_scope, use_scope
from sentry_sdk.tracing import Span, Transaction, TransactionSource
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import Context

from app.core.config import Settings
from app.core.context import RequestContext, bound, new_correlation_id
from app.core.sentry import HANDLED_ERRORS_LOGGER
from app.core.spans import OFF_SPAN
from app.core.tracking import error_tracking
from app.models import Job
from app.services.job_runner import JobRunner
from app.worker.labels import JobLabels, is_dead_letter, now_ms

TASK_OP = "queue.task.taskiq"
# What an unexpected job failure's event says produced it.
JOB_MECHANISM = "taskiq"
PROCESS_OP = "queue.process"

# broker.state attribute: the set of job tasks of an in-process broker (API process).
IN_PROCESS_JOBS = "in_process_jobs"

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
    SDK would build, scope and time real ones for every job and send nothing.
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

    runner = JobRunner(sessions, settings, mechanism=JOB_MECHANISM)
    with (
        job_scope(context, parsed, settings, system, job_id=str(job_uuid)) as (transaction, span),
        _tracked(in_process),
    ):
        if is_dead_letter(context.message.labels, settings):
            outcome = await runner.dead_letter(job_uuid)
        else:
            try:
                outcome = await runner.run(job_uuid, on_start=partial(_count_retries, span))
            except asyncio.CancelledError:
                if in_process is not None:
                    # Nothing delivers an in-process message again: say why the job stopped.
                    await runner.interrupt(job_uuid)
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


def _count_retries(span: Span, job: Job) -> None:
    span.set_data("messaging.message.retry.count", job.attempts - 1)


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
