"""Transactional outbox: a job is accepted once its row commits; the relay sends it.

Right after the commit the request sends the job itself (inside its `queue.publish` span);
if the broker does not take it, the job stays in the outbox (`sent_at` NULL) and the relay
that runs in every API process sends it on its next pass, every OUTBOX_RELAY_INTERVAL_SECONDS
and at start-up (which is what picks up a job whose API process died between the commit and
the send). A job can therefore be sent twice (two API processes' relays, or a crash between
the send and recording it); its execution is idempotent, so it runs once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import unit_of_work
from app.core.spans import start_background_task, stop_background_task
from app.models import Job, utcnow
from app.repositories.jobs import JobRepository
from app.worker.queue import TaskiqJobQueue

log = structlog.get_logger("graphnode.outbox")

# How long one send may take before the job is left to the relay (a broker that
# black-holes connections must not hold the request).
SEND_TIMEOUT_SECONDS = 5.0
RELAY_BATCH = 100


class OutboxRelay:
    def __init__(
        self,
        queue: TaskiqJobQueue,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval_seconds: float,
    ) -> None:
        self.transport = queue  # the broker's side: stamps and sends one job
        self._sessions = sessions
        self._interval = interval_seconds
        # Jobs this process is sending right now: the relay's pass leaves them alone.
        self._in_flight: set[uuid.UUID] = set()
        self._task: asyncio.Task[None] | None = None

    def prepare(self, job: Job) -> Callable[[], Awaitable[None]]:
        """Stamp the job with its message labels (before it is stored); returns the send
        to run once it has committed, which never raises: a job the broker does not take
        waits for the relay."""
        span = self.transport.stamp(job)

        async def send_after_commit() -> None:
            with span:
                sent = await self._send(job)
            if not sent:
                log.warning(
                    "job.send_deferred", job_id=str(job.id), jobs_waiting=await self.waiting()
                )

        return send_after_commit

    async def waiting(self) -> int | None:
        """Committed jobs not yet accepted by the broker; None if the database is down."""
        try:
            async with self._sessions() as session:
                return await JobRepository.from_session(session).count_unsent()
        except Exception as error:
            log.warning("outbox.count_failed", error_type=type(error).__name__)
            return None

    async def relay(self) -> int:
        """One pass: send the waiting jobs, oldest first, until the broker refuses one."""
        async with self._sessions() as session:
            jobs = await JobRepository.from_session(session).unsent(limit=RELAY_BATCH)
        sent = 0
        for job in jobs:
            if job.id in self._in_flight:
                continue
            if not await self._send(job):
                break
            sent += 1
        if jobs:
            waiting = await self.waiting()
            if sent:
                log.info("outbox.relayed", count=sent, jobs_waiting=waiting)
            if waiting:
                log.warning("outbox.waiting", jobs_waiting=waiting)
        return sent

    def start(self) -> None:
        self._task = start_background_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await stop_background_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.relay()
            except Exception as error:  # the database is down: the next pass tries again
                log.warning("outbox.relay_failed", error_type=type(error).__name__)
            await asyncio.sleep(self._interval)

    async def _send(self, job: Job) -> bool:
        self._in_flight.add(job.id)
        try:
            try:
                await asyncio.wait_for(self.transport.send(job), SEND_TIMEOUT_SECONDS)
            except Exception as error:
                log.warning(
                    "outbox.send_failed", job_id=str(job.id), error_type=type(error).__name__
                )
                return False
            try:
                async with unit_of_work(self._sessions) as session:
                    await JobRepository.from_session(session).mark_sent(job.id, utcnow())
            except Exception as error:
                # Sent but not recorded: the relay sends it again and that delivery is skipped.
                log.warning(
                    "outbox.mark_failed", job_id=str(job.id), error_type=type(error).__name__
                )
            return True
        finally:
            self._in_flight.discard(job.id)
