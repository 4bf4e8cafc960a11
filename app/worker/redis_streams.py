"""The Redis streams broker, with redelivery that also works on an idle queue."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Any

import sentry_sdk
import structlog
from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from app.core.spans import start_background_task, stop_background_task

log = structlog.get_logger("graphnode.worker")


class ReclaimingRedisStreamBroker(RedisStreamBroker):
    """RedisStreamBroker that redelivers a dead worker's messages, on an idle queue too.

    - A message read and never acknowledged (its worker died) is reclaimed once it has been
      idle for the redelivery delay, whether or not anything else is enqueued (taskiq-redis
      reclaims only after a read that returned messages: upstream PR #129, issue #131).
    - Reclaim passes run at most every tenth of the delay, and back to back while they come
      back full; XAUTOCLAIM's `min_idle_time` keeps two workers off the same message.
    - A message this worker still holds is never reclaimed while the worker lives: its idle
      time is reset (XCLAIM JUSTID, no delivery counted) every third of the delay until it
      is acknowledged, one call per stream, each bounded by that interval.
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
        await stop_background_task(self._keepalive)
        self._keepalive = None
        self._held.clear()
        await super().shutdown()
