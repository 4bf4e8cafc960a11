"""Every message leaves with the request's context and trace in its labels (producer
side), and is received in that context (consumer side)."""

from __future__ import annotations

import uuid
from typing import Any

import sentry_sdk
from sentry_sdk.tracing import Span
from taskiq import TaskiqMessage, TaskiqMiddleware

from app.core.context import RequestContext, bind_for_task, current, new_correlation_id
from app.core.trace_context import traceparent_from_sentry_trace
from app.worker import labels

PUBLISH_OP = "queue.publish"


def producer_labels(span: Span | None = None) -> dict[str, Any]:
    """The current request's context, the time, and the trace headers of `span` (the
    message's `queue.publish` span; else the current trace), so the worker's transaction
    continues that trace as the span's child."""
    produced: dict[str, Any] = {}
    context = current()
    if context is not None:
        produced[labels.CORRELATION_ID] = context.correlation_id
        if context.user_id is not None:
            produced[labels.USER_ID] = context.user_id
    produced[labels.ENQUEUED_AT_MS] = labels.now_ms()
    if sentry_sdk.get_client().is_active():
        headers = dict(span.iter_headers()) if span is not None else {}
        if not headers:  # no transaction: the scope's trace still links errors
            headers = {
                labels.SENTRY_TRACE: sentry_sdk.get_traceparent() or "",
                labels.BAGGAGE: sentry_sdk.get_baggage() or "",
            }
        produced.update({name: value for name, value in headers.items() if value})
        w3c = traceparent_from_sentry_trace(produced.get(labels.SENTRY_TRACE, ""))
        if w3c is not None:
            produced[labels.TRACEPARENT] = w3c
    return produced


class ContextPropagationMiddleware(TaskiqMiddleware):
    """Fills the labels a message does not carry yet; those stored with a job (the outbox)
    were taken when it was submitted and are kept."""

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """Bind the message's context before taskiq logs `Executing task …`, so its lines
        carry the job's ids like ours. Each delivery runs in an asyncio task of its own,
        which the context ends with; the job binds it again, with fresh Sentry scopes, in
        `job_scope`."""
        parsed = labels.JobLabels.parse(message.labels)
        bind_for_task(
            RequestContext(
                correlation_id=parsed.correlation_id or new_correlation_id(),
                source="worker",
                user_id=parsed.user_id,
                job_id=_job_id(message),
            )
        )
        return message

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        span = sentry_sdk.get_current_span() if sentry_sdk.get_client().is_active() else None
        # Taken inside the `queue.publish` span: the worker's transaction becomes its child.
        for name, value in producer_labels(span).items():
            message.labels.setdefault(name, value)
        # Only for a span that is sent: the size costs a second serialisation.
        if span is not None and span.op == PUBLISH_OP and span.sampled:
            span.set_data("messaging.message.id", message.task_id)
            body = self.broker.formatter.dumps(message).message
            span.set_data("messaging.message.body.size", len(body))
        return message


def _job_id(message: TaskiqMessage) -> str | None:
    """The job the message runs: its `job_id` argument, if that is a UUID (it comes off the
    wire); the job itself checks it again."""
    try:
        return str(uuid.UUID(str(message.kwargs.get("job_id"))))
    except ValueError:
        return None
