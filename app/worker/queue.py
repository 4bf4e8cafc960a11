"""Producer: sends a stored job to the broker inside a `queue.publish` span."""

from __future__ import annotations

from taskiq import AsyncBroker

from app.core.config import Settings
from app.core.spans import start_span
from app.models import Job
from app.worker import labels
from app.worker.broker import messaging_system
from app.worker.middleware import PUBLISH_OP
from app.worker.tasks import EXTRACT_GRAPH_TASK


class TaskiqJobQueue:
    def __init__(self, broker: AsyncBroker, settings: Settings) -> None:
        self._broker = broker
        self._destination = settings.broker_queue
        self._system = messaging_system(settings)

    async def enqueue(self, job: Job) -> None:
        task = self._broker.find_task(EXTRACT_GRAPH_TASK)
        if task is None:
            raise LookupError(f"task {EXTRACT_GRAPH_TASK} is not registered")
        with start_span(op=PUBLISH_OP, name=EXTRACT_GRAPH_TASK) as span:
            span.set_data("messaging.destination.name", self._destination)
            span.set_data("messaging.system", self._system)
            # The middleware adds the context and trace labels (and the span's message data).
            await task.kicker().with_labels(**{labels.JOB_ID: str(job.id)}).kiq(job_id=str(job.id))
