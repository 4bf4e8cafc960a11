"""Producer side: every message leaves with the request's context and trace in its labels."""

from __future__ import annotations

import sentry_sdk
from taskiq import TaskiqMessage, TaskiqMiddleware

from app.core.context import current
from app.core.trace_context import traceparent_from_sentry_trace
from app.worker import labels

PUBLISH_OP = "queue.publish"


class ContextPropagationMiddleware(TaskiqMiddleware):
    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        context = current()
        if context is not None:
            message.labels[labels.CORRELATION_ID] = context.correlation_id
            if context.user_id is not None:
                message.labels[labels.USER_ID] = context.user_id
        message.labels[labels.ENQUEUED_AT_MS] = labels.now_ms()
        if sentry_sdk.get_client().is_active():
            # Taken inside the `queue.publish` span: the worker's transaction becomes its child.
            traceparent = sentry_sdk.get_traceparent()
            baggage = sentry_sdk.get_baggage()
            if traceparent:
                message.labels[labels.SENTRY_TRACE] = traceparent
                w3c = traceparent_from_sentry_trace(traceparent)
                if w3c is not None:
                    message.labels[labels.TRACEPARENT] = w3c
            if baggage:
                message.labels[labels.BAGGAGE] = baggage
            span = sentry_sdk.get_current_span()
            # Only for a span that is sent: the size costs a second serialisation.
            if span is not None and span.op == PUBLISH_OP and span.sampled:
                span.set_data("messaging.message.id", message.task_id)
                body = self.broker.formatter.dumps(message).message
                span.set_data("messaging.message.body.size", len(body))
        return message
