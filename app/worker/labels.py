"""Message labels that carry the request context and the trace from producer to worker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.core.context import valid_correlation_id
from app.core.security import valid_user_id
from app.core.trace_context import sentry_trace_from_traceparent

CORRELATION_ID = "correlation_id"
USER_ID = "user_id"
ENQUEUED_AT_MS = "enqueued_at_ms"
SENTRY_TRACE = "sentry-trace"
BAGGAGE = "baggage"
TRACEPARENT = "traceparent"  # W3C Trace Context, for consumers that speak only that
# taskiq-aio-sqs's label for the queue a message was received from (taskiq_aio_sqs.
# message_metadata.SQS_QUEUE_URL_LABEL; the package is optional, so not imported here).
SQS_QUEUE_URL_LABEL = "sqs_queue_url"

_MAX_TRACE_HEADER_LENGTH = 8192
_MAX_TIMESTAMP_MS = 2**53  # beyond any real clock, and where floats stop being exact


def is_dead_letter(labels: dict[str, Any], settings: Settings) -> bool:
    """Whether an SQS message was received from the dead-letter queue (the label is the
    broker's own, set on receipt over anything the producer sent)."""
    queue_url = labels.get(SQS_QUEUE_URL_LABEL)
    return (
        settings.broker_dead_letter_queue is not None
        and isinstance(queue_url, str)
        and queue_url.rstrip("/").rsplit("/", 1)[-1] == settings.broker_dead_letter_queue
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def _timestamp_ms(value: Any) -> int | None:
    """A plausible epoch timestamp in milliseconds, or None (labels come off the wire)."""
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        return None
    try:
        number = int(value)  # inf -> OverflowError, nan or "x" -> ValueError
    except (OverflowError, ValueError):
        return None
    return number if 0 <= number < _MAX_TIMESTAMP_MS else None


@dataclass(frozen=True, slots=True)
class JobLabels:
    """Labels as the worker trusts them: validated like HTTP headers, anything else dropped."""

    correlation_id: str | None
    user_id: str | None
    enqueued_at_ms: int | None
    trace_headers: dict[str, str]

    @classmethod
    def parse(cls, labels: dict[str, Any]) -> JobLabels:
        user_id = labels.get(USER_ID)
        enqueued_at = _timestamp_ms(labels.get(ENQUEUED_AT_MS))
        trace_headers = {
            name: value
            for name in (SENTRY_TRACE, BAGGAGE)
            if isinstance(value := labels.get(name), str)
            and len(value) <= _MAX_TRACE_HEADER_LENGTH
            and value.isprintable()
        }
        traceparent = labels.get(TRACEPARENT)
        if SENTRY_TRACE not in trace_headers and isinstance(traceparent, str):
            sentry_trace = sentry_trace_from_traceparent(traceparent[:_MAX_TRACE_HEADER_LENGTH])
            if sentry_trace is not None:
                trace_headers[SENTRY_TRACE] = sentry_trace
        correlation_id = labels.get(CORRELATION_ID)
        return cls(
            correlation_id=valid_correlation_id(correlation_id)
            if isinstance(correlation_id, str)
            else None,
            user_id=user_id if valid_user_id(user_id) else None,
            enqueued_at_ms=enqueued_at,
            trace_headers=trace_headers,
        )
