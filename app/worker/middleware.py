"""Every message leaves with the request's context and trace in its labels (producer
side), and is received in that context (consumer side)."""

from __future__ import annotations

import sentry_sdk
from taskiq import TaskiqMessage, TaskiqMiddleware

from app.core.context import RequestContext, bind_for_task, current, new_correlation_id
from app.core.trace_context import traceparent_from_sentry_trace
from app.worker import labels

PUBLISH_OP = "queue.publish"


class ContextPropagationMiddleware(TaskiqMiddleware):
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
                job_id=str(parsed.job_id) if parsed.job_id is not None else None,
            )
        )
        return message

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
