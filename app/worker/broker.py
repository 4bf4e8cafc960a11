"""The taskiq broker chosen by BROKER_URL, with our middleware and tasks registered."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from taskiq import AsyncBroker, InMemoryBroker

from app.core.config import Settings, SettingsError
from app.worker.middleware import ContextPropagationMiddleware
from app.worker.tasks import register_tasks

CONSUMER_GROUP = "graphnode-workers"
# SQS long polling (the broker's default for its own queue).
SQS_WAIT_SECONDS = 10
# How long start-up waits for the broker before giving up with one line naming BROKER_URL.
BROKER_CONNECT_TIMEOUT_SECONDS = 10.0

# `messaging.system` values as Sentry's Queues page knows them.
_SYSTEMS = {
    "memory": "taskiq-inmemory",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "sqs": "aws_sqs",
}


def messaging_system(settings: Settings) -> str:
    return _SYSTEMS[urlsplit(settings.broker_url).scheme]


def _transport(settings: Settings) -> AsyncBroker:
    scheme = urlsplit(settings.broker_url).scheme
    if scheme == "memory":
        return InMemoryBroker()
    if scheme in ("redis", "rediss"):
        from app.worker.redis_streams import ReclaimingRedisStreamBroker

        # Streams with a consumer group: a message is acknowledged after the task ran, and
        # one left unacknowledged (its worker died) is claimed by another worker later.
        return ReclaimingRedisStreamBroker(
            url=settings.broker_url,
            queue_name=settings.broker_queue,
            consumer_group_name=CONSUMER_GROUP,
            idle_timeout=settings.broker_redelivery_seconds * 1000,
        )
    if scheme in ("amqp", "amqps"):
        from taskiq_aio_pika import AioPikaBroker, Queue

        # A durable quorum queue; messages are acknowledged after the task ran, and
        # RabbitMQ redelivers those of a connection that closed without acknowledging.
        return AioPikaBroker(
            url=settings.broker_url, task_queues=[Queue(name=settings.broker_queue)]
        )
    try:
        from taskiq_aio_sqs import SQSBroker, SQSQueue
    except ImportError:
        raise SettingsError(
            "invalid setting BROKER_URL: sqs:// needs the sqs extra "
            "(pip install 'graphnode-api[sqs]')"
        ) from None
    # sqs://<region>[?endpoint_url=http://localhost:4566]; credentials come from the usual
    # AWS sources (environment, instance role). Visibility timeout = redelivery delay; the
    # heartbeat extends it while a job runs, so only a dead worker's message comes back.
    region, endpoint = sqs_location(settings)
    dead_letters = settings.broker_dead_letter_queue
    sqs = SQSBroker(
        sqs_queue_name=settings.broker_queue,
        endpoint_url=endpoint,
        region_name=region,
        visibility_timeout=settings.broker_redelivery_seconds,
        enable_heartbeat=True,
        # The receiving queue's URL as a label: how a worker tells a dead letter.
        expose_message_metadata=dead_letters is not None,
    )
    if dead_letters is not None:
        sqs.with_queues(
            SQSQueue(
                name=dead_letters,
                wait_time_seconds=SQS_WAIT_SECONDS,
                visibility_timeout=settings.broker_redelivery_seconds,
            )
        )
    broker: AsyncBroker = sqs
    return broker


def sqs_location(settings: Settings) -> tuple[str, str | None]:
    """The region and endpoint of `sqs://<region>[?endpoint_url=...]`."""
    parts = urlsplit(settings.broker_url)
    return parts.hostname or "us-east-1", dict(parse_qsl(parts.query)).get("endpoint_url")


def build_broker(settings: Settings) -> AsyncBroker:
    broker = _transport(settings)
    broker.add_middlewares(ContextPropagationMiddleware())
    broker.state.settings = settings
    broker.state.messaging_system = messaging_system(settings)
    register_tasks(broker)
    return broker


async def ping_broker(broker: AsyncBroker) -> None:
    """Raise if the broker cannot be reached (used by /readyz)."""
    settings: Settings = broker.state.settings
    if urlsplit(settings.broker_url).scheme == "sqs":
        await _ping_sqs(settings)
        return
    pool = getattr(broker, "connection_pool", None)
    if pool is not None:  # Redis
        from redis.asyncio import Redis

        async with Redis(connection_pool=pool) as client:
            await client.ping()
        return
    connection = getattr(broker, "write_conn", None)
    # RabbitMQ: a robust connection that lost its server stays open while it reconnects.
    if connection is not None and (connection.is_closed or not connection.connected.is_set()):
        raise ConnectionError("the RabbitMQ connection is closed")


async def probe_broker(broker: AsyncBroker, settings: Settings) -> None:
    """Reach the broker once, before its own start-up connects (the worker's check)."""
    scheme = urlsplit(settings.broker_url).scheme
    if scheme in ("amqp", "amqps"):
        import aio_pika

        connection = await aio_pika.connect(settings.broker_url)
        await connection.close()
        return
    await ping_broker(broker)


async def _ping_sqs(settings: Settings) -> None:
    # A client of our own: the broker's is not part of taskiq-aio-sqs's API.
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    region, endpoint = sqs_location(settings)
    # One attempt: a probe reports the outage, botocore's retries would only delay it.
    config = AioConfig(retries={"max_attempts": 1, "mode": "standard"})
    async with get_session().create_client(
        "sqs", region_name=region, endpoint_url=endpoint, config=config
    ) as client:
        await client.get_queue_url(QueueName=settings.broker_queue)
