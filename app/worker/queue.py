"""Producer: sends a stored job to the broker, its message labels taken when it was stored."""

from __future__ import annotations

from sentry_sdk.tracing import Span
from taskiq import AsyncBroker

from app.core.config import Settings
from app.core.spans import start_span
from app.models import Job
from app.worker.broker import messaging_system
from app.worker.middleware import PUBLISH_OP, producer_labels
from app.worker.tasks import EXTRACT_GRAPH_TASK


class TaskiqJobQueue:
    def __init__(self, broker: AsyncBroker, settings: Settings) -> None:
        self._broker = broker
        self._destination = settings.broker_queue
        self._system = messaging_system(settings)

    def stamp(self, job: Job) -> Span:
        """Open (not enter) the job's `queue.publish` span and store the message labels,
        trace headers of that span included, on the job; returns the span.

        The span is entered around the send after the commit (`with span:`), so it covers
        the job from being stored to being accepted by the broker, and a job sent later by
        the relay still continues the submitting request's trace.
        """
        span = start_span(op=PUBLISH_OP, name=EXTRACT_GRAPH_TASK)
        span.set_data("messaging.destination.name", self._destination)
        span.set_data("messaging.system", self._system)
        span.set_data("messaging.message.id", str(job.id))
        job.labels = producer_labels(span)
        return span

    async def send(self, job: Job) -> None:
        task = self._broker.find_task(EXTRACT_GRAPH_TASK)
        if task is None:
            raise LookupError(f"task {EXTRACT_GRAPH_TASK} is not registered")
        # Sent as strings: taskiq types each label by its value, and a message whose typed
        # label does not parse is dropped before our validation could replace it.
        stored = {name: str(value) for name, value in (job.labels or {}).items()}
        # The job id is the message id: a message the relay sends again is the same message.
        kicker = task.kicker().with_task_id(str(job.id)).with_labels(**stored)
        await kicker.kiq(job_id=str(job.id))
