"""Worker overhead: jobs/s through taskiq, bare vs with our layer, in-process and on Redis.

    .venv/bin/python -m bench.worker                 # 5 paired rounds of 3,000 jobs each
    .venv/bin/python -m bench.worker --jobs 1000 --rounds 3 --redis-url ''   # no Redis

"Ours" is what every message gets from us, minus the job's own work: on the producer side
the bound request context, a `queue.publish` span and the context middleware (context and
trace labels); on the consumer side label validation and `app.worker.execution.job_scope`,
the same scope `run_job` runs every job in (the bound context, and with Sentry on fresh
Sentry scopes, the continued trace with its transaction and `queue.process` span). Each
setup runs twice: with Sentry off (our layer alone), then with Sentry initialised as in
production (errors always, traces at 0.1, sent to bench.run's local ingest, which runs in
a process of its own). The producer runs outside a request transaction (as a script or
CLI would), so its publish spans are not sampled; each job starts its own trace, and
consumer transactions are sampled at 0.1. For Redis, ours is
also our broker (`ReclaimingRedisStreamBroker`) against taskiq-redis's `RedisStreamBroker`:
the difference includes their reclaim passes (bare: after every read that returned
messages; ours: at most every tenth of the redelivery delay), while our keepalive (every
third of the delay, 10 minutes by default) never fires in a run this short. "Bare" is the
same no-op task on the bare broker. Producer and consumer share one process (like the
in-process broker); bare and ours alternate in paired rounds so they share the machine's
noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import sentry_sdk
from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.receiver import Receiver

from app.core.config import Settings
from app.core.context import bind_request_context
from app.core.sentry import init_sentry
from app.core.spans import start_span
from app.worker.execution import job_scope
from app.worker.labels import JobLabels
from app.worker.middleware import PUBLISH_OP, ContextPropagationMiddleware
from bench.run import Ingest

QUEUE_GROUP = "bench-workers"
# A round that takes longer has lost jobs: say which setup, rather than hang.
ROUND_TIMEOUT_SECONDS = 120.0
# Stopping the listeners and brokers: bounded, and the streams are deleted regardless. Runs
# have hung at the end of the Redis stage (4 of 9 on 2026-11-29) after every job had run and
# been acknowledged; cause not found (bench/RESULTS.md).
CLEANUP_TIMEOUT_SECONDS = 15.0


class Finished:
    """Counts finished jobs; `wait()` returns once the expected number have run."""

    def __init__(self) -> None:
        self._left = 0
        self._done = asyncio.Event()

    def expect(self, jobs: int) -> None:
        self._left = jobs
        self._done = asyncio.Event()

    @property
    def left(self) -> int:
        return self._left

    def hit(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self._done.set()

    async def wait(self) -> None:
        await self._done.wait()


class Setup:
    def __init__(self, name: str, broker: AsyncBroker, finished: Finished, ours: bool) -> None:
        self.name, self.broker, self.finished, self.ours = name, broker, finished, ours


def _register_bare(broker: AsyncBroker, finished: Finished) -> None:
    async def noop(job_id: str) -> str:
        finished.hit()
        return job_id

    broker.register_task(noop, task_name="noop")


def _register_ours(
    broker: AsyncBroker, finished: Finished, settings: Settings, system: str
) -> None:
    broker.add_middlewares(ContextPropagationMiddleware())
    broker.state.settings = settings
    broker.state.messaging_system = system

    async def noop(job_id: str, context: Context = TaskiqDepends()) -> str:
        parsed = JobLabels.parse(context.message.labels)
        with job_scope(context, parsed, settings, system, job_id=job_id) as (transaction, _):
            transaction.set_status("ok")
            finished.hit()
            return job_id

    broker.register_task(noop, task_name="noop")


async def _enqueue(setup: Setup, jobs: int) -> None:
    task = setup.broker.find_task("noop")
    assert task is not None
    if not setup.ours:
        for number in range(jobs):
            await task.kiq(job_id=str(number))
        return
    with bind_request_context(correlation_id=uuid.uuid4().hex, user_id="bench", source="http"):
        for number in range(jobs):
            # A trace per job, as when each job comes from its own request. In one trace
            # the sampling decision (one per trace) would be all jobs or none.
            if sentry_sdk.get_client().is_active():
                sentry_sdk.get_isolation_scope().set_new_propagation_context()
            with start_span(op=PUBLISH_OP, name="noop") as span:
                span.set_data("messaging.destination.name", "bench")
                await task.kiq(job_id=str(number))


async def throughput(setup: Setup, jobs: int) -> float:
    setup.finished.expect(jobs)
    started = time.perf_counter()
    await _enqueue(setup, jobs)
    try:
        await asyncio.wait_for(setup.finished.wait(), ROUND_TIMEOUT_SECONDS)
    except TimeoutError:
        kind = "ours" if setup.ours else "bare"
        raise RuntimeError(
            f"{setup.name}, {kind}: {setup.finished.left} of {jobs} jobs not finished "
            f"after {ROUND_TIMEOUT_SECONDS:.0f} s"
        ) from None
    return jobs / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[tuple[Setup, Setup]]:
    bare, ours = InMemoryBroker(max_async_tasks=100), InMemoryBroker(max_async_tasks=100)
    bare_done, ours_done = Finished(), Finished()
    _register_bare(bare, bare_done)
    _register_ours(ours, ours_done, settings, "taskiq-inmemory")
    for broker in (bare, ours):
        await broker.startup()
    try:
        yield (
            Setup("in-process", bare, bare_done, False),
            Setup("in-process", ours, ours_done, True),
        )
    finally:
        for broker in (bare, ours):
            await broker.shutdown()


@contextlib.asynccontextmanager
async def on_redis(settings: Settings, url: str) -> AsyncIterator[tuple[Setup, Setup]]:
    from redis.asyncio import Redis
    from taskiq_redis import RedisStreamBroker

    from app.worker.redis_streams import ReclaimingRedisStreamBroker

    def make(kind: Callable[..., AsyncBroker], queue: str) -> AsyncBroker:
        broker = kind(url=url, queue_name=queue, consumer_group_name=QUEUE_GROUP)
        broker.is_worker_process = True  # startup() creates the consumer group
        return broker

    queues = [f"graphnode-bench-{uuid.uuid4().hex}" for _ in range(2)]
    bare, ours = make(RedisStreamBroker, queues[0]), make(ReclaimingRedisStreamBroker, queues[1])
    bare_done, ours_done = Finished(), Finished()
    _register_bare(bare, bare_done)
    _register_ours(ours, ours_done, settings, "redis")
    stop = asyncio.Event()
    listeners = []
    for broker in (bare, ours):
        await broker.startup()
        receiver = Receiver(broker, max_async_tasks=100, run_startup=False)
        listeners.append(asyncio.create_task(receiver.listen(stop)))
    try:
        yield (
            Setup("redis streams", bare, bare_done, False),
            Setup("redis streams", ours, ours_done, True),
        )
    finally:
        stop.set()
        for listener in listeners:
            listener.cancel()
        try:
            await _bounded(
                "stopping the listeners", asyncio.gather(*listeners, return_exceptions=True)
            )
            for broker in (bare, ours):
                await _bounded(f"{type(broker).__name__}.shutdown()", broker.shutdown())
        finally:
            async with Redis.from_url(url) as redis:
                await redis.delete(*queues)


async def _bounded(what: str, awaitable: Awaitable[Any]) -> None:
    # asyncio.wait, not wait_for: wait_for waits for a cancelled awaitable to finish
    # cancelling, which is exactly what may never happen here.
    task = asyncio.ensure_future(awaitable)
    _, pending = await asyncio.wait({task}, timeout=CLEANUP_TIMEOUT_SECONDS)
    if pending:
        print(f"warning: {what} did not finish in {CLEANUP_TIMEOUT_SECONDS:.0f} s", file=sys.stderr)


async def _redis_reachable(url: str) -> bool:
    from redis.asyncio import Redis

    try:
        async with Redis.from_url(url, socket_connect_timeout=2) as redis:
            await redis.ping()
    except Exception:
        return False
    return True


async def compare(bare: Setup, ours: Setup, jobs: int, rounds: int, sentry: str) -> str:
    for setup in (bare, ours):
        await throughput(setup, min(200, jobs))  # warm-up
    rates = []
    for _ in range(rounds):
        rates.append((await throughput(bare, jobs), await throughput(ours, jobs)))
    ratios = [b / a for a, b in rates]
    return (
        f"| {bare.name} | {sentry} | {statistics.median(a for a, _ in rates):.0f} | "
        f"{statistics.median(b for _, b in rates):.0f} | "
        f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the streams comparison ('' to skip it)",
    )
    args = parser.parse_args()

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret="bench-secret-" + "x" * 32,
        sentry_dsn=_ingest_in_its_own_process(),
        sentry_traces_sample_rate=0.1,
    )
    redis_reachable = bool(args.redis_url) and await _redis_reachable(args.redis_url)
    rows = []
    # Sentry off first (our layer alone), then the production configuration.
    for sentry in ("off", "production"):
        if sentry == "production":
            init_sentry(settings, component="worker")
        async with in_process(settings) as (bare, ours):
            rows.append(await compare(bare, ours, args.jobs, args.rounds, sentry))
        if redis_reachable:
            async with on_redis(settings, args.redis_url) as (bare, ours):
                rows.append(await compare(bare, ours, args.jobs, args.rounds, sentry))
        elif args.redis_url:
            unreachable = f"skipped: {args.redis_url} is unreachable"
            rows.append(f"| redis streams | {sentry} | {unreachable} | | |")
    sentry_sdk.flush()
    print(f"{args.rounds} paired rounds of {args.jobs} jobs")
    print(
        "| broker | Sentry | bare taskiq, jobs/s | ours, jobs/s | ours vs bare, median (min-max) |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def _serve_ingest(dsn_out: Connection) -> None:
    dsn_out.send(Ingest().dsn)
    threading.Event().wait()


def _ingest_in_its_own_process() -> str:
    """The local Sentry endpoint's DSN. It runs in a process of its own: in this one its
    request handling would compete with the jobs for the GIL, which a real Sentry never
    does (bench.run's servers are separate processes from it too)."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_ingest, args=(sending,), daemon=True
    )
    process.start()
    dsn: str = receiving.recv()
    return dsn


if __name__ == "__main__":
    asyncio.run(main())
