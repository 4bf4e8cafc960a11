"""The Redis streams broker, with redelivery that also works on an idle queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Any

import sentry_sdk
import structlog
from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from app.core.spans import start_background_task

log = structlog.get_logger("graphnode.worker")


class ReclaimingRedisStreamBroker(RedisStreamBroker):
    """RedisStreamBroker whose listener reclaims unacknowledged messages on an idle queue too.

    taskiq-redis 1.2.4 runs its XAUTOCLAIM pass only after a read returned new messages,
    so a message taken by a worker that died stays pending for as long as nothing else is
    enqueued: the job is never redelivered (the upstream rework is taskiq-redis PR #129;
    its reclaim lock without a timeout, issue #131, is a second way to lose it). Here the
    pass runs whether or not the read returned anything, at most every tenth of the
    redelivery delay (a message only becomes reclaimable a whole delay after its claim,
    and a pass after every read would double the round trips per job when reads return
    one message), and again at once while passes come back full, so a dead worker's
    backlog returns in one go. XAUTOCLAIM's `min_idle_time` is the guard against two
    workers claiming the same message.

    Idle time is measured from the last claim, not from the last sign of life, so a job
    that runs longer than the redelivery delay would be claimed by a second worker while
    the first is still on it. The messages this worker holds are therefore re-claimed
    (XCLAIM JUSTID, which resets the idle time without counting a delivery) every third of
    the delay until they are acknowledged, in one call per stream, each call bounded by
    that interval; only a worker that died stops doing that.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Deliveries this worker holds (read, not yet acknowledged): stream -> id -> count.
        self._held: dict[str, Counter[str]] = {}
        self._keepalive: asyncio.Task[None] | None = None

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        if self._keepalive is None:
            self._keepalive = start_background_task(self._keep_claimed(), name="redis-keepalive")
        reclaim_every = self.idle_timeout / 1000 / 10
        next_reclaim = 0.0
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                # redis-py's types are loose (and responses are bytes: nothing is decoded).
                # A scope per read: a read cancelled at shutdown leaves its span open (see
                # startup), and this task logs the shutdown.
                with sentry_sdk.new_scope():
                    fetched: Any = await redis.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=self.block,
                        noack=False,
                        count=self.count,
                    )
                for stream, messages in fetched or []:
                    for message_id, fields in messages:
                        yield self._ackable(stream, message_id, fields)
                if time.monotonic() < next_reclaim:
                    continue
                with sentry_sdk.new_scope():
                    reclaimed: Any = await redis.xautoclaim(
                        name=self.queue_name,
                        groupname=self.consumer_group_name,
                        consumername=self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        count=self.unacknowledged_batch_size,
                    )
                full = len(reclaimed[1]) >= self.unacknowledged_batch_size
                next_reclaim = 0.0 if full else time.monotonic() + reclaim_every
                for message_id, fields in reclaimed[1]:
                    yield self._ackable(self.queue_name, message_id, fields)

    def _ackable(self, stream: Any, message_id: Any, fields: Any) -> AckableMessage:
        queue = stream.decode() if isinstance(stream, bytes) else str(stream)
        key = message_id.decode() if isinstance(message_id, bytes) else str(message_id)
        held = self._held.setdefault(queue, Counter())
        held[key] += 1
        acknowledge = self._ack_generator(id=key, queue_name=queue)

        async def ack() -> None:
            held[key] -= 1
            if held[key] <= 0:
                del held[key]
            await acknowledge()

        return AckableMessage(data=fields[b"data"], ack=ack)

    async def _keep_claimed(self) -> None:
        interval = self.idle_timeout / 1000 / 3
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                await asyncio.sleep(interval)
                for queue, held in list(self._held.items()):
                    if not held:
                        continue
                    try:
                        # Bounded: a call stuck on a half-open connection must not stop
                        # the next turn from keeping these messages.
                        await asyncio.wait_for(
                            redis.xclaim(
                                queue,
                                self.consumer_group_name,
                                self.consumer_name,
                                min_idle_time=0,
                                message_ids=list(held),
                                justid=True,
                            ),
                            timeout=interval,
                        )
                    except Exception as error:  # a Redis blip: the next turn tries again
                        log.warning("broker.reclaim_failed", error_type=type(error).__name__)

    async def startup(self) -> None:
        # In a Sentry scope of its own: XGROUP CREATE fails with BUSYGROUP whenever the
        # group exists, and sentry-sdk's Redis integration (2.75) leaves the span of a
        # failed (or cancelled) command open and current. It would stay current in the
        # process's main task, giving every later line outside a request or job a trace
        # of no transaction.
        with sentry_sdk.new_scope():
            await super().startup()

    async def shutdown(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
        self._held.clear()
        await super().shutdown()
