"""The Redis streams broker, with redelivery that also works on an idle queue."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker


class ReclaimingRedisStreamBroker(RedisStreamBroker):
    """RedisStreamBroker whose listener reclaims unacknowledged messages on every turn.

    taskiq-redis 1.2.4 runs its XAUTOCLAIM pass only after a read returned new messages,
    so a message taken by a worker that died stays pending for as long as nothing else is
    enqueued: the job is never redelivered (the upstream rework is taskiq-redis PR #129;
    its reclaim lock without a timeout, issue #131, is a second way to lose it). Here the
    pass runs after every read; XAUTOCLAIM's `min_idle_time` is the guard against two
    workers claiming the same message.
    """

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
        return AckableMessage(
            data=fields[b"data"], ack=self._ack_generator(id=key, queue_name=queue)
        )
