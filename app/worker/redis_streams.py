"""The Redis streams broker, with redelivery that also works on an idle queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

log = structlog.get_logger("graphnode.worker")


class ReclaimingRedisStreamBroker(RedisStreamBroker):
    """RedisStreamBroker whose listener reclaims unacknowledged messages on every turn.

    taskiq-redis 1.2.4 runs its XAUTOCLAIM pass only after a read returned new messages,
    so a message taken by a worker that died stays pending for as long as nothing else is
    enqueued: the job is never redelivered (the upstream rework is taskiq-redis PR #129;
    its reclaim lock without a timeout, issue #131, is a second way to lose it). Here the
    pass runs after every read; XAUTOCLAIM's `min_idle_time` is the guard against two
    workers claiming the same message.

    Idle time is measured from the last claim, not from the last sign of life, so a job
    that runs longer than the redelivery delay would be claimed by a second worker while
    the first is still on it. Each message this worker holds is therefore re-claimed
    (XCLAIM JUSTID, which resets the idle time without counting a delivery) every third of
    the delay until it is acknowledged; only a worker that died stops doing that.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keepalives: set[asyncio.Task[None]] = set()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                # redis-py's types are loose (and responses are bytes: nothing is decoded).
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
                reclaimed: Any = await redis.xautoclaim(
                    name=self.queue_name,
                    groupname=self.consumer_group_name,
                    consumername=self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for message_id, fields in reclaimed[1]:
                    yield self._ackable(self.queue_name, message_id, fields)

    def _ackable(self, stream: Any, message_id: Any, fields: Any) -> AckableMessage:
        queue = stream.decode() if isinstance(stream, bytes) else str(stream)
        key = message_id.decode() if isinstance(message_id, bytes) else str(message_id)
        keepalive = asyncio.create_task(self._keep_claimed(queue, key))
        self._keepalives.add(keepalive)
        keepalive.add_done_callback(self._keepalives.discard)
        acknowledge = self._ack_generator(id=key, queue_name=queue)

        async def ack() -> None:
            keepalive.cancel()
            await acknowledge()

        return AckableMessage(data=fields[b"data"], ack=ack)

    async def _keep_claimed(self, queue: str, message_id: str) -> None:
        interval = self.idle_timeout / 1000 / 3
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                await asyncio.sleep(interval)
                try:
                    await redis.xclaim(
                        queue,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=[message_id],
                        justid=True,
                    )
                except Exception as error:  # a Redis blip: the next turn tries again
                    log.warning("broker.reclaim_failed", error_type=type(error).__name__)

    async def shutdown(self) -> None:
        for keepalive in list(self._keepalives):
            keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._keepalives, return_exceptions=True)
        await super().shutdown()
